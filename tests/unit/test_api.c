/* The public API: argument checks, states, input validation, outputs. */
#include "harness.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Y = X + B, X: float [batch, 3] (symbolic batch), B a constant [3]. */
static onyx_model *add_model(void)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 2, DIMS(-1, 3), (const char *const[]){"batch", NULL});
    builder_initializer(b, "B", ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(10, 20, 30));
    builder_node(b, "Add", "X,B", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    size_t n;
    const uint8_t *bytes = builder_pack(b, &n);
    onyx_model *model;
    cr_assert_eq(onyx_model_load_buffer(bytes, n, NULL, &model), ONYX_OK, "%s", onyx_model_errmsg(model));
    builder_free(b); /* the model keeps nothing of the buffer */
    return model;
}

Test(api, null_arguments_are_rejected)
{
    cr_assert_eq(onyx_model_load_file("x", NULL, NULL), ONYX_ERROR_INVALID_ARGUMENT);
    onyx_model *model = NULL;
    cr_assert_eq(onyx_model_load_file(NULL, NULL, &model), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_not_null(model);
    onyx_model_free(model);
    cr_assert_eq(onyx_session_create(NULL, NULL, NULL), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_session_run(NULL), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_session_set_input(NULL, 0, NULL), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_str_neq(onyx_model_errmsg(NULL), "");
    cr_assert_str_neq(onyx_session_errmsg(NULL), "");
    onyx_model_free(NULL);
    onyx_session_free(NULL);
    onyx_options_free(NULL);
}

Test(api, status_strings_and_version)
{
    cr_assert_str_eq(onyx_status_str(ONYX_OK), "ok");
    cr_assert_str_eq(onyx_status_str(ONYX_ERROR_UNSUPPORTED), "unsupported");
    cr_assert_str_eq(onyx_status_str((onyx_status)1234), "unknown status");
    cr_assert_eq(onyx_version_number(), ONYX_VERSION_NUMBER);
    cr_assert_str_eq(onyx_version_string(), ONYX_VERSION_STRING);
}

Test(api, missing_file_is_an_io_error)
{
    onyx_model *model;
    cr_assert_eq(onyx_model_load_file("/nonexistent/model.onnx", NULL, &model), ONYX_ERROR_IO);
    expect_message(onyx_model_errmsg(model), "/nonexistent/model.onnx", NULL);
    onyx_model_free(model);
}

Test(api, input_and_output_info)
{
    onyx_model *model = add_model();
    cr_assert_eq(onyx_model_input_count(model), 1);
    cr_assert_eq(onyx_model_output_count(model), 1);
    onyx_value_info info;
    cr_assert_eq(onyx_model_input_info(model, 0, &info), ONYX_OK);
    cr_assert_str_eq(info.name, "X");
    cr_assert_eq(info.dtype, ONYX_DTYPE_FLOAT);
    cr_assert_eq(info.rank, 2);
    cr_assert_eq(info.dims[0], -1);
    cr_assert_str_eq(info.dim_names[0], "batch");
    cr_assert_eq(info.dims[1], 3);
    cr_assert_null(info.dim_names[1]);
    /* Inference carries the symbol to the output. */
    cr_assert_eq(onyx_model_output_info(model, 0, &info), ONYX_OK);
    cr_assert_eq(info.rank, 2);
    cr_assert_str_eq(info.dim_names[0], "batch");
    cr_assert_eq(info.dims[1], 3);
    cr_assert_eq(onyx_model_input_info(model, 1, &info), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_model_input_index(model, "X"), 0);
    cr_assert_eq(onyx_model_input_index(model, "nope"), -1);
    cr_assert_eq(onyx_model_output_index(model, "Y"), 0);
    onyx_model_free(model);
}

Test(api, run_any_batch_and_reuse_the_plan)
{
    onyx_model *model = add_model();
    onyx_session *s;
    cr_assert_eq(onyx_session_create(model, NULL, &s), ONYX_OK);
    for (int batch = 1; batch <= 3; batch++) {
        for (int repeat = 0; repeat < 2; repeat++) {
            float x[9];
            for (int i = 0; i < 3 * batch; i++)
                x[i] = (float)(i + repeat);
            onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(batch, 3), x);
            cr_assert_eq(onyx_session_set_input(s, 0, &in), ONYX_OK);
            cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
            onyx_tensor out;
            cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_OK);
            float want[9];
            for (int i = 0; i < 3 * batch; i++)
                want[i] = x[i] + 10.0f * (float)(i % 3 + 1);
            expect_tensor(&out, ONYX_DTYPE_FLOAT, 2, DIMS(batch, 3), want, 0);
        }
    }
    onyx_session_free(s);
    onyx_model_free(model);
}

Test(api, wrong_inputs_are_rejected_with_names_and_shapes)
{
    onyx_model *model = add_model();
    onyx_session *s;
    cr_assert_eq(onyx_session_create(model, NULL, &s), ONYX_OK);
    float x[8] = {0};
    onyx_tensor wrong_dtype = tensor_of(ONYX_DTYPE_DOUBLE, 2, DIMS(1, 3), x);
    cr_assert_eq(onyx_session_set_input(s, 0, &wrong_dtype), ONYX_ERROR_INVALID_INPUT);
    expect_message(onyx_session_errmsg(s), "'X'", "float", "double", NULL);
    onyx_tensor wrong_rank = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), x);
    cr_assert_eq(onyx_session_set_input(s, 0, &wrong_rank), ONYX_ERROR_INVALID_INPUT);
    expect_message(onyx_session_errmsg(s), "'X'", "[?,3]", "[3]", NULL);
    onyx_tensor wrong_dim = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 4), x);
    cr_assert_eq(onyx_session_set_input(s, 0, &wrong_dim), ONYX_OK); /* dims are checked when running */
    cr_assert_eq(onyx_session_run(s), ONYX_ERROR_INVALID_INPUT);
    expect_message(onyx_session_errmsg(s), "'X'", "[2,4]", NULL);
    onyx_tensor null_data = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 3), NULL);
    cr_assert_eq(onyx_session_set_input(s, 0, &null_data), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_session_set_input(s, 5, &null_data), ONYX_ERROR_INVALID_ARGUMENT);
    onyx_session_free(s);
    onyx_model_free(model);
}

Test(api, run_before_inputs_is_a_state_error)
{
    onyx_model *model = add_model();
    onyx_session *s;
    cr_assert_eq(onyx_session_create(model, NULL, &s), ONYX_OK);
    cr_assert_eq(onyx_session_run(s), ONYX_ERROR_INVALID_STATE);
    expect_message(onyx_session_errmsg(s), "'X'", "not set", NULL);
    onyx_tensor out;
    cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_ERROR_INVALID_STATE);
    onyx_session_free(s);
    onyx_model_free(model);
}

Test(api, empty_batch_gives_empty_output)
{
    onyx_model *model = add_model();
    onyx_session *s;
    cr_assert_eq(onyx_session_create(model, NULL, &s), ONYX_OK);
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(0, 3), NULL);
    cr_assert_eq(onyx_session_set_input(s, 0, &in), ONYX_OK);
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    onyx_tensor out;
    cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_OK);
    cr_assert_eq(out.rank, 2);
    cr_assert_eq(out.dims[0], 0);
    cr_assert_eq(out.dims[1], 3);
    onyx_session_free(s);
    onyx_model_free(model);
}

Test(api, caller_output_buffer)
{
    onyx_model *model = add_model();
    onyx_session *s;
    cr_assert_eq(onyx_session_create(model, NULL, &s), ONYX_OK);
    float x[3] = {1, 2, 3}, y[3] = {0}, small[2] = {-1, -1};
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 3), x);
    cr_assert_eq(onyx_session_set_input(s, 0, &in), ONYX_OK);
    cr_assert_eq(onyx_session_set_output_buffer(s, 0, small, sizeof small), ONYX_OK);
    cr_assert_eq(onyx_session_run(s), ONYX_ERROR_INVALID_ARGUMENT);
    expect_message(onyx_session_errmsg(s), "'Y'", "12 bytes", NULL);
    cr_assert_eq(small[0], -1);
    cr_assert_eq(onyx_session_set_output_buffer(s, 0, y, sizeof y), ONYX_OK);
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    onyx_tensor out;
    cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_OK);
    cr_assert_eq(out.data, y);
    cr_assert_eq(y[0], 11);
    cr_assert_eq(y[2], 33);
    /* Inputs are never written. */
    cr_assert_eq(x[0], 1);
    onyx_session_free(s);
    onyx_model_free(model);
}

Test(api, options)
{
    onyx_options *o;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    cr_assert_eq(onyx_options_set_threads(o, -1), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_options_set_threads(o, 2), ONYX_OK);
    cr_assert_eq(onyx_options_set_limit(o, ONYX_LIMIT_TENSOR_ELEMENTS, 0), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_options_set_limit(o, (onyx_limit)99, 5), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_options_set_limit(o, ONYX_LIMIT_MODEL_BYTES, 10), ONYX_OK);
    onyx_model *model;
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    builder_node(b, "Relu", "X", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    size_t n;
    const uint8_t *bytes = builder_pack(b, &n);
    cr_assert_eq(onyx_model_load_buffer(bytes, n, o, &model), ONYX_ERROR_LIMIT);
    expect_message(onyx_model_errmsg(model), "limit", NULL);
    onyx_model_free(model);
    builder_free(b);
    onyx_options_free(o);
}

/* Thread ids of this process (at most `max`), sorted as listed by /proc. */
static int list_threads(long *ids, int max)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    for (struct dirent *e; d && n < max && (e = readdir(d));)
        if (e->d_name[0] != '.')
            ids[n++] = atol(e->d_name);
    if (d)
        closedir(d);
    return n;
}

/* CPU time (user + system, in clock ticks) of thread `id` of this process. */
static long thread_ticks(long id)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", id);
    FILE *f = fopen(path, "r");
    long user = 0, sys = 0;
    if (f && fgets(line, sizeof line, f)) {
        const char *after = strrchr(line, ')'); /* the name may hold spaces */
        sscanf(after ? after + 2 : line, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &user, &sys);
    }
    if (f)
        fclose(f);
    return user + sys;
}

static bool listed(const long *ids, int n, long id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

Test(api, idle_threads_sleep_between_runs)
{
    /* A session with a pool of 3 threads runs a product large enough to be split over them,
     * then stays idle: the threads onyx started may spin briefly after a run, then must
     * sleep, burning almost no CPU time while nothing runs. (Threads the test harness had
     * before are not counted.) */
    enum { ROWS = 512, COLS = 256, MAX_THREADS = 64 };
    long before[MAX_THREADS], after[MAX_THREADS];
    int n_before = list_threads(before, MAX_THREADS);
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 2, DIMS(ROWS, COLS), NULL);
    builder_input(b, "W", ONYX_DTYPE_FLOAT, 2, DIMS(COLS, COLS), NULL);
    builder_node(b, "MatMul", "X,W", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    size_t n;
    const uint8_t *bytes = builder_pack(b, &n);
    onyx_options *options;
    onyx_model *model;
    onyx_session *s;
    cr_assert_eq(onyx_options_create(&options), ONYX_OK);
    cr_assert_eq(onyx_options_set_threads(options, 3), ONYX_OK);
    cr_assert_eq(onyx_model_load_buffer(bytes, n, options, &model), ONYX_OK, "%s", onyx_model_errmsg(model));
    cr_assert_eq(onyx_session_create(model, options, &s), ONYX_OK);
    float *x = calloc(ROWS * COLS, sizeof *x), *w = calloc(COLS * COLS, sizeof *w);
    onyx_tensor in[2] = {tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(ROWS, COLS), x),
                         tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(COLS, COLS), w)};
    for (int i = 0; i < 2; i++)
        cr_assert_eq(onyx_session_set_input(s, (size_t)i, &in[i]), ONYX_OK);
    for (int r = 0; r < 3; r++)
        cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    int n_after = list_threads(after, MAX_THREADS), started = 0;
    long ticks0[MAX_THREADS], idle_ticks = 0;
    for (int i = 0; i < n_after; i++)
        ticks0[i] = thread_ticks(after[i]);
    struct timespec nap = {0, 300 * 1000 * 1000};
    nanosleep(&nap, NULL);
    for (int i = 0; i < n_after; i++)
        if (!listed(before, n_before, after[i])) {
            started++;
            idle_ticks += thread_ticks(after[i]) - ticks0[i];
        }
    cr_assert_geq(started, 2, "the pool of 3 threads started %d threads", started);
    double idle_ms = 1e3 * (double)idle_ticks / (double)sysconf(_SC_CLK_TCK);
    cr_assert_leq(idle_ms, 20.0, "onyx's %d threads used %.0f ms of CPU in 300 ms idle", started, idle_ms);
    onyx_session_free(s);
    onyx_model_free(model);
    onyx_options_free(options);
    builder_free(b);
    free(x);
    free(w);
}
