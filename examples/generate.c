/* Greedy decoding with a decoder exported with its KV cache (Hugging Face optimum's names:
 * input_ids, attention_mask, position_ids, past_key_values.N.key / .value in; logits,
 * present.N.key / .value out): the prompt in one run (prefill), then one token a run, each
 * run's present key/values becoming the next run's past without passing through this program.
 *
 *   cc generate.c $(pkg-config --cflags --libs onyx) -o generate
 *   ./generate MODEL.onnx TOKENS ID,ID,...            the session keeps the cache (onyx_session_carry)
 *   ./generate --host-buffers MODEL.onnx TOKENS ID,...  two buffers per pair held here, ping-ponged
 *
 * Prints the new token ids, one line, separated by spaces. */
#include <onyx.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PAIRS 256
#define MAX_TOKENS 65536

typedef struct pair {
    int past, present;     /* input and output indices */
    onyx_tensor cache;     /* the past bound for the next run */
    void *buf[2];          /* --host-buffers: the two buffers, and which one holds `cache` */
    size_t capacity;       /* bytes of each: the longest cache */
    int cur;
} pair;

static int fail(onyx_session *s, const char *what)
{
    fprintf(stderr, "%s: %s\n", what, onyx_session_errmsg(s));
    return 1;
}

int main(int argc, char **argv)
{
    int host = argc > 1 && !strcmp(argv[1], "--host-buffers");
    if (argc != 4 + host)
        return fprintf(stderr, "usage: %s [--host-buffers] MODEL.onnx TOKENS ID,ID,...\n", argv[0]), 2;
    const char *path = argv[1 + host];
    long n_new = strtol(argv[2 + host], NULL, 10);
    static int64_t ids[MAX_TOKENS];
    long n_prompt = 0;
    for (char *p = argv[3 + host]; *p && n_prompt < MAX_TOKENS; p += *p == ',')
        ids[n_prompt++] = strtoll(p, &p, 10);
    if (n_new < 1 || n_prompt < 1 || n_prompt + n_new > MAX_TOKENS)
        return fprintf(stderr, "bad token count or prompt\n"), 2;
    long max_total = n_prompt + n_new;

    onyx_model *model = NULL;
    onyx_session *s = NULL;
    if (onyx_model_load_file(path, NULL, &model) != ONYX_OK)
        return fprintf(stderr, "%s\n", onyx_model_errmsg(model)), onyx_model_free(model), 1;
    int rc = 1;
    if (onyx_session_create(model, NULL, &s) != ONYX_OK) {
        fail(s, "session");
        goto out;
    }
    int in_ids = onyx_model_input_index(model, "input_ids");
    int in_mask = onyx_model_input_index(model, "attention_mask");
    int in_pos = onyx_model_input_index(model, "position_ids");
    int out_logits = onyx_model_output_index(model, "logits");
    if (in_ids < 0 || out_logits < 0) {
        fprintf(stderr, "the model has no input_ids input or no logits output\n");
        goto out;
    }
    /* Each past_key_values.X input with its present.X output; an empty past to start. */
    static pair pairs[MAX_PAIRS];
    int n_pairs = 0;
    for (size_t i = 0; i < onyx_model_input_count(model) && n_pairs < MAX_PAIRS; i++) {
        onyx_value_info info;
        onyx_model_input_info(model, i, &info);
        const char *prefix = "past_key_values";
        if (strncmp(info.name, prefix, strlen(prefix)))
            continue;
        char name[512];
        snprintf(name, sizeof name, "present%s", info.name + strlen(prefix));
        pair *pr = &pairs[n_pairs++];
        pr->past = (int)i;
        pr->present = onyx_model_output_index(model, name);
        if (pr->present < 0 || info.rank != 4 || info.dims[1] < 0 || info.dims[3] < 0) {
            fprintf(stderr, "input '%s': no output '%s', or not [batch, heads, past, head_dim]\n", info.name,
                    name);
            goto out;
        }
        pr->cache = (onyx_tensor){.dtype = info.dtype, .rank = 4, .dims = {1, info.dims[1], 0, info.dims[3]}};
        size_t longest = (size_t)(info.dims[1] * max_total * info.dims[3]) * onyx_dtype_size(info.dtype);
        pr->capacity = longest;
        if (host) {
            /* Room for the longest cache in each buffer: allocated once, never copied. */
            for (int k = 0; k < 2; k++)
                if (!(pr->buf[k] = aligned_alloc(64, (longest + 63) / 64 * 64))) {
                    fprintf(stderr, "out of memory\n");
                    goto out;
                }
        } else if (onyx_session_carry(s, (size_t)pr->present, (size_t)pr->past, longest) != ONYX_OK) {
            fail(s, "carry");
            goto out;
        }
        if (onyx_session_set_input(s, (size_t)pr->past, &pr->cache) != ONYX_OK) {
            fail(s, "past");
            goto out;
        }
    }
    static int64_t mask[MAX_TOKENS], pos[MAX_TOKENS];
    for (long i = 0; i < max_total; i++)
        mask[i] = 1;
    long done = 0; /* tokens in the cache */
    long n = n_prompt;
    for (long step = 0; step < n_new; step++) {
        for (long i = 0; i < n; i++)
            pos[i] = done + i;
        onyx_tensor t_ids = {.dtype = ONYX_DTYPE_INT64, .rank = 2, .dims = {1, n}, .data = ids + done};
        onyx_tensor t_mask = {.dtype = ONYX_DTYPE_INT64, .rank = 2, .dims = {1, done + n}, .data = mask};
        onyx_tensor t_pos = {.dtype = ONYX_DTYPE_INT64, .rank = 2, .dims = {1, n}, .data = pos};
        if (onyx_session_set_input(s, (size_t)in_ids, &t_ids) ||
            (in_mask >= 0 && onyx_session_set_input(s, (size_t)in_mask, &t_mask)) ||
            (in_pos >= 0 && onyx_session_set_input(s, (size_t)in_pos, &t_pos))) {
            fail(s, "inputs");
            goto out;
        }
        for (int k = 0; host && k < n_pairs; k++) {
            pair *pr = &pairs[k];
            pr->cache.data = pr->buf[pr->cur];
            if (onyx_session_set_input(s, (size_t)pr->past, &pr->cache) ||
                onyx_session_set_output_buffer(s, (size_t)pr->present, pr->buf[1 - pr->cur], pr->capacity)) {
                fail(s, "cache");
                goto out;
            }
        }
        if (onyx_session_run(s) != ONYX_OK) {
            fail(s, "run");
            goto out;
        }
        for (int k = 0; host && k < n_pairs; k++) { /* the present is the next past: swap */
            onyx_session_get_output(s, (size_t)pairs[k].present, &pairs[k].cache);
            pairs[k].cur = 1 - pairs[k].cur;
        }
        onyx_tensor logits;
        onyx_session_get_output(s, (size_t)out_logits, &logits);
        if (logits.dtype != ONYX_DTYPE_FLOAT || logits.rank != 3) {
            fprintf(stderr, "logits are not float [batch, seq, vocab]\n");
            goto out;
        }
        int64_t vocab = logits.dims[2];
        const float *last = (const float *)logits.data + (n - 1) * vocab;
        int64_t best = 0;
        for (int64_t v = 1; v < vocab; v++)
            if (last[v] > last[best])
                best = v;
        printf("%s%lld", step ? " " : "", (long long)best);
        done += n;
        ids[done] = best;
        n = 1;
    }
    printf("\n");
    rc = 0;
out:
    onyx_session_free(s);
    onyx_model_free(model);
    for (int k = 0; k < MAX_PAIRS; k++)
        free(pairs[k].buf[0]), free(pairs[k].buf[1]);
    return rc;
}
