/* The public API (onyx.h): argument checks at each entry, then the stages. */
#include "ir.h"
#include "plan.h"
#include "gemm_bf16.h" /* gemm_bf16_supported: the fallback of ONYX_PRECISION_BF16 */

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- messages ---------------------------------------------------------------------------- */

/* "1.5 MiB"-style text for the log. */
static const char *bytes_text(size_t bytes, char buf[32])
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, 32, u ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

/* ---- models ------------------------------------------------------------------------------ */

static onyx_model *model_new(const onyx_options *options)
{
    onyx_options defaults;
    options_defaults(&defaults);
    if (!options)
        options = &defaults;
    mem like = {.limit = options->limits.memory_bytes, .allocator = options->allocator};
    onyx_model *m = mem_alloc_owner(&like, sizeof *m, offsetof(onyx_model, mem));
    if (!m)
        return NULL;
    m->limits = options->limits;
    m->threads = options->threads;
    m->optimize = options->optimize;
    m->precision = options->precision;
    m->log = options->log;
    return m;
}

/* Records the outcome of a load, and tells the log. */
static onyx_status model_loaded(onyx_model *m, onyx_status st)
{
    m->status = st;
    if (st) {
        log_message(&m->log, ONYX_LOG_ERROR, "%s", m->errmsg);
        return st;
    }
    /* The operators asked for bfloat16 fell back to float32 silently: say it once. */
    if (m->precision == ONYX_PRECISION_BF16 && !gemm_bf16_supported())
        log_message(&m->log, ONYX_LOG_WARNING, "precision bf16 asked for, but this processor has no "
                    "AVX512-BF16 (or ONYX_NO_BF16 is set): MatMul and Gemm run in float32");
    if (!log_enabled(&m->log, ONYX_LOG_INFO))
        return st;
    const graph *g = &m->graph;
    int folded = 0, unused = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const node *n = &g->nodes[i];
        if (!n->dead)
            continue;
        bool constant = false;
        for (int o = 0; o < n->n_outputs; o++)
            constant |= n->outputs[o] >= 0 && g->values[n->outputs[o]].kind == VALUE_CONSTANT;
        constant ? folded++ : unused++;
    }
    char held[32];
    log_message(&m->log, ONYX_LOG_INFO,
                "model loaded (producer '%s' %s, IR version %lld): %d nodes, %d folded into "
                "constants, %d fused away or unused, %d to run; %d inputs, %d outputs; %s held",
                m->producer_name, m->producer_version, (long long)m->ir_version, g->n_nodes, folded,
                unused, g->n_nodes - folded - unused, g->n_inputs, g->n_outputs,
                bytes_text(onyx_model_memory_bytes(m), held));
    return st;
}

/* Checks the imported graph, then fuses what the passes know: the last stage of every load. */
static onyx_status model_check(onyx_model *m)
{
    m->imported = true;
    onyx_status st = graph_check(m, &m->graph);
    if (!st && m->optimize)
        st = graph_optimize(m, &m->graph);
    /* Now that no pass will make new operators from them, weights the operators copied (GEMM
     * packing) can go. */
    if (!st)
        graph_prune(m, &m->graph, true);
    return st;
}

static onyx_status load_buffer(const void *data, size_t size, const onyx_options *options,
                               onyx_model **model, bool borrow)
{
    if (!model)
        return ONYX_ERROR_INVALID_ARGUMENT;
    onyx_model *m = *model = model_new(options);
    if (!m)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if (!data && size)
        return model_loaded(m, set_error(m->errmsg, ONYX_ERROR_INVALID_ARGUMENT, "model data is NULL"));
    if (options && options->external_data_dir &&
        !(m->dir = mem_strdup(&m->mem, options->external_data_dir)))
        return model_loaded(m, set_error(m->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory"));
    onyx_status st = model_import(m, data ? data : "", size, borrow ? IMPORT_BORROW : IMPORT_COPY);
    return model_loaded(m, st ? st : model_check(m));
}

onyx_status onyx_model_load_buffer(const void *data, size_t size, const onyx_options *options,
                                   onyx_model **model)
{
    return load_buffer(data, size, options, model, false);
}

onyx_status onyx_model_load_buffer_borrowed(const void *data, size_t size, const onyx_options *options,
                                            onyx_model **model)
{
    return load_buffer(data, size, options, model, true);
}

/* Reads the whole file into memory from the model's allocator. */
static onyx_status read_file(onyx_model *m, const char *path, unsigned char **bytes, size_t *size)
{
    struct stat sb;
    int fd = open_regular_file(path, &sb);
    if (fd == -1)
        return set_error(m->errmsg, ONYX_ERROR_IO, "cannot open '%s': %s", path, strerror(errno));
    if (fd < 0)
        return set_error(m->errmsg, ONYX_ERROR_IO, "'%s' is not a regular file", path);
    if ((int64_t)sb.st_size > m->limits.model_bytes) {
        close(fd);
        return set_error(m->errmsg, ONYX_ERROR_LIMIT, "'%s' has %lld bytes, above the model size limit of %lld",
                         path, (long long)sb.st_size, (long long)m->limits.model_bytes);
    }
    *size = (size_t)sb.st_size;
    if (!(*bytes = mem_alloc(&m->mem, *size))) {
        close(fd);
        return set_error(m->errmsg, ONYX_ERROR_LIMIT,
                         "cannot allocate %zu bytes to read '%s' (out of memory or above the memory limit)",
                         *size, path);
    }
    size_t done = 0;
    while (done < *size) {
        ssize_t r = read(fd, *bytes + done, *size - done);
        if (r <= 0)
            break;
        done += (size_t)r;
    }
    close(fd);
    if (done != *size) {
        mem_free(&m->mem, *bytes);
        *bytes = NULL;
        return set_error(m->errmsg, ONYX_ERROR_IO, "reading '%s' failed", path);
    }
    return ONYX_OK;
}

onyx_status onyx_model_load_file(const char *path, const onyx_options *options, onyx_model **model)
{
    if (!model)
        return ONYX_ERROR_INVALID_ARGUMENT;
    onyx_model *m = *model = model_new(options);
    if (!m)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if (!path)
        return model_loaded(m, set_error(m->errmsg, ONYX_ERROR_INVALID_ARGUMENT, "model path is NULL"));
    unsigned char *bytes = NULL;
    size_t size = 0;
    onyx_status st = read_file(m, path, &bytes, &size);
    if (st)
        return model_loaded(m, st);
    char *copy = mem_strdup(&m->mem, path);
    if (copy) {
        m->dir = mem_strdup(&m->mem, dirname(copy));
        mem_free(&m->mem, copy);
    }
    /* The weights stay in the file's bytes until the operators have made what they keep of
     * them (GEMM packing): then only the rest is copied out, and the bytes go. The peak
     * memory of a load is then about the file plus the packed weights, not twice the file. */
    st = m->dir ? model_import(m, bytes, size, IMPORT_OWN)
                : set_error(m->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory");
    if (st) {
        mem_free(&m->mem, bytes);
        /* Name the file in the message. */
        char inner[ERRMSG_SIZE];
        snprintf(inner, sizeof inner, "%s", m->errmsg);
        set_error(m->errmsg, st, "%s: %s", path, inner);
        return model_loaded(m, st);
    }
    st = model_check(m);
    graph_unborrow(&m->mem, &m->graph, bytes, size);
    mem_free(&m->mem, bytes);
    return model_loaded(m, st);
}

const char *onyx_model_errmsg(const onyx_model *model)
{
    return model ? model->errmsg : "no model (NULL)";
}

void onyx_model_free(onyx_model *model)
{
    if (!model)
        return;
    graph_free(&model->mem, &model->graph);
    for (int i = 0; i < model->n_opsets; i++)
        mem_free(&model->mem, model->opsets[i].domain);
    mem_free(&model->mem, model->opsets);
    for (int i = 0; i < model->n_symbols; i++)
        mem_free(&model->mem, model->symbols[i]);
    mem_free(&model->mem, model->symbols);
    mem_free(&model->mem, model->producer_name);
    mem_free(&model->mem, model->producer_version);
    mem_free(&model->mem, model->dir);
    mem_free(&model->mem, model);
}

size_t onyx_model_memory_bytes(const onyx_model *model)
{
    return model ? (size_t)atomic_load(&((onyx_model *)model)->mem.used) : 0;
}

/* Whether the model's graph can be inspected: loaded, or read but with unsupported nodes. */
static bool model_ok(const onyx_model *m)
{
    return m && m->imported && (m->status == ONYX_OK || m->status == ONYX_ERROR_UNSUPPORTED);
}

size_t onyx_model_input_count(const onyx_model *model)
{
    return model_ok(model) ? (size_t)model->graph.n_inputs : 0;
}

size_t onyx_model_output_count(const onyx_model *model)
{
    return model_ok(model) ? (size_t)model->graph.n_outputs : 0;
}

static void fill_info(const onyx_model *m, const char *name, const onyx_tensor *t, onyx_value_info *info)
{
    memset(info, 0, sizeof *info);
    info->name = name;
    info->dtype = t->dtype;
    info->rank = type_is_container(t->dtype) ? -1 : t->rank; /* a block's size is no shape */
    for (int d = 0; d < t->rank && d < ONYX_MAX_RANK; d++) {
        int64_t dim = t->dims[d];
        info->dims[d] = dim_known(dim) ? dim : -1;
        int s = symbol_of_dim(dim);
        info->dim_names[d] = s >= 0 && s < m->n_symbols ? m->symbols[s] : NULL;
    }
}

/* The status of an inspection call for item `index` of `count`, with output `out`. */
static onyx_status inspect_status(const onyx_model *m, const void *out, size_t index, int count)
{
    if (!m || !out)
        return ONYX_ERROR_INVALID_ARGUMENT;
    if (!model_ok(m))
        return ONYX_ERROR_INVALID_STATE;
    return index < (size_t)count ? ONYX_OK : ONYX_ERROR_INVALID_ARGUMENT;
}

onyx_status onyx_model_input_info(const onyx_model *model, size_t index, onyx_value_info *info)
{
    onyx_status st = inspect_status(model, info, index, model ? model->graph.n_inputs : 0);
    if (st)
        return st;
    const value *v = &model->graph.values[model->graph.inputs[index]];
    fill_info(model, v->name, &v->info, info);
    return ONYX_OK;
}

onyx_status onyx_model_output_info(const onyx_model *model, size_t index, onyx_value_info *info)
{
    onyx_status st = inspect_status(model, info, index, model ? model->graph.n_outputs : 0);
    if (st)
        return st;
    const value *v = &model->graph.values[model->graph.outputs[index]];
    const onyx_tensor *decl = &model->graph.output_decl[index];
    /* Prefer what inference found; fall back on the declaration for what it could not. */
    onyx_tensor t = v->info;
    if (t.rank < 0 && decl->rank >= 0) {
        t.rank = decl->rank;
        memcpy(t.dims, decl->dims, sizeof t.dims);
    } else if (t.rank == decl->rank) {
        for (int d = 0; d < t.rank; d++)
            if (!dim_known(t.dims[d]) && decl->dims[d] != DIM_UNKNOWN)
                t.dims[d] = decl->dims[d];
    }
    fill_info(model, v->name, &t, info);
    return ONYX_OK;
}

static int find_name(const onyx_model *m, const int *list, int n, const char *name)
{
    if (!model_ok(m) || !name)
        return -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(m->graph.values[list[i]].name, name))
            return i;
    return -1;
}

int onyx_model_input_index(const onyx_model *model, const char *name)
{
    return model ? find_name(model, model->graph.inputs, model->graph.n_inputs, name) : -1;
}

int onyx_model_output_index(const onyx_model *model, const char *name)
{
    return model ? find_name(model, model->graph.outputs, model->graph.n_outputs, name) : -1;
}

const char *onyx_model_producer_name(const onyx_model *m)
{
    return model_ok(m) && m->producer_name ? m->producer_name : "";
}

const char *onyx_model_producer_version(const onyx_model *m)
{
    return model_ok(m) && m->producer_version ? m->producer_version : "";
}

int64_t onyx_model_ir_version(const onyx_model *m) { return model_ok(m) ? m->ir_version : 0; }

size_t onyx_model_opset_count(const onyx_model *m) { return model_ok(m) ? (size_t)m->n_opsets : 0; }

onyx_status onyx_model_opset(const onyx_model *m, size_t index, const char **domain, int64_t *version)
{
    onyx_status st = inspect_status(m, domain && version ? domain : NULL, index, m ? m->n_opsets : 0);
    if (st)
        return st;
    *domain = m->opsets[index].domain;
    *version = m->opsets[index].version;
    return ONYX_OK;
}

size_t onyx_model_node_count(const onyx_model *m) { return model_ok(m) ? (size_t)m->graph.n_nodes : 0; }

onyx_status onyx_model_node_info(const onyx_model *m, size_t index, onyx_node_info *info)
{
    onyx_status st = inspect_status(m, info, index, m ? m->graph.n_nodes : 0);
    if (st)
        return st;
    const node *n = &m->graph.nodes[index];
    info->name = n->name;
    info->op_type = n->written_op_type ? n->written_op_type : n->op_type;
    info->domain = n->domain;
    info->opset = n->opset;
    info->supported = n->supported;
    return ONYX_OK;
}

/* ---- sessions ---------------------------------------------------------------------------- */

/* An output carried over to an input (onyx_session_carry): two buffers, the one the input is
 * bound to and the one the next run writes the output into. */
typedef struct carry {
    int output, input;
    unsigned char *buf[2];
    size_t cap[2];
    size_t reserve;
    int bound; /* the buffer the input is bound to, -1 when the host bound its own tensor */
    int target; /* during a run: the buffer the output goes to */
} carry;

struct onyx_session {
    const onyx_model *model;
    mem mem;
    limits limits;
    logger log;
    pool *pool;
    onyx_status status;
    char errmsg[ERRMSG_SIZE];
    onyx_tensor *inputs;
    bool *input_set;
    void **out_buffers;
    size_t *out_capacity;
    void **out_planned;    /* during a run: the arena address of outputs written in place */
    onyx_tensor *outputs;
    bool has_outputs;
    onyx_tensor *logged_shapes; /* the input shapes of the last plan told to the log */
    bool logged_plan;
    plan plan;
    exec_env env;
    char **profile_names; /* "domain.op" per node when profiling, else NULL */
    carry *carries;       /* n_carries of them, room for one per output */
    int n_carries;
};

/* Formats a failure into the session's message and the log. */
static onyx_status session_error(onyx_session *s, onyx_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static onyx_status session_error(onyx_session *s, onyx_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    log_message(&s->log, ONYX_LOG_ERROR, "%s", s->errmsg);
    return st;
}

static int available_processors(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

onyx_status onyx_session_create(const onyx_model *model, const onyx_options *options, onyx_session **session)
{
    if (!session)
        return ONYX_ERROR_INVALID_ARGUMENT;
    onyx_options defaults;
    options_defaults(&defaults);
    const onyx_options *o = options ? options : &defaults;
    limits lim = options || !model ? o->limits : model->limits;
    mem like = {.limit = lim.memory_bytes, .allocator = options || !model ? o->allocator : model->mem.allocator};
    onyx_session *s = *session = mem_alloc_owner(&like, sizeof *s, offsetof(onyx_session, mem));
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->limits = lim;
    s->log = options || !model ? o->log : model->log;
    if (!model)
        return s->status = session_error(s, ONYX_ERROR_INVALID_ARGUMENT, "model is NULL");
    if (model->status)
        return s->status = session_error(s, ONYX_ERROR_INVALID_STATE, "the model failed to load: %s",
                                         model->errmsg);
    int threads = options ? options->threads : model->threads;
    if (threads == 0)
        threads = available_processors();
    if (threads > 1 && !(s->pool = pool_create(&s->mem, threads)))
        return s->status = session_error(s, ONYX_ERROR_OUT_OF_MEMORY, "cannot start %d threads", threads);
    const graph *g = &model->graph;
    size_t ni = (size_t)g->n_inputs + 1, no = (size_t)g->n_outputs + 1;
    if (!(s->inputs = mem_alloc(&s->mem, ni * sizeof(onyx_tensor))) ||
        !(s->input_set = mem_alloc(&s->mem, ni)) ||
        !(s->logged_shapes = mem_alloc(&s->mem, ni * sizeof(onyx_tensor))) ||
        !(s->out_buffers = mem_alloc(&s->mem, no * sizeof(void *))) ||
        !(s->out_capacity = mem_alloc(&s->mem, no * sizeof(size_t))) ||
        !(s->out_planned = mem_alloc(&s->mem, no * sizeof(void *))) ||
        !(s->outputs = mem_alloc(&s->mem, no * sizeof(onyx_tensor))) ||
        !(s->carries = mem_alloc(&s->mem, no * sizeof(carry))))
        return s->status = session_error(s, ONYX_ERROR_OUT_OF_MEMORY, "out of memory creating a session");
    s->model = model;
    s->env.mem = &s->mem;
    s->env.limits = &s->limits;
    s->env.pool = s->pool;
    log_message(&s->log, ONYX_LOG_INFO, "session created: %d thread%s", pool_threads(s->pool),
                pool_threads(s->pool) == 1 ? "" : "s");
    return ONYX_OK;
}

const char *onyx_session_errmsg(const onyx_session *session)
{
    return session ? session->errmsg : "no session (NULL)";
}

static onyx_status session_usable(onyx_session *s);

static void profile_clear(onyx_session *s)
{
    const graph *g = &s->model->graph;
    for (int i = 0; s->profile_names && i < g->n_nodes; i++)
        mem_free(&s->mem, s->profile_names[i]);
    mem_free(&s->mem, s->profile_names);
    mem_free(&s->mem, s->env.profile_ns);
    mem_free(&s->mem, s->env.profile_runs);
    s->profile_names = NULL;
    s->env.profile_ns = s->env.profile_runs = NULL;
}

onyx_status onyx_session_set_profiling(onyx_session *s, int enabled)
{
    onyx_status st = session_usable(s);
    if (st)
        return st;
    profile_clear(s);
    if (!enabled)
        return ONYX_OK;
    const graph *g = &s->model->graph;
    size_t n = (size_t)g->n_nodes + 1;
    s->env.profile_ns = mem_alloc(&s->mem, n * sizeof(int64_t));
    s->env.profile_runs = mem_alloc(&s->mem, n * sizeof(int64_t));
    s->profile_names = mem_alloc(&s->mem, n * sizeof(char *));
    for (int i = 0; s->profile_names && i < g->n_nodes; i++) {
        const node *nd = &g->nodes[i];
        char name[256];
        snprintf(name, sizeof name, "%s%s%s", nd->domain, nd->domain[0] ? "." : "", nd->op_type);
        if (!(s->profile_names[i] = mem_strdup(&s->mem, name)))
            break;
    }
    if (!s->env.profile_ns || !s->env.profile_runs || !s->profile_names || (g->n_nodes && !s->profile_names[g->n_nodes - 1])) {
        profile_clear(s);
        return set_error(s->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory for profiling");
    }
    return ONYX_OK;
}

size_t onyx_session_profile_count(const onyx_session *s)
{
    size_t count = 0;
    for (int i = 0; s && s->env.profile_runs && i < s->model->graph.n_nodes; i++)
        count += s->env.profile_runs[i] > 0;
    return count;
}

onyx_status onyx_session_profile_entry(const onyx_session *s, size_t index, onyx_profile_entry *e)
{
    if (!s || !e || !s->env.profile_runs)
        return ONYX_ERROR_INVALID_ARGUMENT;
    for (int i = 0; i < s->model->graph.n_nodes; i++) {
        if (s->env.profile_runs[i] == 0 || index--)
            continue;
        e->node_name = s->model->graph.nodes[i].name;
        e->op_type = s->profile_names[i];
        e->runs = s->env.profile_runs[i];
        e->total_ms = (double)s->env.profile_ns[i] / 1e6;
        return ONYX_OK;
    }
    return ONYX_ERROR_INVALID_ARGUMENT;
}

void onyx_session_free(onyx_session *session)
{
    if (!session)
        return;
    if (session->model)
        profile_clear(session);
    plan_free(&session->plan, &session->mem);
    pool_free(session->pool);
    mem_free(&session->mem, session->inputs);
    mem_free(&session->mem, session->input_set);
    mem_free(&session->mem, session->logged_shapes);
    mem_free(&session->mem, session->out_buffers);
    mem_free(&session->mem, session->out_capacity);
    mem_free(&session->mem, session->out_planned);
    mem_free(&session->mem, session->outputs);
    for (int i = 0; i < session->n_carries; i++)
        for (int k = 0; k < 2; k++)
            mem_free(&session->mem, session->carries[i].buf[k]);
    mem_free(&session->mem, session->carries);
    mem_free(&session->mem, session);
}

size_t onyx_session_memory_bytes(const onyx_session *session)
{
    return session ? (size_t)atomic_load(&((onyx_session *)session)->mem.used) : 0;
}

/* Whether the session was created; when it was not, says so (or that it is NULL). */
static onyx_status session_usable(onyx_session *s)
{
    if (!s)
        return ONYX_ERROR_INVALID_ARGUMENT;
    if (!s->model)
        return session_error(s, ONYX_ERROR_INVALID_STATE, "the session was not created");
    return ONYX_OK;
}

onyx_status onyx_session_set_input(onyx_session *s, size_t index, const onyx_tensor *t)
{
    onyx_status st = session_usable(s);
    if (st)
        return st;
    const graph *g = &s->model->graph;
    if (index >= (size_t)g->n_inputs)
        return session_error(s, ONYX_ERROR_INVALID_ARGUMENT,
                             "input index %zu is out of range (the model has %d inputs)", index, g->n_inputs);
    const value *v = &g->values[g->inputs[index]];
    if (!t)
        return session_error(s, ONYX_ERROR_INVALID_ARGUMENT, "input '%s': tensor is NULL", v->name);
    char want[128], got[128];
    if (t->dtype != v->info.dtype)
        return session_error(s, ONYX_ERROR_INVALID_INPUT, "input '%s' must have dtype %s, got %s", v->name,
                             type_str(v->info.dtype, want, sizeof want), type_str(t->dtype, got, sizeof got));
    if (type_is_container(t->dtype)) {
        /* A sequence or optional: its block checked whole now, so that no operator meets a
         * malformed one. */
        char what[300], why[ERRMSG_SIZE];
        snprintf(what, sizeof what, "input '%s'", v->name);
        if ((st = container_validate(t, &s->limits, what, why)))
            return session_error(s, st == ONYX_ERROR_LIMIT ? st : ONYX_ERROR_INVALID_INPUT, "%s", why);
        s->inputs[index] = *t;
        s->input_set[index] = true;
        return ONYX_OK;
    }
    if (t->rank < 0 || t->rank > ONYX_MAX_RANK || (v->info.rank >= 0 && t->rank != v->info.rank))
        return session_error(s, ONYX_ERROR_INVALID_INPUT, "input '%s' must have shape %s, got %s", v->name,
                             shape_str(&v->info, want, sizeof want), shape_str(t, got, sizeof got));
    char what[300], why[ERRMSG_SIZE];
    snprintf(what, sizeof what, "input '%s'", v->name);
    /* A string tensor's block is checked whole too, elements and all (onyx.h). */
    st = type_is_string(t->dtype) ? string_validate(t, &s->limits, what, why)
                                  : shape_validate(t, &s->limits, what, why);
    if (st)
        return session_error(s, st == ONYX_ERROR_LIMIT ? st : ONYX_ERROR_INVALID_INPUT, "%s", why);
    if (!t->data && tensor_count(t) > 0)
        return session_error(s, ONYX_ERROR_INVALID_ARGUMENT, "input '%s': data is NULL", v->name);
    s->inputs[index] = *t;
    if (!t->data) /* empty: operators get a valid pointer all the same */
        s->inputs[index].data = (void *)&empty_tensor_data;
    s->input_set[index] = true;
    for (int i = 0; i < s->n_carries; i++)
        if (s->carries[i].input == (int)index)
            s->carries[i].bound = -1; /* both buffers are free for the next output */
    return ONYX_OK;
}

/* Checks bound inputs against the declared dims: fixed sizes, and symbols shared by inputs. */
static onyx_status check_dims(onyx_session *s)
{
    const onyx_model *m = s->model;
    const graph *g = &m->graph;
    for (int i = 0; i < g->n_inputs; i++) {
        const value *v = &g->values[g->inputs[i]];
        if (!s->input_set[i])
            return session_error(s, ONYX_ERROR_INVALID_STATE, "input '%s' is not set", v->name);
        const onyx_tensor *t = &s->inputs[i];
        for (int d = 0; d < v->info.rank; d++) {
            int64_t want = v->info.dims[d];
            char a[128], b[128];
            if (dim_known(want) && t->dims[d] != want)
                return session_error(s, ONYX_ERROR_INVALID_INPUT,
                                     "input '%s' must have shape %s, got %s (axis %d)", v->name,
                                     shape_str(&v->info, a, sizeof a), shape_str(t, b, sizeof b), d);
            if (symbol_of_dim(want) < 0)
                continue;
            /* The same symbol earlier: must have the same size. */
            for (int j = 0; j <= i; j++) {
                const value *u = &g->values[g->inputs[j]];
                for (int e = 0; e < u->info.rank && (j < i || e < d); e++)
                    if (u->info.dims[e] == want && s->inputs[j].dims[e] != t->dims[d])
                        return session_error(s, ONYX_ERROR_INVALID_INPUT,
                                             "input '%s' axis %d and input '%s' axis %d share dim '%s' "
                                             "but have sizes %lld and %lld", v->name, d, u->name, e,
                                             m->symbols[symbol_of_dim(want)], (long long)t->dims[d],
                                             (long long)s->inputs[j].dims[e]);
            }
        }
    }
    return ONYX_OK;
}

onyx_status onyx_session_set_output_buffer(onyx_session *s, size_t index, void *buffer, size_t capacity)
{
    onyx_status st = session_usable(s);
    if (st)
        return st;
    if (index >= (size_t)s->model->graph.n_outputs)
        return session_error(s, ONYX_ERROR_INVALID_ARGUMENT, "output index %zu is out of range (the model has %d outputs)",
                             index, s->model->graph.n_outputs);
    const graph *g = &s->model->graph;
    for (int i = 0; i < s->n_carries; i++)
        if (s->carries[i].output == (int)index)
            return session_error(s, ONYX_ERROR_INVALID_STATE,
                                 "output '%s' is carried over to input '%s': the session holds its buffers",
                                 g->values[g->outputs[index]].name, g->values[g->inputs[s->carries[i].input]].name);
    s->out_buffers[index] = buffer;
    s->out_capacity[index] = buffer ? capacity : 0;
    return ONYX_OK;
}

static void carry_drop(onyx_session *s, int i)
{
    carry *c = &s->carries[i];
    if (c->bound >= 0)
        s->input_set[c->input] = false; /* it read a buffer that goes now */
    for (int k = 0; k < 2; k++)
        mem_free(&s->mem, c->buf[k]);
    s->out_buffers[c->output] = NULL;
    s->out_capacity[c->output] = 0;
    *c = s->carries[--s->n_carries];
}

onyx_status onyx_session_carry(onyx_session *s, size_t output, size_t input, size_t reserve)
{
    onyx_status st = session_usable(s);
    if (st)
        return st;
    const graph *g = &s->model->graph;
    if (output >= (size_t)g->n_outputs)
        return session_error(s, ONYX_ERROR_INVALID_ARGUMENT,
                             "output index %zu is out of range (the model has %d outputs)", output, g->n_outputs);
    if (input != SIZE_MAX && input >= (size_t)g->n_inputs)
        return session_error(s, ONYX_ERROR_INVALID_ARGUMENT,
                             "input index %zu is out of range (the model has %d inputs)", input, g->n_inputs);
    const value *out = &g->values[g->outputs[output]];
    if (input != SIZE_MAX) {
        const value *in = &g->values[g->inputs[input]];
        /* The output's rank as inferred, else as declared. */
        int out_rank = out->info.rank >= 0 ? out->info.rank : g->output_decl[output].rank;
        for (int i = 0; i < s->n_carries; i++)
            if (s->carries[i].input == (int)input && s->carries[i].output != (int)output)
                return session_error(s, ONYX_ERROR_INVALID_ARGUMENT,
                                     "input '%s' is already carried from output '%s'", in->name,
                                     g->values[g->outputs[s->carries[i].output]].name);
        onyx_dtype type = in->info.dtype;
        if (out->info.dtype != type || type_is_container(type) || type_is_string(type) ||
            (out_rank >= 0 && in->info.rank >= 0 && out_rank != in->info.rank)) {
            char a[128], b[128];
            return session_error(s, ONYX_ERROR_INVALID_ARGUMENT,
                                 "output '%s' (%s %s) cannot be carried over to input '%s' (%s %s): dtypes or "
                                 "ranks differ, or not a tensor of numbers", out->name,
                                 type_str(out->info.dtype, a, sizeof a), shape_str(&out->info, a + 64, 64),
                                 in->name, type_str(type, b, sizeof b), shape_str(&in->info, b + 64, 64));
        }
    }
    for (int i = 0; i < s->n_carries; i++)
        if (s->carries[i].output == (int)output) {
            carry_drop(s, i);
            break;
        }
    if (input == SIZE_MAX)
        return ONYX_OK;
    s->carries[s->n_carries++] = (carry){.output = (int)output, .input = (int)input, .reserve = reserve,
                                         .bound = -1};
    s->out_buffers[output] = NULL;
    s->out_capacity[output] = 0;
    return ONYX_OK;
}

/* Gives carry c's target buffer room for `need` bytes. */
static onyx_status carry_fit(onyx_session *s, carry *c, size_t need)
{
    int k = c->target;
    if (c->buf[k] && c->cap[k] >= need)
        return ONYX_OK;
    size_t cap = c->cap[k] * 2 > need ? c->cap[k] * 2 : need;
    if (c->reserve > cap)
        cap = c->reserve;
    mem_free(&s->mem, c->buf[k]);
    c->buf[k] = NULL;
    c->cap[k] = 0;
    if (!(c->buf[k] = mem_alloc_raw(&s->mem, cap ? cap : 64)))
        return session_error(s, ONYX_ERROR_LIMIT,
                             "cannot allocate %zu bytes for output '%s' carried over to an input (out of memory "
                             "or above the memory limit)", cap,
                             s->model->graph.values[s->model->graph.outputs[c->output]].name);
    c->cap[k] = cap;
    return ONYX_OK;
}

/* Before a run: points each carried output at the buffer its input does not read, sized for
 * the planned output (an eager plan's outputs are sized after the run: see carry_after). */
static onyx_status carry_before(onyx_session *s)
{
    const graph *g = &s->model->graph;
    for (int i = 0; i < s->n_carries; i++) {
        carry *c = &s->carries[i];
        c->target = c->bound == 0 ? 1 : 0;
        if (s->plan.eager) {
            s->out_buffers[c->output] = NULL;
            continue;
        }
        onyx_status st = carry_fit(s, c, value_bytes(&s->plan.tensors[g->outputs[c->output]]));
        if (st)
            return st;
        s->out_buffers[c->output] = c->buf[c->target];
        s->out_capacity[c->output] = c->cap[c->target];
    }
    return ONYX_OK;
}

/* After a successful run: binds each carried input to its output's value, in its buffer. */
static onyx_status carry_after(onyx_session *s)
{
    for (int i = 0; i < s->n_carries; i++) {
        carry *c = &s->carries[i];
        onyx_tensor *t = &s->outputs[c->output];
        if (t->data != c->buf[c->target]) { /* eager: copied into the buffer now */
            size_t bytes = value_bytes(t);
            onyx_status st = carry_fit(s, c, bytes);
            if (st)
                return st;
            if (bytes)
                memcpy(c->buf[c->target], t->data, bytes);
            t->data = c->buf[c->target];
        }
        s->inputs[c->input] = *t;
        s->input_set[c->input] = true;
        c->bound = c->target;
    }
    return ONYX_OK;
}

/* Tells the log about the plan when the input shapes differ from the last plan's. */
static void log_plan(onyx_session *s)
{
    const graph *g = &s->model->graph;
    if (!log_enabled(&s->log, ONYX_LOG_INFO))
        return;
    bool same = s->logged_plan;
    for (int i = 0; i < g->n_inputs && same; i++)
        same = s->logged_shapes[i].rank == s->inputs[i].rank &&
               !memcmp(s->logged_shapes[i].dims, s->inputs[i].dims, (size_t)s->inputs[i].rank * sizeof(int64_t));
    if (same)
        return;
    s->logged_plan = true;
    char shapes[512] = "", shape[128];
    size_t used = 0;
    for (int i = 0; i < g->n_inputs && used < sizeof shapes; i++) {
        s->logged_shapes[i] = s->inputs[i];
        used += (size_t)snprintf(shapes + used, sizeof shapes - used, "%s%s=%s", i ? ", " : "",
                                 g->values[g->inputs[i]].name, shape_str(&s->inputs[i], shape, sizeof shape));
    }
    const plan *p = &s->plan;
    if (p->eager) {
        const node *n = p->deferred_by;
        log_message(&s->log, ONYX_LOG_INFO,
                    "plan for %s: eager (node by node, allocating each value), because node '%s' "
                    "(%s) needs computed data to know its output shape", shapes,
                    n ? n->name : "?", n ? n->op_type : "?");
        return;
    }
    int live = 0;
    for (int i = 0; i < g->n_nodes; i++)
        live += !g->nodes[i].dead;
    char arena[32], scratch[32];
    log_message(&s->log, ONYX_LOG_INFO,
                "plan for %s: static, %d steps (%d nodes computed while planning), arena %s, "
                "scratch %s per thread; planned in %.3f ms (%d of the %d nodes planned, the others kept "
                "from the last plan; %s)", shapes, p->n_steps, live - p->n_steps,
                bytes_text(p->arena_bytes, arena), bytes_text(p->scratch_per_thread, scratch),
                (double)p->plan_ns / 1e6, p->reshaped, live,
                p->layout_kept ? "the arena layout of the last plan kept" : "values placed in the arena");
}

static bool overlaps(const void *a, size_t a_size, const void *b, size_t b_size)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return a_size && b_size && x < y + b_size && y < x + a_size;
}

/* Whether output i's buffer overlaps a bound input, which the run still reads. */
static bool buffer_overlaps_input(const onyx_session *s, int i)
{
    const graph *g = &s->model->graph;
    for (int k = 0; k < g->n_inputs; k++)
        if (overlaps(s->out_buffers[i], s->out_capacity[i], s->inputs[k].data, value_bytes(&s->inputs[k])))
            return true;
    return false;
}

/* Outputs with a caller buffer that do not fit it; checked before anything is written. */
static onyx_status check_capacity(onyx_session *s)
{
    const graph *g = &s->model->graph;
    for (int i = 0; i < g->n_outputs; i++) {
        size_t bytes = value_bytes(&s->plan.tensors[g->outputs[i]]);
        if (s->out_buffers[i] && bytes > s->out_capacity[i])
            return session_error(s, ONYX_ERROR_INVALID_ARGUMENT, "output '%s' needs %zu bytes; its buffer holds %zu",
                                 g->values[g->outputs[i]].name, bytes, s->out_capacity[i]);
    }
    return ONYX_OK;
}

/* Points the steps of a static plan that compute outputs at the caller's buffers, so that
 * the kernels write there. An output qualifies when the plan gave it arena memory (a step
 * computes it) and its buffer does not overlap an input. */
static void outputs_in_place(onyx_session *s)
{
    const graph *g = &s->model->graph;
    const plan *p = &s->plan;
    if (p->eager)
        return; /* values are allocated as the run goes */
    for (int i = 0; i < g->n_outputs; i++) {
        onyx_tensor *t = &s->plan.tensors[g->outputs[i]];
        unsigned char *at = t->data;
        bool in_arena = at && p->arena && at >= p->arena && at < p->arena + p->arena_bytes;
        if (!s->out_buffers[i] || !in_arena || buffer_overlaps_input(s, i))
            continue;
        s->out_planned[i] = t->data;
        t->data = s->out_buffers[i];
    }
}

/* Why output i, which has a caller buffer, was not written there in place. */
static const char *copy_reason(const onyx_session *s, int i)
{
    const graph *g = &s->model->graph;
    if (s->plan.eager)
        return "the model runs node by node";
    if (buffer_overlaps_input(s, i))
        return "its buffer overlaps an input";
    for (int k = 0; k < i; k++)
        if (g->outputs[k] == g->outputs[i])
            return "an earlier output is the same value";
    return "no step computes it (a constant, an input, or folded while planning)";
}

static void outputs_restore(onyx_session *s)
{
    const graph *g = &s->model->graph;
    for (int i = g->n_outputs - 1; i >= 0; i--)
        if (s->out_planned[i]) {
            s->plan.tensors[g->outputs[i]].data = s->out_planned[i];
            s->out_planned[i] = NULL;
        }
}

onyx_status onyx_session_run(onyx_session *s)
{
    onyx_status st = session_usable(s);
    if (st)
        return st;
    const graph *g = &s->model->graph;
    s->has_outputs = false;
    s->errmsg[0] = '\0';
    if ((st = check_dims(s)))
        return st;
    st = plan_prepare(&s->plan, &s->env, g, s->inputs);
    if (st)
        return session_error(s, st, "%s", s->env.op.errmsg);
    log_plan(s);
    if ((st = carry_before(s)))
        return st;
    if (!s->plan.eager && (st = check_capacity(s)))
        return st;
    outputs_in_place(s);
    st = plan_run(&s->plan, &s->env, g, s->inputs);
    for (int i = 0; i < g->n_outputs && !st; i++)
        s->outputs[i] = s->plan.tensors[g->outputs[i]];
    outputs_restore(s);
    if (st)
        return session_error(s, st, "%s", s->env.op.errmsg);
    if (s->plan.eager && (st = check_capacity(s)))
        return st;
    for (int i = 0; i < g->n_outputs; i++) {
        onyx_tensor *t = &s->outputs[i];
        if (!s->out_buffers[i] || t->data == s->out_buffers[i])
            continue;
        size_t bytes = value_bytes(t); /* a sequence's block moves whole: it holds no pointers */
        if (bytes)
            memmove(s->out_buffers[i], t->data, bytes);
        t->data = s->out_buffers[i];
        log_message(&s->log, ONYX_LOG_DEBUG, "output '%s' copied into its buffer (%zu bytes): %s",
                    g->values[g->outputs[i]].name, bytes, copy_reason(s, i));
    }
    if ((st = carry_after(s)))
        return st;
    s->has_outputs = true;
    return ONYX_OK;
}

onyx_status onyx_session_get_output(const onyx_session *s, size_t index, onyx_tensor *tensor)
{
    if (!s || !tensor)
        return ONYX_ERROR_INVALID_ARGUMENT;
    if (!s->model)
        return ONYX_ERROR_INVALID_STATE;
    if (index >= (size_t)s->model->graph.n_outputs)
        return ONYX_ERROR_INVALID_ARGUMENT;
    if (!s->has_outputs)
        return ONYX_ERROR_INVALID_STATE;
    *tensor = s->outputs[index];
    return ONYX_OK;
}
