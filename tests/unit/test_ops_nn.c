/* Edge cases of the CNN and normalization operators beyond the ONNX test suite. Expected
 * values are worked out by hand from the operator specifications, or computed by the plain
 * loops of the definitions below (never taken from onyx's own output). */
#include "harness.h"

#include <math.h>
#include <stdlib.h>

/* Small integers (exact in float sums) from a fixed sequence. */
static float *small_ints(int64_t n, unsigned seed)
{
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((int)(seed >> 16) % 7 - 3);
    }
    return v;
}

static void expect_floats(const float *got, const float *want, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        cr_assert(fabsf(got[i] - want[i]) <= 1e-4f * (1 + fabsf(want[i])), "element %lld is %g, expected %g",
                  (long long)i, got[i], want[i]);
}

/* ---- Conv -------------------------------------------------------------------------------- */

typedef struct conv2d {
    int64_t n, c, h, w, maps, group, kh, kw, stride[2], dilation[2], pads[4]; /* pads: top, left, bottom, right */
    int64_t output_padding[2];                                                /* ConvTranspose */
} conv2d;

static int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe)
{
    return (in + pb + pe - ((k - 1) * d + 1)) / s + 1;
}

/* Conv by its definition: every output element a sum over its group's channels and taps. */
static void conv_by_definition(const conv2d *p, const float *x, const float *w, const float *bias, float *y)
{
    int64_t oh = conv_out(p->h, p->kh, p->stride[0], p->dilation[0], p->pads[0], p->pads[2]);
    int64_t ow = conv_out(p->w, p->kw, p->stride[1], p->dilation[1], p->pads[1], p->pads[3]);
    int64_t cg = p->c / p->group, mg = p->maps / p->group;
    for (int64_t n = 0; n < p->n; n++)
        for (int64_t m = 0; m < p->maps; m++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    float sum = bias[m];
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t a = 0; a < p->kh; a++)
                            for (int64_t b = 0; b < p->kw; b++) {
                                int64_t r = i * p->stride[0] - p->pads[0] + a * p->dilation[0];
                                int64_t s = j * p->stride[1] - p->pads[1] + b * p->dilation[1];
                                if (r < 0 || r >= p->h || s < 0 || s >= p->w)
                                    continue;
                                sum += x[((n * p->c + m / mg * cg + c) * p->h + r) * p->w + s] *
                                       w[((m * cg + c) * p->kh + a) * p->kw + b];
                            }
                    y[((n * p->maps + m) * oh + i) * ow + j] = sum;
                }
}

/* A Conv or ConvTranspose of p over the graph input X and the initializers W and B. */
static builder *conv_model(const char *op, const conv2d *p, const onyx_tensor *in)
{
    builder *b = builder_single_node(11, op, "X,W,B", in, 0x6, "Y");
    builder_attr_int(b, builder_first_node(b), "group", p->group);
    builder_attr_ints(b, builder_first_node(b), "strides", 2, p->stride);
    builder_attr_ints(b, builder_first_node(b), "dilations", 2, p->dilation);
    builder_attr_ints(b, builder_first_node(b), "pads", 4, p->pads);
    if (p->output_padding[0] || p->output_padding[1])
        builder_attr_ints(b, builder_first_node(b), "output_padding", 2, p->output_padding);
    return b;
}

/* Runs b (input X) on 1 and 3 threads: both must give `want`. */
static void expect_on_threads(builder *b, const onyx_tensor *x, const float *want, int64_t n)
{
    float *got = malloc((size_t)n * sizeof *got);
    for (int threads = 1; threads <= 3; threads += 2) {
        run_into(b, threads, 1, x, got, (size_t)n * sizeof *got);
        expect_floats(got, want, n);
    }
    free(got);
}

/* Runs a Conv of p on 1 and 3 threads against the definition. */
static void check_conv(const conv2d *p)
{
    int64_t oh = conv_out(p->h, p->kh, p->stride[0], p->dilation[0], p->pads[0], p->pads[2]);
    int64_t ow = conv_out(p->w, p->kw, p->stride[1], p->dilation[1], p->pads[1], p->pads[3]);
    int64_t nx = p->n * p->c * p->h * p->w, nw = p->maps * (p->c / p->group) * p->kh * p->kw;
    int64_t ny = p->n * p->maps * oh * ow;
    float *x = small_ints(nx, 1), *w = small_ints(nw, 2), *bias = small_ints(p->maps, 3);
    float *want = malloc((size_t)ny * sizeof *want);
    conv_by_definition(p, x, w, bias, want);
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(p->n, p->c, p->h, p->w), x),
                         tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(p->maps, p->c / p->group, p->kh, p->kw), w),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(p->maps), bias)};
    builder *b = conv_model("Conv", p, in);
    expect_on_threads(b, in, want, ny);
    builder_free(b);
    free(x), free(w), free(bias), free(want);
}

Test(conv, groups_strides_dilations_and_asymmetric_pads_match_the_definition)
{
    check_conv(&(conv2d){.n = 2, .c = 4, .h = 7, .w = 6, .maps = 6, .group = 2, .kh = 3, .kw = 2,
                         .stride = {2, 1}, .dilation = {1, 2}, .pads = {1, 0, 2, 1}});
}

Test(conv, depthwise_matches_the_definition)
{
    check_conv(&(conv2d){.n = 1, .c = 3, .h = 5, .w = 5, .maps = 6, .group = 3, .kh = 3, .kw = 3,
                         .stride = {1, 1}, .dilation = {2, 2}, .pads = {2, 2, 2, 2}});
}

Test(conv, pointwise_reads_the_input_in_place)
{
    /* A 1x1 kernel with unit strides and no padding: the input is its own im2col matrix. */
    check_conv(&(conv2d){.n = 2, .c = 3, .h = 4, .w = 5, .maps = 5, .group = 1, .kh = 1, .kw = 1,
                         .stride = {1, 1}, .dilation = {1, 1}});
}

Test(conv, many_channels_split_into_blocks_of_output_positions)
{
    /* 300 channels x 9 taps: the im2col scratch holds fewer columns than the 144 outputs. */
    check_conv(&(conv2d){.n = 2, .c = 300, .h = 14, .w = 14, .maps = 4, .group = 1, .kh = 3, .kw = 3,
                         .stride = {1, 1}, .dilation = {1, 1}});
}

Test(conv, phase_planes_and_winograd_match_the_definition)
{
    /* The shifted path (conv.c): output rows wide enough, one group, a kernel above 1x1 with
     * strides (phase planes), dilations, asymmetric pads, odd maps and channels; with unit
     * strides, im2col or Winograd. */
    check_conv(&(conv2d){.n = 2, .c = 5, .h = 19, .w = 21, .maps = 7, .group = 1, .kh = 3, .kw = 3,
                         .stride = {1, 1}, .dilation = {1, 1}, .pads = {1, 1, 1, 1}});
    check_conv(&(conv2d){.n = 1, .c = 3, .h = 37, .w = 40, .maps = 9, .group = 1, .kh = 3, .kw = 3,
                         .stride = {2, 2}, .dilation = {1, 1}, .pads = {1, 0, 2, 1}});
    check_conv(&(conv2d){.n = 1, .c = 3, .h = 44, .w = 50, .maps = 13, .group = 1, .kh = 7, .kw = 7,
                         .stride = {2, 2}, .dilation = {1, 1}, .pads = {3, 3, 3, 3}});
    check_conv(&(conv2d){.n = 1, .c = 4, .h = 20, .w = 40, .maps = 6, .group = 1, .kh = 3, .kw = 3,
                         .stride = {1, 1}, .dilation = {2, 2}, .pads = {2, 2, 2, 2}});
    check_conv(&(conv2d){.n = 1, .c = 2, .h = 50, .w = 70, .maps = 5, .group = 1, .kh = 3, .kw = 3,
                         .stride = {3, 3}, .dilation = {2, 2}, .pads = {0, 1, 2, 0}});
    check_conv(&(conv2d){.n = 1, .c = 3, .h = 9, .w = 30, .maps = 4, .group = 1, .kh = 1, .kw = 3,
                         .stride = {1, 1}, .dilation = {1, 1}, .pads = {0, 1, 0, 1}});
    check_conv(&(conv2d){.n = 1, .c = 3, .h = 20, .w = 17, .maps = 4, .group = 1, .kh = 4, .kw = 1,
                         .stride = {2, 1}, .dilation = {1, 1}, .pads = {1, 0, 2, 0}});
    /* Unit stride, 8 channels or more: Winograd F(2x2, 3x3), asymmetric pads, odd planes. */
    check_conv(&(conv2d){.n = 2, .c = 8, .h = 11, .w = 9, .maps = 9, .group = 1, .kh = 3, .kw = 3,
                         .stride = {1, 1}, .dilation = {1, 1}, .pads = {0, 2, 1, 0}});
    /* No images (batch 0) on both paths: an empty output, no tasks. */
    check_conv(&(conv2d){.n = 0, .c = 3, .h = 37, .w = 40, .maps = 9, .group = 1, .kh = 3, .kw = 3,
                         .stride = {2, 2}, .dilation = {1, 1}, .pads = {1, 1, 1, 1}});
    check_conv(&(conv2d){.n = 0, .c = 8, .h = 11, .w = 9, .maps = 9, .group = 1, .kh = 3, .kw = 3,
                         .stride = {1, 1}, .dilation = {1, 1}, .pads = {1, 1, 1, 1}});
    /* Many channels: several bands of rows per image, each a share of scratch. */
    check_conv(&(conv2d){.n = 1, .c = 200, .h = 30, .w = 40, .maps = 20, .group = 1, .kh = 3, .kw = 3,
                         .stride = {1, 1}, .dilation = {1, 1}, .pads = {1, 1, 1, 1}});
    /* Two bands of unequal sizes (7 tile rows: 3 and 4) and two chunks of maps (16 and 8), two
     * images. */
    check_conv(&(conv2d){.n = 2, .c = 256, .h = 14, .w = 16, .maps = 24, .group = 1, .kh = 3, .kw = 3,
                         .stride = {1, 1}, .dilation = {1, 1}, .pads = {1, 1, 1, 1}});
}

Test(conv, one_dimensional_groups_dilation_and_bias_by_hand)
{
    /* Channel 0 (1..5) with taps [1, 2], channel 1 (10..50) with [0.5, 0.5]; dilation 2, one
     * leading pad: output o reads positions o - 1 and o + 1. */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 5), FLOATS(1, 2, 3, 4, 5, 10, 20, 30, 40, 50)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 1, 2), FLOATS(1, 2, .5f, .5f)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(100, 0))};
    builder *b = builder_single_node(11, "Conv", "X,W,B", in, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "group", 2);
    builder_attr_ints(b, builder_first_node(b), "dilations", 1, INT64S(2));
    builder_attr_ints(b, builder_first_node(b), "pads", 2, INT64S(1, 0));
    run_result r = run_model(b, 3, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 4), FLOATS(104, 107, 110, 113, 10, 20, 30, 40), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(conv, same_upper_and_same_lower_put_the_odd_pad_at_opposite_ends)
{
    /* Input 4, kernel 2, stride 1: one pad in all, after the input for SAME_UPPER. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_DOUBLE, 3, DIMS(1, 1, 4), (const double[]){1, 2, 3, 4}),
                         tensor_of(ONYX_DTYPE_DOUBLE, 3, DIMS(1, 1, 2), (const double[]){1, 10})};
    const char *modes[2] = {"SAME_UPPER", "SAME_LOWER"};
    const double want[2][4] = {{21, 32, 43, 4}, {10, 21, 32, 43}};
    for (int m = 0; m < 2; m++) {
        builder *b = builder_single_node(11, "Conv", "X,W", in, 0, "Y");
        builder_attr_string(b, builder_first_node(b), "auto_pad", modes[m]);
        run_result r = run_model(b, 2, in);
        cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
        expect_tensor(&r.outputs[0], ONYX_DTYPE_DOUBLE, 3, DIMS(1, 1, 4), want[m], 0);
        run_result_free(&r);
        builder_free(b);
    }
}

Test(conv, symbolic_batch_is_inferred_then_run)
{
    float x[2 * 1 * 3] = {1, 2, 3, 4, 5, 6};
    onyx_tensor w = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 2), FLOATS(1, 1));
    builder *b = builder_new(11);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 3, DIMS(-1, 1, 3), (const char *const[]){"batch", NULL, NULL});
    builder_initializer(b, "W", w.dtype, w.rank, w.dims, w.data);
    builder_node(b, "Conv", "X,W", "Y");
    builder_output(b, "Y", ONYX_DTYPE_UNDEFINED);
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 1, 3), x);
    run_result r = run_model(b, 1, &in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(2, 1, 2), FLOATS(3, 5, 9, 11), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(conv, channel_mismatch_is_reported_at_load)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 3, 4, 4), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(2, 2, 3, 3), NULL)};
    builder *b = builder_single_node(11, "Conv", "X,W", in, 0x2, "Y");
    run_result r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Conv", "[1,3,4,4]", "[2,2,3,3]", "channels", NULL);
    builder_free(b);
}

Test(conv, kernel_larger_than_the_padded_input_is_an_error)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 2), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 3), NULL)};
    builder *b = builder_single_node(11, "Conv", "X,W", in, 0x2, "Y");
    run_result r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Conv", "larger than the padded input", NULL);
    builder_free(b);
}

Test(conv, bad_attributes_are_rejected_at_load)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 4, 4), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 3, 3), NULL)};
    struct {
        const char *name;
        int n;
        int64_t values[4];
        const char *mention;
    } cases[] = {{"strides", 2, {0, 1}, "strides"},
                 {"pads", 3, {1, 1, 1}, "pads"},
                 {"dilations", 2, {1, (int64_t)1 << 40}, "dilations"},
                 {"kernel_shape", 2, {3, 2}, "kernel_shape"},
                 {"strides", 3, {1, 1, 1}, "spatial axes"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        builder *b = builder_single_node(11, "Conv", "X,W", in, 0x2, "Y");
        builder_attr_ints(b, builder_first_node(b), cases[i].name, cases[i].n, cases[i].values);
        run_result r = run_model(b, 0, NULL);
        cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL, "%s: %s", cases[i].name, r.message);
        expect_message(r.message, cases[i].mention, NULL);
        builder_free(b);
    }
}

/* ---- ConvTranspose ----------------------------------------------------------------------- */

/* ConvTranspose by its definition: each input element, times each tap, added at the output
 * position it reaches. */
static void conv_transpose_by_definition(const conv2d *p, int64_t oh, int64_t ow, const float *x, const float *w,
                                         const float *bias, float *y)
{
    int64_t cg = p->c / p->group, mg = p->maps / p->group;
    for (int64_t i = 0; i < p->n * p->maps * oh * ow; i++)
        y[i] = bias[i / (oh * ow) % p->maps];
    for (int64_t n = 0; n < p->n; n++)
        for (int64_t c = 0; c < p->c; c++)
            for (int64_t i = 0; i < p->h; i++)
                for (int64_t j = 0; j < p->w; j++)
                    for (int64_t m = 0; m < mg; m++)
                        for (int64_t a = 0; a < p->kh; a++)
                            for (int64_t b = 0; b < p->kw; b++) {
                                int64_t r = i * p->stride[0] - p->pads[0] + a * p->dilation[0];
                                int64_t s = j * p->stride[1] - p->pads[1] + b * p->dilation[1];
                                if (r < 0 || r >= oh || s < 0 || s >= ow)
                                    continue;
                                int64_t map = c / cg * mg + m;
                                y[((n * p->maps + map) * oh + r) * ow + s] +=
                                    x[((n * p->c + c) * p->h + i) * p->w + j] *
                                    w[((c * mg + m) * p->kh + a) * p->kw + b];
                            }
}

Test(conv_transpose, groups_strides_dilations_pads_and_output_padding_match_the_definition)
{
    conv2d p = {.n = 2, .c = 4, .h = 3, .w = 4, .maps = 6, .group = 2, .kh = 3, .kw = 2, .stride = {2, 3},
                .dilation = {2, 1}, .pads = {1, 0, 0, 2}, .output_padding = {1, 2}};
    /* stride * (in - 1) + output_padding + (kernel - 1) * dilation + 1 - pads */
    int64_t oh = 2 * 2 + 1 + 5 - 1, ow = 3 * 3 + 2 + 2 - 2;
    int64_t nx = p.n * p.c * p.h * p.w, nw = p.c * (p.maps / p.group) * p.kh * p.kw, ny = p.n * p.maps * oh * ow;
    float *x = small_ints(nx, 4), *w = small_ints(nw, 5), *bias = small_ints(p.maps, 6);
    float *want = malloc((size_t)ny * sizeof *want);
    conv_transpose_by_definition(&p, oh, ow, x, w, bias, want);
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(p.n, p.c, p.h, p.w), x),
                         tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(p.c, p.maps / p.group, p.kh, p.kw), w),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(p.maps), bias)};
    builder *b = conv_model("ConvTranspose", &p, in);
    expect_on_threads(b, in, want, ny);
    builder_free(b);
    free(x), free(w), free(bias), free(want);
}

Test(conv_transpose, output_shape_larger_than_the_full_result_pads_with_zeros)
{
    /* [1, 2] with taps [1, 1] is [1, 3, 2] in full; 5 long asks for a padding of -2, split
     * -1 before (total - floor(total / 2)) and -1 after. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 2), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 2), FLOATS(1, 1))};
    builder *b = builder_single_node(11, "ConvTranspose", "X,W", in, 0, "Y");
    builder_attr_ints(b, builder_first_node(b), "output_shape", 3, INT64S(1, 1, 5)); /* a whole shape */
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 5), FLOATS(0, 1, 3, 2, 0), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(conv_transpose, output_padding_must_stay_below_the_stride)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 2), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 2), NULL)};
    builder *b = builder_single_node(11, "ConvTranspose", "X,W", in, 0x2, "Y");
    builder_attr_ints(b, builder_first_node(b), "strides", 1, INT64S(2));
    builder_attr_ints(b, builder_first_node(b), "output_padding", 1, INT64S(2));
    run_result r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "ConvTranspose", "output_padding", NULL);
    builder_free(b);
}

/* ---- pools ------------------------------------------------------------------------------- */

Test(pool, max_indices_in_both_storage_orders_count_every_plane)
{
    /* Two channels of 2x3, 2x2 windows: channel 0 maxima 5 at (0,1) and 6 at (1,2); channel
     * 1 (plane offset 6) maxima 9 at (0,0) and 8 at (0,1). Column-major: h + w * 2. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 2, 2, 3), FLOATS(1, 5, 2, 4, 3, 6, 9, 8, 7, 6, 5, 4));
    const int64_t want[2][4] = {{1, 5, 6, 7}, {2, 5, 6, 8}};
    for (int order = 0; order < 2; order++) {
        builder *b = builder_single_node(12, "MaxPool", "X", &x, 0, "Y,I");
        builder_attr_ints(b, builder_first_node(b), "kernel_shape", 2, INT64S(2, 2));
        builder_attr_int(b, builder_first_node(b), "storage_order", order);
        run_result r = run_model(b, 1, &x);
        cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
        expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 4, DIMS(1, 2, 1, 2), FLOATS(5, 6, 9, 8), 0);
        expect_tensor(&r.outputs[1], ONYX_DTYPE_INT64, 4, DIMS(1, 2, 1, 2), want[order], 0);
        run_result_free(&r);
        builder_free(b);
    }
}

Test(pool, ceil_mode_drops_a_window_that_starts_in_the_end_padding)
{
    /* Input 4, kernel 3, stride 2, pads [0, 2]: windows at 0 and 2; a third would start at 4,
     * in the padding, and is not made (as PyTorch). */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 4), FLOATS(1, 2, 3, 4));
    builder *b = builder_single_node(12, "MaxPool", "X", &x, 0, "Y");
    builder_attr_ints(b, builder_first_node(b), "kernel_shape", 1, INT64S(3));
    builder_attr_ints(b, builder_first_node(b), "strides", 1, INT64S(2));
    builder_attr_ints(b, builder_first_node(b), "pads", 2, INT64S(0, 2));
    builder_attr_int(b, builder_first_node(b), "ceil_mode", 1);
    run_result r = run_model(b, 1, &x);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 2), FLOATS(3, 4), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(pool, max_ignores_padding_for_negative_int8)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_INT8, 3, DIMS(1, 1, 3), (const int8_t[]){-5, -7, -128});
    builder *b = builder_single_node(12, "MaxPool", "X", &x, 0, "Y");
    builder_attr_ints(b, builder_first_node(b), "kernel_shape", 1, INT64S(2));
    builder_attr_ints(b, builder_first_node(b), "pads", 2, INT64S(1, 1));
    run_result r = run_model(b, 1, &x);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT8, 3, DIMS(1, 1, 4), (const int8_t[]){-5, -5, -7, -128}, 0);
    run_result_free(&r);
    builder_free(b);
}

Test(pool, max_propagates_nan)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 4), FLOATS(1, NAN, 3, 2));
    builder *b = builder_single_node(12, "MaxPool", "X", &x, 0, "Y");
    builder_attr_ints(b, builder_first_node(b), "kernel_shape", 1, INT64S(2));
    run_result r = run_model(b, 1, &x);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 3), FLOATS(NAN, NAN, 3), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(pool, window_wholly_in_the_padding_gives_minus_infinity_and_index_minus_one)
{
    /* Input 1, kernel 2 with dilation 10 and pads 5: the taps at -5 and 5 both miss it. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(7));
    builder *b = builder_single_node(12, "MaxPool", "X", &x, 0, "Y,I");
    builder_attr_ints(b, builder_first_node(b), "kernel_shape", 1, INT64S(2));
    builder_attr_ints(b, builder_first_node(b), "dilations", 1, INT64S(10));
    builder_attr_ints(b, builder_first_node(b), "pads", 2, INT64S(5, 5));
    run_result r = run_model(b, 1, &x);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(-INFINITY), 0);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_INT64, 3, DIMS(1, 1, 1), INT64S(-1), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(pool, average_counts_padding_but_not_the_ceil_overhang)
{
    /* Input [1, 2, 3, 4], kernel 2, stride 2, pads [1, 0], ceil_mode: windows at -1 (one pad),
     * 1 and 3 (overhanging the end, which is not padding). */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 4), FLOATS(1, 2, 3, 4));
    const float want[2][3] = {{1, 2.5f, 4}, {0.5f, 2.5f, 4}};
    for (int include = 0; include < 2; include++) {
        builder *b = builder_single_node(11, "AveragePool", "X", &x, 0, "Y");
        builder_attr_ints(b, builder_first_node(b), "kernel_shape", 1, INT64S(2));
        builder_attr_ints(b, builder_first_node(b), "strides", 1, INT64S(2));
        builder_attr_ints(b, builder_first_node(b), "pads", 2, INT64S(1, 0));
        builder_attr_int(b, builder_first_node(b), "ceil_mode", 1);
        builder_attr_int(b, builder_first_node(b), "count_include_pad", include);
        run_result r = run_model(b, 1, &x);
        cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
        expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 3), want[include], 1e-7);
        run_result_free(&r);
        builder_free(b);
    }
}

Test(pool, lp_norms_of_orders_one_two_and_three)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_DOUBLE, 3, DIMS(1, 1, 3), (const double[]){1, -2, 3});
    const double want[3] = {6, sqrt(14), cbrt(36)};
    for (int p = 1; p <= 3; p++) {
        builder *b = builder_single_node(11, "LpPool", "X", &x, 0, "Y");
        builder_attr_ints(b, builder_first_node(b), "kernel_shape", 1, INT64S(3));
        builder_attr_int(b, builder_first_node(b), "p", p);
        run_result r = run_model(b, 1, &x);
        cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
        expect_tensor(&r.outputs[0], ONYX_DTYPE_DOUBLE, 3, DIMS(1, 1, 1), &want[p - 1], 1e-12);
        run_result_free(&r);
        builder_free(b);
    }
}

Test(pool, lp_18_and_average_19_dilate_and_ceil)
{
    /* Input [1..6], kernel 2 with dilation 2 (a span of 3), stride 2: windows at 0 (taps 0, 2)
     * and 2 (taps 2, 4); ceil_mode adds one at 4 (taps 4 and 6, which overhangs the input
     * and is skipped). By the definitions: LpPool (p = 1) sums |x| over the taps inside the
     * input (ONNX's reference evaluator scales a partial window up to the full kernel, its
     * node test data does not), AveragePool divides by their count. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 6), FLOATS(1, 2, 3, 4, 5, 6));
    const char *ops[2] = {"LpPool", "AveragePool"};
    const int opsets[2] = {18, 19};
    const float want[2][3] = {{1 + 3, 3 + 5, 5}, {2, 4, 5}};
    for (int op = 0; op < 2; op++) {
        for (int ceil = 0; ceil < 2; ceil++) {
            builder *b = builder_single_node(opsets[op], ops[op], "X", &x, 0, "Y");
            builder_attr_ints(b, builder_first_node(b), "kernel_shape", 1, INT64S(2));
            builder_attr_ints(b, builder_first_node(b), "dilations", 1, INT64S(2));
            builder_attr_ints(b, builder_first_node(b), "strides", 1, INT64S(2));
            builder_attr_int(b, builder_first_node(b), "ceil_mode", ceil);
            if (op == 0)
                builder_attr_int(b, builder_first_node(b), "p", 1);
            run_result r = run_model(b, 1, &x);
            cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
            expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 2 + ceil), want[op], 1e-6);
            run_result_free(&r);
            builder_free(b);
        }
    }
}

Test(pool, global_pools_over_three_spatial_axes)
{
    float x[2 * 2 * 2 * 2];
    for (int i = 0; i < 16; i++)
        x[i] = (float)i;
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 5, DIMS(1, 2, 2, 2, 2), x);
    const char *ops[2] = {"GlobalAveragePool", "GlobalMaxPool"};
    const float want[2][2] = {{3.5f, 11.5f}, {7, 15}};
    for (int i = 0; i < 2; i++) {
        builder *b = builder_single_node(1, ops[i], "X", &in, 0, "Y");
        run_result r = run_model(b, 1, &in);
        cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
        expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 5, DIMS(1, 2, 1, 1, 1), want[i], 0);
        run_result_free(&r);
        builder_free(b);
    }
}

Test(pool, missing_kernel_shape_is_an_error)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 2, 2), NULL);
    builder *b = builder_single_node(11, "AveragePool", "X", &x, 0, "Y");
    run_result r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "AveragePool", "kernel_shape", NULL);
    builder_free(b);
}

Test(pool, indices_output_needs_opset_8)
{
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 1, 2, 2), NULL);
    builder *b = builder_single_node(7, "MaxPool", "X", &x, 0, "Y,I");
    builder_attr_ints(b, builder_first_node(b), "kernel_shape", 2, INT64S(2, 2));
    run_result r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "MaxPool", "output", NULL);
    builder_free(b);
}

Test(pool, unpool_scatters_by_index_and_rejects_indices_out_of_range)
{
    /* Kernel 2, stride 2 over a 1-D output of 4: values land at their indices, zeros elsewhere. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 2), FLOATS(5, 6)),
                         tensor_of(ONYX_DTYPE_INT64, 3, DIMS(1, 1, 2), INT64S(1, 2))};
    builder *b = builder_single_node(11, "MaxUnpool", "X,I", in, 0, "Y");
    builder_attr_ints(b, builder_first_node(b), "kernel_shape", 1, INT64S(2));
    builder_attr_ints(b, builder_first_node(b), "strides", 1, INT64S(2));
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 4), FLOATS(0, 5, 6, 0), 0);
    run_result_free(&r);

    in[1] = tensor_of(ONYX_DTYPE_INT64, 3, DIMS(1, 1, 2), INT64S(1, 4));
    r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_ERROR_RUNTIME);
    expect_message(r.message, "MaxUnpool", "index 4", NULL);
    builder_free(b);
}

/* ---- normalizations ---------------------------------------------------------------------- */

Test(normalization, batchnorm_per_activation_before_opset_9)
{
    /* spatial = 0: each (channel, position) has its own statistics, given as [C, D]. */
    onyx_tensor in[5] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(2, 2, 2), FLOATS(1, 2, 3, 4, 5, 6, 7, 8)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(1, 2, 1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(0, 0, 0, 1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(0, 1, 2, 3)),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), FLOATS(1, 1, 4, 4))};
    builder *b = builder_single_node(7, "BatchNormalization", "X,S,B,M,V", in, 0x1e, "Y");
    builder_attr_int(b, builder_first_node(b), "spatial", 0);
    builder_attr_float(b, builder_first_node(b), "epsilon", 0);
    run_result r = run_model(b, 1, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    /* (x - mean) / sqrt(var) * scale + B */
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(2, 2, 2), FLOATS(1, 2, 0.5f, 2, 5, 10, 2.5f, 6), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(normalization, batchnorm_15_takes_parameters_of_other_float_types)
{
    /* X float, scale and B double, statistics float: y = (x - 1) / 2 * 3 + 1. */
    onyx_tensor in[5] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 1), FLOATS(1, 5)),
                         tensor_of(ONYX_DTYPE_DOUBLE, 1, DIMS(1), (const double[]){3}),
                         tensor_of(ONYX_DTYPE_DOUBLE, 1, DIMS(1), (const double[]){1}),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(4))};
    builder *b = builder_single_node(15, "BatchNormalization", "X,S,B,M,V", in, 0x1e, "Y");
    builder_attr_float(b, builder_first_node(b), "epsilon", 0);
    run_result r = run_model(b, 1, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(2, 1), FLOATS(1, 7), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(normalization, batchnorm_training_outputs_by_version)
{
    onyx_tensor in[5] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 1), FLOATS(1, 3)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(0)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(0)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1))};
    /* Opset 14 training: batch mean 2, variance 1; running mean 0 * 0.5 + 2 * 0.5. */
    builder *b = builder_single_node(14, "BatchNormalization", "X,S,B,M,V", in, 0x1e, "Y,RM,RV");
    builder_attr_int(b, builder_first_node(b), "training_mode", 1);
    builder_attr_float(b, builder_first_node(b), "momentum", 0.5f);
    builder_attr_float(b, builder_first_node(b), "epsilon", 0);
    run_result r = run_model(b, 1, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(2, 1), FLOATS(-1, 1), 1e-6);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1), 1e-6);
    expect_tensor(&r.outputs[2], ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(1), 1e-6);
    run_result_free(&r);
    builder_free(b);

    /* Without training_mode the extra outputs are invalid; before 14 they are unsupported. */
    b = builder_single_node(14, "BatchNormalization", "X,S,B,M,V", in, 0x1e, "Y,RM,RV");
    r = run_model(b, 1, in);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "training_mode", NULL);
    builder_free(b);
    b = builder_single_node(9, "BatchNormalization", "X,S,B,M,V", in, 0x1e, "Y,RM,RV");
    r = run_model(b, 1, in);
    cr_assert_eq(r.load, ONYX_ERROR_UNSUPPORTED);
    expect_message(r.message, "BatchNormalization", "opset 14", NULL);
    builder_free(b);
}

Test(normalization, batchnorm_wrong_parameter_length_is_named)
{
    onyx_tensor in[5] = {tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 3, 2, 2), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL), tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), NULL)};
    builder *b = builder_single_node(15, "BatchNormalization", "X,S,B,M,V", in, 0, "Y");
    run_result r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "'B'", "[2]", "per channel", NULL);
    builder_free(b);
}

Test(normalization, instancenorm_of_a_constant_plane_is_the_bias)
{
    /* Channel 0 has variance 0: y = B, epsilon keeping the division finite. Channel 1 has
     * mean 2 and variance 2/3 (the epsilon is too small to matter). */
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 3), FLOATS(4, 4, 4, 1, 2, 3)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(2, 1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(7, 0))};
    builder *b = builder_single_node(6, "InstanceNormalization", "X,S,B", in, 0x6, "Y");
    builder_attr_float(b, builder_first_node(b), "epsilon", 1e-12f);
    run_result r = run_model(b, 1, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    float k = 1 / sqrtf(2.0f / 3);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 3, DIMS(1, 2, 3), FLOATS(7, 7, 7, -k, 0, k), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(normalization, mean_variance_over_chosen_axes)
{
    /* axes [1] of [2, 2]: each row of two normalized alone, to -1 and 1 (up to the epsilon). */
    onyx_tensor x = tensor_of(ONYX_DTYPE_DOUBLE, 2, DIMS(2, 2), (const double[]){1, 3, 10, 30});
    builder *b = builder_single_node(13, "MeanVarianceNormalization", "X", &x, 0, "Y");
    builder_attr_ints(b, builder_first_node(b), "axes", 1, INT64S(1));
    run_result r = run_model(b, 1, &x);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_DOUBLE, 2, DIMS(2, 2), (const double[]){-1, 1, -1, 1}, 1e-8);
    run_result_free(&r);
    builder_free(b);
}

Test(normalization, lrn_with_an_even_size_looks_one_channel_further_up)
{
    /* size 2: channel c sums the squares of channels c and c + 1 (floor(1/2) = 0 below,
     * ceil(1/2) = 1 above). alpha = 2 (2 / size = 1), beta = 1, bias = 1: y = x / (1 + sum). */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 3), FLOATS(1, 2, 3));
    builder *b = builder_single_node(13, "LRN", "X", &x, 0, "Y");
    builder_attr_int(b, builder_first_node(b), "size", 2);
    builder_attr_float(b, builder_first_node(b), "alpha", 2);
    builder_attr_float(b, builder_first_node(b), "beta", 1);
    run_result r = run_model(b, 1, &x);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(1, 3), FLOATS(1.0f / 6, 2.0f / 14, 3.0f / 10), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

/* ---- Resize and Upsample ----------------------------------------------------------------- */

Test(resize, nearest_copies_integers)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_INT64, 2, DIMS(1, 2), INT64S(INT64_MAX, -3)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(0), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(2, 2))};
    builder *b = builder_single_node(13, "Resize", "X,roi,scales", in, 0x6, "Y");
    builder_attr_string(b, builder_first_node(b), "coordinate_transformation_mode", "asymmetric");
    builder_attr_string(b, builder_first_node(b), "nearest_mode", "floor");
    run_result r = run_model(b, 1, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_INT64, 2, DIMS(2, 4),
                  INT64S(INT64_MAX, INT64_MAX, -3, -3, INT64_MAX, INT64_MAX, -3, -3), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(resize, linear_of_integers_is_unsupported)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_INT32, 1, DIMS(2), NULL), tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(0), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(2))};
    builder *b = builder_single_node(13, "Resize", "X,roi,scales", in, 0x6, "Y");
    builder_attr_string(b, builder_first_node(b), "mode", "linear");
    run_result r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_UNSUPPORTED);
    expect_message(r.message, "Resize", "linear", "int32", NULL);
    builder_free(b);
}

Test(resize, scales_and_sizes_together_are_an_error)
{
    onyx_tensor in[4] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL), tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(0), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(2)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(4))};
    builder *b = builder_single_node(13, "Resize", "X,roi,scales,sizes", in, 0xe, "Y");
    run_result r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Resize", "scales and sizes", NULL);
    builder_free(b);
}

Test(resize, sizes_known_only_when_running)
{
    /* sizes is a graph input: the output shape is known only once it is given. Linear,
     * half_pixel, 2 -> 4: coordinates -0.25, 0.25, 0.75, 1.25, clamped at the edges. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(0, 8)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(4))};
    builder *b = builder_single_node(13, "Resize", "X,,,sizes", in, 0, "Y");
    builder_attr_string(b, builder_first_node(b), "mode", "linear");
    run_result r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(0, 2, 6, 8), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(resize, scales_of_unknown_length_may_turn_out_empty)
{
    /* Opset 11: roi, scales and sizes are all graph inputs, scales of a symbolic length; it
     * comes empty, so sizes rules. Nearest, asymmetric, round_prefer_floor: 0, 0.5 -> 0, 1. */
    float unused = 0;
    onyx_tensor in[4] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 2)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(0), &unused),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(0), &unused),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(4))};
    builder *b = builder_new(11);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    builder_input(b, "roi", ONYX_DTYPE_FLOAT, 1, DIMS(0), NULL);
    builder_input(b, "scales", ONYX_DTYPE_FLOAT, 1, DIMS(-1), (const char *const[]){"n"});
    builder_input(b, "sizes", ONYX_DTYPE_INT64, 1, DIMS(1), NULL);
    Onnx__NodeProto *n = builder_node(b, "Resize", "X,roi,scales,sizes", "Y");
    builder_attr_string(b, n, "coordinate_transformation_mode", "asymmetric");
    builder_output(b, "Y", ONYX_DTYPE_UNDEFINED);
    run_result r = run_model(b, 4, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(1, 1, 2, 2), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(resize, crop_and_resize_outside_the_roi_gives_the_extrapolation_value)
{
    /* roi [0.5, 1.5] of an axis of 3: coordinates 1, 2, 3; 3 is outside [0, 2]. */
    onyx_tensor in[4] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(10, 20, 30)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(0.5f, 1.5f)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(0), NULL),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(3))};
    builder *b = builder_single_node(13, "Resize", "X,roi,scales,sizes", in, 0xe, "Y");
    builder_attr_string(b, builder_first_node(b), "mode", "linear");
    builder_attr_string(b, builder_first_node(b), "coordinate_transformation_mode", "tf_crop_and_resize");
    builder_attr_float(b, builder_first_node(b), "extrapolation_value", -1);
    run_result r = run_model(b, 1, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(20, 30, -1), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(resize, resize_10_rounds_nearest_up_when_downsampling)
{
    /* Scale 0.6 of 4: 2 outputs at 0 and 1 / 0.6 = 1.67, rounded up to 2. */
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(4), FLOATS(1, 2, 3, 4)),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(0.6f))};
    builder *b = builder_single_node(10, "Resize", "X,scales", in, 0x2, "Y");
    run_result r = run_model(b, 1, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(1, 3), 0);
    run_result_free(&r);
    builder_free(b);
}

Test(resize, upsample_7_linear_from_the_scales_attribute)
{
    /* Asymmetric coordinates o / 2: 0, 0.5, 1, 1.5 (the last clamped to the edge). */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 2), FLOATS(1, 3));
    builder *b = builder_single_node(7, "Upsample", "X", &x, 0, "Y");
    builder_attr_floats(b, builder_first_node(b), "scales", 2, FLOATS(1, 2));
    builder_attr_string(b, builder_first_node(b), "mode", "linear");
    run_result r = run_model(b, 1, &x);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 2, DIMS(1, 4), FLOATS(1, 2, 3, 3), 1e-6);
    run_result_free(&r);
    builder_free(b);
}

Test(resize, upsample_scales_below_one_are_an_error)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(4), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(0.5f))};
    builder *b = builder_single_node(9, "Upsample", "X,scales", in, 0x2, "Y");
    run_result r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Upsample", ">= 1", NULL);
    builder_free(b);
}

Test(resize, antialias_widens_the_kernel_and_merges_taps_at_the_edges)
{
    /* Values from ONNX's reference implementation (onnx.reference.ops.op_resize). Linear at
     * scale 0.4: 6 taps around each coordinate, two of those for output 0 clamped onto
     * element 0. Cubic to 1 element: 12 taps, most of them clamped to the edges. */
    onyx_tensor x = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(5), FLOATS(1, 2, 4, 8, 16));
    onyx_tensor in[4] = {x, tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(0), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(0.4f)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), INT64S(1))};
    builder *b = builder_single_node(18, "Resize", "X,roi,scales", in, 0x6, "Y");
    builder_attr_string(b, builder_first_node(b), "mode", "linear");
    builder_attr_int(b, builder_first_node(b), "antialias", 1);
    run_result r = run_model(b, 1, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(2.24f, 10.16f), 1e-5);
    run_result_free(&r);
    builder_free(b);

    in[2] = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(0), NULL);
    b = builder_single_node(18, "Resize", "X,roi,scales,sizes", in, 0xe, "Y");
    builder_attr_string(b, builder_first_node(b), "mode", "cubic");
    builder_attr_int(b, builder_first_node(b), "antialias", 1);
    r = run_model(b, 1, in);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(6.312f), 1e-5);
    run_result_free(&r);
    builder_free(b);
}

Test(resize, repeated_axes_are_an_error)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 2), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(0), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), FLOATS(2, 2))};
    builder *b = builder_single_node(18, "Resize", "X,roi,scales", in, 0x6, "Y");
    builder_attr_ints(b, builder_first_node(b), "axes", 2, INT64S(1, -1));
    run_result r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Resize", "axes", "repeats", NULL);
    builder_free(b);
}

Test(resize, half_pixel_symmetric_is_refused_before_opset_19)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(0), NULL),
                         tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), FLOATS(2))};
    builder *b = builder_single_node(18, "Resize", "X,roi,scales", in, 0x6, "Y");
    builder_attr_string(b, builder_first_node(b), "coordinate_transformation_mode", "half_pixel_symmetric");
    run_result r = run_model(b, 0, NULL);
    cr_assert_eq(r.load, ONYX_ERROR_INVALID_MODEL);
    expect_message(r.message, "Resize", "half_pixel_symmetric", NULL);
    builder_free(b);
}

/* ---- hostile shapes ---------------------------------------------------------------------- */

Test(hostile, huge_padding_on_many_axes_is_an_error_not_an_overflow)
{
    /* Six spatial axes padded by 2^31 - 1 on each side: each output dim is about 2^32, their
     * product far beyond 64 bits. */
    const int64_t ones[8] = {1, 1, 1, 1, 1, 1, 1, 1}, pad = INT32_MAX;
    const int64_t pads[12] = {pad, pad, pad, pad, pad, pad, pad, pad, pad, pad, pad, pad};
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 8, ones, FLOATS(1)),
                         tensor_of(ONYX_DTYPE_FLOAT, 8, ones, FLOATS(1))};
    const char *ops[3] = {"Conv", "MaxPool", "AveragePool"};
    for (int i = 0; i < 3; i++) {
        builder *b = builder_single_node(11, ops[i], i ? "X" : "X,W", in, i ? 0 : 0x2, "Y");
        builder_attr_ints(b, builder_first_node(b), "pads", 12, pads);
        if (i)
            builder_attr_ints(b, builder_first_node(b), "kernel_shape", 6, ones);
        run_result r = run_model(b, 1, in);
        cr_assert(r.load != ONYX_OK || r.run != ONYX_OK, "%s ran", ops[i]);
        expect_message(r.message, ops[i], "too many elements", NULL);
        builder_free(b);
    }
}

Test(hostile, resize_to_sizes_beyond_the_limits_is_an_error)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 1), FLOATS(1)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(INT64_MAX, INT64_MAX))};
    builder *b = builder_single_node(13, "Resize", "X,,,sizes", in, 0, "Y");
    run_result r = run_model(b, 2, in);
    cr_assert_neq(r.run, ONYX_OK);
    expect_message(r.message, "Resize", "sizes", NULL);
    run_result_free(&r);

    in[1] = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(2), INT64S(INT32_MAX, INT32_MAX));
    r = run_model(b, 2, in);
    cr_assert_eq(r.run, ONYX_ERROR_LIMIT, "%s", r.message);
    builder_free(b);
}

Test(hostile, unpool_to_an_output_shape_beyond_the_limits_is_an_error)
{
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_FLOAT, 3, DIMS(1, 1, 1), FLOATS(1)),
                         tensor_of(ONYX_DTYPE_INT64, 3, DIMS(1, 1, 1), INT64S(0)),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(3), INT64S(INT64_MAX, INT64_MAX, INT64_MAX))};
    builder *b = builder_single_node(11, "MaxUnpool", "X,I,S", in, 0, "Y");
    builder_attr_ints(b, builder_first_node(b), "kernel_shape", 1, INT64S(1));
    run_result r = run_model(b, 3, in);
    cr_assert_eq(r.run, ONYX_ERROR_LIMIT, "%s", r.message);
    expect_message(r.message, "MaxUnpool", "too many elements", NULL);
    builder_free(b);
}
