#include "index_sort.h"

#include <string.h>

/* Bottom-up: runs of width 1, 2, 4, ... merged pairwise from one buffer into the other. */
void index_sort(int64_t *order, int64_t *tmp, int64_t n, index_compare compare, const void *context)
{
    int64_t *from = order, *to = tmp;
    for (int64_t width = 1; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n, hi = mid + width < n ? mid + width : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                to[k++] = compare(context, from[j], from[i]) < 0 ? from[j++] : from[i++];
            while (i < mid)
                to[k++] = from[i++];
            while (j < hi)
                to[k++] = from[j++];
        }
        int64_t *swap = from;
        from = to;
        to = swap;
    }
    if (from != order)
        memcpy(order, from, (size_t)n * sizeof *order);
}
