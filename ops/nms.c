/* NonMaxSuppression (opsets 10 and 11). For each image and class, the boxes are taken in
 * decreasing order of score (the lower index first among equal scores) and each is kept
 * unless its IoU with a box kept before it is above iou_threshold, until
 * max_output_boxes_per_class are kept. With a score_threshold, only boxes scoring above it are
 * candidates. The output lists the [image, class, box] of the kept boxes, by image, class and
 * order of selection.
 *
 * How many boxes are kept depends on every value, so reshape selects them once the inputs
 * are known (ONYX_DEFER until then) and keeps the list in its state; run copies it out.
 *
 * As the ONNX reference and onnxruntime: the corners of a box may come in either order;
 * boxes that do not overlap or have no area never
 * suppress each other; IoU is computed in float; an empty optional input counts as absent
 * and a negative max_output_boxes_per_class keeps nothing. NaN scores are never candidates,
 * so that the order is total. */
#include "op.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { BOXES, SCORES, MAX_OUTPUT, IOU_THRESHOLD, SCORE_THRESHOLD };

typedef struct nms_params {
    bool center_point_box; /* boxes are [x_center, y_center, width, height], else corners */
} nms_params;

typedef struct nms_state {
    int64_t count;      /* boxes kept */
    int64_t selected[]; /* count x [image, class, box] */
} nms_state;

static onyx_status nms_check(op_context *ctx)
{
    onyx_status st = op_check_arity(ctx, 2, 5, 1, 1);
    for (int i = BOXES; i <= SCORE_THRESHOLD && !st; i++)
        st = op_check_input(ctx, i, i <= SCORES, i == MAX_OUTPUT ? DT(INT64) : DT(FLOAT));
    if (st)
        return st;
    nms_params *p = op_alloc_params(ctx, sizeof *p);
    if (!p)
        return ONYX_ERROR_OUT_OF_MEMORY;
    int64_t center;
    if ((st = op_attr_int(ctx, "center_point_box", 0, &center)))
        return st;
    if (center != 0 && center != 1)
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "attribute 'center_point_box' is %lld, not 0 or 1",
                        (long long)center);
    p->center_point_box = center;
    ctx->params = p;
    op_set_output_dtypes(ctx, ONYX_DTYPE_INT64);
    return ONYX_OK;
}

/* ---- boxes ------------------------------------------------------------------------------- */

typedef struct box {
    float x_min, x_max, y_min, y_max;
} box;

static box box_at(const float *b, bool center)
{
    if (center)
        return (box){b[0] - b[2] / 2, b[0] + b[2] / 2, b[1] - b[3] / 2, b[1] + b[3] / 2};
    return (box){fminf(b[1], b[3]), fmaxf(b[1], b[3]), fminf(b[0], b[2]), fmaxf(b[0], b[2])};
}

/* Whether kept box a suppresses b: IoU above the threshold. Comparisons are written so that
 * NaN coordinates suppress nothing. */
static bool suppresses(box a, box b, float threshold)
{
    float width = fminf(a.x_max, b.x_max) - fmaxf(a.x_min, b.x_min);
    float height = fminf(a.y_max, b.y_max) - fmaxf(a.y_min, b.y_min);
    if (!(width > 0 && height > 0))
        return false;
    float intersection = width * height;
    float area_a = (a.x_max - a.x_min) * (a.y_max - a.y_min), area_b = (b.x_max - b.x_min) * (b.y_max - b.y_min);
    float union_area = area_a + area_b - intersection;
    if (!(area_a > 0 && area_b > 0 && union_area > 0))
        return false;
    return intersection / union_area > threshold;
}

typedef struct candidate {
    float score;
    int64_t index;
} candidate;

/* Higher scores first, then lower indices: a total order (no NaN), so qsort is exact. */
static int by_score(const void *a_, const void *b_)
{
    const candidate *a = a_, *b = b_;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* ---- selection --------------------------------------------------------------------------- */

/* The selection's settings from the optional inputs (all known). */
typedef struct nms_limits {
    int64_t max_per_class;
    float iou_threshold, score_threshold;
    bool has_score_threshold;
} nms_limits;

/* Input i when present and not empty, else NULL. */
static const onyx_tensor *optional_value(const op_context *ctx, int i)
{
    const onyx_tensor *t = op_input(ctx, i);
    return t && tensor_count(t) > 0 ? t : NULL;
}

static onyx_status read_limits(const op_context *ctx, nms_limits *l)
{
    const onyx_tensor *max = optional_value(ctx, MAX_OUTPUT), *iou = optional_value(ctx, IOU_THRESHOLD),
                      *score = optional_value(ctx, SCORE_THRESHOLD);
    l->max_per_class = max ? OP_MAX(*(const int64_t *)max->data, 0) : 0;
    l->iou_threshold = iou ? *(const float *)iou->data : 0;
    l->has_score_threshold = score != NULL;
    l->score_threshold = score ? *(const float *)score->data : 0;
    if (!(l->iou_threshold >= 0 && l->iou_threshold <= 1))
        return op_error(ctx, ONYX_ERROR_RUNTIME, "iou_threshold %g is outside [0, 1]", l->iou_threshold);
    return ONYX_OK;
}

/* Selects the boxes of class `cls` of image `image`, appending [image, class, box] triples to
 * out. candidates and kept have room for every box. Returns the count appended. */
static int64_t select_class(const op_context *ctx, const nms_limits *l, int64_t image, int64_t cls,
                            candidate *candidates, box *kept, int64_t *out)
{
    const nms_params *p = ctx->params;
    const onyx_tensor *boxes = ctx->inputs[BOXES], *scores = ctx->inputs[SCORES];
    int64_t n = boxes->dims[1], classes = scores->dims[1], count = 0, n_kept = 0;
    const float *s = (const float *)scores->data + (image * classes + cls) * n;
    const float *b = (const float *)boxes->data + image * n * 4;
    for (int64_t i = 0; i < n; i++)
        if (s[i] == s[i] && (!l->has_score_threshold || s[i] > l->score_threshold))
            candidates[count++] = (candidate){s[i], i};
    qsort(candidates, (size_t)count, sizeof *candidates, by_score);
    for (int64_t c = 0; c < count && n_kept < l->max_per_class; c++) {
        box next = box_at(b + candidates[c].index * 4, p->center_point_box);
        bool suppressed = false;
        for (int64_t k = 0; k < n_kept && !suppressed; k++)
            suppressed = suppresses(kept[k], next, l->iou_threshold);
        if (suppressed)
            continue;
        kept[n_kept] = next;
        memcpy(out + n_kept * 3, (int64_t[]){image, cls, candidates[c].index}, 3 * sizeof(int64_t));
        n_kept++;
    }
    return n_kept;
}

/* Runs the selection over every image and class into a new state. */
static onyx_status nms_select(op_context *ctx)
{
    nms_limits l;
    onyx_status st = read_limits(ctx, &l);
    if (st)
        return st;
    const onyx_tensor *scores = op_input(ctx, SCORES);
    int64_t images = scores->dims[0], classes = scores->dims[1], n = scores->dims[2];
    int64_t most = images * classes * OP_MIN(l.max_per_class, n); /* <= the elements of scores */
    /* One box more than needed: never an allocation of 0 bytes. */
    candidate *candidates = op_alloc_temp(ctx, (size_t)(n + 1) * sizeof *candidates);
    box *kept = op_alloc_temp(ctx, (size_t)(n + 1) * sizeof *kept);
    int64_t *selected = op_alloc_temp(ctx, (size_t)(most + 1) * 3 * sizeof *selected);
    nms_state *s = NULL;
    if (candidates && kept && selected) {
        int64_t count = 0;
        for (int64_t image = 0; image < images; image++)
            for (int64_t cls = 0; cls < classes; cls++)
                count += select_class(ctx, &l, image, cls, candidates, kept, selected + count * 3);
        if ((s = op_alloc_state(ctx, sizeof *s + (size_t)count * 3 * sizeof(int64_t)))) {
            s->count = count;
            memcpy(s->selected, selected, (size_t)count * 3 * sizeof(int64_t));
        }
    }
    op_free_temp(ctx, candidates);
    op_free_temp(ctx, kept);
    op_free_temp(ctx, selected);
    if (!s)
        return ONYX_ERROR_OUT_OF_MEMORY;
    ctx->state = s;
    return ONYX_OK;
}

static onyx_status nms_reshape(op_context *ctx)
{
    const onyx_tensor *boxes = op_input(ctx, BOXES), *scores = op_input(ctx, SCORES);
    char sb[128], ss[128];
    if (boxes->rank != 3 || scores->rank != 3 || !dim_may_equal(boxes->dims[2], 4) ||
        !dim_may_equal(boxes->dims[0], scores->dims[0]) || !dim_may_equal(boxes->dims[1], scores->dims[2]))
        return op_error(ctx, ONYX_ERROR_INVALID_MODEL,
                        "boxes %s must be (batches, boxes, 4) and scores %s (batches, classes, boxes)",
                        shape_str(boxes, sb, sizeof sb), shape_str(scores, ss, sizeof ss));
    for (int i = MAX_OUTPUT; i <= SCORE_THRESHOLD; i++) {
        const onyx_tensor *t = op_input(ctx, i);
        if (t && (t->rank > 1 || (t->rank == 1 && dim_known(t->dims[0]) && t->dims[0] > 1)))
            return op_error(ctx, ONYX_ERROR_INVALID_MODEL, "input '%s' %s must be a scalar", op_input_name(ctx, i),
                            shape_str(t, sb, sizeof sb));
    }
    onyx_tensor *y = op_output(ctx, 0);
    tensor_set_shape(y, 2, (int64_t[]){DIM_UNKNOWN, 3});
    if (!ctx->concrete)
        return ONYX_OK;
    for (int i = BOXES; i <= SCORE_THRESHOLD; i++)
        if (op_input(ctx, i) && !op_input(ctx, i)->data)
            return ONYX_DEFER;
    onyx_status st = nms_select(ctx);
    if (st)
        return st;
    const nms_state *s = ctx->state;
    y->dims[0] = s->count;
    ctx->task_cost = s->count * 3;
    return ONYX_OK;
}

static onyx_status nms_run(const op_context *ctx, int64_t begin, int64_t end, void *scratch)
{
    (void)begin, (void)end, (void)scratch;
    const nms_state *s = ctx->state;
    if (s->count)
        memcpy(ctx->outputs[0]->data, s->selected, (size_t)s->count * 3 * sizeof(int64_t));
    return ONYX_OK;
}

const op_descriptor op_NonMaxSuppression = {nms_check, nms_reshape, nms_run, 0};
