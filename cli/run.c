/* onyx run: one run of a model, outputs printed, written as .npy, compared with references. */
#include "cli.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char run_usage[] =
    "usage: onyx run MODEL [OPTIONS]\n"
    "\n"
    "Runs MODEL once and prints each output's name, dtype, shape and summary values.\n"
    "\n"
    "  --input [NAME=]FILE      an input from a .npy or ONNX .pb tensor file; without NAME,\n"
    "                           inputs are taken in the model's order. Inputs not given are\n"
    "                           generated (random values) and reported.\n"
    "  --dim NAME=SIZE          size of a symbolic dim (such as batch or seq) for generated\n"
    "                           inputs; defaults: 1 for dims named *batch*, 8 otherwise\n"
    "  --reference [NAME=]FILE  an expected output: prints the largest absolute difference\n"
    "                           and fails when outside --rtol/--atol\n"
    "  --rtol R, --atol A       tolerances for --reference (default 1e-3 and 1e-7)\n"
    "  --output-dir DIR         write each output as DIR/NAME.npy, whole or not at all (a\n"
    "                           temporary file renamed); /, % and a leading . in NAME are\n"
    "                           written %2F, %25 and %2E\n"
    "  --threads N              threads to run with (default 1; 0: one per processor)\n"
    CLI_PRECISION_USAGE
    CLI_LIMIT_USAGE
    "  --runs N                 run N times (default 1); outputs are those of the last run\n"
    "  --profile                print the time spent in each node over all runs, largest first\n"
    "                           (nodes fused by onyx appear as one; shape arithmetic folded\n"
    "                           while planning does not appear)\n"
    "  --quiet                  print only failures and comparisons\n";

static int by_time(const void *a, const void *b)
{
    const onyx_profile_entry *x = a, *y = b;
    return (x->total_ms < y->total_ms) - (x->total_ms > y->total_ms);
}

static void print_profile(const onyx_session *session, long long runs)
{
    size_t n = onyx_session_profile_count(session);
    onyx_profile_entry *e = calloc(n ? n : 1, sizeof *e);
    if (!e)
        return;
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        onyx_session_profile_entry(session, i, &e[i]);
        total += e[i].total_ms;
    }
    qsort(e, n, sizeof *e, by_time);
    printf("profile: %zu nodes, %.3f ms per run in nodes\n%10s %6s  %-22s %s\n", n, total / (double)runs,
           "ms/run", "%", "operator", "node");
    for (size_t i = 0; i < n; i++)
        printf("%10.4f %6.2f  %-22s %s\n", e[i].total_ms / (double)runs, total > 0 ? 100 * e[i].total_ms / total : 0,
               e[i].op_type, e[i].node_name);
    free(e);
}

/* NAME.npy for output NAME, one file per name: '/', '%' and a leading '.' are written as
 * %2F, %25 and %2E, so that the file stays inside the directory and two outputs never share
 * a file. False when the result does not fit. */
static bool output_file_name(const char *name, char *file, size_t size)
{
    size_t used = 0;
    for (const char *c = name; *c; c++) {
        bool escape = *c == '/' || *c == '%' || (c == name && *c == '.');
        int n = escape ? snprintf(file + used, size - used, "%%%02X", (unsigned char)*c)
                       : snprintf(file + used, size - used, "%c", *c);
        if (n < 0 || (size_t)n >= size - used)
            return false;
        used += (size_t)n;
    }
    return (size_t)snprintf(file + used, size - used, ".npy") < size - used;
}

int cmd_run(int argc, char **argv)
{
    const char *model_path = NULL, *output_dir = NULL;
    const char *refs[CLI_MAX_SPECS];
    int n_refs = 0;
    cli_session_args args = {.threads = 1};
    long long runs = 1;
    double rtol = 1e-3, atol = 1e-7;
    bool quiet = false, profile = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int shared;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(run_usage, stdout);
            return cli_session_args_free(&args), EXIT_OK;
        } else if ((shared = cli_session_option(argc, argv, &i, &args))) {
            if (shared < 0)
                return cli_session_args_free(&args), EXIT_USAGE;
        } else if ((v = cli_option(argc, argv, &i, "--reference"))) {
            if (n_refs == CLI_MAX_SPECS)
                return cli_session_usage_error(&args, "too many --reference options");
            refs[n_refs++] = v;
        } else if ((v = cli_option(argc, argv, &i, "--output-dir"))) {
            output_dir = v;
        } else if ((v = cli_option(argc, argv, &i, "--rtol"))) {
            if (!cli_double(v, &rtol))
                return cli_session_usage_error(&args, "bad --rtol '%s'", v);
        } else if ((v = cli_option(argc, argv, &i, "--atol"))) {
            if (!cli_double(v, &atol))
                return cli_session_usage_error(&args, "bad --atol '%s'", v);
        } else if ((v = cli_option(argc, argv, &i, "--runs"))) {
            if (!cli_int(v, 1, 1000000, &runs))
                return cli_session_usage_error(&args, "--runs takes 1 to 1000000, got '%s'", v);
        } else if (!strcmp(argv[i], "--profile")) {
            profile = true;
        } else if (!strcmp(argv[i], "--quiet")) {
            quiet = true;
        } else if (argv[i][0] == '-') {
            return cli_session_usage_error(&args, "unknown option '%s' (see onyx run --help)", argv[i]);
        } else if (!model_path) {
            model_path = argv[i];
        } else {
            return cli_session_usage_error(&args, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!model_path) {
        fputs(run_usage, stderr);
        return cli_session_args_free(&args), EXIT_USAGE;
    }

    int rc = EXIT_FAILED;
    cli_session s = {0};
    if (!cli_session_open(model_path, &args, quiet, &s))
        goto done;
    onyx_model *model = s.model;
    onyx_session *session = s.session;
    if (profile && onyx_session_set_profiling(session, 1) != ONYX_OK) {
        cli_error("%s", onyx_session_errmsg(session));
        goto done;
    }
    for (long long r = 0; r < runs; r++)
        if (onyx_session_run(session) != ONYX_OK) {
            cli_error("%s", onyx_session_errmsg(session));
            goto done;
        }
    rc = EXIT_OK;
    if (profile)
        print_profile(session, runs);
    size_t n_out = onyx_model_output_count(model);
    for (size_t i = 0; i < n_out; i++) {
        onyx_value_info info;
        onyx_tensor out;
        onyx_model_output_info(model, i, &info);
        onyx_session_get_output(session, i, &out);
        if (!quiet)
            tensor_summary(stdout, info.name, &out);
        if (output_dir) {
            char path[4096], msg[1024], file[NAME_MAX + 1];
            mkdir(output_dir, 0777);
            if (!output_file_name(info.name, file, sizeof file) ||
                (size_t)snprintf(path, sizeof path, "%s/%s", output_dir, file) >= sizeof path) {
                cli_error("output '%s': its name is too long for a file name", info.name);
                rc = EXIT_FAILED;
            } else if (onyx_tensor_write_npy(path, &out, msg, sizeof msg) != ONYX_OK) {
                cli_error("%s", msg);
                rc = EXIT_FAILED;
            } else if (!quiet) {
                printf("  written to %s\n", path);
            }
        }
    }
    for (int r = 0; r < n_refs; r++) {
        const char *eq = strchr(refs[r], '=');
        int index = r;
        if (eq) {
            char name[512];
            snprintf(name, sizeof name, "%.*s", (int)(eq - refs[r]), refs[r]);
            index = onyx_model_output_index(model, name);
        }
        if (index < 0 || (size_t)index >= n_out) {
            cli_error("reference '%s' matches no output", refs[r]);
            rc = EXIT_FAILED;
            continue;
        }
        onyx_tensor want, got;
        char msg[1024], why[1024];
        if (onyx_tensor_read_file(eq ? eq + 1 : refs[r], &want, NULL, msg, sizeof msg) != ONYX_OK) {
            cli_error("%s", msg);
            rc = EXIT_FAILED;
            continue;
        }
        onyx_value_info info;
        onyx_model_output_info(model, (size_t)index, &info);
        onyx_session_get_output(session, (size_t)index, &got);
        double max_abs;
        bool ok = tensors_match(&got, &want, rtol, atol, &max_abs, why, sizeof why);
        printf("%s: max |onyx - reference| = %.3g  %s%s%s\n", info.name, max_abs, ok ? "OK" : "MISMATCH: ",
               ok ? "" : why, "");
        if (!ok)
            rc = EXIT_FAILED;
        onyx_tensor_free_data(want.data);
    }
done:
    cli_session_free(&s);
    cli_session_args_free(&args);
    return rc;
}
