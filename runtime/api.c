/* The public API (onyx.h): argument checks at each entry, then the stages. */
#include "ir.h"
#include "plan.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- models ------------------------------------------------------------------------------ */

static onyx_model *model_new(const onyx_options *options)
{
    onyx_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    onyx_options defaults;
    options_defaults(&defaults);
    if (!options)
        options = &defaults;
    m->limits = options->limits;
    m->mem.limit = options->limits.memory_bytes;
    m->threads = options->threads;
    m->optimize = options->optimize;
    return m;
}

static onyx_status model_finish(onyx_model *m, onyx_status st)
{
    if (!st) {
        m->imported = true;
        st = graph_check(m, &m->graph);
    }
    if (!st && m->optimize) {
        st = graph_optimize(m, &m->graph);
        if (!st)
            graph_prune(m, &m->graph);
    }
    m->status = st;
    return st;
}

onyx_status onyx_model_load_buffer(const void *data, size_t size, const onyx_options *options,
                                   onyx_model **model)
{
    if (!model)
        return ONYX_ERROR_INVALID_ARGUMENT;
    onyx_model *m = *model = model_new(options);
    if (!m)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if (!data && size)
        return m->status = set_error(m->errmsg, ONYX_ERROR_INVALID_ARGUMENT, "model data is NULL");
    if (options && options->external_data_dir &&
        !(m->dir = mem_strdup(&m->mem, options->external_data_dir)))
        return m->status = set_error(m->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory");
    return model_finish(m, model_import(m, data ? data : "", size));
}

onyx_status onyx_model_load_file(const char *path, const onyx_options *options, onyx_model **model)
{
    if (!model)
        return ONYX_ERROR_INVALID_ARGUMENT;
    onyx_model *m = *model = model_new(options);
    if (!m)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if (!path)
        return m->status = set_error(m->errmsg, ONYX_ERROR_INVALID_ARGUMENT, "model path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return m->status = set_error(m->errmsg, ONYX_ERROR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return m->status = set_error(m->errmsg, ONYX_ERROR_IO, "'%s' is not a regular file", path);
    }
    if ((int64_t)sb.st_size > m->limits.model_bytes) {
        close(fd);
        return m->status = set_error(m->errmsg, ONYX_ERROR_LIMIT,
                                     "'%s' has %lld bytes, above the model size limit of %lld", path,
                                     (long long)sb.st_size, (long long)m->limits.model_bytes);
    }
    size_t size = (size_t)sb.st_size;
    unsigned char *bytes = mem_alloc_raw(&m->mem, size);
    if (!bytes) {
        close(fd);
        return m->status = set_error(m->errmsg, ONYX_ERROR_LIMIT, "cannot allocate %zu bytes to read '%s'",
                                     size, path);
    }
    size_t done = 0;
    while (done < size) {
        ssize_t r = read(fd, bytes + done, size - done);
        if (r <= 0)
            break;
        done += (size_t)r;
    }
    close(fd);
    if (done != size) {
        mem_free(&m->mem, bytes);
        return m->status = set_error(m->errmsg, ONYX_ERROR_IO, "reading '%s' failed", path);
    }
    char *copy = mem_strdup(&m->mem, path);
    if (copy) {
        m->dir = mem_strdup(&m->mem, dirname(copy));
        mem_free(&m->mem, copy);
    }
    onyx_status st = m->dir ? model_import(m, bytes, size)
                            : set_error(m->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory");
    mem_free(&m->mem, bytes);
    if (st) {
        /* Name the file in the message. */
        char inner[ERRMSG_SIZE];
        snprintf(inner, sizeof inner, "%s", m->errmsg);
        set_error(m->errmsg, st, "%s: %s", path, inner);
        m->status = st;
        return st;
    }
    return model_finish(m, st);
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
    free(model);
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
    info->rank = t->rank;
    for (int d = 0; d < t->rank && d < ONYX_MAX_RANK; d++) {
        int64_t dim = t->dims[d];
        info->dims[d] = dim_known(dim) ? dim : -1;
        int s = symbol_of_dim(dim);
        info->dim_names[d] = s >= 0 && s < m->n_symbols ? m->symbols[s] : NULL;
    }
}

onyx_status onyx_model_input_info(const onyx_model *model, size_t index, onyx_value_info *info)
{
    if (!model_ok(model) || !info || index >= (size_t)model->graph.n_inputs)
        return ONYX_ERROR_INVALID_ARGUMENT;
    const value *v = &model->graph.values[model->graph.inputs[index]];
    fill_info(model, v->name, &v->info, info);
    return ONYX_OK;
}

onyx_status onyx_model_output_info(const onyx_model *model, size_t index, onyx_value_info *info)
{
    if (!model_ok(model) || !info || index >= (size_t)model->graph.n_outputs)
        return ONYX_ERROR_INVALID_ARGUMENT;
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
    if (!model_ok(m) || index >= (size_t)m->n_opsets || !domain || !version)
        return ONYX_ERROR_INVALID_ARGUMENT;
    *domain = m->opsets[index].domain;
    *version = m->opsets[index].version;
    return ONYX_OK;
}

size_t onyx_model_node_count(const onyx_model *m) { return model_ok(m) ? (size_t)m->graph.n_nodes : 0; }

onyx_status onyx_model_node_info(const onyx_model *m, size_t index, onyx_node_info *info)
{
    if (!model_ok(m) || !info || index >= (size_t)m->graph.n_nodes)
        return ONYX_ERROR_INVALID_ARGUMENT;
    const node *n = &m->graph.nodes[index];
    info->name = n->name;
    info->op_type = n->written_op_type ? n->written_op_type : n->op_type;
    info->domain = n->domain;
    info->opset = n->opset;
    info->supported = n->supported;
    return ONYX_OK;
}

/* ---- sessions ---------------------------------------------------------------------------- */

struct onyx_session {
    const onyx_model *model;
    mem mem;
    limits limits;
    pool *pool;
    onyx_status status;
    char errmsg[ERRMSG_SIZE];
    onyx_tensor *inputs;
    bool *input_set;
    void **out_buffers;
    size_t *out_capacity;
    onyx_tensor *outputs;
    bool has_outputs;
    plan plan;
    exec_env env;
    char **profile_names; /* "domain.op" per node when profiling, else NULL */
};

static int available_processors(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

onyx_status onyx_session_create(const onyx_model *model, const onyx_options *options, onyx_session **session)
{
    if (!session)
        return ONYX_ERROR_INVALID_ARGUMENT;
    onyx_session *s = *session = calloc(1, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    if (!model)
        return s->status = set_error(s->errmsg, ONYX_ERROR_INVALID_ARGUMENT, "model is NULL");
    if (model->status)
        return s->status = set_error(s->errmsg, ONYX_ERROR_INVALID_STATE, "the model failed to load: %s",
                                     model->errmsg);
    s->model = model;
    s->limits = options ? options->limits : model->limits;
    s->mem.limit = s->limits.memory_bytes;
    int threads = options ? options->threads : model->threads;
    if (threads == 0)
        threads = available_processors();
    if (threads > 1 && !(s->pool = pool_create(threads)))
        return s->status = set_error(s->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "cannot start %d threads", threads);
    const graph *g = &model->graph;
    size_t ni = (size_t)g->n_inputs + 1, no = (size_t)g->n_outputs + 1;
    if (!(s->inputs = mem_alloc(&s->mem, ni * sizeof(onyx_tensor))) ||
        !(s->input_set = mem_alloc(&s->mem, ni)) ||
        !(s->out_buffers = mem_alloc(&s->mem, no * sizeof(void *))) ||
        !(s->out_capacity = mem_alloc(&s->mem, no * sizeof(size_t))) ||
        !(s->outputs = mem_alloc(&s->mem, no * sizeof(onyx_tensor))))
        return s->status = set_error(s->errmsg, ONYX_ERROR_OUT_OF_MEMORY, "out of memory creating a session");
    s->env.mem = &s->mem;
    s->env.limits = &s->limits;
    s->env.pool = s->pool;
    return ONYX_OK;
}

const char *onyx_session_errmsg(const onyx_session *session)
{
    return session ? session->errmsg : "no session (NULL)";
}

static bool session_usable(onyx_session *s);

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
    if (!session_usable(s))
        return s ? set_error(s->errmsg, ONYX_ERROR_INVALID_STATE, "the session was not created") : ONYX_ERROR_INVALID_ARGUMENT;
    if (s->model)
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
    mem_free(&session->mem, session->out_buffers);
    mem_free(&session->mem, session->out_capacity);
    mem_free(&session->mem, session->outputs);
    free(session);
}

static bool session_usable(onyx_session *s)
{
    return s && s->model && s->inputs;
}

onyx_status onyx_session_set_input(onyx_session *s, size_t index, const onyx_tensor *t)
{
    if (!session_usable(s))
        return s ? set_error(s->errmsg, ONYX_ERROR_INVALID_STATE, "the session was not created") : ONYX_ERROR_INVALID_ARGUMENT;
    const graph *g = &s->model->graph;
    if (index >= (size_t)g->n_inputs)
        return set_error(s->errmsg, ONYX_ERROR_INVALID_ARGUMENT, "input index %zu is out of range (the model has %d inputs)",
                         index, g->n_inputs);
    const value *v = &g->values[g->inputs[index]];
    if (!t)
        return set_error(s->errmsg, ONYX_ERROR_INVALID_ARGUMENT, "input '%s': tensor is NULL", v->name);
    char want[128], got[128];
    if (t->dtype != v->info.dtype)
        return set_error(s->errmsg, ONYX_ERROR_INVALID_INPUT, "input '%s' must have dtype %s, got %s", v->name,
                            onyx_dtype_name(v->info.dtype), onyx_dtype_name(t->dtype));
    if (t->rank < 0 || t->rank > ONYX_MAX_RANK || (v->info.rank >= 0 && t->rank != v->info.rank))
        return set_error(s->errmsg, ONYX_ERROR_INVALID_INPUT, "input '%s' must have shape %s, got %s", v->name,
                            shape_str(&v->info, want, sizeof want), shape_str(t, got, sizeof got));
    char what[300];
    snprintf(what, sizeof what, "input '%s'", v->name);
    onyx_status st = shape_validate(t, &s->limits, what, s->errmsg);
    if (st)
        return st == ONYX_ERROR_LIMIT ? st : ONYX_ERROR_INVALID_INPUT;
    if (!t->data && tensor_count(t) > 0)
        return set_error(s->errmsg, ONYX_ERROR_INVALID_ARGUMENT, "input '%s': data is NULL", v->name);
    s->inputs[index] = *t;
    s->input_set[index] = true;
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
            return set_error(s->errmsg, ONYX_ERROR_INVALID_STATE, "input '%s' is not set", v->name);
        const onyx_tensor *t = &s->inputs[i];
        for (int d = 0; d < v->info.rank; d++) {
            int64_t want = v->info.dims[d];
            char a[128], b[128];
            if (dim_known(want) && t->dims[d] != want)
                return set_error(s->errmsg, ONYX_ERROR_INVALID_INPUT,
                                 "input '%s' must have shape %s, got %s (axis %d)", v->name,
                                 shape_str(&v->info, a, sizeof a), shape_str(t, b, sizeof b), d);
            if (symbol_of_dim(want) < 0)
                continue;
            /* The same symbol earlier: must have the same size. */
            for (int j = 0; j <= i; j++) {
                const value *u = &g->values[g->inputs[j]];
                for (int e = 0; e < u->info.rank && (j < i || e < d); e++)
                    if (u->info.dims[e] == want && s->inputs[j].dims[e] != t->dims[d])
                        return set_error(s->errmsg, ONYX_ERROR_INVALID_INPUT,
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
    if (!session_usable(s))
        return s ? set_error(s->errmsg, ONYX_ERROR_INVALID_STATE, "the session was not created") : ONYX_ERROR_INVALID_ARGUMENT;
    if (index >= (size_t)s->model->graph.n_outputs)
        return set_error(s->errmsg, ONYX_ERROR_INVALID_ARGUMENT, "output index %zu is out of range", index);
    s->out_buffers[index] = buffer;
    s->out_capacity[index] = buffer ? capacity : 0;
    return ONYX_OK;
}

onyx_status onyx_session_run(onyx_session *s)
{
    if (!session_usable(s))
        return s ? set_error(s->errmsg, ONYX_ERROR_INVALID_STATE, "the session was not created") : ONYX_ERROR_INVALID_ARGUMENT;
    const graph *g = &s->model->graph;
    s->has_outputs = false;
    s->errmsg[0] = '\0';
    onyx_status st = check_dims(s);
    if (st)
        return st;
    st = plan_execute(&s->plan, &s->env, g, s->inputs);
    if (st) {
        snprintf(s->errmsg, sizeof s->errmsg, "%s", s->env.op.errmsg);
        return st;
    }
    for (int i = 0; i < g->n_outputs; i++) {
        onyx_tensor *t = &s->plan.tensors[g->outputs[i]];
        s->outputs[i] = *t;
        if (!s->out_buffers[i])
            continue;
        size_t bytes = tensor_bytes(t);
        if (bytes > s->out_capacity[i])
            return set_error(s->errmsg, ONYX_ERROR_INVALID_ARGUMENT,
                             "output '%s' needs %zu bytes; its buffer holds %zu",
                             g->values[g->outputs[i]].name, bytes, s->out_capacity[i]);
        if (bytes)
            memmove(s->out_buffers[i], t->data, bytes);
        s->outputs[i].data = s->out_buffers[i];
    }
    s->has_outputs = true;
    return ONYX_OK;
}

onyx_status onyx_session_get_output(const onyx_session *s, size_t index, onyx_tensor *tensor)
{
    if (!s || !tensor || !s->model)
        return ONYX_ERROR_INVALID_ARGUMENT;
    if (index >= (size_t)s->model->graph.n_outputs)
        return ONYX_ERROR_INVALID_ARGUMENT;
    if (!s->has_outputs)
        return ONYX_ERROR_INVALID_STATE;
    *tensor = s->outputs[index];
    return ONYX_OK;
}
