/* celer.c: the `celer` command: dispatches to its subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: celer <command> [options]\n"
            "\n"
            "commands:\n"
            "  run       generate text or chat with a model (streams to stdout)\n"
            "  inspect   print the metadata and tensor table of a GGUF file or Hugging Face directory\n"
            "  ppl       perplexity of a model over a text file (llama-perplexity's method)\n"
            "  bench     prompt and generation speed, memory and bandwidth (llama-bench's tests)\n"
            "  quantize  quantize a model, each tensor's type chosen from measured sensitivity\n"
            "  serve     OpenAI-compatible HTTP server with continuous batching\n"
            "  synth     write a model of a given shape with random weights (for benchmarks)\n"
            "  gpu-info  the CUDA device, its measured copy bandwidth and bf16 matrix rate\n"
            "\n"
            "`celer <command> --help` lists the command's options and their defaults.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0) return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "inspect") == 0) return cmd_inspect(argc - 1, argv + 1);
    if (strcmp(cmd, "ppl") == 0) return cmd_ppl(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0) return cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "quantize") == 0) return cmd_quantize(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0) return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "synth") == 0) return cmd_synth(argc - 1, argv + 1);
    if (strcmp(cmd, "gpu-info") == 0) return cmd_gpu_info(argc - 1, argv + 1);
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "celer: unknown command '%s' (try `celer --help`)\n", cmd);
    return 2;
}
