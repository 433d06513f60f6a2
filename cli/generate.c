/* onyx generate: greedy decoding with a decoder exported with its KV cache. */
#include "cli.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char generate_usage[] =
    "usage: onyx generate MODEL [OPTIONS]\n"
    "\n"
    "Greedy decoding with a decoder exported with its cache, as Hugging Face optimum exports\n"
    "them (inputs input_ids, attention_mask and position_ids where the model has them,\n"
    "past_key_values.N.key / .value; outputs logits, present.N.key / .value): the prompt in one\n"
    "run, then one token a run, the present key/values of a run becoming the past of the next\n"
    "inside onyx (onyx_session_carry). Prints the new token ids on one line.\n"
    "\n"
    "  --prompt-ids ID,ID,...  the prompt's token ids\n"
    "  --prompt-len N          a prompt of N random ids instead (seeded)\n"
    "  --tokens N              new tokens (default 64)\n"
    "  --threads N             threads (default 1; 0: one per processor)\n"
    "  --warmup W              decode the same W times first, untimed, each from an empty\n"
    "                          cache (default 0)\n"
    "  --host-buffers          keep the cache in two buffers per pair held by this program,\n"
    "                          ping-ponged with onyx_session_set_output_buffer, instead\n"
    "  --rerun                 (with --host-buffers) run each step a second time on the same\n"
    "                          inputs, whose shapes are then planned already: the difference is\n"
    "                          the cost of a new shape\n"
    "  --json                  one JSON object: tokens, prefill_ms, step_ms (each decode step),\n"
    "                          rerun_ms (with --rerun), load_ms, threads\n";

#define MAX_TOKENS 65536

typedef struct kv_pair {
    int past, present;
    onyx_tensor cache;
    void *buf[2];
    size_t capacity;
    int cur;
} kv_pair;

static bool parse_ids(const char *text, int64_t *ids, long *n)
{
    *n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || *n >= MAX_TOKENS)
            return false;
        ids[(*n)++] = v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return false;
    }
    return *n > 0;
}

static void print_times(const char *key, const double *t, long n)
{
    printf(", \"%s\": [", key);
    for (long i = 0; i < n; i++)
        printf("%s%.4f", i ? ", " : "", t[i]);
    printf("]");
}

int cmd_generate(int argc, char **argv)
{
    const char *model_path = NULL;
    long long threads = 1, tokens = 64, prompt_len = 0, warmup = 0;
    bool host = false, rerun = false, json = false;
    int64_t *ids = calloc(MAX_TOKENS + 1, sizeof *ids);
    int64_t *mask = calloc(MAX_TOKENS + 1, sizeof *mask);
    int64_t *pos = calloc(MAX_TOKENS + 1, sizeof *pos);
    double *step_ms = calloc(MAX_TOKENS + 1, sizeof *step_ms);
    double *rerun_ms = calloc(MAX_TOKENS + 1, sizeof *rerun_ms);
    long n_prompt = 0;
    kv_pair *pairs = NULL;
    int n_pairs = 0, rc = EXIT_USAGE;
    onyx_options *options = NULL;
    onyx_model *model = NULL;
    onyx_session *s = NULL;
    if (!ids || !mask || !pos || !step_ms || !rerun_ms) {
        cli_error("out of memory");
        rc = EXIT_FAILED;
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(generate_usage, stdout);
            rc = EXIT_OK;
            goto done;
        } else if ((v = cli_option(argc, argv, &i, "--prompt-ids"))) {
            if (!parse_ids(v, ids, &n_prompt)) {
                cli_error("--prompt-ids takes non-negative ids separated by commas, got '%s'", v);
                goto done;
            }
        } else if ((v = cli_option(argc, argv, &i, "--prompt-len"))) {
            if (!cli_int(v, 1, MAX_TOKENS / 2, &prompt_len)) {
                cli_error("--prompt-len takes 1 to %d, got '%s'", MAX_TOKENS / 2, v);
                goto done;
            }
        } else if ((v = cli_option(argc, argv, &i, "--tokens"))) {
            if (!cli_int(v, 1, MAX_TOKENS / 2, &tokens)) {
                cli_error("--tokens takes 1 to %d, got '%s'", MAX_TOKENS / 2, v);
                goto done;
            }
        } else if ((v = cli_option(argc, argv, &i, "--warmup"))) {
            if (!cli_int(v, 0, 1000, &warmup)) {
                cli_error("--warmup takes 0 to 1000, got '%s'", v);
                goto done;
            }
        } else if ((v = cli_option(argc, argv, &i, "--threads"))) {
            if (!cli_int(v, 0, 256, &threads)) {
                cli_error("--threads takes 0 to 256, got '%s'", v);
                goto done;
            }
        } else if (!strcmp(argv[i], "--host-buffers")) {
            host = true;
        } else if (!strcmp(argv[i], "--rerun")) {
            rerun = true;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (argv[i][0] == '-') {
            cli_error("unknown option '%s' (see onyx generate --help)", argv[i]);
            goto done;
        } else if (!model_path) {
            model_path = argv[i];
        } else {
            cli_error("unexpected argument '%s'", argv[i]);
            goto done;
        }
    }
    if (!model_path || (!n_prompt && !prompt_len) || (n_prompt && prompt_len) || (rerun && !host)) {
        if (rerun && !host)
            cli_error("--rerun needs --host-buffers (carried caches move on with each run)");
        else
            fputs(generate_usage, stderr);
        goto done;
    }
    if (n_prompt + prompt_len + tokens > MAX_TOKENS) {
        cli_error("at most %d tokens in all", MAX_TOKENS);
        goto done;
    }
    rc = EXIT_FAILED;
    double t0 = cli_now_ms();
    if (onyx_options_create(&options) || onyx_options_set_threads(options, (int)threads)) {
        cli_error("cannot create options");
        goto done;
    }
    if (onyx_model_load_file(model_path, options, &model) != ONYX_OK) {
        cli_error("%s", onyx_model_errmsg(model));
        goto done;
    }
    if (onyx_session_create(model, options, &s) != ONYX_OK) {
        cli_error("%s", onyx_session_errmsg(s));
        goto done;
    }
    double load_ms = cli_now_ms() - t0;
    int in_ids = onyx_model_input_index(model, "input_ids");
    int in_mask = onyx_model_input_index(model, "attention_mask");
    int in_pos = onyx_model_input_index(model, "position_ids");
    int out_logits = onyx_model_output_index(model, "logits");
    onyx_value_info info;
    if (in_ids < 0 || out_logits < 0 || onyx_model_output_info(model, (size_t)out_logits, &info) ||
        info.rank != 3) {
        cli_error("%s has no input_ids input or no logits output [batch, seq, vocab]", model_path);
        goto done;
    }
    if (prompt_len) { /* random ids below the vocabulary's size, the same each time */
        int64_t vocab = info.dims[2] > 0 ? info.dims[2] : 1000;
        uint64_t state = 0x9e3779b97f4a7c15u;
        for (long i = 0; i < prompt_len; i++) {
            state = state * 6364136223846793005u + 1442695040888963407u;
            ids[i] = (int64_t)((state >> 33) % (uint64_t)vocab);
        }
        n_prompt = (long)prompt_len;
    }
    long max_total = n_prompt + (long)tokens;
    size_t n_inputs = onyx_model_input_count(model);
    if (!(pairs = calloc(n_inputs + 1, sizeof *pairs))) {
        cli_error("out of memory");
        goto done;
    }
    const char *prefix = "past_key_values";
    for (size_t i = 0; i < n_inputs; i++) {
        onyx_model_input_info(model, i, &info);
        if (strncmp(info.name, prefix, strlen(prefix)))
            continue;
        char name[512];
        snprintf(name, sizeof name, "present%s", info.name + strlen(prefix));
        kv_pair *pr = &pairs[n_pairs++];
        pr->past = (int)i;
        pr->present = onyx_model_output_index(model, name);
        if (pr->present < 0 || info.rank != 4 || info.dims[1] < 0 || info.dims[3] < 0) {
            cli_error("input '%s': no output '%s', or not [batch, heads, past, head_dim]", info.name, name);
            goto done;
        }
        pr->cache = (onyx_tensor){.dtype = info.dtype, .rank = 4, .dims = {1, info.dims[1], 0, info.dims[3]}};
        pr->capacity = (size_t)(info.dims[1] * max_total * info.dims[3]) * onyx_dtype_size(info.dtype);
        for (int k = 0; host && k < 2; k++)
            if (!(pr->buf[k] = aligned_alloc(64, (pr->capacity + 63) / 64 * 64))) {
                cli_error("out of memory");
                goto done;
            }
        if ((!host && onyx_session_carry(s, (size_t)pr->present, (size_t)pr->past, pr->capacity)) ||
            onyx_session_set_input(s, (size_t)pr->past, &pr->cache)) {
            cli_error("%s", onyx_session_errmsg(s));
            goto done;
        }
    }
    for (long i = 0; i < max_total; i++)
        mask[i] = 1;
    double prefill_ms = 0;
    for (long long round = 0; round <= warmup; round++) {
        /* Each round from an empty cache (the rounds before the last warm the session up: its
         * plan's memory, the caches' buffers, the threads). */
        for (int k = 0; round && k < n_pairs; k++) {
            kv_pair *pr = &pairs[k];
            pr->cache.dims[0] = 1;
            pr->cache.dims[2] = 0;
            pr->cur = 0;
            if (onyx_session_set_input(s, (size_t)pr->past, &pr->cache)) {
                cli_error("%s", onyx_session_errmsg(s));
                goto done;
            }
        }
        long done = 0, n = n_prompt;
        for (long step = 0; step <= tokens - 1; step++) {
            for (long i = 0; i < n; i++)
                pos[i] = done + i;
            onyx_tensor t_ids = {.dtype = ONYX_DTYPE_INT64, .rank = 2, .dims = {1, n}, .data = ids + done};
            onyx_tensor t_mask = {.dtype = ONYX_DTYPE_INT64, .rank = 2, .dims = {1, done + n}, .data = mask};
            onyx_tensor t_pos = {.dtype = ONYX_DTYPE_INT64, .rank = 2, .dims = {1, n}, .data = pos};
            bool failed = onyx_session_set_input(s, (size_t)in_ids, &t_ids) ||
                          (in_mask >= 0 && onyx_session_set_input(s, (size_t)in_mask, &t_mask)) ||
                          (in_pos >= 0 && onyx_session_set_input(s, (size_t)in_pos, &t_pos));
            for (int k = 0; host && k < n_pairs && !failed; k++) {
                kv_pair *pr = &pairs[k];
                pr->cache.data = pr->buf[pr->cur];
                failed = onyx_session_set_input(s, (size_t)pr->past, &pr->cache) ||
                         onyx_session_set_output_buffer(s, (size_t)pr->present, pr->buf[1 - pr->cur],
                                                        pr->capacity);
            }
            double start = cli_now_ms();
            failed = failed || onyx_session_run(s);
            double ms = cli_now_ms() - start;
            if (!failed && rerun) {
                start = cli_now_ms();
                failed = onyx_session_run(s);
                rerun_ms[step] = cli_now_ms() - start;
            }
            if (failed) {
                cli_error("step %ld: %s", step, onyx_session_errmsg(s));
                goto done;
            }
            if (step)
                step_ms[step - 1] = ms;
            else
                prefill_ms = ms;
            for (int k = 0; host && k < n_pairs; k++) {
                onyx_session_get_output(s, (size_t)pairs[k].present, &pairs[k].cache);
                pairs[k].cur = 1 - pairs[k].cur;
            }
            onyx_tensor logits;
            onyx_session_get_output(s, (size_t)out_logits, &logits);
            if (logits.dtype != ONYX_DTYPE_FLOAT || logits.rank != 3 || logits.dims[1] != n) {
                cli_error("logits are not float [batch, seq, vocab]");
                goto done;
            }
            int64_t vocab = logits.dims[2];
            const float *last = (const float *)logits.data + (n - 1) * vocab;
            int64_t best = 0;
            for (int64_t v = 1; v < vocab; v++)
                if (last[v] > last[best])
                    best = v;
            done += n;
            ids[done] = best;
            n = 1;
        }
    }
    if (json) {
        printf("{\"model\": \"%s\", \"threads\": %lld, \"prompt_len\": %ld, \"tokens\": [", model_path,
               threads, n_prompt);
        for (long i = 0; i < tokens; i++)
            printf("%s%lld", i ? ", " : "", (long long)ids[n_prompt + i]);
        printf("], \"load_ms\": %.3f, \"prefill_ms\": %.4f", load_ms, prefill_ms);
        print_times("step_ms", step_ms, (long)tokens - 1);
        if (rerun)
            print_times("rerun_ms", rerun_ms, (long)tokens);
        printf("}\n");
    } else {
        for (long i = 0; i < tokens; i++)
            printf("%s%lld", i ? " " : "", (long long)ids[n_prompt + i]);
        printf("\n");
    }
    rc = EXIT_OK;
done:
    onyx_session_free(s);
    onyx_model_free(model);
    onyx_options_free(options);
    for (int k = 0; pairs && k < n_pairs; k++)
        free(pairs[k].buf[0]), free(pairs[k].buf[1]);
    free(pairs);
    free(ids);
    free(mask);
    free(pos);
    free(step_ms);
    free(rerun_ms);
    return rc;
}
