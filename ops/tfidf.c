/* TfIdfVectorizer-9: counts the n-grams of a pool in each row of int32, int64 or string
 * items (skipping up to max_skip_count items between an n-gram's items) and weighs the
 * counts (TF, IDF or TFIDF).
 *
 * The pool's n-grams are sorted once in check by (length, items); counting looks each
 * candidate n-gram of a row up by binary search, so a row of C items costs
 * O(C * skips * max_gram_length * log(pool)). One task per row, each writing its own row. */
#include "op.h"

#include <stdlib.h>
#include <string.h>

typedef struct gram {
    int64_t n;      /* items */
    int64_t start;  /* first item in the pool */
    int64_t output; /* where its count goes */
} gram;

typedef struct tfidf_params {
    bool strings;
    const int64_t *pool_ints;
    const char *const *pool_strings;
    size_t *pool_lens;
    int64_t n_grams;
    gram *grams; /* sorted by (n, items) */
    int64_t min_n, max_n, max_skip, out_size;
    enum { MODE_TF, MODE_IDF, MODE_TFIDF } mode;
    const float *weights; /* NULL: all 1 */
} tfidf_params;

/* Compares the pool's item k with the row's item at `at`. */
static int compare_item(const tfidf_params *p, int64_t k, const onyx_tensor *x, int64_t at)
{
    if (!p->strings) {
        int64_t a = p->pool_ints[k];
        int64_t b = x->dtype == ONYX_DTYPE_INT32 ? ((const int32_t *)x->data)[at]
                                                 : ((const int64_t *)x->data)[at];
        return (a > b) - (a < b);
    }
    size_t len, pool_len = p->pool_lens[k];
    const char *s = op_string_at(x, at, &len);
    int c = memcmp(p->pool_strings[k], s, pool_len < len ? pool_len : len);
    return c ? c : (pool_len > len) - (pool_len < len);
}

static _Thread_local const tfidf_params *sorting;
static int by_gram(const void *x, const void *y)
{
    const gram *a = x, *b = y;
    if (a->n != b->n)
        return (a->n > b->n) - (a->n < b->n);
    for (int64_t k = 0; k < a->n; k++) {
        int c;
        if (sorting->strings) {
            size_t la = sorting->pool_lens[a->start + k], lb = sorting->pool_lens[b->start + k];
            c = memcmp(sorting->pool_strings[a->start + k], sorting->pool_strings[b->start + k],
                       la < lb ? la : lb);
            c = c ? c : (la > lb) - (la < lb);
        } else {
            int64_t va = sorting->pool_ints[a->start + k], vb = sorting->pool_ints[b->start + k];
            c = (va > vb) - (va < vb);
        }
        if (c)
            return c;
    }
    return (a->start > b->start) - (a->start < b->start); /* the later of equal n-grams wins */
}

static onyx_status tfidf_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT(STRING) | DT(INT32) | DT(INT64));
    tfidf_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    const char *mode;
    const int64_t *counts, *indexes;
    int64_t n_counts, n_indexes, n_pool = 0, n_weights;
    if ((st = op_attr_require(ctx, "max_gram_length")) || (st = op_attr_require(ctx, "min_gram_length")) ||
        (st = op_attr_require(ctx, "max_skip_count")) || (st = op_attr_require(ctx, "mode")) ||
        (st = op_attr_require(ctx, "ngram_counts")) || (st = op_attr_require(ctx, "ngram_indexes")) ||
        (st = op_attr_int(ctx, "max_gram_length", 0, &p->max_n)) ||
        (st = op_attr_int(ctx, "min_gram_length", 0, &p->min_n)) ||
        (st = op_attr_int(ctx, "max_skip_count", 0, &p->max_skip)) || (st = op_attr_string(ctx, "mode", "",
                                                                                           &mode)) ||
        (st = op_attr_ints(ctx, "ngram_counts", &counts, &n_counts)) ||
        (st = op_attr_ints(ctx, "ngram_indexes", &indexes, &n_indexes)) ||
        (st = op_attr_floats(ctx, "weights", &p->weights, &n_weights)))
        return st;
    if (!strcmp(mode, "TF"))
        p->mode = MODE_TF;
    else if (!strcmp(mode, "IDF"))
        p->mode = MODE_IDF;
    else if (!strcmp(mode, "TFIDF"))
        p->mode = MODE_TFIDF;
    else
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "attribute 'mode' is '%s'; expected TF, IDF or TFIDF", mode);
    if (p->min_n < 1 || p->max_n < p->min_n || p->max_n > 1 << 20 || p->max_skip < 0 || p->max_skip > 1 << 20)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "gram lengths %lld..%lld and max_skip_count %lld: expected "
                        "1 <= min_gram_length <= max_gram_length and max_skip_count >= 0",
                        (long long)p->min_n,
                        (long long)p->max_n, (long long)p->max_skip);
    p->strings = ctx->inputs[0]->dtype == ONYX_DTYPE_STRING;
    if (p->strings) {
        if ((st = op_attr_strings(ctx, "pool_strings", &p->pool_strings, &n_pool)))
            return st;
        if (op_has_attr(ctx, "pool_int64s") || n_pool < 0)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "a string input needs pool_strings (and no pool_int64s)");
        if (!(p->pool_lens = op_alloc_params(ctx, (size_t)n_pool * sizeof(size_t) + 1)))
            return ONYX_ERROR_OUT_OF_MEMORY;
        for (int64_t k = 0; k < n_pool; k++)
            p->pool_lens[k] = strlen(p->pool_strings[k]);
    } else {
        if ((st = op_attr_ints(ctx, "pool_int64s", &p->pool_ints, &n_pool)))
            return st;
        if (op_has_attr(ctx, "pool_strings") || n_pool < 0)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                            "an integer input needs pool_int64s (and no pool_strings)");
    }
    /* ngram_counts[i]: where the (i+1)-grams start in the pool, in items. */
    int64_t n_grams = 0;
    for (int64_t i = 0; i < n_counts; i++) {
        int64_t begin = counts[i], end = i + 1 < n_counts ? counts[i + 1] : n_pool;
        if (begin < 0 || end < begin || end > n_pool || (end - begin) % (i + 1))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "ngram_counts[%lld] = %lld does not delimit whole "
                            "%lld-grams in a pool of %lld items", (long long)i, (long long)begin,
                            (long long)(i + 1), (long long)n_pool);
        n_grams += (end - begin) / (i + 1);
    }
    if (n_indexes != n_grams)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "ngram_indexes has %lld entries for %lld n-grams in the pool",
                        (long long)n_indexes, (long long)n_grams);
    if (!(p->grams = op_alloc_params(ctx, (size_t)n_grams * sizeof(gram) + 1)))
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t g = 0;
    p->out_size = 0;
    for (int64_t i = 0; i < n_counts; i++) {
        int64_t end = i + 1 < n_counts ? counts[i + 1] : n_pool;
        for (int64_t at = counts[i]; at < end; at += i + 1, g++) {
            if (indexes[g] < 0 || indexes[g] >= INT32_MAX)
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "ngram_indexes[%lld] = %lld is out of range",
                                (long long)g, (long long)indexes[g]);
            p->grams[g] = (gram){i + 1, at, indexes[g]};
            p->out_size = OP_MAX(p->out_size, indexes[g] + 1);
        }
    }
    if (p->weights && n_weights < p->out_size && p->mode != MODE_TF)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "weights has %lld entries for %lld outputs",
                        (long long)n_weights, (long long)p->out_size);
    if (n_weights < 0)
        p->weights = NULL;
    sorting = p;
    qsort(p->grams, (size_t)n_grams, sizeof(gram), by_gram);
    sorting = NULL;
    p->n_grams = n_grams;
    ctx->outputs[0]->dtype = ONYX_DTYPE_FLOAT;
    ctx->params = p;
    return ONYX_OK;
}

static onyx_status tfidf_reshape(op_context *ctx)
{
    const tfidf_params *p = ctx->params;
    const onyx_tensor *x = ctx->inputs[0];
    onyx_tensor *y = ctx->outputs[0];
    if (x->rank < 0)
        return ONYX_OK;
    if (x->rank > 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input of rank %d: expected [C] or [N, C]", x->rank);
    y->rank = x->rank == 2 ? 2 : 1;
    y->dims[0] = x->rank == 2 ? x->dims[0] : p->out_size;
    y->dims[1] = p->out_size;
    if (ctx->concrete) {
        ctx->n_tasks = x->rank == 2 ? x->dims[0] : 1;
        ctx->task_cost = (x->rank ? x->dims[x->rank - 1] : 1) * (p->max_skip + 1) * p->max_n * 8;
    }
    return ONYX_OK;
}

/* The pool n-gram of length n equal to the row's items at start, start + d, ...; NULL if none. */
static const gram *find(const tfidf_params *p, int64_t n, const onyx_tensor *x, int64_t start, int64_t d)
{
    int64_t lo = 0, hi = p->n_grams, found = -1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const gram *g = &p->grams[mid];
        int c = (g->n > n) - (g->n < n);
        for (int64_t k = 0; !c && k < n; k++)
            c = compare_item(p, g->start + k, x, start + k * d);
        if (c < 0 || (!c && (found = mid, true)))
            lo = mid + 1; /* among equal n-grams, the last */
        else
            hi = mid;
    }
    return found >= 0 ? &p->grams[found] : NULL;
}

static onyx_status tfidf_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)scratch;
    const tfidf_params *p = ctx->params;
    const onyx_tensor *x = ctx->inputs[0];
    float *out = ctx->outputs[0]->data;
    int64_t c = x->rank ? x->dims[x->rank - 1] : 1;
    for (int64_t row = begin; row < end; row++) {
        float *y = out + row * p->out_size;
        memset(y, 0, (size_t)p->out_size * sizeof *y);
        int64_t base = row * c;
        /* Unigrams once (at the first distance); longer n-grams at every distance. */
        for (int64_t d = 1; d <= p->max_skip + 1; d++) {
            int64_t min_n = d > 1 && p->min_n == 1 ? 2 : p->min_n;
            for (int64_t s = 0; s < c; s++)
                for (int64_t n = min_n; n <= p->max_n && s + (n - 1) * d < c; n++) {
                    const gram *g = find(p, n, x, base + s, d);
                    if (g)
                        y[g->output] += 1.0f;
                }
        }
        for (int64_t i = 0; i < p->out_size; i++) {
            float w = p->weights ? p->weights[i] : 1.0f;
            if (p->mode == MODE_IDF)
                y[i] = y[i] > 0 ? w : 0;
            else if (p->mode == MODE_TFIDF)
                y[i] *= w;
        }
    }
    return ONYX_OK;
}

const op_descriptor op_TfIdfVectorizer = {tfidf_check, tfidf_reshape, tfidf_run, 0};
