/* The operators on strings of ONNX's default domain: StringConcat-20, StringSplit-20,
 * StringNormalizer-10 and RegexFullMatch-20 (Equal on strings is in logic.c).
 *
 * Their string outputs are sized from the data (op.h, "string tensors"): reshape, which sees
 * every input's data because nodes on strings run node by node, computes the output shape and
 * the bytes of strings it will hold; run writes them. Work on strings is cheap next to the
 * copying, so each node is one task. */
#include "op.h"
#include "broadcast.h"
#include "string_tensor.h"

#include <regex.h>
#include <string.h>

/* Reshape's common start: output shape known, data of `x` known (concrete) or not yet. */
static bool have_data(const op_context *ctx, const onyx_tensor *x) { return ctx->concrete && x && x->data; }

/* ---- StringConcat ------------------------------------------------------------------------- */

static onyx_status concat_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 2, 1, 1);
    if (!st)
        st = op_check_inputs_alike(ctx, 2, 2, DT(STRING));
    if (st)
        return st;
    op_set_output_dtypes(ctx, ONYX_DTYPE_STRING);
    return ONYX_OK;
}

static onyx_status concat_reshape(op_context *ctx)
{
    const onyx_tensor *x = ctx->inputs[0], *y = ctx->inputs[1];
    onyx_tensor *z = ctx->outputs[0];
    onyx_status st = broadcast_shape(ctx, 2, (const onyx_tensor *const *)ctx->inputs, z);
    if (st || !have_data(ctx, x) || !have_data(ctx, y))
        return st;
    /* Broadcasting may multiply: the count checked before the loop over it. */
    if ((st = op_check_shape(ctx, z->rank, z->dims, "output 'Z'")))
        return st;
    int64_t chars = 0, n = tensor_count(z);
    for (int64_t i = 0; i < n; i++) {
        size_t a, b;
        op_string_at(x, strings_broadcast_index(z, x, i), &a);
        op_string_at(y, strings_broadcast_index(z, y, i), &b);
        chars += (int64_t)(a + b); /* each below the block sizes: no overflow */
        if (chars > INT64_MAX / 4)
            return op_error(ctx, ONYX_ERROR_LIMIT, "the concatenated strings are too large");
    }
    return op_string_size(ctx, 0, chars);
}

static onyx_status concat_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const onyx_tensor *x = ctx->inputs[0], *y = ctx->inputs[1];
    onyx_tensor *z = ctx->outputs[0];
    op_string_writer w;
    op_string_begin(&w, z);
    int64_t n = tensor_count(z);
    for (int64_t i = 0; i < n; i++) {
        size_t a, b;
        const char *s = op_string_at(x, strings_broadcast_index(z, x, i), &a);
        const char *t = op_string_at(y, strings_broadcast_index(z, y, i), &b);
        /* Written in place: the element's bytes are the next a + b bytes of the block. */
        int64_t at = w.at;
        op_string_put(&w, NULL, 0);
        if (w.bytes - at - 1 >= (int64_t)(a + b)) {
            op_string_entry *e = (op_string_entry *)(w.base + OP_STRING_HEADER) + w.next - 1;
            memcpy(w.base + at, s, a);
            memcpy(w.base + at + a, t, b);
            w.base[at + (int64_t)(a + b)] = '\0';
            e->length = (int64_t)(a + b);
            w.at = at + (int64_t)(a + b) + 1;
        }
    }
    return ONYX_OK;
}

const op_descriptor op_StringConcat = {concat_check, concat_reshape, concat_run, 0};

/* ---- StringSplit -------------------------------------------------------------------------- */

typedef struct split_params {
    const char *delimiter; /* NULL: runs of whitespace, as Python's str.split() */
    size_t delimiter_len;
    int64_t maxsplit;      /* < 0: no limit */
} split_params;

typedef struct splitter {
    const split_params *p;
    const char *s;
    size_t n, pos;
    int64_t splits;
    bool done;
} splitter;

/* ASCII whitespace, as Python's str.split() without a separator sees it in ASCII text (it
 * also splits at Unicode spaces, which onyx does not). */
static bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

static bool split_next(splitter *sp, size_t *off, size_t *len)
{
    const split_params *p = sp->p;
    if (sp->done)
        return false;
    bool more = p->maxsplit < 0 || sp->splits < p->maxsplit;
    if (p->delimiter) {
        const char *hit = NULL;
        for (size_t k = sp->pos; more && k + p->delimiter_len <= sp->n && !hit; k++)
            if (!memcmp(sp->s + k, p->delimiter, p->delimiter_len))
                hit = sp->s + k;
        *off = sp->pos;
        if (!hit) {
            *len = sp->n - sp->pos;
            sp->done = true;
            return true;
        }
        *len = (size_t)(hit - sp->s) - sp->pos;
        sp->pos = *off + *len + p->delimiter_len;
        sp->splits++;
        return true;
    }
    while (sp->pos < sp->n && is_space(sp->s[sp->pos]))
        sp->pos++;
    if (sp->pos == sp->n) {
        sp->done = true;
        return false;
    }
    *off = sp->pos;
    if (!more) { /* the rest, trailing whitespace and all */
        *len = sp->n - sp->pos;
        sp->done = true;
        return true;
    }
    while (sp->pos < sp->n && !is_space(sp->s[sp->pos]))
        sp->pos++;
    *len = sp->pos - *off;
    sp->splits++;
    return true;
}

static onyx_status split_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 2);
    if (!st)
        st = op_check_input(ctx, 0, true, DT(STRING));
    split_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    const char *delimiter;
    if ((st = op_attr_string(ctx, "delimiter", "", &delimiter)) ||
        (st = op_attr_int(ctx, "maxsplit", -1, &p->maxsplit)))
        return st;
    p->delimiter = *delimiter ? delimiter : NULL;
    p->delimiter_len = strlen(delimiter);
    ctx->outputs[0]->dtype = ONYX_DTYPE_STRING;
    if (op_output(ctx, 1))
        ctx->outputs[1]->dtype = ONYX_DTYPE_INT64;
    ctx->params = p;
    return ONYX_OK;
}

static onyx_status split_reshape(op_context *ctx)
{
    const split_params *p = ctx->params;
    const onyx_tensor *x = ctx->inputs[0];
    onyx_tensor *y = ctx->outputs[0], *z = op_output(ctx, 1);
    if (x->rank < 0 || x->rank >= ONYX_MAX_RANK)
        return x->rank < 0 ? ONYX_OK
                           : op_error(ctx, ONYX_ERROR_UNSUPPORTED,
                                      "input of rank %d: its output would have rank %d, "
                                      "over onyx's %d", x->rank, x->rank + 1, ONYX_MAX_RANK);
    if (z)
        tensor_set_shape(z, x->rank, x->dims);
    tensor_set_shape(y, x->rank + 1, x->dims);
    y->dims[x->rank] = DIM_UNKNOWN;
    if (!have_data(ctx, x))
        return ONYX_OK;
    int64_t n = tensor_count(x), widest = 0, chars = 0;
    for (int64_t i = 0; i < n; i++) {
        splitter sp = {.p = p};
        sp.s = op_string_at(x, i, &sp.n);
        size_t off, len;
        int64_t tokens = 0;
        while (split_next(&sp, &off, &len)) {
            tokens++;
            chars += (int64_t)len;
        }
        widest = OP_MAX(widest, tokens);
    }
    y->dims[x->rank] = widest;
    onyx_status st = op_check_shape(ctx, y->rank, y->dims, "output 'Y'");
    return st ? st : op_string_size(ctx, 0, chars);
}

static onyx_status split_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const split_params *p = ctx->params;
    const onyx_tensor *x = ctx->inputs[0];
    onyx_tensor *y = ctx->outputs[0], *z = op_output(ctx, 1);
    int64_t n = tensor_count(x), widest = y->dims[x->rank];
    op_string_writer w;
    op_string_begin(&w, y);
    for (int64_t i = 0; i < n; i++) {
        splitter sp = {.p = p};
        sp.s = op_string_at(x, i, &sp.n);
        size_t off, len;
        int64_t tokens = 0;
        while (split_next(&sp, &off, &len)) {
            op_string_put(&w, sp.s + off, len);
            tokens++;
        }
        for (int64_t k = tokens; k < widest; k++)
            op_string_put(&w, NULL, 0); /* padding */
        if (z)
            ((int64_t *)z->data)[i] = tokens;
    }
    return ONYX_OK;
}

const op_descriptor op_StringSplit = {split_check, split_reshape, split_run, 0};

/* ---- StringNormalizer --------------------------------------------------------------------- */

typedef enum case_action { CASE_NONE, CASE_LOWER, CASE_UPPER } case_action;

typedef struct normalizer_params {
    case_action action;
    bool case_sensitive;
    int64_t n_stopwords;
    const char *const *stopwords;
} normalizer_params;

/* The case mapping of one code point, for the scripts whose cases have the same UTF-8 length
 * (so a string keeps its length): ASCII, Latin-1, Latin Extended-A, basic Greek and Cyrillic.
 * Others (and ß, whose upper case is two letters) are left as they are. */
static uint32_t map_case(uint32_t c, bool upper)
{
    if (c < 0x80)
        return upper ? (c >= 'a' && c <= 'z' ? c - 32 : c) : (c >= 'A' && c <= 'Z' ? c + 32 : c);
    if (!upper && c >= 0xc0 && c <= 0xde && c != 0xd7)
        return c + 0x20;
    if (upper && c >= 0xe0 && c <= 0xfe && c != 0xf7)
        return c - 0x20;
    if (upper && c == 0xff)
        return 0x178;
    if (!upper && c == 0x178)
        return 0xff;
    if (upper && c == 0xb5)
        return 0x39c;
    /* Latin Extended-A: pairs (upper, lower) from 0x100, 0x139 and 0x179 on, except the few
     * letters without a pair of the same length (İ, ı, ĸ, ŉ, ſ). */
    bool even_pairs = (c >= 0x100 && c <= 0x137 && c != 0x130 && c != 0x131) || (c >= 0x14a && c <= 0x177);
    bool odd_pairs = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e);
    if (even_pairs)
        return upper ? c & ~1u : c | 1u;
    if (odd_pairs)
        return upper ? ((c & 1u) ? c : c - 1) : ((c & 1u) ? c + 1 : c);
    if (!upper && ((c >= 0x391 && c <= 0x3a9 && c != 0x3a2) || (c >= 0x410 && c <= 0x42f)))
        return c + 0x20;
    if (upper && ((c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2) || (c >= 0x430 && c <= 0x44f)))
        return c - 0x20;
    if (upper && c == 0x3c2) /* final sigma */
        return 0x3a3;
    if (!upper && c >= 0x400 && c <= 0x40f)
        return c + 0x50;
    if (upper && c >= 0x450 && c <= 0x45f)
        return c - 0x50;
    return c;
}

/* Maps s[0..n) (valid UTF-8) into dst, which gets n bytes: every mapping keeps the length. */
static void change_case(char *dst, const char *s, size_t n, bool upper)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x80) {
            dst[i] = (char)map_case(p[i], upper);
            i++;
            continue;
        }
        if ((p[i] & 0xe0) != 0xc0) { /* three or four bytes: no mapping of those */
            size_t len = (p[i] & 0xf0) == 0xe0 ? 3 : 4;
            memcpy(dst + i, s + i, len);
            i += len;
            continue;
        }
        uint32_t c = map_case((uint32_t)(p[i] & 0x1f) << 6 | (p[i + 1] & 0x3f), upper);
        dst[i] = (char)(0xc0 | c >> 6);
        dst[i + 1] = (char)(0x80 | (c & 0x3f));
        i += 2;
    }
}

/* Case-insensitive equality: both lowered (the lengths are kept, see map_case). */
static bool equal_folded(const char *a, size_t a_len, const char *b, size_t b_len)
{
    if (a_len != b_len)
        return false;
    char x[64], y[64];
    for (size_t at = 0; at < a_len;) {
        /* In pieces that end on a character boundary. */
        size_t piece = a_len - at < 60 ? a_len - at : 60;
        while (piece < a_len - at && ((unsigned char)a[at + piece] & 0xc0) == 0x80)
            piece--;
        size_t b_piece = piece;
        while (at + b_piece < b_len && ((unsigned char)b[at + b_piece] & 0xc0) == 0x80 && b_piece < 63)
            b_piece++;
        if (b_piece != piece)
            return false; /* a character boundary differs: not the same text */
        change_case(x, a + at, piece, false);
        change_case(y, b + at, piece, false);
        if (memcmp(x, y, piece))
            return false;
        at += piece;
    }
    return true;
}

static onyx_status normalizer_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT(STRING));
    normalizer_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    const char *action, *locale;
    int64_t sensitive;
    if ((st = op_attr_string(ctx, "case_change_action", "NONE", &action)) ||
        (st = op_attr_int(ctx, "is_case_sensitive", 0, &sensitive)) ||
        (st = op_attr_string(ctx, "locale", "en_US", &locale)) ||
        (st = op_attr_strings(ctx, "stopwords", &p->stopwords, &p->n_stopwords)))
        return st;
    if (!strcmp(action, "LOWER"))
        p->action = CASE_LOWER;
    else if (!strcmp(action, "UPPER"))
        p->action = CASE_UPPER;
    else if (strcmp(action, "NONE"))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "attribute 'case_change_action' is '%s'; expected LOWER, UPPER or NONE", action);
    /* Turkish, Azerbaijani and Lithuanian map i and I otherwise: onyx's mapping is the
     * locale-independent one (see map_case). */
    static const char *const special[] = {"tr", "az", "lt"};
    for (size_t k = 0; k < sizeof special / sizeof *special; k++)
        if (!strncmp(locale, special[k], 2) && (locale[2] == '\0' || locale[2] == '_' || locale[2] == '-'))
            return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "locale '%s': onyx maps cases as en_US does, not by "
                            "that locale's rules", locale);
    if (p->n_stopwords < 0)
        p->n_stopwords = 0;
    p->case_sensitive = sensitive != 0;
    for (int64_t k = 0; k < p->n_stopwords && !p->case_sensitive; k++)
        if (!strings_utf8_valid(p->stopwords[k], strlen(p->stopwords[k])))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "stopword %lld is not valid UTF-8, which matching "
                            "without case needs", (long long)k);
    ctx->outputs[0]->dtype = ONYX_DTYPE_STRING;
    ctx->params = p;
    return ONYX_OK;
}

static bool is_stopword(const normalizer_params *p, const char *s, size_t n)
{
    for (int64_t k = 0; k < p->n_stopwords; k++) {
        size_t len = strlen(p->stopwords[k]);
        bool same = p->case_sensitive ? len == n && !memcmp(s, p->stopwords[k], n)
                                      : equal_folded(s, n, p->stopwords[k], len);
        if (same)
            return true;
    }
    return false;
}

static onyx_status normalizer_reshape(op_context *ctx)
{
    const normalizer_params *p = ctx->params;
    const onyx_tensor *x = ctx->inputs[0];
    onyx_tensor *y = ctx->outputs[0];
    if (x->rank < 0)
        return ONYX_OK;
    if (x->rank != 1 && !(x->rank == 2 && (x->dims[0] == 1 || !dim_known(x->dims[0]))))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input of rank %d: expected [C] or [1, C]", x->rank);
    tensor_set_shape(y, x->rank, x->dims);
    y->dims[x->rank - 1] = DIM_UNKNOWN;
    if (!have_data(ctx, x))
        return ONYX_OK;
    int64_t n = tensor_count(x), kept = 0, chars = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t len;
        const char *s = op_string_at(x, i, &len);
        if ((p->action != CASE_NONE || (!p->case_sensitive && p->n_stopwords)) && !strings_utf8_valid(s, len))
            return op_error(ctx, ONYX_ERROR_RUNTIME, "element %lld of input '%s' is not valid UTF-8",
                            (long long)i,
                            op_input_name(ctx, 0));
        if (!is_stopword(p, s, len)) {
            kept++;
            chars += (int64_t)len;
        }
    }
    /* Everything removed: one empty string, as ONNX specifies. */
    y->dims[x->rank - 1] = kept ? kept : 1;
    return op_string_size(ctx, 0, chars);
}

static onyx_status normalizer_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const normalizer_params *p = ctx->params;
    const onyx_tensor *x = ctx->inputs[0];
    onyx_tensor *y = ctx->outputs[0];
    op_string_writer w;
    op_string_begin(&w, y);
    int64_t n = tensor_count(x);
    for (int64_t i = 0; i < n; i++) {
        size_t len;
        const char *s = op_string_at(x, i, &len);
        if (is_stopword(p, s, len))
            continue;
        int64_t at = w.at;
        op_string_put(&w, s, len);
        if (p->action != CASE_NONE && w.at == at + (int64_t)len + 1) /* mapped in place in the block */
            change_case(w.base + at, s, len, p->action == CASE_UPPER);
    }
    if (w.next == 0)
        op_string_put(&w, NULL, 0);
    return ONYX_OK;
}

const op_descriptor op_StringNormalizer = {normalizer_check, normalizer_reshape, normalizer_run, 0};

/* ---- RegexFullMatch ----------------------------------------------------------------------- */
/* ONNX specifies RE2 syntax; onyx matches with POSIX extended regular expressions (<regex.h>),
 * after translating what the two spell differently (translate_re2). Full match is
 * membership of the whole string in the pattern's language, which does not depend on
 * leftmost-first (RE2) versus leftmost-longest (POSIX) matching, nor on lazy quantifiers.
 * Matching is by bytes in the C locale: '.' and bracket expressions match one byte, not one
 * UTF-8 character. Patterns using what cannot be translated (flags such as (?i), named groups,
 * \p{...} classes, \Q...\E, look-around) are refused at load, naming what. */

#define RE_MAX 4096

static bool emit(char *out, size_t *o, const char *s, const char **why)
{
    size_t len = strlen(s);
    if (*o + len + 4 >= RE_MAX) {
        *why = "the pattern is too long";
        return false;
    }
    memcpy(out + *o, s, len);
    *o += len;
    return true;
}

/* RE2 -> POSIX ERE into out (RE_MAX bytes), wrapped as ^(...)$; NULL and *why set when the
 * pattern uses something POSIX lacks. */
static const char *translate_re2(const char *re, char *out, const char **why)
{
    size_t o = 0;
    bool in_bracket = false;
    char dash = 0; /* a '-' to put last in the current bracket expression */
#define EMIT(...)                                                                      \
    do {                                                                                       \
        if (!emit(out, &o, __VA_ARGS__, why))                                                  \
            return NULL;                                                                       \
    } while (0)
    EMIT("^(");
    for (size_t i = 0; re[i]; i++) {
        char c = re[i];
        if (in_bracket) {
            if (c == ']' && !(re[i - 1] == '[' || (re[i - 1] == '^' && re[i - 2] == '['))) {
                if (dash)
                    EMIT("-");
                dash = 0;
                in_bracket = false;
                EMIT("]");
                continue;
            }
            if (c == '[' && re[i + 1] == ':') { /* [:alpha:] and the like: POSIX too */
                const char *close = strstr(re + i + 2, ":]");
                if (!close) {
                    *why = "an unterminated character class";
                    return NULL;
                }
                char piece[64];
                size_t len = (size_t)(close + 2 - (re + i));
                if (len >= sizeof piece) {
                    *why = "an unknown character class";
                    return NULL;
                }
                memcpy(piece, re + i, len);
                piece[len] = '\0';
                EMIT(piece);
                i += len - 1;
                continue;
            }
            if (c == '\\') {
                char e = re[++i];
                switch (e) {
                case 'w': EMIT("[:alnum:]_"); break;
                case 'd': EMIT("[:digit:]"); break;
                case 's': EMIT("[:space:]"); break;
                case '-': dash = '-'; break;
                case ']': *why = "an escaped ']' in a bracket expression"; return NULL;
                case '\\': EMIT("\\"); break;
                case 'n': EMIT("\n"); break;
                case 't': EMIT("\t"); break;
                case '\0': *why = "a trailing backslash"; return NULL;
                default:
                    if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) {
                        *why = "an escape POSIX lacks in a bracket expression (\\W, \\D, \\S, \\p, ...)";
                        return NULL;
                    }
                    EMIT((char[2]){e, 0}); /* an escaped punctuation mark is itself */
                }
                continue;
            }
            if (c == '-' && re[i + 1] != ']' && re[i - 1] != '[') {
                EMIT("-"); /* a range */
                continue;
            }
            if (c == '-') {
                dash = '-';
                continue;
            }
            EMIT((char[2]){c, 0});
            continue;
        }
        switch (c) {
        case '[':
            in_bracket = true;
            EMIT("[");
            if (re[i + 1] == '^') {
                EMIT("^");
                i++;
            }
            if (re[i + 1] == ']') {
                EMIT("]");
                i++;
            }
            continue;
        case '(':
            if (re[i + 1] == '?') {
                if (re[i + 2] == ':') {
                    EMIT("(");
                    i += 2;
                    continue;
                }
                *why = "a group with flags, a name or look-around ((?...))";
                return NULL;
            }
            EMIT("(");
            continue;
        case '*': case '+': case '?': case '}':
            EMIT((char[2]){c, 0});
            if (re[i + 1] == '?') /* lazy: the same language, so the same full match */
                i++;
            if (re[i + 1] == '+') {
                *why = "a possessive quantifier";
                return NULL;
            }
            continue;
        case '\\': {
            char e = re[++i];
            switch (e) {
            case 'w': EMIT("[[:alnum:]_]"); break;
            case 'W': EMIT("[^[:alnum:]_]"); break;
            case 'd': EMIT("[[:digit:]]"); break;
            case 'D': EMIT("[^[:digit:]]"); break;
            case 's': EMIT("[[:space:]]"); break;
            case 'S': EMIT("[^[:space:]]"); break;
            case 'A': EMIT("^"); break;
            case 'z': EMIT("$"); break;
            case 'n': EMIT("\n"); break;
            case 't': EMIT("\t"); break;
#ifdef __GLIBC__
            case 'b': EMIT("\\b"); break; /* a GNU extension of regcomp */
            case 'B': EMIT("\\B"); break;
#endif
            case '\0': *why = "a trailing backslash"; return NULL;
            default:
                if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) {
                    *why = "an escape POSIX regular expressions lack (\\p, \\Q, \\C, a back-reference, ...)";
                    return NULL;
                }
                EMIT(((char[3]){'\\', e, 0}));
            }
            continue;
        }
        case '.': /* RE2's '.' does not match a newline (without the s flag); POSIX's does */
            EMIT("[^\n]");
            continue;
        default:
            EMIT((char[2]){c, 0});
        }
    }
    if (in_bracket) {
        *why = "an unterminated bracket expression";
        return NULL;
    }
    EMIT(")$");
    out[o] = '\0';
    return out;
#undef EMIT
}

typedef struct regex_params {
    char ere[RE_MAX];
} regex_params;

static onyx_status regex_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT(STRING));
    if (!st)
        st = op_attr_require(ctx, "pattern");
    regex_params *p = st ? NULL : op_alloc_params(ctx, sizeof *p);
    if (st || !p)
        return st ? st : ONYX_ERROR_OUT_OF_MEMORY;
    const char *pattern, *why = NULL;
    if ((st = op_attr_string(ctx, "pattern", "", &pattern)))
        return st;
    if (!translate_re2(pattern, p->ere, &why))
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "pattern '%s': %s (onyx matches with POSIX extended "
                        "regular expressions)", pattern, why);
    /* Compiled once here to refuse what regcomp cannot honour, and freed: regex_t holds
     * memory of its own that params (freed as a block) could not release. */
    regex_t re;
    int err = regcomp(&re, p->ere, REG_EXTENDED | REG_NOSUB);
    if (err) {
        char msg[200];
        regerror(err, &re, msg, sizeof msg);
        return op_error(ctx, ONYX_ERROR_UNSUPPORTED, "pattern '%s' is not one onyx can match: %s", pattern,
                        msg);
    }
    regfree(&re);
    ctx->outputs[0]->dtype = ONYX_DTYPE_BOOL;
    ctx->params = p;
    return ONYX_OK;
}

/* Matches in reshape (which sees the data), into state: the regex is compiled and freed
 * there, so nothing leaks whatever happens between reshape and run. */
static onyx_status regex_reshape(op_context *ctx)
{
    const regex_params *p = ctx->params;
    const onyx_tensor *x = ctx->inputs[0];
    onyx_tensor *y = ctx->outputs[0];
    if (x->rank < 0)
        return ONYX_OK;
    tensor_set_shape(y, x->rank, x->dims);
    if (!have_data(ctx, x))
        return ONYX_OK;
    int64_t n = tensor_count(x);
    uint8_t *result = op_alloc_state(ctx, (size_t)n + 1);
    if (!result)
        return ONYX_ERROR_LIMIT;
    regex_t re;
    if (regcomp(&re, p->ere, REG_EXTENDED | REG_NOSUB))
        return op_error(ctx, ONYX_ERROR_RUNTIME, "the pattern cannot be compiled");
    for (int64_t i = 0; i < n; i++) {
        size_t len;
        const char *s = op_string_at(x, i, &len);
#ifdef REG_STARTEND
        regmatch_t m = {.rm_so = 0, .rm_eo = (regoff_t)len};
        result[i] = regexec(&re, s, 1, &m, REG_STARTEND) == 0;
#else
        result[i] = strlen(s) == len && regexec(&re, s, 0, NULL, 0) == 0;
#endif
    }
    regfree(&re);
    ctx->state = result;
    return ONYX_OK;
}

static onyx_status regex_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    size_t n = (size_t)tensor_count(ctx->outputs[0]);
    if (n)
        memcpy(ctx->outputs[0]->data, ctx->state, n);
    return ONYX_OK;
}

const op_descriptor op_RegexFullMatch = {regex_check, regex_reshape, regex_run, 0};
