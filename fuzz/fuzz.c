#include "fuzz.h"

#include <stdlib.h>

const onyx_options *fuzz_options(void)
{
    static onyx_options *options;
    if (!options) {
        if (onyx_options_create(&options) != ONYX_OK)
            abort();
        onyx_options_set_limit(options, ONYX_LIMIT_MODEL_BYTES, INT64_C(4) << 20);
        onyx_options_set_limit(options, ONYX_LIMIT_TENSOR_ELEMENTS, INT64_C(1) << 20);
        onyx_options_set_limit(options, ONYX_LIMIT_MEMORY_BYTES, INT64_C(256) << 20);
        onyx_options_set_limit(options, ONYX_LIMIT_GRAPH_NODES, 10000);
        onyx_options_set_limit(options, ONYX_LIMIT_SUBGRAPH_RUNS, 10000);
    }
    return options;
}

void fuzz_expect_message(onyx_status status, const char *message)
{
    if (status != ONYX_OK && (!message || !message[0]))
        __builtin_trap();
}

void fuzz_touch_tensor(const onyx_tensor *t)
{
    int64_t count = onyx_tensor_element_count(t);
    if (count < 0)
        __builtin_trap();
    size_t bytes = (size_t)count * onyx_dtype_size(t->dtype);
    const volatile unsigned char *p = t->data;
    unsigned char sum = 0;
    for (size_t i = 0; i < bytes; i++)
        sum ^= p[i];
    (void)sum;
}
