/* Running built models in Criterion tests, and checking their outputs. */
#ifndef ONYX_TEST_HARNESS_H
#define ONYX_TEST_HARNESS_H

#include "builder.h"
#include "onyx.h"

#include <criterion/criterion.h>

#define HARNESS_MAX_OUTPUTS 8

typedef struct run_result {
    onyx_status load;         /* status of loading the model */
    onyx_status run;          /* status of the run (not attempted when load failed) */
    char message[2048];       /* the error message of the failing step, "" otherwise */
    int n_outputs;
    onyx_tensor outputs[HARNESS_MAX_OUTPUTS]; /* copies, freed by run_result_free */
} run_result;

/* Loads the model built by b and runs it on `inputs` (one per graph input, in order). */
run_result run_model(builder *b, int n_inputs, const onyx_tensor *inputs);
/* How run_model_with loads and runs a model: run_model's defaults are {0}. */
typedef struct run_settings {
    int threads; /* 0: the library's default */
    bool plain;  /* the fusion passes off */
} run_settings;
run_result run_model_with(builder *b, run_settings settings, int n_inputs, const onyx_tensor *inputs);
/* Runs b on `threads` threads and copies output 0 into out, asserting that loading and running
 * succeed and that output 0 has exactly `bytes` bytes. */
void run_into(builder *b, int threads, int n_inputs, const onyx_tensor *inputs, void *out, size_t bytes);
void run_result_free(run_result *r);

/* A tensor description for inputs and expectations (data not copied). */
onyx_tensor tensor_of(onyx_dtype dtype, int rank, const int64_t *dims, const void *data);

/* Asserts that got has dtype, shape and values; floats within tol (absolute + relative). */
void expect_tensor(const onyx_tensor *got, onyx_dtype dtype, int rank, const int64_t *dims, const void *values,
                   double tol);

/* Asserts that `message` contains every one of the given strings (NULL-terminated list). */
void expect_message(const char *message, ...);

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define FLOATS(...) ((const float[]){__VA_ARGS__})
#define INT64S(...) ((const int64_t[]){__VA_ARGS__})
#define BOOLS(...) ((const uint8_t[]){__VA_ARGS__})

#endif
