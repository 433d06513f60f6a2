/* onyx info: what a model holds, and what onyx lacks to run it (listed first). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char ops_usage[] =
    "usage: onyx ops\n"
    "\n"
    "Lists the operators onyx implements, one line per ONNX schema version: domain, operator,\n"
    "since-version, the last opset at which that schema is in effect, the dtypes of its first\n"
    "input and the file of ops/ that implements it. A node at opset N runs the schema with the\n"
    "newest since-version <= N.\n";

int cmd_ops(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(ops_usage, stdout);
        return EXIT_OK;
    }
    if (argc > 1)
        return cli_error("unexpected argument '%s'", argv[1]), EXIT_USAGE;
    for (size_t i = 0; i < onyx_operator_count(); i++) {
        onyx_operator_info op;
        onyx_operator_info_at(i, &op);
        printf("%s\t%s\t%d\t%d\t", op.domain[0] ? op.domain : "ai.onnx", op.op_type, op.since_version,
               op.until_version);
        bool first = true;
        for (int d = 1; d < 32; d++)
            if (op.dtypes & (1u << d)) {
                printf("%s%s", first ? "" : ",", onyx_dtype_name((onyx_dtype)d));
                first = false;
            }
        printf("%s\t%s\n", first ? "-" : "", op.source);
    }
    return EXIT_OK;
}

static const char info_usage[] =
    "usage: onyx info MODEL [OPTIONS]\n"
    "\n"
    "Prints the nodes onyx cannot run (if any) first, then the producer, IR version, opsets,\n"
    "inputs and outputs with their (symbolic) shapes, and the node count by operator.\n"
    "Exit status 1 when the model cannot be loaded or has unsupported nodes.\n"
    "\n"
    CLI_LIMIT_USAGE;

static void print_value(const onyx_value_info *info)
{
    printf("  %s: %s ", info->name, onyx_dtype_name(info->dtype));
    if (info->rank < 0) {
        printf("(shape unknown)\n");
        return;
    }
    printf("[");
    for (int d = 0; d < info->rank; d++) {
        if (info->dim_names[d])
            printf("%s%s", d ? "," : "", info->dim_names[d]);
        else if (info->dims[d] >= 0)
            printf("%s%lld", d ? "," : "", (long long)info->dims[d]);
        else
            printf("%s?", d ? "," : "");
    }
    printf("]\n");
}

typedef struct op_count {
    const char *domain, *op_type;
    int count;
    bool supported;
} op_count;

static int by_count(const void *a, const void *b)
{
    const op_count *x = a, *y = b;
    return x->count != y->count ? y->count - x->count : strcmp(x->op_type, y->op_type);
}

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    cli_limits limits = {0};
    for (int i = 1; i < argc; i++) {
        int limit;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(info_usage, stdout);
            return EXIT_OK;
        } else if ((limit = cli_limit_option(argc, argv, &i, &limits))) {
            if (limit < 0)
                return EXIT_USAGE;
        } else if (argv[i][0] == '-') {
            return cli_error("unknown option '%s'", argv[i]), EXIT_USAGE;
        } else if (!path) {
            path = argv[i];
        } else {
            return cli_error("unexpected argument '%s'", argv[i]), EXIT_USAGE;
        }
    }
    if (!path) {
        fputs(info_usage, stderr);
        return EXIT_USAGE;
    }
    onyx_options *options = NULL;
    if (onyx_options_create(&options) != ONYX_OK) {
        cli_error("out of memory");
        return EXIT_FAILED;
    }
    cli_apply_limits(options, &limits);
    onyx_model *model = NULL;
    onyx_status st = onyx_model_load_file(path, options, &model);
    onyx_options_free(options);
    if (st != ONYX_OK && st != ONYX_ERROR_UNSUPPORTED) {
        cli_error("%s", onyx_model_errmsg(model));
        onyx_model_free(model);
        return EXIT_FAILED;
    }
    size_t n = onyx_model_node_count(model);
    op_count *counts = calloc(n ? n : 1, sizeof *counts);
    size_t kinds = 0, unsupported = 0;
    for (size_t i = 0; counts && i < n; i++) {
        onyx_node_info node;
        onyx_model_node_info(model, i, &node);
        size_t k = 0;
        while (k < kinds && (strcmp(counts[k].op_type, node.op_type) || strcmp(counts[k].domain, node.domain)))
            k++;
        if (k == kinds)
            counts[kinds++] = (op_count){node.domain, node.op_type, 0, true};
        counts[k].count++;
        if (!node.supported) {
            counts[k].supported = false;
            unsupported++;
        }
    }
    printf("model: %s\n", path);
    if (st == ONYX_ERROR_UNSUPPORTED) {
        printf("NOT RUNNABLE: %s\n", onyx_model_errmsg(model));
    }
    printf("producer: %s %s\n", onyx_model_producer_name(model), onyx_model_producer_version(model));
    printf("ir version: %lld\n", (long long)onyx_model_ir_version(model));
    printf("gemm kernel: %s\n", onyx_gemm_kernel_name());
    printf("opsets:");
    for (size_t i = 0; i < onyx_model_opset_count(model); i++) {
        const char *domain;
        int64_t version;
        onyx_model_opset(model, i, &domain, &version);
        printf(" %s %lld", domain[0] ? domain : "ai.onnx", (long long)version);
    }
    printf("\ninputs:\n");
    for (size_t i = 0; i < onyx_model_input_count(model); i++) {
        onyx_value_info info;
        onyx_model_input_info(model, i, &info);
        print_value(&info);
    }
    printf("outputs:\n");
    for (size_t i = 0; i < onyx_model_output_count(model); i++) {
        onyx_value_info info;
        onyx_model_output_info(model, i, &info);
        print_value(&info);
    }
    if (counts)
        qsort(counts, kinds, sizeof *counts, by_count);
    printf("nodes: %zu (%zu operators)\n", n, kinds);
    for (size_t k = 0; k < kinds; k++)
        printf("  %-24s %5d%s\n", counts[k].op_type, counts[k].count, counts[k].supported ? "" : "  (unsupported)");
    free(counts);
    onyx_model_free(model);
    return st == ONYX_OK ? EXIT_OK : EXIT_FAILED;
}
