/* Memory accounting, error text, dtypes and shape helpers shared by every stage. */
#include "ir.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- memory ------------------------------------------------------------------------------ */

#define MEM_ALIGN 64

typedef struct mem_header {
    size_t size;
    _Alignas(64) unsigned char data[];
} mem_header;

static mem_header *header_of(void *ptr)
{
    return (mem_header *)((unsigned char *)ptr - offsetof(mem_header, data));
}

static bool mem_reserve(mem *m, size_t size)
{
    if (size > (size_t)INT64_MAX / 2)
        return false;
    int64_t after = atomic_fetch_add(&m->used, (int64_t)size) + (int64_t)size;
    if (m->limit > 0 && after > m->limit) {
        atomic_fetch_sub(&m->used, (int64_t)size);
        return false;
    }
    return true;
}

#define HUGE_PAGE ((uintptr_t)2 << 20)
#define HUGE_BLOCK ((size_t)4 << 20)

/* What a block of `size` usable bytes costs: header included, rounded to the alignment. */
static size_t block_bytes(size_t size)
{
    return (sizeof(mem_header) + size + MEM_ALIGN - 1) & ~(size_t)(MEM_ALIGN - 1);
}

void *mem_alloc_raw(mem *m, size_t size)
{
    if (size > SIZE_MAX / 2)
        return NULL;
    size_t total = block_bytes(size);
    if (!mem_reserve(m, total))
        return NULL;
    const allocator *a = &m->allocator;
    /* Large blocks (weights, arenas) start on a 2 MiB boundary and go in 2 MiB pages where the
     * kernel offers them on request: one page fault per 2 MiB instead of per 4 KiB makes
     * loading much faster. */
    bool huge = !a->alloc && total >= HUGE_BLOCK;
    mem_header *h = NULL;
    if (a->alloc)
        h = a->alloc(a->user, total, MEM_ALIGN);
    else if (posix_memalign((void **)&h, huge ? (size_t)HUGE_PAGE : MEM_ALIGN, total) != 0)
        h = NULL; /* (aligned_alloc would want total to be a multiple of the alignment) */
#ifdef MADV_HUGEPAGE
    if (h && huge) {
        uintptr_t start = (uintptr_t)h, end = (start + total) & ~(uintptr_t)(HUGE_PAGE - 1);
        if (end > start)
            madvise((void *)start, end - start, MADV_HUGEPAGE);
    }
#endif
    if (h && ((uintptr_t)h & (MEM_ALIGN - 1))) {
        a->free(a->user, h, total); /* a caller's allocator that ignored the alignment */
        h = NULL;
    }
    if (!h) {
        atomic_fetch_sub(&m->used, (int64_t)total);
        return NULL;
    }
    h->size = size;
    return h->data;
}

void *mem_alloc(mem *m, size_t size)
{
    void *p = mem_alloc_raw(m, size);
    if (p)
        memset(p, 0, size);
    return p;
}

void *mem_alloc_owner(const mem *like, size_t size, size_t mem_offset)
{
    /* Not held to the limit itself (the object is small and fixed, and must exist to carry
     * the error of the first allocation that is), but counted against it from the start. */
    mem boot = {.limit = 0, .allocator = like->allocator};
    unsigned char *object = mem_alloc(&boot, size);
    if (!object)
        return NULL;
    mem *own = (mem *)(object + mem_offset);
    own->limit = like->limit;
    own->allocator = like->allocator;
    atomic_store(&own->used, atomic_load(&boot.used));
    return object;
}

void *mem_realloc(mem *m, void *ptr, size_t new_size)
{
    if (!ptr)
        return mem_alloc(m, new_size);
    size_t old = header_of(ptr)->size;
    if (new_size <= old)
        return ptr;
    void *p = mem_alloc(m, new_size);
    if (!p)
        return NULL;
    memcpy(p, ptr, old);
    mem_free(m, ptr);
    return p;
}

void mem_free(mem *m, void *ptr)
{
    if (!ptr)
        return;
    mem_header *h = header_of(ptr);
    size_t total = block_bytes(h->size);
    allocator a = m->allocator; /* read before the block, which may hold m, goes */
    atomic_fetch_sub(&m->used, (int64_t)total);
    if (a.free)
        a.free(a.user, h, total);
    else
        free(h);
}

char *mem_strdup(mem *m, const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s) + 1;
    char *d = mem_alloc(m, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void *block_alloc(mem *m, mem_block **list, size_t size, bool zeroed)
{
    if (size > SIZE_MAX / 2)
        return NULL;
    mem_block *b = zeroed ? mem_alloc(m, sizeof(mem_block) + size) : mem_alloc_raw(m, sizeof(mem_block) + size);
    if (!b)
        return NULL;
    b->next = *list;
    *list = b;
    return b->data;
}

void *mem_block_alloc(mem *m, mem_block **list, size_t size) { return block_alloc(m, list, size, true); }
void *mem_block_alloc_raw(mem *m, mem_block **list, size_t size) { return block_alloc(m, list, size, false); }

void mem_block_free_all(mem *m, mem_block **list)
{
    mem_block *b = *list;
    while (b) {
        mem_block *next = b->next;
        mem_free(m, b);
        b = next;
    }
    *list = NULL;
}

/* ---- errors and logging ------------------------------------------------------------------ */

onyx_status set_error(char *buf, onyx_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, ERRMSG_SIZE, fmt, ap);
    va_end(ap);
    return status;
}

void log_message(const logger *l, onyx_log_level level, const char *fmt, ...)
{
    if (!log_enabled(l, level))
        return;
    char text[ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    l->fn(l->user, level, text);
}

const char *onyx_status_str(onyx_status status)
{
    switch (status) {
    case ONYX_OK: return "ok";
    case ONYX_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case ONYX_ERROR_INVALID_STATE: return "invalid state";
    case ONYX_ERROR_OUT_OF_MEMORY: return "out of memory";
    case ONYX_ERROR_IO: return "i/o error";
    case ONYX_ERROR_INVALID_MODEL: return "invalid model";
    case ONYX_ERROR_UNSUPPORTED: return "unsupported";
    case ONYX_ERROR_INVALID_INPUT: return "invalid input";
    case ONYX_ERROR_LIMIT: return "limit exceeded";
    case ONYX_ERROR_RUNTIME: return "runtime error";
    }
    return "unknown status";
}

/* ---- dtypes ------------------------------------------------------------------------------ */

static const struct {
    const char *name;
    size_t size;
} dtype_table[] = {
    [ONYX_DTYPE_UNDEFINED] = {"undefined", 0}, [ONYX_DTYPE_FLOAT] = {"float", 4},
    [ONYX_DTYPE_UINT8] = {"uint8", 1},         [ONYX_DTYPE_INT8] = {"int8", 1},
    [ONYX_DTYPE_UINT16] = {"uint16", 2},       [ONYX_DTYPE_INT16] = {"int16", 2},
    [ONYX_DTYPE_INT32] = {"int32", 4},         [ONYX_DTYPE_INT64] = {"int64", 8},
    [ONYX_DTYPE_STRING] = {"string", 0},       [ONYX_DTYPE_BOOL] = {"bool", 1},
    [ONYX_DTYPE_FLOAT16] = {"float16", 2},     [ONYX_DTYPE_DOUBLE] = {"double", 8},
    [ONYX_DTYPE_UINT32] = {"uint32", 4},       [ONYX_DTYPE_UINT64] = {"uint64", 8},
    [ONYX_DTYPE_COMPLEX64] = {"complex64", 8}, [ONYX_DTYPE_COMPLEX128] = {"complex128", 16},
    [ONYX_DTYPE_BFLOAT16] = {"bfloat16", 2},
    /* The narrow types are held one element per byte (see onyx_dtype in onyx.h). */
    [ONYX_DTYPE_FLOAT8E4M3FN] = {"float8e4m3fn", 1}, [ONYX_DTYPE_FLOAT8E4M3FNUZ] = {"float8e4m3fnuz", 1},
    [ONYX_DTYPE_FLOAT8E5M2] = {"float8e5m2", 1},     [ONYX_DTYPE_FLOAT8E5M2FNUZ] = {"float8e5m2fnuz", 1},
    [ONYX_DTYPE_UINT4] = {"uint4", 1},               [ONYX_DTYPE_INT4] = {"int4", 1},
    [ONYX_DTYPE_FLOAT4E2M1] = {"float4e2m1", 1},     [ONYX_DTYPE_FLOAT8E8M0] = {"float8e8m0", 1},
    [ONYX_DTYPE_UINT2] = {"uint2", 1},               [ONYX_DTYPE_INT2] = {"int2", 1},
    [ONYX_DTYPE_FLOAT6E2M3] = {"float6e2m3", 1},     [ONYX_DTYPE_FLOAT6E3M2] = {"float6e3m2", 1},
};

const max_align_t empty_tensor_data;

int open_regular_file(const char *path, struct stat *sb)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    if (fstat(fd, sb) != 0 || !S_ISREG(sb->st_mode)) {
        close(fd);
        return -2;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

bool dtype_valid(int code)
{
    return code > 0 && code < (int)(sizeof dtype_table / sizeof dtype_table[0]);
}

const char *onyx_dtype_name(onyx_dtype dtype)
{
    return dtype_valid((int)dtype) ? dtype_table[dtype].name : "undefined";
}

size_t onyx_dtype_size(onyx_dtype dtype)
{
    return dtype_valid((int)dtype) ? dtype_table[dtype].size : 0;
}

/* ---- shapes ------------------------------------------------------------------------------ */

int64_t onyx_tensor_element_count(const onyx_tensor *t)
{
    if (!t || t->rank < 0 || t->rank > ONYX_MAX_RANK)
        return -1;
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0 || !mul_ok(n, t->dims[i], &n))
            return -1;
    return n;
}

onyx_status shape_validate(const onyx_tensor *t, const limits *lim, const char *what, char *errmsg)
{
    if (t->rank < 0 || t->rank > ONYX_MAX_RANK)
        return set_error(errmsg, ONYX_ERROR_UNSUPPORTED, "%s has rank %d; onyx handles ranks 0 to %d",
                         what, t->rank, ONYX_MAX_RANK);
    int64_t n = 1, nonzero = 1; /* the product of the dims, and of those other than 0 */
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0)
            return set_error(errmsg, ONYX_ERROR_INVALID_MODEL, "%s has negative dim %lld at axis %d",
                             what, (long long)t->dims[i], i);
        if (!mul_ok(nonzero, t->dims[i] ? t->dims[i] : 1, &nonzero))
            return set_error(errmsg, ONYX_ERROR_LIMIT,
                             "%s has too many elements (their count overflows 64 bits)", what);
        n *= t->dims[i];
    }
    if (lim && n > lim->tensor_elements)
        return set_error(errmsg, ONYX_ERROR_LIMIT,
                         "%s has %lld elements, above the limit of %lld", what, (long long)n,
                         (long long)lim->tensor_elements);
    if (lim && nonzero > lim->tensor_elements) {
        char buf[256];
        return set_error(errmsg, ONYX_ERROR_LIMIT,
                         "%s %s is empty, but its other dims multiply to %lld, above the limit of %lld "
                         "elements (a bound on every shape)", what, shape_str(t, buf, sizeof buf),
                         (long long)nonzero, (long long)lim->tensor_elements);
    }
    return ONYX_OK;
}

/* ---- options ----------------------------------------------------------------------------- */

void options_defaults(onyx_options *o)
{
    memset(o, 0, sizeof *o);
    o->threads = 1;
    o->optimize = true;
    o->limits.model_bytes = INT64_C(2) << 30;
    o->limits.tensor_elements = INT32_MAX;
    o->limits.memory_bytes = INT64_C(8) << 30;
    o->limits.graph_nodes = 1000000;
    o->limits.graph_depth = 16;
    o->limits.subgraph_runs = 1000000;
}

onyx_status onyx_options_create(onyx_options **options)
{
    if (!options)
        return ONYX_ERROR_INVALID_ARGUMENT;
    *options = malloc(sizeof **options);
    if (!*options)
        return ONYX_ERROR_OUT_OF_MEMORY;
    options_defaults(*options);
    return ONYX_OK;
}

void onyx_options_free(onyx_options *options)
{
    if (!options)
        return;
    free(options->external_data_dir);
    free(options);
}

onyx_status onyx_options_set_threads(onyx_options *options, int threads)
{
    if (!options || threads < 0 || threads > 256)
        return ONYX_ERROR_INVALID_ARGUMENT;
    options->threads = threads;
    return ONYX_OK;
}

onyx_status onyx_options_set_optimization(onyx_options *options, int enabled)
{
    if (!options || (enabled != 0 && enabled != 1))
        return ONYX_ERROR_INVALID_ARGUMENT;
    options->optimize = enabled;
    return ONYX_OK;
}

onyx_status onyx_options_set_precision(onyx_options *options, onyx_precision precision)
{
    if (!options || (precision != ONYX_PRECISION_FP32 && precision != ONYX_PRECISION_BF16))
        return ONYX_ERROR_INVALID_ARGUMENT;
    options->precision = precision;
    return ONYX_OK;
}

onyx_status onyx_options_set_limit(onyx_options *options, onyx_limit limit, int64_t value)
{
    if (!options || value <= 0)
        return ONYX_ERROR_INVALID_ARGUMENT;
    switch (limit) {
    case ONYX_LIMIT_MODEL_BYTES: options->limits.model_bytes = value; break;
    case ONYX_LIMIT_TENSOR_ELEMENTS:
        /* Kernels take sizes as 32-bit ints (BLAS, tiles) on the strength of this limit. */
        if (value > INT32_MAX)
            return ONYX_ERROR_INVALID_ARGUMENT;
        options->limits.tensor_elements = value;
        break;
    case ONYX_LIMIT_MEMORY_BYTES: options->limits.memory_bytes = value; break;
    case ONYX_LIMIT_GRAPH_NODES: options->limits.graph_nodes = value; break;
    case ONYX_LIMIT_GRAPH_DEPTH: options->limits.graph_depth = value; break;
    case ONYX_LIMIT_SUBGRAPH_RUNS: options->limits.subgraph_runs = value; break;
    default: return ONYX_ERROR_INVALID_ARGUMENT;
    }
    return ONYX_OK;
}

onyx_status onyx_options_set_external_data_dir(onyx_options *options, const char *dir)
{
    if (!options)
        return ONYX_ERROR_INVALID_ARGUMENT;
    char *copy = NULL;
    if (dir && !(copy = strdup(dir)))
        return ONYX_ERROR_OUT_OF_MEMORY;
    free(options->external_data_dir);
    options->external_data_dir = copy;
    return ONYX_OK;
}

onyx_status onyx_options_set_allocator(onyx_options *options, onyx_alloc_fn alloc, onyx_free_fn free,
                                       void *user)
{
    if (!options || !alloc != !free)
        return ONYX_ERROR_INVALID_ARGUMENT;
    options->allocator = (allocator){alloc, free, alloc ? user : NULL};
    return ONYX_OK;
}

onyx_status onyx_options_set_log(onyx_options *options, onyx_log_fn callback, void *user,
                                 onyx_log_level max_level)
{
    if (!options || max_level < ONYX_LOG_ERROR || max_level > ONYX_LOG_DEBUG)
        return ONYX_ERROR_INVALID_ARGUMENT;
    options->log = (logger){callback, callback ? user : NULL, max_level};
    return ONYX_OK;
}

int onyx_version_number(void) { return ONYX_VERSION_NUMBER; }
const char *onyx_version_string(void) { return ONYX_VERSION_STRING; }
