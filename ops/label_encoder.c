/* ai.onnx.ml LabelEncoder, versions 1, 2 and 4: maps each element through a table of keys
 * and values (strings, integers or floats), a default for keys not in it.
 *
 * The table is built once in check: keys sorted (the last of repeated keys wins, as ONNX
 * specifies; version 1's classes_strings maps a string to its first index), looked up by
 * binary search, so a node costs O(n log k) whatever the key type. String keys and values
 * point into the model (attributes, or the block of a tensor attribute), which outlives
 * the params. */
#include "op.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum key_kind { KIND_STRING, KIND_INT, KIND_REAL } key_kind;

typedef struct item {
    const char *s;
    size_t len;
    int64_t i;
    double d;
    int64_t order; /* position in the attribute, for "the last key wins" */
} item;

typedef struct label_params {
    key_kind key_kind, value_kind;
    onyx_dtype out_dtype;
    int64_t n;
    item *keys;   /* sorted */
    item *values; /* values[k] belongs to keys[k] */
    item dflt;
} label_params;

static key_kind kind_of(onyx_dtype dt)
{
    if (dt == ONYX_DTYPE_STRING)
        return KIND_STRING;
    return dt == ONYX_DTYPE_FLOAT || dt == ONYX_DTYPE_DOUBLE ? KIND_REAL : KIND_INT;
}

/* Orders NaN after every number and equal to itself, so that a NaN key matches a NaN input. */
static int compare_items(const item *a, const item *b, key_kind kind)
{
    if (kind == KIND_STRING) {
        int c = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
        return c ? c : (a->len > b->len) - (a->len < b->len);
    }
    if (kind == KIND_INT)
        return (a->i > b->i) - (a->i < b->i);
    if (isnan(a->d) || isnan(b->d))
        return isnan(a->d) - isnan(b->d);
    return (a->d > b->d) - (a->d < b->d);
}

/* qsort over indices into the keys: by key, then by order. */
static _Thread_local const label_params *sorting;
static int by_key(const void *x, const void *y)
{
    const item *a = &sorting->keys[*(const int64_t *)x], *b = &sorting->keys[*(const int64_t *)y];
    int c = compare_items(a, b, sorting->key_kind);
    return c ? c : (a->order > b->order) - (a->order < b->order);
}

/* Element k of a tensor of numbers or strings, as an item. */
static item tensor_item(const onyx_tensor *t, int64_t k)
{
    item it = {0};
    switch (t->dtype) {
    case ONYX_DTYPE_STRING: it.s = op_string_at(t, k, &it.len); break;
    case ONYX_DTYPE_INT64: it.i = ((const int64_t *)t->data)[k]; break;
    case ONYX_DTYPE_INT32: it.i = ((const int32_t *)t->data)[k]; break;
    case ONYX_DTYPE_INT16: it.i = ((const int16_t *)t->data)[k]; break;
    case ONYX_DTYPE_FLOAT: it.d = ((const float *)t->data)[k]; break;
    case ONYX_DTYPE_DOUBLE: it.d = ((const double *)t->data)[k]; break;
    default: break;
    }
    return it;
}

/* One of the list attributes prefix_int64s / _floats / _strings / _tensor (those that exist at
 * this version): its items, count and dtype. *count is -1 when none is set; an error when
 * more than one is. */
static onyx_status read_list(op_context *ctx, const char *prefix, bool with_tensor, item **out,
                             int64_t *count,
                             onyx_dtype *dtype)
{
    char name[4][32];
    snprintf(name[0], sizeof name[0], "%s_int64s", prefix);
    snprintf(name[1], sizeof name[1], "%s_floats", prefix);
    snprintf(name[2], sizeof name[2], "%s_strings", prefix);
    snprintf(name[3], sizeof name[3], "%s_tensor", prefix);
    int set = 0, which = -1;
    for (int k = 0; k < (with_tensor ? 4 : 3); k++)
        if (op_has_attr(ctx, name[k]))
            set++, which = k;
    *count = -1;
    if (set > 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "only one of the attributes %s_* may be set", prefix);
    if (!set)
        return ONYX_OK;
    const int64_t *ints = NULL;
    const float *floats = NULL;
    const char *const *strings = NULL;
    const onyx_tensor *t = NULL;
    onyx_status st = which == 0   ? op_attr_ints(ctx, name[0], &ints, count)
                     : which == 1 ? op_attr_floats(ctx, name[1], &floats, count)
                     : which == 2 ? op_attr_strings(ctx, name[2], &strings, count)
                                  : op_attr_tensor(ctx, name[3], &t);
    if (st)
        return st;
    if (t) {
        uint32_t ok = DT(STRING) | DT(INT64) | DT(INT32) | DT(INT16) | DT(FLOAT) | DT(DOUBLE);
        if (!((1u << t->dtype) & ok) || t->dtype >= 32)
            return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "attribute '%s' has dtype %s; LabelEncoder takes "
                            "string, int64, int32, int16, float or double", name[3],
                            onyx_dtype_name(t->dtype));
        if (t->rank != 1)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute '%s' must be a 1-D tensor", name[3]);
        *count = tensor_count(t);
    }
    *dtype = t ? t->dtype : which == 0 ? ONYX_DTYPE_INT64 : which == 1 ? ONYX_DTYPE_FLOAT : ONYX_DTYPE_STRING;
    item *items = op_alloc_params(ctx, (size_t)*count * sizeof *items + 1);
    if (!items)
        return ONYX_ERROR_OUT_OF_MEMORY;
    for (int64_t k = 0; k < *count; k++) {
        if (t)
            items[k] = tensor_item(t, k);
        else if (ints)
            items[k].i = ints[k];
        else if (floats)
            items[k].d = floats[k];
        else
            items[k].s = strings[k], items[k].len = strlen(strings[k]);
        items[k].order = k;
    }
    *out = items;
    return ONYX_OK;
}

/* Sorts the keys, keeping the last of repeated ones (the largest order), and their values. */
static onyx_status build_table(op_context *ctx, label_params *p, item *keys, item *values, int64_t n)
{
    int64_t *index = op_alloc_temp(ctx, (size_t)n * sizeof *index + 1);
    item *k2 = op_alloc_params(ctx, (size_t)n * sizeof *k2 + 1);
    item *v2 = op_alloc_params(ctx, (size_t)n * sizeof *v2 + 1);
    if (!index || !k2 || !v2) {
        op_free_temp(ctx, index);
        return ONYX_ERROR_OUT_OF_MEMORY;
    }
    for (int64_t k = 0; k < n; k++)
        index[k] = k;
    p->keys = keys;
    sorting = p;
    qsort(index, (size_t)n, sizeof *index, by_key);
    sorting = NULL;
    int64_t m = 0;
    for (int64_t k = 0; k < n; k++) {
        if (k + 1 < n && !compare_items(&keys[index[k]], &keys[index[k + 1]], p->key_kind))
            continue; /* a later one of the same key follows */
        k2[m] = keys[index[k]];
        v2[m++] = values[index[k]];
    }
    op_free_temp(ctx, index);
    p->keys = k2;
    p->values = v2;
    p->n = m;
    return ONYX_OK;
}

static onyx_status label_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    uint32_t in_types = DT(STRING) | DT(INT64);
    if (ctx->opset >= 2)
        in_types |= DT(FLOAT);
    if (ctx->opset >= 4)
        in_types |= DT(INT32) | DT(INT16) | DT(DOUBLE);
    if (!st)
        st = op_check_input(ctx, 0, true, in_types);
    label_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    onyx_dtype in = ctx->inputs[0]->dtype, key_dtype, value_dtype;
    item *keys = NULL, *values = NULL;
    int64_t n_keys, n_values;
    if (ctx->opset < 2) {
        /* classes_strings: a string maps to its index, an integer to the string at it. */
        const char *const *classes;
        int64_t n;
        if ((st = op_attr_strings(ctx, "classes_strings", &classes, &n)))
            return st;
        n = n < 0 ? 0 : n;
        keys = op_alloc_params(ctx, (size_t)n * sizeof *keys + 1);
        values = op_alloc_params(ctx, (size_t)n * sizeof *values + 1);
        if (!keys || !values)
            return ONYX_ERROR_OUT_OF_MEMORY;
        bool to_int = in == ONYX_DTYPE_STRING;
        for (int64_t k = 0; k < n; k++) {
            item s = {.s = classes[k], .len = strlen(classes[k])}, i = {.i = k};
            keys[k] = to_int ? s : i;
            values[k] = to_int ? i : s;
            keys[k].order = to_int ? -k : k; /* the first index of a repeated string wins */
        }
        n_keys = n_values = n;
        key_dtype = in;
        value_dtype = to_int ? ONYX_DTYPE_INT64 : ONYX_DTYPE_STRING;
    } else {
        if ((st = read_list(ctx, "keys", ctx->opset >= 4, &keys, &n_keys, &key_dtype)) ||
            (st = read_list(ctx, "values", ctx->opset >= 4, &values, &n_values, &value_dtype)))
            return st;
        if (n_keys < 0 || n_values < 0)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "one keys_* and one values_* attribute are required");
        if (n_keys != n_values)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "%lld keys but %lld values", (long long)n_keys,
                            (long long)n_values);
        if (key_dtype != in)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "the keys are %s but input '%s' is %s",
                            onyx_dtype_name(key_dtype), op_input_name(ctx, 0), onyx_dtype_name(in));
    }
    p->key_kind = kind_of(key_dtype);
    p->value_kind = kind_of(value_dtype);
    p->out_dtype = value_dtype;
    /* The default: default_tensor, else default_<type> of the value type, else ONNX's. */
    const onyx_tensor *dt = NULL;
    if (ctx->opset >= 4 && (st = op_attr_tensor(ctx, "default_tensor", &dt)))
        return st;
    if (dt) {
        if (dt->dtype != value_dtype || tensor_count(dt) != 1)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'default_tensor' must hold one %s",
                            onyx_dtype_name(value_dtype));
        p->dflt = tensor_item(dt, 0);
    } else if (p->value_kind == KIND_STRING) {
        if ((st = op_attr_string(ctx, "default_string", "_Unused", &p->dflt.s)))
            return st;
        p->dflt.len = strlen(p->dflt.s);
    } else if (p->value_kind == KIND_INT) {
        if ((st = op_attr_int(ctx, "default_int64", -1, &p->dflt.i)))
            return st;
    } else {
        float f;
        if ((st = op_attr_float(ctx, "default_float", -0.0f, &f)))
            return st;
        p->dflt.d = f;
    }
    if ((st = build_table(ctx, p, keys, values, n_keys)))
        return st;
    ctx->outputs[0]->dtype = value_dtype;
    ctx->params = p;
    return ONYX_OK;
}

static const item *lookup(const label_params *p, const onyx_tensor *x, int64_t k)
{
    item key = tensor_item(x, k);
    int64_t lo = 0, hi = p->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = compare_items(&p->keys[mid], &key, p->key_kind);
        if (!c)
            return &p->values[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return &p->dflt;
}

static onyx_status label_reshape(op_context *ctx)
{
    const label_params *p = ctx->params;
    const onyx_tensor *x = ctx->inputs[0];
    onyx_tensor *y = ctx->outputs[0];
    if (x->rank < 0)
        return ONYX_OK;
    tensor_set_shape(y, x->rank, x->dims);
    if (p->value_kind != KIND_STRING || !ctx->concrete || !x->data)
        return ONYX_OK;
    int64_t n = tensor_count(x), chars = 0;
    for (int64_t k = 0; k < n; k++)
        if (!__builtin_add_overflow(chars, (int64_t)lookup(p, x, k)->len, &chars) && chars > INT64_MAX / 4)
            return op_error(ctx, ONYX_ERROR_LIMIT, "the output's strings are too large");
    return op_string_size(ctx, 0, chars);
}

static onyx_status label_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const label_params *p = ctx->params;
    const onyx_tensor *x = ctx->inputs[0];
    onyx_tensor *y = ctx->outputs[0];
    int64_t n = tensor_count(x);
    op_string_writer w = {0};
    if (p->value_kind == KIND_STRING)
        op_string_begin(&w, y);
    for (int64_t k = 0; k < n; k++) {
        const item *v = lookup(p, x, k);
        switch (y->dtype) {
        case ONYX_DTYPE_STRING: op_string_put(&w, v->s, v->len); break;
        case ONYX_DTYPE_INT64: ((int64_t *)y->data)[k] = v->i; break;
        case ONYX_DTYPE_INT32: ((int32_t *)y->data)[k] = (int32_t)v->i; break;
        case ONYX_DTYPE_INT16: ((int16_t *)y->data)[k] = (int16_t)v->i; break;
        case ONYX_DTYPE_FLOAT: ((float *)y->data)[k] = (float)v->d; break;
        case ONYX_DTYPE_DOUBLE: ((double *)y->data)[k] = v->d; break;
        default: break;
        }
    }
    return ONYX_OK;
}

const op_descriptor op_LabelEncoder = {label_check, label_reshape, label_run, 0};
