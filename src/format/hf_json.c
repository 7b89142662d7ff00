/* hf_json.c: reading a Hugging Face directory's JSON files and typed lookups in them
 * (see hf_internal.h). Tests: tests/test_hf_import.c. */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/hf_internal.h"

celer_status hf_file_read(const char *dir, const char *name, char **out, size_t *len, celer_error *err) {
    *out = NULL;
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "%s: path too long", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* O_NONBLOCK: a FIFO must not hang us */
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0) close(fd);
        if (e == ENOENT) return CELER_OK;
        return celer_error_set(err, CELER_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat sb;
    celer_status st = CELER_OK;
    if (fstat(fileno(f), &sb) != 0) st = celer_error_set(err, CELER_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode)) st = celer_error_set(err, CELER_ERR_IO, "%s: not a regular file", path);
    else if ((uint64_t)sb.st_size > HF_MAX_FILE_BYTES)
        st = celer_error_set(err, CELER_ERR_FORMAT, "%s: %lld bytes is more than the %u-byte limit for a tokenizer or config file", path,
                             (long long)sb.st_size, HF_MAX_FILE_BYTES);
    char *buf = st == CELER_OK ? malloc((size_t)sb.st_size + 1) : NULL;
    if (st == CELER_OK && !buf) st = celer_error_set(err, CELER_ERR_NOMEM, "%s: out of memory for %lld bytes", path, (long long)sb.st_size);
    if (st == CELER_OK && fread(buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size)
        st = celer_error_set(err, CELER_ERR_IO, "%s: read failed", path);
    fclose(f);
    if (st != CELER_OK) {
        free(buf);
        return st;
    }
    buf[sb.st_size] = '\0';
    *out = buf;
    *len = (size_t)sb.st_size;
    return CELER_OK;
}

celer_status hf_json_read(const char *dir, const char *name, bool required, cJSON **out, celer_error *err) {
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    celer_status st = hf_file_read(dir, name, &text, &len, err);
    if (st != CELER_OK) return st;
    if (!text) return required ? celer_error_set(err, CELER_ERR_IO, "%s: %s is missing", dir, name) : CELER_OK;
    if (strlen(text) != len) st = celer_error_set(err, CELER_ERR_FORMAT, "%s/%s: holds a NUL byte at offset %zu", dir, name, strlen(text));
    const char *end = NULL;
    cJSON *root = st == CELER_OK ? cJSON_ParseWithOpts(text, &end, 1) : NULL;
    if (st == CELER_OK && !root)
        st = celer_error_set(err, CELER_ERR_FORMAT, "%s/%s: not valid JSON (error near byte %td)", dir, name,
                             end && end >= text && end <= text + len ? end - text : (ptrdiff_t)0);
    free(text);
    if (st == CELER_OK && !cJSON_IsObject(root)) st = celer_error_set(err, CELER_ERR_FORMAT, "%s/%s: not a JSON object", dir, name);
    if (st != CELER_OK) {
        cJSON_Delete(root);
        return st;
    }
    *out = root;
    return CELER_OK;
}

const cJSON *hf_json_get(const cJSON *obj, const char *key) {
    if (!cJSON_IsObject(obj)) return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

const char *hf_json_str(const cJSON *obj, const char *key) {
    const cJSON *v = hf_json_get(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

celer_status hf_json_int(const cJSON *obj, const char *key, const char *where, int64_t min, int64_t max, int64_t *out, celer_error *err) {
    const cJSON *v = hf_json_get(obj, key);
    if (!v) return CELER_ERR_RANGE;
    if (!cJSON_IsNumber(v)) return celer_error_set(err, CELER_ERR_FORMAT, "%s: '%s' is not a number", where, key);
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max)
        return celer_error_set(err, CELER_ERR_FORMAT, "%s: '%s' = %g is not an integer in [%" PRId64 ", %" PRId64 "]", where, key, d, min, max);
    *out = (int64_t)d;
    return CELER_OK;
}

celer_status hf_json_float(const cJSON *obj, const char *key, const char *where, double *out, celer_error *err) {
    const cJSON *v = hf_json_get(obj, key);
    if (!v) return CELER_ERR_RANGE;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || fabs(v->valuedouble) > FLT_MAX)
        return celer_error_set(err, CELER_ERR_FORMAT, "%s: '%s' is not a finite number", where, key);
    *out = v->valuedouble;
    return CELER_OK;
}

celer_status hf_json_bool(const cJSON *obj, const char *key, const char *where, bool *out, celer_error *err) {
    const cJSON *v = hf_json_get(obj, key);
    if (!v) return CELER_ERR_RANGE;
    if (!cJSON_IsBool(v)) return celer_error_set(err, CELER_ERR_FORMAT, "%s: '%s' is not true or false", where, key);
    *out = cJSON_IsTrue(v);
    return CELER_OK;
}
