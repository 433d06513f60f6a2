/* onyx bench: load once, warm up, time repeated runs. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char bench_usage[] =
    "usage: onyx bench MODEL [OPTIONS]\n"
    "\n"
    "Loads MODEL, runs it --warmup times, then times --runs runs and prints the minimum,\n"
    "median and maximum run time, the load time (model load and session creation) and\n"
    "the process's peak resident memory.\n"
    "\n"
    "  --threads N           threads (default 1; 0: one per processor)\n"
    CLI_PRECISION_USAGE
    CLI_LIMIT_USAGE
    "  --runs R              timed runs (default 20)\n"
    "  --warmup W            untimed runs first (default 3)\n"
    "  --input [NAME=]FILE   an input file (others are generated, see onyx run --help)\n"
    "  --dim NAME=SIZE       size of a symbolic dim for generated inputs\n"
    "  --json                one JSON object: times_ms (every run), min_ms, median_ms, max_ms,\n"
    "                        mean_ms, load_ms, peak_rss_kb, runs, threads, precision\n";

/* Peak resident memory of this process in KiB: VmHWM where Linux has it (ru_maxrss would
 * also count what a parent held before the exec that started us), else ru_maxrss. */
static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss;
    }
    return kb;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cmd_bench(int argc, char **argv)
{
    const char *model_path = NULL;
    cli_session_args args = {.threads = 1};
    long long runs = 20, warmup = 3;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int shared;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(bench_usage, stdout);
            return cli_session_args_free(&args), EXIT_OK;
        } else if ((shared = cli_session_option(argc, argv, &i, &args))) {
            if (shared < 0)
                return cli_session_args_free(&args), EXIT_USAGE;
        } else if ((v = cli_option(argc, argv, &i, "--runs"))) {
            if (!cli_int(v, 1, 1000000, &runs))
                return cli_session_usage_error(&args, "--runs takes 1 to 1000000, got '%s'", v);
        } else if ((v = cli_option(argc, argv, &i, "--warmup"))) {
            if (!cli_int(v, 0, 1000000, &warmup))
                return cli_session_usage_error(&args, "--warmup takes 0 to 1000000, got '%s'", v);
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (argv[i][0] == '-') {
            return cli_session_usage_error(&args, "unknown option '%s' (see onyx bench --help)", argv[i]);
        } else if (!model_path) {
            model_path = argv[i];
        } else {
            return cli_session_usage_error(&args, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!model_path) {
        fputs(bench_usage, stderr);
        return cli_session_args_free(&args), EXIT_USAGE;
    }
    int rc = EXIT_FAILED;
    cli_session s = {0};
    double *times = calloc((size_t)runs, sizeof *times);
    if (!times) {
        cli_error("out of memory");
        goto done;
    }
    if (!cli_session_open(model_path, &args, json, &s))
        goto done;
    for (long long r = -warmup; r < runs; r++) {
        double start = cli_now_ms();
        if (onyx_session_run(s.session) != ONYX_OK) {
            cli_error("%s", onyx_session_errmsg(s.session));
            goto done;
        }
        if (r >= 0)
            times[r] = cli_now_ms() - start;
    }
    double sum = 0;
    for (long long r = 0; r < runs; r++)
        sum += times[r];
    if (json) {
        printf("{\"times_ms\": [");
        for (long long r = 0; r < runs; r++)
            printf("%s%.4f", r ? ", " : "", times[r]);
        printf("], ");
    }
    qsort(times, (size_t)runs, sizeof *times, by_value);
    double median = runs % 2 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
    long rss = peak_rss_kb();
    if (json)
        printf("\"model\": \"%s\", \"threads\": %lld, \"runs\": %lld, \"min_ms\": %.4f, \"median_ms\": %.4f, "
               "\"max_ms\": %.4f, \"mean_ms\": %.4f, \"load_ms\": %.3f, \"peak_rss_kb\": %ld, "
               "\"precision\": \"%s\"}\n",
               model_path, args.threads, runs, times[0], median, times[runs - 1], sum / (double)runs,
               s.load_ms, rss, args.precision == ONYX_PRECISION_BF16 ? "bf16" : "fp32");
    else
        printf("%s: %lld runs, %lld threads\n  min %.3f ms  median %.3f ms  max %.3f ms\n  load %.1f ms  "
               "peak RSS %ld KiB\n", model_path, runs, args.threads, times[0], median, times[runs - 1], s.load_ms, rss);
    rc = EXIT_OK;
done:
    free(times);
    cli_session_free(&s);
    cli_session_args_free(&args);
    return rc;
}
