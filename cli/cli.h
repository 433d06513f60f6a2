/* The onyx command-line tool: shared helpers of its commands. Built on onyx.h only. */
#ifndef ONYX_CLI_H
#define ONYX_CLI_H

#include "onyx.h"

#include <stdbool.h>
#include <stdio.h>

/* Exit codes, documented in `onyx --help`. */
enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1, /* the model failed to load or run, or a test failed */
    EXIT_USAGE = 2,  /* bad command line */
};

int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_test(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_ops(int argc, char **argv);

/* Prints "onyx: <message>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Option parsing: matches "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i past
 * what it used. Returns NULL when argv[*i] is another option. */
const char *cli_option(int argc, char **argv, int *i, const char *name);
bool cli_int(const char *text, long long min, long long max, long long *out);
bool cli_double(const char *text, double *out);

/* --limit NAME=SIZE, shared by the commands that load a model: the limits onyx checks before
 * allocating (onyx_options_set_limit). */
#define CLI_LIMIT_USAGE                                                                        \
    "  --limit NAME=SIZE        a limit checked before allocating, repeatable: model-bytes\n"  \
    "                           (default 2G), tensor-elements (2G-1, the most), memory (8G,\n" \
    "                           all onyx holds for the model or a session), nodes (1000000)\n" \
    "                           depth (of subgraphs, 16) or subgraph-runs (Loop iterations and\n" \
    "                           other subgraph runs in one run, 1000000); SIZE may end in K,\n"  \
    "                           M or G (powers of 1024)\n"

typedef struct cli_limits {
    int count;
    onyx_limit limit[8];
    long long value[8];
} cli_limits;

/* Matches "--limit NAME=SIZE" at argv[*i] as cli_option does: 1 when it was one (recorded in
 * *limits), 0 when argv[*i] is another option, -1 (message printed) when it is malformed or
 * onyx does not accept the value. */
int cli_limit_option(int argc, char **argv, int *i, cli_limits *limits);
/* Sets the recorded limits on options. */
void cli_apply_limits(onyx_options *options, const cli_limits *limits);

/* Inputs: "NAME=FILE" (or "FILE", in model input order) given on the command line, the
 * rest generated. Fills tensors[] (count = model inputs) and owns their data. */
typedef struct input_set {
    size_t count;
    onyx_tensor *tensors;
    bool *owned_by_reader; /* data from onyx_tensor_read_file (else malloc) */
} input_set;

typedef struct dim_value {
    const char *name;
    long long size;
} dim_value;

/* Reads the given input files and generates the others (random, seeded), saying so on
 * stderr. `dims` set symbolic dims by name. Returns false (message printed) on error. */
bool inputs_prepare(const onyx_model *model, const char *const *specs, int n_specs, const dim_value *dims,
                    int n_dims, bool quiet, input_set *set);
void inputs_free(input_set *set);

/* The options of the commands that load a model and run it (run, bench): --threads,
 * --precision, --limit, --input and --dim. */
#define CLI_MAX_SPECS 256
/* --precision fp32|bf16 (onyx_options_set_precision), for run, bench and test. */
#define CLI_PRECISION_USAGE                                                                    \
    "  --precision P            fp32 (default) or bf16: float32 MatMul and Gemm with constant\n" \
    "                           weights computed from operands rounded to bfloat16 (about\n"     \
    "                           1e-3 relative error; AVX512-BF16 only: elsewhere float32, and\n" \
    "                           a warning on stderr)\n"
/* Matches --precision at argv[*i] as cli_limit_option does (1, 0, or -1 with a message). */
int cli_precision_option(int argc, char **argv, int *i, onyx_precision *precision);
/* Sets the precision on options, and when it is bf16 sends onyx's warnings to stderr, so
 * that a processor without AVX512-BF16 (float32 instead) is told. */
void cli_apply_precision(onyx_options *options, onyx_precision precision);

typedef struct cli_session_args {
    long long threads; /* default 1 */
    onyx_precision precision; /* default fp32 */
    cli_limits limits;
    const char *inputs[CLI_MAX_SPECS];
    int n_inputs;
    dim_value dims[CLI_MAX_SPECS];
    int n_dims;
} cli_session_args;

/* Matches one of those options at argv[*i] as cli_limit_option does: 1 when it was one, 0
 * when argv[*i] is another option, -1 (message printed) when it is malformed. */
int cli_session_option(int argc, char **argv, int *i, cli_session_args *args);

/* A model loaded from a file with a session on it, its inputs read or generated and set. */
typedef struct cli_session {
    onyx_options *options;
    onyx_model *model;
    onyx_session *session;
    input_set inputs;
    double load_ms; /* model load and session creation */
} cli_session;

/* Loads, creates the session and sets the inputs; false (message printed) on error, with
 * what was made left in *s for cli_session_free. */
bool cli_session_open(const char *model_path, const cli_session_args *args, bool quiet, cli_session *s);
void cli_session_free(cli_session *s);
/* Frees the --dim names recorded in args. */
void cli_session_args_free(cli_session_args *args);
/* A usage error of run or bench: prints "onyx: <message>", frees args; returns EXIT_USAGE. */
int cli_session_usage_error(cli_session_args *args, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Milliseconds of the monotonic clock. */
double cli_now_ms(void);

/* "[2,3]", "[batch=1,seq=8,64]"-style text. */
const char *shape_text(const onyx_tensor *t, char *buf, size_t size);
/* Prints name, dtype, shape and a few values with min/max/mean. */
void tensor_summary(FILE *out, const char *name, const onyx_tensor *t);

/* Compares `got` with `want` as the ONNX backend tests do: same dtype and shape; floats
 * within atol + rtol * |want| (NaN equal to NaN); other types exactly. On mismatch writes
 * a description of the worst element into why and returns false. *max_abs receives the
 * largest absolute difference of float outputs (0 otherwise). */
bool tensors_match(const onyx_tensor *got, const onyx_tensor *want, double rtol, double atol, double *max_abs,
                   char *why, size_t why_size);

#endif
