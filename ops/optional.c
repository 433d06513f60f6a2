/* Optionals: Optional, OptionalHasElement, OptionalGetElement.
 *
 * An optional value is a block of 0 items (none) or 1 (a tensor or a sequence), like a
 * sequence's (op.h, onyx.h). From opset 18, OptionalHasElement and OptionalGetElement also
 * take a plain tensor or sequence (a value that is always there) and an absent input. */
#include "checks.h"
#include "op.h"

#include <string.h>

static bool is_optional(const onyx_tensor *t) { return t && ((int)t->dtype & ONYX_OPTIONAL); }

/* The element types onyx's tensors have (no strings). */
static bool element_ok(int type) { return (type & 0xff) < 32 && (DT_ALL & (1u << (type & 0xff))); }

/* ---- Optional ---------------------------------------------------------------------------- */

static onyx_status optional_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 0, 1, 1, 1);
    onyx_dtype type;
    if (!st)
        st = op_attr_type(ctx, "type", &type);
    if (st)
        return st;
    const onyx_tensor *x = op_input(ctx, 0);
    char a[64], b[64];
    if (x) {
        if (type && type != x->dtype)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'type' is %s but the input is %s",
                            op_type_str(type, a, sizeof a), op_type_str(x->dtype, b, sizeof b));
        type = x->dtype;
    } else if (!type) {
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "without an input it needs the attribute 'type'");
    }
    if ((int)type & ONYX_OPTIONAL)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "cannot wrap a %s in an optional",
                        op_type_str(type, a, sizeof a));
    if (!element_ok(type))
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "onyx has no optional of %s",
                        op_type_str(type, a, sizeof a));
    onyx_tensor *out = op_output(ctx, 0);
    out->dtype = (onyx_dtype)((int)type | ONYX_OPTIONAL);
    out->rank = -1;
    return ONYX_OK;
}

static onyx_status optional_reshape(op_context *ctx)
{
    onyx_status st = need_input_values(ctx);
    if (st)
        return st;
    const onyx_tensor *x = op_input(ctx, 0);
    return op_container_size(ctx, 0, x ? 1 : 0, x);
}

static onyx_status optional_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const onyx_tensor *x = op_input(ctx, 0);
    op_container_write(ctx, 0, x ? 1 : 0, x);
    return ONYX_OK;
}

const op_descriptor op_Optional = {optional_check, optional_reshape, optional_run, 0, false, 1};

/* ---- OptionalHasElement ------------------------------------------------------------------ */

static onyx_status has_check(op_context *ctx)
{
    /* Opset 15 takes exactly one optional; 18 also no input and any value. */
    onyx_status st = op_check_arity(ctx, ctx->opset < 18, 1, 1, 1);
    if (st)
        return st;
    const onyx_tensor *x = op_input(ctx, 0);
    char type[64];
    if (ctx->opset < 18 && !is_optional(x))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, x ? "input '%s' is a %s; it must be an optional"
                        : "its input is required before opset 18%s%s", x ? op_input_name(ctx, 0) : "",
                        x ? op_type_str(x->dtype, type, sizeof type) : "");
    op_set_output_dtypes(ctx, ONYX_DTYPE_BOOL);
    return ONYX_OK;
}

static onyx_status has_reshape(op_context *ctx)
{
    tensor_set_shape(op_output(ctx, 0), 0, NULL);
    return is_optional(op_input(ctx, 0)) ? need_input_values(ctx) : ONYX_OK;
}

static onyx_status has_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const onyx_tensor *x = op_input(ctx, 0);
    *(uint8_t *)ctx->outputs[0]->data = x && (!is_optional(x) || onyx_value_length(x) > 0);
    return ONYX_OK;
}

const op_descriptor op_OptionalHasElement = {has_check, has_reshape, has_run, 0, false, 1};

/* ---- OptionalGetElement ------------------------------------------------------------------ */

static onyx_status get_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (st)
        return st;
    const onyx_tensor *x = op_input(ctx, 0);
    char type[64];
    if (!x)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input 0 is required but absent");
    if (ctx->opset < 18 && !is_optional(x))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "input '%s' is a %s; it must be an optional before opset 18", op_input_name(ctx, 0),
                        op_type_str(x->dtype, type, sizeof type));
    onyx_tensor *out = op_output(ctx, 0);
    out->dtype = (onyx_dtype)((int)x->dtype & ~ONYX_OPTIONAL);
    if (!is_optional(x))
        tensor_set_shape(out, x->rank, x->dims);
    else
        out->rank = -1;
    return ONYX_OK;
}

/* The value output 0 copies: the optional's item, or the input itself. */
typedef struct held {
    onyx_tensor value;
} held;

static onyx_status get_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    onyx_tensor *out = op_output(ctx, 0);
    if (!is_optional(x)) {
        tensor_set_shape(out, x->rank, x->dims);
        return ONYX_OK;
    }
    onyx_status st = need_input_values(ctx);
    if (st)
        return st;
    held *h = op_alloc_state(ctx, sizeof *h);
    if (!h)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if (onyx_value_length(x) < 1)
        return op_error(ctx, ONYX_ERROR_RUNTIME, "optional '%s' holds no value", op_input_name(ctx, 0));
    onyx_value_item(x, 0, &h->value);
    ctx->state = h;
    tensor_set_shape(out, h->value.rank, h->value.dims);
    return ONYX_OK;
}

static onyx_status get_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const onyx_tensor *x = ctx->inputs[0];
    const onyx_tensor *v = is_optional(x) ? &((const held *)ctx->state)->value : x;
    size_t bytes = op_value_bytes(v);
    if (bytes && ctx->outputs[0]->data != v->data)
        memcpy(ctx->outputs[0]->data, v->data, bytes);
    return ONYX_OK;
}

const op_descriptor op_OptionalGetElement = {get_check, get_reshape, get_run, 0, false, 1};
