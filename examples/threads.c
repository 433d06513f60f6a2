/* One model, several threads. The model is loaded once, borrowing its weights from a
 * read-only mapping of the file, and shared: each thread runs it in a session of its own,
 * writing into an output buffer of its own. The program prints the output (as run_model does)
 * once every thread has computed exactly the same values as a first run on the main thread.
 *   cc threads.c $(pkg-config --cflags --libs onyx) -pthread -o threads
 *   ./threads model.onnx input.pb [threads] */
#define _POSIX_C_SOURCE 200809L
#include <onyx.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define RUNS_PER_THREAD 10

typedef struct worker {
    pthread_t thread;
    const onyx_model *model;  /* shared: a loaded model is immutable */
    const onyx_tensor *input; /* shared: sessions only read their inputs */
    void *output;             /* this thread's own */
    size_t output_bytes;
    onyx_status status;
} worker;

/* Called from every thread that uses the model; fprintf is thread-safe. */
static void log_to_stderr(void *user, onyx_log_level level, const char *message)
{
    fprintf(stderr, "onyx %s (%s): %s\n", level == ONYX_LOG_ERROR ? "error" : "warning",
            (const char *)user, message);
}

static void *work(void *arg)
{
    worker *w = arg;
    onyx_session *session = NULL;
    w->status = onyx_session_create(w->model, NULL, &session);
    if (!w->status)
        w->status = onyx_session_set_input(session, 0, w->input);
    if (!w->status)
        w->status = onyx_session_set_output_buffer(session, 0, w->output, w->output_bytes);
    for (int run = 0; run < RUNS_PER_THREAD && !w->status; run++)
        w->status = onyx_session_run(session); /* the kernels write straight into w->output */
    onyx_session_free(session); /* failures were logged: the message went to the callback */
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4)
        return fprintf(stderr, "usage: %s MODEL.onnx INPUT.pb|INPUT.npy [THREADS]\n", argv[0]), 2;
    int n_threads = argc == 4 ? atoi(argv[3]) : 4;
    if (n_threads < 1 || n_threads > 64)
        return fprintf(stderr, "THREADS must be 1 to 64\n"), 2;

    /* The mapping stays until the model is freed: the model borrows its weights from it. */
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0)
        return fprintf(stderr, "cannot read %s\n", argv[1]), 1;
    size_t size = (size_t)st.st_size;
    void *bytes = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (bytes == MAP_FAILED)
        return fprintf(stderr, "cannot map %s\n", argv[1]), 1;

    onyx_options *options = NULL;
    onyx_model *model = NULL;
    onyx_session *session = NULL;
    onyx_tensor x = {0}, y;
    char why[512];
    worker *workers = calloc((size_t)n_threads, sizeof *workers);
    int failed = 1;
    if (!workers || onyx_options_create(&options) != ONYX_OK ||
        onyx_options_set_log(options, log_to_stderr, argv[1], ONYX_LOG_WARNING) != ONYX_OK)
        fprintf(stderr, "out of memory\n");
    else if (onyx_tensor_read_file(argv[2], &x, NULL, why, sizeof why) != ONYX_OK)
        fprintf(stderr, "%s\n", why);
    else if (onyx_model_load_buffer_borrowed(bytes, size, options, &model) != ONYX_OK ||
             onyx_session_create(model, NULL, &session) != ONYX_OK ||
             onyx_session_set_input(session, 0, &x) != ONYX_OK || onyx_session_run(session) != ONYX_OK ||
             onyx_session_get_output(session, 0, &y) != ONYX_OK)
        ; /* the log callback has printed why */
    else if (y.dtype != ONYX_DTYPE_FLOAT)
        fprintf(stderr, "the output is %s; this example prints floats\n", onyx_dtype_name(y.dtype));
    else {
        /* The first run told the output's shape: give each thread a buffer that size. */
        size_t output_bytes = (size_t)onyx_tensor_element_count(&y) * sizeof(float);
        int started = 0, agreed = 0;
        for (; started < n_threads; started++) {
            worker *w = &workers[started];
            *w = (worker){.model = model, .input = &x, .output_bytes = output_bytes};
            if (!(w->output = malloc(output_bytes ? output_bytes : 1)) ||
                pthread_create(&w->thread, NULL, work, w) != 0)
                break;
        }
        for (int i = 0; i < started; i++) {
            pthread_join(workers[i].thread, NULL);
            agreed += !workers[i].status && !memcmp(workers[i].output, y.data, output_bytes);
        }
        fprintf(stderr, "%d of %d threads x %d runs agree with the first run\n", agreed, n_threads,
                RUNS_PER_THREAD);
        if (agreed == n_threads) {
            printf("# shape");
            for (int d = 0; d < y.rank; d++)
                printf(" %lld", (long long)y.dims[d]);
            printf("\n");
            for (int64_t i = 0; i < onyx_tensor_element_count(&y); i++)
                printf("%.9g\n", ((const float *)y.data)[i]);
            failed = 0;
        }
    }
    for (int i = 0; workers && i < n_threads; i++)
        free(workers[i].output);
    free(workers);
    onyx_session_free(session);
    onyx_model_free(model); /* every session of the model is freed: now the model */
    munmap(bytes, size);    /* and only then the bytes it borrowed */
    onyx_tensor_free_data(x.data);
    onyx_options_free(options);
    return failed;
}
