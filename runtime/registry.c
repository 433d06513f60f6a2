/* The registry: every operator schema version onyx implements (or refuses by name), from
 * ops/ops.def. It lives in the runtime, which may see the operators; the operators never see
 * the runtime. */
#include "ir.h"
#include "op.h"

#include <string.h>

#define OP(domain, op_type, since, dtypes, name, file) extern const op_descriptor op_##name;
#define UNSUPPORTED(domain, op_type, since, why)
#define DEPRECATED(domain, op_type, since)
#include "ops.def"
#undef OP
#undef UNSUPPORTED
#undef DEPRECATED

static const op_registration registry[] = {
#define OP(domain, op_type, since, dtypes, name, file) {domain, op_type, since, dtypes, &op_##name, file, NULL},
#define UNSUPPORTED(domain, op_type, since, why) {domain, op_type, since, 0, NULL, NULL, why},
#define DEPRECATED(domain, op_type, since) {domain, op_type, since, 0, NULL, NULL, "removed from ONNX"},
#include "ops.def"
#undef OP
#undef UNSUPPORTED
#undef DEPRECATED
};
#define N_ENTRIES (sizeof registry / sizeof registry[0])

int registry_max_opset(const char *domain)
{
    if (!strcmp(domain, "") || !strcmp(domain, "ai.onnx"))
        return ONYX_MAX_OPSET;
    if (!strcmp(domain, "onyx"))
        return 1;
    return -1;
}

const op_registration *registry_find(const char *domain, const char *op_type, int opset)
{
    if (!strcmp(domain, "ai.onnx"))
        domain = "";
    const op_registration *best = NULL;
    for (size_t i = 0; i < N_ENTRIES; i++) {
        const op_registration *r = &registry[i];
        if (r->since <= opset && (!best || r->since > best->since) && !strcmp(r->op_type, op_type) &&
            !strcmp(r->domain, domain))
            best = r;
    }
    return best;
}

/* The last opset entry r covers: one before the op's next since-version, else the newest. */
static int until_of(const op_registration *r)
{
    int until = registry_max_opset(r->domain);
    for (size_t i = 0; i < N_ENTRIES; i++)
        if (registry[i].since > r->since && registry[i].since <= until &&
            !strcmp(registry[i].op_type, r->op_type) && !strcmp(registry[i].domain, r->domain))
            until = registry[i].since - 1;
    return until;
}

const op_registration *registry_entries(size_t *count)
{
    *count = N_ENTRIES;
    return registry;
}

/* The public listing shows the versions onyx implements, not the ones it refuses. */
static const op_registration *implemented_at(size_t index)
{
    for (size_t i = 0; i < N_ENTRIES; i++)
        if (registry[i].op && index-- == 0)
            return &registry[i];
    return NULL;
}

size_t onyx_operator_count(void)
{
    size_t n = 0;
    for (size_t i = 0; i < N_ENTRIES; i++)
        n += registry[i].op != NULL;
    return n;
}

onyx_status onyx_operator_info_at(size_t index, onyx_operator_info *info)
{
    const op_registration *r = info ? implemented_at(index) : NULL;
    if (!r)
        return ONYX_ERROR_INVALID_ARGUMENT;
    *info = (onyx_operator_info){r->domain, r->op_type, r->since, until_of(r), r->dtypes, r->file};
    return ONYX_OK;
}
