/* A stable sort of indices by a comparison of the items they name: the order of equal items
 * is their index order, so that the first of a run of equals is the first occurrence. */
#ifndef ONYX_INDEX_SORT_H
#define ONYX_INDEX_SORT_H

#include <stdint.h>

/* < 0, 0, > 0 as item a sorts before, with, after item b. */
typedef int (*index_compare)(const void *context, int64_t a, int64_t b);

/* Sorts order[0..n) (merge sort; O(n log n) comparisons), using tmp[0..n) as scratch. */
void index_sort(int64_t *order, int64_t *tmp, int64_t n, index_compare compare, const void *context);

#endif
