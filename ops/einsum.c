/* Einsum: the general contraction of its inputs by an equation such as "bij,bjk->bik".
 * Every output element is the sum, over all values of the labels absent from the output, of
 * the product of the operands' elements at those labels. As numpy has it: a repeated label in
 * one term takes a diagonal; "..." stands for the leading dims, broadcast across operands
 * (right-aligned); a dim of 1 broadcasts against a label's size; without "->" the output is
 * "..." then the labels used once, in ASCII order (upper case first). Whitespace is ignored.
 *
 * Floats accumulate in double; integers wrap in 64 bits, then to their width. */
#include "dtype_io.h"
#include "op.h"

#include <stdio.h>
#include <string.h>

/* Labels: 'A'..'Z' are 0..25, 'a'..'z' 26..51 (so that label order is ASCII order), and the
 * dims "..." stands for ELLIPSIS_LABEL onwards, up to ONYX_MAX_RANK of them. */
#define LETTER_LABELS 52
#define ELLIPSIS_LABEL LETTER_LABELS
#define MAX_LABELS (LETTER_LABELS + ONYX_MAX_RANK)
#define ELLIPSIS_MARK (-1) /* in a parsed term, where "..." stands */
#define MAX_OPERANDS 64

typedef struct einsum_term {
    int n;                            /* entries in label[] */
    int8_t label[ONYX_MAX_RANK + 1];  /* letter labels, and at most one ELLIPSIS_MARK */
    bool has_ellipsis;
} einsum_term;

/* out[t] for t in [begin, end). */
struct einsum_state;
typedef void (*einsum_kernel)(const struct einsum_state *s, const void *const *in, void *out, int64_t *scratch,
                              int64_t begin, int64_t end);

typedef struct einsum_params {
    einsum_kernel kernel;
    einsum_term output;
    int n_terms;
    einsum_term terms[]; /* one per input */
} einsum_params;

typedef struct einsum_state {
    int n_operands, out_rank, sum_rank;
    int64_t out_dims[ONYX_MAX_RANK], sum_dims[MAX_LABELS];
    int64_t sum_count;
    /* Per operand, the stride of each output label, then of each summed label (0 where the
     * operand lacks the label or broadcasts it): n_operands * (ONYX_MAX_RANK + MAX_LABELS). */
    int64_t strides[];
} einsum_state;

#define STRIDES_PER_OPERAND (ONYX_MAX_RANK + MAX_LABELS)
static inline const int64_t *out_strides(const einsum_state *s, int k) { return s->strides + k * STRIDES_PER_OPERAND; }
static inline const int64_t *sum_strides(const einsum_state *s, int k)
{
    return s->strides + k * STRIDES_PER_OPERAND + ONYX_MAX_RANK;
}

/* ---- kernels ------------------------------------------------------------------------------ */

/* scratch: offsets of each operand's current element (n_operands), then the odometer over the
 * summed labels (sum_rank). */
#define EINSUM_KERNEL(D, T, ACC, LOAD, STORE)                                                  \
    static void einsum_##D(const einsum_state *s, const void *const *in, void *out_, int64_t *scratch, \
                           int64_t begin, int64_t end)                                         \
    {                                                                                          \
        T *out = out_;                                                                         \
        int64_t *off = scratch, *idx = scratch + s->n_operands;                                \
        for (int64_t t = begin; t < end; t++) {                                                \
            for (int k = 0; k < s->n_operands; k++)                                            \
                off[k] = 0;                                                                    \
            int64_t rest = t;                                                                  \
            for (int d = s->out_rank - 1; d >= 0; d--) {                                       \
                int64_t i = rest % s->out_dims[d];                                             \
                rest /= s->out_dims[d];                                                        \
                for (int k = 0; k < s->n_operands; k++)                                        \
                    off[k] += i * out_strides(s, k)[d];                                        \
            }                                                                                  \
            memset(idx, 0, (size_t)s->sum_rank * sizeof *idx);                                 \
            ACC acc = 0;                                                                       \
            for (int64_t c = 0; c < s->sum_count; c++) {                                       \
                ACC product = 1;                                                               \
                for (int k = 0; k < s->n_operands; k++)                                        \
                    product *= (ACC)LOAD(((const T *)in[k])[off[k]]);                          \
                acc += product;                                                                \
                for (int d = s->sum_rank - 1; d >= 0; d--) {                                   \
                    for (int k = 0; k < s->n_operands; k++)                                    \
                        off[k] += sum_strides(s, k)[d];                                        \
                    if (++idx[d] < s->sum_dims[d])                                             \
                        break;                                                                 \
                    for (int k = 0; k < s->n_operands; k++)                                    \
                        off[k] -= sum_strides(s, k)[d] * s->sum_dims[d];                       \
                    idx[d] = 0;                                                                \
                }                                                                              \
            }                                                                                  \
            out[t] = STORE(acc);                                                               \
        }                                                                                      \
    }
#define FLOAT_EINSUM(D, T, V, LOAD, STORE) EINSUM_KERNEL(D, T, double, LOAD, STORE)
#define INT_EINSUM(D, T, V, LOAD, STORE) EINSUM_KERNEL(D, T, uint64_t, LOAD, STORE)
FOR_FLOAT_IO(FLOAT_EINSUM)
FOR_INT_IO(INT_EINSUM)

static einsum_kernel einsum_kernel_for(onyx_dtype dtype)
{
#define EINSUM_CASE(D, T, V, LOAD, STORE)                                                      \
    case ONYX_DTYPE_##D:                                                                       \
        return einsum_##D;
    switch (dtype) {
        FOR_NUMERIC_IO(EINSUM_CASE)
    default:
        return NULL;
    }
}

/* ---- the equation ------------------------------------------------------------------------- */

static int letter_label(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return 26 + (c - 'a');
    return -1;
}

static char label_letter(int label) { return (char)(label < 26 ? 'A' + label : 'a' + (label - 26)); }

static const char *skip_spaces(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Parses the subscripts of one term at *s, up to the first character that is neither a
 * letter, "..." nor a space. `what` names the term in messages. */
static onyx_status parse_term(const op_context *ctx, const char **s, einsum_term *term, const char *what)
{
    term->n = 0;
    term->has_ellipsis = false;
    for (const char *c = skip_spaces(*s);; c = skip_spaces(c)) {
        int label = letter_label(*c);
        if (label < 0 && *c != '.') {
            *s = c;
            return ONYX_OK;
        }
        if (term->n - term->has_ellipsis == ONYX_MAX_RANK && label >= 0)
            return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "%s has more than %d subscripts", what, ONYX_MAX_RANK);
        if (label >= 0) {
            term->label[term->n++] = (int8_t)label;
            c++;
            continue;
        }
        if (strncmp(c, "...", 3) || term->has_ellipsis)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "%s: '.' only comes as one '...'", what);
        term->label[term->n++] = ELLIPSIS_MARK;
        term->has_ellipsis = true;
        c += 3;
    }
}

/* Without "->": "..." when an input has it, then the letters used exactly once, in order. */
static onyx_status implicit_output(const op_context *ctx, einsum_params *p)
{
    int uses[LETTER_LABELS] = {0};
    bool ellipsis = false;
    for (int k = 0; k < p->n_terms; k++) {
        ellipsis |= p->terms[k].has_ellipsis;
        for (int i = 0; i < p->terms[k].n; i++)
            if (p->terms[k].label[i] != ELLIPSIS_MARK)
                uses[p->terms[k].label[i]]++;
    }
    einsum_term *out = &p->output;
    out->n = 0;
    out->has_ellipsis = ellipsis;
    if (ellipsis)
        out->label[out->n++] = ELLIPSIS_MARK;
    for (int label = 0; label < LETTER_LABELS; label++) {
        if (uses[label] != 1)
            continue;
        if (out->n - out->has_ellipsis == ONYX_MAX_RANK)
            return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "the output has more than %d subscripts", ONYX_MAX_RANK);
        out->label[out->n++] = (int8_t)label;
    }
    return ONYX_OK;
}

/* An explicit output names each letter once, and only letters of the inputs. */
static onyx_status check_output(const op_context *ctx, const einsum_params *p)
{
    bool in_inputs[LETTER_LABELS] = {false}, seen[LETTER_LABELS] = {false};
    for (int k = 0; k < p->n_terms; k++)
        for (int i = 0; i < p->terms[k].n; i++)
            if (p->terms[k].label[i] != ELLIPSIS_MARK)
                in_inputs[p->terms[k].label[i]] = true;
    for (int i = 0; i < p->output.n; i++) {
        int label = p->output.label[i];
        if (label == ELLIPSIS_MARK)
            continue;
        if (seen[label] || !in_inputs[label])
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "output subscript '%c' %s", label_letter(label),
                            seen[label] ? "is repeated" : "is in no input");
        seen[label] = true;
    }
    return ONYX_OK;
}

static onyx_status parse_equation(const op_context *ctx, const char *equation, einsum_params *p)
{
    const char *s = equation;
    onyx_status st;
    char what[32];
    for (p->n_terms = 0;;) {
        if (p->n_terms == ctx->n_inputs)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "equation '%s' has more terms than the %d inputs", equation,
                            ctx->n_inputs);
        snprintf(what, sizeof what, "term %d", p->n_terms);
        if ((st = parse_term(ctx, &s, &p->terms[p->n_terms++], what)))
            return st;
        if (*s != ',')
            break;
        s++;
    }
    if (p->n_terms != ctx->n_inputs)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "equation '%s' has %d terms for %d inputs", equation,
                        p->n_terms, ctx->n_inputs);
    bool explicit_output = s[0] == '-' && s[1] == '>';
    if (explicit_output) {
        s += 2;
        if ((st = parse_term(ctx, &s, &p->output, "the output")))
            return st;
    }
    if (*s)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "unexpected '%c' in equation '%s'", *s, equation);
    return explicit_output ? check_output(ctx, p) : implicit_output(ctx, p);
}

/* ---- the operator ------------------------------------------------------------------------- */

static onyx_status einsum_check(op_context *ctx)
{
    if (ctx->n_inputs > MAX_OPERANDS)
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "more than %d inputs", MAX_OPERANDS);
    onyx_status st = op_check_arity(ctx, 1, MAX_OPERANDS, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, ctx->n_inputs, ctx->n_inputs,
                                   DT_NUMERIC | DT(FLOAT16) | DT(BFLOAT16));
    const char *equation;
    if (!st)
        st = op_attr_require(ctx, "equation");
    if (!st)
        st = op_attr_string(ctx, "equation", "", &equation);
    if (st)
        return st;
    einsum_params *p = op_alloc_params(ctx, sizeof *p + (size_t)ctx->n_inputs * sizeof p->terms[0]);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = parse_equation(ctx, equation, p)))
        return st;
    p->kernel = einsum_kernel_for(op_input(ctx, 0)->dtype);
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

/* The sizes of the labels, from the operands' dims: a dim of 1 broadcasts, others must agree.
 * "..." of operand k covers its leading dims, labels ELLIPSIS_LABEL + (n_ellipsis - its
 * count) onwards (right-aligned). axis_label[k][a] receives the label of each axis. */
static onyx_status label_sizes(const op_context *ctx, const einsum_params *p, int n_ellipsis, int64_t size[MAX_LABELS],
                               bool used[MAX_LABELS], int axis_label[][ONYX_MAX_RANK])
{
    for (int k = 0; k < p->n_terms; k++) {
        const onyx_tensor *x = op_input(ctx, k);
        const einsum_term *term = &p->terms[k];
        int own_ellipsis = x->rank - (term->n - term->has_ellipsis), a = 0;
        for (int i = 0; i < term->n; i++) {
            if (term->label[i] != ELLIPSIS_MARK) {
                axis_label[k][a++] = term->label[i];
                continue;
            }
            for (int e = 0; e < own_ellipsis; e++)
                axis_label[k][a++] = ELLIPSIS_LABEL + n_ellipsis - own_ellipsis + e;
        }
        for (a = 0; a < x->rank; a++) {
            int label = axis_label[k][a];
            int64_t d = x->dims[a];
            if (!used[label] || size[label] == 1 || (!dim_known(size[label]) && dim_known(d))) {
                if (!used[label] || d != 1)
                    size[label] = d;
                used[label] = true;
            } else if (d != 1 && d != size[label] && dim_known(d)) {
                char name[8] = "...";
                if (label < LETTER_LABELS)
                    snprintf(name, sizeof name, "%c", label_letter(label));
                return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                                "subscript '%s' is %lld long in input '%s' but %lld in another input", name,
                                (long long)d, op_input_name(ctx, k), (long long)size[label]);
            }
        }
    }
    return ONYX_OK;
}

static onyx_status einsum_reshape(op_context *ctx)
{
    const einsum_params *p = ctx->params;
    int n_ellipsis = 0;
    for (int k = 0; k < p->n_terms; k++) {
        const onyx_tensor *x = op_input(ctx, k);
        const einsum_term *term = &p->terms[k];
        int letters = term->n - term->has_ellipsis;
        if (term->has_ellipsis ? x->rank < letters : x->rank != letters)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' has rank %d for %d subscripts%s",
                            op_input_name(ctx, k), x->rank, letters, term->has_ellipsis ? " and '...'" : "");
        n_ellipsis = OP_MAX(n_ellipsis, x->rank - letters);
    }
    if (n_ellipsis && !p->output.has_ellipsis)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "the output has no '...' for the %d dims '...' stands for",
                        n_ellipsis);
    int64_t size[MAX_LABELS];
    bool used[MAX_LABELS] = {false}, in_output[MAX_LABELS] = {false};
    int axis_label[MAX_OPERANDS][ONYX_MAX_RANK];
    onyx_status st = label_sizes(ctx, p, n_ellipsis, size, used, axis_label);
    if (st)
        return st;

    int out_labels[MAX_LABELS], out_rank = 0;
    for (int i = 0; i < p->output.n; i++) {
        int n = p->output.label[i] == ELLIPSIS_MARK ? n_ellipsis : 1;
        if (out_rank + n > ONYX_MAX_RANK)
            return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "the output rank is above %d", ONYX_MAX_RANK);
        for (int e = 0; e < n; e++)
            out_labels[out_rank++] = p->output.label[i] == ELLIPSIS_MARK ? ELLIPSIS_LABEL + e : p->output.label[i];
    }
    onyx_tensor *y = op_output(ctx, 0);
    y->rank = out_rank;
    for (int i = 0; i < out_rank; i++) {
        y->dims[i] = size[out_labels[i]];
        in_output[out_labels[i]] = true;
    }
    if (!ctx->concrete)
        return ONYX_OK;

    einsum_state *s = op_alloc_state(ctx, sizeof *s + (size_t)p->n_terms * STRIDES_PER_OPERAND * sizeof(int64_t));
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->n_operands = p->n_terms;
    s->out_rank = out_rank;
    memcpy(s->out_dims, y->dims, sizeof s->out_dims);
    int sum_labels[MAX_LABELS];
    s->sum_count = 1;
    for (int label = 0; label < MAX_LABELS; label++) {
        if (!used[label] || in_output[label])
            continue;
        sum_labels[s->sum_rank] = label;
        s->sum_dims[s->sum_rank++] = size[label];
        if (__builtin_mul_overflow(s->sum_count, size[label], &s->sum_count))
            return op_error(ctx, ONYX_ERROR_LIMIT, "the contraction sums over more than 2^63 terms");
    }
    for (int k = 0; k < p->n_terms; k++) {
        const onyx_tensor *x = op_input(ctx, k);
        int64_t label_stride[MAX_LABELS] = {0}, stride = 1;
        for (int a = x->rank - 1; a >= 0; a--) {
            if (x->dims[a] != 1) /* a dim of 1 repeats its one element along the label */
                label_stride[axis_label[k][a]] += stride;
            stride *= x->dims[a];
        }
        int64_t *strides = s->strides + k * STRIDES_PER_OPERAND;
        for (int i = 0; i < out_rank; i++)
            strides[i] = label_stride[out_labels[i]];
        for (int j = 0; j < s->sum_rank; j++)
            strides[ONYX_MAX_RANK + j] = label_stride[sum_labels[j]];
    }
    ctx->state = s;
    ctx->n_tasks = tensor_count(y);
    int64_t cost;
    ctx->task_cost = __builtin_mul_overflow(s->sum_count, s->n_operands, &cost) ? INT64_MAX : cost;
    ctx->scratch_bytes = (size_t)(s->n_operands + s->sum_rank) * sizeof(int64_t);
    return ONYX_OK;
}

static onyx_status einsum_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const einsum_params *p = ctx->params;
    const void *in[MAX_OPERANDS];
    for (int k = 0; k < p->n_terms; k++)
        in[k] = ctx->inputs[k]->data;
    p->kernel(ctx->state, in, ctx->outputs[0]->data, scratch, begin, end);
    return ONYX_OK;
}

const op_descriptor op_Einsum = {einsum_check, einsum_reshape, einsum_run, 0};
