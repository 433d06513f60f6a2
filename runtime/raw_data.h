/* The initializers' raw_data inside serialized model bytes, for loading without copying it.
 *
 * protobuf-c copies every bytes field it parses, so parsing a model would duplicate its
 * weights. raw_data_split walks the protobuf wire format along
 * ModelProto.graph (7) -> GraphProto.initializer (5) -> TensorProto.raw_data (9), records where
 * each initializer's raw_data lies in the caller's bytes, and writes the model without those
 * payloads (its "skeleton": the graph's structure, usually kilobytes) for protobuf-c to parse.
 * The importer then takes each initializer's data from its span: referencing it in place
 * (a borrowed load) or copying it once. */
#ifndef ONYX_RAW_DATA_H
#define ONYX_RAW_DATA_H

#include "ir.h"

typedef struct raw_data_span {
    const uint8_t *data; /* NULL when the initializer has no raw_data field */
    size_t size;
} raw_data_span;

typedef struct raw_data_split {
    uint8_t *skeleton; /* the model without the initializers' raw_data */
    size_t skeleton_size;
    raw_data_span *spans; /* one per initializer of the main graph, in the skeleton's order */
    int n_spans;
} raw_data_split;

/* Splits `size` bytes at `data` (which must outlive the split). Returns false, with nothing
 * to free, when there is nothing to gain or the bytes take a shape this walk leaves to
 * protobuf-c (malformed, a graph field given twice, groups, out of memory): parse the bytes
 * as they are then. */
bool raw_data_split_model(mem *m, const uint8_t *data, size_t size, raw_data_split *out);
void raw_data_split_free(mem *m, raw_data_split *split);

#endif
