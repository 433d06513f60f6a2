/* onyx test: runs directories in the ONNX test-data layout (model.onnx and
 * test_data_set_N/{input,output}_K.pb) and compares every output. */
#include "cli.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char test_usage[] =
    "usage: onyx test DIR... [OPTIONS]\n"
    "\n"
    "Each DIR is a test (it holds model.onnx and test_data_set_N/ directories with\n"
    "input_K.pb and output_K.pb) or a directory of tests. Prints one line per test:\n"
    "  PASS name\n"
    "  FAIL name: the data set, output and worst element, or the error\n"
    "  SKIP name: why it could not run (an operator or type onyx does not support)\n"
    "and ends with 'N passed, N failed, N skipped'. A skipped test is never counted as\n"
    "passed. Exit status 1 when a test failed.\n"
    "\n"
    "  --rtol R, --atol A   float tolerance: |got - expected| <= A + R * |expected|\n"
    "                       (default 1e-3 and 1e-7); integers and bools must be equal\n"
    "  --expect FILE        tests expected not to pass, one per line: 'name reason'\n"
    "                       ('#' starts a comment). Such a test that fails or is skipped\n"
    "                       counts as skipped (XFAIL); one that passes, or any other\n"
    "                       test that does not pass, counts as failed, so the list stays\n"
    "                       true. A name written '~name' is a test whose outcome is not\n"
    "                       deterministic (a random operator without a seed): it runs,\n"
    "                       and counts as skipped whether it passes or not.\n"
    "  --threads N          threads per session (default 1)\n"
    CLI_PRECISION_USAGE
    CLI_LIMIT_USAGE
    "  --quiet              print only failures and the summary\n";

typedef struct expectation {
    char *name;
    char *reason;
    bool seen;
    bool any_outcome; /* '~name': random, either outcome is expected */
} expectation;

typedef struct test_run {
    double rtol, atol;
    int threads;
    onyx_precision precision;
    cli_limits limits;
    bool quiet;
    expectation *expected;
    size_t n_expected;
    int passed, failed, skipped;
} test_run;

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names of the entries of dir whose name starts with prefix (NULL: all). */
static char **list_dir(const char *dir, const char *prefix, size_t *count)
{
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    size_t cap = 16;
    char **names = malloc(cap * sizeof *names);
    struct dirent *e;
    while (names && (e = readdir(d))) {
        if (e->d_name[0] == '.' || (prefix && strncmp(e->d_name, prefix, strlen(prefix))))
            continue;
        if (*count == cap) {
            char **grown = realloc(names, (cap *= 2) * sizeof *names);
            if (!grown)
                break;
            names = grown;
        }
        names[(*count)++] = strdup(e->d_name);
    }
    closedir(d);
    if (names)
        qsort(names, *count, sizeof *names, compare_names);
    return names;
}

static void free_list(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

static bool is_test_dir(const char *dir)
{
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Loads the K-th numbered file ("input_", "output_") of a data set; count of them. */
static size_t count_files(const char *dir, const char *prefix)
{
    size_t n = 0;
    char path[4096];
    struct stat sb;
    for (;; n++) {
        snprintf(path, sizeof path, "%s/%s%zu.pb", dir, prefix, n);
        if (stat(path, &sb) != 0)
            return n;
    }
}

typedef enum outcome { OUTCOME_PASS, OUTCOME_FAIL, OUTCOME_SKIP } outcome;

/* The ONNX test data stores bfloat16 tensors as uint16 (numpy has no bfloat16): the same
 * bits, read as the dtype the model declares, as the ONNX backend runner compares them. */
static void as_declared(onyx_tensor *t, onyx_dtype declared)
{
    if (t->dtype == ONYX_DTYPE_UINT16 && declared == ONYX_DTYPE_BFLOAT16)
        t->dtype = ONYX_DTYPE_BFLOAT16;
}

static const char *type_name(onyx_dtype type, char *buf, size_t size)
{
    const char *elem = onyx_dtype_name(ONYX_ELEMENT_DTYPE(type));
    if (ONYX_IS_OPTIONAL(type) && ONYX_IS_SEQUENCE(type))
        snprintf(buf, size, "optional(sequence(%s))", elem);
    else if (ONYX_IS_OPTIONAL(type))
        snprintf(buf, size, "optional(%s)", elem);
    else if (ONYX_IS_SEQUENCE(type))
        snprintf(buf, size, "sequence(%s)", elem);
    else
        snprintf(buf, size, "%s", elem);
    return buf;
}

/* String tensors match when their shapes are equal and every element has the same bytes. */
static bool strings_match(const onyx_tensor *got, const onyx_tensor *want, char *why, size_t why_size)
{
    char a[64], b[64];
    if (got->dtype != want->dtype) {
        snprintf(why, why_size, "type %s, expected %s", type_name(got->dtype, a, sizeof a),
                 type_name(want->dtype, b, sizeof b));
        return false;
    }
    if (got->rank != want->rank || memcmp(got->dims, want->dims, (size_t)got->rank * sizeof(int64_t))) {
        snprintf(why, why_size, "shape %s, expected %s", shape_text(got, a, sizeof a),
                 shape_text(want, b, sizeof b));
        return false;
    }
    int64_t n = onyx_tensor_element_count(want);
    for (int64_t i = 0; i < n; i++) {
        size_t x_len = 0, y_len = 0;
        const char *x = onyx_string_at(got, i, &x_len), *y = onyx_string_at(want, i, &y_len);
        if (!x || !y) {
            snprintf(why, why_size, "element %lld cannot be read", (long long)i);
            return false;
        }
        if (x_len != y_len || memcmp(x, y, x_len)) {
            snprintf(why, why_size, "element %lld is \"%.*s\", expected \"%.*s\"", (long long)i,
                     (int)(x_len < 100 ? x_len : 100), x, (int)(y_len < 100 ? y_len : 100), y);
            return false;
        }
    }
    return true;
}

/* tensors_match for any value: a sequence or optional matches when it has the same type,
 * the same number of items and each item matches. */
static bool values_match(const onyx_tensor *got, const onyx_tensor *want, double rtol, double atol, char *why,
                         size_t why_size)
{
    double max_abs;
    if (want->dtype == ONYX_DTYPE_STRING || got->dtype == ONYX_DTYPE_STRING)
        return strings_match(got, want, why, why_size);
    if (!ONYX_IS_SEQUENCE(want->dtype) && !ONYX_IS_OPTIONAL(want->dtype) && !ONYX_IS_SEQUENCE(got->dtype) &&
        !ONYX_IS_OPTIONAL(got->dtype))
        return tensors_match(got, want, rtol, atol, &max_abs, why, why_size);
    char a[64], b[64];
    if (got->dtype != want->dtype) {
        snprintf(why, why_size, "type %s, expected %s", type_name(got->dtype, a, sizeof a),
                 type_name(want->dtype, b, sizeof b));
        return false;
    }
    int64_t n = onyx_value_length(got), expected = onyx_value_length(want);
    if (n != expected) {
        if (ONYX_IS_OPTIONAL(want->dtype))
            snprintf(why, why_size, "%s, expected %s", n ? "a value" : "none", expected ? "a value" : "none");
        else
            snprintf(why, why_size, "%lld items, expected %lld", (long long)n, (long long)expected);
        return false;
    }
    for (int64_t k = 0; k < n; k++) {
        onyx_tensor x, y;
        char sub[512];
        if (onyx_value_item(got, k, &x) || onyx_value_item(want, k, &y)) {
            snprintf(why, why_size, "item %lld cannot be read", (long long)k);
            return false;
        }
        if (!values_match(&x, &y, rtol, atol, sub, sizeof sub)) {
            snprintf(why, why_size, "item %lld: %s", (long long)k, sub);
            return false;
        }
    }
    return true;
}

/* Runs one data set; on failure or skip writes the reason. */
static outcome run_data_set(const test_run *tr, const onyx_model *model, onyx_session *session, const char *dir,
                            char *why, size_t size)
{
    size_t n_in = count_files(dir, "input_"), n_out = count_files(dir, "output_");
    size_t model_in = onyx_model_input_count(model), model_out = onyx_model_output_count(model);
    char path[4096], msg[1024];
    if (n_in != model_in) {
        snprintf(why, size, "%zu input files for %zu model inputs", n_in, model_in);
        return OUTCOME_FAIL;
    }
    if (n_out != model_out) {
        snprintf(why, size, "%zu output files for %zu model outputs", n_out, model_out);
        return OUTCOME_FAIL;
    }
    outcome result = OUTCOME_PASS;
    onyx_tensor *inputs = calloc(n_in + 1, sizeof *inputs);
    size_t loaded = 0;
    for (; inputs && loaded < n_in; loaded++) {
        snprintf(path, sizeof path, "%s/input_%zu.pb", dir, loaded);
        onyx_value_info declared;
        onyx_model_input_info(model, loaded, &declared);
        /* A sequence or optional input is read as the model declares it. */
        onyx_status st = onyx_value_read_file(path, declared.dtype, &inputs[loaded], msg, sizeof msg);
        if (st) {
            /* Maps and sparse tensors are not read: a type onyx lacks. */
            snprintf(why, size, "input_%zu.pb: %s", loaded, msg);
            result = st == ONYX_ERROR_UNSUPPORTED || st == ONYX_ERROR_INVALID_ARGUMENT ? OUTCOME_SKIP : OUTCOME_FAIL;
            break;
        }
        as_declared(&inputs[loaded], declared.dtype);
        if (onyx_session_set_input(session, loaded, &inputs[loaded]) != ONYX_OK) {
            snprintf(why, size, "%s", onyx_session_errmsg(session));
            result = OUTCOME_FAIL;
            loaded++;
            break;
        }
    }
    if (!inputs) {
        snprintf(why, size, "out of memory");
        return OUTCOME_FAIL;
    }
    if (result == OUTCOME_PASS && onyx_session_run(session) != ONYX_OK) {
        snprintf(why, size, "%s", onyx_session_errmsg(session));
        result = OUTCOME_FAIL;
    }
    for (size_t k = 0; result == OUTCOME_PASS && k < n_out; k++) {
        onyx_tensor want, got;
        snprintf(path, sizeof path, "%s/output_%zu.pb", dir, k);
        onyx_value_info info;
        onyx_model_output_info(model, k, &info);
        onyx_session_get_output(session, k, &got);
        /* Read as the value computed, which the model's declaration may leave out. */
        onyx_dtype type = ONYX_IS_SEQUENCE(got.dtype) || ONYX_IS_OPTIONAL(got.dtype) ? got.dtype : info.dtype;
        onyx_status st = onyx_value_read_file(path, type, &want, msg, sizeof msg);
        if (st) {
            snprintf(why, size, "output_%zu.pb: %s", k, msg);
            result = OUTCOME_SKIP;
            break;
        }
        as_declared(&want, info.dtype);
        char detail[768];
        if (!values_match(&got, &want, tr->rtol, tr->atol, detail, sizeof detail)) {
            snprintf(why, size, "output '%s': %s", info.name, detail);
            result = OUTCOME_FAIL;
        }
        onyx_tensor_free_data(want.data);
    }
    for (size_t i = 0; i < loaded; i++)
        onyx_tensor_free_data(inputs[i].data);
    free(inputs);
    return result;
}

static outcome run_test(const test_run *tr, const char *dir, char *why, size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    onyx_options *options = NULL;
    onyx_model *model = NULL;
    onyx_session *session = NULL;
    outcome result = OUTCOME_PASS;
    if (onyx_options_create(&options) || onyx_options_set_threads(options, tr->threads)) {
        snprintf(why, size, "out of memory");
        return OUTCOME_FAIL;
    }
    cli_apply_limits(options, &tr->limits);
    cli_apply_precision(options, tr->precision);
    onyx_status st = onyx_model_load_file(path, options, &model);
    if (st) {
        /* The first line of the message says what is missing. */
        const char *msg = onyx_model_errmsg(model);
        const char *list = strstr(msg, "\n  ");
        snprintf(why, size, "%s", list ? list + 3 : msg);
        result = st == ONYX_ERROR_UNSUPPORTED ? OUTCOME_SKIP : OUTCOME_FAIL;
    } else if (onyx_session_create(model, options, &session) != ONYX_OK) {
        snprintf(why, size, "%s", onyx_session_errmsg(session));
        result = OUTCOME_FAIL;
    }
    size_t n_sets = 0;
    char **sets = result == OUTCOME_PASS ? list_dir(dir, "test_data_set_", &n_sets) : NULL;
    if (result == OUTCOME_PASS && n_sets == 0) {
        snprintf(why, size, "no test_data_set_N directory");
        result = OUTCOME_FAIL;
    }
    for (size_t i = 0; i < n_sets && result == OUTCOME_PASS; i++) {
        char set_dir[4096], reason[1024];
        snprintf(set_dir, sizeof set_dir, "%s/%s", dir, sets[i]);
        result = run_data_set(tr, model, session, set_dir, reason, sizeof reason);
        if (result != OUTCOME_PASS)
            snprintf(why, size, "%s: %s", sets[i], reason);
    }
    free_list(sets, n_sets);
    onyx_session_free(session);
    onyx_model_free(model);
    onyx_options_free(options);
    return result;
}

static expectation *find_expected(test_run *tr, const char *name)
{
    for (size_t i = 0; i < tr->n_expected; i++)
        if (!strcmp(tr->expected[i].name, name))
            return &tr->expected[i];
    return NULL;
}

static void report(test_run *tr, const char *name, outcome result, const char *why)
{
    /* Single-line reasons: keep the first line of multi-line messages. */
    char line[1024];
    snprintf(line, sizeof line, "%s", why);
    char *nl = strchr(line, '\n');
    if (nl)
        *nl = '\0';
    expectation *e = tr->expected ? find_expected(tr, name) : NULL;
    if (e) {
        e->seen = true;
        if (e->any_outcome) {
            if (!tr->quiet)
                printf("RANDOM %s: %s (%s)\n", name, result == OUTCOME_PASS ? "passed" : line, e->reason);
            tr->skipped++;
        } else if (result == OUTCOME_PASS) {
            printf("FAIL %s: passes, but is listed as expected to fail (%s): remove it from the list\n", name, e->reason);
            tr->failed++;
        } else {
            if (!tr->quiet)
                printf("XFAIL %s: %s\n", name, line);
            tr->skipped++;
        }
        return;
    }
    switch (result) {
    case OUTCOME_PASS:
        if (!tr->quiet)
            printf("PASS %s\n", name);
        tr->passed++;
        break;
    case OUTCOME_FAIL:
        printf("FAIL %s: %s\n", name, line);
        tr->failed++;
        break;
    case OUTCOME_SKIP:
        if (tr->expected) {
            printf("FAIL %s: skipped but not listed as expected to fail: %s\n", name, line);
            tr->failed++;
        } else {
            printf("SKIP %s: %s\n", name, line);
            tr->skipped++;
        }
        break;
    }
    fflush(stdout);
}

static const char *base_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    const char *p = path + n;
    while (p > path && p[-1] != '/')
        p--;
    return p;
}

/* Runs the test at dir, or the tests below it. A test is named by its path from the
 * directory given on the command line, that directory's own name included
 * ("node/test_abs"), so that tests of several suites keep distinct names. */
static void run_dir(test_run *tr, const char *dir, size_t name_at)
{
    char why[1024] = "";
    if (is_test_dir(dir)) {
        char name[1024];
        snprintf(name, sizeof name, "%s", dir + name_at);
        size_t n = strlen(name);
        while (n > 1 && name[n - 1] == '/')
            name[--n] = '\0';
        outcome r = run_test(tr, dir, why, sizeof why);
        report(tr, name, r, why);
        return;
    }
    size_t n;
    char **entries = list_dir(dir, NULL, &n);
    if (!entries) {
        cli_error("cannot read directory '%s'", dir);
        tr->failed++;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char sub[4096];
        struct stat sb;
        snprintf(sub, sizeof sub, "%s/%s", dir, entries[i]);
        if (stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
            run_dir(tr, sub, name_at);
    }
    free_list(entries, n);
}

static bool read_expectations(test_run *tr, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_error("cannot open '%s'", path);
        return false;
    }
    char line[2048];
    size_t cap = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        p[strcspn(p, "\n")] = '\0';
        bool any_outcome = *p == '~';
        p += any_outcome;
        char *space = p + strcspn(p, " \t");
        char *reason = *space ? space + 1 : space;
        *space = '\0';
        while (*reason == ' ' || *reason == '\t')
            reason++;
        if (tr->n_expected == cap) {
            cap = cap ? cap * 2 : 64;
            expectation *grown = realloc(tr->expected, cap * sizeof *grown);
            if (!grown)
                break;
            tr->expected = grown;
        }
        tr->expected[tr->n_expected++] = (expectation){strdup(p), strdup(*reason ? reason : "no reason given"), false,
                                                      any_outcome};
    }
    fclose(f);
    if (!tr->expected)
        tr->expected = calloc(1, sizeof *tr->expected); /* an empty list is still a list */
    return true;
}

int cmd_test(int argc, char **argv)
{
    test_run tr = {.rtol = 1e-3, .atol = 1e-7, .threads = 1};
    const char *dirs[1024];
    int n_dirs = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        long long threads;
        int limit;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(test_usage, stdout);
            return EXIT_OK;
        } else if ((limit = cli_limit_option(argc, argv, &i, &tr.limits)) ||
                   (limit = cli_precision_option(argc, argv, &i, &tr.precision))) {
            if (limit < 0)
                return EXIT_USAGE;
        } else if ((v = cli_option(argc, argv, &i, "--rtol"))) {
            if (!cli_double(v, &tr.rtol))
                return cli_error("bad --rtol '%s'", v), EXIT_USAGE;
        } else if ((v = cli_option(argc, argv, &i, "--atol"))) {
            if (!cli_double(v, &tr.atol))
                return cli_error("bad --atol '%s'", v), EXIT_USAGE;
        } else if ((v = cli_option(argc, argv, &i, "--threads"))) {
            if (!cli_int(v, 0, 256, &threads))
                return cli_error("--threads takes 0 to 256, got '%s'", v), EXIT_USAGE;
            tr.threads = (int)threads;
        } else if ((v = cli_option(argc, argv, &i, "--expect"))) {
            if (!read_expectations(&tr, v))
                return EXIT_USAGE;
        } else if (!strcmp(argv[i], "--quiet")) {
            tr.quiet = true;
        } else if (argv[i][0] == '-') {
            return cli_error("unknown option '%s' (see onyx test --help)", argv[i]), EXIT_USAGE;
        } else if (n_dirs < 1024) {
            dirs[n_dirs++] = argv[i];
        }
    }
    if (n_dirs == 0) {
        fputs(test_usage, stderr);
        return EXIT_USAGE;
    }
    for (int i = 0; i < n_dirs; i++)
        run_dir(&tr, dirs[i], (size_t)(base_name(dirs[i]) - dirs[i]));
    for (size_t i = 0; i < tr.n_expected; i++) {
        if (!tr.expected[i].seen) {
            printf("FAIL %s: listed as expected to fail but not found\n", tr.expected[i].name);
            tr.failed++;
        }
        free(tr.expected[i].name);
        free(tr.expected[i].reason);
    }
    free(tr.expected);
    printf("%d passed, %d failed, %d skipped\n", tr.passed, tr.failed, tr.skipped);
    return tr.failed ? EXIT_FAILED : EXIT_OK;
}
