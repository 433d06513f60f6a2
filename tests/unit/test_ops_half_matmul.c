/* Beyond the ONNX test suite: MatMul of float16 and bfloat16 over sizes that cross the blocks
 * in which onyx widens the operands (64 rows, 128 columns, 256 terms of the sum), with batch
 * dims broadcast and 1-D operands; which versions take bfloat16; QLinearMatMul's float16
 * scales refused where they may not be; Attention of bfloat16 on a single key. Expected
 * values are integers summed exactly here and rounded to the type by integer arithmetic (ties
 * to even), never taken from onyx's own output. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Significant bits, the implicit one included. */
#define HALF_BITS 11
#define BFLOAT16_BITS 8

/* The integer v >= 0 rounded to `bits` significant bits, ties to even. */
static int64_t round_int(int64_t v, int bits)
{
    int64_t spacing = 1;
    while (v / spacing >= (int64_t)1 << bits)
        spacing *= 2;
    int64_t q = v / spacing, r = v % spacing;
    if (2 * r > spacing || (2 * r == spacing && (q & 1)))
        q++;
    return q * spacing;
}

/* The bits of the integer v (0 <= v < 65536, exactly representable) as float16 or bfloat16. */
static uint16_t bits_of(onyx_dtype dtype, int64_t v)
{
    if (dtype == ONYX_DTYPE_BFLOAT16) {
        float f = (float)v;
        uint32_t x;
        memcpy(&x, &f, 4);
        cr_assert_eq(x & 0xffff, 0u, "%lld is not a bfloat16", (long long)v);
        return (uint16_t)(x >> 16);
    }
    if (v == 0)
        return 0;
    int e = 0;
    while (v >> (e + 1))
        e++; /* v = 1.m * 2^e */
    int64_t mant = e >= 10 ? v >> (e - 10) : v << (10 - e);
    cr_assert_eq(e >= 10 ? mant << (e - 10) : mant >> (10 - e), v, "%lld is not a float16", (long long)v);
    return (uint16_t)((e + 15) << 10 | (mant & 0x3ff));
}

/* Small integers 0..7 from a fixed pattern, as 16-bit words and as integers. */
static void fill(onyx_dtype dtype, int64_t n, int seed, uint16_t *words, int64_t *ints)
{
    for (int64_t i = 0; i < n; i++) {
        ints[i] = (int64_t)(((uint32_t)((uint64_t)i * 2654435761u + (uint64_t)seed * 97) >> 7) % 8);
        words[i] = bits_of(dtype, ints[i]);
    }
}

/* Runs b, asserts that it loads and runs, and that output 0 has dtype and the words `want`. */
static void expect_words(builder *b, int n_inputs, const onyx_tensor *inputs, onyx_dtype dtype, int rank,
                         const int64_t *dims, const uint16_t *want)
{
    run_result r = run_model(b, n_inputs, inputs);
    cr_assert_eq(r.load, ONYX_OK, "%s", r.message);
    cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
    cr_assert_eq(r.outputs[0].dtype, dtype, "dtype %s", onyx_dtype_name(r.outputs[0].dtype));
    onyx_tensor words = r.outputs[0];
    words.dtype = ONYX_DTYPE_UINT16;
    expect_tensor(&words, ONYX_DTYPE_UINT16, rank, dims, want, 0);
    run_result_free(&r);
    builder_free(b);
}

/* A (m x k) times B (k x n) with each block boundary crossed and sums of some thousands:
 * float16 spaces those by 2 to 8 and bfloat16 by 8 to 64, so most results round (some as
 * exact ties, to the even neighbour). */
static void odd_sizes(onyx_dtype dtype, int bits)
{
    enum { M = 70, K = 300, N = 130 };
    uint16_t *a = malloc(sizeof(uint16_t) * M * K), *b = malloc(sizeof(uint16_t) * K * N);
    uint16_t *want = malloc(sizeof(uint16_t) * M * N);
    int64_t *ai = malloc(sizeof(int64_t) * M * K), *bi = malloc(sizeof(int64_t) * K * N);
    fill(dtype, M * K, 1, a, ai);
    fill(dtype, K * N, 2, b, bi);
    bool rounded = false;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            int64_t sum = 0;
            for (int64_t p = 0; p < K; p++)
                sum += ai[i * K + p] * bi[p * N + j];
            rounded |= round_int(sum, bits) != sum;
            want[i * N + j] = bits_of(dtype, round_int(sum, bits));
        }
    cr_assert(rounded, "no sum needs rounding: the test tests nothing");
    onyx_tensor in[2] = {tensor_of(dtype, 2, DIMS(M, K), a), tensor_of(dtype, 2, DIMS(K, N), b)};
    expect_words(builder_single_node(13, "MatMul", "A,B", in, 0, "Y"), 2, in, dtype, 2, DIMS(M, N), want);
    /* B a constant of the model (float32 would pack it). */
    expect_words(builder_single_node(13, "MatMul", "A,B", in, 2, "Y"), 1, in, dtype, 2, DIMS(M, N), want);
    free(a), free(b), free(want), free(ai), free(bi);
}

Test(half_matmul, float16_odd_sizes_rounded_once) { odd_sizes(ONYX_DTYPE_FLOAT16, HALF_BITS); }
Test(half_matmul, bfloat16_odd_sizes_rounded_once) { odd_sizes(ONYX_DTYPE_BFLOAT16, BFLOAT16_BITS); }

/* A [2, 1, 3, 5] times B [3, 5, 4]: Y [2, 3, 3, 4], A repeating along B's 3 and B along A's 2. */
static void batched_broadcast(onyx_dtype dtype)
{
    uint16_t a[30], b[60], want[72];
    int64_t ai[30], bi[60];
    fill(dtype, 30, 3, a, ai);
    fill(dtype, 60, 4, b, bi);
    for (int64_t x = 0; x < 2; x++)
        for (int64_t h = 0; h < 3; h++)
            for (int64_t i = 0; i < 3; i++)
                for (int64_t j = 0; j < 4; j++) {
                    int64_t sum = 0;
                    for (int64_t p = 0; p < 5; p++)
                        sum += ai[x * 15 + i * 5 + p] * bi[h * 20 + p * 4 + j];
                    want[((x * 3 + h) * 3 + i) * 4 + j] = bits_of(dtype, sum);
                }
    onyx_tensor in[2] = {tensor_of(dtype, 4, DIMS(2, 1, 3, 5), a), tensor_of(dtype, 3, DIMS(3, 5, 4), b)};
    expect_words(builder_single_node(13, "MatMul", "A,B", in, 0, "Y"), 2, in, dtype, 4, DIMS(2, 3, 3, 4),
                 want);
}

Test(half_matmul, float16_batch_dims_broadcast) { batched_broadcast(ONYX_DTYPE_FLOAT16); }
Test(half_matmul, bfloat16_batch_dims_broadcast) { batched_broadcast(ONYX_DTYPE_BFLOAT16); }

Test(half_matmul, one_dimensional_operands)
{
    /* a [3] = (1, 2, 3) times B [2, 3, 2] (rows (1,0), (0,1), (1,1) then (2,1), (0,2), (1,0)):
     * the vector promoted to a row and squeezed again, Y [2, 2] = (1+3, 2+3), (2+3, 1+4). */
    uint16_t a[3], b[12];
    int64_t av[3] = {1, 2, 3}, bv[12] = {1, 0, 0, 1, 1, 1, 2, 1, 0, 2, 1, 0};
    for (int i = 0; i < 3; i++)
        a[i] = bits_of(ONYX_DTYPE_FLOAT16, av[i]);
    for (int i = 0; i < 12; i++)
        b[i] = bits_of(ONYX_DTYPE_FLOAT16, bv[i]);
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT16, 1, DIMS(3), a),
                         tensor_of(ONYX_DTYPE_FLOAT16, 3, DIMS(2, 3, 2), b)};
    const uint16_t want[4] = {bits_of(ONYX_DTYPE_FLOAT16, 4), bits_of(ONYX_DTYPE_FLOAT16, 5),
                              bits_of(ONYX_DTYPE_FLOAT16, 5), bits_of(ONYX_DTYPE_FLOAT16, 5)};
    expect_words(builder_single_node(9, "MatMul", "A,B", in, 0, "Y"), 2, in, ONYX_DTYPE_FLOAT16, 2,
                 DIMS(2, 2), want);
    /* Without a sum (k = 0) the product is zeros. */
    onyx_tensor empty[2] = {tensor_of(ONYX_DTYPE_BFLOAT16, 2, DIMS(2, 0), NULL),
                            tensor_of(ONYX_DTYPE_BFLOAT16, 2, DIMS(0, 3), NULL)};
    expect_words(builder_single_node(13, "MatMul", "A,B", empty, 0, "Y"), 2, empty, ONYX_DTYPE_BFLOAT16, 2,
                 DIMS(2, 3), (const uint16_t[]){0, 0, 0, 0, 0, 0});
}

Test(half_matmul, bfloat16_only_from_version_13)
{
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_BFLOAT16, 2, DIMS(1, 1), (const uint16_t[]){0x3f80}),
                         tensor_of(ONYX_DTYPE_BFLOAT16, 2, DIMS(1, 1), (const uint16_t[]){0x4000})};
    builder *b = builder_single_node(12, "MatMul", "A,B", in, 0, "Y");
    run_result r = run_model(b, 2, in);
    cr_assert_neq(r.load, ONYX_OK, "bfloat16 MatMul-9 loaded");
    expect_message(r.message, "bfloat16", NULL);
    run_result_free(&r);
    builder_free(b);
    expect_words(builder_single_node(13, "MatMul", "A,B", in, 0, "Y"), 2, in, ONYX_DTYPE_BFLOAT16, 2,
                 DIMS(1, 1), (const uint16_t[]){0x4000});
}

/* ---- QLinearMatMul's scales ---------------------------------------------------------------- */

static void qlinear_refused(int opset, onyx_dtype a_scale, onyx_dtype b_scale, const char *what)
{
    const uint16_t one_half = 0x3c00;
    const float one = 1.0f;
    onyx_tensor in[8] = {
        tensor_of(ONYX_DTYPE_UINT8, 2, DIMS(1, 1), (const uint8_t[]){2}),
        tensor_of(a_scale, 0, NULL, a_scale == ONYX_DTYPE_FLOAT ? (const void *)&one : &one_half),
        tensor_of(ONYX_DTYPE_UINT8, 0, NULL, (const uint8_t[]){0}),
        tensor_of(ONYX_DTYPE_UINT8, 2, DIMS(1, 1), (const uint8_t[]){3}),
        tensor_of(b_scale, 0, NULL, b_scale == ONYX_DTYPE_FLOAT ? (const void *)&one : &one_half),
        tensor_of(ONYX_DTYPE_UINT8, 0, NULL, (const uint8_t[]){0}),
        tensor_of(a_scale, 0, NULL, a_scale == ONYX_DTYPE_FLOAT ? (const void *)&one : &one_half),
        tensor_of(ONYX_DTYPE_UINT8, 0, NULL, (const uint8_t[]){0}),
    };
    builder *b = builder_single_node(opset, "QLinearMatMul", "a,as,az,b,bs,bz,ys,yz", in, 0, "y");
    run_result r = run_model(b, 8, in);
    if (!what) {
        /* 2 * 3 * (1 * 1 / 1) = 6. */
        cr_assert_eq(r.load, ONYX_OK, "%s", r.message);
        cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
        expect_tensor(&r.outputs[0], ONYX_DTYPE_UINT8, 2, DIMS(1, 1), (const uint8_t[]){6}, 0);
    } else {
        cr_assert_neq(r.load, ONYX_OK, "loaded");
        expect_message(r.message, what, NULL);
    }
    run_result_free(&r);
    builder_free(b);
}

Test(half_matmul, qlinear_float16_scales_from_version_21)
{
    qlinear_refused(21, ONYX_DTYPE_FLOAT16, ONYX_DTYPE_FLOAT16, NULL);
    qlinear_refused(20, ONYX_DTYPE_FLOAT16, ONYX_DTYPE_FLOAT16, "float16");
    qlinear_refused(21, ONYX_DTYPE_FLOAT16, ONYX_DTYPE_FLOAT, "dtype");
}

/* ---- Attention of bfloat16 ----------------------------------------------------------------- */

Test(half_matmul, bfloat16_attention_on_one_key_gives_its_value)
{
    /* One key: its probability is 1 whatever the score, softcap or precision, so Y = V, and
     * the probabilities of qk_matmul_output mode 3 are 1 (0x3f80). Q [1, 1, 1, 2]. */
    const uint16_t q[2] = {0x3f80, 0xc000}, k[2] = {0x4040, 0x3f00}, v[2] = {0x3fc0, 0xbe80};
    onyx_tensor in[3] = {tensor_of(ONYX_DTYPE_BFLOAT16, 4, DIMS(1, 1, 1, 2), q),
                         tensor_of(ONYX_DTYPE_BFLOAT16, 4, DIMS(1, 1, 1, 2), k),
                         tensor_of(ONYX_DTYPE_BFLOAT16, 4, DIMS(1, 1, 1, 2), v)};
    for (int precision = 0; precision < 3; precision++) {
        builder *b = builder_single_node(24, "Attention", "Q,K,V", in, 0, "Y,PK,PV,QK");
        Onnx__NodeProto *node = builder_first_node(b);
        builder_attr_float(b, node, "softcap", 2.0f);
        builder_attr_int(b, node, "qk_matmul_output_mode", 3);
        if (precision)
            builder_attr_int(b, node, "softmax_precision", precision == 1 ? 1 : 11);
        run_result r = run_model(b, 3, in);
        cr_assert_eq(r.load, ONYX_OK, "%s", r.message);
        cr_assert_eq(r.run, ONYX_OK, "%s", r.message);
        onyx_tensor y = r.outputs[0], qk = r.outputs[3];
        cr_assert_eq(y.dtype, ONYX_DTYPE_BFLOAT16);
        y.dtype = qk.dtype = ONYX_DTYPE_UINT16;
        expect_tensor(&y, ONYX_DTYPE_UINT16, 4, DIMS(1, 1, 1, 2), v, 0);
        expect_tensor(&qk, ONYX_DTYPE_UINT16, 4, DIMS(1, 1, 1, 1), (const uint16_t[]){0x3f80}, 0);
        run_result_free(&r);
        builder_free(b);
    }
}
