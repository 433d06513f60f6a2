/*
 * _onyx: the CPython extension under the Python package onyx. A thin layer over include/onyx.h
 * (nothing else of the library is visible here): one type, Session, holding a model and a
 * session, whose run() binds numpy arrays in place, runs with the GIL released and copies the
 * outputs into new arrays. The Python side (onyx/_session.py) adds ONNX Runtime's API.
 *
 * Written in C rather than over ctypes/cffi because a run is several calls into the library
 * (one per input, the run, one per output) plus an array made per output: in C these cost
 * nanoseconds each, through ctypes a microsecond or more each, and numpy's C API reads an
 * array's dtype, shape and pointer without any Python call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>
#define NPY_NO_DEPRECATED_API NPY_1_21_API_VERSION
#include <numpy/arrayobject.h>

#include <onyx.h>
#include <string.h>

/* The exception class for each onyx_status, set by onyx/__init__.py (_set_errors): the classes
 * are written in Python, with their docstrings. Index: the status code. */
#define N_STATUS 10
static PyObject *error_classes[N_STATUS];
static PyObject *base_error; /* onyx.OnyxError */
/* onyx._session._convert_input: the slow path for inputs that are not C-contiguous native
 * arrays of a dtype numpy knows (lists, non-contiguous or byte-swapped arrays, ml_dtypes' types
 * such as bfloat16 and float8_e4m3fn), and for every sequence or optional input. */
static PyObject *convert_input;
/* onyx._session._wrap_output: views the raw bytes of an output of a type numpy lacks as
 * ml_dtypes' type (bfloat16, float8_e4m3fn, int4, ...). */
static PyObject *wrap_output;

static PyObject *error_class(onyx_status status)
{
    PyObject *cls = status > 0 && status < N_STATUS ? error_classes[status] : NULL;
    if (!cls)
        cls = base_error ? base_error : PyExc_RuntimeError;
    return cls;
}

static PyObject *raise_status(onyx_status status, const char *message)
{
    PyErr_SetString(error_class(status), message && *message ? message : onyx_status_str(status));
    return NULL;
}

/* ---- dtypes ------------------------------------------------------------------------------ */

/* numpy's type number for an onyx dtype, or -1 when numpy has none (strings). The types numpy
 * lacks are made as unsigned integers of their size (bfloat16 as uint16, the 8-bit and narrower
 * ones as uint8, one element per byte as onyx holds them) and viewed as ml_dtypes' types by
 * _wrap_output (needs_wrap). */
static int npy_type_of(onyx_dtype dtype)
{
    switch (dtype) {
    case ONYX_DTYPE_FLOAT: return NPY_FLOAT32;
    case ONYX_DTYPE_UINT8: return NPY_UINT8;
    case ONYX_DTYPE_INT8: return NPY_INT8;
    case ONYX_DTYPE_UINT16: return NPY_UINT16;
    case ONYX_DTYPE_INT16: return NPY_INT16;
    case ONYX_DTYPE_INT32: return NPY_INT32;
    case ONYX_DTYPE_INT64: return NPY_INT64;
    case ONYX_DTYPE_BOOL: return NPY_BOOL;
    case ONYX_DTYPE_FLOAT16: return NPY_FLOAT16;
    case ONYX_DTYPE_DOUBLE: return NPY_FLOAT64;
    case ONYX_DTYPE_UINT32: return NPY_UINT32;
    case ONYX_DTYPE_UINT64: return NPY_UINT64;
    case ONYX_DTYPE_COMPLEX64: return NPY_COMPLEX64;
    case ONYX_DTYPE_COMPLEX128: return NPY_COMPLEX128;
    case ONYX_DTYPE_BFLOAT16: return NPY_UINT16;
    case ONYX_DTYPE_FLOAT8E4M3FN:
    case ONYX_DTYPE_FLOAT8E4M3FNUZ:
    case ONYX_DTYPE_FLOAT8E5M2:
    case ONYX_DTYPE_FLOAT8E5M2FNUZ:
    case ONYX_DTYPE_UINT4:
    case ONYX_DTYPE_INT4:
    case ONYX_DTYPE_FLOAT4E2M1:
    case ONYX_DTYPE_FLOAT8E8M0:
    case ONYX_DTYPE_UINT2:
    case ONYX_DTYPE_INT2:
    case ONYX_DTYPE_FLOAT6E2M3:
    case ONYX_DTYPE_FLOAT6E3M2: return NPY_UINT8;
    default: return -1;
    }
}

static int needs_wrap(onyx_dtype dtype)
{
    return dtype >= ONYX_DTYPE_BFLOAT16 && dtype <= ONYX_DTYPE_FLOAT6E3M2;
}

static int is_container(onyx_dtype type)
{
    return ONYX_IS_SEQUENCE(type) || ONYX_IS_OPTIONAL(type);
}

/* ml_dtypes' types (bfloat16, float8_e4m3fn, int4, ...) are numpy user types, numbered when
 * ml_dtypes registers them: _code_of tells their numbers here (_learn_dtype) the first time it
 * meets each, so that later arrays of them are read in place with no Python call. Written and
 * read with the GIL held. */
#define MAX_LEARNED 32
static struct {
    int type_num;
    onyx_dtype dtype;
} learned[MAX_LEARNED];
static int n_learned;

/* The onyx dtype of a numpy array's dtype, or ONYX_DTYPE_UNDEFINED for those onyx lacks (and
 * user dtypes not learned yet, which the slow path handles). Type numbers of equal size
 * (long / long long) map to the same dtype. */
static onyx_dtype onyx_dtype_of(PyArray_Descr *descr)
{
    if (descr->type_num >= NPY_USERDEF) {
        for (int i = 0; i < n_learned; i++)
            if (learned[i].type_num == descr->type_num)
                return learned[i].dtype;
        return ONYX_DTYPE_UNDEFINED;
    }
    int size = (int)PyDataType_ELSIZE(descr);
    switch (descr->kind) {
    case 'f':
        return size == 4 ? ONYX_DTYPE_FLOAT : size == 8 ? ONYX_DTYPE_DOUBLE : size == 2 ? ONYX_DTYPE_FLOAT16
                                                                                  : ONYX_DTYPE_UNDEFINED;
    case 'i':
        return size == 1 ? ONYX_DTYPE_INT8 : size == 2 ? ONYX_DTYPE_INT16 : size == 4 ? ONYX_DTYPE_INT32
               : size == 8 ? ONYX_DTYPE_INT64 : ONYX_DTYPE_UNDEFINED;
    case 'u':
        return size == 1 ? ONYX_DTYPE_UINT8 : size == 2 ? ONYX_DTYPE_UINT16 : size == 4 ? ONYX_DTYPE_UINT32
               : size == 8 ? ONYX_DTYPE_UINT64 : ONYX_DTYPE_UNDEFINED;
    case 'b':
        return size == 1 ? ONYX_DTYPE_BOOL : ONYX_DTYPE_UNDEFINED;
    case 'c':
        return size == 8 ? ONYX_DTYPE_COMPLEX64 : size == 16 ? ONYX_DTYPE_COMPLEX128 : ONYX_DTYPE_UNDEFINED;
    default:
        return ONYX_DTYPE_UNDEFINED;
    }
}

/* ---- Session ----------------------------------------------------------------------------- */

/* The most onyx sessions one Session runs on at once besides its own (see take_session). */
#define MAX_EXTRA 16

typedef struct {
    PyObject_HEAD
    onyx_model *model;
    onyx_session *session; /* its own: the one profiled */
    /* Held by the thread running on `session`: an onyx_session is used by one thread at a
     * time, and its outputs live until its next run. */
    PyThread_type_lock lock;
    /* Sessions of the same model (sharing its weights) for runs from other threads while
     * `session` is busy, so that one Session serves several threads in parallel as ONNX
     * Runtime's does. Guarded by the GIL: taken and given back with it held. */
    onyx_session **idle;
    size_t n_idle, n_extra;
    int profiling; /* while on, every run uses `session` (one profile), one after the other */
    PyObject *source;       /* the model's bytes when loaded from bytes (borrowed by onyx) */
    PyObject *input_index;  /* {name: index} */
    PyObject *output_index; /* {name: index} */
    PyObject *input_names;  /* tuple */
    PyObject *output_names; /* tuple */
    size_t n_in, n_out;
    onyx_dtype *in_dtype; /* declared dtype of each input */
    /* The load's first warning (precision bf16 on a processor without AVX512-BF16), raised
     * as a Python warning once the load is done: the model keeps the log callback, which then
     * writes nothing more (capturing is off before any other thread can run it). */
    int capturing;
    char warning[512];
} Session;

static void capture_warning(void *user, onyx_log_level level, const char *message)
{
    Session *self = user;
    (void)level;
    if (level == ONYX_LOG_WARNING && self->capturing && !self->warning[0])
        snprintf(self->warning, sizeof self->warning, "%s", message);
}

static int session_ready(Session *self)
{
    if (!self->session) {
        PyErr_SetString(error_class(ONYX_ERROR_INVALID_STATE), "the session was not initialised");
        return 0;
    }
    return 1;
}

static void lock_session(Session *self)
{
    if (!PyThread_acquire_lock(self->lock, NOWAIT_LOCK)) {
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(self->lock, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
}

/* The onyx session a run uses, with the GIL held: the Session's own when it is free (its lock
 * taken); else, unless profiling, an idle extra one or a new one of the same model (up to
 * MAX_EXTRA); else the own one once it is free, waiting without the GIL. */
static onyx_session *take_session(Session *self)
{
    if (PyThread_acquire_lock(self->lock, NOWAIT_LOCK))
        return self->session;
    if (!self->profiling) {
        if (self->n_idle)
            return self->idle[--self->n_idle];
        if (self->n_extra < MAX_EXTRA) {
            onyx_session *extra = NULL;
            onyx_status st;
            self->n_extra++; /* counted now: the GIL is let go while creating */
            Py_BEGIN_ALLOW_THREADS
            st = onyx_session_create(self->model, NULL, &extra);
            Py_END_ALLOW_THREADS
            if (st == ONYX_OK)
                return extra;
            onyx_session_free(extra); /* out of memory or limits: wait for the own one */
            self->n_extra--;
        }
    }
    lock_session(self);
    return self->session;
}

static void give_back(Session *self, onyx_session *session)
{
    if (session == self->session)
        PyThread_release_lock(self->lock);
    else
        self->idle[self->n_idle++] = session;
}

static void Session_dealloc(Session *self)
{
    PyObject_GC_UnTrack(self);
    /* No run is under way (it would hold a reference): every extra session is idle. */
    for (size_t i = 0; i < self->n_idle; i++)
        onyx_session_free(self->idle[i]);
    PyMem_Free(self->idle);
    onyx_session_free(self->session);
    onyx_model_free(self->model);
    if (self->lock)
        PyThread_free_lock(self->lock);
    Py_CLEAR(self->source);
    Py_CLEAR(self->input_index);
    Py_CLEAR(self->output_index);
    Py_CLEAR(self->input_names);
    Py_CLEAR(self->output_names);
    PyMem_Free(self->in_dtype);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The session holds no Python object that could lead back to it (names, bytes); a Python
 * subclass's __dict__ is traversed by the subclass. */
static int Session_traverse(Session *self, visitproc visit, void *arg)
{
    (void)self, (void)visit, (void)arg;
    return 0;
}

/* Builds {name: index} and the tuple of names of the model's inputs or outputs. */
static int index_names(Session *self, int outputs)
{
    size_t n = outputs ? onyx_model_output_count(self->model) : onyx_model_input_count(self->model);
    PyObject *index = PyDict_New(), *names = PyTuple_New((Py_ssize_t)n);
    if (!index || !names)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        onyx_value_info info;
        onyx_status st = outputs ? onyx_model_output_info(self->model, i, &info)
                                 : onyx_model_input_info(self->model, i, &info);
        if (st != ONYX_OK) {
            raise_status(st, onyx_model_errmsg(self->model));
            goto fail;
        }
        PyObject *name = PyUnicode_DecodeUTF8(info.name, (Py_ssize_t)strlen(info.name), "replace");
        PyObject *number = PyLong_FromSize_t(i);
        if (!name || !number || PyDict_SetItem(index, name, number) < 0) {
            Py_XDECREF(name);
            Py_XDECREF(number);
            goto fail;
        }
        Py_DECREF(number);
        PyTuple_SET_ITEM(names, (Py_ssize_t)i, name);
        if (!outputs)
            self->in_dtype[i] = info.dtype;
    }
    if (outputs) {
        self->output_index = index;
        self->output_names = names;
        self->n_out = n;
    } else {
        self->input_index = index;
        self->input_names = names;
        self->n_in = n;
    }
    return 0;
fail:
    Py_XDECREF(index);
    Py_XDECREF(names);
    return -1;
}

/* Session(source, threads, optimization, limits, external_data_dir, profiling, precision)
 * source: str, bytes or os.PathLike; limits: a sequence of (onyx_limit, value); precision:
 * an onyx_precision (0 fp32, 1 bf16). */
static int Session_init(Session *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"source", "threads", "optimization", "limits", "external_data_dir",
                               "profiling", "precision", NULL};
    PyObject *source, *limits = NULL, *data_dir = Py_None;
    int threads = 1, optimization = 1, profiling = 0, precision = ONYX_PRECISION_FP32;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|iiOOpi:Session", keywords, &source, &threads,
                                     &optimization, &limits, &data_dir, &profiling, &precision))
        return -1;
    if (self->model) {
        PyErr_SetString(error_class(ONYX_ERROR_INVALID_STATE), "the session is already initialised");
        return -1;
    }
    if (!self->lock && !(self->lock = PyThread_allocate_lock())) {
        PyErr_NoMemory();
        return -1;
    }

    onyx_options *options = NULL;
    onyx_status st = onyx_options_create(&options);
    if (st == ONYX_OK)
        st = onyx_options_set_threads(options, threads);
    if (st == ONYX_OK)
        st = onyx_options_set_optimization(options, optimization);
    if (st == ONYX_OK && onyx_options_set_precision(options, (onyx_precision)precision) != ONYX_OK) {
        onyx_options_free(options);
        PyErr_Format(error_class(ONYX_ERROR_INVALID_ARGUMENT), "precision %d is not one of onyx's",
                     precision);
        return -1;
    }
    if (st == ONYX_OK && precision == ONYX_PRECISION_BF16) {
        self->capturing = 1;
        self->warning[0] = '\0';
        st = onyx_options_set_log(options, capture_warning, self, ONYX_LOG_WARNING);
    }
    if (st != ONYX_OK) {
        onyx_options_free(options);
        raise_status(st, st == ONYX_ERROR_INVALID_ARGUMENT
                             ? "intra_op_num_threads must be between 0 (one per processor) and 256"
                             : NULL);
        return -1;
    }
    if (limits && limits != Py_None) {
        PyObject *seq = PySequence_Fast(limits, "limits must be a sequence of (limit, value)");
        if (!seq) {
            onyx_options_free(options);
            return -1;
        }
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
            int which;
            long long value;
            if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "iL:limit", &which, &value)) {
                Py_DECREF(seq);
                onyx_options_free(options);
                return -1;
            }
            if (onyx_options_set_limit(options, (onyx_limit)which, value) != ONYX_OK) {
                PyErr_Format(error_class(ONYX_ERROR_INVALID_ARGUMENT),
                             "limit %d: %lld is out of range (it must be above 0 and within the "
                             "limit's maximum)",
                             which, value);
                Py_DECREF(seq);
                onyx_options_free(options);
                return -1;
            }
        }
        Py_DECREF(seq);
    }
    if (data_dir != Py_None) {
        PyObject *dir = NULL;
        if (!PyUnicode_FSConverter(data_dir, &dir)) {
            onyx_options_free(options);
            return -1;
        }
        st = onyx_options_set_external_data_dir(options, PyBytes_AS_STRING(dir));
        Py_DECREF(dir);
        if (st != ONYX_OK) {
            onyx_options_free(options);
            raise_status(st, NULL);
            return -1;
        }
    }

    onyx_model *model = NULL;
    if (PyBytes_Check(source)) {
        /* Borrowed: the weights are used where they lie in the bytes object, which is
         * immutable and kept alive by the session. */
        const char *data = PyBytes_AS_STRING(source);
        size_t size = (size_t)PyBytes_GET_SIZE(source);
        Py_BEGIN_ALLOW_THREADS
        st = onyx_model_load_buffer_borrowed(data, size, options, &model);
        Py_END_ALLOW_THREADS
        if (st == ONYX_OK) {
            Py_INCREF(source);
            self->source = source;
        }
    } else {
        PyObject *path = NULL;
        if (!PyUnicode_FSConverter(source, &path)) {
            onyx_options_free(options);
            PyErr_Format(error_class(ONYX_ERROR_INVALID_ARGUMENT),
                         "path_or_bytes must be a path (str or os.PathLike) or bytes, not %.100s",
                         Py_TYPE(source)->tp_name);
            return -1;
        }
        const char *p = PyBytes_AS_STRING(path);
        Py_BEGIN_ALLOW_THREADS
        st = onyx_model_load_file(p, options, &model);
        Py_END_ALLOW_THREADS
        Py_DECREF(path);
    }
    onyx_options_free(options);
    self->capturing = 0;
    if (st != ONYX_OK) {
        raise_status(st, onyx_model_errmsg(model));
        onyx_model_free(model);
        return -1;
    }
    self->model = model;
    if (self->warning[0] && PyErr_WarnEx(PyExc_RuntimeWarning, self->warning, 1) < 0)
        return -1; /* warnings turned into errors */

    onyx_session *session = NULL;
    Py_BEGIN_ALLOW_THREADS
    st = onyx_session_create(model, NULL, &session);
    Py_END_ALLOW_THREADS
    if (st != ONYX_OK) {
        raise_status(st, onyx_session_errmsg(session));
        onyx_session_free(session);
        return -1;
    }
    self->session = session;
    if (profiling && (st = onyx_session_set_profiling(session, 1)) != ONYX_OK) {
        raise_status(st, onyx_session_errmsg(session));
        return -1;
    }
    self->profiling = profiling;
    if (!(self->idle = PyMem_Calloc(MAX_EXTRA, sizeof *self->idle))) {
        PyErr_NoMemory();
        return -1;
    }
    size_t n_in = onyx_model_input_count(model);
    if (!(self->in_dtype = PyMem_Calloc(n_in + 1, sizeof *self->in_dtype))) {
        PyErr_NoMemory();
        return -1;
    }
    if (index_names(self, 0) < 0 || index_names(self, 1) < 0)
        return -1;
    return 0;
}

/* "x, mask" from a tuple of names, for messages. */
static PyObject *joined(PyObject *names)
{
    PyObject *sep = PyUnicode_FromString(", ");
    if (!sep)
        return NULL;
    PyObject *text = PyUnicode_Join(sep, names);
    Py_DECREF(sep);
    return text;
}

/* Describes a C-contiguous array as a tensor of `dtype`, or sets an exception naming input
 * `name` when its rank is above onyx's. */
static int describe_array(PyArrayObject *a, onyx_dtype dtype, PyObject *name, onyx_tensor *tensor)
{
    int rank = PyArray_NDIM(a);
    if (rank > ONYX_MAX_RANK) {
        PyErr_Format(error_class(ONYX_ERROR_INVALID_INPUT), "input '%U' has rank %d; onyx handles at most %d",
                     name, rank, ONYX_MAX_RANK);
        return -1;
    }
    tensor->dtype = dtype;
    tensor->rank = rank;
    for (int d = 0; d < rank; d++)
        tensor->dims[d] = (int64_t)PyArray_DIM(a, d);
    tensor->data = PyArray_DATA(a);
    return 0;
}

/* Packs a C-contiguous object array of bytes (what _convert_input makes of strings) into a string
 * tensor: one block that onyx_string_tensor_pack allocates and copies the bytes into. */
static int pack_strings(PyArrayObject *a, PyObject *name, onyx_tensor *tensor)
{
    if (PyArray_TYPE(a) != NPY_OBJECT) {
        PyErr_SetString(PyExc_SystemError, "_convert_input gave strings in no object array");
        return -1;
    }
    if (describe_array(a, ONYX_DTYPE_STRING, name, tensor) < 0)
        return -1;
    npy_intp n = PyArray_SIZE(a);
    PyObject **objects = (PyObject **)PyArray_DATA(a);
    const char **strings = PyMem_Calloc((size_t)n + 1, sizeof *strings);
    size_t *lengths = PyMem_Calloc((size_t)n + 1, sizeof *lengths);
    if (!strings || !lengths) {
        PyMem_Free(strings);
        PyMem_Free(lengths);
        PyErr_NoMemory();
        return -1;
    }
    for (npy_intp i = 0; i < n; i++) {
        if (!objects[i] || !PyBytes_Check(objects[i])) {
            PyMem_Free(strings);
            PyMem_Free(lengths);
            PyErr_SetString(PyExc_SystemError, "_convert_input gave a string that is not bytes");
            return -1;
        }
        strings[i] = PyBytes_AS_STRING(objects[i]);
        lengths[i] = (size_t)PyBytes_GET_SIZE(objects[i]);
    }
    int64_t dims[ONYX_MAX_RANK];
    memcpy(dims, tensor->dims, sizeof dims);
    onyx_status st = onyx_string_tensor_pack(tensor->rank, dims, strings, lengths, tensor);
    PyMem_Free(strings);
    PyMem_Free(lengths);
    if (st != ONYX_OK) {
        PyErr_Format(error_class(st), "input '%U': its strings could not be packed: %s", name,
                     onyx_status_str(st));
        return -1;
    }
    return 0;
}

/* Describes a pair (C-contiguous array, onyx dtype) made by _convert_input; the array stays
 * owned by the pair. A string tensor is packed into a block of its own instead: *owned then
 * receives it, to be freed with onyx_tensor_free_data (else NULL). */
static int describe_pair(PyObject *pair, PyObject *name, onyx_tensor *tensor, void **owned)
{
    PyObject *array;
    int code;
    *owned = NULL;
    if (!PyTuple_Check(pair) || !PyArg_ParseTuple(pair, "Oi", &array, &code) || !PyArray_Check(array) ||
        !PyArray_IS_C_CONTIGUOUS((PyArrayObject *)array)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_SystemError, "_convert_input returned no contiguous array");
        return -1;
    }
    if (code == ONYX_DTYPE_STRING) {
        if (pack_strings((PyArrayObject *)array, name, tensor) < 0)
            return -1;
        *owned = tensor->data;
        return 0;
    }
    return describe_array((PyArrayObject *)array, (onyx_dtype)code, name, tensor);
}

/* Packs what _convert_input made of a value of sequence or optional `type` into one block
 * (onyx_value_pack, which copies the items): for a sequence, a list of pairs (array, dtype);
 * for an optional, None or what its item's type takes (a pair, or a sequence's list). On
 * success *value holds the block, to be freed with onyx_tensor_free_data. */
static int pack_value(onyx_dtype type, PyObject *converted, PyObject *name, onyx_tensor *value)
{
    onyx_status st = ONYX_OK;
    if (ONYX_IS_OPTIONAL(type)) {
        onyx_dtype inner = (onyx_dtype)((int)type & ~ONYX_OPTIONAL);
        if (converted == Py_None) {
            st = onyx_value_pack(type, 0, NULL, value);
        } else {
            onyx_tensor item;
            void *owned = NULL;
            int nested = ONYX_IS_SEQUENCE(inner);
            int described = nested ? pack_value(inner, converted, name, &item)
                                   : describe_pair(converted, name, &item, &owned);
            if (described < 0)
                return -1;
            st = onyx_value_pack(type, 1, &item, value);
            onyx_tensor_free_data(nested ? item.data : owned);
        }
    } else {
        PyObject *seq = PySequence_Fast(converted, "_convert_input returned no list for a sequence");
        if (!seq)
            return -1;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        onyx_tensor *items = PyMem_Calloc((size_t)n + 1, sizeof *items);
        void **owned = PyMem_Calloc((size_t)n + 1, sizeof *owned); /* string items' blocks */
        int failed = !items || !owned;
        if (failed)
            PyErr_NoMemory();
        for (Py_ssize_t k = 0; k < n && !failed; k++)
            failed = describe_pair(PySequence_Fast_GET_ITEM(seq, k), name, &items[k], &owned[k]) < 0;
        if (!failed)
            st = onyx_value_pack(type, (int64_t)n, items, value);
        for (Py_ssize_t k = 0; owned && k < n; k++)
            onyx_tensor_free_data(owned[k]);
        PyMem_Free(items);
        PyMem_Free(owned);
        Py_DECREF(seq);
        if (failed)
            return -1;
    }
    if (st != ONYX_OK) {
        /* _convert_input checked every item's dtype and shape: what is left is memory. */
        PyErr_Format(error_class(st), "input '%U': its items could not be packed into one value: %s", name,
                     onyx_status_str(st));
        return -1;
    }
    return 0;
}

static void free_block(PyObject *capsule)
{
    onyx_tensor_free_data(PyCapsule_GetPointer(capsule, NULL));
}

/* Binds one value of the feed, or sets an exception. *held receives what keeps the tensor's
 * data alive (a new reference): the array read in place or converted, or for a sequence or
 * optional the block packed from its items (a capsule that frees it). */
static int bind_value(Session *self, size_t index, PyObject *name, PyObject *value, onyx_tensor *tensor,
                      PyObject **held)
{
    onyx_dtype declared = self->in_dtype[index];
    onyx_dtype dtype;
    if (!is_container(declared) && PyArray_Check(value)) {
        PyArrayObject *a = (PyArrayObject *)value;
        /* The fast path: the array's own memory, read in place. */
        if (PyArray_IS_C_CONTIGUOUS(a) && PyArray_ISALIGNED(a) && PyArray_ISNOTSWAPPED(a) &&
            (dtype = onyx_dtype_of(PyArray_DESCR(a))) != ONYX_DTYPE_UNDEFINED) {
            if (describe_array(a, dtype, name, tensor) < 0)
                return -1;
            *held = Py_NewRef(value);
            return 0;
        }
    }
    /* Converted once (a copy where needed), or refused with a message, in Python. */
    PyObject *converted = PyObject_CallFunction(convert_input, "OOi", name, value, (int)declared);
    if (!converted)
        return -1;
    if (is_container(declared)) {
        onyx_tensor block;
        int packed = pack_value(declared, converted, name, &block);
        Py_DECREF(converted);
        if (packed < 0)
            return -1;
        PyObject *capsule = PyCapsule_New(block.data, NULL, free_block);
        if (!capsule) {
            onyx_tensor_free_data(block.data);
            return -1;
        }
        *tensor = block;
        *held = capsule;
        return 0;
    }
    void *owned;
    if (describe_pair(converted, name, tensor, &owned) < 0) {
        Py_DECREF(converted);
        return -1;
    }
    if (owned) { /* strings, packed: the block is all the tensor needs */
        Py_DECREF(converted);
        if (!(*held = PyCapsule_New(owned, NULL, free_block))) {
            onyx_tensor_free_data(owned);
            return -1;
        }
        return 0;
    }
    *held = converted; /* (array, dtype): holds the array */
    return 0;
}

/* A new object array of str from string tensor `t`, as ONNX Runtime gives strings: each element
 * decoded from UTF-8 (bytes that are not UTF-8 as surrogates, as the input side encodes them). */
static PyObject *string_array(const onyx_tensor *t, PyObject *name)
{
    npy_intp dims[ONYX_MAX_RANK];
    for (int d = 0; d < t->rank; d++)
        dims[d] = (npy_intp)t->dims[d];
    /* An object array starts with None or NULL elements: each replaced with Py_XSETREF. */
    PyObject *array = PyArray_SimpleNew(t->rank, dims, NPY_OBJECT);
    if (!array)
        return NULL;
    PyObject **objects = (PyObject **)PyArray_DATA((PyArrayObject *)array);
    npy_intp n = PyArray_SIZE((PyArrayObject *)array);
    for (npy_intp i = 0; i < n; i++) {
        size_t length;
        const char *s = onyx_string_at(t, (int64_t)i, &length);
        if (!s || length > PY_SSIZE_T_MAX) {
            Py_DECREF(array);
            return PyErr_Format(error_class(ONYX_ERROR_INVALID_STATE),
                                "output '%U': onyx gave a malformed string tensor", name);
        }
        PyObject *text = PyUnicode_DecodeUTF8(s, (Py_ssize_t)length, "surrogateescape");
        if (!text) {
            Py_DECREF(array);
            return NULL;
        }
        Py_XSETREF(objects[i], text);
    }
    return array;
}

/* A new numpy array holding a copy of tensor `t` (the session's output memory is reused by the
 * next run), viewed as ml_dtypes' type where numpy lacks one. */
static PyObject *tensor_array(const onyx_tensor *t, PyObject *name)
{
    if (t->dtype == ONYX_DTYPE_STRING)
        return string_array(t, name);
    int type = npy_type_of(t->dtype);
    if (type < 0)
        return PyErr_Format(error_class(ONYX_ERROR_UNSUPPORTED),
                            "output '%U' has dtype %s, which numpy lacks", name, onyx_dtype_name(t->dtype));
    npy_intp dims[ONYX_MAX_RANK];
    for (int d = 0; d < t->rank; d++)
        dims[d] = (npy_intp)t->dims[d];
    PyObject *array = PyArray_SimpleNew(t->rank, dims, type);
    if (!array)
        return NULL;
    size_t bytes = (size_t)PyArray_NBYTES((PyArrayObject *)array);
    if (bytes)
        memcpy(PyArray_DATA((PyArrayObject *)array), t->data, bytes);
    if (needs_wrap(t->dtype)) {
        PyObject *wrapped = PyObject_CallFunction(wrap_output, "NiO", array, (int)t->dtype, name);
        return wrapped;
    }
    return array;
}

/* The Python value of `t`: an array for a tensor, a list of arrays for a sequence, None or the
 * item's value for an optional. */
static PyObject *value_object(const onyx_tensor *t, PyObject *name)
{
    if (!is_container(t->dtype))
        return tensor_array(t, name);
    int64_t n = onyx_value_length(t);
    if (n < 0 || n > PY_SSIZE_T_MAX)
        return PyErr_Format(error_class(ONYX_ERROR_INVALID_STATE), "output '%U': onyx gave a malformed value",
                            name);
    onyx_tensor item;
    if (ONYX_IS_OPTIONAL(t->dtype)) {
        if (n == 0)
            Py_RETURN_NONE;
        if (onyx_value_item(t, 0, &item) != ONYX_OK)
            return PyErr_Format(error_class(ONYX_ERROR_INVALID_STATE),
                                "output '%U': onyx gave a malformed optional", name);
        return value_object(&item, name);
    }
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (int64_t k = 0; list && k < n; k++) {
        PyObject *element = NULL;
        if (onyx_value_item(t, k, &item) == ONYX_OK)
            element = value_object(&item, name);
        else
            PyErr_Format(error_class(ONYX_ERROR_INVALID_STATE), "output '%U': onyx gave a malformed sequence",
                         name);
        if (!element) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)k, element);
    }
    return list;
}

/* The Python value of output `index` of the last run, copied out of the session. */
static PyObject *output_value(Session *self, onyx_session *session, size_t index)
{
    onyx_tensor t;
    onyx_status st = onyx_session_get_output(session, index, &t);
    if (st != ONYX_OK)
        return raise_status(st, onyx_session_errmsg(session));
    return value_object(&t, PyTuple_GET_ITEM(self->output_names, (Py_ssize_t)index));
}

#define SMALL 8

/* run(output_names, input_feed, run_options=None) -> list of arrays */
static PyObject *Session_run(Session *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"output_names", "input_feed", "run_options"};
    PyObject *argv[3] = {NULL, NULL, Py_None};
    if (nargs > 3)
        return PyErr_Format(PyExc_TypeError, "run() takes at most 3 arguments (%zd given)", nargs);
    for (Py_ssize_t i = 0; i < nargs; i++)
        argv[i] = args[i];
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *kw = PyTuple_GET_ITEM(kwnames, k);
        int found = 0;
        for (int i = 0; i < 3 && !found; i++) {
            if (PyUnicode_CompareWithASCIIString(kw, names[i]) == 0) {
                if (i < nargs)
                    return PyErr_Format(PyExc_TypeError, "run() got multiple values for '%s'", names[i]);
                argv[i] = args[nargs + k];
                found = 1;
            }
        }
        if (!found)
            return PyErr_Format(PyExc_TypeError, "run() got an unexpected keyword argument '%U'", kw);
    }
    if (!argv[0] || !argv[1])
        return PyErr_Format(PyExc_TypeError, "run() missing required argument '%s'",
                            argv[0] ? "input_feed" : "output_names");
    if (!session_ready(self))
        return NULL;
    PyObject *output_names = argv[0], *feed = argv[1];
    PyObject *invalid = error_class(ONYX_ERROR_INVALID_ARGUMENT);
    if (!PyDict_Check(feed))
        return PyErr_Format(invalid, "input_feed must be a dict {input name: numpy array}, not %.100s",
                            Py_TYPE(feed)->tp_name);

    PyObject *result = NULL, *names_seq = NULL;
    size_t n_in = self->n_in;
    onyx_tensor small_tensors[SMALL];
    PyObject *small_held[SMALL] = {NULL};
    size_t small_outs[SMALL];
    onyx_tensor *tensors = small_tensors;
    PyObject **held = small_held;
    size_t *outs = small_outs;
    size_t n_sel = 0;

    /* The outputs asked for: None or [] for all of them, as in ONNX Runtime. */
    Py_ssize_t n_names = 0;
    if (output_names != Py_None) {
        if (PyUnicode_Check(output_names))
            return PyErr_Format(invalid, "output_names must be a list of names or None, not a str");
        if (!(names_seq = PySequence_Fast(output_names, ""))) {
            if (!PyErr_ExceptionMatches(PyExc_TypeError))
                return NULL;
            PyErr_Clear();
            return PyErr_Format(invalid, "output_names must be a list of names or None, not %.100s",
                                Py_TYPE(output_names)->tp_name);
        }
        n_names = PySequence_Fast_GET_SIZE(names_seq);
    }
    n_sel = n_names ? (size_t)n_names : self->n_out;
    if (n_in > SMALL) {
        tensors = PyMem_Calloc(n_in, sizeof *tensors);
        held = PyMem_Calloc(n_in, sizeof *held);
    }
    if (n_sel > SMALL)
        outs = PyMem_Calloc(n_sel, sizeof *outs);
    if (!tensors || !held || !outs) {
        PyErr_NoMemory();
        goto done;
    }
    for (size_t i = 0; i < n_in; i++)
        held[i] = NULL;
    for (size_t k = 0; k < n_sel; k++) {
        if (!n_names) {
            outs[k] = k;
            continue;
        }
        PyObject *name = PySequence_Fast_GET_ITEM(names_seq, (Py_ssize_t)k);
        PyObject *number = PyUnicode_Check(name) ? PyDict_GetItemWithError(self->output_index, name) : NULL;
        if (!number) {
            if (!PyErr_Occurred()) {
                PyObject *all = joined(self->output_names);
                if (all)
                    PyErr_Format(invalid, "no output named %R; the model's outputs are: %U", name, all);
                Py_XDECREF(all);
            }
            goto done;
        }
        outs[k] = PyLong_AsSize_t(number);
    }

    /* The inputs: every one of the model's, each bound to the array's own memory. */
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(feed, &pos, &key, &value)) {
        PyObject *number = PyUnicode_Check(key) ? PyDict_GetItemWithError(self->input_index, key) : NULL;
        if (!number) {
            if (!PyErr_Occurred()) {
                PyObject *all = joined(self->input_names);
                if (all)
                    PyErr_Format(invalid, "no input named %R; the model's inputs are: %U", key, all);
                Py_XDECREF(all);
            }
            goto done;
        }
        size_t i = PyLong_AsSize_t(number);
        if (held[i]) { /* two keys equal to one name (a str subclass) */
            PyErr_Format(invalid, "input %R is fed twice", key);
            goto done;
        }
        /* Held while converting: the conversion runs Python code. */
        Py_INCREF(key);
        Py_INCREF(value);
        int bound = bind_value(self, i, key, value, &tensors[i], &held[i]);
        Py_DECREF(key);
        Py_DECREF(value);
        if (bound < 0)
            goto done;
    }
    if ((size_t)PyDict_GET_SIZE(feed) != n_in) {
        PyObject *missing = PyList_New(0);
        for (size_t i = 0; missing && i < n_in; i++)
            if (!held[i] && PyList_Append(missing, PyTuple_GET_ITEM(self->input_names, (Py_ssize_t)i)) < 0)
                Py_CLEAR(missing);
        if (missing) {
            PyObject *text = joined(missing);
            if (text)
                PyErr_Format(invalid, "missing input%s %U: every input of the model must be fed",
                             PyList_GET_SIZE(missing) > 1 ? "s" : "", text);
            Py_XDECREF(text);
            Py_DECREF(missing);
        }
        goto done;
    }

    onyx_session *session = take_session(self);
    onyx_status st = ONYX_OK;
    for (size_t i = 0; i < n_in && st == ONYX_OK; i++)
        st = onyx_session_set_input(session, i, &tensors[i]);
    if (st == ONYX_OK) {
        Py_BEGIN_ALLOW_THREADS
        st = onyx_session_run(session);
        Py_END_ALLOW_THREADS
    }
    if (st != ONYX_OK) {
        raise_status(st, onyx_session_errmsg(session));
    } else if ((result = PyList_New((Py_ssize_t)n_sel))) {
        for (size_t k = 0; k < n_sel; k++) {
            PyObject *array = output_value(self, session, outs[k]);
            if (!array) {
                Py_CLEAR(result);
                break;
            }
            PyList_SET_ITEM(result, (Py_ssize_t)k, array);
        }
    }
    give_back(self, session);

done:
    if (held) {
        for (size_t i = 0; i < n_in; i++)
            Py_XDECREF(held[i]);
    }
    if (tensors != small_tensors)
        PyMem_Free(tensors);
    if (held != small_held)
        PyMem_Free(held);
    if (outs != small_outs)
        PyMem_Free(outs);
    Py_XDECREF(names_seq);
    return result;
}

/* A list of (name, type, shape) for the inputs or outputs: type is onyx's code (a dtype, with
 * ONYX_SEQUENCE / ONYX_OPTIONAL for containers); shape is None for an unknown rank or a container,
 * else a list of ints, strings (symbolic dims) and None (unknown dims). */
static PyObject *value_infos(Session *self, int outputs)
{
    if (!session_ready(self))
        return NULL;
    size_t n = outputs ? self->n_out : self->n_in;
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        onyx_value_info info;
        onyx_status st = outputs ? onyx_model_output_info(self->model, i, &info)
                                 : onyx_model_input_info(self->model, i, &info);
        if (st != ONYX_OK) {
            Py_DECREF(list);
            return raise_status(st, onyx_model_errmsg(self->model));
        }
        PyObject *shape;
        if (info.rank < 0) {
            shape = Py_NewRef(Py_None);
        } else if ((shape = PyList_New(info.rank))) {
            for (int d = 0; d < info.rank; d++) {
                PyObject *dim = info.dims[d] >= 0 ? PyLong_FromLongLong(info.dims[d])
                                : info.dim_names[d] ? PyUnicode_FromString(info.dim_names[d])
                                                    : Py_NewRef(Py_None);
                if (!dim) {
                    Py_CLEAR(shape);
                    break;
                }
                PyList_SET_ITEM(shape, d, dim);
            }
        }
        PyObject *names = outputs ? self->output_names : self->input_names;
        PyObject *item = shape ? Py_BuildValue("(OiN)", PyTuple_GET_ITEM(names, (Py_ssize_t)i),
                                               (int)info.dtype, shape)
                               : NULL;
        if (!item) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

static PyObject *Session_inputs(Session *self, PyObject *unused)
{
    (void)unused;
    return value_infos(self, 0);
}

static PyObject *Session_outputs(Session *self, PyObject *unused)
{
    (void)unused;
    return value_infos(self, 1);
}

/* (producer_name, producer_version, ir_version, [(domain, version), ...]) */
static PyObject *Session_model_info(Session *self, PyObject *unused)
{
    (void)unused;
    if (!session_ready(self))
        return NULL;
    size_t n = onyx_model_opset_count(self->model);
    PyObject *opsets = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; opsets && i < n; i++) {
        const char *domain;
        int64_t version;
        onyx_model_opset(self->model, i, &domain, &version);
        PyObject *item = Py_BuildValue("(sL)", domain, (long long)version);
        if (!item) {
            Py_CLEAR(opsets);
            break;
        }
        PyList_SET_ITEM(opsets, (Py_ssize_t)i, item);
    }
    if (!opsets)
        return NULL;
    return Py_BuildValue("(ssLN)", onyx_model_producer_name(self->model),
                         onyx_model_producer_version(self->model),
                         (long long)onyx_model_ir_version(self->model), opsets);
}

/* [(name, op_type, domain, opset, supported), ...] in the order onyx runs them */
static PyObject *Session_nodes(Session *self, PyObject *unused)
{
    (void)unused;
    if (!session_ready(self))
        return NULL;
    size_t n = onyx_model_node_count(self->model);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        onyx_node_info info;
        if (onyx_model_node_info(self->model, i, &info) != ONYX_OK) {
            Py_DECREF(list);
            return raise_status(ONYX_ERROR_INVALID_STATE, onyx_model_errmsg(self->model));
        }
        PyObject *item = Py_BuildValue("(sssiO)", info.name, info.op_type, info.domain, info.opset,
                                       info.supported ? Py_True : Py_False);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

static PyObject *Session_set_profiling(Session *self, PyObject *arg)
{
    if (!session_ready(self))
        return NULL;
    int enabled = PyObject_IsTrue(arg);
    if (enabled < 0)
        return NULL;
    lock_session(self);
    onyx_status st = onyx_session_set_profiling(self->session, enabled);
    PyThread_release_lock(self->lock);
    if (st != ONYX_OK)
        return raise_status(st, onyx_session_errmsg(self->session));
    self->profiling = enabled;
    Py_RETURN_NONE;
}

/* [(node_name, op_type, runs, total_ms), ...] */
static PyObject *Session_profile(Session *self, PyObject *unused)
{
    (void)unused;
    if (!session_ready(self))
        return NULL;
    lock_session(self);
    size_t n = onyx_session_profile_count(self->session);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        onyx_profile_entry e;
        PyObject *item = NULL;
        if (onyx_session_profile_entry(self->session, i, &e) == ONYX_OK)
            item = Py_BuildValue("(ssLd)", e.node_name, e.op_type, (long long)e.runs, e.total_ms);
        else
            raise_status(ONYX_ERROR_INVALID_STATE, onyx_session_errmsg(self->session));
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    PyThread_release_lock(self->lock);
    return list;
}

/* (bytes held by the model, by the session's own onyx session, by its idle extra ones, and
 * the number of extra ones) */
static PyObject *Session_memory(Session *self, PyObject *unused)
{
    (void)unused;
    if (!session_ready(self))
        return NULL;
    size_t extra_bytes = 0;
    for (size_t i = 0; i < self->n_idle; i++) /* idle: no thread uses them (GIL held) */
        extra_bytes += onyx_session_memory_bytes(self->idle[i]);
    lock_session(self);
    size_t session_bytes = onyx_session_memory_bytes(self->session);
    PyThread_release_lock(self->lock);
    return Py_BuildValue("(nnnn)", (Py_ssize_t)onyx_model_memory_bytes(self->model),
                         (Py_ssize_t)session_bytes,
                         (Py_ssize_t)extra_bytes, (Py_ssize_t)self->n_extra);
}

static PyMethodDef Session_methods[] = {
    {"run", (PyCFunction)(void (*)(void))Session_run, METH_FASTCALL | METH_KEYWORDS,
     "run(output_names, input_feed, run_options=None) -> list of numpy arrays\n\n"
     "Runs the model on input_feed ({name: array}, every input of the model) and returns the\n"
     "outputs named in output_names (None or [] for all, in the model's order). C-contiguous\n"
     "arrays are read in place; the GIL is released while the model runs. Runs from several\n"
     "threads at once use extra sessions of the model (sharing its weights), in parallel."},
    {"_inputs", (PyCFunction)Session_inputs, METH_NOARGS, "[(name, type code, shape)] of the inputs"},
    {"_outputs", (PyCFunction)Session_outputs, METH_NOARGS, "[(name, type code, shape)] of the outputs"},
    {"_model_info", (PyCFunction)Session_model_info, METH_NOARGS,
     "(producer_name, producer_version, ir_version, [(domain, version)])"},
    {"_nodes", (PyCFunction)Session_nodes, METH_NOARGS, "[(name, op_type, domain, opset, supported)]"},
    {"_set_profiling", (PyCFunction)Session_set_profiling, METH_O, "turns profiling on (clearing it) or off"},
    {"_profile", (PyCFunction)Session_profile, METH_NOARGS, "[(node_name, op_type, runs, total_ms)]"},
    {"_memory", (PyCFunction)Session_memory, METH_NOARGS,
     "(model bytes, own session bytes, idle extra sessions' bytes, extra sessions) onyx holds"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SessionType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "onyx._onyx.Session",
    .tp_basicsize = sizeof(Session),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Session(source, threads=1, optimization=1, limits=None, external_data_dir=None,\n"
              "        profiling=False, precision=0)\n\n"
              "A model loaded from a path or bytes and one onyx session of it; see onyx.InferenceSession.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Session_init,
    .tp_dealloc = (destructor)Session_dealloc,
    .tp_traverse = (traverseproc)Session_traverse,
    .tp_methods = Session_methods,
};

/* ---- module ------------------------------------------------------------------------------ */

/* _set_errors(base, {status: class}, convert_input, wrap_output) */
static PyObject *set_errors(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *base, *classes, *convert, *wrap;
    if (!PyArg_ParseTuple(args, "OO!OO", &base, &PyDict_Type, &classes, &convert, &wrap))
        return NULL;
    Py_XSETREF(base_error, Py_NewRef(base));
    Py_XSETREF(convert_input, Py_NewRef(convert));
    Py_XSETREF(wrap_output, Py_NewRef(wrap));
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(classes, &pos, &key, &value)) {
        long code = PyLong_AsLong(key);
        if (code <= 0 || code >= N_STATUS) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError, "no status %ld", code);
            return NULL;
        }
        Py_XSETREF(error_classes[code], Py_NewRef(value));
    }
    Py_RETURN_NONE;
}

/* _learn_dtype(type_num, dtype): numpy user type `type_num` is onyx's `dtype` (see learned). */
static PyObject *learn_dtype(PyObject *module, PyObject *args)
{
    (void)module;
    int type_num, dtype;
    if (!PyArg_ParseTuple(args, "ii", &type_num, &dtype))
        return NULL;
    if (type_num < NPY_USERDEF || !needs_wrap((onyx_dtype)dtype))
        return PyErr_Format(PyExc_ValueError, "no user type %d for dtype %d", type_num, dtype);
    for (int i = 0; i < n_learned; i++)
        if (learned[i].type_num == type_num)
            Py_RETURN_NONE;
    if (n_learned < MAX_LEARNED) {
        learned[n_learned].type_num = type_num;
        learned[n_learned].dtype = (onyx_dtype)dtype;
        n_learned++;
    }
    Py_RETURN_NONE;
}

/* [(domain, op_type, since_version, until_version, source)] */
static PyObject *operators(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    size_t n = onyx_operator_count();
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        onyx_operator_info info;
        PyObject *item = NULL;
        if (onyx_operator_info_at(i, &info) == ONYX_OK)
            item = Py_BuildValue("(ssiis)", info.domain, info.op_type, info.since_version, info.until_version,
                                 info.source);
        else
            PyErr_SetString(PyExc_SystemError, "onyx_operator_info_at failed");
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

static PyObject *version(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    return PyUnicode_FromString(onyx_version_string());
}

static PyObject *gemm_kernel(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    return PyUnicode_FromString(onyx_gemm_kernel_name());
}

static PyMethodDef module_methods[] = {
    {"_set_errors", set_errors, METH_VARARGS, "wires the exception classes and helpers of onyx/__init__.py"},
    {"_learn_dtype", learn_dtype, METH_VARARGS, "_learn_dtype(type_num, dtype): user type = onyx dtype"},
    {"operators", operators, METH_NOARGS, "[(domain, op_type, since_version, until_version, source)]"},
    {"version", version, METH_NOARGS, "the version of the linked library (\"0.1.0\")"},
    {"gemm_kernel", gemm_kernel, METH_NOARGS, "the float32 matrix-multiply kernel chosen for this processor"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "onyx._onyx",
    .m_doc = "The C extension under onyx: a thin layer over onyx.h.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__onyx(void)
{
    import_array();
    if (PyType_Ready(&SessionType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    if (PyModule_AddObjectRef(m, "Session", (PyObject *)&SessionType) < 0 ||
        PyModule_AddIntConstant(m, "MAX_RANK", ONYX_MAX_RANK) < 0 ||
        PyModule_AddIntConstant(m, "MAX_OPSET", ONYX_MAX_OPSET) < 0 ||
        PyModule_AddStringConstant(m, "HEADER_VERSION", ONYX_VERSION_STRING) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
