/* RNN, GRU and LSTM (float32), all opset versions: one recurrent driver and three cells.
 *
 * The driver walks a direction over the time steps for a slice of the batch. It computes the
 * input projections X_t W^T of a block of steps with one GEMM (X rows gathered first, so that
 * layout, reverse direction and per-sequence lengths are only a matter of which rows), then
 * for each step lets the cell add the recurrence H_{t-1} R^T (its own GEMMs) and apply its
 * gates. Rows past their sequence length keep their state and write zeros to Y, as
 * onnxruntime does; a reverse direction reads each sequence backwards from its own end.
 *
 * Activations are the RNN family's list (Relu, Tanh, Sigmoid, Affine, LeakyRelu,
 * ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus), named case-insensitively;
 * activation_alpha and activation_beta are consumed in order by the functions that take them,
 * the defaults being those of the ONNX operators of the same names. */
#include "count.h"
#include "elementwise.h"
#include "gemm.h"

#include <string.h>
#include <strings.h>

/* ---- activations ------------------------------------------------------------------------- */

UNARY_KERNEL(act_relu, float, float, x > 0 ? x : 0)
UNARY_KERNEL(act_tanh, float, float, tanhf(x))
UNARY_KERNEL(act_sigmoid, float, float, 1 / (1 + expf(-x)))
UNARY_KERNEL(act_affine, float, float, alpha * x + beta)
UNARY_KERNEL(act_leaky_relu, float, float, x >= 0 ? x : alpha * x)
UNARY_KERNEL(act_thresholded_relu, float, float, x >= alpha ? x : 0)
UNARY_KERNEL(act_scaled_tanh, float, float, alpha * tanhf(beta * x))
UNARY_KERNEL(act_hard_sigmoid, float, float, fminf(fmaxf(alpha * x + beta, 0), 1))
UNARY_KERNEL(act_elu, float, float, x >= 0 ? x : alpha * (expf(x) - 1))
UNARY_KERNEL(act_softsign, float, float, x / (1 + fabsf(x)))
/* log(1 + e^x) without overflowing e^x. */
UNARY_KERNEL(act_softplus, float, float, x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x)))

typedef struct activation_kind {
    const char *name;
    unary_kernel fn;
    bool takes_alpha, takes_beta;
    float alpha, beta; /* defaults */
} activation_kind;

static const activation_kind activation_kinds[] = {
    {"Relu", act_relu, false, false, 0, 0},
    {"Tanh", act_tanh, false, false, 0, 0},
    {"Sigmoid", act_sigmoid, false, false, 0, 0},
    {"Affine", act_affine, true, true, 1, 0},
    {"LeakyRelu", act_leaky_relu, true, false, 0.01f, 0},
    {"ThresholdedRelu", act_thresholded_relu, true, false, 1, 0},
    {"ScaledTanh", act_scaled_tanh, true, true, 1, 1},
    {"HardSigmoid", act_hard_sigmoid, true, true, 0.2f, 0.5f},
    {"Elu", act_elu, true, false, 1, 0},
    {"Softsign", act_softsign, false, false, 0, 0},
    {"Softplus", act_softplus, false, false, 0, 0},
};

typedef struct activation {
    unary_kernel fn;
    unary_args args; /* alpha and beta */
} activation;

/* ---- the three cells' traits ------------------------------------------------------------- */

typedef enum cell_kind { CELL_RNN, CELL_GRU, CELL_LSTM } cell_kind;

#define MAX_ACTIVATIONS 3

typedef struct cell_traits {
    cell_kind kind;
    int gates;                  /* weight blocks per direction: Hi; z r h; i o f c */
    int n_activations;          /* per direction */
    const char *default_activations[MAX_ACTIVATIONS];
    int max_inputs, max_outputs;
} cell_traits;

static const cell_traits rnn_cell = {CELL_RNN, 1, 1, {"Tanh"}, 6, 2};
static const cell_traits gru_cell = {CELL_GRU, 3, 2, {"Sigmoid", "Tanh"}, 6, 2};
static const cell_traits lstm_cell = {CELL_LSTM, 4, 3, {"Sigmoid", "Tanh", "Tanh"}, 8, 3};

enum { IN_X, IN_W, IN_R, IN_B, IN_SEQUENCE_LENS, IN_INITIAL_H, IN_INITIAL_C, IN_P };
enum { OUT_Y, OUT_Y_H, OUT_Y_C };
/* Gate blocks within a direction's weights. */
enum { GRU_Z, GRU_R, GRU_H };
enum { LSTM_I, LSTM_O, LSTM_F, LSTM_C };

typedef struct rnn_params {
    const cell_traits *cell;
    int64_t hidden_size;  /* -1: taken from R's shape */
    int directions;       /* 1 or 2 */
    bool reverse;         /* the single direction runs backwards */
    bool batch_first;     /* layout 1 */
    bool has_clip;
    float clip;
    bool linear_before_reset, input_forget;
    activation activations[2][MAX_ACTIVATIONS]; /* per direction */
} rnn_params;

/* ---- check ------------------------------------------------------------------------------- */

static onyx_status read_activations(op_context *ctx, rnn_params *p)
{
    const char *const *names;
    const float *alphas, *betas;
    int64_t n_names, n_alphas, n_betas;
    onyx_status st;
    if ((st = op_attr_strings(ctx, "activations", &names, &n_names)) ||
        (st = op_attr_floats(ctx, "activation_alpha", &alphas, &n_alphas)) ||
        (st = op_attr_floats(ctx, "activation_beta", &betas, &n_betas)))
        return st;
    int per_direction = p->cell->n_activations;
    if (n_names < 0) {
        names = p->cell->default_activations;
        n_names = per_direction;
    }
    /* One list for every direction, or one list per direction. */
    if (n_names != per_direction && n_names != per_direction * p->directions)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'activations' has %lld names, expected %d%s",
                        (long long)n_names, per_direction * p->directions,
                        p->directions > 1 ? " (or one direction's)" : "");
    int64_t next_alpha = 0, next_beta = 0;
    for (int64_t i = 0; i < n_names; i++) {
        const activation_kind *kind = NULL;
        for (size_t k = 0; k < sizeof activation_kinds / sizeof activation_kinds[0] && !kind; k++)
            if (!strcasecmp(names[i], activation_kinds[k].name))
                kind = &activation_kinds[k];
        if (!kind)
            return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "activation '%s' is not supported", names[i]);
        activation a = {kind->fn, {.alpha = kind->alpha, .beta = kind->beta}};
        if (kind->takes_alpha && next_alpha < n_alphas)
            a.args.alpha = alphas[next_alpha++];
        if (kind->takes_beta && next_beta < n_betas)
            a.args.beta = betas[next_beta++];
        if (n_names == per_direction)
            for (int d = 0; d < p->directions; d++)
                p->activations[d][i] = a;
        else
            p->activations[i / per_direction][i % per_direction] = a;
    }
    return ONYX_OK;
}

static onyx_status rnn_check(op_context *ctx, const cell_traits *cell)
{
    onyx_status st = op_check_arity(ctx, 3, cell->max_inputs, 0, cell->max_outputs);
    for (int i = 0; i < ctx->n_inputs && !st; i++)
        st = op_check_input(ctx, i, i < IN_B, i == IN_SEQUENCE_LENS ? DT(INT32) : DT(FLOAT));
    rnn_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    p->cell = cell;
    const char *direction;
    int64_t layout = 0, linear_before_reset = 0, input_forget = 0;
    if ((st = op_attr_int(ctx, "hidden_size", -1, &p->hidden_size)) ||
        (st = op_attr_string(ctx, "direction", "forward", &direction)) ||
        (st = op_attr_float(ctx, "clip", INFINITY, &p->clip)))
        return st;
    /* Attributes of later versions only: models of earlier ones cannot set them. */
    if ((ctx->opset >= 14 && (st = op_attr_int(ctx, "layout", 0, &layout))) ||
        (cell->kind == CELL_GRU && ctx->opset >= 3 &&
         (st = op_attr_int(ctx, "linear_before_reset", 0, &linear_before_reset))) ||
        (cell->kind == CELL_LSTM && (st = op_attr_int(ctx, "input_forget", 0, &input_forget))))
        return st;
    /* output_sequence (before opset 7) only says whether Y may be left out, as it may anyway. */
    /* Bounded like a tensor dim, so that products of it with small factors cannot overflow. */
    if (op_has_attr(ctx, "hidden_size") && (p->hidden_size < 1 || p->hidden_size > INT32_MAX))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'hidden_size' (%lld) is out of range",
                        (long long)p->hidden_size);
    if (!strcmp(direction, "bidirectional"))
        p->directions = 2;
    else if (!strcmp(direction, "forward") || !strcmp(direction, "reverse"))
        p->directions = 1, p->reverse = !strcmp(direction, "reverse");
    else
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'direction' is '%s', not forward, reverse or "
                        "bidirectional", direction);
    p->has_clip = op_has_attr(ctx, "clip");
    if (p->has_clip && !(p->clip > 0))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'clip' (%g) must be positive", p->clip);
    if (layout != 0 && layout != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'layout' (%lld) must be 0 or 1", (long long)layout);
    p->batch_first = layout == 1;
    p->linear_before_reset = linear_before_reset != 0;
    p->input_forget = input_forget != 0;
    if ((st = read_activations(ctx, p)))
        return st;
    ctx->params = p;
    op_set_output_dtypes(ctx, ONYX_DTYPE_FLOAT);
    return ONYX_OK;
}

static onyx_status rnn_op_check(op_context *ctx) { return rnn_check(ctx, &rnn_cell); }
static onyx_status gru_op_check(op_context *ctx) { return rnn_check(ctx, &gru_cell); }
static onyx_status lstm_op_check(op_context *ctx) { return rnn_check(ctx, &lstm_cell); }

/* ---- reshape ----------------------------------------------------------------------------- */

/* Steps whose input projections one GEMM computes: about this many rows per GEMM. */
#define PROJECTION_ROWS 256
/* Batch rows one task carries through the sequence. */
#define ROWS_PER_TASK 32

typedef struct rnn_state {
    int64_t seq, batch, input, hidden;
    int64_t gate_width;                 /* gates * hidden */
    int64_t chunks, rows;               /* batch slices per direction, rows per slice */
    int64_t block_steps;                /* steps per projection GEMM */
    /* scratch, in floats from the start */
    size_t x_rows, projections, gates, activated, h, c, h_next, c_next, tmp, bias, total;
} rnn_state;

/* Input i, when present, must have the given shape. */
static onyx_status expect_shape(const op_context *ctx, int i, int rank, const int64_t *dims)
{
    const onyx_tensor *t = op_input(ctx, i);
    if (!t)
        return ONYX_OK;
    bool same = t->rank == rank;
    for (int d = 0; same && d < rank; d++)
        same = dim_may_equal(t->dims[d], dims[d]);
    if (same)
        return ONYX_OK;
    char got[128], want[128];
    onyx_tensor expected = {.rank = rank};
    memcpy(expected.dims, dims, (size_t)rank * sizeof dims[0]);
    return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' is %s, expected %s", op_input_name(ctx, i),
                    shape_str(t, got, sizeof got), shape_str(&expected, want, sizeof want));
}

static size_t take(size_t *at, int64_t floats)
{
    size_t start = *at;
    *at += (size_t)floats;
    return start;
}

static void plan_scratch(op_context *ctx, rnn_state *s, const rnn_params *p)
{
    int64_t rows = s->rows, h = s->hidden, g = s->gate_width;
    s->block_steps = rows ? OP_MAX(1, OP_MIN(s->seq, PROJECTION_ROWS / rows)) : 0; /* no rows: no task */
    size_t at = 0;
    s->x_rows = take(&at, s->block_steps * rows * s->input);
    s->projections = take(&at, s->block_steps * rows * g);
    s->gates = take(&at, rows * g);
    s->activated = take(&at, rows * g);
    s->h = take(&at, rows * h);
    s->h_next = take(&at, rows * h);
    s->c = take(&at, p->cell->kind == CELL_LSTM ? rows * h : 0);
    s->c_next = take(&at, p->cell->kind == CELL_LSTM ? rows * h : 0);
    s->tmp = take(&at, rows * h);
    s->bias = take(&at, g);
    s->total = at;
    ctx->scratch_bytes = at * sizeof(float);
}

static onyx_status rnn_reshape(op_context *ctx)
{
    const rnn_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, IN_X), *r = op_input(ctx, IN_R);
    char sx[128];
    if (x->rank != 3)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input X %s must be 3-D", shape_str(x, sx, sizeof sx));
    int64_t seq = x->dims[p->batch_first ? 1 : 0], batch = x->dims[p->batch_first ? 0 : 1], input = x->dims[2];
    int64_t hidden = p->hidden_size >= 0 ? p->hidden_size : r->rank == 3 ? r->dims[2] : DIM_UNKNOWN;
    int64_t dirs = p->directions, gates = dim_mul(hidden, p->cell->gates);
    const int64_t *state_dims = p->batch_first ? (const int64_t[]){batch, dirs, hidden}
                                               : (const int64_t[]){dirs, batch, hidden};
    onyx_status st;
    if ((st = expect_shape(ctx, IN_W, 3, (const int64_t[]){dirs, gates, input})) ||
        (st = expect_shape(ctx, IN_R, 3, (const int64_t[]){dirs, gates, hidden})) ||
        (st = expect_shape(ctx, IN_B, 2, (const int64_t[]){dirs, dim_mul(gates, 2)})) ||
        (st = expect_shape(ctx, IN_SEQUENCE_LENS, 1, &batch)) ||
        (st = expect_shape(ctx, IN_INITIAL_H, 3, state_dims)) ||
        (st = expect_shape(ctx, IN_INITIAL_C, 3, state_dims)) ||
        (st = expect_shape(ctx, IN_P, 2, (const int64_t[]){dirs, dim_mul(hidden, 3)})))
        return st;
    if (op_output(ctx, OUT_Y))
        tensor_set_shape(op_output(ctx, OUT_Y), 4,
                         p->batch_first ? (const int64_t[]){batch, seq, dirs, hidden}
                                        : (const int64_t[]){seq, dirs, batch, hidden});
    for (int i = OUT_Y_H; i <= OUT_Y_C; i++)
        if (op_output(ctx, i))
            tensor_set_shape(op_output(ctx, i), 3, state_dims);
    if (!ctx->concrete)
        return ONYX_OK;
    if (hidden < 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "hidden size %lld must be positive", (long long)hidden);

    rnn_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    *s = (rnn_state){.seq = seq, .batch = batch, .input = input, .hidden = hidden, .gate_width = gates};
    s->chunks = ceil_div(batch, ROWS_PER_TASK);
    s->rows = s->chunks ? ceil_div(batch, s->chunks) : 0;
    plan_scratch(ctx, s, p);
    ctx->state = s;
    ctx->n_tasks = dirs * s->chunks;
    ctx->task_cost = seq * s->rows * gates * (input + hidden) * 2;
    return ONYX_OK;
}

/* ---- the cells --------------------------------------------------------------------------- */

/* One step of a batch slice: the state h (c) of `rows` rows, the input projections with the
 * biases folded in, and where the cell writes the next state. */
typedef struct step {
    const rnn_params *p;
    const activation *act;     /* this direction's */
    int64_t rows, hidden, gate_width;
    const float *projections;  /* rows x gate_width */
    const float *r;            /* this direction's recurrence weights */
    const float *hidden_bias;  /* GRU with linear_before_reset: Rbh; else NULL */
    const float *peepholes;    /* LSTM: Pi, Po, Pf, or NULL */
    float *h, *c;              /* the state, updated by commit_step */
    float *h_next, *c_next;
    float *gates, *activated, *tmp; /* scratch */
} step;

static void clip_into(const step *s, float *v, int64_t n)
{
    if (s->p->has_clip)
        for (int64_t i = 0; i < n; i++)
            v[i] = fminf(fmaxf(v[i], -s->p->clip), s->p->clip);
}

/* gates[:, first:first + cols] = from R[first:first + cols]^T, plus the projections of those
 * gate columns when `onto_projections`: the recurrence of the gate blocks from `first`. */
static void recur(const step *s, const float *from, int64_t first, int64_t cols, bool onto_projections)
{
    for (int64_t row = 0; row < s->rows && onto_projections; row++)
        memcpy(s->gates + row * s->gate_width + first, s->projections + row * s->gate_width + first,
               (size_t)cols * sizeof(float));
    gemm_f32(false, true, s->rows, cols, s->hidden, 1.0f, from, s->hidden, s->r + first * s->hidden, s->hidden,
             onto_projections ? 1.0f : 0.0f, s->gates + first, s->gate_width);
}

/* Applies activation k to gate block `block` of every row, clipped first. */
static void activate(const step *s, int k, int block)
{
    int64_t at = block * s->hidden;
    for (int64_t row = 0; row < s->rows; row++, at += s->gate_width) {
        clip_into(s, s->gates + at, s->hidden);
        s->act[k].fn(s->activated + at, s->gates + at, s->hidden, &s->act[k].args);
    }
}

/* H = f(X W^T + H R^T + Wb + Rb) */
static void rnn_step(const step *s)
{
    recur(s, s->h, 0, s->hidden, true);
    activate(s, 0, 0);
    for (int64_t row = 0; row < s->rows; row++)
        memcpy(s->h_next + row * s->hidden, s->activated + row * s->gate_width, (size_t)s->hidden * sizeof(float));
}

/* z = f(..z), r = f(..r); h~ = g(X Wh^T + (r . H) Rh^T + Rbh + Wbh), or with linear_before_reset
 * g(X Wh^T + r . (H Rh^T + Rbh) + Wbh); H = (1 - z) . h~ + z . H. */
static void gru_step(const step *s)
{
    int64_t h = s->hidden, g = s->gate_width;
    recur(s, s->h, 0, 2 * h, true);
    activate(s, 0, GRU_Z);
    activate(s, 0, GRU_R);
    if (s->p->linear_before_reset) {
        recur(s, s->h, GRU_H * h, h, false);
        for (int64_t row = 0; row < s->rows; row++) {
            const float *reset = s->activated + row * g + GRU_R * h, *proj = s->projections + row * g + GRU_H * h;
            float *hg = s->gates + row * g + GRU_H * h;
            for (int64_t j = 0; j < h; j++)
                hg[j] = proj[j] + reset[j] * (hg[j] + (s->hidden_bias ? s->hidden_bias[j] : 0));
        }
    } else {
        for (int64_t row = 0; row < s->rows; row++)
            for (int64_t j = 0; j < h; j++)
                s->tmp[row * h + j] = s->activated[row * g + GRU_R * h + j] * s->h[row * h + j];
        recur(s, s->tmp, GRU_H * h, h, true);
    }
    activate(s, 1, GRU_H);
    for (int64_t row = 0; row < s->rows; row++) {
        const float *z = s->activated + row * g + GRU_Z * h, *candidate = s->activated + row * g + GRU_H * h;
        for (int64_t j = 0; j < h; j++)
            s->h_next[row * h + j] = (1 - z[j]) * candidate[j] + z[j] * s->h[row * h + j];
    }
}

/* i = f(..i + Pi . C), f = f(..f + Pf . C) (1 - i with input_forget), c~ = g(..c),
 * C' = f . C + i . c~, o = f(..o + Po . C'), H = o . h(C'). */
static void lstm_step(const step *s)
{
    int64_t h = s->hidden, g = s->gate_width;
    const float *pi = s->peepholes, *po = pi ? pi + h : NULL, *pf = pi ? pi + 2 * h : NULL;
    recur(s, s->h, 0, g, true);
    for (int64_t row = 0; row < s->rows && pi; row++)
        for (int64_t j = 0; j < h; j++) {
            s->gates[row * g + LSTM_I * h + j] += pi[j] * s->c[row * h + j];
            s->gates[row * g + LSTM_F * h + j] += pf[j] * s->c[row * h + j];
        }
    activate(s, 0, LSTM_I);
    if (!s->p->input_forget)
        activate(s, 0, LSTM_F);
    activate(s, 1, LSTM_C);
    for (int64_t row = 0; row < s->rows; row++) {
        const float *in = s->activated + row * g + LSTM_I * h, *forget = s->activated + row * g + LSTM_F * h;
        const float *cand = s->activated + row * g + LSTM_C * h;
        float *o = s->gates + row * g + LSTM_O * h;
        for (int64_t j = 0; j < h; j++) {
            float f = s->p->input_forget ? 1 - in[j] : forget[j];
            s->c_next[row * h + j] = f * s->c[row * h + j] + in[j] * cand[j];
            if (po)
                o[j] += po[j] * s->c_next[row * h + j];
        }
    }
    activate(s, 0, LSTM_O);
    for (int64_t row = 0; row < s->rows; row++) {
        const activation *out = &s->act[2];
        out->fn(s->tmp + row * h, s->c_next + row * h, h, &out->args);
        for (int64_t j = 0; j < h; j++)
            s->h_next[row * h + j] = s->activated[row * g + LSTM_O * h + j] * s->tmp[row * h + j];
    }
}

/* ---- the driver -------------------------------------------------------------------------- */

/* One task's work: direction d over batch rows [first, first + rows). */
typedef struct sweep {
    const op_context *ctx;
    const rnn_params *p;
    const rnn_state *s;
    int d;
    bool backwards;
    int64_t first, rows;
    float *scratch;
} sweep;

static int64_t sequence_length(const sweep *w, int64_t row)
{
    const onyx_tensor *lens = op_input(w->ctx, IN_SEQUENCE_LENS);
    return lens ? ((const int32_t *)lens->data)[w->first + row] : w->s->seq;
}

/* The time step a row reads at step `k` of the sweep (it is past its end when k >= length). */
static int64_t time_at(const sweep *w, int64_t k, int64_t length) { return w->backwards ? length - 1 - k : k; }

/* Element offset of the hidden vector of batch row b at time t in Y, and in a state tensor
 * (initial_h, Y_h, ...). */
static int64_t y_offset(const sweep *w, int64_t t, int64_t b)
{
    const rnn_state *s = w->s;
    int64_t dirs = w->p->directions;
    return (w->p->batch_first ? (b * s->seq + t) * dirs + w->d : (t * dirs + w->d) * s->batch + b) * s->hidden;
}

static int64_t state_offset(const sweep *w, int64_t b)
{
    int64_t dirs = w->p->directions;
    return (w->p->batch_first ? b * dirs + w->d : w->d * w->s->batch + b) * w->s->hidden;
}

/* Scratch projections for steps [k0, k0 + steps): the rows of X each row reads then (zeros
 * past its end), times W^T, plus the folded biases. */
static void project_block(const sweep *w, int64_t k0, int64_t steps)
{
    const rnn_state *s = w->s;
    const float *x = w->ctx->inputs[IN_X]->data;
    const float *weights = (const float *)w->ctx->inputs[IN_W]->data + w->d * s->gate_width * s->input;
    float *x_rows = w->scratch + s->x_rows, *proj = w->scratch + s->projections;
    for (int64_t k = 0; k < steps; k++)
        for (int64_t row = 0; row < w->rows; row++) {
            float *dst = x_rows + (k * w->rows + row) * s->input;
            int64_t length = sequence_length(w, row), b = w->first + row, t = time_at(w, k0 + k, length);
            if (k0 + k < length)
                memcpy(dst, x + (w->p->batch_first ? b * s->seq + t : t * s->batch + b) * s->input,
                       (size_t)s->input * sizeof(float));
            else
                memset(dst, 0, (size_t)s->input * sizeof(float));
        }
    for (int64_t i = 0; i < steps * w->rows; i++)
        memcpy(proj + i * s->gate_width, w->scratch + s->bias, (size_t)s->gate_width * sizeof(float));
    gemm_f32(false, true, steps * w->rows, s->gate_width, s->input, 1.0f, x_rows, s->input, weights, s->input, 1.0f,
             proj, s->gate_width);
}

/* The biases added to every projection: Wb + Rb, except GRU's Rbh under linear_before_reset
 * (the reset gate scales it with the recurrence). */
static void fold_biases(const sweep *w)
{
    const rnn_state *s = w->s;
    float *bias = w->scratch + s->bias;
    const onyx_tensor *b = op_input(w->ctx, IN_B);
    if (!b) {
        memset(bias, 0, (size_t)s->gate_width * sizeof(float));
        return;
    }
    const float *wb = (const float *)b->data + w->d * 2 * s->gate_width, *rb = wb + s->gate_width;
    int64_t recurrent_end = w->p->linear_before_reset ? GRU_H * s->hidden : s->gate_width;
    for (int64_t j = 0; j < s->gate_width; j++)
        bias[j] = wb[j] + (j < recurrent_end ? rb[j] : 0);
}

static void load_state(const sweep *w, int input, float *dst)
{
    const onyx_tensor *init = op_input(w->ctx, input);
    for (int64_t row = 0; row < w->rows; row++) {
        float *to = dst + row * w->s->hidden;
        if (init)
            memcpy(to, (const float *)init->data + state_offset(w, w->first + row), (size_t)w->s->hidden * sizeof(float));
        else
            memset(to, 0, (size_t)w->s->hidden * sizeof(float));
    }
}

static void store_state(const sweep *w, int output, const float *src)
{
    onyx_tensor *out = op_output(w->ctx, output);
    for (int64_t row = 0; out && row < w->rows; row++)
        memcpy((float *)out->data + state_offset(w, w->first + row), src + row * w->s->hidden,
               (size_t)w->s->hidden * sizeof(float));
}

static void (*const cell_steps[])(const step *) = {[CELL_RNN] = rnn_step, [CELL_GRU] = gru_step,
                                                    [CELL_LSTM] = lstm_step};

/* Copies the next state of the rows still within their sequence, writes their Y, and zeros
 * Y at this time step for the others. */
static void commit_step(const sweep *w, const step *st, int64_t k)
{
    const rnn_state *s = w->s;
    onyx_tensor *y = op_output(w->ctx, OUT_Y);
    size_t bytes = (size_t)s->hidden * sizeof(float);
    for (int64_t row = 0; row < w->rows; row++) {
        int64_t length = sequence_length(w, row), b = w->first + row, at = row * s->hidden;
        if (k >= length) {
            if (y)
                memset((float *)y->data + y_offset(w, k, b), 0, bytes);
            continue;
        }
        memcpy(st->h + at, st->h_next + at, bytes);
        if (st->c)
            memcpy(st->c + at, st->c_next + at, bytes);
        if (y)
            memcpy((float *)y->data + y_offset(w, time_at(w, k, length), b), st->h_next + at, bytes);
    }
}

static onyx_status run_sweep(const sweep *w)
{
    const rnn_params *p = w->p;
    const rnn_state *s = w->s;
    for (int64_t row = 0; row < w->rows; row++) {
        int64_t length = sequence_length(w, row);
        if (length < 0 || length > s->seq)
            return op_error(w->ctx, ONYX_ERROR_RUNTIME, "sequence_lens[%lld] = %lld is outside [0, %lld]",
                            (long long)(w->first + row), (long long)length, (long long)s->seq);
    }
    float *scratch = w->scratch;
    bool lstm = p->cell->kind == CELL_LSTM;
    const onyx_tensor *bias = op_input(w->ctx, IN_B), *peepholes = op_input(w->ctx, IN_P);
    step st = {
        .p = p,
        .act = p->activations[w->d],
        .rows = w->rows,
        .hidden = s->hidden,
        .gate_width = s->gate_width,
        .r = (const float *)w->ctx->inputs[IN_R]->data + w->d * s->gate_width * s->hidden,
        .hidden_bias = bias && p->linear_before_reset
                           ? (const float *)bias->data + (w->d * 2 + 1) * s->gate_width + GRU_H * s->hidden
                           : NULL,
        .peepholes = peepholes ? (const float *)peepholes->data + w->d * 3 * s->hidden : NULL,
        .h = scratch + s->h,
        .c = lstm ? scratch + s->c : NULL,
        .h_next = scratch + s->h_next,
        .c_next = lstm ? scratch + s->c_next : NULL,
        .gates = scratch + s->gates,
        .activated = scratch + s->activated,
        .tmp = scratch + s->tmp,
    };
    fold_biases(w);
    load_state(w, IN_INITIAL_H, scratch + s->h);
    if (lstm)
        load_state(w, IN_INITIAL_C, scratch + s->c);
    for (int64_t k0 = 0; k0 < s->seq; k0 += s->block_steps) {
        int64_t steps = OP_MIN(s->block_steps, s->seq - k0);
        project_block(w, k0, steps);
        for (int64_t k = 0; k < steps; k++) {
            st.projections = scratch + s->projections + k * w->rows * s->gate_width;
            cell_steps[p->cell->kind](&st);
            commit_step(w, &st, k0 + k);
        }
    }
    store_state(w, OUT_Y_H, st.h);
    if (lstm)
        store_state(w, OUT_Y_C, st.c);
    return ONYX_OK;
}

static onyx_status rnn_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const rnn_params *p = ctx->params;
    const rnn_state *s = ctx->state;
    for (int64_t t = begin; t < end; t++) {
        int d = (int)(t / s->chunks);
        int64_t first = t % s->chunks * s->rows;
        sweep w = {ctx, p, s, d, p->directions == 2 ? d == 1 : p->reverse, first,
                   OP_MIN(s->rows, s->batch - first), scratch};
        onyx_status st = run_sweep(&w);
        if (st)
            return st;
    }
    return ONYX_OK;
}

const op_descriptor op_RNN = {rnn_op_check, rnn_reshape, rnn_run, 0, .first_output_optional = true};
const op_descriptor op_GRU = {gru_op_check, rnn_reshape, rnn_run, 0, .first_output_optional = true};
const op_descriptor op_LSTM = {lstm_op_check, rnn_reshape, rnn_run, 0, .first_output_optional = true};
