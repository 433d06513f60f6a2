#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

onyx_tensor tensor_of(onyx_dtype dtype, int rank, const int64_t *dims, const void *data)
{
    onyx_tensor t = {.dtype = dtype, .rank = rank, .data = (void *)data};
    for (int i = 0; i < rank; i++)
        t.dims[i] = dims[i];
    return t;
}

run_result run_model(builder *b, int n_inputs, const onyx_tensor *inputs)
{
    return run_model_with(b, (run_settings){0}, n_inputs, inputs);
}

run_result run_model_with(builder *b, run_settings settings, int n_inputs, const onyx_tensor *inputs)
{
    run_result r;
    memset(&r, 0, sizeof r);
    size_t size;
    const uint8_t *bytes = builder_pack(b, &size);
    onyx_options *options = NULL; /* NULL: the defaults */
    if (settings.threads || settings.plain) {
        cr_assert_eq(onyx_options_create(&options), ONYX_OK);
        if (settings.threads)
            cr_assert_eq(onyx_options_set_threads(options, settings.threads), ONYX_OK);
        cr_assert_eq(onyx_options_set_optimization(options, !settings.plain), ONYX_OK);
    }
    onyx_model *model = NULL;
    onyx_session *session = NULL;
    r.load = onyx_model_load_buffer(bytes, size, options, &model);
    r.run = ONYX_ERROR_INVALID_STATE;
    if (r.load) {
        snprintf(r.message, sizeof r.message, "%s", onyx_model_errmsg(model));
        onyx_model_free(model);
        onyx_options_free(options);
        return r;
    }
    cr_assert_eq(onyx_session_create(model, options, &session), ONYX_OK, "%s", onyx_session_errmsg(session));
    r.run = ONYX_OK;
    for (int i = 0; i < n_inputs && !r.run; i++)
        r.run = onyx_session_set_input(session, (size_t)i, &inputs[i]);
    if (!r.run)
        r.run = onyx_session_run(session);
    if (r.run) {
        snprintf(r.message, sizeof r.message, "%s", onyx_session_errmsg(session));
    } else {
        r.n_outputs = (int)onyx_model_output_count(model);
        for (int i = 0; i < r.n_outputs && i < HARNESS_MAX_OUTPUTS; i++) {
            onyx_tensor t;
            cr_assert_eq(onyx_session_get_output(session, (size_t)i, &t), ONYX_OK);
            size_t bytes_out = (size_t)onyx_tensor_element_count(&t) * onyx_dtype_size(t.dtype);
            r.outputs[i] = t;
            r.outputs[i].data = malloc(bytes_out ? bytes_out : 1);
            if (bytes_out)
                memcpy(r.outputs[i].data, t.data, bytes_out);
        }
    }
    onyx_session_free(session);
    onyx_model_free(model);
    onyx_options_free(options);
    return r;
}

void run_into(builder *b, int threads, int n_inputs, const onyx_tensor *inputs, void *out, size_t bytes)
{
    run_result r = run_model_with(b, (run_settings){.threads = threads}, n_inputs, inputs);
    cr_assert(r.load == ONYX_OK && r.run == ONYX_OK, "%s", r.message);
    const onyx_tensor *y = &r.outputs[0];
    size_t got = (size_t)onyx_tensor_element_count(y) * onyx_dtype_size(y->dtype);
    cr_assert_eq(got, bytes, "output 0 has %zu bytes, expected %zu", got, bytes);
    memcpy(out, y->data, bytes);
    run_result_free(&r);
}

void run_result_free(run_result *r)
{
    for (int i = 0; i < r->n_outputs && i < HARNESS_MAX_OUTPUTS; i++)
        free(r->outputs[i].data);
    r->n_outputs = 0;
}

static double value_at(onyx_dtype dt, const void *data, int64_t i)
{
    switch (dt) {
    case ONYX_DTYPE_FLOAT: return ((const float *)data)[i];
    case ONYX_DTYPE_DOUBLE: return ((const double *)data)[i];
    case ONYX_DTYPE_INT64: return (double)((const int64_t *)data)[i];
    case ONYX_DTYPE_INT32: return ((const int32_t *)data)[i];
    case ONYX_DTYPE_INT16: return ((const int16_t *)data)[i];
    case ONYX_DTYPE_INT8: return ((const int8_t *)data)[i];
    case ONYX_DTYPE_UINT8: case ONYX_DTYPE_BOOL: return ((const uint8_t *)data)[i];
    case ONYX_DTYPE_UINT16: return ((const uint16_t *)data)[i];
    case ONYX_DTYPE_UINT32: return ((const uint32_t *)data)[i];
    case ONYX_DTYPE_UINT64: return (double)((const uint64_t *)data)[i];
    default: cr_assert_fail("expect_tensor cannot compare dtype %s", onyx_dtype_name(dt)); return NAN;
    }
}

void expect_tensor(const onyx_tensor *got, onyx_dtype dtype, int rank, const int64_t *dims, const void *values,
                   double tol)
{
    cr_assert_eq(got->dtype, dtype, "dtype %s, expected %s", onyx_dtype_name(got->dtype), onyx_dtype_name(dtype));
    cr_assert_eq(got->rank, rank, "rank %d, expected %d", got->rank, rank);
    for (int i = 0; i < rank; i++)
        cr_assert_eq(got->dims[i], dims[i], "dim %d is %lld, expected %lld", i, (long long)got->dims[i],
                     (long long)dims[i]);
    int64_t n = onyx_tensor_element_count(got);
    for (int64_t i = 0; i < n; i++) {
        double g = value_at(dtype, got->data, i), w = value_at(dtype, values, i);
        if (isnan(w)) {
            cr_assert(isnan(g), "element %lld is %g, expected NaN", (long long)i, g);
            continue;
        }
        if (isinf(w)) {
            cr_assert_eq(g, w, "element %lld is %g, expected %g", (long long)i, g, w);
            continue;
        }
        cr_assert(fabs(g - w) <= tol * (1 + fabs(w)), "element %lld is %.9g, expected %.9g", (long long)i, g, w);
    }
}

void expect_message(const char *message, ...)
{
    va_list ap;
    va_start(ap, message);
    for (const char *part; (part = va_arg(ap, const char *));)
        cr_assert(strstr(message, part), "message \"%s\" does not mention \"%s\"", message, part);
    va_end(ap);
}
