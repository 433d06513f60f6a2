/* Det: the determinant of each square matrix in the last two dims, by LU decomposition with
 * partial pivoting in double precision, whatever the input's float type. */
#include "scalar.h"

#include <math.h>

typedef struct det_state {
    int64_t n; /* matrix order */
} det_state;

static onyx_status det_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 1, 1, 1, 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_FLOATS | DT(FLOAT16));
    if (!st)
        op_set_output_dtypes(ctx, op_input(ctx, 0)->dtype);
    return st;
}

static onyx_status det_reshape(op_context *ctx)
{
    const onyx_tensor *x = op_input(ctx, 0);
    char sx[128];
    if (x->rank < 2 || !dim_may_equal(x->dims[x->rank - 1], x->dims[x->rank - 2]))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input %s is not a batch of square matrices",
                        shape_str(x, sx, sizeof sx));
    tensor_set_shape(op_output(ctx, 0), x->rank - 2, x->dims);
    if (!ctx->concrete)
        return ONYX_OK;
    det_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->n = x->dims[x->rank - 1];
    ctx->state = s;
    ctx->n_tasks = shape_count(x->dims, x->rank - 2);
    ctx->task_cost = s->n * s->n * s->n;
    ctx->scratch_bytes = (size_t)(s->n * s->n) * sizeof(double);
    return ONYX_OK;
}

/* The determinant of the n x n row-major matrix a, which it overwrites with its U factor:
 * the product of the pivots, negated for each row swap. */
static double lu_determinant(double *a, int64_t n)
{
    double det = 1;
    for (int64_t col = 0; col < n; col++) {
        int64_t pivot = col;
        for (int64_t r = col + 1; r < n; r++)
            if (fabs(a[r * n + col]) > fabs(a[pivot * n + col]))
                pivot = r;
        if (a[pivot * n + col] == 0)
            return 0; /* singular: every candidate pivot is 0 */
        if (pivot != col) {
            for (int64_t c = col; c < n; c++) {
                double t = a[col * n + c];
                a[col * n + c] = a[pivot * n + c];
                a[pivot * n + c] = t;
            }
            det = -det;
        }
        double p = a[col * n + col];
        det *= p;
        for (int64_t r = col + 1; r < n; r++) {
            double factor = a[r * n + col] / p;
            for (int64_t c = col + 1; c < n; c++)
                a[r * n + c] -= factor * a[col * n + c];
        }
    }
    return det;
}

static onyx_status det_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const det_state *s = ctx->state;
    const onyx_tensor *x = ctx->inputs[0];
    onyx_tensor *y = ctx->outputs[0];
    double *a = scratch;
    int64_t size = s->n * s->n;
    for (int64_t t = begin; t < end; t++) {
        for (int64_t i = 0; i < size; i++)
            a[i] = scalar_load(x->data, t * size + i, x->dtype);
        scalar_store(y->data, t, y->dtype, lu_determinant(a, s->n));
    }
    return ONYX_OK;
}

const op_descriptor op_Det = {det_check, det_reshape, det_run, 0};
