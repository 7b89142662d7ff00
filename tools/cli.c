/* cli.c: option-value parsing and small helpers shared by the subcommands. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

bool cli_parse_int(const char *cmd, const char *name, const char *value, long long min, long long max, int32_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "celer %s: %s expects an integer in [%lld, %lld], got '%s'\n", cmd, name, min, max, value);
        return false;
    }
    *out = (int32_t)v;
    return true;
}

bool cli_parse_u64(const char *cmd, const char *name, const char *value, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (errno || end == value || *end != '\0' || value[0] == '-') {
        fprintf(stderr, "celer %s: %s expects a non-negative integer, got '%s'\n", cmd, name, value);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_float(const char *cmd, const char *name, const char *value, double min, double max, float *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end != '\0' || !isfinite(v) || v < min || v > max) {
        fprintf(stderr, "celer %s: %s expects a number in [%g, %g], got '%s'\n", cmd, name, min, max, value);
        return false;
    }
    *out = (float)v;
    return true;
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "celer %s: option %s needs a value\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

char *cli_read_file(const char *cmd, const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "celer %s: cannot open '%s': %s\n", cmd, path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *bigger = realloc(buf, 2 * cap + 1);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    bool failed = ferror(f) != 0;
    fclose(f);
    if (!buf || failed) {
        fprintf(stderr, "celer %s: cannot read '%s'\n", cmd, path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

const char *cli_model_path(const char *given) {
    if (given) return given;
    const char *env = getenv("CELER_MODEL");
    return env && *env ? env : CELER_DEFAULT_MODEL;
}

double cli_peak_rss_mib(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}
