/* Constant (value, value_float(s), value_int(s)), ConstantOfShape and EyeLike: operators whose
 * output is known once their attributes, or their input's shape, are. */
#include "checks.h"
#include "op.h"
#include "scalar.h"
#include "shape_input.h"

#include <string.h>

#define FILL_CHUNK 65536

/* ---- Constant ---------------------------------------------------------------------------- */

typedef struct constant_params {
    onyx_tensor value; /* data points into the model's attributes or at `scalar` */
    union {
        float f;
        int64_t i;
    } scalar;
} constant_params;

static onyx_status constant_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 0, 0, 1, 1);
    if (st)
        return st;
    static const char *const forms[] = {"value", "value_float", "value_floats", "value_int", "value_ints",
                                        "value_string", "value_strings", "sparse_value"};
    const char *form = NULL;
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        if (op_has_attr(ctx, forms[i])) {
            if (form)
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "has both '%s' and '%s'; exactly one value attribute is allowed",
                                form, forms[i]);
            form = forms[i];
        }
    if (!form)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "has no value attribute");
    constant_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    onyx_tensor *v = &p->value;
    if (!strcmp(form, "value")) {
        const onyx_tensor *t;
        if ((st = op_attr_tensor(ctx, "value", &t)))
            return st;
        *v = *t;
    } else if (!strcmp(form, "value_float")) {
        if ((st = op_attr_float(ctx, form, 0, &p->scalar.f)))
            return st;
        *v = (onyx_tensor){.dtype = ONYX_DTYPE_FLOAT, .rank = 0, .data = &p->scalar.f};
    } else if (!strcmp(form, "value_int")) {
        if ((st = op_attr_int(ctx, form, 0, &p->scalar.i)))
            return st;
        *v = (onyx_tensor){.dtype = ONYX_DTYPE_INT64, .rank = 0, .data = &p->scalar.i};
    } else if (!strcmp(form, "value_floats")) {
        const float *f;
        int64_t n;
        if ((st = op_attr_floats(ctx, form, &f, &n)))
            return st;
        *v = (onyx_tensor){.dtype = ONYX_DTYPE_FLOAT, .rank = 1, .dims = {n}, .data = (void *)f};
    } else if (!strcmp(form, "value_ints")) {
        const int64_t *i;
        int64_t n;
        if ((st = op_attr_ints(ctx, form, &i, &n)))
            return st;
        *v = (onyx_tensor){.dtype = ONYX_DTYPE_INT64, .rank = 1, .dims = {n}, .data = (void *)i};
    } else {
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "attribute '%s' is not supported", form);
    }
    ctx->params = p;
    op_set_output_dtypes(ctx, v->dtype);
    return ONYX_OK;
}

static onyx_status constant_reshape(op_context *ctx)
{
    const constant_params *p = ctx->params;
    tensor_set_shape(op_output(ctx, 0), p->value.rank, p->value.dims);
    return ONYX_OK;
}

static onyx_status constant_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const constant_params *p = ctx->params;
    size_t bytes = tensor_bytes(&p->value);
    if (bytes)
        memcpy(ctx->outputs[0]->data, p->value.data, bytes);
    return ONYX_OK;
}

const op_descriptor op_Constant = {constant_check, constant_reshape, constant_run, 0};

/* ---- ConstantOfShape --------------------------------------------------------------------- */

typedef struct fill_params {
    onyx_dtype dtype;
    unsigned char value[16];
} fill_params;

static onyx_status constant_of_shape_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT(INT64));
    const onyx_tensor *value = NULL;
    if (!st)
        st = op_attr_tensor(ctx, "value", &value);
    if (st)
        return st;
    fill_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    p->dtype = ONYX_DTYPE_FLOAT; /* default value: float 0 */
    if (value) {
        if (tensor_count(value) != 1)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'value' must hold one element");
        if (onyx_dtype_size(value->dtype) == 0 || onyx_dtype_size(value->dtype) > sizeof p->value)
            return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "value of dtype %s is not supported",
                            onyx_dtype_name(value->dtype));
        p->dtype = value->dtype;
        memcpy(p->value, value->data, onyx_dtype_size(value->dtype));
    }
    ctx->params = p;
    op_set_output_dtypes(ctx, p->dtype);
    return ONYX_OK;
}

static onyx_status constant_of_shape_reshape(op_context *ctx)
{
    const onyx_tensor *shape = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    if (shape->rank != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input must be 1-D");
    int64_t n;
    onyx_status st = shape_input_read(ctx, 0, y->dims, ONYX_MAX_RANK, &n);
    if (st == ONYX_DEFER)
        return shape_input_rank_only(ctx, 0, y);
    if (!st)
        st = op_check_shape(ctx, (int)n, y->dims, "shape");
    if (st)
        return st;
    y->rank = (int)n;
    if (ctx->concrete) {
        ctx->n_tasks = (tensor_count(y) + FILL_CHUNK - 1) / FILL_CHUNK;
        ctx->task_cost = FILL_CHUNK;
    }
    return ONYX_OK;
}

static onyx_status constant_of_shape_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const fill_params *p = ctx->params;
    onyx_tensor *y = ctx->outputs[0];
    size_t size = onyx_dtype_size(p->dtype);
    int64_t last = OP_MIN(end * FILL_CHUNK, tensor_count(y));
    for (int64_t i = begin * FILL_CHUNK; i < last; i++)
        memcpy((char *)y->data + (size_t)i * size, p->value, size);
    return ONYX_OK;
}

const op_descriptor op_ConstantOfShape = {constant_of_shape_check, constant_of_shape_reshape, constant_of_shape_run, 0};

/* ---- EyeLike ----------------------------------------------------------------------------- */

typedef struct eye_params {
    int64_t k; /* the diagonal of ones: y[i, i + k] = 1 */
} eye_params;

static onyx_status eye_like_check(op_context *ctx)
{
    onyx_status st = check_one_input(ctx, DT_ALL, ONYX_DTYPE_UNDEFINED);
    int64_t dtype;
    if (!st)
        st = op_attr_int(ctx, "dtype", op_input(ctx, 0)->dtype, &dtype);
    eye_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_int(ctx, "k", 0, &p->k)))
        return st;
    if (dtype <= 0 || dtype >= 32 || !(DT_ALL & (1u << dtype)))
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "dtype %s (%lld) is not supported",
                        onyx_dtype_name((onyx_dtype)dtype), (long long)dtype);
    ctx->params = p;
    op_set_output_dtypes(ctx, (onyx_dtype)dtype);
    return ONYX_OK;
}

static onyx_status eye_like_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    if (x->rank != 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input must be 2-D, got rank %d", x->rank);
    tensor_set_shape(op_output(ctx, 0), 2, x->dims);
    if (ctx->concrete) {
        ctx->n_tasks = x->dims[1] ? x->dims[0] : 0; /* rows, unless they are empty */
        ctx->task_cost = x->dims[1];
    }
    return ONYX_OK;
}

static onyx_status eye_like_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    int64_t k = ((const eye_params *)ctx->params)->k;
    onyx_tensor *y = ctx->outputs[0];
    int64_t rows = y->dims[0], cols = y->dims[1];
    size_t row_bytes = (size_t)cols * onyx_dtype_size(y->dtype);
    for (int64_t r = begin; r < end; r++) {
        memset((char *)y->data + (size_t)r * row_bytes, 0, row_bytes); /* zero in every dtype */
        if (k > -rows && k < cols && r + k >= 0 && r + k < cols) /* k checked first: r + k cannot overflow */
            scalar_store(y->data, r * cols + r + k, y->dtype, 1);
    }
    return ONYX_OK;
}

const op_descriptor op_EyeLike = {eye_like_check, eye_like_reshape, eye_like_run, 1u << 0};
