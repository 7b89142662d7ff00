/* cli.h: shared pieces of the `celer` command's subcommands: option parsing helpers
 * that turn a bad value into a one-line error, and the subcommand entry points. */
#ifndef CELER_TOOLS_CLI_H
#define CELER_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "celer.h"

#define CELER_DEFAULT_MODEL "models/SmolLM2-135M-Instruct.Q4_1.gguf"

int cmd_run(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_ppl(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_quantize(int argc, char **argv);

/* celer ppl --kl-save / --kl-base (ppl_kld.c); each returns a process exit code. */
int ppl_kld_save(celer_context *ctx, const char *path, const int32_t *tokens, size_t n_tokens, int32_t n_ctx, int32_t n_chunks);
int ppl_kld_peek(const char *path, int32_t *n_ctx);
int ppl_kld_compare(celer_context *ctx, const char *path, int32_t n_chunks);
int cmd_serve(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_gpu_info(int argc, char **argv);

/* Each parses value for option name; on failure prints "celer <cmd>: ..." and returns false. */
bool cli_parse_int(const char *cmd, const char *name, const char *value, long long min, long long max, int32_t *out);
bool cli_parse_u64(const char *cmd, const char *name, const char *value, uint64_t *out);
bool cli_parse_float(const char *cmd, const char *name, const char *value, double min, double max, float *out);
/* The value after argv[*i] for option argv[*i]; NULL (with an error printed) if missing. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);
/* Reads a whole file into a NUL-terminated malloc'd buffer; NULL with an error printed. */
char *cli_read_file(const char *cmd, const char *path, size_t *len);
/* The model path: -m, else $CELER_MODEL, else the default download location. */
const char *cli_model_path(const char *given);
/* Peak resident set size in MiB. */
double cli_peak_rss_mib(void);

#endif
