/* The registry: every operator version range onyx implements, from ops.def. */
#include "ir.h"
#include "op.h"

#include <string.h>

#define OP(domain, op_type, since, until, dtypes, name) extern const op_descriptor op_##name;
#include "ops.def"
#undef OP

static const op_registration registry[] = {
#define OP(domain, op_type, since, until, dtypes, name) {domain, op_type, since, until, dtypes, &op_##name},
#include "ops.def"
#undef OP
};

const op_registration *registry_find(const char *domain, const char *op_type, int opset)
{
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++) {
        const op_registration *r = &registry[i];
        if (opset >= r->since && opset <= r->until && !strcmp(r->op_type, op_type) && !strcmp(r->domain, domain))
            return r;
    }
    return NULL;
}

const op_registration *registry_entries(size_t *count)
{
    *count = sizeof registry / sizeof registry[0];
    return registry;
}

size_t onyx_operator_count(void) { return sizeof registry / sizeof registry[0]; }

onyx_status onyx_operator_info_at(size_t index, onyx_operator_info *info)
{
    if (!info || index >= sizeof registry / sizeof registry[0])
        return ONYX_ERROR_INVALID_ARGUMENT;
    const op_registration *r = &registry[index];
    *info = (onyx_operator_info){r->domain, r->op_type, r->since, r->until, r->dtypes};
    return ONYX_OK;
}
