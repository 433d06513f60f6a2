/* Helpers shared by the operators on string tensors (ops/string_ops.c, label_encoder.c,
 * tfidf.c, Equal in logic.c): broadcasting indices and UTF-8. The block layout is in op.h. */
#ifndef ONYX_STRING_TENSOR_H
#define ONYX_STRING_TENSOR_H

#include "op.h"

/* The flat index into `in` of output element i, `in` broadcast (numpy rules) to out's shape. */
static inline int64_t strings_broadcast_index(const onyx_tensor *out, const onyx_tensor *in, int64_t i)
{
    int64_t index = 0, stride = 1;
    for (int d = out->rank - 1; d >= 0; d--) {
        int64_t pos = i % out->dims[d];
        i /= out->dims[d];
        int k = d - (out->rank - in->rank);
        if (k < 0)
            break;
        if (in->dims[k] != 1)
            index += pos * stride;
        stride *= in->dims[k];
    }
    return index;
}

/* Whether s[0..n) is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
static inline bool strings_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
                   : (c & 0xf8) == 0xf0                ? 4
                                                       : 0;
        if (!len || len > n - i)
            return false;
        uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

#endif
