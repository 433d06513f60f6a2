/* onyx: run, inspect, test and benchmark ONNX models. */
#include "cli.h"

#include <string.h>

static const char usage[] =
    "usage: onyx COMMAND [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  run MODEL     run a model on given or generated inputs and print its outputs\n"
    "  info MODEL    show a model's producer, opsets, inputs, outputs and operators,\n"
    "                unsupported operators first\n"
    "  test DIR...   run directories in the ONNX test-data layout and compare outputs\n"
    "  bench MODEL   time repeated runs of a model\n"
    "  generate MODEL  greedy decoding with a decoder exported with its KV cache\n"
    "  ops           list the operators onyx implements (opset ranges, dtypes)\n"
    "\n"
    "  onyx COMMAND --help   options of a command\n"
    "  onyx --version        the library version\n"
    "\n"
    "Exit status: 0 on success, 1 when a model fails to load or run, has nodes onyx does not\n"
    "support (info) or a test fails, 2 for a bad command line.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("onyx %s\n", onyx_version_string());
        return EXIT_OK;
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "info"))
        return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "test"))
        return cmd_test(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench"))
        return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "generate"))
        return cmd_generate(argc - 1, argv + 1);
    if (!strcmp(cmd, "ops"))
        return cmd_ops(argc - 1, argv + 1);
    cli_error("unknown command '%s' (see onyx --help)", cmd);
    return EXIT_USAGE;
}
