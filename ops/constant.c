/* Constant (value, value_float(s), value_int(s)), ConstantOfShape and Shape: operators whose
 * output is known once their attributes, or their input's shape, are. */
#include "op.h"

#include <string.h>

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
    if (dim_known(shape->dims[0]) && shape->dims[0] > ONYX_MAX_RANK)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "output rank %lld is above %d", (long long)shape->dims[0],
                        ONYX_MAX_RANK);
    if (!shape->data && tensor_count(shape) > 0) {
        if (ctx->concrete || !dim_known(shape->dims[0]))
            return ONYX_DEFER;
        y->rank = (int)shape->dims[0];
        for (int i = 0; i < y->rank; i++)
            y->dims[i] = DIM_UNKNOWN;
        return ONYX_OK;
    }
    y->rank = (int)shape->dims[0];
    for (int i = 0; i < y->rank; i++) {
        y->dims[i] = ((const int64_t *)shape->data)[i];
        if (y->dims[i] < 0)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "shape has negative dim %lld", (long long)y->dims[i]);
    }
    if (ctx->concrete) {
        ctx->n_tasks = (tensor_count(y) + 65535) / 65536;
        ctx->task_cost = 65536;
    }
    return ONYX_OK;
}

static onyx_status constant_of_shape_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const fill_params *p = ctx->params;
    onyx_tensor *y = ctx->outputs[0];
    size_t size = onyx_dtype_size(p->dtype);
    int64_t last = OP_MIN(end * 65536, tensor_count(y));
    for (int64_t i = begin * 65536; i < last; i++)
        memcpy((char *)y->data + (size_t)i * size, p->value, size);
    return ONYX_OK;
}

const op_descriptor op_ConstantOfShape = {constant_of_shape_check, constant_of_shape_reshape, constant_of_shape_run, 0};

/* ---- Shape ------------------------------------------------------------------------------- */

typedef struct shape_params {
    int64_t start, end;
} shape_params;

static onyx_status shape_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_ALL);
    if (st)
        return st;
    shape_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = op_attr_int(ctx, "start", 0, &p->start)) || (st = op_attr_int(ctx, "end", INT64_MAX, &p->end)))
        return st;
    ctx->params = p;
    op_set_output_dtypes(ctx, ONYX_DTYPE_INT64);
    return ONYX_OK;
}

/* The [start, end) range of axes, clamped as the spec says. */
static void shape_range(const shape_params *p, int rank, int64_t *start, int64_t *end)
{
    *start = p->start < 0 ? p->start + rank : p->start;
    *end = p->end < 0 ? p->end + rank : p->end;
    *start = OP_MAX(0, OP_MIN(*start, rank));
    *end = OP_MAX(*start, OP_MIN(*end, rank));
}

static onyx_status shape_reshape(op_context *ctx)
{
    int64_t start, end;
    shape_range(ctx->params, op_input(ctx, 0)->rank, &start, &end);
    onyx_tensor *y = op_output(ctx, 0);
    y->rank = 1;
    y->dims[0] = end - start;
    return ONYX_OK;
}

static onyx_status shape_run(const op_context *ctx, int64_t begin, int64_t end_task, void *scratch)
{
    (void)begin, (void)end_task, (void)scratch;
    const onyx_tensor *x = ctx->inputs[0];
    int64_t start, end;
    shape_range(ctx->params, x->rank, &start, &end);
    for (int64_t i = start; i < end; i++)
        ((int64_t *)ctx->outputs[0]->data)[i - start] = x->dims[i];
    return ONYX_OK;
}

const op_descriptor op_Shape = {shape_check, shape_reshape, shape_run, 1u << 0};
