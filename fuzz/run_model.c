/* Fuzz target: a model from bytes, run on inputs derived from the same bytes.
 *
 * The last PARAM_BYTES bytes choose the inputs: four sizes (0 to 4) for the dims the model
 * leaves open, and the seed of the values, which mix ordinary numbers with zeros, infinities,
 * NaNs and extreme integers (indices out of range). The rest is the model. A model that loads
 * is run twice; beyond the sanitizers' checks, a successful run must give bit-identical
 * outputs both times, and no run may write into the caller's input buffers. The top bit of
 * the last byte loads the model borrowed instead of copied. */
#include "fuzz.h"
#include "xorshift.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PARAM_BYTES 8
#define MAX_INPUT_ELEMENTS 4096

typedef struct run_inputs {
    size_t count;
    onyx_tensor tensors[64];
    void *copies[64]; /* what the caller's buffers held before running */
} run_inputs;

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void fill_element(onyx_dtype dtype, void *dst, uint64_t r)
{
    static const double specials[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 1e30};
    unsigned kind = (unsigned)(r % 16);
    double real = kind < 10 ? (double)((int64_t)(r >> 8) % 801) / 100.0 - 4.0 : specials[kind - 10];
    int64_t integer = kind < 12 ? (int64_t)(r >> 8) % 7 - 2
                      : kind == 12 ? INT64_MIN : kind == 13 ? INT64_MAX : kind == 14 ? 0 : (int64_t)r;
    size_t size = onyx_dtype_size(dtype);
    switch (dtype) {
    case ONYX_DTYPE_FLOAT: *(float *)dst = (float)real; break;
    case ONYX_DTYPE_DOUBLE: *(double *)dst = real; break;
    case ONYX_DTYPE_BOOL: *(uint8_t *)dst = r & 1; break;
    case ONYX_DTYPE_FLOAT16: case ONYX_DTYPE_BFLOAT16: case ONYX_DTYPE_COMPLEX64: case ONYX_DTYPE_COMPLEX128:
        memcpy(dst, &r, size < sizeof r ? size : sizeof r);
        break;
    default:
        /* Integers: the low bytes of a 64-bit value (little-endian), so narrow types get
         * their own minimum and maximum too. */
        if (kind == 12 || kind == 13) {
            memset(dst, kind == 12 ? 0 : 0xff, size);
            ((uint8_t *)dst)[size - 1] ^= 0x80;
        } else {
            memcpy(dst, &integer, size);
        }
        break;
    }
}

/* Describes and fills every input; false when the model's inputs are too large to bother. */
static bool make_inputs(const onyx_model *model, const uint8_t *params, run_inputs *in)
{
    uint64_t rng = 0;
    memcpy(&rng, params + 4, 4);
    rng = rng * 2654435761u + 0x9e3779b97f4a7c15ull;
    in->count = onyx_model_input_count(model);
    if (in->count > sizeof in->tensors / sizeof in->tensors[0])
        return false;
    for (size_t i = 0; i < in->count; i++) {
        onyx_value_info info;
        onyx_model_input_info(model, i, &info);
        onyx_tensor *t = &in->tensors[i];
        t->dtype = info.dtype;
        t->rank = info.rank < 0 ? 1 : info.rank;
        for (int d = 0; d < t->rank; d++) {
            /* Dims sharing a name get the same size, so that most runs get past the checks. */
            uint64_t pick = info.dim_names[d] ? hash_name(info.dim_names[d]) : i + (uint64_t)d;
            t->dims[d] = info.rank >= 0 && info.dims[d] >= 0 ? info.dims[d] : params[pick % 4] % 5;
        }
        int64_t count = onyx_tensor_element_count(t);
        size_t size = onyx_dtype_size(t->dtype);
        if (count < 0 || count > MAX_INPUT_ELEMENTS || size == 0)
            return false;
        size_t bytes = (size_t)count * size;
        t->data = malloc(bytes ? bytes : 1);
        in->copies[i] = malloc(bytes ? bytes : 1);
        if (!t->data || !in->copies[i])
            abort();
        for (int64_t e = 0; e < count; e++)
            fill_element(t->dtype, (char *)t->data + (size_t)e * size, xorshift64(&rng));
        memcpy(in->copies[i], t->data, bytes);
    }
    return true;
}

static void free_inputs(run_inputs *in)
{
    for (size_t i = 0; i < in->count && i < sizeof in->tensors / sizeof in->tensors[0]; i++) {
        free(in->tensors[i].data);
        free(in->copies[i]);
    }
}

static size_t tensor_bytes(const onyx_tensor *t)
{
    return (size_t)onyx_tensor_element_count(t) * onyx_dtype_size(t->dtype);
}

static void run_twice(const onyx_model *model, run_inputs *in)
{
    onyx_session *session = NULL;
    onyx_status st = onyx_session_create(model, fuzz_options(), &session);
    fuzz_expect_message(st, onyx_session_errmsg(session));
    for (size_t i = 0; !st && i < in->count; i++) {
        st = onyx_session_set_input(session, i, &in->tensors[i]);
        fuzz_expect_message(st, onyx_session_errmsg(session));
    }
    size_t n_out = onyx_model_output_count(model);
    void **first = calloc(n_out + 1, sizeof *first);
    if (!first)
        abort();
    for (int round = 0; !st && round < 2; round++) {
        st = onyx_session_run(session);
        fuzz_expect_message(st, onyx_session_errmsg(session));
        if (round == 1 && st)
            __builtin_trap(); /* the same run failed once and succeeded once */
        for (size_t o = 0; !st && o < n_out; o++) {
            onyx_tensor out;
            if (onyx_session_get_output(session, o, &out) != ONYX_OK)
                __builtin_trap();
            fuzz_touch_tensor(&out);
            size_t bytes = tensor_bytes(&out);
            if (round == 0) {
                if (!(first[o] = malloc(bytes ? bytes : 1)))
                    abort();
                if (bytes)
                    memcpy(first[o], out.data, bytes);
            } else if (bytes && memcmp(first[o], out.data, bytes) != 0) {
                __builtin_trap(); /* not deterministic: stale or uninitialized memory read */
            }
        }
    }
    for (size_t i = 0; i < in->count; i++)
        if (memcmp(in->copies[i], in->tensors[i].data, tensor_bytes(&in->tensors[i])) != 0)
            __builtin_trap(); /* onyx wrote into a caller's input buffer */
    for (size_t o = 0; o < n_out; o++)
        free(first[o]);
    free(first);
    onyx_session_free(session);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < PARAM_BYTES)
        return 0;
    const uint8_t *params = data + size - PARAM_BYTES;
    onyx_model *model = NULL;
    onyx_status st = params[PARAM_BYTES - 1] & 0x80
                         ? onyx_model_load_buffer_borrowed(data, size - PARAM_BYTES, fuzz_options(), &model)
                         : onyx_model_load_buffer(data, size - PARAM_BYTES, fuzz_options(), &model);
    fuzz_expect_message(st, onyx_model_errmsg(model));
    run_inputs in = {0};
    if (st == ONYX_OK && make_inputs(model, params, &in))
        run_twice(model, &in);
    free_inputs(&in);
    onyx_model_free(model);
    return 0;
}
