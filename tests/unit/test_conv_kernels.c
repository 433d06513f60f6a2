/* The convolution and pooling kernels of every family this processor runs (depthwise rows,
 * MaxPool and AveragePool rows, plane sums, the 2-D im2col, the GEMM epilogue's convolution
 * activations) against plain references at odd sizes, strides, paddings and dilations; and the
 * onyx.FusedConv pass: the fused graph gives the unfused graph's outputs. */
#include "conv_kernels.h"
#include "gemm.h"
#include "harness.h"
#include "im2col.h"
#include "ir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static const gemm_kernel_id families[] = {GEMM_KERNEL_PORTABLE, GEMM_KERNEL_AVX2, GEMM_KERNEL_AVX512};

/* The body once for each family this CPU runs, with its index f and its conv_kernels k. */
#define FOR_EACH_FAMILY(f, k)                                                                  \
    for (size_t f = 0; f < sizeof families / sizeof *families; f++)                            \
        for (const conv_kernels *k = conv_kernels_get(families[f]); k; k = NULL)

/* Deterministic values in [-1, 1). */
static float noise(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / (float)(1u << 23) - 1.0f;
}

static void *aligned(size_t floats)
{
    void *p = aligned_alloc(64, (floats * sizeof(float) + 64) / 64 * 64);
    cr_assert(p);
    return p;
}

/* A window over in_h x in_w, its output dims from the pads (end pads as given). */
static conv2d_window window(int64_t in_h, int64_t in_w, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh,
                            int64_t dw, int64_t top, int64_t left, int64_t bottom, int64_t right)
{
    conv2d_window g = {.in_h = in_h, .in_w = in_w, .kernel_h = kh, .kernel_w = kw, .stride_h = sh, .stride_w = sw,
                       .dilation_h = dh, .dilation_w = dw, .pad_top = top, .pad_left = left, .pad_bottom = bottom,
                       .pad_right = right};
    g.out_h = (in_h + top + bottom - ((kh - 1) * dh + 1)) / sh + 1;
    g.out_w = (in_w + left + right - ((kw - 1) * dw + 1)) / sw + 1;
    return g;
}

typedef enum { REF_DEPTHWISE, REF_MAX, REF_AVERAGE, REF_AVERAGE_PAD } ref_kind;

/* Output (oy, ox) computed the plain way, in double. */
static double reference(const conv2d_window *g, ref_kind kind, const float *in, const float *w, float bias,
                        int64_t oy, int64_t ox)
{
    double acc = kind == REF_MAX ? -INFINITY : kind == REF_DEPTHWISE ? bias : 0;
    int64_t count = 0;
    for (int64_t ky = 0; ky < g->kernel_h; ky++)
        for (int64_t kx = 0; kx < g->kernel_w; kx++) {
            int64_t y = oy * g->stride_h - g->pad_top + ky * g->dilation_h;
            int64_t x = ox * g->stride_w - g->pad_left + kx * g->dilation_w;
            bool inside = y >= 0 && y < g->in_h && x >= 0 && x < g->in_w;
            bool padded = y >= -g->pad_top && y < g->in_h + g->pad_bottom && x >= -g->pad_left &&
                          x < g->in_w + g->pad_right;
            count += kind == REF_AVERAGE_PAD ? padded : inside;
            if (!inside)
                continue;
            double v = in[y * g->in_w + x];
            if (kind == REF_DEPTHWISE)
                acc += w[ky * g->kernel_w + kx] * v;
            else if (kind == REF_MAX)
                acc = (v > acc || isnan(v)) && !isnan(acc) ? v : acc;
            else
                acc += v;
        }
    if (kind == REF_AVERAGE || kind == REF_AVERAGE_PAD)
        return count ? acc / (double)count : NAN;
    return acc;
}

/* Runs one kernel of family k over g in two calls (rows split at out_h / 3) with copies of at
 * most `copy_rows` rows, and compares every output with the reference. */
static void check_window(const conv_kernels *k, conv2d_window g, ref_kind kind, int64_t copy_rows, uint32_t seed)
{
    float *in = malloc((size_t)(g.in_h * g.in_w) * sizeof(float) + 4);
    float *out = malloc((size_t)(g.out_h * g.out_w) * sizeof(float) + 4);
    float w[CONV_WINDOW_MAX_KERNEL * CONV_WINDOW_MAX_KERNEL], bias = noise(&seed);
    for (int64_t i = 0; i < g.in_h * g.in_w; i++)
        in[i] = noise(&seed);
    if (kind == REF_MAX && g.in_h * g.in_w > 4)
        in[g.in_h * g.in_w / 2] = NAN; /* NaN wins in the windows over it */
    for (int64_t i = 0; i < g.kernel_h * g.kernel_w; i++)
        w[i] = noise(&seed);
    int64_t floats = kind == REF_MAX ? conv2d_plan_max_pool(&g, copy_rows, INT64_MAX)
                                     : conv2d_plan_copy(&g, copy_rows, INT64_MAX);
    float *scratch = aligned((size_t)floats);
    int64_t split = g.out_h / 3;
    for (int part = 0; part < 2; part++) {
        int64_t r0 = part ? split : 0, r1 = part ? g.out_h : split;
        if (kind == REF_DEPTHWISE)
            k->depthwise_rows(&g, in, w, bias, GEMM_ACTIVATION_NONE, NULL, out, r0, r1, scratch);
        else if (kind == REF_MAX)
            k->max_pool_rows(&g, in, out, r0, r1, scratch);
        else
            k->average_pool_rows(&g, in, kind == REF_AVERAGE_PAD, out, r0, r1);
    }
    for (int64_t oy = 0; oy < g.out_h; oy++)
        for (int64_t ox = 0; ox < g.out_w; ox++) {
            double want = reference(&g, kind, in, w, bias, oy, ox), got = out[oy * g.out_w + ox];
            if (isnan(want)) {
                cr_assert(isnan(got), "%s kind %d: (%lld, %lld) is %g, not NaN", k->name, kind, (long long)oy,
                          (long long)ox, got);
                continue;
            }
            cr_assert(got == want || fabs(got - want) <= 1e-5 * (1 + fabs(want)),
                      "%s kind %d, in %lldx%lld kernel %lldx%lld stride %lld,%lld dilation %lld,%lld: (%lld, %lld) "
                      "is %g, not %g",
                      k->name, kind, (long long)g.in_h, (long long)g.in_w, (long long)g.kernel_h,
                      (long long)g.kernel_w, (long long)g.stride_h, (long long)g.stride_w, (long long)g.dilation_h,
                      (long long)g.dilation_w, (long long)oy, (long long)ox, got, want);
        }
    free(in);
    free(out);
    free(scratch);
}

/* Odd sizes, kernels, strides, dilations and paddings, symmetric and not. */
static void sweep(ref_kind kind)
{
    static const int64_t sizes[][2] = {{1, 1}, {5, 7}, {13, 13}, {17, 33}, {40, 23}, {6, 150}};
    static const int64_t kernels[][2] = {{1, 1}, {3, 3}, {5, 5}, {7, 7}, {2, 3}, {3, 1}};
    int checked = 0;
    uint32_t seed = 7;
    FOR_EACH_FAMILY(f, k) {
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
            for (size_t ki = 0; ki < sizeof kernels / sizeof *kernels; ki++)
                for (int64_t stride = 1; stride <= 3; stride++)
                    for (int64_t dilation = 1; dilation <= 2; dilation++)
                        for (int64_t pad = 0; pad <= 2; pad++) {
                            int64_t kh = kernels[ki][0], kw = kernels[ki][1];
                            /* Pads below the kernel (ONNX's rule), the end ones one less. */
                            int64_t top = MIN(pad, kh - 1), left = MIN(pad, kw - 1);
                            int64_t bottom = MAX(0, top - (pad & 1)), right = left;
                            int64_t span_h = (kh - 1) * dilation + 1, span_w = (kw - 1) * dilation + 1;
                            if (sizes[si][0] + top + bottom < span_h || sizes[si][1] + left + right < span_w)
                                continue;
                            conv2d_window g = window(sizes[si][0], sizes[si][1], kh, kw, stride, stride + (pad == 1),
                                                     dilation, dilation, top, left, bottom, right);
                            if (g.out_w < 1 || g.in_w + left + right < span_w)
                                continue;
                            check_window(k, g, kind, 1 + (int64_t)(seed % 5), seed);
                            seed += 11;
                            checked++;
                        }
    }
    cr_assert(checked > 100);
}

Test(conv_kernels, depthwise_rows_every_family) { sweep(REF_DEPTHWISE); }
Test(conv_kernels, max_pool_rows_every_family) { sweep(REF_MAX); }
Test(conv_kernels, average_pool_rows_every_family)
{
    sweep(REF_AVERAGE);
    sweep(REF_AVERAGE_PAD);
}

/* depthwise_lanes of every family: blocks of up to `lanes` channels of narrow planes. */
Test(conv_kernels, depthwise_lanes_every_family)
{
    static const int64_t cases[][6] = {
        /* in, kernel, stride, dilation, pad, channels */
        {7, 5, 1, 1, 2, 16}, {7, 3, 1, 1, 1, 5}, {9, 3, 2, 1, 1, 3}, {8, 3, 1, 2, 2, 16}, {5, 1, 1, 1, 0, 7},
        {6, 4, 2, 1, 1, 1},
        /* rows of blocks of 8 pixels, the last overlapping (19, 12 at stride 2), and of 7 (14) */
        {19, 7, 1, 1, 3, 16}, {23, 3, 2, 1, 1, 16}, {14, 5, 1, 1, 2, 12}, {13, 3, 1, 2, 2, 9},
    };
    uint32_t seed = 17;
    FOR_EACH_FAMILY(f, k) {
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            const int64_t *t = cases[i];
            conv2d_window g = window(t[0], t[0], t[1], t[1], t[2], t[2], t[3], t[3], t[4], t[4], t[4], t[4]);
            int64_t channels = MIN(t[5], k->lanes), taps = t[1] * t[1];
            int64_t plane = g.in_h * g.in_w, out_count = g.out_h * g.out_w;
            float *in = malloc((size_t)(channels * plane) * sizeof(float));
            float *w = malloc((size_t)(channels * taps) * sizeof(float)), bias[16];
            float *out = malloc((size_t)(channels * out_count) * sizeof(float));
            float *scratch = aligned((size_t)depthwise_lanes_floats(&g, k->lanes));
            for (int64_t j = 0; j < channels * plane; j++)
                in[j] = noise(&seed);
            for (int64_t j = 0; j < channels * taps; j++)
                w[j] = noise(&seed);
            for (int j = 0; j < 16; j++)
                bias[j] = noise(&seed);
            k->depthwise_lanes(&g, channels, in, w, bias, out, scratch);
            for (int64_t c = 0; c < channels; c++)
                for (int64_t oy = 0; oy < g.out_h; oy++)
                    for (int64_t ox = 0; ox < g.out_w; ox++) {
                        double want = reference(&g, REF_DEPTHWISE, in + c * plane, w + c * taps, bias[c], oy, ox);
                        double got = out[c * out_count + oy * g.out_w + ox];
                        cr_assert(fabs(got - want) <= 1e-5 * (1 + fabs(want)), "%s case %zu channel %lld (%lld, %lld)",
                                  k->name, i, (long long)c, (long long)oy, (long long)ox);
                    }
            free(in);
            free(w);
            free(out);
            free(scratch);
        }
    }
}

/* depthwise_nhwc of every family: an image with its channels last (channel counts short of,
 * at and past the vectors' multiples), at odd sizes, strides, paddings and dilations, each row
 * transposed into the planes of a wider output as conv.c does, plain or with HardSwish, against
 * the reference on each channel's plane. */
Test(conv_kernels, depthwise_nhwc_every_family)
{
    static const int64_t cases[][9] = {
        /* in_h, in_w, kernel, stride, dilation, pad left/top, pad right/bottom, channels, hardswish */
        {9, 23, 3, 1, 1, 1, 1, 13, 0}, {10, 21, 3, 2, 1, 1, 1, 72, 1}, {7, 7, 5, 1, 1, 2, 2, 40, 0},
        {14, 30, 5, 2, 1, 2, 2, 24, 1}, {8, 19, 3, 1, 2, 2, 2, 1, 0},  {6, 17, 3, 2, 1, 0, 1, 9, 1},
        {5, 40, 1, 1, 1, 0, 0, 33, 0},  {11, 12, 4, 3, 1, 1, 2, 16, 1}, {3, 29, 3, 1, 1, 1, 1, 8, 1},
        /* end blocks from copies around a run between, overlapping blocks, channels past a
         * vector's multiple; padding wider than a block (pixels one by one after it) */
        {6, 40, 5, 1, 1, 2, 2, 24, 1},  {4, 31, 11, 1, 1, 10, 10, 17, 0}, {5, 9, 3, 2, 2, 3, 1, 20, 0},
        {6, 14, 5, 1, 1, 2, 2, 72, 0},  {5, 6, 3, 1, 1, 1, 0, 16, 0},
    };
    const float params[2] = {0, 0};
    uint32_t seed = 61;
    FOR_EACH_FAMILY(f, k) {
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            const int64_t *t = cases[i];
            conv2d_window g = window(t[0], t[1], t[2], t[2], t[3], t[3], t[4], t[4], t[5], t[5], t[6], t[6]);
            int64_t C = t[7], taps = t[2] * t[2], plane = g.in_h * g.in_w, ld = g.out_h * g.out_w + 5;
            float *in = malloc((size_t)(C * plane) * sizeof(float)), *planes = malloc((size_t)(C * plane) * sizeof(float));
            float *w = malloc((size_t)(C * taps) * sizeof(float)), *w_last = malloc((size_t)(C * taps) * sizeof(float));
            float *bias = malloc((size_t)C * sizeof(float)), *out = malloc((size_t)(C * ld) * sizeof(float));
            for (int64_t c = 0; c < C; c++) {
                for (int64_t j = 0; j < plane; j++)
                    in[j * C + c] = planes[c * plane + j] = noise(&seed);
                for (int64_t j = 0; j < taps; j++)
                    w_last[j * C + c] = w[c * taps + j] = noise(&seed);
                bias[c] = noise(&seed);
            }
            for (int64_t j = 0; j < C * ld; j++)
                out[j] = 1234.0f;
            gemm_activation act = t[8] ? GEMM_ACTIVATION_HARD_SWISH : GEMM_ACTIVATION_NONE;
            float *tile = malloc((size_t)(g.out_w * C) * sizeof(float));
            float *copies = malloc((size_t)depthwise_nhwc_floats(&g, C) * sizeof(float));
            for (int64_t oy = 0; oy < g.out_h; oy++) {
                k->depthwise_nhwc(&g, C, in, w_last, bias, oy, tile, copies);
                if (act != GEMM_ACTIVATION_NONE)
                    gemm_apply_epilogue(gemm_kernel_get(families[f]), tile, C, g.out_w, C,
                                        &(gemm_epilogue){.activation = act, .params = {params[0], params[1]}});
                k->transpose(tile, C, g.out_w, C, out + oy * g.out_w, ld);
            }
            free(tile);
            free(copies);
            for (int64_t c = 0; c < C; c++) {
                for (int64_t oy = 0; oy < g.out_h; oy++)
                    for (int64_t ox = 0; ox < g.out_w; ox++) {
                        double want = reference(&g, REF_DEPTHWISE, planes + c * plane, w + c * taps, bias[c], oy, ox);
                        if (t[8])
                            want *= fmin(1.0, fmax(0.0, want / 6 + 0.5));
                        double got = out[c * ld + oy * g.out_w + ox];
                        cr_assert(fabs(got - want) <= 1e-5 * (1 + fabs(want)),
                                  "%s case %zu channel %lld (%lld, %lld): %g, expected %g", k->name, i, (long long)c,
                                  (long long)oy, (long long)ox, got, want);
                    }
                for (int64_t j = g.out_h * g.out_w; j < ld; j++)
                    cr_assert_eq(out[c * ld + j], 1234.0f, "%s case %zu: wrote past channel %lld's plane", k->name, i,
                                 (long long)c);
            }
            free(in);
            free(planes);
            free(w);
            free(w_last);
            free(bias);
            free(out);
        }
    }
}

Test(conv_kernels, sum_every_family)
{
    uint32_t seed = 3;
    float x[1000];
    for (int i = 0; i < 1000; i++)
        x[i] = noise(&seed);
    FOR_EACH_FAMILY(f, k) {
        for (int n = 0; n < 1000; n = n * 2 + 1) {
            double want = 0;
            for (int i = 0; i < n; i++)
                want += x[i];
            cr_assert(fabs(k->sum(x, n) - want) <= 1e-5 * (1 + fabs(want)), "%s: sum of %d", k->name, n);
        }
    }
}

/* The im2col of two axes of every family gives the general walk's column matrix, for any range
 * of positions. */
Test(conv_kernels, im2col_every_family_matches_the_general_walk)
{
    uint32_t seed = 5;
    static const int64_t cases[][8] = {
        /* in_h in_w kernel stride dilation pad_top pad_left, channels */
        {7, 9, 3, 1, 1, 1, 1, 3}, {12, 11, 3, 2, 1, 1, 0, 2}, {5, 5, 1, 2, 1, 0, 0, 4},
        {9, 13, 5, 1, 2, 3, 2, 1}, {8, 8, 7, 3, 1, 3, 3, 2}, {1, 17, 1, 1, 1, 0, 0, 5},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const int64_t *cs = cases[c];
        window_geometry g = {.axes = 2, .in = {cs[0], cs[1]}, .kernel = {cs[2], cs[2]}, .stride = {cs[3], cs[3]},
                             .dilation = {cs[4], cs[4]}, .pad_begin = {cs[5], cs[6]}, .pad_end = {cs[5], cs[6]}};
        for (int d = 0; d < 2; d++)
            g.out[d] = (g.in[d] + 2 * g.pad_begin[d] - ((g.kernel[d] - 1) * g.dilation[d] + 1)) / g.stride[d] + 1;
        g.in_count = g.in[0] * g.in[1];
        g.out_count = g.out[0] * g.out[1];
        g.kernel_count = g.kernel[0] * g.kernel[1];
        int64_t channels = cs[7], rows = channels * g.kernel_count;
        float *image = malloc((size_t)(channels * g.in_count) * sizeof(float));
        for (int64_t i = 0; i < channels * g.in_count; i++)
            image[i] = noise(&seed);
        float *want = malloc((size_t)(rows * g.out_count) * sizeof(float));
        float *got = malloc((size_t)(rows * g.out_count) * sizeof(float));
        int64_t first = g.out_count / 3, last = g.out_count - g.out_count / 5;
        im2col_f32(&g, channels, image, first, last, want);
        conv2d_window w = window(g.in[0], g.in[1], g.kernel[0], g.kernel[1], g.stride[0], g.stride[1],
                                 g.dilation[0], g.dilation[1], g.pad_begin[0], g.pad_begin[1], g.pad_end[0],
                                 g.pad_end[1]);
        FOR_EACH_FAMILY(f, k) {
            memset(got, 0xff, (size_t)(rows * g.out_count) * sizeof(float));
            k->im2col(&w, channels, image, first, last, got);
            cr_assert_eq(memcmp(want, got, (size_t)(rows * (last - first)) * sizeof(float)), 0, "%s case %zu",
                         k->name, c);
        }
        free(image);
        free(want);
        free(got);
    }
}

/* Winograd F(2x2, 3x3) with each family's transforms: the input transform, the 16 products
 * in double with the weights' transform (G k G^T, written out here), the output transform,
 * against the convolution's definition; tile rows in two bands, odd planes, asymmetric pads. */
Test(conv_kernels, winograd_transforms_every_family)
{
    uint32_t seed = 9;
    static const int64_t cases[][6] = {
        /* in_h in_w pad_top pad_left pad_bottom pad_right */
        {7, 9, 1, 1, 1, 1}, {6, 6, 0, 0, 0, 0}, {5, 11, 2, 0, 1, 2}, {9, 4, 1, 2, 0, 1},
        /* rows of tiles a vector (or half or a quarter of one) wide and more on every family (the
         * last vector overlapping):
         * an even width straight into the output, odd widths and an odd last row through
         * scratch */
        {5, 40, 1, 1, 1, 1}, {7, 37, 1, 1, 0, 1}, {4, 33, 0, 0, 0, 0}, {6, 28, 1, 1, 1, 1}, {6, 25, 1, 1, 1, 1},
    };
    const int64_t channels = 3, maps = 2;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const int64_t *cs = cases[ci];
        conv2d_window g = window(cs[0], cs[1], 3, 3, 1, 1, 1, 1, cs[2], cs[3], cs[4], cs[5]);
        int64_t tw = (g.out_w + 1) / 2, th = (g.out_h + 1) / 2, band = (th + 1) / 2;
        float x[3 * 11 * 40], k[2 * 3 * 9];
        for (int64_t i = 0; i < channels * g.in_h * g.in_w; i++)
            x[i] = noise(&seed);
        for (int i = 0; i < 2 * 3 * 9; i++)
            k[i] = noise(&seed);
        double u[16][2][3]; /* G k G^T */
        for (int m = 0; m < maps; m++)
            for (int c = 0; c < channels; c++) {
                const float *f = k + (m * channels + c) * 9;
                double gk[4][3];
                for (int j = 0; j < 3; j++) {
                    gk[0][j] = f[j];
                    gk[1][j] = (f[j] + f[3 + j] + f[6 + j]) / 2;
                    gk[2][j] = (f[j] - f[3 + j] + f[6 + j]) / 2;
                    gk[3][j] = f[6 + j];
                }
                for (int i = 0; i < 4; i++) {
                    u[4 * i][m][c] = gk[i][0];
                    u[4 * i + 1][m][c] = (gk[i][0] + gk[i][1] + gk[i][2]) / 2;
                    u[4 * i + 2][m][c] = (gk[i][0] - gk[i][1] + gk[i][2]) / 2;
                    u[4 * i + 3][m][c] = gk[i][2];
                }
            }
        FOR_EACH_FAMILY(f, kr) {
            float *y = aligned((size_t)(maps * g.out_h * g.out_w));
            float *scratch = aligned((size_t)winograd_scratch_floats(&g, band));
            for (int64_t row0 = 0; row0 < th; row0 += band) {
                int64_t rows = band < th - row0 ? band : th - row0, tiles = rows * tw;
                int64_t sv = winograd_stride(channels * tiles), sm = winograd_stride(maps * tiles);
                float *v = aligned((size_t)(16 * sv)), *prod = aligned((size_t)(16 * sm));
                kr->winograd_input(&g, channels, x, row0, rows, v, scratch);
                for (int e = 0; e < 16; e++)
                    for (int m = 0; m < maps; m++)
                        for (int64_t t = 0; t < tiles; t++) {
                            double sum = 0;
                            for (int c = 0; c < channels; c++)
                                sum += u[e][m][c] * v[e * sv + c * tiles + t];
                            prod[e * sm + m * tiles + t] = (float)sum;
                        }
                kr->winograd_output(&g, maps, prod, row0, rows, y, scratch);
                free(v);
                free(prod);
            }
            for (int m = 0; m < maps; m++)
                for (int64_t oy = 0; oy < g.out_h; oy++)
                    for (int64_t ox = 0; ox < g.out_w; ox++) {
                        double want = 0;
                        for (int c = 0; c < channels; c++) {
                            want += reference(&g, REF_DEPTHWISE, x + c * g.in_h * g.in_w,
                                              k + (m * channels + c) * 9, 0.0f, oy, ox);
                        }
                        float got = y[(m * g.out_h + oy) * g.out_w + ox];
                        cr_assert(fabs(got - want) <= 1e-5, "%s case %zu map %d (%lld, %lld): %g, want %g", kr->name,
                                  ci, m, (long long)oy, (long long)ox, got, want);
                    }
            free(y);
            free(scratch);
        }
    }
}

Test(conv_kernels, transpose_every_family)
{
    uint32_t seed = 13;
    float src[37 * 41], dst[41 * 50];
    for (int i = 0; i < 37 * 41; i++)
        src[i] = noise(&seed);
    FOR_EACH_FAMILY(f, k) {
        /* 1-4 rows left after the blocks of 8 take their own loop (a stem's channels) */
        static const int64_t shapes[][2] = {{37, 41}, {8, 8}, {16, 9}, {1, 20}, {20, 1}, {9, 24},
                                            {3, 29}, {2, 7}, {4, 33}, {11, 5}, {12, 17}};
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int64_t rows = shapes[s][0], cols = shapes[s][1];
            memset(dst, 0, sizeof dst);
            k->transpose(src, 41, rows, cols, dst, 50);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < cols; c++)
                    cr_assert_eq(dst[c * 50 + r], src[r * 41 + c], "%s %lldx%lld (%lld, %lld)", k->name,
                                 (long long)rows, (long long)cols, (long long)r, (long long)c);
        }
    }
}

static double activation_ref(gemm_activation act, double x, const float *p)
{
    switch (act) {
    case GEMM_ACTIVATION_CLIP: return fmin(fmax(x, p[0]), p[1]);
    case GEMM_ACTIVATION_HARD_SIGMOID: return fmax(0, fmin(1, p[0] * x + p[1]));
    case GEMM_ACTIVATION_HARD_SWISH: return x * fmax(0, fmin(1, x / 6 + 0.5));
    case GEMM_ACTIVATION_SILU: return x / (1 + exp(-x));
    case GEMM_ACTIVATION_RELU: return fmax(x, 0);
    default: return x;
    }
}

/* C = W X with a per-row bias, then the residual and activation in either order, on every GEMM
 * family, at sizes that leave partial tiles. */
Test(conv_kernels, gemm_epilogue_convolution_activations)
{
    static const gemm_activation acts[] = {GEMM_ACTIVATION_CLIP, GEMM_ACTIVATION_HARD_SIGMOID,
                                           GEMM_ACTIVATION_HARD_SWISH, GEMM_ACTIVATION_SILU, GEMM_ACTIVATION_RELU};
    const float params[2] = {-0.25f, 0.75f};
    uint32_t seed = 9;
    enum { M = 19, N = 53, K = 37 };
    float a[M * K], b[K * N], bias[M], residual[M * N], c[M * N];
    for (int i = 0; i < M * K; i++)
        a[i] = noise(&seed);
    for (int i = 0; i < K * N; i++)
        b[i] = noise(&seed);
    for (int i = 0; i < M; i++)
        bias[i] = noise(&seed);
    for (int i = 0; i < M * N; i++)
        residual[i] = noise(&seed);
    for (size_t f = 0; f < sizeof families / sizeof *families; f++) {
        const gemm_kernel *kernel = gemm_kernel_get(families[f]);
        if (!kernel)
            continue;
        for (size_t ai = 0; ai < sizeof acts / sizeof *acts; ai++)
            for (int first = 0; first < 2; first++) {
                gemm_plan plan;
                gemm_plan_init(&plan, kernel, M, N, K, false, false, NULL);
                gemm_args args = {.a = a, .lda = K, .b = b, .ldb = N, .c = c, .ldc = N, .alpha = 1, .beta = 0,
                                  .epilogue = {.row_bias = bias, .activation = acts[ai],
                                               .params = {params[0], params[1]}, .residual = residual,
                                               .ld_residual = N, .residual_first = first}};
                gemm_run(&plan, &args, 0, gemm_plan_tasks(&plan), NULL);
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double x = bias[i];
                        for (int p = 0; p < K; p++)
                            x += (double)a[i * K + p] * b[p * N + j];
                        double want = first ? activation_ref(acts[ai], x + residual[i * N + j], params)
                                            : activation_ref(acts[ai], x, params) + residual[i * N + j];
                        cr_assert(fabs(c[i * N + j] - want) <= 2e-5 * (1 + fabs(want)),
                                  "%s activation %d first %d: (%d, %d) is %g, not %g", gemm_kernel_name(kernel),
                                  acts[ai], first, i, j, c[i * N + j], want);
                    }
            }
    }
}

/* ---- the fusion pass --------------------------------------------------------------------- */

/* The convolution the fusion tests build: X [1, C, H, W] -> Conv (3x3, stride `stride`, pads 1,
 * group `group`, M maps) with a bias, then the chain `tail` builds from value "y"; the graph's
 * output is "out". The narrow shape keeps the product in its plain orientation; the wide one
 * (more maps than a register tile's rows, 35 positions) turns it around; the long one (3
 * channels, rows of 12 outputs at stride 2) reads the input in place through phase planes;
 * the winograd one (8 channels, unit stride) runs Winograd F(2x2, 3x3) (conv_state). */
typedef void (*tail_fn)(builder *b);
typedef struct conv_shape {
    int64_t c, h, w, m;
} conv_shape;
static const conv_shape narrow = {6, 9, 11, 6}, wide = {20, 7, 5, 24}, long_rows = {3, 9, 24, 6},
                        winograd = {8, 9, 13, 10};
static conv_shape shape = {6, 9, 11, 6};

static builder *conv_model(int64_t group, int64_t stride, tail_fn tail)
{
    builder *b = builder_new(17);
    uint32_t seed = 21;
    int64_t per_group = shape.c / group, wn = shape.m * per_group * 9;
    float *w = builder_alloc(b, (size_t)wn * sizeof(float));
    float *bias = builder_alloc(b, (size_t)shape.m * sizeof(float));
    for (int64_t i = 0; i < wn; i++)
        w[i] = noise(&seed);
    for (int64_t i = 0; i < shape.m; i++)
        bias[i] = noise(&seed);
    builder_input(b, "x", ONYX_DTYPE_FLOAT, 4, DIMS(1, shape.c, shape.h, shape.w), NULL);
    builder_initializer(b, "w", ONYX_DTYPE_FLOAT, 4, DIMS(shape.m, per_group, 3, 3), w);
    builder_initializer(b, "b", ONYX_DTYPE_FLOAT, 1, DIMS(shape.m), bias);
    Onnx__NodeProto *conv = builder_node(b, "Conv", "x,w,b", "y");
    builder_attr_ints(b, conv, "pads", 4, INT64S(1, 1, 1, 1));
    builder_attr_ints(b, conv, "strides", 2, INT64S(stride, stride));
    builder_attr_int(b, conv, "group", group);
    tail(b);
    builder_output(b, "out", ONYX_DTYPE_FLOAT);
    return b;
}

/* The shortcut: a second Conv of x, 1x1 at `stride` (the output shape of the 3x3 one at that stride). */
static void shortcut_with_stride(builder *b, int64_t stride)
{
    uint32_t seed = 33;
    float *w = builder_alloc(b, (size_t)(shape.m * shape.c) * sizeof(float));
    for (int64_t i = 0; i < shape.m * shape.c; i++)
        w[i] = noise(&seed);
    builder_initializer(b, "w2", ONYX_DTYPE_FLOAT, 4, DIMS(shape.m, shape.c, 1, 1), w);
    builder_attr_ints(b, builder_node(b, "Conv", "x,w2", "z"), "strides", 2, INT64S(stride, stride));
}
static void shortcut(builder *b) { shortcut_with_stride(b, 1); }

/* The shortcut of a stride-2 block (1x1, stride 2): the residual of its strided Conv. */
static void tail_strided_add_relu(builder *b)
{
    shortcut_with_stride(b, 2);
    builder_node(b, "Add", "y,z", "sum");
    builder_node(b, "Relu", "sum", "out");
}

static void tail_relu(builder *b) { builder_node(b, "Relu", "y", "out"); }
static void tail_add_relu(builder *b)
{
    shortcut(b);
    builder_node(b, "Add", "y,z", "sum");
    builder_node(b, "Relu", "sum", "out");
}
static void tail_silu(builder *b)
{
    builder_node(b, "Sigmoid", "y", "s");
    builder_node(b, "Mul", "y,s", "out");
}
static void tail_hardswish_add(builder *b)
{
    shortcut(b);
    builder_node(b, "HardSwish", "y", "h");
    builder_node(b, "Add", "h,z", "out");
}
static void tail_hardswish(builder *b) { builder_node(b, "HardSwish", "y", "out"); }
static void tail_clip(builder *b)
{
    float lo = 0, hi = 0.5f;
    builder_initializer(b, "lo", ONYX_DTYPE_FLOAT, 0, NULL, &lo);
    builder_initializer(b, "hi", ONYX_DTYPE_FLOAT, 0, NULL, &hi);
    builder_node(b, "Clip", "y,lo,hi", "out");
}
static void tail_hardsigmoid(builder *b)
{
    Onnx__NodeProto *n = builder_node(b, "HardSigmoid", "y", "out");
    builder_attr_float(b, n, "alpha", 0.3f);
    builder_attr_float(b, n, "beta", 0.4f);
}
static void tail_add_sigmoid(builder *b)
{
    /* Add then an activation other than Relu: the Add alone joins the Conv. */
    shortcut(b);
    builder_node(b, "Add", "y,z", "sum");
    builder_node(b, "Sigmoid", "sum", "out");
}

/* BatchNormalization after the Conv (folded into it), then Relu (fused). */
static void tail_batch_norm_relu(builder *b)
{
    uint32_t seed = 51;
    float *params = builder_alloc(b, 4 * (size_t)shape.m * sizeof(float));
    for (int64_t i = 0; i < 4 * shape.m; i++)
        params[i] = noise(&seed);
    for (int64_t i = 0; i < shape.m; i++)
        params[3 * shape.m + i] = 0.5f + params[3 * shape.m + i] * params[3 * shape.m + i]; /* var > 0 */
    const char *names[4] = {"scale", "shift", "mean", "var"};
    for (int k = 0; k < 4; k++)
        builder_initializer(b, names[k], ONYX_DTYPE_FLOAT, 1, DIMS(shape.m), params + k * shape.m);
    Onnx__NodeProto *n = builder_node(b, "BatchNormalization", "y,scale,shift,mean,var", "normalized");
    builder_attr_float(b, n, "epsilon", 1e-3f);
    builder_node(b, "Relu", "normalized", "out");
}

/* What the passes made of b (loaded with them on), in live nodes: onyx.FusedConv with each
 * layout flag set and with both, with a channel scale (input 4), and onyx.GlobalAveragePool. */
typedef struct fused_counts {
    int last_output, last_input, both, scaled, means;
} fused_counts;

/* The model b makes, loaded with the passes on (free with onyx_model_free). */
static onyx_model *loaded(builder *b)
{
    size_t size;
    const uint8_t *bytes = builder_pack(b, &size);
    onyx_options *o;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    onyx_model *m;
    cr_assert_eq(onyx_model_load_buffer(bytes, size, o, &m), ONYX_OK, "%s", onyx_model_errmsg(m));
    onyx_options_free(o);
    return m;
}

/* Live nodes of (domain, op_type) in the model b makes when loaded with the passes on. */
static int live_nodes(builder *b, const char *domain, const char *op_type)
{
    onyx_model *m = loaded(b);
    int count = 0;
    for (int i = 0; i < m->graph.n_nodes; i++) {
        const node *n = &m->graph.nodes[i];
        count += !n->dead && !strcmp(n->op_type, op_type) && !strcmp(n->domain, domain);
    }
    onyx_model_free(m);
    return count;
}

static fused_counts fused_nodes(builder *b)
{
    onyx_model *m = loaded(b);
    fused_counts count = {0};
    for (int i = 0; i < m->graph.n_nodes; i++) {
        const node *n = &m->graph.nodes[i];
        if (n->dead)
            continue;
        const attribute *out = node_attr(n, "channels_last_output"), *in = node_attr(n, "channels_last_input");
        count.last_output += out && out->i == 1;
        count.last_input += in && in->i == 1;
        count.both += out && out->i == 1 && in && in->i == 1;
        count.scaled += !strcmp(n->op_type, "FusedConv") && n->n_inputs == 5 && n->inputs[4] >= 0;
        count.means += !strcmp(n->domain, "onyx") && !strcmp(n->op_type, "GlobalAveragePool");
    }
    onyx_model_free(m);
    return count;
}

/* Counts live onyx.FusedConv nodes in the model b makes when loaded with the passes on. */
static int fused_convs(builder *b) { return live_nodes(b, "onyx", "FusedConv"); }

/* b's output 0 on `input` with the passes on is the one with them off, at 1 and 2 threads. */
static void same_fused_and_plain(builder *b, const onyx_tensor *input)
{
    for (int threads = 1; threads <= 2; threads++) {
        run_result fused = run_model_with(b, (run_settings){.threads = threads}, 1, input);
        run_result plain = run_model_with(b, (run_settings){.threads = threads, .plain = true}, 1, input);
        cr_assert_eq(fused.run, ONYX_OK, "%s", fused.message);
        cr_assert_eq(plain.run, ONYX_OK, "%s", plain.message);
        const onyx_tensor *f = &fused.outputs[0], *p = &plain.outputs[0];
        expect_tensor(f, ONYX_DTYPE_FLOAT, p->rank, p->dims, p->data, 1e-5);
        run_result_free(&fused);
        run_result_free(&plain);
    }
}

/* same_fused_and_plain on an [n, c, h, w] image of noise from `seed`. */
static void same_on_noise(builder *b, int64_t n, int64_t c, int64_t h, int64_t w, uint32_t seed)
{
    float *x = malloc((size_t)(n * c * h * w) * sizeof(float));
    for (int64_t j = 0; j < n * c * h * w; j++)
        x[j] = noise(&seed);
    onyx_tensor input = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(n, c, h, w), x);
    same_fused_and_plain(b, &input);
    free(x);
}

static void same_with_and_without_fusion(tail_fn tail, int64_t group, int64_t stride, int want_fused)
{
    builder *b = conv_model(group, stride, tail);
    cr_assert_eq(fused_convs(b), want_fused);
    same_on_noise(b, 1, shape.c, shape.h, shape.w, 45);
    builder_free(b);
}

Test(conv_fusion, relu) { same_with_and_without_fusion(tail_relu, 1, 1, 1); }
Test(conv_fusion, strided_relu) { same_with_and_without_fusion(tail_relu, 1, 2, 1); }
Test(conv_fusion, depthwise_relu) { same_with_and_without_fusion(tail_relu, 6, 1, 1); }
Test(conv_fusion, grouped_silu) { same_with_and_without_fusion(tail_silu, 3, 1, 1); }
Test(conv_fusion, depthwise_silu) { same_with_and_without_fusion(tail_silu, 6, 2, 1); }
Test(conv_fusion, residual_then_relu) { same_with_and_without_fusion(tail_add_relu, 1, 1, 1); }
Test(conv_fusion, depthwise_residual_then_relu) { same_with_and_without_fusion(tail_add_relu, 6, 1, 1); }
Test(conv_fusion, hardswish_then_residual) { same_with_and_without_fusion(tail_hardswish_add, 1, 1, 1); }
Test(conv_fusion, depthwise_hardswish_then_residual) { same_with_and_without_fusion(tail_hardswish_add, 6, 1, 1); }
Test(conv_fusion, clip) { same_with_and_without_fusion(tail_clip, 2, 1, 1); }
/* The depthwise rows apply the cheap activations as they store (rows wider than any family's
 * vector, so that the rows kernel takes them rather than the channels-in-lanes one). */
Test(conv_fusion, depthwise_activations_in_the_rows)
{
    shape = (conv_shape){6, 9, 40, 6};
    same_with_and_without_fusion(tail_relu, 6, 1, 1);
    same_with_and_without_fusion(tail_clip, 6, 1, 1);
    same_with_and_without_fusion(tail_hardsigmoid, 6, 2, 1);
    same_with_and_without_fusion(tail_hardswish, 6, 1, 1);
    same_with_and_without_fusion(tail_hardswish, 6, 2, 1);
    shape = narrow;
}
Test(conv_fusion, hardsigmoid) { same_with_and_without_fusion(tail_hardsigmoid, 1, 2, 1); }
Test(conv_fusion, residual_before_another_activation) { same_with_and_without_fusion(tail_add_sigmoid, 1, 1, 1); }

/* The product turned around: 24 maps over 35 (and, strided, 12) positions. */
Test(conv_fusion, turned_around_relu)
{
    shape = wide;
    same_with_and_without_fusion(tail_relu, 1, 1, 1);
    same_with_and_without_fusion(tail_relu, 1, 2, 1);
    shape = narrow;
}
Test(conv_fusion, turned_around_residual_then_relu)
{
    shape = wide;
    same_with_and_without_fusion(tail_add_relu, 1, 1, 1);
    same_with_and_without_fusion(tail_hardswish_add, 1, 1, 1);
    same_with_and_without_fusion(tail_silu, 1, 1, 1);
    shape = narrow;
}
Test(conv_fusion, shifted_epilogues)
{
    shape = long_rows;
    same_with_and_without_fusion(tail_relu, 1, 2, 1);
    same_with_and_without_fusion(tail_strided_add_relu, 1, 2, 1);
    same_with_and_without_fusion(tail_batch_norm_relu, 1, 2, 1);
    shape = narrow;
}
Test(conv_fusion, winograd_epilogues)
{
    shape = winograd;
    same_with_and_without_fusion(tail_relu, 1, 1, 1);
    same_with_and_without_fusion(tail_add_relu, 1, 1, 1);
    same_with_and_without_fusion(tail_hardswish_add, 1, 1, 1);
    same_with_and_without_fusion(tail_batch_norm_relu, 1, 1, 1);
    shape = narrow;
}
Test(conv_fusion, turned_around_grouped_stays_plain)
{
    shape = wide;
    same_with_and_without_fusion(tail_silu, 2, 1, 1);
    shape = narrow;
}

/* MobileNet's and EfficientNet's expansion: a 1x1 Conv (c -> m) and activation, then a
 * depthwise k x k Conv of the m channels at `stride` and activation. The value between them
 * goes channels last (both nodes flagged); the outputs are the unfused graph's, at 1 and 2
 * threads. */
typedef struct expansion {
    int64_t c, h, w, m, k, stride;
    const char *first, *second; /* activations: "HardSwish", "Relu" or "SiLU" */
    int64_t batch;              /* images (0: 1) */
    int64_t stem_k, stem_stride; /* the first Conv a stem's (kernel, stride, half-kernel pads) instead of 1x1 */
} expansion;

static void activation_node(builder *b, const char *kind, const char *in, const char *out)
{
    if (strcmp(kind, "SiLU") != 0) {
        builder_node(b, kind, in, out);
        return;
    }
    char sig[64], inputs[160];
    snprintf(sig, sizeof sig, "%s_sigmoid", in);
    snprintf(inputs, sizeof inputs, "%s,%s", in, sig);
    builder_node(b, "Sigmoid", in, sig);
    builder_node(b, "Mul", inputs, out);
}

static builder *expansion_model(const expansion *e)
{
    builder *b = builder_new(17);
    uint32_t seed = 71;
    int64_t k1 = e->stem_k ? e->stem_k : 1;
    float *w1 = builder_alloc(b, (size_t)(e->m * e->c * k1 * k1) * sizeof(float));
    float *w2 = builder_alloc(b, (size_t)(e->m * e->k * e->k) * sizeof(float));
    float *b1 = builder_alloc(b, (size_t)e->m * sizeof(float)), *b2 = builder_alloc(b, (size_t)e->m * sizeof(float));
    for (int64_t i = 0; i < e->m * e->c * k1 * k1; i++)
        w1[i] = noise(&seed);
    for (int64_t i = 0; i < e->m * e->k * e->k; i++)
        w2[i] = noise(&seed);
    for (int64_t i = 0; i < e->m; i++) {
        b1[i] = noise(&seed);
        b2[i] = noise(&seed);
    }
    builder_input(b, "x", ONYX_DTYPE_FLOAT, 4, DIMS(e->batch ? e->batch : 1, e->c, e->h, e->w), NULL);
    builder_initializer(b, "w1", ONYX_DTYPE_FLOAT, 4, DIMS(e->m, e->c, k1, k1), w1);
    builder_initializer(b, "b1", ONYX_DTYPE_FLOAT, 1, DIMS(e->m), b1);
    builder_initializer(b, "w2", ONYX_DTYPE_FLOAT, 4, DIMS(e->m, 1, e->k, e->k), w2);
    builder_initializer(b, "b2", ONYX_DTYPE_FLOAT, 1, DIMS(e->m), b2);
    Onnx__NodeProto *first = builder_node(b, "Conv", "x,w1,b1", "y1");
    if (e->stem_k) {
        builder_attr_ints(b, first, "pads", 4, INT64S(k1 / 2, k1 / 2, k1 / 2, k1 / 2));
        builder_attr_ints(b, first, "strides", 2, INT64S(e->stem_stride, e->stem_stride));
    }
    activation_node(b, e->first, "y1", "a1");
    Onnx__NodeProto *dw = builder_node(b, "Conv", "a1,w2,b2", "y2");
    int64_t pad = e->k / 2;
    builder_attr_ints(b, dw, "pads", 4, INT64S(pad, pad, pad, pad));
    builder_attr_ints(b, dw, "strides", 2, INT64S(e->stride, e->stride));
    builder_attr_int(b, dw, "group", e->m);
    activation_node(b, e->second, "y2", "out");
    builder_output(b, "out", ONYX_DTYPE_FLOAT);
    return b;
}

Test(conv_fusion, expansion_then_depthwise_channels_last)
{
    static const expansion cases[] = {
        {5, 9, 21, 16, 3, 1, "HardSwish", "HardSwish"}, {3, 12, 20, 24, 3, 2, "SiLU", "SiLU"},
        {4, 7, 7, 40, 5, 1, "Relu", "HardSwish"},       {6, 14, 14, 13, 5, 2, "SiLU", "Relu"},
        {2, 5, 33, 9, 3, 1, "Relu", "SiLU"},           {3, 9, 18, 20, 3, 2, "HardSwish", "SiLU", 3},
        /* stems: 3x3/2 from 3 channels (MobileNetV3's, EfficientNet's), 5x5, 7x7/2, batch 2 */
        {3, 17, 19, 16, 3, 2, "HardSwish", "HardSwish", 0, 3, 2}, {3, 16, 16, 32, 3, 1, "SiLU", "SiLU", 2, 3, 2},
        {1, 11, 13, 8, 5, 2, "Relu", "SiLU", 0, 5, 1},            {4, 15, 9, 12, 3, 1, "SiLU", "Relu", 0, 7, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const expansion *e = &cases[i];
        builder *b = expansion_model(e);
        cr_assert_eq(fused_nodes(b).last_output, 1, "case %zu", i);
        cr_assert_eq(fused_nodes(b).last_input, 1, "case %zu", i);
        same_on_noise(b, e->batch ? e->batch : 1, e->c, e->h, e->w, 81);
        builder_free(b);
    }
}

/* A first convolution over more channels than a stem's, with a window: it stays NCHW. */
Test(conv_fusion, wide_convolution_then_depthwise_stays_nchw)
{
    expansion e = {5, 8, 16, 8, 3, 1, "Relu", "Relu", 0, 3, 1};
    builder *b = expansion_model(&e);
    cr_assert_eq(fused_nodes(b).last_output, 0);
    cr_assert_eq(fused_nodes(b).last_input, 0);
    builder_free(b);
}

/* The value between the two read by another node too: it stays NCHW. */
Test(conv_fusion, expansion_read_twice_stays_nchw)
{
    expansion e = {4, 8, 16, 8, 3, 1, "Relu", "Relu"};
    builder *b = expansion_model(&e);
    builder_node(b, "Identity", "a1", "also");
    builder_output(b, "also", ONYX_DTYPE_FLOAT);
    cr_assert_eq(fused_nodes(b).last_output, 0);
    cr_assert_eq(fused_nodes(b).last_input, 0);
    builder_free(b);
}

/* A squeeze-and-excitation scale before a 1x1 projection: S = Sigmoid(GlobalAveragePool(X))
 * (or a constant [1, C, 1, 1]), Mul(S, X) (or Mul(X, S)), Conv 1x1 C -> M, maybe + X. */
typedef struct scaled {
    int64_t n, c, h, w, m;
    bool scale_second, residual, constant, kernel3; /* kernel3: a 3x3 Conv instead, never folded */
    int readers;                                     /* nodes reading the Mul's output (0: 1) */
} scaled;

static builder *scaled_model(const scaled *e)
{
    builder *b = builder_new(17);
    uint32_t seed = 91;
    int64_t k = e->kernel3 ? 3 : 1;
    float *w = builder_alloc(b, (size_t)(e->m * e->c * k * k) * sizeof(float));
    float *bias = builder_alloc(b, (size_t)e->m * sizeof(float)), *s = builder_alloc(b, (size_t)e->c * sizeof(float));
    for (int64_t i = 0; i < e->m * e->c * k * k; i++)
        w[i] = noise(&seed);
    for (int64_t i = 0; i < e->m; i++)
        bias[i] = noise(&seed);
    for (int64_t i = 0; i < e->c; i++)
        s[i] = noise(&seed);
    builder_input(b, "x", ONYX_DTYPE_FLOAT, 4, DIMS(e->n, e->c, e->h, e->w), NULL);
    builder_initializer(b, "w", ONYX_DTYPE_FLOAT, 4, DIMS(e->m, e->c, k, k), w);
    builder_initializer(b, "b", ONYX_DTYPE_FLOAT, 1, DIMS(e->m), bias);
    if (e->constant) {
        builder_initializer(b, "s", ONYX_DTYPE_FLOAT, 4, DIMS(1, e->c, 1, 1), s);
    } else {
        builder_node(b, "GlobalAveragePool", "x", "pooled");
        builder_node(b, "Sigmoid", "pooled", "s");
    }
    builder_node(b, "Mul", e->scale_second ? "x,s" : "s,x", "scaled");
    Onnx__NodeProto *conv = builder_node(b, "Conv", "scaled,w,b", e->residual ? "y" : "out");
    if (e->kernel3)
        builder_attr_ints(b, conv, "pads", 4, INT64S(1, 1, 1, 1));
    if (e->residual)
        builder_node(b, "Add", "y,x", "out");
    builder_output(b, "out", ONYX_DTYPE_FLOAT);
    if (e->readers > 1) {
        builder_node(b, "Identity", "scaled", "also");
        builder_output(b, "also", ONYX_DTYPE_FLOAT);
    }
    return b;
}

/* The scale folded into the projection's weights (many positions: the product reads X in
 * place) or into its copy of X (few: the product turned around), per image, against the graph
 * run node by node; where it must not fold (a 3x3 kernel, the Mul's output read twice), the
 * graph is left as it is. */
Test(conv_fusion, channel_scale_folded_into_the_projection)
{
    static const scaled cases[] = {
        {1, 16, 17, 19, 24},
        {2, 16, 17, 19, 24, true},
        {3, 40, 7, 9, 24},
        {2, 40, 7, 9, 40, false, true},
        {1, 24, 20, 20, 24, true, true},
        {2, 12, 11, 13, 20, false, false, true},
        {2, 40, 5, 7, 32, true, false, true},
        {1, 8, 9, 9, 8, false, false, false, true},
        {1, 16, 17, 19, 24, false, false, false, false, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const scaled *e = &cases[i];
        builder *b = scaled_model(e);
        cr_assert_eq(fused_nodes(b).scaled, e->kernel3 || e->readers > 1 ? 0 : 1, "case %zu", i);
        same_on_noise(b, e->n, e->c, e->h, e->w, 93);
        builder_free(b);
    }
}

/* A small inverted-residual network, MobileNetV3's and EfficientNet's shapes of it: stem
 * (3x3/2 from 3 channels, HardSwish), depthwise 3x3 (ReLU) with a squeeze-and-excitation
 * (HardSigmoid), projection; expansion (SiLU), depthwise (SiLU, stride `stride`) with an SE
 * (Sigmoid), projection plus the shortcut (when stride is 1); head 1x1 (HardSwish), global
 * average, Flatten. */
static float *noise_tensor(builder *b, int64_t count, uint32_t *seed)
{
    float *t = builder_alloc(b, (size_t)count * sizeof(float));
    for (int64_t i = 0; i < count; i++)
        t[i] = noise(seed);
    return t;
}

static void conv_node(builder *b, uint32_t *seed, const char *in, const char *out, int64_t c, int64_t m,
                      int64_t k, int64_t stride, int64_t group)
{
    char w[64], bias[64], inputs[200];
    snprintf(w, sizeof w, "%s_w", out);
    snprintf(bias, sizeof bias, "%s_b", out);
    snprintf(inputs, sizeof inputs, "%s,%s,%s", in, w, bias);
    /* Weights of about 1 / sqrt(fan-in), so that values stay near 1 however wide the layers. */
    int64_t fan_in = c / group * k * k;
    float *weights = noise_tensor(b, m * fan_in, seed);
    for (int64_t i = 0; i < m * fan_in; i++)
        weights[i] /= sqrtf((float)fan_in);
    builder_initializer(b, w, ONYX_DTYPE_FLOAT, 4, DIMS(m, c / group, k, k), weights);
    builder_initializer(b, bias, ONYX_DTYPE_FLOAT, 1, DIMS(m), noise_tensor(b, m, seed));
    Onnx__NodeProto *n = builder_node(b, "Conv", inputs, out);
    builder_attr_ints(b, n, "pads", 4, INT64S(k / 2, k / 2, k / 2, k / 2));
    builder_attr_ints(b, n, "strides", 2, INT64S(stride, stride));
    builder_attr_int(b, n, "group", group);
}

/* Mul(x, gate(fc2(relu(fc1(GlobalAveragePool(x)))))) into out. */
static void excitation(builder *b, uint32_t *seed, const char *x, const char *out, int64_t c, const char *gate)
{
    char names[5][64];
    const char *suffix[5] = {"pool", "fc1", "act", "fc2", "gate"};
    for (int i = 0; i < 5; i++)
        snprintf(names[i], sizeof names[i], "%s_%s", out, suffix[i]);
    builder_node(b, "GlobalAveragePool", x, names[0]);
    conv_node(b, seed, names[0], names[1], c, c / 2, 1, 1, 1);
    builder_node(b, "Relu", names[1], names[2]);
    conv_node(b, seed, names[2], names[3], c / 2, c, 1, 1, 1);
    activation_node(b, gate, names[3], names[4]);
    char inputs[140];
    snprintf(inputs, sizeof inputs, "%s,%s", x, names[4]);
    builder_node(b, "Mul", inputs, out);
}

/* Channels: the stem's and first block's c1, the projections' c2, the expansion's c3, the
 * head's c4. */
static builder *inverted_residual_model(int64_t n, int64_t h, int64_t w, int64_t stride, const int64_t c[4])
{
    builder *b = builder_new(17);
    uint32_t seed = 97;
    builder_input(b, "x", ONYX_DTYPE_FLOAT, 4, DIMS(n, 3, h, w), NULL);
    conv_node(b, &seed, "x", "stem", 3, c[0], 3, 2, 1);
    builder_node(b, "HardSwish", "stem", "a0");
    conv_node(b, &seed, "a0", "dw1", c[0], c[0], 3, 1, c[0]);
    builder_node(b, "Relu", "dw1", "d1");
    excitation(b, &seed, "d1", "e1", c[0], "HardSigmoid");
    conv_node(b, &seed, "e1", "p1", c[0], c[1], 1, 1, 1);
    conv_node(b, &seed, "p1", "ex", c[1], c[2], 1, 1, 1);
    activation_node(b, "SiLU", "ex", "x2");
    conv_node(b, &seed, "x2", "dw2", c[2], c[2], 3, stride, c[2]);
    activation_node(b, "SiLU", "dw2", "d2");
    excitation(b, &seed, "d2", "e2", c[2], "Sigmoid");
    conv_node(b, &seed, "e2", stride == 1 ? "y2" : "p2", c[2], c[1], 1, 1, 1);
    if (stride == 1)
        builder_node(b, "Add", "y2,p1", "p2");
    conv_node(b, &seed, "p2", "head", c[1], c[3], 1, 1, 1);
    builder_node(b, "HardSwish", "head", "h");
    builder_node(b, "GlobalAveragePool", "h", "g");
    builder_node(b, "Flatten", "g", "out");
    builder_output(b, "out", ONYX_DTYPE_FLOAT);
    return b;
}

/* Every value between the network's convolutions channels last (the stem writes them, each
 * depthwise, projection, expansion and the head read and write them, the three global
 * averages read them), against the graph run node by node. */
Test(conv_fusion, inverted_residual_network_channels_last)
{
    /* n, h, w, stride, then the channels; wide ones make the 1x1 products on few positions cut
     * their maps into chunks (every family's panels), and 40x36 cut its positions in blocks */
    static const int64_t cases[][8] = {{1, 19, 17, 1, 8, 8, 24, 16},    {2, 16, 16, 1, 8, 8, 24, 16},
                                       {1, 23, 20, 2, 8, 8, 24, 16},    {3, 9, 12, 2, 8, 8, 24, 16},
                                       {1, 13, 11, 1, 16, 96, 144, 64}, {2, 13, 11, 2, 16, 112, 40, 200},
                                       {1, 40, 36, 1, 8, 24, 48, 16}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t n = cases[i][0], h = cases[i][1], w = cases[i][2];
        builder *b = inverted_residual_model(n, h, w, cases[i][3], cases[i] + 4);
        fused_counts count = fused_nodes(b);
        cr_assert_eq(count.last_output, 7, "case %zu", i);
        cr_assert_eq(count.both, 6, "case %zu", i);
        cr_assert_eq(count.scaled, 2, "case %zu", i);
        cr_assert_eq(count.means, 3, "case %zu", i);
        same_on_noise(b, n, 3, h, w, 99);
        builder_free(b);
    }
}

/* ---- ConvNeXt's blocks ---- */

static void transpose_node(builder *b, const char *in, const char *out, const int64_t perm[4])
{
    builder_attr_ints(b, builder_node(b, "Transpose", in, out), "perm", 4, perm);
}

/* LayerNormalization over the last axis of [.., c] `in`, into out. */
static void layer_norm(builder *b, uint32_t *seed, const char *in, const char *out, int64_t c)
{
    char scale[64], bias[64], inputs[200];
    snprintf(scale, sizeof scale, "%s_scale", out);
    snprintf(bias, sizeof bias, "%s_bias", out);
    snprintf(inputs, sizeof inputs, "%s,%s,%s", in, scale, bias);
    float *gain = noise_tensor(b, c, seed);
    for (int64_t i = 0; i < c; i++)
        gain[i] += 1.5f;
    builder_initializer(b, scale, ONYX_DTYPE_FLOAT, 1, DIMS(c), gain);
    builder_initializer(b, bias, ONYX_DTYPE_FLOAT, 1, DIMS(c), noise_tensor(b, c, seed));
    builder_attr_int(b, builder_node(b, "LayerNormalization", inputs, out), "axis", -1);
}

/* MatMul(in, W[rows, cols]) + bias into out. */
static void linear(builder *b, uint32_t *seed, const char *in, const char *out, int64_t rows, int64_t cols)
{
    char names[3][64], inputs[200];
    const char *suffix[3] = {"w", "b", "product"};
    for (int i = 0; i < 3; i++)
        snprintf(names[i], sizeof names[i], "%s_%s", out, suffix[i]);
    float *w = noise_tensor(b, rows * cols, seed);
    for (int64_t i = 0; i < rows * cols; i++)
        w[i] /= sqrtf((float)rows);
    builder_initializer(b, names[0], ONYX_DTYPE_FLOAT, 2, DIMS(rows, cols), w);
    builder_initializer(b, names[1], ONYX_DTYPE_FLOAT, 1, DIMS(cols), noise_tensor(b, cols, seed));
    snprintf(inputs, sizeof inputs, "%s,%s", in, names[0]);
    builder_node(b, "MatMul", inputs, names[2]);
    snprintf(inputs, sizeof inputs, "%s,%s", names[1], names[2]); /* bias first, as torch writes it */
    builder_node(b, "Add", inputs, out);
}

/* A ConvNeXt block on [N, c, H, W] `in`, as torchvision writes it: depthwise 7x7, Transpose to
 * channels last, LayerNorm, Linear to 4c, GELU (erf, written out), Linear to c, Transpose back,
 * layer scale (Mul by [c, 1, 1]), shortcut. */
static void convnext_block(builder *b, uint32_t *seed, const char *in, const char *out, int64_t c)
{
    char v[10][64], inputs[200];
    const char *suffix[10] = {"dw", "nhwc", "ln", "fc1", "div", "erf", "plus", "gelu", "fc2", "back"};
    for (int i = 0; i < 10; i++)
        snprintf(v[i], sizeof v[i], "%s_%s", out, suffix[i]);
    conv_node(b, seed, in, v[0], c, c, 7, 1, c);
    transpose_node(b, v[0], v[1], INT64S(0, 2, 3, 1));
    layer_norm(b, seed, v[1], v[2], c);
    linear(b, seed, v[2], v[3], c, 4 * c);
    snprintf(inputs, sizeof inputs, "%s,sqrt2", v[3]);
    builder_node(b, "Div", inputs, v[4]);
    builder_node(b, "Erf", v[4], v[5]);
    snprintf(inputs, sizeof inputs, "%s,one", v[5]);
    builder_node(b, "Add", inputs, v[6]);
    snprintf(inputs, sizeof inputs, "%s,%s", v[3], v[6]);
    builder_node(b, "Mul", inputs, v[7]);
    char half[80];
    snprintf(half, sizeof half, "%s_half", out);
    snprintf(inputs, sizeof inputs, "%s,half", v[7]);
    builder_node(b, "Mul", inputs, half);
    linear(b, seed, half, v[8], 4 * c, c);
    transpose_node(b, v[8], v[9], INT64S(0, 3, 1, 2));
    char gamma[80], scaled[80];
    snprintf(gamma, sizeof gamma, "%s_gamma", out);
    snprintf(scaled, sizeof scaled, "%s_scaled", out);
    builder_initializer(b, gamma, ONYX_DTYPE_FLOAT, 3, DIMS(c, 1, 1), noise_tensor(b, c, seed));
    snprintf(inputs, sizeof inputs, "%s,%s", gamma, v[9]);
    builder_node(b, "Mul", inputs, scaled);
    snprintf(inputs, sizeof inputs, "%s,%s", scaled, in);
    builder_node(b, "Add", inputs, out);
}

/* A small ConvNeXt: stem 2x2/2 from 3 channels to c with its LayerNorm (channels last between
 * two transposes), two blocks, a downsampling (LayerNorm the same way, 2x2/2 to 2c), two
 * blocks, global average, Flatten. */
static builder *convnext_model(int64_t n, int64_t h, int64_t w, int64_t c)
{
    builder *b = builder_new(17);
    uint32_t seed = 71;
    builder_input(b, "x", ONYX_DTYPE_FLOAT, 4, DIMS(n, 3, h, w), NULL);
    builder_initializer(b, "sqrt2", ONYX_DTYPE_FLOAT, 0, NULL, (const float[]){1.4142135f});
    builder_initializer(b, "one", ONYX_DTYPE_FLOAT, 0, NULL, (const float[]){1.0f});
    builder_initializer(b, "half", ONYX_DTYPE_FLOAT, 0, NULL, (const float[]){0.5f});
    conv_node(b, &seed, "x", "stem", 3, c, 2, 2, 1);
    transpose_node(b, "stem", "stem_nhwc", INT64S(0, 2, 3, 1));
    layer_norm(b, &seed, "stem_nhwc", "stem_ln", c);
    transpose_node(b, "stem_ln", "s0", INT64S(0, 3, 1, 2));
    convnext_block(b, &seed, "s0", "s1", c);
    convnext_block(b, &seed, "s1", "s2", c);
    transpose_node(b, "s2", "down_nhwc", INT64S(0, 2, 3, 1));
    layer_norm(b, &seed, "down_nhwc", "down_ln", c);
    transpose_node(b, "down_ln", "down_nchw", INT64S(0, 3, 1, 2));
    conv_node(b, &seed, "down_nchw", "s3", c, 2 * c, 2, 2, 1);
    convnext_block(b, &seed, "s3", "s4", 2 * c);
    convnext_block(b, &seed, "s4", "s5", 2 * c);
    builder_node(b, "GlobalAveragePool", "s5", "g");
    builder_node(b, "Flatten", "g", "out");
    builder_output(b, "out", ONYX_DTYPE_FLOAT);
    return b;
}

/* The stream between the blocks channels last: each depthwise convolution reads and writes
 * [N, H, W, C] (the first after the downsampling behind a transpose moved onto its input),
 * the stem writes them, the second Linear of each block takes the layer scale and the
 * shortcut; three transposes are left (before the downsampling convolution, the moved one,
 * before the global average). Against the graph run node by node. */
Test(conv_fusion, convnext_stream_channels_last)
{
    /* n, h, w, c: odd sizes (the stem and the downsampling drop a row or column), 2-D images
     * wide enough for several GEMM panels, batches */
    static const int64_t cases[][4] = {{1, 18, 22, 8}, {2, 15, 13, 8}, {1, 28, 28, 24}, {3, 12, 20, 16}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t n = cases[i][0], h = cases[i][1], w = cases[i][2], c = cases[i][3];
        builder *b = convnext_model(n, h, w, c);
        fused_counts count = fused_nodes(b);
        cr_assert_eq(count.both, 4, "case %zu", i);
        cr_assert_eq(count.last_output, 5, "case %zu", i);
        cr_assert_eq(live_nodes(b, "", "Transpose"), 3, "case %zu", i);
        cr_assert_eq(live_nodes(b, "", "Mul") + live_nodes(b, "", "Add"), 0, "case %zu", i);
        same_on_noise(b, n, 3, h, w, 5);
        builder_free(b);
    }
}

/* onyx.GlobalAveragePool over [N, spatial..., C] against the mean in double; rank 2 refused. */
Test(conv_fusion, channels_last_global_average)
{
    static const int64_t shapes[][5] = {{3, 2, 5, 70, 0}, {4, 1, 3, 4, 130}, {4, 2, 1, 1, 9}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        int rank = (int)shapes[i][0];
        const int64_t *dims = shapes[i] + 1;
        int64_t count = 1, n = dims[0], c = dims[rank - 1];
        for (int d = 0; d < rank; d++)
            count *= dims[d];
        float *x = malloc((size_t)count * sizeof(float)), *want = malloc((size_t)(n * c) * sizeof(float));
        uint32_t seed = 101;
        for (int64_t j = 0; j < count; j++)
            x[j] = noise(&seed);
        int64_t positions = count / (n * c);
        for (int64_t image = 0; image < n; image++)
            for (int64_t ch = 0; ch < c; ch++) {
                double sum = 0;
                for (int64_t p = 0; p < positions; p++)
                    sum += x[(image * positions + p) * c + ch];
                want[image * c + ch] = (float)(sum / (double)positions);
            }
        builder *b = builder_new(17);
        builder_import(b, "onyx", 1);
        builder_input(b, "x", ONYX_DTYPE_FLOAT, rank, dims, NULL);
        builder_node(b, "GlobalAveragePool", "x", "y")->domain = "onyx";
        builder_output(b, "y", ONYX_DTYPE_FLOAT);
        onyx_tensor input = tensor_of(ONYX_DTYPE_FLOAT, rank, dims, x);
        run_result r = run_model_with(b, (run_settings){.threads = 2}, 1, &input);
        cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
        int64_t ydims[4] = {n, c, 1, 1};
        expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, rank, ydims, want, 1e-5);
        run_result_free(&r);
        builder_free(b);
        free(x);
        free(want);
    }
    builder *b = builder_new(17);
    builder_import(b, "onyx", 1);
    float x[6] = {0};
    builder_input(b, "x", ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), NULL);
    builder_node(b, "GlobalAveragePool", "x", "y")->domain = "onyx";
    builder_output(b, "y", ONYX_DTYPE_FLOAT);
    onyx_tensor input = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 3), x);
    run_result r = run_model_with(b, (run_settings){.threads = 1}, 1, &input);
    onyx_status st = r.load ? r.load : r.run;
    cr_assert_eq(st, ONYX_ERROR_INVALID_MODEL, "%s", r.message);
    cr_assert(strstr(r.message, "rank 3"), "%s", r.message);
    run_result_free(&r);
    builder_free(b);
}

/* Runs b (written by hand, the passes off) and expects it refused as an invalid model with a
 * message naming onyx.FusedConv and `word`; frees b. */
static void expect_fused_conv_refused(builder *b, int n_inputs, const onyx_tensor *inputs, const char *word, int i)
{
    run_result r = run_model_with(b, (run_settings){.threads = 1, .plain = true}, n_inputs, inputs);
    onyx_status st = r.load ? r.load : r.run;
    cr_assert_eq(st, ONYX_ERROR_INVALID_MODEL, "case %d: %s", i, r.message);
    cr_assert(strstr(r.message, word) && strstr(r.message, "FusedConv"), "case %d: %s", i, r.message);
    run_result_free(&r);
    builder_free(b);
}

/* onyx.FusedConv written by hand with a channel scale it cannot take (a 3x3 kernel; a scale
 * of the wrong shape): a clear error, no crash. */
Test(conv_fusion, channel_scale_refused_where_it_does_not_apply)
{
    for (int i = 0; i < 2; i++) {
        builder *b = builder_new(17);
        builder_import(b, "onyx", 1);
        float w[4 * 5 * 9] = {0}, x[5 * 6 * 6] = {0}, s[5 * 2] = {0};
        int64_t k = i == 0 ? 3 : 1;
        builder_input(b, "x", ONYX_DTYPE_FLOAT, 4, DIMS(1, 5, 6, 6), NULL);
        builder_initializer(b, "w", ONYX_DTYPE_FLOAT, 4, DIMS(4, 5, k, k), w);
        builder_initializer(b, "s", ONYX_DTYPE_FLOAT, 4, i == 0 ? DIMS(1, 5, 1, 1) : DIMS(1, 5, 1, 2), s);
        Onnx__NodeProto *n = builder_node(b, "FusedConv", "x,w,,,s", "y");
        n->domain = "onyx";
        builder_output(b, "y", ONYX_DTYPE_FLOAT);
        onyx_tensor input = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 5, 6, 6), x);
        expect_fused_conv_refused(b, 1, &input, "scale", i);
    }
}

/* onyx.FusedConv written by hand with layout flags its convolution cannot take: a clear error,
 * no crash. */
Test(conv_fusion, channels_last_flags_refused_where_they_do_not_apply)
{
    static const struct {
        int64_t x[4], w[4], group;
        const char *flags[2];
        bool residual;
    } cases[] = {
        /* a 3x3 kernel over more channels than a stem's, writing channels last; with both flags */
        {{1, 5, 5, 5}, {4, 5, 3, 3}, 1, {"channels_last_output"}, false},
        {{1, 5, 5, 5}, {4, 5, 3, 3}, 1, {"channels_last_output", "channels_last_input"}, false},
        /* depthwise reading channels last with a residual; writing them from NCHW */
        {{1, 5, 5, 4}, {4, 1, 3, 3}, 4, {"channels_last_input"}, true},
        {{1, 4, 5, 5}, {4, 1, 3, 3}, 4, {"channels_last_output"}, false},
        /* a 1x1 product reading channels last but writing NCHW */
        {{1, 5, 5, 5}, {4, 5, 1, 1}, 1, {"channels_last_input"}, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        builder *b = builder_new(17);
        builder_import(b, "onyx", 1);
        float w[4 * 5 * 9] = {0}, x[5 * 5 * 5] = {0};
        builder_input(b, "x", ONYX_DTYPE_FLOAT, 4, cases[i].x, NULL);
        if (cases[i].residual)
            builder_input(b, "r", ONYX_DTYPE_FLOAT, 4, DIMS(1, 4, 3, 3), NULL);
        builder_initializer(b, "w", ONYX_DTYPE_FLOAT, 4, cases[i].w, w);
        Onnx__NodeProto *n = builder_node(b, "FusedConv", cases[i].residual ? "x,w,,r" : "x,w", "y");
        n->domain = "onyx";
        builder_attr_int(b, n, "group", cases[i].group);
        for (int k = 0; k < 2 && cases[i].flags[k]; k++)
            builder_attr_int(b, n, cases[i].flags[k], 1);
        builder_output(b, "y", ONYX_DTYPE_FLOAT);
        onyx_tensor inputs[2] = {tensor_of(ONYX_DTYPE_FLOAT, 4, cases[i].x, x),
                                 tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, 4, 3, 3), x)};
        expect_fused_conv_refused(b, cases[i].residual ? 2 : 1, inputs, "channels_last", (int)i);
    }
}

/* onyx.FusedConv with its channels last on no images, or with no maps: empty outputs of the
 * right shape, nothing run. */
Test(conv_fusion, channels_last_convolutions_of_empty_images)
{
    static const struct {
        int64_t x[4], w[4], group, y[4];
        const char *flag;
    } cases[] = {
        {{0, 5, 4, 4}, {4, 5, 1, 1}, 1, {0, 4, 4, 4}, "channels_last_output"},
        {{0, 4, 5, 4}, {4, 1, 3, 3}, 4, {0, 4, 4, 5}, "channels_last_input"},
        {{1, 3, 6, 6}, {0, 3, 3, 3}, 1, {1, 6, 6, 0}, "channels_last_output"},
        {{1, 5, 4, 4}, {0, 5, 1, 1}, 1, {1, 4, 4, 0}, "channels_last_output"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        builder *b = builder_new(17);
        builder_import(b, "onyx", 1);
        float w[4 * 5 * 9] = {0}, x[3 * 6 * 6] = {0};
        builder_input(b, "x", ONYX_DTYPE_FLOAT, 4, cases[i].x, NULL);
        builder_initializer(b, "w", ONYX_DTYPE_FLOAT, 4, cases[i].w, w);
        Onnx__NodeProto *n = builder_node(b, "FusedConv", "x,w", "y");
        n->domain = "onyx";
        builder_attr_int(b, n, "group", cases[i].group);
        builder_attr_ints(b, n, "pads", 4, cases[i].w[2] == 3 ? INT64S(1, 1, 1, 1) : INT64S(0, 0, 0, 0));
        builder_attr_int(b, n, cases[i].flag, 1);
        builder_output(b, "y", ONYX_DTYPE_FLOAT);
        onyx_tensor input = tensor_of(ONYX_DTYPE_FLOAT, 4, cases[i].x, x);
        run_result r = run_model_with(b, (run_settings){.threads = 2, .plain = true}, 1, &input);
        cr_assert_eq(r.load, ONYX_OK, "case %zu: %s", i, r.message);
        cr_assert_eq(r.run, ONYX_OK, "case %zu: %s", i, r.message);
        expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 4, cases[i].y, NULL, 0);
        run_result_free(&r);
        builder_free(b);
    }
}

/* ---- Conv against a plain reference ------------------------------------------------------ */

typedef struct conv_case {
    int64_t c, h, w, m, k, stride, pad, group, dilation;
} conv_case;

/* Y of a Conv with bias, computed the plain way in double. */
static void conv_reference(const conv_case *t, const float *x, const float *w, const float *bias, int64_t oh,
                           int64_t ow, float *y)
{
    int64_t cg = t->c / t->group, mg = t->m / t->group;
    for (int64_t m = 0; m < t->m; m++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                double acc = bias[m];
                for (int64_t c = 0; c < cg; c++)
                    for (int64_t ky = 0; ky < t->k; ky++)
                        for (int64_t kx = 0; kx < t->k; kx++) {
                            int64_t iy = oy * t->stride - t->pad + ky * t->dilation;
                            int64_t ix = ox * t->stride - t->pad + kx * t->dilation;
                            if (iy >= 0 && iy < t->h && ix >= 0 && ix < t->w)
                                acc += (double)w[((m * cg + c) * t->k + ky) * t->k + kx] *
                                       x[((m / mg * cg + c) * t->h + iy) * t->w + ix];
                        }
                y[(m * oh + oy) * ow + ox] = (float)acc;
            }
}

/* Every way Conv runs in float32: the plain orientation (im2col blocks, in place for 1x1),
 * turned around (few positions, direct or not), depthwise, grouped, Winograd, and a strided
 * stem read through phase planes; 1 and 2 threads. */
Test(conv_kernels, conv_matches_a_plain_reference)
{
    static const conv_case cases[] = {
        {6, 9, 11, 6, 3, 1, 1, 1},   {20, 7, 5, 24, 3, 1, 1, 1}, {20, 7, 5, 24, 1, 1, 0, 1},
        {33, 7, 7, 40, 3, 2, 1, 1},  {16, 1, 1, 24, 1, 1, 0, 1}, {12, 13, 13, 12, 3, 2, 1, 12},
        {8, 10, 9, 16, 5, 1, 2, 8},  {9, 12, 12, 6, 3, 1, 0, 3}, {3, 30, 30, 50, 7, 2, 3, 1},
        {64, 14, 14, 64, 1, 1, 0, 1},   {24, 9, 8, 32, 3, 1, 2, 1, 2}, {10, 20, 20, 16, 3, 2, 2, 1, 2},
        {3, 40, 62, 10, 7, 2, 3, 1},
        {16, 11, 11, 16, 3, 1, 2, 16, 2}, {20, 7, 7, 20, 5, 1, 2, 20},  {36, 9, 9, 36, 3, 2, 1, 36},
        {17, 7, 7, 17, 3, 1, 2, 17, 2},  {18, 30, 20, 18, 5, 1, 2, 18}, {21, 25, 23, 21, 7, 2, 3, 21},
        /* Winograd F(2x2, 3x3): odd and even planes, no padding, padding beyond a tile, maps in
         * chunks, bands of tile rows */
        {64, 17, 19, 37, 3, 1, 1, 1},   {9, 6, 33, 13, 3, 1, 0, 1},   {16, 3, 3, 8, 3, 1, 2, 1},
        {128, 14, 14, 72, 3, 1, 1, 1},  {8, 58, 40, 8, 3, 1, 1, 1},
    };
    uint32_t seed = 77;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        conv_case t_ = cases[i];
        t_.dilation = t_.dilation ? t_.dilation : 1;
        const conv_case *t = &t_;
        int64_t span = (t->k - 1) * t->dilation + 1;
        int64_t oh = (t->h + 2 * t->pad - span) / t->stride + 1, ow = (t->w + 2 * t->pad - span) / t->stride + 1;
        int64_t xn = t->c * t->h * t->w, wn = t->m * (t->c / t->group) * t->k * t->k, yn = t->m * oh * ow;
        float *x = malloc((size_t)xn * sizeof(float)), *w = malloc((size_t)wn * sizeof(float));
        float *bias = malloc((size_t)t->m * sizeof(float)), *want = malloc((size_t)yn * sizeof(float));
        for (int64_t j = 0; j < xn; j++)
            x[j] = noise(&seed);
        for (int64_t j = 0; j < wn; j++)
            w[j] = noise(&seed);
        for (int64_t j = 0; j < t->m; j++)
            bias[j] = noise(&seed);
        conv_reference(t, x, w, bias, oh, ow, want);
        onyx_tensor values[3] = {
            tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, t->c, t->h, t->w), x),
            tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(t->m, t->c / t->group, t->k, t->k), w),
            tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(t->m), bias),
        };
        builder *b = builder_single_node(17, "Conv", "x,w,b", values, 6, "y");
        Onnx__NodeProto *n = builder_first_node(b);
        builder_attr_ints(b, n, "pads", 4, INT64S(t->pad, t->pad, t->pad, t->pad));
        builder_attr_ints(b, n, "strides", 2, INT64S(t->stride, t->stride));
        builder_attr_int(b, n, "group", t->group);
        builder_attr_ints(b, n, "dilations", 2, INT64S(t->dilation, t->dilation));
        for (int threads = 1; threads <= 2; threads++) {
            run_result r = run_model_with(b, (run_settings){.threads = threads}, 1, values);
            cr_assert_eq(r.run, ONYX_OK, "case %zu: %s", i, r.message);
            expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 4, DIMS(1, t->m, oh, ow), want, 1e-4);
            run_result_free(&r);
        }
        builder_free(b);
        free(x);
        free(w);
        free(bias);
        free(want);
    }
}

Test(conv_fusion, batch_norm_folded_then_relu)
{
    same_with_and_without_fusion(tail_batch_norm_relu, 1, 1, 1);
    same_with_and_without_fusion(tail_batch_norm_relu, 6, 2, 1);
    shape = wide;
    same_with_and_without_fusion(tail_batch_norm_relu, 1, 1, 1);
    shape = narrow;
    builder *b = conv_model(1, 1, tail_batch_norm_relu);
    cr_assert_eq(live_nodes(b, "", "BatchNormalization"), 0);
    builder_free(b);
}
