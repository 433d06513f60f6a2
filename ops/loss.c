/* NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss over an input (N, C, d1..dk) and
 * class labels (N, d1..dk). NLL: loss = -input[n, label, d] * weight[label]; SCE: the same on
 * log_prob = LogSoftmax(scores) along C (the shared row kernel), which is also its optional
 * second output. A label equal to ignore_index gives a loss and a weight of 0; any other label
 * outside [0, C) is an error at run time. reduction: 'none' keeps the (N, d1..dk) losses,
 * 'sum' adds them, 'mean' (default) divides that sum by the sum of the weights used (the count
 * of labels not ignored, without weights): NaN when every label is ignored, as in PyTorch.
 * Sums are taken in double. */
#include "dtype_io.h"
#include "softmax.h"

#include <string.h>

typedef enum loss_reduction { REDUCE_NONE, REDUCE_SUM, REDUCE_MEAN } loss_reduction;

typedef struct loss_params {
    axis_map_fn log_softmax; /* SCE; NULL for NLL (the input is log_prob already) */
    loss_reduction reduction;
    bool has_ignore_index;
    int64_t ignore_index;
} loss_params;

typedef struct loss_state {
    int64_t n, classes, inner; /* input (N, C, d1..dk): inner is d1 * ... * dk */
} loss_state;

static onyx_status loss_check(op_context *ctx, bool softmax)
{
    onyx_status st = op_check_arity(ctx, 2, 3, 1, softmax ? 2 : 1);
    if (!st)
        st = op_check_input(ctx, 0, true, DT_FLOAT_IO);
    if (!st)
        st = op_check_input(ctx, 1, true, DT(INT32) | DT(INT64));
    if (!st)
        st = op_check_input(ctx, 2, false, DT_FLOAT_IO);
    if (!st)
        st = op_check_same_dtype(ctx, 0, 2);
    if (st)
        return st;
    loss_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    const char *reduction;
    if ((st = op_attr_string(ctx, "reduction", "mean", &reduction)) ||
        (st = op_attr_int(ctx, "ignore_index", 0, &p->ignore_index)))
        return st;
    if (!strcmp(reduction, "none"))
        p->reduction = REDUCE_NONE;
    else if (!strcmp(reduction, "sum"))
        p->reduction = REDUCE_SUM;
    else if (!strcmp(reduction, "mean"))
        p->reduction = REDUCE_MEAN;
    else
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "reduction '%s' is not none, sum or mean", reduction);
    p->has_ignore_index = op_has_attr(ctx, "ignore_index");
    onyx_dtype dtype = op_input(ctx, 0)->dtype;
    p->log_softmax = softmax ? softmax_row_kernel(LOG_SOFTMAX, dtype) : NULL;
    ctx->params = p;
    op_set_output_dtypes(ctx, dtype);
    return ONYX_OK;
}

static onyx_status loss_reshape(op_context *ctx)
{
    const loss_params *p = ctx->params;
    const onyx_tensor *x = op_input(ctx, 0), *labels = op_input(ctx, 1), *weight = op_input(ctx, 2);
    char a[128], b[128];
    if (x->rank < 2)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' %s must have at least 2 dims (N, C)",
                        op_input_name(ctx, 0), shape_str(x, a, sizeof a));
    bool labels_fit = labels->rank == x->rank - 1 && dim_may_equal(labels->dims[0], x->dims[0]);
    for (int i = 1; i < labels->rank && labels_fit; i++)
        labels_fit = dim_may_equal(labels->dims[i], x->dims[i + 1]);
    if (!labels_fit)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "labels '%s' %s do not match input '%s' %s without its C dim",
                        op_input_name(ctx, 1), shape_str(labels, a, sizeof a), op_input_name(ctx, 0),
                        shape_str(x, b, sizeof b));
    if (weight && (weight->rank != 1 || !dim_may_equal(weight->dims[0], x->dims[1])))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "weight '%s' %s must be 1-D of the C dim of input %s",
                        op_input_name(ctx, 2), shape_str(weight, a, sizeof a), shape_str(x, b, sizeof b));
    if (p->reduction == REDUCE_NONE)
        tensor_set_shape(op_output(ctx, 0), labels->rank, labels->dims);
    else
        tensor_set_shape(op_output(ctx, 0), 0, NULL);
    if (op_output(ctx, 1))
        tensor_set_shape(op_output(ctx, 1), x->rank, x->dims);
    if (!ctx->concrete)
        return ONYX_OK;
    loss_state *s = op_alloc_state(ctx, sizeof *s);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    s->n = x->dims[0];
    s->classes = x->dims[1];
    s->inner = shape_count(x->dims + 2, x->rank - 2);
    ctx->state = s;
    /* Unreduced losses are written sample by sample; a sum is taken by one task, in order. */
    ctx->n_tasks = p->reduction == REDUCE_NONE ? s->n : 1;
    ctx->task_cost = s->classes * s->inner * (p->log_softmax ? 16 : 1);
    /* SCE without its log_prob output works on one sample's log_prob at a time. */
    if (p->log_softmax && !op_output(ctx, 1))
        ctx->scratch_bytes = (size_t)(s->classes * s->inner) * onyx_dtype_size(x->dtype);
    return ONYX_OK;
}

static onyx_status loss_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    const loss_params *p = ctx->params;
    const loss_state *s = ctx->state;
    const onyx_tensor *x = ctx->inputs[0], *labels = ctx->inputs[1], *weight = op_input(ctx, 2);
    onyx_tensor *loss = ctx->outputs[0], *log_prob = op_output(ctx, 1);
    onyx_dtype dtype = x->dtype;
    size_t elem = onyx_dtype_size(dtype), sample_elems = (size_t)(s->classes * s->inner);
    double loss_sum = 0, weight_sum = 0;
    bool reduced = p->reduction != REDUCE_NONE;
    if (reduced) { /* the one task covers every sample */
        begin = 0;
        end = s->n;
    }
    for (int64_t n = begin; n < end; n++) {
        const char *sample = (const char *)x->data + (size_t)n * sample_elems * elem;
        if (p->log_softmax) {
            char *out = log_prob ? (char *)log_prob->data + (size_t)n * sample_elems * elem : scratch;
            for (int64_t i = 0; i < s->inner; i++)
                p->log_softmax(sample + (size_t)i * elem, out + (size_t)i * elem, s->classes, s->inner, 0);
            sample = out;
        }
        for (int64_t i = 0; i < s->inner; i++) {
            int64_t at = n * s->inner + i, label = tensor_int_at(labels, at);
            double l = 0, w = 0;
            if (!p->has_ignore_index || label != p->ignore_index) {
                if (label < 0 || label >= s->classes)
                    return op_error(ctx, ONYX_ERROR_RUNTIME, "label %lld at %lld is outside [0, %lld)", (long long)label,
                                    (long long)at, (long long)s->classes);
                w = weight ? float_io_load(dtype, weight->data, label) : 1;
                l = -float_io_load(dtype, sample, label * s->inner + i) * w;
            }
            if (p->reduction == REDUCE_NONE)
                float_io_store(dtype, loss->data, at, l);
            loss_sum += l;
            weight_sum += w;
        }
    }
    if (reduced)
        float_io_store(dtype, loss->data, 0, p->reduction == REDUCE_SUM ? loss_sum : loss_sum / weight_sum);
    return ONYX_OK;
}

static onyx_status nll_check(op_context *ctx) { return loss_check(ctx, false); }
static onyx_status sce_check(op_context *ctx) { return loss_check(ctx, true); }

const op_descriptor op_NegativeLogLikelihoodLoss = {nll_check, loss_reshape, loss_run, 0};
const op_descriptor op_SoftmaxCrossEntropyLoss = {sce_check, loss_reshape, loss_run, 0};
