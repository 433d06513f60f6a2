/* Edge cases of the vision and quantized-convolution operators beyond the ONNX test suite:
 * NonMaxSuppression, RoiAlign, GridSample, ConvInteger, QLinearConv and GlobalLpPool.
 * Expected values are worked out by hand from the specifications (the arithmetic is in the
 * comments), or computed by the plain loops of the definitions below; never taken from
 * onyx's own output. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define U8S(...) ((const uint8_t[]){__VA_ARGS__})
#define I8S(...) ((const int8_t[]){__VA_ARGS__})
#define I32S(...) ((const int32_t[]){__VA_ARGS__})

/* Runs b on its n_graph graph inputs and checks output 0; frees b. */
static void expect_output(builder *b, int n_graph, const onyx_tensor *inputs, onyx_tensor want, double tol)
{
    run_result r = run_model(b, n_graph, inputs);
    cr_assert_eq(r.load, ONYX_OK, "%s", r.message);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], want.dtype, want.rank, want.dims, want.data, tol);
    run_result_free(&r);
    builder_free(b);
}

/* Runs b and expects the load (or, when `at_load` is false, the run) to fail with `status`
 * and a message naming `what`; frees b. */
static void expect_failure(builder *b, int n_graph, const onyx_tensor *inputs, bool at_load, onyx_status status,
                           const char *what)
{
    run_result r = run_model(b, n_graph, inputs);
    cr_assert_eq(at_load ? r.load : r.run, status, "status %d: %s", at_load ? r.load : r.run, r.message);
    expect_message(r.message, what, NULL);
    run_result_free(&r);
    builder_free(b);
}

/* ---- GlobalLpPool ------------------------------------------------------------------------ */

static void expect_global_lp_pool(int64_t p, const float *want)
{
    /* Channel 0 holds 3, 0, 0, 4; channel 1 holds 1, -1, 1, -1. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 2, 2, 2), FLOATS(3, 0, 0, 4, 1, -1, 1, -1));
    builder *b = builder_single_node(2, "GlobalLpPool", "X", &x, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "p", p);
    expect_output(b, 1, &x, tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 2, 1, 1), want), 1e-6);
}

Test(global_lp_pool, takes_the_p_norm_of_each_channel)
{
    expect_global_lp_pool(2, FLOATS(5, 2));                         /* sqrt(9 + 16), sqrt(4) */
    expect_global_lp_pool(1, FLOATS(7, 4));                         /* sums of magnitudes */
    expect_global_lp_pool(3, FLOATS(4.49794145f, 1.58740105f));     /* cbrt(27 + 64), cbrt(4) */
}

Test(global_lp_pool, opset_1_with_a_float_p_is_not_implemented)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, 2), FLOATS(3, 4));
    expect_failure(builder_single_node(1, "GlobalLpPool", "X", &x, 0, "Y"), 1, &x, true,
                   ONYX_ERROR_UNSUPPORTED, "GlobalLpPool");
}

/* ---- ConvInteger and QLinearConv --------------------------------------------------------- */

Test(conv_integer, padding_reads_the_zero_point_and_w_zero_point_is_per_map)
{
    /* X - 5 = [0, 2, 4], padded with one 0 each side (the padding stands for the real 0, so
     * for the zero point 5). W - [0, 1]: map 0 is [1, -1], map 1 is [1, 2]. Map 0 gives
     * 0 - 0, 0 - 2, 2 - 4, 4 - 0; map 1 gives 0 + 0, 0 + 4, 2 + 8, 4 + 0. */
    onyx_tensor in[4] = {tensor_of(ONYX_DTYPE_UINT8, 4, DIMS(1, 1, 1, 3), U8S(5, 7, 9)),
                         tensor_of(ONYX_DTYPE_INT8, 4, DIMS(2, 1, 1, 2), I8S(1, -1, 2, 3)),
                         tensor_of(ONYX_DTYPE_UINT8, 0, NULL, U8S(5)),
                         tensor_of(ONYX_DTYPE_INT8, 1, DIMS(2), I8S(0, 1))};
    builder *b = builder_single_node(10, "ConvInteger", "X,W,x_zero_point,w_zero_point", in, 0, "Y");
    builder_attr_ints(b, builder_first_node(b), "pads", 4, INT64S(0, 1, 0, 1));
    expect_output(b, 4, in, tensor_of(ONYX_DTYPE_INT32, 4, DIMS(1, 2, 1, 4), I32S(0, -2, -2, 4, 0, 4, 10, 4)), 0);
}

Test(conv_integer, sums_wrap_around_in_32_bits)
{
    /* 33100 taps of 255 * 255 sum to 2152327500, past INT32_MAX: modulo 2^32 it is
     * 2152327500 - 4294967296 = -2142639796. */
    enum { C = 33100 };
    uint8_t *ones = malloc(C);
    memset(ones, 255, C);
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_UINT8, 4, DIMS(1, C, 1, 1), ones),
                         tensor_of(ONYX_DTYPE_UINT8, 4, DIMS(1, C, 1, 1), ones)};
    expect_output(builder_single_node(10, "ConvInteger", "X,W", in, 0x2, "Y"), 1, in,
                  tensor_of(ONYX_DTYPE_INT32, 4, DIMS(1, 1, 1, 1), I32S(-2142639796)), 0);
    free(ones);
}

Test(conv_integer, a_zero_point_per_map_must_have_one_value_per_map)
{
    onyx_tensor in[4] = {tensor_of(ONYX_DTYPE_UINT8, 4, DIMS(1, 1, 1, 3), U8S(5, 7, 9)),
                         tensor_of(ONYX_DTYPE_INT8, 4, DIMS(2, 1, 1, 2), I8S(1, -1, 2, 3)),
                         tensor_of(ONYX_DTYPE_UINT8, 0, NULL, U8S(5)),
                         tensor_of(ONYX_DTYPE_INT8, 1, DIMS(3), I8S(0, 1, 2))};
    expect_failure(builder_single_node(10, "ConvInteger", "X,W,x_zero_point,w_zero_point", in, 0xe, "Y"), 1,
                   in, true, ONYX_ERROR_INVALID_MODEL, "w_zero_point");
}

Test(conv_integer, a_zero_point_must_have_the_type_of_its_tensor)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_UINT8, 4, DIMS(1, 1, 1, 3), U8S(5, 7, 9)),
                         tensor_of(ONYX_DTYPE_INT8, 4, DIMS(1, 1, 1, 2), I8S(1, -1)),
                         tensor_of(ONYX_DTYPE_INT8, 0, NULL, I8S(5))};
    expect_failure(builder_single_node(10, "ConvInteger", "X,W,x_zero_point", in, 0x6, "Y"), 1, in, true,
                   ONYX_ERROR_INVALID_MODEL, "x_zero_point");
}

Test(qlinear_conv, requantizes_with_bias_rounding_half_to_even_and_saturating)
{
    /* Map 0: (X * 1 + bias 1) * 0.5 = 0.5, 1, 1.5, 2, rounded half to even 0, 1, 2, 2, plus
     * y_zero_point 10. Map 1: (X * 2 + 243) * 1 + 10 = 253, 255, 257, 259, saturated to 255. */
    onyx_tensor in[9] = {tensor_of(ONYX_DTYPE_UINT8, 4, DIMS(1, 1, 1, 4), U8S(0, 1, 2, 3)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1)),
                         tensor_of(ONYX_DTYPE_UINT8, 0, NULL, U8S(0)),
                         tensor_of(ONYX_DTYPE_INT8, 4, DIMS(2, 1, 1, 1), I8S(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(0.5f, 1)),
                         tensor_of(ONYX_DTYPE_INT8, 1, DIMS(2), I8S(0, 0)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1)),
                         tensor_of(ONYX_DTYPE_UINT8, 0, NULL, U8S(10)),
                         tensor_of(ONYX_DTYPE_INT32, 1, DIMS(2), I32S(1, 243))};
    builder *b = builder_single_node(10, "QLinearConv", "X,xs,xz,W,ws,wz,ys,yz,B", in, 0x1fe, "Y");
    expect_output(b, 1, in, tensor_of(ONYX_DTYPE_UINT8, 4, DIMS(1, 2, 1, 4), U8S(10, 11, 12, 12, 253, 255, 255, 255)),
                  0);
}

Test(qlinear_conv, signed_output_saturates_at_minus_128)
{
    /* X - (-100) = [0, 200, 20], W - 3 = -3: sums 0, -600, -60, times 0.5 * 0.25 / 1 = 0,
     * -75, -7.5 (to even: -8), plus y_zero_point -60: -60, -135 (saturated to -128), -68. */
    onyx_tensor in[8] = {tensor_of(ONYX_DTYPE_INT8, 4, DIMS(1, 1, 1, 3), I8S(-100, 100, -80)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.5f)),
                         tensor_of(ONYX_DTYPE_INT8, 0, NULL, I8S(-100)),
                         tensor_of(ONYX_DTYPE_UINT8, 4, DIMS(1, 1, 1, 1), U8S(0)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(0.25f)),
                         tensor_of(ONYX_DTYPE_UINT8, 0, NULL, U8S(3)),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, FLOATS(1)),
                         tensor_of(ONYX_DTYPE_INT8, 0, NULL, I8S(-60))};
    builder *b = builder_single_node(10, "QLinearConv", "X,xs,xz,W,ws,wz,ys,yz", in, 0xfe, "Y");
    expect_output(b, 1, in, tensor_of(ONYX_DTYPE_INT8, 4, DIMS(1, 1, 1, 3), I8S(-60, -128, -68)), 0);
}

typedef struct qconv2d {
    int64_t n, c, h, w, maps, group, kh, kw, stride[2], pads[4]; /* pads: top, left, bottom, right */
} qconv2d;

static int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t pb, int64_t pe) { return (in + pb + pe - k) / s + 1; }

/* ConvInteger by its definition: each output the sum, over its group's channels and the taps
 * inside the input, of (x - x_zero) * (w - w_zero[map]); taps in the padding add nothing. */
static void conv_integer_by_definition(const qconv2d *p, const uint8_t *x, int32_t x_zero, const int8_t *w,
                                       const int8_t *w_zero, int32_t *y)
{
    int64_t oh = out_len(p->h, p->kh, p->stride[0], p->pads[0], p->pads[2]);
    int64_t ow = out_len(p->w, p->kw, p->stride[1], p->pads[1], p->pads[3]);
    int64_t cg = p->c / p->group, mg = p->maps / p->group;
    for (int64_t n = 0; n < p->n; n++)
        for (int64_t m = 0; m < p->maps; m++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    int32_t sum = 0;
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t a = 0; a < p->kh; a++)
                            for (int64_t b = 0; b < p->kw; b++) {
                                int64_t r = i * p->stride[0] - p->pads[0] + a, s = j * p->stride[1] - p->pads[1] + b;
                                if (r < 0 || r >= p->h || s < 0 || s >= p->w)
                                    continue;
                                int32_t xv = x[((n * p->c + m / mg * cg + c) * p->h + r) * p->w + s] - x_zero;
                                sum += xv * (w[((m * cg + c) * p->kh + a) * p->kw + b] - w_zero[m]);
                            }
                    y[((n * p->maps + m) * oh + i) * ow + j] = sum;
                }
}

/* Bytes from a fixed sequence. */
static void *bytes_of(int64_t n, unsigned seed)
{
    uint8_t *v = malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (uint8_t)(seed >> 16);
    }
    return v;
}

/* ConvInteger and QLinearConv of p (X a graph input, the rest initializers) on 1 and 3
 * threads against the definition. QLinearConv's scales are powers of two, so that its
 * products are exact and rounding ties frequent. */
static void check_quantized_convs(const qconv2d *p)
{
    int64_t oh = out_len(p->h, p->kh, p->stride[0], p->pads[0], p->pads[2]);
    int64_t ow = out_len(p->w, p->kw, p->stride[1], p->pads[1], p->pads[3]);
    int64_t nx = p->n * p->c * p->h * p->w, nw = p->maps * (p->c / p->group) * p->kh * p->kw;
    int64_t ny = p->n * p->maps * oh * ow;
    uint8_t *x = bytes_of(nx, 1), x_zero = 117;
    int8_t *w = bytes_of(nw, 2), *w_zero = bytes_of(p->maps, 3);
    int32_t *sums = malloc((size_t)ny * sizeof *sums), *bias = malloc((size_t)p->maps * sizeof *bias);
    float *w_scale = malloc((size_t)p->maps * sizeof *w_scale), x_scale = 0.25f, y_scale = 64;
    uint8_t *want = malloc((size_t)ny), y_zero = 128;
    for (int64_t m = 0; m < p->maps; m++) {
        bias[m] = (int32_t)(m * 997 % 4001) - 2000;
        w_scale[m] = ldexpf(1, (int)(m % 4) - 2);
    }
    conv_integer_by_definition(p, x, x_zero, w, w_zero, sums);
    for (int64_t i = 0; i < ny; i++) {
        int64_t m = i / (oh * ow) % p->maps;
        double v = nearbyint((sums[i] + bias[m]) * ((double)x_scale * w_scale[m] / y_scale)) + y_zero;
        want[i] = (uint8_t)fmin(fmax(v, 0), 255);
    }
    onyx_tensor in[9] = {tensor_of(ONYX_DTYPE_UINT8, 4, DIMS(p->n, p->c, p->h, p->w), x),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, &x_scale),
                         tensor_of(ONYX_DTYPE_UINT8, 0, NULL, &x_zero),
                         tensor_of(ONYX_DTYPE_INT8, 4, DIMS(p->maps, p->c / p->group, p->kh, p->kw), w),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(p->maps), w_scale),
                         tensor_of(ONYX_DTYPE_INT8, 1, DIMS(p->maps), w_zero),
                         tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, &y_scale),
                         tensor_of(ONYX_DTYPE_UINT8, 0, NULL, &y_zero),
                         tensor_of(ONYX_DTYPE_INT32, 1, DIMS(p->maps), bias)};
    onyx_tensor integer_in[4] = {in[0], in[3], in[2], in[5]};
    builder *models[2] = {builder_single_node(10, "ConvInteger", "X,W,xz,wz", integer_in, 0xe, "Y"),
                          builder_single_node(10, "QLinearConv", "X,xs,xz,W,ws,wz,ys,yz,B", in, 0x1fe, "Y")};
    const void *wanted[2] = {sums, want};
    for (int k = 0; k < 2; k++) {
        builder_attr_int(models[k], builder_first_node(models[k]), "group", p->group);
        builder_attr_ints(models[k], builder_first_node(models[k]), "strides", 2, p->stride);
        builder_attr_ints(models[k], builder_first_node(models[k]), "pads", 4, p->pads);
        for (int threads = 1; threads <= 3; threads += 2) {
            size_t bytes = (size_t)ny * (k ? 1 : sizeof(int32_t));
            void *got = malloc(bytes);
            run_into(models[k], threads, 1, &in[0], got, bytes);
            cr_assert(!memcmp(got, wanted[k], bytes), "%s on %d threads differs from the definition",
                      k ? "QLinearConv" : "ConvInteger", threads);
            free(got);
        }
        builder_free(models[k]);
    }
    free(x), free(w), free(w_zero), free(sums), free(bias), free(w_scale), free(want);
}

Test(quantized_conv, groups_strides_and_pads_match_the_definition)
{
    check_quantized_convs(&(qconv2d){.n = 2, .c = 4, .h = 7, .w = 6, .maps = 6, .group = 2, .kh = 3, .kw = 2,
                                     .stride = {2, 1}, .pads = {1, 0, 2, 1}});
}

Test(quantized_conv, pointwise_reads_the_centered_input_in_place)
{
    check_quantized_convs(&(qconv2d){.n = 2, .c = 3, .h = 4, .w = 5, .maps = 4, .group = 1, .kh = 1, .kw = 1,
                                     .stride = {1, 1}});
}

Test(quantized_conv, many_channels_split_into_blocks_of_output_positions)
{
    /* 1000 channels x 9 taps: a block holds 32 of the 196 output positions. */
    check_quantized_convs(&(qconv2d){.n = 2, .c = 1000, .h = 14, .w = 14, .maps = 4, .group = 1, .kh = 3, .kw = 3,
                                     .stride = {1, 1}, .pads = {1, 1, 1, 1}});
}

/* ---- RoiAlign ---------------------------------------------------------------------------- */

/* X[0, 0, y, x] = 4y + x on a 4x4 map: bilinear interpolation of it is exact, so a sample at
 * (y, x) inside reads 4y + x. */
static const float linear_map[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static builder *roi_align(int opset, const char *mode, const char *transform, int64_t sampling_ratio,
                          int64_t out_h, int64_t out_w, const onyx_tensor *in)
{
    builder *b = builder_single_node(opset, "RoiAlign", "X,rois,batch_indices", in, 0, "Y");
    builder_attr_string(b, builder_first_node(b), "mode", mode);
    if (transform)
        builder_attr_string(b, builder_first_node(b), "coordinate_transformation_mode", transform);
    builder_attr_int(b, builder_first_node(b), "sampling_ratio", sampling_ratio);
    builder_attr_int(b, builder_first_node(b), "output_height", out_h);
    builder_attr_int(b, builder_first_node(b), "output_width", out_w);
    return b;
}

Test(roi_align, adaptive_sampling_counts_the_samples_outside_the_map)
{
    /* output_half_pixel, one bin. RoI (0, 0)-(3, 3): 3 samples an axis at 0.5, 1.5, 2.5,
     * mean 1.5: 4 * 1.5 + 1.5 = 7.5. RoI (0, 0)-(6, 6): 6 samples at 0.5 .. 5.5; 3.5 is
     * clamped to the edge 3, 4.5 and 5.5 are more than a pixel out and read 0 but count:
     * (4 * (0.5 + 1.5 + 2.5 + 3) * 4 + (0.5 + 1.5 + 2.5 + 3) * 4) / 36 = 150 / 36. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 4, 4), linear_map),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 4), FLOATS(0, 0, 3, 3, 0, 0, 6, 6)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(0, 0))};
    expect_output(roi_align(16, "avg", "output_half_pixel", 0, 1, 1, in), 3, in,
                  tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(2, 1, 1, 1), FLOATS(7.5f, 150.0f / 36)), 1e-6);
    /* Two samples an axis instead: RoI 1 samples at 1.5 and 4.5, only (1.5, 1.5) inside:
     * 7.5 / 4. RoI 0 samples at 0.75 and 2.25: still mean 1.5. */
    expect_output(roi_align(16, "avg", "output_half_pixel", 2, 1, 1, in), 3, in,
                  tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(2, 1, 1, 1), FLOATS(7.5f, 1.875f)), 1e-6);
}

Test(roi_align, half_pixel_shifts_the_roi_and_opset_10_does_not)
{
    /* half_pixel: RoI (-0.5, -0.5)-(2.5, 2.5), samples at 0.25 and 1.75, mean 1: 4 + 1. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 4, 4), linear_map),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 4), FLOATS(0, 0, 3, 3)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(0))};
    expect_output(roi_align(16, "avg", "half_pixel", 2, 1, 1, in), 3, in,
                  tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, 1), FLOATS(5)), 1e-6);
    expect_output(roi_align(10, "avg", NULL, 2, 1, 1, in), 3, in,
                  tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, 1), FLOATS(7.5f)), 1e-6);
}

Test(roi_align, bins_and_channels_are_laid_out_roi_channel_row_column)
{
    /* One sample a bin of 1.5 x 3: x at 0.75 and 2.25, y at 1.5. Channel 1 is channel 0 + 100. */
    float x[32];
    for (int i = 0; i < 32; i++)
        x[i] = linear_map[i % 16] + (i < 16 ? 0 : 100);
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 2, 4, 4), x),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 4), FLOATS(0, 0, 3, 3)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(0))};
    expect_output(roi_align(16, "avg", "output_half_pixel", 1, 1, 2, in), 3, in,
                  tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 2, 1, 2), FLOATS(6.75f, 8.25f, 106.75f, 108.25f)), 1e-6);
}

Test(roi_align, max_takes_the_largest_weighted_corner_as_onnxruntime)
{
    /* X = [[1, 2], [3, 4]], RoI (0, 0)-(1, 1), samples at 0.25 and 0.75. At (0.75, 0.75) the
     * corners weigh 1/16, 3/16, 3/16, 9/16: the largest weighted value is 9/16 * 4 = 2.25,
     * the largest of all samples. The mean of the interpolated samples is 2.5. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 2, 2), FLOATS(1, 2, 3, 4)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 4), FLOATS(0, 0, 1, 1)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(0))};
    expect_output(roi_align(16, "max", "output_half_pixel", 2, 1, 1, in), 3, in,
                  tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, 1), FLOATS(2.25f)), 1e-6);
    expect_output(roi_align(16, "avg", "output_half_pixel", 2, 1, 1, in), 3, in,
                  tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, 1), FLOATS(2.5f)), 1e-6);
}

Test(roi_align, a_batch_index_outside_the_batch_fails_the_run)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 2, 2), FLOATS(1, 2, 3, 4)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 4), FLOATS(0, 0, 1, 1)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(1))};
    expect_failure(roi_align(16, "avg", "half_pixel", 0, 1, 1, in), 3, in, false, ONYX_ERROR_RUNTIME, "batch index 1");
}

Test(roi_align, an_infinite_roi_with_adaptive_sampling_fails_the_run)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 2, 2), FLOATS(1, 2, 3, 4)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 4), FLOATS(0, 0, INFINITY, 1)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(0))};
    expect_failure(roi_align(16, "avg", "half_pixel", 0, 1, 1, in), 3, in, false, ONYX_ERROR_RUNTIME, "RoI 0");
}

Test(roi_align, rois_must_have_four_coordinates)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 2, 2), FLOATS(1, 2, 3, 4)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 3), FLOATS(0, 0, 1)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(0))};
    expect_failure(roi_align(16, "avg", "half_pixel", 0, 1, 1, in), 3, in, true, ONYX_ERROR_INVALID_MODEL, "rois");
}

/* ---- GridSample -------------------------------------------------------------------------- */

/* GridSample of X at the points of grid ([1, 1, points, 2] of (x, y)). */
static void expect_grid_sample(const char *mode, const char *padding, int64_t align_corners, onyx_tensor x,
                               int64_t points, const float *grid, const float *want)
{
    onyx_tensor in[2] = {x, tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, points, 2), grid)};
    builder *b = builder_single_node(16, "GridSample", "X,grid", in, 0, "Y");
    builder_attr_string(b, builder_first_node(b), "mode", mode);
    builder_attr_string(b, builder_first_node(b), "padding_mode", padding);
    builder_attr_int(b, builder_first_node(b), "align_corners", align_corners);
    expect_output(b, 2, in, tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, points), want), 1e-6);
}

static const float square[4] = {1, 2, 3, 4}; /* [[1, 2], [3, 4]] */
static const float row[4] = {10, 20, 30, 40}; /* one row: y = 0 maps to it exactly */

Test(grid_sample, bilinear_corners_map_to_pixel_centers_or_edges)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 2, 2), square);
    /* align_corners: -1 and 1 are the corner pixels' centers, 0 is between all four. */
    expect_grid_sample("bilinear", "zeros", 1, x, 4, FLOATS(0, 0, -1, -1, 1, 1, 1, -1), FLOATS(2.5f, 1, 4, 2));
    /* Without: -1 is the outer edge, pixel -0.5, half a pixel outside on both axes: with zero
     * padding only the corner pixel weighs in, by 1/4; with border padding it is clamped. */
    expect_grid_sample("bilinear", "zeros", 0, x, 2, FLOATS(0, 0, -1, -1), FLOATS(2.5f, 0.25f));
    expect_grid_sample("bilinear", "border", 0, x, 2, FLOATS(0, 0, -1, -1), FLOATS(2.5f, 1));
}

Test(grid_sample, reflection_folds_points_back_inside)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, 4), row);
    /* x = -1.75 is pixel ((-1.75 + 1) * 4 - 1) / 2 = -2: reflected about the edge -0.5 to 1,
     * clamped to 0 by border padding, outside with zero padding. */
    expect_grid_sample("bilinear", "reflection", 0, x, 1, FLOATS(-1.75f, 0), FLOATS(20));
    expect_grid_sample("bilinear", "border", 0, x, 1, FLOATS(-1.75f, 0), FLOATS(10));
    expect_grid_sample("bilinear", "zeros", 0, x, 1, FLOATS(-1.75f, 0), FLOATS(0));
    /* align_corners: x = -1.5 is pixel -0.75, reflected about 0 to 0.75: 10 + 0.75 * 10. */
    expect_grid_sample("bilinear", "reflection", 1, x, 1, FLOATS(-1.5f, 0), FLOATS(17.5f));
}

Test(grid_sample, nearest_rounds_half_to_even)
{
    /* Pixels 0.5, 1.5 and 2.5 round to 0, 2 and 2. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, 4), row);
    expect_grid_sample("nearest", "zeros", 0, x, 3, FLOATS(-0.5f, 0, 0, 0, 0.5f, 0), FLOATS(10, 30, 30));
}

Test(grid_sample, bicubic_pads_each_tap)
{
    /* Pixel 0.5 between X = [1, 0, 0, 0]: taps -1, 0, 1, 2 weigh (A = -0.75) -0.09375, 0.59375,
     * 0.59375, -0.09375. Zero padding reads tap -1 as 0: 0.59375; border padding as X[0]:
     * 0.5. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, 4), FLOATS(1, 0, 0, 0));
    expect_grid_sample("bicubic", "zeros", 0, x, 1, FLOATS(-0.5f, 0), FLOATS(0.59375f));
    expect_grid_sample("bicubic", "border", 0, x, 1, FLOATS(-0.5f, 0), FLOATS(0.5f));
}

Test(grid_sample, nan_points_read_nothing)
{
    /* PyTorch gives a border pixel or NaN here, depending on its code path; onyx defines a
     * NaN coordinate as outside, whatever the padding. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 2, 2), square);
    expect_grid_sample("bilinear", "border", 0, x, 1, FLOATS(NAN, 0), FLOATS(0));
    expect_grid_sample("bicubic", "reflection", 0, x, 1, FLOATS(NAN, NAN), FLOATS(0));
}

Test(grid_sample, the_grid_must_hold_points_of_two_coordinates)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 2, 2), square),
                         tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, 3), FLOATS(0, 0, 0))};
    expect_failure(builder_single_node(16, "GridSample", "X,grid", in, 0, "Y"), 2, in, true,
                   ONYX_ERROR_INVALID_MODEL, "grid");
}

Test(grid_sample, opset_20_samples_one_spatial_axis_from_a_grid_of_another_dtype)
{
    /* X of one spatial axis [10, 20, 30], a double grid [1, 2, 1]; linear, align_corners:
     * -1 is pixel 0, 0.5 pixel 1.5, halfway between 20 and 30. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 3), FLOATS(10, 20, 30)),
                         tensor_of(ONYX_DTYPE_DOUBLE, 3, DIMS(1, 2, 1), (const double[]){-1, 0.5})};
    builder *b = builder_single_node(20, "GridSample", "X,grid", in, 0, "Y");
    builder_attr_string(b, builder_first_node(b), "mode", "linear");
    builder_attr_int(b, builder_first_node(b), "align_corners", 1);
    expect_output(b, 2, in, tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 2), FLOATS(10, 25)), 1e-6);
}

Test(grid_sample, mode_names_follow_the_opset)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 2, 2), square),
                         tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 1, 2), FLOATS(0, 0))};
    builder *b = builder_single_node(20, "GridSample", "X,grid", in, 0, "Y");
    builder_attr_string(b, builder_first_node(b), "mode", "bilinear");
    expect_failure(b, 2, in, true, ONYX_ERROR_INVALID_MODEL, "bilinear");
    b = builder_single_node(16, "GridSample", "X,grid", in, 0, "Y");
    builder_attr_string(b, builder_first_node(b), "mode", "linear");
    expect_failure(b, 2, in, true, ONYX_ERROR_INVALID_MODEL, "linear");
}

Test(grid_sample, opset_16_has_two_spatial_axes_only)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 3), FLOATS(10, 20, 30)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 1), FLOATS(-1, 0.5f))};
    expect_failure(builder_single_node(16, "GridSample", "X,grid", in, 0, "Y"), 2, in, true,
                   ONYX_ERROR_INVALID_MODEL, "(N, C, H, W)");
}

/* ---- NonMaxSuppression ------------------------------------------------------------------- */

/* Boxes as corners [y1, x1, y2, x2]: box 0 the unit square, box 1 twice as wide (IoU with box
 * 0: 1 / 2), box 2 far away, box 3 box 0 with its corners swapped (IoU with box 0: 1). */
static const float four_boxes[16] = {0, 0, 1, 1, 0, 0, 1, 2, 5, 5, 6, 6, 1, 1, 0, 0};

/* NonMaxSuppression of one image and class: boxes and scores graph inputs (the first n_graph
 * of in[]), then max_output_boxes_per_class, iou_threshold and score_threshold as
 * initializers, each absent when NULL. */
static builder *nms_model(int n_graph, int64_t n, const float *boxes, const float *scores, const int64_t *max_output,
                          const float *iou, const float *score, onyx_tensor *in)
{
    int k = 0;
    in[k++] = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, n, 4), boxes);
    in[k++] = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, n), scores);
    if (max_output)
        in[k++] = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), max_output);
    if (iou)
        in[k++] = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), iou);
    if (score)
        in[k++] = tensor_of(ONYX_DTYPE_FLOAT, 0, NULL, score);
    char names[64];
    snprintf(names, sizeof names, "boxes,scores,%s,%s%s", max_output ? "max" : "", iou ? "iou" : "",
             score ? ",score" : "");
    return builder_single_node(11, "NonMaxSuppression", names, in, (1u << k) - (1u << n_graph), "Y");
}

static onyx_tensor selected(int64_t count, const int64_t *triples)
{
    return tensor_of(ONYX_DTYPE_INT64, 2, DIMS(count, 3), triples);
}

Test(nms, an_iou_above_the_threshold_suppresses_and_one_equal_to_it_does_not)
{
    /* Order by score: 3, 0, 1, 2. Box 3 suppresses box 0 (IoU 1); box 1's IoU with it is 0.5. */
    onyx_tensor in[5];
    const float *scores = FLOATS(0.9f, 0.8f, 0.7f, 0.95f);
    builder *b = nms_model(2, 4, four_boxes, scores, INT64S(10), FLOATS(0.5f), NULL, in);
    expect_output(b, 2, in, selected(3, INT64S(0, 0, 3, 0, 0, 1, 0, 0, 2)), 0);
    b = nms_model(2, 4, four_boxes, scores, INT64S(10), FLOATS(0.49f), NULL, in);
    expect_output(b, 2, in, selected(2, INT64S(0, 0, 3, 0, 0, 2)), 0);
}

/* Four boxes that do not overlap. */
static const float apart[16] = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7};

Test(nms, equal_scores_take_the_lower_index_first)
{
    onyx_tensor in[5];
    builder *b = nms_model(2, 4, apart, FLOATS(0.2f, 0.5f, 0.5f, 0.5f), INT64S(2), NULL, NULL, in);
    expect_output(b, 2, in, selected(2, INT64S(0, 0, 1, 0, 0, 2)), 0);
}

Test(nms, only_scores_above_score_threshold_and_never_nan_are_candidates)
{
    onyx_tensor in[5];
    builder *b = nms_model(2, 4, apart, FLOATS(0.5f, 0.6f, NAN, 0.7f), INT64S(10), NULL, FLOATS(0.5f), in);
    expect_output(b, 2, in, selected(2, INT64S(0, 0, 3, 0, 0, 1)), 0);
    b = nms_model(2, 4, apart, FLOATS(NAN, 0.1f, NAN, -1), INT64S(10), NULL, NULL, in);
    expect_output(b, 2, in, selected(2, INT64S(0, 0, 1, 0, 0, 3)), 0);
}

Test(nms, no_max_output_boxes_per_class_or_a_negative_one_keeps_nothing)
{
    onyx_tensor in[5];
    builder *b = nms_model(2, 4, apart, FLOATS(1, 2, 3, 4), NULL, NULL, NULL, in);
    expect_output(b, 2, in, selected(0, NULL), 0);
    b = nms_model(2, 4, apart, FLOATS(1, 2, 3, 4), INT64S(-3), NULL, NULL, in);
    expect_output(b, 2, in, selected(0, NULL), 0);
}

Test(nms, center_point_boxes_are_centers_and_sizes)
{
    /* (0.5, 0.5) 1 x 1 is the unit square, (1, 0.5) 2 x 1 the box twice as wide: IoU 0.5. */
    onyx_tensor in[5];
    builder *b = nms_model(2, 2, FLOATS(0.5f, 0.5f, 1, 1, 1, 0.5f, 2, 1), FLOATS(0.9f, 0.95f), INT64S(5),
                           FLOATS(0.4f), NULL, in);
    builder_attr_int(b, builder_first_node(b), "center_point_box", 1);
    expect_output(b, 2, in, selected(1, INT64S(0, 0, 1)), 0);
}

Test(nms, an_iou_threshold_outside_0_1_fails_the_run)
{
    onyx_tensor in[5];
    builder *b = nms_model(2, 4, apart, FLOATS(1, 2, 3, 4), INT64S(1), FLOATS(1.5f), NULL, in);
    expect_failure(b, 2, in, false, ONYX_ERROR_RUNTIME, "iou_threshold");
}

Test(nms, constant_inputs_select_without_a_graph_input)
{
    onyx_tensor in[5];
    builder *b = nms_model(0, 4, four_boxes, FLOATS(0.9f, 0.8f, 0.7f, 0.95f), INT64S(10), FLOATS(0.5f), NULL, in);
    expect_output(b, 0, NULL, selected(3, INT64S(0, 0, 3, 0, 0, 1, 0, 0, 2)), 0);
}

Test(nms, later_nodes_see_the_selected_count)
{
    onyx_tensor in[5];
    builder *b = nms_model(2, 4, four_boxes, FLOATS(0.9f, 0.8f, 0.7f, 0.95f), INT64S(10), FLOATS(0.49f), NULL, in);
    builder_node(b, "Shape", "Y", "S");
    builder_output(b, "S", ONYX_DTYPE_UNDEFINED);
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(2, 3), 0);
    run_result_free(&r);
    builder_free(b);
}
