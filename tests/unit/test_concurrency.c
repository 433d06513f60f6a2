/* Concurrency: one model shared by several sessions running on several threads at once, and
 * the same model loaded by several threads at once. Every output must be bit-identical to
 * that of a single-threaded run. Built a second time with ThreadSanitizer by the test command
 * (tools/test-hardening.sh) as a plain program (see plain_test.h), which then also reports
 * any data race. */
#ifdef ONYX_PLAIN_TEST
#include "plain_test.h"
#else
#include <criterion/criterion.h>
#endif
#include "onyx.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKERS 4
#define ROUNDS 3
#define MAX_SETS 4
#define MAX_VALUES 16 /* a decoder with its cache: 3 inputs and 2 per layer */

/* One test_data_set of a committed model: its inputs, and the outputs of a reference run. */
typedef struct data_set {
    size_t n_inputs, n_outputs;
    onyx_tensor inputs[MAX_VALUES];
    onyx_tensor expected[MAX_VALUES]; /* data owned (malloc) */
} data_set;

typedef struct model_case {
    char path[512];
    uint8_t *bytes; /* the file, for loads from a buffer */
    size_t size;
    int n_sets;
    data_set sets[MAX_SETS];
} model_case;

static size_t tensor_size(const onyx_tensor *t)
{
    return (size_t)onyx_tensor_element_count(t) * onyx_dtype_size(t->dtype);
}

static void read_model_case(model_case *mc, const char *name)
{
    memset(mc, 0, sizeof *mc);
    snprintf(mc->path, sizeof mc->path, "%s/models/%s/model.onnx", ONYX_SOURCE_DIR, name);
    FILE *f = fopen(mc->path, "rb");
    cr_assert_not_null(f, "cannot open %s", mc->path);
    fseek(f, 0, SEEK_END);
    mc->size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    mc->bytes = malloc(mc->size);
    cr_assert_eq(fread(mc->bytes, 1, mc->size, f), mc->size);
    fclose(f);
    for (; mc->n_sets < MAX_SETS; mc->n_sets++) {
        data_set *ds = &mc->sets[mc->n_sets];
        for (;; ds->n_inputs++) {
            char path[600], msg[512];
            snprintf(path, sizeof path, "%s/models/%s/test_data_set_%d/input_%zu.pb", ONYX_SOURCE_DIR, name,
                     mc->n_sets, ds->n_inputs);
            if (ds->n_inputs == MAX_VALUES ||
                onyx_tensor_read_file(path, &ds->inputs[ds->n_inputs], NULL, msg, sizeof msg) != ONYX_OK)
                break;
        }
        if (ds->n_inputs == 0)
            break;
    }
    cr_assert_gt(mc->n_sets, 0, "%s has no test data", name);
}

static void free_model_case(model_case *mc)
{
    for (int s = 0; s < mc->n_sets; s++) {
        for (size_t i = 0; i < mc->sets[s].n_inputs; i++)
            onyx_tensor_free_data(mc->sets[s].inputs[i].data);
        for (size_t o = 0; o < mc->sets[s].n_outputs; o++)
            free(mc->sets[s].expected[o].data);
    }
    free(mc->bytes);
}

/* Runs data set `ds` on `session`; with `record`, keeps the outputs as the expectation, else
 * compares with it. Returns an error text, or NULL when all is well. */
static const char *run_set(onyx_session *session, data_set *ds, bool record, char *why, size_t size)
{
    for (size_t i = 0; i < ds->n_inputs; i++)
        if (onyx_session_set_input(session, i, &ds->inputs[i]) != ONYX_OK)
            return snprintf(why, size, "set_input: %s", onyx_session_errmsg(session)), why;
    if (onyx_session_run(session) != ONYX_OK)
        return snprintf(why, size, "run: %s", onyx_session_errmsg(session)), why;
    for (size_t o = 0; o < MAX_VALUES; o++) {
        onyx_tensor got;
        if (onyx_session_get_output(session, o, &got) != ONYX_OK) {
            if (record)
                ds->n_outputs = o;
            break;
        }
        size_t bytes = tensor_size(&got);
        if (record) {
            ds->expected[o] = got;
            ds->expected[o].data = malloc(bytes ? bytes : 1);
            memcpy(ds->expected[o].data, got.data, bytes);
            continue;
        }
        const onyx_tensor *want = &ds->expected[o];
        if (got.dtype != want->dtype || got.rank != want->rank ||
            memcmp(got.dims, want->dims, sizeof got.dims[0] * (size_t)got.rank) != 0)
            return snprintf(why, size, "output %zu: another dtype or shape than the reference", o), why;
        if (memcmp(got.data, want->data, bytes) != 0)
            return snprintf(why, size, "output %zu: not bit-identical to the single-threaded reference", o), why;
    }
    return NULL;
}

/* The reference: one session on one thread, each data set in turn. */
static onyx_model *load_reference(model_case *mc)
{
    onyx_model *model;
    cr_assert_eq(onyx_model_load_file(mc->path, NULL, &model), ONYX_OK, "%s", onyx_model_errmsg(model));
    onyx_session *session;
    cr_assert_eq(onyx_session_create(model, NULL, &session), ONYX_OK);
    char why[1024];
    for (int s = 0; s < mc->n_sets; s++) {
        const char *error = run_set(session, &mc->sets[s], true, why, sizeof why);
        cr_assert_null(error, "%s: reference run: %s", mc->path, error);
    }
    onyx_session_free(session);
    return model;
}

/* ---- workers ----------------------------------------------------------------------------- */

typedef struct worker {
    pthread_t thread;
    pthread_barrier_t *start;
    model_case *mc;
    const onyx_model *shared; /* run this model, or load one of one's own (from the file or the buffer) */
    int index;
    char error[1024];
} worker;

static void *worker_main(void *raw)
{
    worker *w = raw;
    model_case *mc = w->mc;
    pthread_barrier_wait(w->start);
    onyx_model *own = NULL;
    const onyx_model *model = w->shared;
    if (!model) {
        onyx_status st = w->index % 2 ? onyx_model_load_buffer(mc->bytes, mc->size, NULL, &own)
                                      : onyx_model_load_file(mc->path, NULL, &own);
        if (st) {
            snprintf(w->error, sizeof w->error, "load: %s", onyx_model_errmsg(own));
            onyx_model_free(own);
            return NULL;
        }
        model = own;
    }
    /* Odd workers run with a pool of two threads of their own. */
    onyx_options *options;
    onyx_session *session = NULL;
    if (onyx_options_create(&options) != ONYX_OK || onyx_options_set_threads(options, 1 + w->index % 2) != ONYX_OK ||
        onyx_session_create(model, options, &session) != ONYX_OK) {
        snprintf(w->error, sizeof w->error, "session: %s", onyx_session_errmsg(session));
    } else {
        /* Each worker goes through the data sets from its own starting point, so that the
         * sessions re-plan for other shapes while the others run. */
        char why[1024];
        for (int r = 0; r < ROUNDS * mc->n_sets && !w->error[0]; r++) {
            const char *error = run_set(session, &mc->sets[(r + w->index) % mc->n_sets], false, why, sizeof why);
            if (error)
                snprintf(w->error, sizeof w->error, "round %d: %s", r, error);
        }
    }
    onyx_session_free(session);
    onyx_options_free(options);
    onyx_model_free(own);
    return NULL;
}

/* Runs WORKERS workers at once on mc, sharing `shared` (or each loading its own copy). */
static void run_workers(model_case *mc, const onyx_model *shared)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, WORKERS);
    worker workers[WORKERS];
    memset(workers, 0, sizeof workers);
    for (int i = 0; i < WORKERS; i++) {
        workers[i] = (worker){.start = &start, .mc = mc, .shared = shared, .index = i};
        cr_assert_eq(pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++)
        pthread_join(workers[i].thread, NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < WORKERS; i++)
        cr_expect_eq(workers[i].error[0], '\0', "%s, worker %d: %s", mc->path, i, workers[i].error);
}

static bool is_directory(const char *path)
{
    DIR *d = opendir(path);
    if (d)
        closedir(d);
    return d != NULL;
}

/* Every committed model (models/NAME/model.onnx with test data), in name order. */
static int model_names(char names[][128], int max)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/models", ONYX_SOURCE_DIR);
    struct dirent **entries;
    int n = scandir(dir, &entries, NULL, alphasort), count = 0;
    cr_assert_geq(n, 0, "cannot list %s", dir);
    for (int i = 0; i < n; i++) {
        char path[800];
        snprintf(path, sizeof path, "%s/%s/test_data_set_0", dir, entries[i]->d_name);
        if (entries[i]->d_name[0] != '.' && count < max && is_directory(path))
            snprintf(names[count++], 128, "%s", entries[i]->d_name);
        free(entries[i]);
    }
    free(entries);
    cr_assert_gt(count, 0, "no models with test data in %s", dir);
    return count;
}

/* For every committed model: the reference run, then the workers on the reference's model
 * (shared) or each on a model of its own, loaded at the same time as the others. */
static void for_every_model(bool shared)
{
    char names[32][128];
    int n = model_names(names, 32);
    for (int i = 0; i < n; i++) {
        model_case mc;
        read_model_case(&mc, names[i]);
        onyx_model *model = load_reference(&mc);
        run_workers(&mc, shared ? model : NULL);
        onyx_model_free(model);
        free_model_case(&mc);
    }
}

Test(concurrency, sessions_on_several_threads_share_one_model) { for_every_model(true); }

Test(concurrency, several_threads_load_the_same_model_at_once) { for_every_model(false); }
