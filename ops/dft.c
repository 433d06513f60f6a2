/* Fourier transforms (opset 17): DFT along one axis (opset 17 and 20, which takes the axis as
 * an input instead of an attribute) and STFT, the transforms of windowed frames of a signal.
 * Signals are real (a last dim of 1) or complex (2: real, imaginary); spectra are complex.
 * Each transformed line is copied to double precision, transformed by the FFT kernel and
 * written back in the tensors' own float type.
 *
 * `onesided` keeps the bins 0 .. n/2 of a real signal's spectrum, the others being their
 * mirror's conjugates (RFFT). With `inverse` it is the converse (IRFFT, as numpy's irfft):
 * a complex one-sided spectrum, its bins beyond n/2 taken as those conjugates, to a real
 * signal of n samples (by default 2 * (bins - 1)). */
#include "fft.h"
#include "scalar.h"

#define SIGNAL_DTYPES (DT_FLOATS | DT(FLOAT16) | DT(BFLOAT16))

/* ---- shared by DFT and STFT ------------------------------------------------------------- */

/* The transform plan, for the length known in reshape. */
typedef struct spectrum_plan {
    int64_t n;         /* transform length */
    int64_t bins;      /* bins written: n, or n / 2 + 1 one-sided */
    int64_t channels;  /* of the input signal: 1 real, 2 complex */
    bool irfft;        /* a one-sided spectrum in, n real samples out */
    fft_plan fft;
} spectrum_plan;

/* Checks the last dim of `signal` (1 or 2; onesided needs 1, irfft 2) and sets up a transform
 * of length n: its tables in the state, its scratch (the line, then the FFT's) per task. */
static onyx_status spectrum_plan_init(op_context *ctx, spectrum_plan *p, const onyx_tensor *signal, int64_t n,
                                      bool onesided, bool irfft)
{
    char ss[128];
    int64_t channels = signal->dims[signal->rank - 1];
    if (!dim_may_equal(channels, 1) && !dim_may_equal(channels, 2))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input %s must end in a dim of 1 (real) or 2 (complex)",
                        shape_str(signal, ss, sizeof ss));
    /* Its tables hold about 4n values: a length beyond any tensor is refused before sizing them. */
    if (dim_known(n) && n > INT32_MAX)
        return op_error(ctx, ONYX_ERROR_LIMIT, "transform length %lld is too large", (long long)n);
    if (irfft && !dim_may_equal(channels, 2))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "onesided inverse needs a complex input, not the real %s",
                        shape_str(signal, ss, sizeof ss));
    if (onesided && !irfft && !dim_may_equal(channels, 1))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "onesided needs a real input, not the complex %s",
                        shape_str(signal, ss, sizeof ss));
    p->n = n;
    p->bins = !onesided || irfft ? n : !dim_known(n) ? DIM_UNKNOWN : n ? n / 2 + 1 : 0;
    p->channels = channels;
    p->irfft = irfft;
    if (!ctx->concrete || n == 0)
        return ONYX_OK;
    size_t table_bytes = fft_table_bytes(n);
    void *tables = table_bytes ? op_alloc_state(ctx, table_bytes) : NULL;
    if (table_bytes && !tables)
        return ONYX_ERROR_OUT_OF_MEMORY;
    fft_plan_init(&p->fft, n, tables);
    ctx->scratch_bytes = (size_t)n * sizeof(double complex) + fft_scratch_bytes(n);
    ctx->task_cost = n * 16; /* about n log2(n) butterflies, and the copies in and out */
    for (int64_t m = n; m > 1; m /= 2)
        ctx->task_cost += n * 8;
    return ONYX_OK;
}

/* Transforms one line of `signal`: the `count` samples at sample offsets first + k * stride
 * (zero-padded or cut to the transform's length), each multiplied by window[k] when there is
 * a window; writes the bins to `spectrum` at sample offsets out_first + k * out_stride. */
typedef struct line {
    int64_t first, stride, count;
    int64_t out_first, out_stride;
} line;

static void transform_line(const spectrum_plan *p, const onyx_tensor *signal, const onyx_tensor *window, line l,
                           bool inverse, onyx_tensor *spectrum, void *scratch)
{
    double complex *x = scratch;
    /* IRFFT: bins 0 .. n/2 read (zero past the input), the others their mirror's conjugates. */
    int64_t read = p->irfft ? p->n / 2 + 1 : p->n;
    for (int64_t k = 0; k < read; k++) {
        int64_t at = (l.first + k * l.stride) * p->channels;
        double re = 0, im = 0;
        if (k < l.count) {
            re = scalar_load(signal->data, at, signal->dtype);
            im = p->channels == 2 ? scalar_load(signal->data, at + 1, signal->dtype) : 0;
        }
        double w = window ? scalar_load(window->data, k, window->dtype) : 1;
        x[k] = CMPLX(re * w, im * w);
    }
    for (int64_t k = read; k < p->n; k++)
        x[k] = conj(x[p->n - k]);
    fft_run(&p->fft, x, inverse, x + p->n);
    double scale = inverse ? 1.0 / (double)p->n : 1;
    for (int64_t k = 0; k < p->bins; k++) {
        /* IRFFT: the imaginary parts cancel but for those of bins 0 and n/2, which numpy
         * ignores: the real part alone is written. */
        int64_t at = (l.out_first + k * l.out_stride) * (p->irfft ? 1 : 2);
        scalar_store(spectrum->data, at, spectrum->dtype, creal(x[k]) * scale);
        if (!p->irfft)
            scalar_store(spectrum->data, at + 1, spectrum->dtype, cimag(x[k]) * scale);
    }
}

/* ---- DFT --------------------------------------------------------------------------------- */

typedef struct dft_params {
    int64_t axis;
    bool inverse, onesided;
} dft_params;

typedef struct dft_state {
    spectrum_plan plan;
    int64_t len, inner; /* the input's dim along the axis, the samples after it */
} dft_state;

/* Inputs: input, [dft_length], and from opset 20 [axis] (the attribute before). */
static onyx_status dft_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, ctx->opset >= 20 ? 3 : 2, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, SIGNAL_DTYPES);
    if (!st)
        st = op_check_input(ctx, 1, false, DT(INT32) | DT(INT64));
    if (!st && ctx->opset >= 20)
        st = op_check_input(ctx, 2, false, DT(INT64));
    dft_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    int64_t inverse, onesided;
    p->axis = -2;
    if ((ctx->opset < 20 && (st = op_attr_int(ctx, "axis", 1, &p->axis))) ||
        (st = op_attr_int(ctx, "inverse", 0, &inverse)) || (st = op_attr_int(ctx, "onesided", 0, &onesided)))
        return st;
    p->inverse = inverse != 0;
    p->onesided = onesided != 0;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return ONYX_OK;
}

static onyx_status dft_reshape(op_context *ctx)
{
    const dft_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0);
    onyx_tensor *y = op_output(ctx, 0);
    char sx[128];
    /* The axis is one of the signal's dims: the last dim holds the real and imaginary parts. */
    int axis;
    int64_t axis_value = p->axis;
    onyx_status st = op_input(ctx, 2) ? scalar_int_input(ctx, 2, &axis_value) : ONYX_OK;
    if (!st && x->rank >= 2)
        st = op_axis(ctx, "axis", axis_value, x->rank, &axis);
    if (st)
        return st;
    if (x->rank < 2 || axis == x->rank - 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "axis %lld is not a signal dim of the input %s",
                        (long long)axis_value, shape_str(x, sx, sizeof sx));
    bool irfft = p->inverse && p->onesided;
    int64_t m = x->dims[axis], n = !irfft || !dim_known(m) ? m : 2 * (m - 1);
    if (op_input(ctx, 1)) {
        if ((st = scalar_int_input(ctx, 1, &n)))
            return st;
        if (n < 1)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "dft_length %lld is not positive", (long long)n);
    } else if (irfft && dim_known(m) && n < 1) {
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "the inverse of a one-sided spectrum of %lld bins needs a dft_length", (long long)m);
    }
    dft_state *s = ctx->concrete ? op_alloc_state(ctx, sizeof *s) : &(dft_state){0};
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = spectrum_plan_init(ctx, &s->plan, x, n, p->onesided, irfft)))
        return st;
    tensor_set_shape(y, x->rank, x->dims);
    y->dims[axis] = s->plan.bins;
    y->dims[x->rank - 1] = irfft ? 1 : 2;
    if (!ctx->concrete)
        return ONYX_OK;
    int64_t outer;
    shape_split(x, axis, &outer, &s->len, &s->inner);
    s->inner /= s->plan.channels;
    ctx->state = s;
    ctx->n_tasks = s->plan.n ? outer * s->inner : 0;
    return ONYX_OK;
}

static onyx_status dft_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const dft_params *p = ctx->params;
    const dft_state *s = ctx->state;
    for (int64_t t = begin; t < end; t++) {
        int64_t outer = t / s->inner, i = t % s->inner;
        line l = {outer * s->len * s->inner + i, s->inner, s->len, outer * s->plan.bins * s->inner + i, s->inner};
        transform_line(&s->plan, ctx->inputs[0], NULL, l, p->inverse, ctx->outputs[0], scratch);
    }
    return ONYX_OK;
}

const op_descriptor op_DFT = {dft_check, dft_reshape, dft_run, 0};

/* ---- STFT -------------------------------------------------------------------------------- */

enum { STFT_SIGNAL, STFT_FRAME_STEP, STFT_WINDOW, STFT_FRAME_LENGTH };

typedef struct stft_params {
    bool onesided;
} stft_params;

typedef struct stft_state {
    spectrum_plan plan;
    int64_t signal_length, frames, frame_step;
} stft_state;

static onyx_status stft_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 4, 1, 1);
    if (!st)
        st = op_check_input(ctx, STFT_SIGNAL, true, SIGNAL_DTYPES);
    if (!st)
        st = op_check_input(ctx, STFT_FRAME_STEP, true, DT(INT32) | DT(INT64));
    if (!st)
        st = op_check_same_dtype(ctx, STFT_WINDOW, STFT_SIGNAL);
    if (!st)
        st = op_check_input(ctx, STFT_FRAME_LENGTH, false, DT(INT32) | DT(INT64));
    if (!st)
        st = op_check_same_dtype(ctx, STFT_FRAME_LENGTH, STFT_FRAME_STEP);
    stft_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    int64_t onesided;
    if ((st = op_attr_int(ctx, "onesided", 1, &onesided)))
        return st;
    p->onesided = onesided != 0;
    ctx->params = p;
    op_set_output_dtypes(ctx, op_input(ctx, STFT_SIGNAL)->dtype);
    return ONYX_OK;
}

/* The frame length: frame_length's value, else the window's length; both must agree. */
static onyx_status stft_frame_length(op_context *ctx, int64_t *n)
{
    const onyx_tensor *window = op_input(ctx, STFT_WINDOW);
    char sw[128];
    if (window && window->rank != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "window %s must be 1-D", shape_str(window, sw, sizeof sw));
    if (!op_input(ctx, STFT_FRAME_LENGTH)) {
        if (!window)
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "needs a window or a frame_length");
        *n = window->dims[0];
        return ONYX_OK;
    }
    onyx_status st = scalar_int_input(ctx, STFT_FRAME_LENGTH, n);
    if (st)
        return st;
    if (*n < 1 || (window && !dim_may_equal(window->dims[0], *n)))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "frame_length %lld must be positive%s",
                        (long long)*n, window ? " and the window's length" : "");
    return ONYX_OK;
}

static onyx_status stft_reshape(op_context *ctx)
{
    const stft_params *p = ctx->params;
    const onyx_tensor *signal = op_input(ctx, STFT_SIGNAL);
    char ss[128];
    if (signal->rank != 3)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "signal %s must be [batch, length, 1 or 2]",
                        shape_str(signal, ss, sizeof ss));
    int64_t n = 0, step = 0;
    onyx_status st = stft_frame_length(ctx, &n);
    if (!st)
        st = scalar_int_input(ctx, STFT_FRAME_STEP, &step);
    if (st)
        return st;
    int64_t length = signal->dims[1];
    if (step < 1 || (dim_known(length) && dim_known(n) && (n < 1 || length < n)))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "frame_step %lld must be positive and frames of %lld samples must fit in signal %s",
                        (long long)step, (long long)n, shape_str(signal, ss, sizeof ss));
    stft_state *s = ctx->concrete ? op_alloc_state(ctx, sizeof *s) : &(stft_state){0};
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if ((st = spectrum_plan_init(ctx, &s->plan, signal, n, p->onesided, false)))
        return st;
    s->frames = dim_known(length) && dim_known(n) ? (length - n) / step + 1 : DIM_UNKNOWN;
    tensor_set_shape(op_output(ctx, 0), 4, (const int64_t[]){signal->dims[0], s->frames, s->plan.bins, 2});
    if (!ctx->concrete)
        return ONYX_OK;
    s->signal_length = length;
    s->frame_step = step;
    ctx->state = s;
    ctx->n_tasks = signal->dims[0] * s->frames;
    return ONYX_OK;
}

static onyx_status stft_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const stft_state *s = ctx->state;
    for (int64_t t = begin; t < end; t++) {
        int64_t batch = t / s->frames, frame = t % s->frames;
        line l = {batch * s->signal_length + frame * s->frame_step, 1, s->plan.n, t * s->plan.bins, 1};
        transform_line(&s->plan, ctx->inputs[STFT_SIGNAL], op_input(ctx, STFT_WINDOW), l, false, ctx->outputs[0],
                       scratch);
    }
    return ONYX_OK;
}

const op_descriptor op_STFT = {stft_check, stft_reshape, stft_run, 0};
