/* The malformed-model sweep: a deterministic generator that breaks every committed model in
 * many ways, and a runner that loads each broken model (and runs it when it loads), checking
 * that the outcome is a success or an error status with a message. Never a signal (the
 * sanitizers' reports count as one), never a hang (an alarm per case), never memory above
 * the cap (the memory limit given to onyx, an address-space limit on the process when not
 * sanitized, and the peak RSS at the end).
 *
 *   malformed [--only N] [--write N FILE] [--verbose] DIR...
 *
 * Each DIR is a model directory (model.onnx) or a directory of them (models/). Ends with
 * "N passed, N failed" over all cases. --only runs case N alone; --write saves the bytes of
 * case N as a file (for `onyx info FILE` or a debugger) instead of running anything.
 *
 * The ways of breaking a model, each applied at every place it fits:
 *   wire level    truncation at every field boundary; bit flips (on tags and lengths mostly);
 *                 lengths rewritten to run past their message or the buffer
 *   tensors       huge, negative and overflowing dims, rank above the maximum, raw_data
 *                 shorter or longer than declared, wrong dtype codes, segments
 *   value infos   wrong element types, huge and negative dims, missing types, non-tensor types
 *   names         duplicate initializers, inputs and outputs; missing inputs; empty names
 *   nodes         cycles, too few and too many inputs and outputs, unknown op types and
 *                 domains
 *   attributes    the wrong type, missing payloads, extreme values
 *   model         bad opset versions and domains, no graph, model-local functions
 *   external data absolute paths, "..", symlinks out of the directory, short and missing
 *                 files, bad offsets (from the model's own directory)
 * Every other case given as bytes is loaded borrowed (onyx_model_load_buffer_borrowed) from
 * read-only pages, the others copied. */
#include "crash_note.h"
#include "xorshift.h"
#include "onnx.pb-c.h"
#include "onyx.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define CASE_SECONDS 30                          /* a case running longer is a hang */
#define MEMORY_LIMIT (INT64_C(512) << 20)        /* onyx's memory limit in the sweep */
#define PROCESS_CAP (INT64_C(3) << 30)           /* address space / peak RSS of the sweep */
#define MAX_INPUT_ELEMENTS (INT64_C(1) << 20)    /* inputs larger than this are not run */
#define SYMBOLIC_SIZE 2                          /* size given to symbolic input dims */

typedef enum expect { EXPECT_ANY, EXPECT_ERROR, EXPECT_OK } expect;

typedef struct undo_entry {
    void *address;
    unsigned char old[16];
    size_t size;
} undo_entry;

typedef struct sweep {
    /* the model being broken */
    const char *name;
    const char *dir;
    uint8_t *original;
    size_t original_size;
    Onnx__ModelProto *proto;
    /* changes of the current case to `proto`, undone after it, and memory it allocated */
    undo_entry undo[1024];
    int n_undo;
    void *scratch[64];
    int n_scratch;
    uint8_t *packed;
    size_t packed_cap;
    /* the run */
    onyx_options *options;
    long case_index, only, write_index;
    const char *write_path;
    bool verbose;
    long passed, failed;
    long loaded, ran; /* cases that loaded, and whose run succeeded */
    char tmp[256];
    char description[512];
} sweep;

/* ---- the case being built: changes to the unpacked model, undone afterwards -------------- */

static void *scratch(sweep *s, size_t size)
{
    if (s->n_scratch == (int)(sizeof s->scratch / sizeof s->scratch[0]))
        abort(); /* a generator bug: too many allocations in one case */
    void *p = calloc(1, size ? size : 1);
    if (!p)
        abort();
    return s->scratch[s->n_scratch++] = p;
}

static void set_bytes(sweep *s, void *address, const void *value, size_t size)
{
    if (s->n_undo == (int)(sizeof s->undo / sizeof s->undo[0]) || size > sizeof s->undo[0].old)
        abort(); /* a generator bug */
    undo_entry *u = &s->undo[s->n_undo++];
    u->address = address;
    u->size = size;
    memcpy(u->old, address, size);
    memcpy(address, value, size);
}

/* Sets an lvalue of the unpacked model for the current case only. */
#define SET(s, lvalue, value)                                                                  \
    do {                                                                                       \
        __typeof__(lvalue) set_value_ = (value);                                               \
        set_bytes((s), &(lvalue), &set_value_, sizeof set_value_);                             \
    } while (0)

static void case_reset(sweep *s)
{
    while (s->n_undo > 0) {
        undo_entry *u = &s->undo[--s->n_undo];
        memcpy(u->address, u->old, u->size);
    }
    while (s->n_scratch > 0)
        free(s->scratch[--s->n_scratch]);
}

/* A copy of array `items` (n pointers) with room for `extra` more. */
static void *grown_array(sweep *s, void *items, size_t n, size_t extra)
{
    void **copy = scratch(s, (n + extra) * sizeof(void *));
    if (n)
        memcpy(copy, items, n * sizeof(void *));
    return copy;
}

/* ---- running one case -------------------------------------------------------------------- */

static void describe(sweep *s, const char *fmt, va_list ap)
{
    int n = snprintf(s->description, sizeof s->description, "case %ld, %s: ", s->case_index, s->name);
    vsnprintf(s->description + n, sizeof s->description - (size_t)n, fmt, ap);
}

static bool message_ok(onyx_status st, const char *message, char *why, size_t size)
{
    if (!strcmp(onyx_status_str(st), "unknown status"))
        return snprintf(why, size, "status %d is not an onyx_status", (int)st), false;
    if (!message || !message[0])
        return snprintf(why, size, "%s without a message", onyx_status_str(st)), false;
    if (strstr(message, "(null)"))
        return snprintf(why, size, "the message prints a NULL string: %s", message), false;
    return true;
}

static size_t tensor_size(const onyx_tensor *t)
{
    return (size_t)onyx_tensor_element_count(t) * onyx_dtype_size(t->dtype);
}

/* Runs a model that loaded, on small generated inputs; false with `why` when the run broke
 * a rule (an error without a message, an input buffer written). */
static bool run_loaded(sweep *s, const onyx_model *model, char *why, size_t size)
{
    size_t n = onyx_model_input_count(model);
    onyx_tensor *inputs = calloc(n + 1, sizeof *inputs);
    void **copies = calloc(n + 1, sizeof *copies);
    if (!inputs || !copies)
        abort();
    bool ok = true, runnable = true;
    for (size_t i = 0; i < n && runnable; i++) {
        onyx_value_info info;
        onyx_model_input_info(model, i, &info);
        onyx_tensor *t = &inputs[i];
        t->dtype = info.dtype;
        t->rank = info.rank < 0 ? 1 : info.rank;
        for (int d = 0; d < t->rank; d++)
            t->dims[d] = info.rank >= 0 && info.dims[d] >= 0 ? info.dims[d] : SYMBOLIC_SIZE;
        int64_t count = onyx_tensor_element_count(t);
        size_t elem = onyx_dtype_size(t->dtype);
        runnable = count >= 0 && count <= MAX_INPUT_ELEMENTS && elem > 0;
        if (!runnable)
            break; /* a mutation declared an input too large to feed: loading was the test */
        size_t bytes = (size_t)count * elem;
        t->data = malloc(bytes + 1);
        copies[i] = malloc(bytes + 1);
        if (!t->data || !copies[i])
            abort();
        unsigned char *b = t->data;
        for (size_t k = 0; k < bytes; k++)
            b[k] = (unsigned char)(t->dtype == ONYX_DTYPE_BOOL ? k & 1 : (k * 37) % 61);
        if (t->dtype == ONYX_DTYPE_FLOAT) /* small values, so that outputs stay finite */
            for (int64_t k = 0; k < count; k++)
                ((float *)t->data)[k] = (float)(k % 13) * 0.125f - 0.75f;
        memcpy(copies[i], t->data, bytes);
    }
    onyx_session *session = NULL;
    onyx_status st = ONYX_OK;
    if (runnable) {
        st = onyx_session_create(model, s->options, &session);
        for (size_t i = 0; !st && i < n; i++)
            st = onyx_session_set_input(session, i, &inputs[i]);
        if (!st)
            st = onyx_session_run(session);
        s->ran += !st;
        if (st) {
            char inner[400];
            if (!message_ok(st, onyx_session_errmsg(session), inner, sizeof inner)) {
                snprintf(why, size, "running: %s", inner);
                ok = false;
            }
        }
        for (size_t o = 0; !st && o < onyx_model_output_count(model); o++) {
            onyx_tensor out;
            if (onyx_session_get_output(session, o, &out) != ONYX_OK || onyx_tensor_element_count(&out) < 0) {
                snprintf(why, size, "output %zu of a successful run cannot be read", o);
                ok = false;
                break;
            }
            volatile unsigned char sum = 0; /* every byte readable: ASan checks the claim */
            for (size_t k = 0; k < tensor_size(&out); k++)
                sum ^= ((const unsigned char *)out.data)[k];
            (void)sum;
        }
        for (size_t i = 0; ok && i < n; i++)
            if (memcmp(copies[i], inputs[i].data, tensor_size(&inputs[i])) != 0) {
                snprintf(why, size, "the run wrote into input %zu's buffer", i);
                ok = false;
            }
    }
    onyx_session_free(session);
    for (size_t i = 0; i < n; i++) {
        free(inputs[i].data);
        free(copies[i]);
    }
    free(inputs);
    free(copies);
    return ok;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char text[] = "\n*** a case ran longer than the time allowed (a hang)";
    ssize_t ignored = write(2, text, sizeof text - 1);
    (void)ignored;
    crash_note_print();
    _exit(3);
}

/* Judges a load (from `bytes`, or from `path` when bytes is NULL) and, if it loaded, a run. */
/* A read-only copy of `size` bytes (freed with munmap): a write into it faults. */
static uint8_t *read_only_copy(const uint8_t *bytes, size_t size, size_t *mapped)
{
    long page = sysconf(_SC_PAGESIZE);
    *mapped = (size / (size_t)page + 1) * (size_t)page;
    uint8_t *copy = mmap(NULL, *mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (copy == MAP_FAILED)
        abort();
    memcpy(copy, bytes, size);
    mprotect(copy, *mapped, PROT_READ);
    return copy;
}

static void judge(sweep *s, const uint8_t *bytes, size_t size, const char *path, expect want)
{
    crash_note_current = s->description;
    if (s->verbose)
        fprintf(stderr, "%s\n", s->description);
    alarm(CASE_SECONDS);
    onyx_model *model = NULL;
    /* Every other case from bytes is loaded borrowed, from read-only pages that outlive the
     * model: onyx may read them in place but never write to them. */
    size_t mapped = 0;
    uint8_t *borrowed = bytes && s->case_index % 2 ? read_only_copy(bytes, size, &mapped) : NULL;
    onyx_status st = !bytes   ? onyx_model_load_file(path, s->options, &model)
                     : borrowed ? onyx_model_load_buffer_borrowed(borrowed, size, s->options, &model)
                                : onyx_model_load_buffer(bytes, size, s->options, &model);
    char why[1200] = "";
    bool ok = true;
    if (st) {
        ok = message_ok(st, onyx_model_errmsg(model), why, sizeof why);
        if (ok && want == EXPECT_OK) {
            snprintf(why, sizeof why, "expected to load, failed: %s", onyx_model_errmsg(model));
            ok = false;
        }
    } else if (want == EXPECT_ERROR) {
        snprintf(why, sizeof why, "loaded, but must be refused");
        ok = false;
    } else {
        s->loaded++;
        ok = run_loaded(s, model, why, sizeof why);
    }
    onyx_model_free(model);
    if (borrowed)
        munmap(borrowed, mapped);
    alarm(0);
    crash_note_current = NULL;
    if (ok) {
        s->passed++;
    } else {
        s->failed++;
        printf("FAIL %s: %s\n", s->description, why);
    }
}

/* Whether case number s->case_index is to be run (and counts it). */
static bool case_selected(sweep *s)
{
    s->case_index++;
    return (s->only < 0 || s->case_index == s->only) && (s->write_index < 0 || s->case_index == s->write_index);
}

static void write_case(sweep *s, const uint8_t *bytes, size_t size)
{
    FILE *f = fopen(s->write_path, "wb");
    if (!f || fwrite(bytes, 1, size, f) != size || fclose(f) != 0) {
        fprintf(stderr, "malformed: cannot write %s\n", s->write_path);
        exit(2);
    }
    printf("wrote %s (%zu bytes): %s\n", s->write_path, size, s->description);
}

/* A case given as bytes. */
static void case_bytes(sweep *s, const uint8_t *bytes, size_t size, expect want, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void case_bytes(sweep *s, const uint8_t *bytes, size_t size, expect want, const char *fmt, ...)
{
    if (!case_selected(s))
        return;
    va_list ap;
    va_start(ap, fmt);
    describe(s, fmt, ap);
    va_end(ap);
    if (s->write_path)
        write_case(s, bytes, size);
    else
        judge(s, bytes, size, NULL, want);
}

static const uint8_t *pack(sweep *s, size_t *size)
{
    *size = onnx__model_proto__get_packed_size(s->proto);
    if (*size > s->packed_cap) {
        free(s->packed);
        s->packed_cap = *size * 2;
        if (!(s->packed = malloc(s->packed_cap)))
            abort();
    }
    onnx__model_proto__pack(s->proto, s->packed);
    return s->packed;
}

/* A case given as the changes made to s->proto since the last case; they are undone after. */
static void case_proto(sweep *s, expect want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void case_proto(sweep *s, expect want, const char *fmt, ...)
{
    if (case_selected(s)) {
        va_list ap;
        va_start(ap, fmt);
        describe(s, fmt, ap);
        va_end(ap);
        size_t size;
        const uint8_t *bytes = pack(s, &size);
        if (s->write_path)
            write_case(s, bytes, size);
        else
            judge(s, bytes, size, NULL, want);
    }
    case_reset(s);
}

/* ---- wire level -------------------------------------------------------------------------- */

typedef struct wire_field {
    size_t start, payload, end; /* tag, first byte after the tag (and length), end */
    bool delimited;
} wire_field;

typedef struct wire_fields {
    wire_field *items;
    size_t count, cap;
} wire_fields;

static bool varint_at(const uint8_t *d, size_t end, size_t *pos, uint64_t *out)
{
    *out = 0;
    for (int shift = 0; shift < 64 && *pos < end; shift += 7) {
        uint8_t b = d[(*pos)++];
        *out |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* Every field of the message in d[lo, hi), nested messages included (per the descriptors). */
static void wire_walk(const uint8_t *d, size_t lo, size_t hi, const ProtobufCMessageDescriptor *desc,
                      wire_fields *out)
{
    size_t pos = lo;
    while (pos < hi) {
        wire_field f = {.start = pos};
        uint64_t tag, len = 0;
        if (!varint_at(d, hi, &pos, &tag))
            return;
        switch (tag & 7) {
        case 0: if (!varint_at(d, hi, &pos, &len)) return; len = 0; break;
        case 1: len = 8; break;
        case 5: len = 4; break;
        case 2: if (!varint_at(d, hi, &pos, &len)) return; f.delimited = true; break;
        default: return;
        }
        f.payload = pos;
        if (len > hi - pos)
            return;
        f.end = pos + len;
        if (out->count == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 1024;
            if (!(out->items = realloc(out->items, out->cap * sizeof *out->items)))
                abort();
        }
        out->items[out->count++] = f;
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3));
        if (f.delimited && fd && fd->type == PROTOBUF_C_TYPE_MESSAGE)
            wire_walk(d, f.payload, f.end, fd->descriptor, out);
        pos = f.end;
    }
}

static size_t put_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    do {
        out[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        out[n++] |= v ? 0x80 : 0;
    } while (v);
    return n;
}

static void wire_cases(sweep *s)
{
    const uint8_t *d = s->original;
    size_t size = s->original_size;
    wire_fields fields = {0};
    wire_walk(d, 0, size, &onnx__model_proto__descriptor, &fields);

    /* Truncation at every field boundary (start, payload, end), each position once. */
    bool *seen = calloc(size + 1, 1);
    if (!seen)
        abort();
    for (size_t i = 0; i < fields.count; i++) {
        size_t at[3] = {fields.items[i].start, fields.items[i].payload, fields.items[i].end};
        for (int k = 0; k < 3; k++) {
            if (at[k] == 0 || at[k] >= size || seen[at[k]])
                continue;
            seen[at[k]] = true;
            case_bytes(s, d, at[k], EXPECT_ANY, "truncated to %zu of %zu bytes (a field boundary)", at[k], size);
        }
    }
    free(seen);

    /* Bit flips: two thirds on the bytes of tags and lengths, a third anywhere. */
    uint8_t *copy = malloc(size + 32);
    if (!copy)
        abort();
    uint64_t rng = 0x2545f4914f6cdd1dull ^ size;
    for (int i = 0; i < 300; i++) {
        uint64_t r = xorshift64(&rng);
        size_t pos;
        if (i % 3 != 2 && fields.count) {
            const wire_field *f = &fields.items[r % fields.count];
            pos = f->start + (size_t)(r >> 32) % (f->payload - f->start);
        } else {
            pos = (size_t)(r % size);
        }
        int bit = (int)(r >> 40) & 7;
        memcpy(copy, d, size);
        copy[pos] ^= (uint8_t)(1u << bit);
        case_bytes(s, copy, size, EXPECT_ANY, "bit %d of byte %zu flipped", bit, pos);
    }

    /* Lengths that run past their message or past the buffer, on up to 150 delimited fields. */
    size_t n_delimited = 0;
    for (size_t i = 0; i < fields.count; i++)
        n_delimited += fields.items[i].delimited;
    size_t step = n_delimited > 150 ? n_delimited / 150 : 1, k = 0;
    for (size_t i = 0; i < fields.count; i++) {
        const wire_field *f = &fields.items[i];
        if (!f->delimited || k++ % step)
            continue;
        uint64_t old = f->end - f->payload;
        const uint64_t lengths[] = {old + 1, size - f->payload + 1, UINT32_MAX, UINT64_MAX};
        size_t tag_end = f->start;
        uint64_t tag;
        varint_at(d, size, &tag_end, &tag);
        for (size_t v = 0; v < sizeof lengths / sizeof lengths[0]; v++) {
            uint8_t varint[10];
            size_t width = put_varint(varint, lengths[v]);
            uint8_t *spliced = malloc(size + 16);
            if (!spliced)
                abort();
            memcpy(spliced, d, tag_end);
            memcpy(spliced + tag_end, varint, width);
            memcpy(spliced + tag_end + width, d + f->payload, size - f->payload);
            /* One more byte may still parse (it takes the next field's tag); past the buffer
             * never does. */
            case_bytes(s, spliced, tag_end + width + size - f->payload, v == 0 ? EXPECT_ANY : EXPECT_ERROR,
                       "length of the field at byte %zu set to %llu (was %llu)", f->start,
                       (unsigned long long)lengths[v], (unsigned long long)old);
            free(spliced);
        }
    }
    free(copy);
    free(fields.items);
}

/* ---- tensors ----------------------------------------------------------------------------- */

static void set_dims(sweep *s, Onnx__TensorProto *t, size_t n, const int64_t *dims)
{
    int64_t *copy = scratch(s, n * sizeof *copy);
    memcpy(copy, dims, n * sizeof *copy);
    SET(s, t->dims, copy);
    SET(s, t->n_dims, n);
}

static void tensor_cases(sweep *s, Onnx__TensorProto *t, const char *where)
{
    size_t rank = t->n_dims;
    int64_t dims[ONYX_MAX_RANK + 2];
    for (size_t i = 0; i < rank && i < ONYX_MAX_RANK; i++)
        dims[i] = t->dims[i];
    const size_t last = rank ? rank - 1 : 0;

    const int64_t bad_dims[] = {INT64_C(1) << 31, INT64_C(1) << 40, INT64_MAX, -1, INT64_MIN}; /* huge, negative */
    for (size_t h = 0; h < sizeof bad_dims / sizeof bad_dims[0]; h++) {
        int64_t d[ONYX_MAX_RANK + 1];
        memcpy(d, dims, sizeof d);
        d[last] = bad_dims[h];
        set_dims(s, t, rank ? rank : 1, d);
        case_proto(s, EXPECT_ERROR, "%s: dim %zu set to %lld", where, last, (long long)bad_dims[h]);
    }
    set_dims(s, t, 2, (const int64_t[]){INT64_C(1) << 32, INT64_C(1) << 32});
    case_proto(s, EXPECT_ERROR, "%s: dims [2^32, 2^32], whose product overflows int64", where);
    set_dims(s, t, 3, (const int64_t[]){INT64_C(3037000500), INT64_C(3037000500), 0});
    case_proto(s, EXPECT_ANY, "%s: dims [3037000500, 3037000500, 0] (empty, but two dims overflow)", where);
    int64_t ones[ONYX_MAX_RANK + 1];
    for (int i = 0; i <= ONYX_MAX_RANK; i++)
        ones[i] = 1;
    set_dims(s, t, ONYX_MAX_RANK + 1, ones);
    case_proto(s, EXPECT_ERROR, "%s: rank %d, above the maximum", where, ONYX_MAX_RANK + 1);

    if (t->has_raw_data) {
        size_t len = t->raw_data.len;
        if (len) {
            SET(s, t->raw_data.len, len - 1);
            case_proto(s, EXPECT_ERROR, "%s: raw_data one byte shorter than declared", where);
            SET(s, t->raw_data.len, 0);
            case_proto(s, EXPECT_ERROR, "%s: raw_data empty", where);
        }
        uint8_t *longer = scratch(s, len + 8);
        if (len)
            memcpy(longer, t->raw_data.data, len);
        SET(s, t->raw_data.data, longer);
        SET(s, t->raw_data.len, len + 8);
        case_proto(s, EXPECT_ERROR, "%s: raw_data 8 bytes longer than declared", where);
    } else {
        SET(s, t->n_float_data, t->n_float_data + 1);
        SET(s, t->float_data, scratch(s, (t->n_float_data + 1) * sizeof(float)));
        SET(s, t->n_int64_data, t->n_int64_data + 1);
        SET(s, t->int64_data, scratch(s, (t->n_int64_data + 1) * sizeof(int64_t)));
        SET(s, t->n_int32_data, t->n_int32_data + 1);
        SET(s, t->int32_data, scratch(s, (t->n_int32_data + 1) * sizeof(int32_t)));
        case_proto(s, EXPECT_ERROR, "%s: typed data one element longer than declared", where);
    }

    const int32_t dtypes[] = {0, ONYX_DTYPE_STRING, 17, 1000, -5, ONYX_DTYPE_DOUBLE, ONYX_DTYPE_INT32,
                              ONYX_DTYPE_BOOL, ONYX_DTYPE_COMPLEX128};
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        if (t->has_data_type && dtypes[i] == t->data_type)
            continue;
        SET(s, t->data_type, dtypes[i]);
        SET(s, t->has_data_type, 1);
        case_proto(s, EXPECT_ANY, "%s: data_type set to %d", where, dtypes[i]);
    }
    SET(s, t->has_data_type, 0);
    case_proto(s, EXPECT_ERROR, "%s: no data_type", where);

    Onnx__TensorProto__Segment *segment = scratch(s, sizeof *segment);
    onnx__tensor_proto__segment__init(segment);
    SET(s, t->segment, segment);
    case_proto(s, EXPECT_ERROR, "%s: a segment", where);
    SET(s, t->has_data_location, 1);
    SET(s, t->data_location, ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL);
    case_proto(s, EXPECT_ERROR, "%s: external data without a location", where);
}

/* Every tensor of the main graph: initializers and the tensors of attributes. */
static void all_tensor_cases(sweep *s)
{
    Onnx__GraphProto *g = s->proto->graph;
    char where[400];
    for (size_t i = 0; i < g->n_initializer; i++) {
        snprintf(where, sizeof where, "initializer '%s'", g->initializer[i]->name);
        tensor_cases(s, g->initializer[i], where);
    }
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t a = 0; a < g->node[i]->n_attribute; a++)
            if (g->node[i]->attribute[a]->t) {
                snprintf(where, sizeof where, "node #%zu (%s) attribute '%s'", i, g->node[i]->op_type,
                         g->node[i]->attribute[a]->name);
                tensor_cases(s, g->node[i]->attribute[a]->t, where);
            }
}

/* ---- value infos ------------------------------------------------------------------------- */

static void value_info_cases(sweep *s, Onnx__ValueInfoProto *vi, const char *where)
{
    Onnx__TypeProto *type = vi->type;
    SET(s, vi->type, NULL);
    case_proto(s, EXPECT_ANY, "%s '%s': no type", where, vi->name);
    if (!type || type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !type->tensor_type)
        return;
    Onnx__TypeProto__Tensor *tt = type->tensor_type;
    const int32_t elem_types[] = {0, ONYX_DTYPE_STRING, 17, 99, -1, ONYX_DTYPE_DOUBLE};
    for (size_t i = 0; i < sizeof elem_types / sizeof elem_types[0]; i++) {
        SET(s, tt->elem_type, elem_types[i]);
        SET(s, tt->has_elem_type, 1);
        case_proto(s, EXPECT_ANY, "%s '%s': element type %d", where, vi->name, elem_types[i]);
    }
    Onnx__TypeProto__Sequence *sequence = scratch(s, sizeof *sequence);
    onnx__type_proto__sequence__init(sequence);
    SET(s, type->value_case, ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE);
    SET(s, type->sequence_type, sequence);
    case_proto(s, EXPECT_ANY, "%s '%s': a sequence type without an element type", where, vi->name);
    Onnx__TensorShapeProto *shape = tt->shape;
    if (!shape)
        return;
    const int64_t dims[] = {INT64_C(1) << 40, INT64_MAX, -5, 0};
    for (size_t d = 0; d < shape->n_dim; d++)
        for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
            Onnx__TensorShapeProto__Dimension *dim = shape->dim[d];
            SET(s, dim->value_case, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE);
            SET(s, dim->dim_value, dims[i]);
            case_proto(s, EXPECT_ANY, "%s '%s': dim %zu set to %lld", where, vi->name, d, (long long)dims[i]);
        }
    Onnx__TensorShapeProto__Dimension *blank = scratch(s, sizeof *blank);
    onnx__tensor_shape_proto__dimension__init(blank);
    Onnx__TensorShapeProto__Dimension **nine = grown_array(s, shape->dim, shape->n_dim, 9);
    for (size_t d = shape->n_dim; d < shape->n_dim + 9; d++)
        nine[d] = blank;
    SET(s, shape->dim, nine);
    SET(s, shape->n_dim, shape->n_dim + 9);
    case_proto(s, EXPECT_ANY, "%s '%s': 9 more (unknown) dims", where, vi->name);
    if (shape->n_dim) {
        Onnx__TensorShapeProto__Dimension *dim = shape->dim[0];
        SET(s, dim->value_case, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM);
        SET(s, dim->dim_param, "");
        case_proto(s, EXPECT_ANY, "%s '%s': dim 0 named by an empty string", where, vi->name);
    }
}

static void io_cases(sweep *s)
{
    Onnx__GraphProto *g = s->proto->graph;
    for (size_t i = 0; i < g->n_input; i++)
        value_info_cases(s, g->input[i], "graph input");
    for (size_t i = 0; i < g->n_output; i++)
        value_info_cases(s, g->output[i], "graph output");
}

/* ---- names ------------------------------------------------------------------------------- */

static void name_cases(sweep *s)
{
    Onnx__GraphProto *g = s->proto->graph;
    for (size_t i = 1; i < g->n_initializer; i++) {
        SET(s, g->initializer[i]->name, g->initializer[i - 1]->name);
        case_proto(s, EXPECT_ERROR, "initializer #%zu renamed '%s', the name of the one before", i,
                   g->initializer[i - 1]->name);
    }
    for (size_t i = 0; i < g->n_initializer; i++) {
        SET(s, g->initializer[i]->name, "");
        case_proto(s, EXPECT_ERROR, "initializer #%zu without a name", i);
    }
    for (size_t i = 0; i < g->n_input; i++) {
        Onnx__ValueInfoProto **inputs = grown_array(s, g->input, g->n_input, 1);
        inputs[g->n_input] = g->input[i];
        SET(s, g->input, inputs);
        SET(s, g->n_input, g->n_input + 1);
        case_proto(s, EXPECT_ERROR, "graph input '%s' listed twice", g->input[i]->name);
        SET(s, g->input[i]->name, "");
        case_proto(s, EXPECT_ERROR, "graph input #%zu without a name", i);
    }
    for (size_t i = 0; i < g->n_output; i++) {
        SET(s, g->output[i]->name, "no_such_value");
        case_proto(s, EXPECT_ERROR, "graph output #%zu names a value nothing produces", i);
        Onnx__ValueInfoProto **outputs = grown_array(s, g->output, g->n_output, 1);
        outputs[g->n_output] = g->output[i];
        SET(s, g->output, outputs);
        SET(s, g->n_output, g->n_output + 1);
        case_proto(s, EXPECT_ANY, "graph output '%s' listed twice", g->output[i]->name);
    }
    for (size_t i = 0; i < g->n_node; i++)
        SET(s, g->node[i]->name, "same");
    case_proto(s, EXPECT_ANY, "every node named 'same'");
}

/* ---- nodes ------------------------------------------------------------------------------- */

static char **names_with(sweep *s, char **names, size_t n, size_t extra, const char *fill)
{
    char **copy = grown_array(s, names, n, extra);
    for (size_t i = n; i < n + extra; i++)
        copy[i] = (char *)fill;
    return copy;
}

static void node_cases(sweep *s)
{
    Onnx__GraphProto *g = s->proto->graph;
    const char *some_input = g->n_input ? g->input[0]->name : "x";
    for (size_t i = 0; i < g->n_node; i++) {
        Onnx__NodeProto *n = g->node[i];
        char where[300];
        snprintf(where, sizeof where, "node #%zu '%s' (%s)", i, n->name ? n->name : "", n->op_type);
        if (n->n_input) {
            SET(s, n->input[0], "no_such_value");
            case_proto(s, EXPECT_ERROR, "%s: input 0 renamed to a value nothing produces", where);
            if (n->n_output && n->output[0][0]) {
                SET(s, n->input[0], n->output[0]);
                case_proto(s, EXPECT_ERROR, "%s: input 0 is its own output (a cycle)", where);
            }
            /* The last node's output depends on most of the graph: reading it closes a cycle
             * through every node in between. */
            const Onnx__NodeProto *last = g->node[g->n_node - 1];
            if (i + 1 < g->n_node && last->n_output && last->output[0][0]) {
                SET(s, n->input[0], last->output[0]);
                case_proto(s, EXPECT_ANY, "%s: input 0 is the last node's output '%s'", where, last->output[0]);
            }
            SET(s, n->n_input, n->n_input - 1);
            case_proto(s, EXPECT_ANY, "%s: its last input dropped", where);
            SET(s, n->n_input, 0);
            case_proto(s, EXPECT_ANY, "%s: no inputs", where);
        }
        SET(s, n->input, names_with(s, n->input, n->n_input, 3, some_input));
        SET(s, n->n_input, n->n_input + 3);
        case_proto(s, EXPECT_ANY, "%s: three more inputs", where);
        SET(s, n->input, names_with(s, n->input, n->n_input, 100, ""));
        SET(s, n->n_input, n->n_input + 100);
        case_proto(s, EXPECT_ANY, "%s: 100 more (empty) inputs", where);
        SET(s, n->output, names_with(s, n->output, n->n_output, 1, "extra_output"));
        SET(s, n->n_output, n->n_output + 1);
        case_proto(s, EXPECT_ANY, "%s: one more output", where);
        SET(s, n->n_output, 0);
        case_proto(s, EXPECT_ANY, "%s: no outputs", where);
        if (n->n_output && g->n_input) {
            SET(s, n->output[0], g->input[0]->name);
            case_proto(s, EXPECT_ERROR, "%s: output 0 renamed to graph input '%s'", where, g->input[0]->name);
        }
        SET(s, n->op_type, "");
        case_proto(s, EXPECT_ERROR, "%s: empty op_type", where);
        SET(s, n->op_type, "NoSuchOperator");
        case_proto(s, EXPECT_ERROR, "%s: op_type NoSuchOperator", where);
        SET(s, n->domain, "com.example.unknown");
        case_proto(s, EXPECT_ERROR, "%s: domain com.example.unknown, not imported", where);
    }
}

/* ---- attributes -------------------------------------------------------------------------- */

static void attribute_cases(sweep *s)
{
    Onnx__GraphProto *g = s->proto->graph;
    static const struct {
        Onnx__AttributeProto__AttributeType type;
        const char *name;
    } types[] = {{ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, "float"},
                 {ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, "int"},
                 {ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING, "string"},
                 {ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR, "tensor"},
                 {ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH, "graph"},
                 {ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, "ints"},
                 {ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR, "sparse tensor"}};
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_attribute; k++) {
            Onnx__NodeProto *n = g->node[i];
            Onnx__AttributeProto *a = n->attribute[k];
            char where[300];
            snprintf(where, sizeof where, "node #%zu (%s) attribute '%s'", i, n->op_type, a->name);
            for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
                if (a->has_type && a->type == types[t].type)
                    continue;
                SET(s, a->type, types[t].type);
                SET(s, a->has_type, 1);
                case_proto(s, EXPECT_ANY, "%s: type set to %s, payload kept", where, types[t].name);
            }
            SET(s, a->has_type, 0);
            SET(s, a->has_i, 0);
            SET(s, a->has_f, 0);
            SET(s, a->has_s, 0);
            SET(s, a->t, NULL);
            SET(s, a->n_ints, 0);
            SET(s, a->n_floats, 0);
            case_proto(s, EXPECT_ANY, "%s: no type and no payload", where);
            const int64_t extremes[] = {INT64_MIN, INT64_MAX, -1};
            for (size_t e = 0; e < sizeof extremes / sizeof extremes[0]; e++) {
                if (a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT) {
                    SET(s, a->i, extremes[e]);
                } else if (a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS && a->n_ints) {
                    int64_t *ints = scratch(s, a->n_ints * sizeof *ints);
                    for (size_t v = 0; v < a->n_ints; v++)
                        ints[v] = extremes[e];
                    SET(s, a->ints, ints);
                } else if (a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT) {
                    SET(s, a->f, (float)extremes[e]);
                } else {
                    continue;
                }
                case_proto(s, EXPECT_ANY, "%s: value(s) set to %lld", where, (long long)extremes[e]);
            }
            Onnx__AttributeProto **twice = grown_array(s, n->attribute, n->n_attribute, 1);
            twice[n->n_attribute] = a;
            SET(s, n->attribute, twice);
            SET(s, n->n_attribute, n->n_attribute + 1);
            case_proto(s, EXPECT_ERROR, "%s: given twice", where);
        }
}

/* ---- the model --------------------------------------------------------------------------- */

static void model_cases(sweep *s)
{
    Onnx__ModelProto *m = s->proto;
    const int64_t versions[] = {0, -3, 10001, 99, 1};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        SET(s, m->opset_import[0]->version, versions[i]);
        case_proto(s, EXPECT_ANY, "default opset version %lld", (long long)versions[i]);
    }
    SET(s, m->opset_import[0]->domain, "com.example.unknown");
    case_proto(s, EXPECT_ERROR, "the only opset import is of an unknown domain");
    Onnx__OperatorSetIdProto **twice = grown_array(s, m->opset_import, m->n_opset_import, 1);
    twice[m->n_opset_import] = m->opset_import[0];
    SET(s, m->opset_import, twice);
    SET(s, m->n_opset_import, m->n_opset_import + 1);
    case_proto(s, EXPECT_ERROR, "the default domain imported twice");
    SET(s, m->n_opset_import, 0);
    case_proto(s, EXPECT_ERROR, "no opset import");
    SET(s, m->graph, NULL);
    case_proto(s, EXPECT_ERROR, "no graph");
    SET(s, m->ir_version, -1);
    case_proto(s, EXPECT_ANY, "ir_version -1");
    Onnx__FunctionProto *function = scratch(s, sizeof *function);
    onnx__function_proto__init(function);
    Onnx__FunctionProto **functions = scratch(s, sizeof *functions);
    functions[0] = function;
    SET(s, m->functions, functions);
    SET(s, m->n_functions, 1);
    case_proto(s, EXPECT_ERROR, "an (empty) model-local function");
    Onnx__GraphProto *g = m->graph;
    SET(s, g->n_node, 0);
    case_proto(s, EXPECT_ANY, "no nodes");
    SET(s, g->n_output, 0);
    case_proto(s, EXPECT_ANY, "no graph outputs");
}

/* ---- external data ----------------------------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        fprintf(stderr, "malformed: cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
}

/* The model with tensor t moved to external data described by key/value pairs, written as
 * DIR/model/model.onnx and loaded from there. */
static void case_external(sweep *s, Onnx__TensorProto *t, const char *dir, expect want,
                          const char *const *pairs, const char *what)
{
    size_t n = 0;
    while (pairs[2 * n])
        n++;
    Onnx__StringStringEntryProto **entries = scratch(s, n * sizeof *entries);
    for (size_t i = 0; i < n; i++) {
        entries[i] = scratch(s, sizeof **entries);
        onnx__string_string_entry_proto__init(entries[i]);
        entries[i]->key = (char *)pairs[2 * i];
        entries[i]->value = (char *)pairs[2 * i + 1];
    }
    SET(s, t->has_raw_data, 0);
    SET(s, t->has_data_location, 1);
    SET(s, t->data_location, ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL);
    SET(s, t->external_data, entries);
    SET(s, t->n_external_data, n);
    if (case_selected(s)) {
        snprintf(s->description, sizeof s->description, "case %ld, %s: initializer '%s' in external data: %s",
                 s->case_index, s->name, t->name, what);
        size_t size;
        const uint8_t *bytes = pack(s, &size);
        char path[600];
        snprintf(path, sizeof path, "%s/model/model.onnx", dir);
        write_file(path, bytes, size);
        if (s->write_path)
            write_case(s, bytes, size);
        else
            judge(s, NULL, 0, path, want);
    }
    case_reset(s);
}

static void external_cases(sweep *s)
{
    Onnx__GraphProto *g = s->proto->graph;
    Onnx__TensorProto *t = NULL;
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->has_raw_data && (!t || g->initializer[i]->raw_data.len > t->raw_data.len))
            t = g->initializer[i];
    if (!t)
        return;
    /* DIR/secret.bin outside; DIR/model/ with the data, a short copy, a subdirectory, and
     * symlinks leading out. */
    char dir[400], path[600], absolute[600], length[32], longer[32];
    snprintf(dir, sizeof dir, "%s/%s", s->tmp, s->name);
    snprintf(path, sizeof path, "%s/model", dir);
    if (mkdir(dir, 0700) != 0 || mkdir(path, 0700) != 0) {
        fprintf(stderr, "malformed: cannot create %s\n", path);
        exit(2);
    }
    snprintf(absolute, sizeof absolute, "%s/secret.bin", dir);
    write_file(absolute, t->raw_data.data, t->raw_data.len);
    snprintf(path, sizeof path, "%s/model/weights.bin", dir);
    write_file(path, t->raw_data.data, t->raw_data.len);
    snprintf(path, sizeof path, "%s/model/short.bin", dir);
    write_file(path, t->raw_data.data, t->raw_data.len ? t->raw_data.len - 1 : 0);
    snprintf(path, sizeof path, "%s/model/sub", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/model/link.bin", dir);
    if (symlink("../secret.bin", path) != 0)
        exit(2);
    snprintf(path, sizeof path, "%s/model/dirlink", dir);
    if (symlink("..", path) != 0)
        exit(2);
    snprintf(length, sizeof length, "%zu", t->raw_data.len);
    snprintf(longer, sizeof longer, "%zu", t->raw_data.len + 1);

    static const struct {
        expect want;
        const char *what;
        const char *pairs[7];
    } cases[] = {
        {EXPECT_OK, "weights.bin inside the directory", {"location", "weights.bin", NULL}},
        {EXPECT_OK, "weights.bin with offset 0 and its length", {"location", "weights.bin", "offset", "0", "length", "LENGTH", NULL}},
        {EXPECT_ERROR, "an absolute path outside", {"location", "ABSOLUTE", NULL}},
        {EXPECT_ERROR, "'../secret.bin'", {"location", "../secret.bin", NULL}},
        {EXPECT_ERROR, "'sub/../../secret.bin'", {"location", "sub/../../secret.bin", NULL}},
        {EXPECT_ERROR, "a symlink to a file outside", {"location", "link.bin", NULL}},
        {EXPECT_ERROR, "a path through a symlink to the parent directory", {"location", "dirlink/secret.bin", NULL}},
        {EXPECT_ERROR, "a missing file", {"location", "nothere.bin", NULL}},
        {EXPECT_ERROR, "a file one byte short", {"location", "short.bin", NULL}},
        {EXPECT_ERROR, "offset 1, one byte short", {"location", "weights.bin", "offset", "1", NULL}},
        {EXPECT_ERROR, "offset -5", {"location", "weights.bin", "offset", "-5", NULL}},
        {EXPECT_ERROR, "offset 'abc'", {"location", "weights.bin", "offset", "abc", NULL}},
        {EXPECT_ERROR, "offset beyond int64", {"location", "weights.bin", "offset", "99999999999999999999", NULL}},
        {EXPECT_ERROR, "a length one byte longer", {"location", "weights.bin", "length", "LONGER", NULL}},
        {EXPECT_ERROR, "an empty location", {"location", "", NULL}},
        {EXPECT_ERROR, "a directory", {"location", "sub", NULL}},
        {EXPECT_ERROR, "the model's directory itself", {"location", ".", NULL}},
        {EXPECT_ERROR, "no location", {"offset", "0", NULL}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *pairs[7];
        for (size_t i = 0; i < 7; i++) {
            const char *p = cases[c].pairs[i];
            pairs[i] = p && !strcmp(p, "ABSOLUTE") ? absolute : p && !strcmp(p, "LENGTH") ? length
                       : p && !strcmp(p, "LONGER") ? longer : p;
        }
        case_external(s, t, dir, cases[c].want, pairs, cases[c].what);
    }
}

/* ---- the sweep --------------------------------------------------------------------------- */

static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat sb;
    uint8_t *data = NULL;
    if (fstat(fileno(f), &sb) == 0 && (data = malloc((size_t)sb.st_size + 1)) &&
        fread(data, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
        free(data);
        data = NULL;
    }
    fclose(f);
    *size = data ? (size_t)sb.st_size : 0;
    return data;
}

static void sweep_model(sweep *s, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    const char *slash = strrchr(dir, '/');
    s->name = slash && slash[1] ? slash + 1 : dir;
    s->dir = dir;
    if (!(s->original = read_all(path, &s->original_size)) ||
        !(s->proto = onnx__model_proto__unpack(NULL, s->original_size, s->original))) {
        fprintf(stderr, "malformed: cannot read the model %s\n", path);
        exit(2);
    }
    /* The model itself first: it must load (and run). */
    case_bytes(s, s->original, s->original_size, EXPECT_OK, "the model unchanged");
    wire_cases(s);
    if (s->proto->graph && s->proto->n_opset_import) {
        all_tensor_cases(s);
        io_cases(s);
        name_cases(s);
        node_cases(s);
        attribute_cases(s);
        model_cases(s);
        external_cases(s);
    }
    onnx__model_proto__free_unpacked(s->proto, NULL);
    free(s->original);
    s->proto = NULL;
    s->original = NULL;
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* DIR itself when it holds model.onnx, else its subdirectories that do, in name order. */
static void sweep_path(sweep *s, const char *dir)
{
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    if (stat(path, &sb) == 0) {
        sweep_model(s, dir);
        return;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "malformed: no model.onnx and not a directory: %s\n", dir);
        exit(2);
    }
    char *names[256];
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 256;) {
        snprintf(path, sizeof path, "%s/%s/model.onnx", dir, e->d_name);
        if (e->d_name[0] != '.' && stat(path, &sb) == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, compare_strings);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        sweep_model(s, path);
        free(names[i]);
    }
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    sweep s = {.only = -1, .write_index = -1, .case_index = -1};
    const char *dirs[64];
    int n_dirs = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--only") && i + 1 < argc)
            s.only = atol(argv[++i]);
        else if (!strcmp(argv[i], "--write") && i + 2 < argc)
            s.write_index = atol(argv[++i]), s.write_path = argv[++i];
        else if (!strcmp(argv[i], "--verbose"))
            s.verbose = true;
        else if (argv[i][0] != '-' && n_dirs < 64)
            dirs[n_dirs++] = argv[i];
        else {
            fprintf(stderr, "usage: malformed [--only N] [--write N FILE] [--verbose] DIR...\n");
            return 2;
        }
    }
    if (!n_dirs) {
        fprintf(stderr, "usage: malformed [--only N] [--write N FILE] [--verbose] DIR...\n");
        return 2;
    }
    crash_note_install();
    signal(SIGALRM, on_alarm);
#ifndef CRASH_NOTE_SANITIZED
    /* The sanitizers reserve terabytes of address space; without them, cap it. */
    struct rlimit cap = {(rlim_t)PROCESS_CAP, (rlim_t)PROCESS_CAP};
    setrlimit(RLIMIT_AS, &cap);
#endif
    if (onyx_options_create(&s.options) != ONYX_OK ||
        onyx_options_set_limit(s.options, ONYX_LIMIT_MEMORY_BYTES, MEMORY_LIMIT) != ONYX_OK)
        return 2;
    snprintf(s.tmp, sizeof s.tmp, "/tmp/onyx-malformed-XXXXXX");
    if (!mkdtemp(s.tmp)) {
        fprintf(stderr, "malformed: cannot create a temporary directory\n");
        return 2;
    }
    for (int i = 0; i < n_dirs; i++)
        sweep_path(&s, dirs[i]);
    remove_tree(s.tmp);
    onyx_options_free(s.options);
    free(s.packed);
    case_reset(&s);

    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    long peak_mb = usage.ru_maxrss / 1024;
    if (peak_mb > PROCESS_CAP >> 20) {
        printf("FAIL peak memory %ld MiB, above the cap of %lld MiB\n", peak_mb, (long long)(PROCESS_CAP >> 20));
        s.failed++;
    }
    if (s.write_path)
        return 0;
    printf("malformed: %ld cases; %ld loaded, of which %ld ran; peak memory %ld MiB\n", s.case_index + 1,
           s.loaded, s.ran, peak_mb);
    printf("%ld passed, %ld failed\n", s.passed, s.failed);
    return s.failed ? 1 : 0;
}
