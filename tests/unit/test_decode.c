/* Decoding with a KV cache: onyx_session_carry and host buffers against PyTorch's greedy decode
 * (models/decoder_NAME/greedy.json), re-planning for grown shapes against a fresh plan, and the
 * carry API's errors. */
#include "harness.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IDS 128
#define MAX_PAIRS 16

static const char *const decoders[] = {"decoder_gpt2", "decoder_llama", "decoder_gpt2_dynamo",
                                       "decoder_llama_dynamo"};

/* The integers of list `key` in a greedy.json ({"prompt_ids": [...], "new_ids": [...], ...}). */
static int read_ids(const char *name, const char *key, int64_t *ids)
{
    char path[512], text[8192];
    snprintf(path, sizeof path, "%s/models/%s/greedy.json", ONYX_SOURCE_DIR, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\": [", key);
    const char *p = strstr(text, quoted);
    cr_assert_not_null(p, "%s has no %s", path, key);
    p += strlen(quoted);
    int count = 0;
    while (*p && *p != ']' && count < MAX_IDS) {
        char *end;
        ids[count++] = strtoll(p, &end, 10);
        p = end;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return count;
}

typedef struct decoder {
    onyx_model *model;
    onyx_session *session;
    int ids, mask, pos, logits;
    int n_pairs;
    int past[MAX_PAIRS], present[MAX_PAIRS];
    int64_t kv_heads[MAX_PAIRS], head_dim[MAX_PAIRS];
} decoder;

/* Outputs copied into a caller's buffer (the log says so at debug level), where the kernel should
 * have written them in place. */
static int copied_outputs;

static void count_copies(void *user, onyx_log_level level, const char *message)
{
    (void)user;
    (void)level;
    if (strstr(message, "copied into its buffer"))
        copied_outputs++;
}

static void decoder_open(decoder *d, const char *name, int threads)
{
    char path[512];
    snprintf(path, sizeof path, "%s/models/%s/model.onnx", ONYX_SOURCE_DIR, name);
    onyx_options *o;
    onyx_options_create(&o);
    onyx_options_set_threads(o, threads);
    onyx_options_set_log(o, count_copies, NULL, ONYX_LOG_DEBUG);
    cr_assert_eq(onyx_model_load_file(path, o, &d->model), ONYX_OK, "%s", onyx_model_errmsg(d->model));
    cr_assert_eq(onyx_session_create(d->model, NULL, &d->session), ONYX_OK);
    onyx_options_free(o);
    d->ids = onyx_model_input_index(d->model, "input_ids");
    d->mask = onyx_model_input_index(d->model, "attention_mask");
    d->pos = onyx_model_input_index(d->model, "position_ids");
    d->logits = onyx_model_output_index(d->model, "logits");
    cr_assert(d->ids >= 0 && d->mask >= 0 && d->pos >= 0 && d->logits >= 0);
    d->n_pairs = 0;
    for (size_t i = 0; i < onyx_model_input_count(d->model); i++) {
        onyx_value_info info;
        onyx_model_input_info(d->model, i, &info);
        if (strncmp(info.name, "past_key_values", 15))
            continue;
        char out[256];
        snprintf(out, sizeof out, "present%s", info.name + 15);
        cr_assert_lt(d->n_pairs, MAX_PAIRS);
        d->past[d->n_pairs] = (int)i;
        d->present[d->n_pairs] = onyx_model_output_index(d->model, out);
        d->kv_heads[d->n_pairs] = info.dims[1];
        d->head_dim[d->n_pairs] = info.dims[3];
        cr_assert_geq(d->present[d->n_pairs], 0, "no output %s", out);
        d->n_pairs++;
    }
    cr_assert_gt(d->n_pairs, 0);
}

static void decoder_close(decoder *d)
{
    onyx_session_free(d->session);
    onyx_model_free(d->model);
}

/* Binds input_ids (n tokens at ids), attention_mask and position_ids for `done` cached tokens. */
static void bind_tokens(decoder *d, const int64_t *ids, int64_t n, int64_t done)
{
    static int64_t ones[1024], pos[1024];
    for (int64_t i = 0; i < done + n; i++)
        ones[i] = 1, pos[i] = i;
    onyx_tensor t_ids = tensor_of(ONYX_DTYPE_INT64, 2, DIMS(1, n), ids);
    onyx_tensor t_mask = tensor_of(ONYX_DTYPE_INT64, 2, DIMS(1, done + n), ones);
    onyx_tensor t_pos = tensor_of(ONYX_DTYPE_INT64, 2, DIMS(1, n), pos + done);
    cr_assert_eq(onyx_session_set_input(d->session, (size_t)d->ids, &t_ids), ONYX_OK);
    cr_assert_eq(onyx_session_set_input(d->session, (size_t)d->mask, &t_mask), ONYX_OK);
    cr_assert_eq(onyx_session_set_input(d->session, (size_t)d->pos, &t_pos), ONYX_OK);
}

static int64_t argmax_last(decoder *d)
{
    onyx_tensor y;
    cr_assert_eq(onyx_session_get_output(d->session, (size_t)d->logits, &y), ONYX_OK);
    const float *last = (const float *)y.data + (y.dims[1] - 1) * y.dims[2];
    int64_t best = 0;
    for (int64_t v = 1; v < y.dims[2]; v++)
        if (last[v] > last[best])
            best = v;
    return best;
}

/* Greedy decode of n_new tokens after the prompt, the cache carried by the session or in host
 * buffers; returns the new ids in out. */
static void greedy(decoder *d, const int64_t *prompt, int n_prompt, int n_new, bool host, int64_t *out)
{
    int64_t ids[2 * MAX_IDS];
    memcpy(ids, prompt, (size_t)n_prompt * sizeof *ids);
    float *bufs[MAX_PAIRS][2];
    size_t capacity[MAX_PAIRS];
    onyx_tensor cache[MAX_PAIRS];
    int cur[MAX_PAIRS] = {0};
    for (int k = 0; k < d->n_pairs; k++) {
        capacity[k] = (size_t)(d->kv_heads[k] * (n_prompt + n_new) * d->head_dim[k]) * sizeof(float);
        bufs[k][0] = bufs[k][1] = NULL;
        if (host) {
            bufs[k][0] = aligned_alloc(64, capacity[k]);
            bufs[k][1] = aligned_alloc(64, capacity[k]);
        } else {
            onyx_status st = onyx_session_carry(d->session, (size_t)d->present[k], (size_t)d->past[k], 0);
            cr_assert_eq(st, ONYX_OK, "%s", onyx_session_errmsg(d->session));
        }
        cache[k] = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, d->kv_heads[k], 0, d->head_dim[k]), NULL);
        cr_assert_eq(onyx_session_set_input(d->session, (size_t)d->past[k], &cache[k]), ONYX_OK);
    }
    int64_t done = 0, n = n_prompt;
    for (int step = 0; step < n_new; step++) {
        bind_tokens(d, ids + done, n, done);
        for (int k = 0; host && k < d->n_pairs; k++) {
            cache[k].data = bufs[k][cur[k]];
            cr_assert_eq(onyx_session_set_input(d->session, (size_t)d->past[k], &cache[k]), ONYX_OK);
            void *out = bufs[k][1 - cur[k]];
            cr_assert_eq(onyx_session_set_output_buffer(d->session, (size_t)d->present[k], out, capacity[k]),
                         ONYX_OK);
        }
        cr_assert_eq(onyx_session_run(d->session), ONYX_OK, "step %d: %s", step,
                     onyx_session_errmsg(d->session));
        for (int k = 0; k < d->n_pairs; k++) {
            onyx_tensor present;
            onyx_session_get_output(d->session, (size_t)d->present[k], &present);
            cr_assert_eq(present.dims[2], done + n);
            if (host) { /* written there by the kernel: the buffer is what the output points at */
                cr_assert_eq(present.data, bufs[k][1 - cur[k]]);
                cache[k] = present;
                cur[k] = 1 - cur[k];
            }
        }
        out[step] = argmax_last(d);
        done += n;
        ids[done] = out[step];
        n = 1;
    }
    for (int k = 0; k < d->n_pairs; k++) {
        if (host) /* back to session-owned outputs before the buffers go */
            onyx_session_set_output_buffer(d->session, (size_t)d->present[k], NULL, 0);
        free(bufs[k][0]);
        free(bufs[k][1]);
    }
}

static void expect_greedy(const char *name, int threads, bool host)
{
    int64_t prompt[MAX_IDS], want[MAX_IDS], got[MAX_IDS];
    int n_prompt = read_ids(name, "prompt_ids", prompt);
    int n_new = read_ids(name, "new_ids", want);
    cr_assert_eq(n_new, 64);
    decoder d;
    decoder_open(&d, name, threads);
    copied_outputs = 0;
    greedy(&d, prompt, n_prompt, n_new, host, got);
    cr_expect_eq(copied_outputs, 0, "%s: %d outputs copied into their buffers, not written there", name,
                 copied_outputs);
    for (int i = 0; i < n_new; i++)
        cr_expect_eq(got[i], want[i], "%s (%d threads, %s): token %d is %lld, PyTorch's %lld", name, threads,
                     host ? "host buffers" : "carried", i, (long long)got[i], (long long)want[i]);
    decoder_close(&d);
}

Test(decode, greedy_with_the_cache_carried_equals_pytorch)
{
    for (size_t m = 0; m < sizeof decoders / sizeof *decoders; m++)
        expect_greedy(decoders[m], 1, false);
    expect_greedy("decoder_llama", 2, false);
}

Test(decode, greedy_with_host_buffers_equals_pytorch)
{
    for (size_t m = 0; m < sizeof decoders / sizeof *decoders; m++)
        expect_greedy(decoders[m], 1, true);
    expect_greedy("decoder_gpt2", 2, true);
}

/* One session through a sequence of shapes (past and seq growing, shrinking, batch changing:
 * each planned from the last plan) against a fresh session for each: the same outputs, bit for
 * bit. Random pasts, so that the runs see different data. */
Test(decode, replanning_for_new_shapes_equals_a_fresh_plan)
{
    static const int64_t shapes[][3] = {/* batch, seq, past */
        {1, 8, 0}, {1, 1, 8}, {1, 1, 9}, {1, 1, 10}, {1, 3, 10}, {2, 1, 10}, {2, 1, 11}, {1, 1, 5},
        {1, 1, 0}, {1, 1, 1}, {1, 5, 40}, {1, 1, 45}, {1, 1, 46}, {1, 1, 46}, {2, 4, 3}, {1, 1, 8},
        /* one token a run: the arena layout of the run before kept while the values fit */
        {1, 1, 20}, {1, 1, 21}, {1, 1, 22}, {1, 1, 23}, {1, 1, 24}, {1, 1, 25}, {1, 1, 26}, {1, 1, 60},
        {1, 1, 61}};
    static float past_data[MAX_PAIRS][2 * 4 * 64 * 64];
    for (size_t i = 0; i < sizeof past_data / sizeof(float); i++)
        ((float *)past_data)[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (size_t m = 0; m < sizeof decoders / sizeof *decoders; m++) {
        decoder kept, fresh;
        decoder_open(&kept, decoders[m], 1);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int64_t batch = shapes[s][0], seq = shapes[s][1], past = shapes[s][2];
            int64_t ids[16], mask[2 * 64], pos[2 * 16];
            cr_assert_leq(batch * (past + seq), 2 * 64);
            for (int64_t i = 0; i < batch * seq; i++)
                ids[i] = (int64_t)((s * 31 + (size_t)i * 17) % 1000);
            for (int64_t i = 0; i < batch * (past + seq); i++)
                mask[i] = 1;
            for (int64_t i = 0; i < batch * seq; i++)
                pos[i] = past + i % seq;
            decoder_open(&fresh, decoders[m], 1);
            decoder *both[2] = {&kept, &fresh};
            for (int w = 0; w < 2; w++) {
                decoder *d = both[w];
                onyx_tensor t_ids = tensor_of(ONYX_DTYPE_INT64, 2, DIMS(batch, seq), ids);
                onyx_tensor t_mask = tensor_of(ONYX_DTYPE_INT64, 2, DIMS(batch, past + seq), mask);
                onyx_tensor t_pos = tensor_of(ONYX_DTYPE_INT64, 2, DIMS(batch, seq), pos);
                cr_assert_eq(onyx_session_set_input(d->session, (size_t)d->ids, &t_ids), ONYX_OK);
                cr_assert_eq(onyx_session_set_input(d->session, (size_t)d->mask, &t_mask), ONYX_OK);
                cr_assert_eq(onyx_session_set_input(d->session, (size_t)d->pos, &t_pos), ONYX_OK);
                for (int k = 0; k < d->n_pairs; k++) {
                    const int64_t *dims = DIMS(batch, d->kv_heads[k], past, d->head_dim[k]);
                    onyx_tensor t = tensor_of(ONYX_DTYPE_FLOAT, 4, dims, past_data[k]);
                    cr_assert_eq(onyx_session_set_input(d->session, (size_t)d->past[k], &t), ONYX_OK);
                }
                cr_assert_eq(onyx_session_run(d->session), ONYX_OK, "%s: %s", decoders[m],
                             onyx_session_errmsg(d->session));
            }
            for (size_t o = 0; o < onyx_model_output_count(kept.model); o++) {
                onyx_tensor a, b;
                onyx_session_get_output(kept.session, o, &a);
                onyx_session_get_output(fresh.session, o, &b);
                cr_assert_eq(a.rank, b.rank);
                cr_assert_arr_eq(a.dims, b.dims, (size_t)a.rank * sizeof(int64_t), "%s shape %zu output %zu",
                                 decoders[m], s, o);
                double worst = 0; /* for the message */
                for (int64_t i = 0; i < onyx_tensor_element_count(&a); i++)
                    worst = fmax(worst, fabs(((float *)a.data)[i] - ((float *)b.data)[i]));
                cr_assert_arr_eq(a.data, b.data, (size_t)onyx_tensor_element_count(&a) * sizeof(float),
                                 "%s: shape %zu (batch %lld, seq %lld, past %lld), output %zu differs from a "
                                 "fresh plan's by up to %g", decoders[m], s, (long long)batch, (long long)seq,
                                 (long long)past, o, worst);
            }
            decoder_close(&fresh);
        }
        decoder_close(&kept);
    }
}

Test(decode, carry_checks_its_arguments)
{
    decoder d;
    decoder_open(&d, "decoder_llama", 1);
    onyx_session *s = d.session;
    size_t n_in = onyx_model_input_count(d.model), n_out = onyx_model_output_count(d.model);
    cr_assert_eq(onyx_session_carry(NULL, 0, 0, 0), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_session_carry(s, n_out, (size_t)d.past[0], 0), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_session_carry(s, (size_t)d.present[0], n_in, 0), ONYX_ERROR_INVALID_ARGUMENT);
    /* logits (rank 3) into a past (rank 4); a float output into input_ids (int64). */
    cr_assert_eq(onyx_session_carry(s, (size_t)d.logits, (size_t)d.past[0], 0), ONYX_ERROR_INVALID_ARGUMENT);
    expect_message(onyx_session_errmsg(s), "logits", "cannot be carried", NULL);
    cr_assert_eq(onyx_session_carry(s, (size_t)d.present[0], (size_t)d.ids, 0), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_session_carry(s, (size_t)d.present[0], (size_t)d.past[0], 0), ONYX_OK);
    /* Another output into the same input; an output buffer for a carried output. */
    cr_assert_eq(onyx_session_carry(s, (size_t)d.present[1], (size_t)d.past[0], 0),
                 ONYX_ERROR_INVALID_ARGUMENT);
    expect_message(onyx_session_errmsg(s), "already carried", NULL);
    float buf[64];
    cr_assert_eq(onyx_session_set_output_buffer(s, (size_t)d.present[0], buf, sizeof buf),
                 ONYX_ERROR_INVALID_STATE);
    /* Paired anew with itself: allowed (replaces the pairing). */
    cr_assert_eq(onyx_session_carry(s, (size_t)d.present[0], (size_t)d.past[0], 1 << 20), ONYX_OK);
    decoder_close(&d);
}

/* A carried input is rebound after each run; binding it again starts over; ending the pairing
 * leaves the input unbound when it read the session's buffer. */
Test(decode, carried_inputs_follow_the_runs)
{
    decoder d;
    decoder_open(&d, "decoder_gpt2", 1);
    onyx_session *s = d.session;
    for (int k = 0; k < d.n_pairs; k++) {
        cr_assert_eq(onyx_session_carry(s, (size_t)d.present[k], (size_t)d.past[k], 0), ONYX_OK);
        onyx_tensor empty = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, d.kv_heads[k], 0, d.head_dim[k]), NULL);
        cr_assert_eq(onyx_session_set_input(s, (size_t)d.past[k], &empty), ONYX_OK);
    }
    int64_t ids[4] = {1, 2, 3, 4};
    bind_tokens(&d, ids, 4, 0);
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    onyx_tensor first;
    onyx_session_get_output(s, (size_t)d.present[0], &first);
    int64_t logits_a = argmax_last(&d);
    bind_tokens(&d, ids + 3, 1, 4); /* past 4 now, carried */
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    onyx_tensor second;
    onyx_session_get_output(s, (size_t)d.present[0], &second);
    cr_assert_eq(second.dims[2], 5);
    cr_assert_neq(second.data, first.data, "the two buffers alternate");
    (void)logits_a;
    /* The same tokens from an empty past again: the first run's present, bit for bit. */
    float saved[4096];
    size_t bytes = (size_t)onyx_tensor_element_count(&first) * sizeof(float);
    cr_assert_leq(bytes, sizeof saved);
    bind_tokens(&d, ids, 4, 0);
    for (int k = 0; k < d.n_pairs; k++) {
        onyx_tensor empty = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, d.kv_heads[k], 0, d.head_dim[k]), NULL);
        cr_assert_eq(onyx_session_set_input(s, (size_t)d.past[k], &empty), ONYX_OK);
    }
    cr_assert_eq(onyx_session_run(s), ONYX_OK);
    onyx_tensor again;
    onyx_session_get_output(s, (size_t)d.present[0], &again);
    memcpy(saved, again.data, bytes);
    decoder fresh;
    decoder_open(&fresh, "decoder_gpt2", 1);
    for (int k = 0; k < fresh.n_pairs; k++) {
        const int64_t *dims = DIMS(1, fresh.kv_heads[k], 0, fresh.head_dim[k]);
        onyx_tensor empty = tensor_of(ONYX_DTYPE_FLOAT, 4, dims, NULL);
        onyx_session_set_input(fresh.session, (size_t)fresh.past[k], &empty);
    }
    bind_tokens(&fresh, ids, 4, 0);
    cr_assert_eq(onyx_session_run(fresh.session), ONYX_OK);
    onyx_tensor want;
    onyx_session_get_output(fresh.session, (size_t)fresh.present[0], &want);
    cr_assert_arr_eq(saved, want.data, bytes);
    decoder_close(&fresh);
    /* Ending the pairing: the input read the session's buffer, so it must be bound again. */
    cr_assert_eq(onyx_session_carry(s, (size_t)d.present[0], SIZE_MAX, 0), ONYX_OK);
    cr_assert_eq(onyx_session_run(s), ONYX_ERROR_INVALID_STATE);
    expect_message(onyx_session_errmsg(s), "past_key_values.0.key", "not set", NULL);
    decoder_close(&d);
}

/* A carried buffer that cannot grow within the memory limit fails the run, before anything runs;
 * the session stays usable. */
Test(decode, a_carried_buffer_above_the_memory_limit_fails_the_run)
{
    decoder d;
    decoder_open(&d, "decoder_llama", 1);
    onyx_session *s = d.session;
    cr_assert_eq(onyx_session_carry(s, (size_t)d.present[0], (size_t)d.past[0], (size_t)1 << 40), ONYX_OK);
    for (int k = 0; k < d.n_pairs; k++) {
        onyx_tensor empty = tensor_of(ONYX_DTYPE_FLOAT, 4, DIMS(1, d.kv_heads[k], 0, d.head_dim[k]), NULL);
        cr_assert_eq(onyx_session_set_input(s, (size_t)d.past[k], &empty), ONYX_OK);
    }
    int64_t ids[2] = {5, 6};
    bind_tokens(&d, ids, 2, 0);
    cr_assert_eq(onyx_session_run(s), ONYX_ERROR_LIMIT);
    expect_message(onyx_session_errmsg(s), "present.0.key", NULL);
    cr_assert_eq(onyx_session_carry(s, (size_t)d.present[0], (size_t)d.past[0], 0), ONYX_OK);
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    decoder_close(&d);
}

/* Cast to the input's own dtype (Hugging Face's softmax(..., dtype=float32).to(float32)) runs as a
 * view; its values are the input's, also when it is a graph output of its own. */
Test(decode, a_cast_to_the_same_dtype_keeps_the_values)
{
    builder *b = builder_new(17);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(5), NULL);
    builder_input(b, "I", ONYX_DTYPE_INT64, 1, DIMS(3), NULL);
    builder_attr_int(b, builder_node(b, "Cast", "X", "A"), "to", ONYX_DTYPE_FLOAT);
    builder_attr_int(b, builder_node(b, "Cast", "A", "B"), "to", ONYX_DTYPE_FLOAT);
    builder_node(b, "Add", "B,X", "Y");
    builder_attr_int(b, builder_node(b, "Cast", "I", "J"), "to", ONYX_DTYPE_INT64);
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    builder_output(b, "A", ONYX_DTYPE_FLOAT);
    builder_output(b, "J", ONYX_DTYPE_INT64);
    const float x[5] = {1.5f, -2.0f, NAN, 0.0f, 3.25f};
    const int64_t i[3] = {INT64_MIN, -1, INT64_MAX};
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(5), x),
                         tensor_of(ONYX_DTYPE_INT64, 1, DIMS(3), i)};
    run_result r = run_model(b, 2, in);
    cr_assert(r.load == ONYX_OK && r.run == ONYX_OK, "%s", r.message);
    expect_tensor(&r.outputs[0], ONYX_DTYPE_FLOAT, 1, DIMS(5), FLOATS(3.0f, -4.0f, NAN, 0.0f, 6.5f), 0);
    expect_tensor(&r.outputs[1], ONYX_DTYPE_FLOAT, 1, DIMS(5), x, 0);
    expect_tensor(&r.outputs[2], ONYX_DTYPE_INT64, 1, DIMS(3), i, 0);
    run_result_free(&r);
    builder_free(b);
}

/* A model run node by node (a Reshape to a shape given as an input): the carried output is
 * copied into the session's buffer after the run, and the input follows it all the same.
 * Y = Concat(Reshape(P, S), N), Y carried over to P: each run appends N. */
static int eager_plans;

static void count_eager(void *user, onyx_log_level level, const char *message)
{
    (void)user;
    (void)level;
    if (strstr(message, "eager (node by node"))
        eager_plans++;
}

Test(decode, carry_works_for_a_model_run_node_by_node)
{
    builder *b = builder_new(17);
    builder_input(b, "P", ONYX_DTYPE_FLOAT, 1, DIMS(-1), (const char *const[]){"past", NULL});
    builder_input(b, "S", ONYX_DTYPE_INT64, 1, DIMS(1), NULL);
    builder_input(b, "N", ONYX_DTYPE_FLOAT, 1, DIMS(1), NULL);
    builder_node(b, "Reshape", "P,S", "R");
    builder_attr_int(b, builder_node(b, "Concat", "R,N", "Y"), "axis", 0);
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    size_t size;
    const uint8_t *bytes = builder_pack(b, &size);
    onyx_model *model;
    onyx_options *o;
    onyx_options_create(&o);
    onyx_options_set_log(o, count_eager, NULL, ONYX_LOG_INFO);
    cr_assert_eq(onyx_model_load_buffer(bytes, size, o, &model), ONYX_OK, "%s", onyx_model_errmsg(model));
    onyx_options_free(o);
    builder_free(b);
    onyx_session *s;
    cr_assert_eq(onyx_session_create(model, NULL, &s), ONYX_OK);
    cr_assert_eq(onyx_session_carry(s, 0, 0, 0), ONYX_OK, "%s", onyx_session_errmsg(s));
    onyx_tensor empty = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(0), NULL);
    cr_assert_eq(onyx_session_set_input(s, 0, &empty), ONYX_OK);
    const float values[4] = {1.5f, -2.0f, 3.25f, 8.0f};
    for (int64_t k = 0; k < 4; k++) {
        onyx_tensor shape = tensor_of(ONYX_DTYPE_INT64, 1, DIMS(1), &k);
        onyx_tensor n = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(1), &values[k]);
        cr_assert_eq(onyx_session_set_input(s, 1, &shape), ONYX_OK);
        cr_assert_eq(onyx_session_set_input(s, 2, &n), ONYX_OK);
        cr_assert_eq(onyx_session_run(s), ONYX_OK, "run %lld: %s", (long long)k, onyx_session_errmsg(s));
        onyx_tensor y;
        cr_assert_eq(onyx_session_get_output(s, 0, &y), ONYX_OK);
        expect_tensor(&y, ONYX_DTYPE_FLOAT, 1, DIMS(k + 1), values, 0);
    }
    cr_assert_gt(eager_plans, 0, "the model ran from a static plan: not the case this test is for");
    onyx_session_free(s);
    onyx_model_free(model);
}
