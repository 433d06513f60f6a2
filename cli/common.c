/* Helpers shared by the CLI commands: options, inputs, printing, comparing. */
#include "cli.h"
#include "half.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void verror(const char *fmt, va_list ap)
{
    fputs("onyx: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(fmt, ap);
    va_end(ap);
}

const char *cli_option(int argc, char **argv, int *i, const char *name)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return NULL;
    if (arg[n] == '=')
        return arg + n + 1;
    if (arg[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        cli_error("option %s needs a value", name);
        exit(EXIT_USAGE);
    }
    return argv[++*i];
}

bool cli_int(const char *text, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool cli_double(const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= 0))
        return false;
    *out = v;
    return true;
}

/* ---- limits ------------------------------------------------------------------------------ */

static const struct {
    const char *name;
    onyx_limit limit;
} limit_names[] = {
    {"model-bytes", ONYX_LIMIT_MODEL_BYTES}, {"tensor-elements", ONYX_LIMIT_TENSOR_ELEMENTS},
    {"memory", ONYX_LIMIT_MEMORY_BYTES},     {"nodes", ONYX_LIMIT_GRAPH_NODES},
    {"depth", ONYX_LIMIT_GRAPH_DEPTH},       {"subgraph-runs", ONYX_LIMIT_SUBGRAPH_RUNS},
};

/* A positive integer, optionally ending in K, M or G (powers of 1024), without overflow. */
static bool parse_size(const char *text, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || v <= 0)
        return false;
    int shift = 0;
    if (*end)
        switch (*end++) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return false;
        }
    if (*end || v > LLONG_MAX >> shift)
        return false;
    *out = v << shift;
    return true;
}

int cli_limit_option(int argc, char **argv, int *i, cli_limits *limits)
{
    const char *v = cli_option(argc, argv, i, "--limit");
    if (!v)
        return 0;
    const char *eq = strchr(v, '=');
    size_t n = eq ? (size_t)(eq - v) : 0;
    for (size_t k = 0; eq && k < sizeof limit_names / sizeof limit_names[0]; k++) {
        if (strlen(limit_names[k].name) != n || strncmp(v, limit_names[k].name, n))
            continue;
        if (limits->count == (int)(sizeof limits->limit / sizeof limits->limit[0])) {
            cli_error("too many --limit options");
            return -1;
        }
        if (!parse_size(eq + 1, &limits->value[limits->count])) {
            cli_error("--limit %.*s takes a positive size such as 1000, 64M or 2G, got '%s'", (int)n, v, eq + 1);
            return -1;
        }
        /* Ask onyx now whether it accepts the value, so that applying it later cannot fail. */
        onyx_options *probe = NULL;
        bool accepted = onyx_options_create(&probe) == ONYX_OK &&
                        onyx_options_set_limit(probe, limit_names[k].limit, limits->value[limits->count]) == ONYX_OK;
        onyx_options_free(probe);
        if (!accepted) {
            cli_error("--limit %s is out of the range onyx accepts", v);
            return -1;
        }
        limits->limit[limits->count++] = limit_names[k].limit;
        return 1;
    }
    cli_error("--limit takes NAME=SIZE with NAME one of model-bytes, tensor-elements, memory, nodes, depth, "
              "subgraph-runs; "
              "got '%s'", v);
    return -1;
}

void cli_apply_limits(onyx_options *options, const cli_limits *limits)
{
    for (int k = 0; k < limits->count; k++)
        onyx_options_set_limit(options, limits->limit[k], limits->value[k]); /* accepted when parsed */
}

/* ---- --precision ------------------------------------------------------------------------- */

int cli_precision_option(int argc, char **argv, int *i, onyx_precision *precision)
{
    const char *v = cli_option(argc, argv, i, "--precision");
    if (!v)
        return 0;
    if (!strcmp(v, "fp32") || !strcmp(v, "float32"))
        *precision = ONYX_PRECISION_FP32;
    else if (!strcmp(v, "bf16") || !strcmp(v, "bfloat16"))
        *precision = ONYX_PRECISION_BF16;
    else
        return cli_error("--precision takes fp32 or bf16, got '%s'", v), -1;
    return 1;
}

/* Warnings only: errors reach the user through each command's own message. */
static void warning_to_stderr(void *user, onyx_log_level level, const char *message)
{
    (void)user;
    if (level == ONYX_LOG_WARNING)
        fprintf(stderr, "onyx: warning: %s\n", message);
}

void cli_apply_precision(onyx_options *options, onyx_precision precision)
{
    onyx_options_set_precision(options, precision);
    if (precision == ONYX_PRECISION_BF16)
        onyx_options_set_log(options, warning_to_stderr, NULL, ONYX_LOG_WARNING);
}

/* ---- loading a model to run it ---------------------------------------------------------- */

int cli_session_option(int argc, char **argv, int *i, cli_session_args *args)
{
    int limit = cli_limit_option(argc, argv, i, &args->limits);
    if (limit)
        return limit;
    int precision = cli_precision_option(argc, argv, i, &args->precision);
    if (precision)
        return precision;
    const char *v;
    if ((v = cli_option(argc, argv, i, "--threads"))) {
        if (!cli_int(v, 0, 256, &args->threads))
            return cli_error("--threads takes 0 to 256, got '%s'", v), -1;
    } else if ((v = cli_option(argc, argv, i, "--input"))) {
        if (args->n_inputs == CLI_MAX_SPECS)
            return cli_error("too many --input options"), -1;
        args->inputs[args->n_inputs++] = v;
    } else if ((v = cli_option(argc, argv, i, "--dim"))) {
        const char *eq = strchr(v, '=');
        long long size;
        if (!eq || eq == v || !cli_int(eq + 1, 0, 1LL << 31, &size) || args->n_dims == CLI_MAX_SPECS)
            return cli_error("--dim takes NAME=SIZE, got '%s'", v), -1;
        char *name = strndup(v, (size_t)(eq - v));
        if (!name)
            return cli_error("out of memory"), -1;
        args->dims[args->n_dims++] = (dim_value){name, size};
    } else {
        return 0;
    }
    return 1;
}

double cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

bool cli_session_open(const char *model_path, const cli_session_args *args, bool quiet, cli_session *s)
{
    memset(s, 0, sizeof *s);
    if (onyx_options_create(&s->options) || onyx_options_set_threads(s->options, (int)args->threads)) {
        cli_error("out of memory");
        return false;
    }
    cli_apply_limits(s->options, &args->limits);
    cli_apply_precision(s->options, args->precision);
    double t0 = cli_now_ms();
    if (onyx_model_load_file(model_path, s->options, &s->model) != ONYX_OK) {
        cli_error("%s", onyx_model_errmsg(s->model));
        return false;
    }
    if (onyx_session_create(s->model, s->options, &s->session) != ONYX_OK) {
        cli_error("%s", onyx_session_errmsg(s->session));
        return false;
    }
    s->load_ms = cli_now_ms() - t0;
    if (!inputs_prepare(s->model, args->inputs, args->n_inputs, args->dims, args->n_dims, quiet, &s->inputs))
        return false;
    for (size_t i = 0; i < s->inputs.count; i++)
        if (onyx_session_set_input(s->session, i, &s->inputs.tensors[i]) != ONYX_OK) {
            cli_error("%s", onyx_session_errmsg(s->session));
            return false;
        }
    return true;
}

void cli_session_free(cli_session *s)
{
    inputs_free(&s->inputs);
    onyx_session_free(s->session);
    onyx_model_free(s->model);
    onyx_options_free(s->options);
    memset(s, 0, sizeof *s);
}

void cli_session_args_free(cli_session_args *args)
{
    for (int i = 0; i < args->n_dims; i++)
        free((char *)args->dims[i].name);
    args->n_dims = 0;
}

int cli_session_usage_error(cli_session_args *args, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(fmt, ap);
    va_end(ap);
    cli_session_args_free(args);
    return EXIT_USAGE;
}

/* ---- inputs ------------------------------------------------------------------------------ */

static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

static double random_unit(uint64_t *state) { return (double)(next_random(state) >> 11) / 9007199254740992.0; }

static bool generate(const onyx_value_info *info, const dim_value *dims, int n_dims, uint64_t *seed, onyx_tensor *t,
                     char *described, size_t size)
{
    memset(t, 0, sizeof *t);
    t->dtype = info->dtype;
    t->rank = info->rank < 0 ? 0 : info->rank;
    size_t used = 0;
    for (int d = 0; d < t->rank; d++) {
        long long v = info->dims[d];
        const char *name = info->dim_names[d];
        if (v < 0) {
            v = name && strstr(name, "batch") ? 1 : 8; /* defaults, overridden with --dim */
            for (int k = 0; k < n_dims; k++)
                if (name && !strcmp(dims[k].name, name))
                    v = dims[k].size;
        }
        t->dims[d] = v;
        if (used < size)
            used += (size_t)snprintf(described + used, size - used, "%s%s%s%lld", d ? "," : "",
                                     name && info->dims[d] < 0 ? name : "", name && info->dims[d] < 0 ? "=" : "", v);
    }
    int64_t count = onyx_tensor_element_count(t);
    size_t elem = onyx_dtype_size(t->dtype);
    if (count < 0 || elem == 0 || count > (INT64_C(1) << 30)) {
        cli_error("cannot generate input '%s' of dtype %s with %lld elements", info->name,
                  onyx_dtype_name(t->dtype), (long long)count);
        return false;
    }
    t->data = calloc((size_t)count ? (size_t)count : 1, elem);
    if (!t->data) {
        cli_error("out of memory generating input '%s'", info->name);
        return false;
    }
    for (int64_t i = 0; i < count; i++) {
        double u = random_unit(seed);
        switch (t->dtype) {
        case ONYX_DTYPE_FLOAT: ((float *)t->data)[i] = (float)(2 * u - 1); break;
        case ONYX_DTYPE_DOUBLE: ((double *)t->data)[i] = 2 * u - 1; break;
        case ONYX_DTYPE_FLOAT16: ((uint16_t *)t->data)[i] = float_to_half((float)(2 * u - 1)); break;
        case ONYX_DTYPE_BOOL: ((uint8_t *)t->data)[i] = u < 0.5; break;
        case ONYX_DTYPE_INT64: ((int64_t *)t->data)[i] = (int64_t)(u * 10); break;
        case ONYX_DTYPE_INT32: ((int32_t *)t->data)[i] = (int32_t)(u * 10); break;
        default: memset((char *)t->data + (size_t)i * elem, (int)(u * 10), 1); break;
        }
    }
    return true;
}

bool inputs_prepare(const onyx_model *model, const char *const *specs, int n_specs, const dim_value *dims, int n_dims,
                    bool quiet, input_set *set)
{
    size_t n = onyx_model_input_count(model);
    set->count = n;
    set->tensors = calloc(n ? n : 1, sizeof *set->tensors);
    set->owned_by_reader = calloc(n ? n : 1, sizeof *set->owned_by_reader);
    bool *given = calloc(n ? n : 1, sizeof *given);
    if (!set->tensors || !set->owned_by_reader || !given) {
        free(given);
        cli_error("out of memory");
        return false;
    }
    bool ok = true;
    for (int i = 0; i < n_specs && ok; i++) {
        const char *eq = strchr(specs[i], '=');
        const char *file = eq ? eq + 1 : specs[i];
        int index = i;
        if (eq) {
            char name[512];
            snprintf(name, sizeof name, "%.*s", (int)(eq - specs[i]), specs[i]);
            if ((index = onyx_model_input_index(model, name)) < 0) {
                cli_error("the model has no input named '%s'", name);
                ok = false;
                break;
            }
        } else if ((size_t)i >= n) {
            cli_error("%d inputs given; the model has %zu", n_specs, n);
            ok = false;
            break;
        }
        if (given[index]) {
            cli_error("input %d is given twice", index);
            ok = false;
            break;
        }
        char msg[1024];
        if (onyx_tensor_read_file(file, &set->tensors[index], NULL, msg, sizeof msg) != ONYX_OK) {
            cli_error("%s", msg);
            ok = false;
            break;
        }
        given[index] = set->owned_by_reader[index] = true;
    }
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n && ok; i++) {
        if (given[i])
            continue;
        onyx_value_info info;
        onyx_model_input_info(model, i, &info);
        char described[256] = "";
        ok = generate(&info, dims, n_dims, &seed, &set->tensors[i], described, sizeof described);
        if (ok && !quiet)
            fprintf(stderr, "onyx: generated input '%s': %s [%s], random values (set sizes with --dim NAME=SIZE, "
                    "or give --input %s=FILE)\n", info.name, onyx_dtype_name(info.dtype), described, info.name);
    }
    free(given);
    return ok;
}

void inputs_free(input_set *set)
{
    for (size_t i = 0; i < set->count && set->tensors; i++) {
        if (set->owned_by_reader[i])
            onyx_tensor_free_data(set->tensors[i].data);
        else
            free(set->tensors[i].data);
    }
    free(set->tensors);
    free(set->owned_by_reader);
    memset(set, 0, sizeof *set);
}

/* ---- printing and comparing -------------------------------------------------------------- */

const char *shape_text(const onyx_tensor *t, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? "," : "", (long long)t->dims[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}

/* Element i as a double (integers exactly up to 2^53). */
static double element(const onyx_tensor *t, int64_t i)
{
    const void *d = t->data;
    switch (t->dtype) {
    case ONYX_DTYPE_FLOAT: return ((const float *)d)[i];
    case ONYX_DTYPE_DOUBLE: return ((const double *)d)[i];
    case ONYX_DTYPE_FLOAT16: return half_to_float(((const uint16_t *)d)[i]);
    case ONYX_DTYPE_BFLOAT16: return bfloat16_to_float(((const uint16_t *)d)[i]);
    case ONYX_DTYPE_INT8: return ((const int8_t *)d)[i];
    case ONYX_DTYPE_INT16: return ((const int16_t *)d)[i];
    case ONYX_DTYPE_INT32: return ((const int32_t *)d)[i];
    case ONYX_DTYPE_INT64: return (double)((const int64_t *)d)[i];
    case ONYX_DTYPE_UINT8: case ONYX_DTYPE_BOOL: return ((const uint8_t *)d)[i];
    case ONYX_DTYPE_UINT16: return ((const uint16_t *)d)[i];
    case ONYX_DTYPE_UINT32: return ((const uint32_t *)d)[i];
    case ONYX_DTYPE_UINT64: return (double)((const uint64_t *)d)[i];
    /* The narrow types, one per byte (onyx.h): only the low bits count. */
    case ONYX_DTYPE_UINT4: return ((const uint8_t *)d)[i] & 0xf;
    case ONYX_DTYPE_INT4: return ((((const uint8_t *)d)[i] & 0xf) ^ 8) - 8;
    case ONYX_DTYPE_UINT2: return ((const uint8_t *)d)[i] & 3;
    case ONYX_DTYPE_INT2: return ((((const uint8_t *)d)[i] & 3) ^ 2) - 2;
    case ONYX_DTYPE_FLOAT8E4M3FN: return minifloat_to_float(MINIFLOAT_E4M3FN, ((const uint8_t *)d)[i]);
    case ONYX_DTYPE_FLOAT8E4M3FNUZ: return minifloat_to_float(MINIFLOAT_E4M3FNUZ, ((const uint8_t *)d)[i]);
    case ONYX_DTYPE_FLOAT8E5M2: return minifloat_to_float(MINIFLOAT_E5M2, ((const uint8_t *)d)[i]);
    case ONYX_DTYPE_FLOAT8E5M2FNUZ: return minifloat_to_float(MINIFLOAT_E5M2FNUZ, ((const uint8_t *)d)[i]);
    case ONYX_DTYPE_FLOAT4E2M1: return minifloat_to_float(MINIFLOAT_E2M1, ((const uint8_t *)d)[i]);
    case ONYX_DTYPE_FLOAT6E2M3: return minifloat_to_float(MINIFLOAT_E2M3, ((const uint8_t *)d)[i]);
    case ONYX_DTYPE_FLOAT6E3M2: return minifloat_to_float(MINIFLOAT_E3M2, ((const uint8_t *)d)[i]);
    case ONYX_DTYPE_FLOAT8E8M0: return e8m0_to_float(((const uint8_t *)d)[i]);
    default: return NAN;
    }
}

/* Compared with a tolerance. The 8, 6 and 4-bit floats are not: one step of theirs is far
 * above any tolerance, and their bytes must match exactly (NaN's code included). */
static bool is_floating(onyx_dtype dt)
{
    return dt == ONYX_DTYPE_FLOAT || dt == ONYX_DTYPE_DOUBLE || dt == ONYX_DTYPE_FLOAT16 || dt == ONYX_DTYPE_BFLOAT16;
}

void tensor_summary(FILE *out, const char *name, const onyx_tensor *t)
{
    char shape[256];
    int64_t n = onyx_tensor_element_count(t);
    fprintf(out, "%s: %s %s", name, onyx_dtype_name(t->dtype), shape_text(t, shape, sizeof shape));
    if (t->dtype == ONYX_DTYPE_STRING && n > 0) {
        /* The first strings, each cut at 40 bytes, with bytes outside printable ASCII escaped. */
        fprintf(out, "\n  [");
        for (int64_t i = 0; i < n && i < 8; i++) {
            size_t len = 0;
            const unsigned char *s = (const unsigned char *)onyx_string_at(t, i, &len);
            fprintf(out, "%s\"", i ? ", " : "");
            for (size_t k = 0; s && k < len && k < 40; k++)
                fprintf(out, s[k] >= 32 && s[k] < 127 && s[k] != '"' && s[k] != '\\' ? "%c" : "\\x%02x", s[k]);
            fprintf(out, "%s\"", s && len > 40 ? "..." : "");
        }
        fprintf(out, "%s]\n", n > 8 ? ", ..." : "");
        return;
    }
    if (n <= 0 || onyx_dtype_size(t->dtype) == 0 || t->dtype == ONYX_DTYPE_COMPLEX64 ||
        t->dtype == ONYX_DTYPE_COMPLEX128) {
        fputc('\n', out);
        return;
    }
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = element(t, i);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
    }
    fprintf(out, "  min %.6g  max %.6g  mean %.6g\n  [", lo, hi, sum / (double)n);
    for (int64_t i = 0; i < n && i < 8; i++)
        fprintf(out, "%s%.6g", i ? ", " : "", element(t, i));
    fprintf(out, "%s]\n", n > 8 ? ", ..." : "");
}

static void index_text(const onyx_tensor *t, int64_t flat, char *buf, size_t size)
{
    int64_t idx[ONYX_MAX_RANK];
    for (int d = t->rank - 1; d >= 0; d--) {
        idx[d] = t->dims[d] ? flat % t->dims[d] : 0;
        flat = t->dims[d] ? flat / t->dims[d] : 0;
    }
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < t->rank && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? "," : "", (long long)idx[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

bool tensors_match(const onyx_tensor *got, const onyx_tensor *want, double rtol, double atol, double *max_abs,
                   char *why, size_t why_size)
{
    char a[256], b[256];
    *max_abs = 0;
    if (got->dtype != want->dtype) {
        snprintf(why, why_size, "dtype %s, expected %s", onyx_dtype_name(got->dtype), onyx_dtype_name(want->dtype));
        return false;
    }
    bool same_shape = got->rank == want->rank;
    for (int d = 0; same_shape && d < got->rank; d++)
        same_shape = got->dims[d] == want->dims[d];
    if (!same_shape) {
        snprintf(why, why_size, "shape %s, expected %s", shape_text(got, a, sizeof a), shape_text(want, b, sizeof b));
        return false;
    }
    int64_t n = onyx_tensor_element_count(got);
    bool floating = is_floating(got->dtype);
    int64_t worst = -1, bad = 0;
    double worst_excess = -1;
    for (int64_t i = 0; i < n; i++) {
        bool ok;
        double excess;
        if (floating) {
            double g = element(got, i), w = element(want, i), diff = fabs(g - w);
            if (isnan(g) || isnan(w)) {
                ok = isnan(g) && isnan(w);
                excess = ok ? 0 : INFINITY;
            } else if (isinf(g) || isinf(w)) {
                ok = g == w;
                excess = ok ? 0 : INFINITY;
            } else {
                if (diff > *max_abs)
                    *max_abs = diff;
                excess = diff - (atol + rtol * fabs(w));
                ok = excess <= 0;
            }
        } else {
            size_t size = onyx_dtype_size(got->dtype);
            ok = !memcmp((const char *)got->data + (size_t)i * size, (const char *)want->data + (size_t)i * size, size);
            excess = ok ? 0 : 1;
        }
        if (!ok) {
            bad++;
            if (excess > worst_excess) {
                worst_excess = excess;
                worst = i;
            }
        }
    }
    if (worst < 0)
        return true;
    index_text(got, worst, a, sizeof a);
    snprintf(why, why_size, "%lld of %lld elements differ; worst at %s: got %.9g, expected %.9g", (long long)bad,
             (long long)n, a, element(got, worst), element(want, worst));
    return false;
}
