/* synth_write.c: streams a `celer synth` plan to disk: the header, then every tensor's
 * random blocks generated (by a pool of threads, in segments of about 256 KiB with a seed
 * each, so the bytes do not depend on the thread count) straight into one of two large
 * buffers while a writer thread writes the other, so generation hides behind the disk. The file goes to "<path>.tmp"
 * (space reserved up front where the file system can), is fsync'd and renamed; any
 * failure removes it and says how far it got.
 * Tests: tests/test_synth.c (a written file is byte-for-byte the planned size and loads),
 * tests/test_synth.sh (existing output, unwritable directory). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/threadpool.h"
#include "model/synth.h"
#include "quant/quant.h"

#define STREAM_BUFFER_BYTES ((size_t)64 << 20)
#define SEGMENT_BYTES ((uint64_t)256 << 10) /* random blocks per stream seed: about this many bytes */

typedef struct {
    int fd;
    uint8_t *buf[2]; /* (cap) each: one being filled, one being written */
    size_t cap, fill;
    int cur;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const uint8_t *pending; /* handed to the writer thread; NULL when it is idle */
    size_t pending_n;
    bool quit;
    int error;        /* errno of the first failed write */
    uint64_t written; /* bytes the writer thread has written */
    uint64_t total;
    synth_progress_fn progress;
    void *user;
} stream;

static bool write_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            if (k == 0) errno = EIO;
            return false;
        }
        p += k, n -= (size_t)k;
    }
    return true;
}

static void *writer_main(void *arg) {
    stream *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->pending && !s->quit) pthread_cond_wait(&s->cv, &s->mu);
        if (!s->pending) break;
        const uint8_t *p = s->pending;
        size_t n = s->pending_n;
        pthread_mutex_unlock(&s->mu);
        bool ok = write_all(s->fd, p, n);
        int e = errno;
        pthread_mutex_lock(&s->mu);
        if (ok) s->written += n;
        else if (!s->error) s->error = e;
        s->pending = NULL;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Hands the filled buffer to the writer (after it finished the previous one). */
static bool stream_flush(stream *s) {
    pthread_mutex_lock(&s->mu);
    while (s->pending) pthread_cond_wait(&s->cv, &s->mu);
    bool ok = s->error == 0;
    uint64_t done = s->written;
    if (ok && s->fill) {
        s->pending = s->buf[s->cur];
        s->pending_n = s->fill;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (!ok) return false;
    if (s->fill) s->cur ^= 1;
    s->fill = 0;
    if (s->progress) s->progress(s->user, done, s->total);
    return true;
}

/* Free space in the current buffer, at least min bytes (flushing first if needed). */
static uint8_t *stream_space(stream *s, size_t min, size_t *avail) {
    if (s->cap - s->fill < min && !stream_flush(s)) return NULL;
    *avail = s->cap - s->fill;
    return s->buf[s->cur] + s->fill;
}

static bool stream_put(stream *s, const void *src, uint64_t n, bool zeros) {
    const uint8_t *p = src;
    while (n > 0) {
        size_t avail;
        uint8_t *dst = stream_space(s, 1, &avail);
        if (!dst) return false;
        size_t k = n < avail ? (size_t)n : avail;
        if (zeros) memset(dst, 0, k);
        else memcpy(dst, p, k), p += k;
        s->fill += k, n -= k;
    }
    return true;
}

static uint64_t mix64(uint64_t z) { /* splitmix64's finaliser */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The random stream of one segment of one tensor: a function of (seed, tensor, segment)
 * only, so the file does not depend on the buffer size or the number of threads. */
static uint64_t segment_seed(uint64_t seed, int32_t tensor, uint64_t segment) {
    uint64_t z = mix64(mix64(seed + 0x9E3779B97F4A7C15ull * (uint64_t)(tensor + 1)) + 0x9E3779B97F4A7C15ull * (segment + 1));
    return z ? z : 1;
}

/* A run of whole segments filled by the pool's threads, each taking its share. */
typedef struct {
    const synth_blocks *b;
    uint8_t *dst;
    uint64_t first_segment, n_blocks, segment_blocks;
    uint64_t seed;
    int32_t tensor;
} fill_job;

static void fill_segments(void *ctx, int ith, int nth) {
    const fill_job *j = ctx;
    long long n_segments = (long long)((j->n_blocks + j->segment_blocks - 1) / j->segment_blocks), begin, end;
    threadpool_split(n_segments, ith, nth, &begin, &end);
    for (long long k = begin; k < end; k++) {
        uint64_t first = (uint64_t)k * j->segment_blocks;
        uint64_t n = j->n_blocks - first < j->segment_blocks ? j->n_blocks - first : j->segment_blocks;
        uint64_t rng = segment_seed(j->seed, j->tensor, j->first_segment + (uint64_t)k);
        synth_blocks_fill(j->b, j->dst + first * j->b->block_bytes, n, &rng);
    }
}

/* One tensor: ones for a norm, else random blocks, then zeros to the alignment. */
static celer_status stream_tensor(stream *s, threadpool *pool, const synth_plan *p, int32_t i, celer_error *err) {
    const synth_tensor *t = &p->tensors[i];
    uint64_t pad = (t->bytes + p->alignment - 1) / p->alignment * p->alignment - t->bytes;
    if (t->ne1 == 1) {
        for (int64_t j = 0; j < t->ne0; j++) {
            const float one = 1.0f;
            if (!stream_put(s, &one, 4, false)) return CELER_ERR_IO;
        }
        return stream_put(s, NULL, pad, true) ? CELER_OK : CELER_ERR_IO;
    }
    synth_blocks b;
    celer_status st = synth_blocks_init(&b, t->type, t->rms, segment_seed(p->seed, i, UINT64_MAX - 1), err);
    if (st != CELER_OK) return st;
    fill_job job = {.b = &b, .seed = p->seed, .tensor = i};
    job.segment_blocks = SEGMENT_BYTES / b.block_bytes;
    uint64_t total = t->bytes / b.block_bytes, done = 0;
    while (done < total && st == CELER_OK) {
        size_t avail;
        uint64_t left = total - done, segment_bytes = job.segment_blocks * b.block_bytes;
        uint8_t *dst = stream_space(s, left < job.segment_blocks ? (size_t)(left * b.block_bytes) : (size_t)segment_bytes, &avail);
        if (!dst) {
            st = CELER_ERR_IO;
            break;
        }
        /* the tensor's last blocks, or as many whole segments as fit */
        uint64_t n = left * b.block_bytes <= avail ? left : avail / segment_bytes * job.segment_blocks;
        job.dst = dst, job.first_segment = done / job.segment_blocks, job.n_blocks = n;
        threadpool_run(pool, fill_segments, &job);
        s->fill += (size_t)(job.n_blocks * b.block_bytes);
        done += job.n_blocks;
    }
    synth_blocks_free(&b);
    if (st == CELER_OK && !stream_put(s, NULL, pad, true)) st = CELER_ERR_IO;
    return st;
}

/* Starts the writer thread; buffers no larger than the file. */
static celer_status stream_start(stream *s, int fd, const synth_plan *p, synth_progress_fn progress, void *user,
                                 celer_error *err) {
    memset(s, 0, sizeof(*s));
    s->fd = fd, s->total = p->file_bytes, s->progress = progress, s->user = user;
    s->cap = p->file_bytes < STREAM_BUFFER_BYTES ? (size_t)p->file_bytes : STREAM_BUFFER_BYTES;
    if (s->cap < 4096) s->cap = 4096;
    s->buf[0] = malloc(s->cap);
    s->buf[1] = malloc(s->cap);
    if (!s->buf[0] || !s->buf[1]) {
        free(s->buf[0]), free(s->buf[1]);
        return celer_error_set(err, CELER_ERR_NOMEM, "synth: out of memory for 2 x %zu MiB of write buffers", s->cap >> 20);
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
        free(s->buf[0]), free(s->buf[1]);
        return celer_error_set(err, CELER_ERR_IO, "synth: cannot start the writer thread");
    }
    return CELER_OK;
}

/* Flushes what is left (if ok), stops the thread; returns the first write's errno or 0. */
static int stream_stop(stream *s, bool ok) {
    if (ok) stream_flush(s);
    pthread_mutex_lock(&s->mu);
    while (s->pending) pthread_cond_wait(&s->cv, &s->mu);
    s->quit = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->buf[0]), free(s->buf[1]);
    return s->error;
}

/* Room on the disk that will hold path (its directory), or an error naming both sizes. */
static celer_status check_space(const char *path, uint64_t need, celer_error *err) {
    char *copy = strdup(path);
    if (!copy) return celer_error_set(err, CELER_ERR_NOMEM, "synth: out of memory");
    const char *dir = dirname(copy);
    struct statvfs vfs;
    celer_status st = CELER_OK;
    if (statvfs(dir, &vfs) != 0)
        st = celer_error_set(err, CELER_ERR_IO, "%s: cannot write into directory %s: %s", path, dir, strerror(errno));
    else if ((uint64_t)vfs.f_bavail * vfs.f_frsize < need)
        st = celer_error_set(err, CELER_ERR_IO, "%s: not enough disk space: the file needs %.2f GB, %.2f GB free in %s", path, need / 1e9,
                             (double)vfs.f_bavail * vfs.f_frsize / 1e9, dir);
    free(copy);
    return st;
}

static celer_status write_file(int fd, const char *tmp, const synth_plan *p, threadpool *pool, synth_progress_fn progress,
                               void *user, celer_error *err) {
    int r = fallocate(fd, 0, 0, (off_t)p->file_bytes); /* reserve; file systems without it just write */
    if (r != 0 && (errno == ENOSPC || errno == EFBIG))
        return celer_error_set(err, CELER_ERR_IO, "%s: cannot reserve %.2f GB: %s", tmp, p->file_bytes / 1e9, strerror(errno));
    stream s;
    celer_status st = stream_start(&s, fd, p, progress, user, err);
    if (st != CELER_OK) return st;
    bool ok = stream_put(&s, p->header, p->header_size, false);
    for (int32_t i = 0; ok && i < p->n_tensors; i++) {
        st = stream_tensor(&s, pool, p, i, err);
        ok = st == CELER_OK;
    }
    int e = stream_stop(&s, ok);
    if (st != CELER_OK && st != CELER_ERR_IO) return st; /* the message is set */
    if (e == 0 && (!ok)) e = EIO;
    if (e == 0 && fsync(fd) != 0) e = errno;
    if (e == ENOSPC || e == EDQUOT)
        return celer_error_set(err, CELER_ERR_IO, "%s: disk full after %.2f GB of %.2f GB", tmp, s.written / 1e9, p->file_bytes / 1e9);
    if (e != 0) return celer_error_set(err, CELER_ERR_IO, "%s: write failed after %.2f GB: %s", tmp, s.written / 1e9, strerror(e));
    if (progress) progress(user, p->file_bytes, p->file_bytes);
    return CELER_OK;
}

celer_status synth_write(const synth_plan *p, const char *path, bool force, int n_threads, synth_progress_fn progress,
                         void *user, celer_error *err) {
    struct stat sb;
    if (!force && stat(path, &sb) == 0)
        return celer_error_set(err, CELER_ERR_IO, "%s exists (--force overwrites it)", path);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return celer_error_set(err, CELER_ERR_IO, "%s is a directory", path);
    celer_status st = check_space(path, p->file_bytes, err);
    if (st != CELER_OK) return st;
    size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    if (!tmp) return celer_error_set(err, CELER_ERR_NOMEM, "synth: out of memory");
    snprintf(tmp, n, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = celer_error_set(err, CELER_ERR_IO, "%s: cannot open for writing: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    if (n_threads <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = online < 1 ? 1 : online > 16 ? 16 : (int)online;
    }
    threadpool *pool = NULL;
    st = threadpool_init(&pool, n_threads, err);
    if (st == CELER_OK) st = write_file(fd, tmp, p, pool, progress, user, err);
    threadpool_free(pool);
    if (close(fd) != 0 && st == CELER_OK) st = celer_error_set(err, CELER_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    if (st == CELER_OK && rename(tmp, path) != 0)
        st = celer_error_set(err, CELER_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (st != CELER_OK) unlink(tmp);
    free(tmp);
    return st;
}
