/* What the runtime provides to operators through op.h: errors that name the node, attribute
 * readers with defaults and type checks, allocation tied to the model or the plan. */
#include "ir.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

onyx_status op_error(const op_context *ctx, onyx_status status, const char *fmt, ...)
{
    op_env *env = ctx->env;
    if (atomic_exchange(&env->failed, 1))
        return status; /* the first error of a run wins */
    int n = snprintf(env->errmsg, sizeof env->errmsg, "node '%s' (%s): ", ctx->node->name,
                     ctx->node->op_type);
    if (n < 0 || (size_t)n >= sizeof env->errmsg)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(env->errmsg + n, sizeof env->errmsg - (size_t)n, fmt, ap);
    va_end(ap);
    env->status = status;
    return status;
}

onyx_status op_check_shape(const op_context *ctx, int rank, const int64_t *dims, const char *what)
{
    onyx_tensor t = {.rank = rank};
    if (rank >= 0 && rank <= ONYX_MAX_RANK)
        memcpy(t.dims, dims, (size_t)rank * sizeof(int64_t));
    char why[ERRMSG_SIZE];
    onyx_status st = shape_validate(&t, ctx->env->limits, what, why);
    return st ? op_error(ctx, st, "%s", why) : ONYX_OK;
}

static const char *value_name(const op_context *ctx, int index)
{
    return index >= 0 && index < ctx->env->graph->n_values ? ctx->env->graph->values[index].name : "";
}

onyx_precision op_precision(const op_context *ctx)
{
    /* Only the load's check has the model in its env. */
    return ctx->env && ctx->env->model ? ctx->env->model->precision : ONYX_PRECISION_FP32;
}

const char *op_input_name(const op_context *ctx, int i)
{
    return i >= 0 && i < ctx->node->n_inputs ? value_name(ctx, ctx->node->inputs[i]) : "";
}

const char *op_output_name(const op_context *ctx, int i)
{
    return i >= 0 && i < ctx->node->n_outputs ? value_name(ctx, ctx->node->outputs[i]) : "";
}

static void *op_alloc(op_context *ctx, mem_block **list, size_t size, bool zeroed)
{
    void *p = zeroed ? mem_block_alloc(ctx->env->mem, list, size) : mem_block_alloc_raw(ctx->env->mem, list, size);
    if (!p)
        op_error(ctx, ONYX_ERROR_OUT_OF_MEMORY, "cannot allocate %zu bytes", size);
    return p;
}

void *op_alloc_params(op_context *ctx, size_t size)
{
    return op_alloc(ctx, &((node *)ctx->node)->param_blocks, size, true);
}

void *op_alloc_params_uninit(op_context *ctx, size_t size)
{
    return op_alloc(ctx, &((node *)ctx->node)->param_blocks, size, false);
}

void *op_alloc_state(op_context *ctx, size_t size)
{
    return op_alloc(ctx, ctx->env->blocks, size, true);
}

/* ---- checks ------------------------------------------------------------------------------ */

onyx_status op_check_arity(const op_context *ctx, int min_in, int max_in, int min_out, int max_out)
{
    if (ctx->n_inputs < min_in || ctx->n_inputs > max_in) {
        if (min_in == max_in)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "takes %d input%s, got %d", min_in,
                            min_in == 1 ? "" : "s", ctx->n_inputs);
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "takes %d to %d inputs, got %d", min_in, max_in,
                        ctx->n_inputs);
    }
    if (ctx->n_outputs < min_out || ctx->n_outputs > max_out) {
        if (min_out == max_out)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "has %d output%s, got %d", min_out,
                            min_out == 1 ? "" : "s", ctx->n_outputs);
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "has %d to %d outputs, got %d", min_out, max_out,
                        ctx->n_outputs);
    }
    /* Every output name must be present up to the last one used: absent outputs are fine only
     * when optional, which the operator checks itself. */
    return ONYX_OK;
}

static void mask_str(uint32_t mask, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int d = 1; d <= ONYX_DTYPE_BFLOAT16 && used < size; d++)
        if (mask & (1u << d))
            used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
                                     onyx_dtype_name((onyx_dtype)d));
}

onyx_status op_check_input(const op_context *ctx, int i, bool required, uint32_t mask)
{
    const onyx_tensor *t = op_input(ctx, i);
    if (!t)
        return required ? op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input %d is required but absent", i)
                        : ONYX_OK;
    if (type_is_container(t->dtype)) {
        char type[64];
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input %d '%s' is a %s; it must be a tensor", i,
                        op_input_name(ctx, i), type_str(t->dtype, type, sizeof type));
    }
    if ((unsigned)t->dtype >= 32 || !(mask & (1u << t->dtype))) {
        char allowed[256];
        mask_str(mask, allowed, sizeof allowed);
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "input %d '%s' has dtype %s; supported: %s", i,
                        op_input_name(ctx, i), onyx_dtype_name(t->dtype), allowed);
    }
    return ONYX_OK;
}

onyx_status op_check_same_dtype(const op_context *ctx, int i, int j)
{
    const onyx_tensor *a = op_input(ctx, i), *b = op_input(ctx, j);
    if (a && b && a->dtype != b->dtype)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "input %d '%s' (%s) and input %d '%s' (%s) must have the same dtype", i,
                        op_input_name(ctx, i), onyx_dtype_name(a->dtype), j, op_input_name(ctx, j),
                        onyx_dtype_name(b->dtype));
    return ONYX_OK;
}

onyx_status op_check_inputs_alike(const op_context *ctx, int n, int required, uint32_t mask)
{
    onyx_status st = ONYX_OK;
    for (int i = 0; i < n && !st; i++)
        st = op_check_input(ctx, i, i < required, mask);
    for (int i = 1; i < n && !st; i++)
        st = op_check_same_dtype(ctx, 0, i);
    return st;
}

void op_set_output_dtypes(op_context *ctx, onyx_dtype dtype)
{
    for (int i = 0; i < ctx->n_outputs; i++)
        if (ctx->outputs[i])
            ctx->outputs[i]->dtype = dtype;
}

onyx_status op_axis(const op_context *ctx, const char *what, int64_t axis, int rank, int *out)
{
    if (axis < -(int64_t)rank || axis >= rank)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "%s %lld is out of range for rank %d", what,
                        (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return ONYX_OK;
}

/* ---- attributes -------------------------------------------------------------------------- */

const attribute *node_attr(const node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name))
            return &n->attrs[i];
    return NULL;
}

static const char *attr_type_name(attr_type t)
{
    static const char *names[] = {"undefined", "float", "int", "string", "tensor", "graph", "floats",
                                  "ints", "strings", "tensors", "graphs", "sparse tensor",
                                  "sparse tensors", "type", "types"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

static const attribute *attr_typed(const op_context *ctx, const char *name, attr_type want,
                                   onyx_status *st)
{
    const attribute *a = node_attr(ctx->node, name);
    *st = ONYX_OK;
    if (a && a->type != want) {
        *st = op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute '%s' must be of type %s, not %s", name,
                       attr_type_name(want), attr_type_name(a->type));
        return NULL;
    }
    return a;
}

bool op_has_attr(const op_context *ctx, const char *name)
{
    return node_attr(ctx->node, name) != NULL;
}

onyx_status op_attr_require(const op_context *ctx, const char *name)
{
    return op_has_attr(ctx, name) ? ONYX_OK
                                   : op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                                              "required attribute '%s' is missing", name);
}

onyx_status op_attr_int(const op_context *ctx, const char *name, int64_t dflt, int64_t *value)
{
    onyx_status st;
    const attribute *a = attr_typed(ctx, name, ATTR_INT, &st);
    *value = a ? a->i : dflt;
    return st;
}

onyx_status op_attr_float(const op_context *ctx, const char *name, float dflt, float *value)
{
    onyx_status st;
    const attribute *a = attr_typed(ctx, name, ATTR_FLOAT, &st);
    *value = a ? a->f : dflt;
    return st;
}

onyx_status op_attr_string(const op_context *ctx, const char *name, const char *dflt, const char **value)
{
    onyx_status st;
    const attribute *a = attr_typed(ctx, name, ATTR_STRING, &st);
    *value = a ? a->s : dflt;
    return st;
}

onyx_status op_attr_ints(const op_context *ctx, const char *name, const int64_t **values, int64_t *count)
{
    onyx_status st;
    const attribute *a = attr_typed(ctx, name, ATTR_INTS, &st);
    *values = a ? a->ints : NULL;
    *count = a ? a->count : -1;
    return st;
}

onyx_status op_attr_floats(const op_context *ctx, const char *name, const float **values, int64_t *count)
{
    onyx_status st;
    const attribute *a = attr_typed(ctx, name, ATTR_FLOATS, &st);
    *values = a ? a->floats : NULL;
    *count = a ? a->count : -1;
    return st;
}

onyx_status op_attr_strings(const op_context *ctx, const char *name, const char *const **values,
                            int64_t *count)
{
    onyx_status st;
    const attribute *a = attr_typed(ctx, name, ATTR_STRINGS, &st);
    *values = a ? (const char *const *)a->strings : NULL;
    *count = a ? a->count : -1;
    return st;
}

onyx_status op_attr_tensor(const op_context *ctx, const char *name, const onyx_tensor **value)
{
    onyx_status st;
    const attribute *a = attr_typed(ctx, name, ATTR_TENSOR, &st);
    *value = a ? &a->t : NULL;
    return st;
}

onyx_status op_attr_type(const op_context *ctx, const char *name, onyx_dtype *type)
{
    onyx_status st;
    const attribute *a = attr_typed(ctx, name, ATTR_TYPE_PROTO, &st);
    *type = a ? (onyx_dtype)a->i : ONYX_DTYPE_UNDEFINED;
    return st;
}

/* ---- sequences and optionals ------------------------------------------------------------- */

const char *op_type_str(onyx_dtype type, char *buf, size_t size) { return type_str(type, buf, size); }

size_t op_container_bytes(int64_t count, const onyx_tensor *items) { return container_size(count, items); }

void op_container_fill(void *block, size_t size, int64_t count, const onyx_tensor *items)
{
    container_write(block, size, count, items);
}

onyx_status op_container_size(op_context *ctx, int o, int64_t count, const onyx_tensor *items)
{
    onyx_tensor *out = op_output(ctx, o);
    if (!out)
        return ONYX_OK;
    size_t size = container_size(count, items);
    int64_t limit = ctx->env->limits->memory_bytes;
    if (size == SIZE_MAX || (limit > 0 && size > (size_t)limit))
        return op_error(ctx, ONYX_ERROR_LIMIT, "output '%s' (%lld items) is too large",
                        op_output_name(ctx, o), (long long)count);
    out->rank = 1;
    out->dims[0] = (int64_t)size;
    return ONYX_OK;
}

void op_container_write(const op_context *ctx, int o, int64_t count, const onyx_tensor *items)
{
    onyx_tensor *out = op_output(ctx, o);
    if (out)
        container_write(out->data, value_bytes(out), count, items);
}
