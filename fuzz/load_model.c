/* Fuzz target: a model from bytes. Loading either succeeds or fails with a message; a model
 * that loads (or fails only on unsupported operators) is then inspected through every
 * query of the API. The bytes are loaded twice, copied and borrowed: both must agree on
 * whether the model is valid (only the memory either holds may differ), and a borrowed load
 * must never write to the bytes (libFuzzer reports a target that changes its input). */
#include "fuzz.h"

#include <stdbool.h>
#include <string.h>

static void inspect(const onyx_model *model)
{
    size_t length = strlen(onyx_model_producer_name(model)) + strlen(onyx_model_producer_version(model));
    for (size_t i = 0; i < onyx_model_opset_count(model); i++) {
        const char *domain;
        int64_t version;
        if (onyx_model_opset(model, i, &domain, &version) == ONYX_OK)
            length += strlen(domain);
    }
    for (size_t i = 0; i < onyx_model_node_count(model); i++) {
        onyx_node_info info;
        if (onyx_model_node_info(model, i, &info) == ONYX_OK)
            length += strlen(info.name) + strlen(info.op_type) + strlen(info.domain);
    }
    onyx_value_info info;
    for (size_t i = 0; i < onyx_model_input_count(model); i++)
        if (onyx_model_input_info(model, i, &info) == ONYX_OK)
            length += strlen(info.name);
    for (size_t i = 0; i < onyx_model_output_count(model); i++)
        if (onyx_model_output_info(model, i, &info) == ONYX_OK)
            for (int d = 0; d < info.rank; d++)
                length += info.dim_names[d] ? strlen(info.dim_names[d]) : 0;
    (void)length;
}

static bool about_memory(onyx_status st) { return st == ONYX_ERROR_LIMIT || st == ONYX_ERROR_OUT_OF_MEMORY; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    onyx_status status[2];
    for (int borrowed = 0; borrowed < 2; borrowed++) {
        onyx_model *model = NULL;
        onyx_status st = borrowed ? onyx_model_load_buffer_borrowed(data, size, fuzz_options(), &model)
                                  : onyx_model_load_buffer(data, size, fuzz_options(), &model);
        fuzz_expect_message(st, onyx_model_errmsg(model));
        if (st == ONYX_OK || st == ONYX_ERROR_UNSUPPORTED)
            inspect(model);
        onyx_model_free(model);
        status[borrowed] = st;
    }
    if ((status[0] == ONYX_OK) != (status[1] == ONYX_OK) && !about_memory(status[0]) && !about_memory(status[1]))
        __builtin_trap(); /* copying and borrowing disagree on whether the model is valid */
    return 0;
}
