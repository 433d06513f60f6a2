/* Signal generators (opset 17): the cosine-sum windows HannWindow, HammingWindow and
 * BlackmanWindow, and MelWeightMatrix, the triangular mel filter bank. Their output shapes
 * come from the values of scalar inputs; they compute in double and write the dtype named by
 * the 'output_datatype' attribute. */
#include "scalar.h"

#include <math.h>
#include <string.h>

#define PI 3.14159265358979323846

/* The dtypes 'output_datatype' may name. */
#define GENERATED_DTYPES (DT_NUMERIC | DT(FLOAT16) | DT(BFLOAT16))

static onyx_status output_datatype(op_context *ctx)
{
    int64_t dtype;
    onyx_status st = op_attr_int(ctx, "output_datatype", ONYX_DTYPE_FLOAT, &dtype);
    if (st)
        return st;
    if (dtype < 0 || dtype >= 32 || !(GENERATED_DTYPES & (1u << dtype)))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'output_datatype' (%lld) is not a numeric dtype",
                        (long long)dtype);
    op_set_output_dtypes(ctx, (onyx_dtype)dtype);
    return ONYX_OK;
}

/* ---- windows ----------------------------------------------------------------------------- */

/* w[i] = a0 - a1 cos(2 pi i / N) + a2 cos(4 pi i / N), with N the size (periodic) or the size
 * minus one (symmetric). */
typedef struct window_params {
    double a0, a1, a2;
    bool periodic;
} window_params;

static onyx_status window_check(op_context *ctx, double a0, double a1, double a2)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT(INT32) | DT(INT64));
    window_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    int64_t periodic;
    if ((st = op_attr_int(ctx, "periodic", 1, &periodic)) || (st = output_datatype(ctx)))
        return st;
    *p = (window_params){a0, a1, a2, periodic != 0};
    ctx->params = p;
    return ONYX_OK;
}

static onyx_status hann_check(op_context *ctx) { return window_check(ctx, 0.5, 0.5, 0); }
static onyx_status hamming_check(op_context *ctx) { return window_check(ctx, 25.0 / 46, 21.0 / 46, 0); }
static onyx_status blackman_check(op_context *ctx) { return window_check(ctx, 0.42, 0.5, 0.08); }

static onyx_status window_reshape(op_context *ctx)
{
    int64_t size;
    onyx_status st = scalar_int_input(ctx, 0, &size);
    if (st)
        return st;
    if (size < 0)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "size %lld is negative", (long long)size);
    tensor_set_shape(op_output(ctx, 0), 1, &size);
    return ONYX_OK;
}

static onyx_status window_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const window_params *p = ctx->params;
    onyx_tensor *y = ctx->outputs[0];
    int64_t size = y->dims[0], period = p->periodic ? size : size - 1;
    for (int64_t i = 0; i < size; i++) {
        /* A symmetric window of one point has no period: it is 1, as numpy's and PyTorch's. */
        double angle = period ? 2 * PI * (double)i / (double)period : 0;
        double w = period ? p->a0 - p->a1 * cos(angle) + p->a2 * cos(2 * angle) : 1;
        scalar_store(y->data, i, y->dtype, w);
    }
    return ONYX_OK;
}

const op_descriptor op_HannWindow = {hann_check, window_reshape, window_run, 0};
const op_descriptor op_HammingWindow = {hamming_check, window_reshape, window_run, 0};
const op_descriptor op_BlackmanWindow = {blackman_check, window_reshape, window_run, 0};

/* ---- MelWeightMatrix --------------------------------------------------------------------- */

enum { MEL_BINS, MEL_DFT_LENGTH, MEL_SAMPLE_RATE, MEL_LOWER_HERTZ, MEL_UPPER_HERTZ };

static onyx_status mel_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 5, 5, 1, 1);
    for (int i = MEL_BINS; i <= MEL_SAMPLE_RATE && !st; i++)
        st = op_check_input(ctx, i, true, DT(INT32) | DT(INT64));
    for (int i = MEL_LOWER_HERTZ; i <= MEL_UPPER_HERTZ && !st; i++)
        st = op_check_input(ctx, i, true, DT_FLOATS | DT(FLOAT16) | DT(BFLOAT16));
    if (!st)
        st = op_check_same_dtype(ctx, MEL_SAMPLE_RATE, MEL_BINS);
    if (!st)
        st = op_check_same_dtype(ctx, MEL_DFT_LENGTH, MEL_BINS);
    if (!st)
        st = op_check_same_dtype(ctx, MEL_UPPER_HERTZ, MEL_LOWER_HERTZ);
    return st ? st : output_datatype(ctx);
}

/* [dft_length / 2 + 1, num_mel_bins]: the one-sided spectrum's bins by the mel bands. */
static onyx_status mel_reshape(op_context *ctx)
{
    int64_t bins = 0, dft_length = 0;
    onyx_status st = scalar_int_input(ctx, MEL_BINS, &bins);
    if (!st)
        st = scalar_int_input(ctx, MEL_DFT_LENGTH, &dft_length);
    if (st)
        return st;
    if (bins < 0 || dft_length < 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "num_mel_bins %lld and dft_length %lld must be >= 0 and >= 1",
                        (long long)bins, (long long)dft_length);
    tensor_set_shape(op_output(ctx, 0), 2, (const int64_t[]){dft_length / 2 + 1, bins});
    return ONYX_OK;
}

static double hertz_to_mel(double hertz) { return 2595 * log10(1 + hertz / 700); }
static double mel_to_hertz(double mel) { return 700 * (pow(10, mel / 2595) - 1); }

/* As the ONNX reference: num_mel_bins + 2 points evenly spaced in mel from the lower edge
 * (the step divides the range by their count, so the last point falls short of the upper
 * edge), each mapped to the spectrum bin floor((dft_length + 1) * hertz / sample_rate); band i
 * rises from point i to 1 at point i + 1 and falls to 0 just before point i + 2. */
static onyx_status mel_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    onyx_tensor *y = ctx->outputs[0];
    int64_t spectrum_bins = y->dims[0], bands = y->dims[1];
    int64_t dft_length = tensor_int_at(ctx->inputs[MEL_DFT_LENGTH], 0);
    int64_t sample_rate = tensor_int_at(ctx->inputs[MEL_SAMPLE_RATE], 0);
    const onyx_tensor *lower = ctx->inputs[MEL_LOWER_HERTZ], *upper = ctx->inputs[MEL_UPPER_HERTZ];
    double low_mel = hertz_to_mel(scalar_load(lower->data, 0, lower->dtype));
    double high_mel = hertz_to_mel(scalar_load(upper->data, 0, upper->dtype));
    double mel_step = (high_mel - low_mel) / (double)(bands + 2);
    if (sample_rate <= 0)
        return op_error(ctx, ONYX_ERROR_RUNTIME, "sample_rate %lld is not positive", (long long)sample_rate);
    memset(y->data, 0, tensor_bytes(y)); /* zero bits are 0 in every numeric dtype */
    int64_t left = 0, center = 0;
    for (int64_t point = 0; point < bands + 2; point++) {
        double hertz = mel_to_hertz((double)point * mel_step + low_mel);
        double bin = floor((double)(dft_length + 1) * hertz / (double)sample_rate);
        /* A band writes its points up to its peak, and short of its right edge. */
        bool is_peak = point >= 1 && point <= bands;
        if (!(bin >= 0 && bin < (double)spectrum_bins + !is_peak))
            return op_error(ctx, ONYX_ERROR_RUNTIME,
                            "mel band edge %.6g Hz falls outside the spectrum of %lld bins at sample rate %lld",
                            hertz, (long long)spectrum_bins, (long long)sample_rate);
        int64_t right = (int64_t)bin;
        if (point >= 2) {
            int64_t band = point - 2;
            for (int64_t j = left; j <= center; j++)
                scalar_store(y->data, j * bands + band, y->dtype,
                             center == left ? 1 : (double)(j - left) / (double)(center - left));
            for (int64_t j = center; j < right; j++)
                scalar_store(y->data, j * bands + band, y->dtype, (double)(right - j) / (double)(right - center));
        }
        left = center;
        center = right;
    }
    return ONYX_OK;
}

const op_descriptor op_MelWeightMatrix = {mel_check, mel_reshape, mel_run, 0};
