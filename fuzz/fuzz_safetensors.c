/* fuzz_safetensors.c: libFuzzer target for the .safetensors reader.
 *
 * Every input is parsed. A refused input must come back with one line naming
 * "<buffer>". An accepted one must keep every promise of safetensors.h: each tensor's
 * bytes inside the data section (every byte read, so ASan checks the bounds), its size
 * equal to elements x dtype size, the tensors together covering the data section
 * exactly, and each name found again by safetensors_find.
 * Run: scripts/fuzz.sh [seconds] (builds with clang into build-fuzz, seeds in
 * fuzz/seeds/safetensors). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/safetensors.h"

#define REQUIRE(cond)                                                                      \
    do {                                                                                   \
        if (!(cond)) __builtin_trap();                                                     \
    } while (0)

static uint8_t check_tensor(const safetensors_file *f, const safetensors_tensor *t) {
    REQUIRE(t->dtype < SAFETENSORS_DTYPE_COUNT && t->n_dims <= SAFETENSORS_MAX_DIMS);
    uint64_t elements = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        REQUIRE(t->shape[d] >= 0);
        elements *= (uint64_t)t->shape[d]; /* cannot overflow: the reader checked */
    }
    REQUIRE(elements == t->n_elements);
    REQUIRE(t->end - t->begin == elements * safetensors_dtype_size(t->dtype));
    REQUIRE(t->begin <= t->end && t->end <= f->size - f->data_offset);
    REQUIRE((const uint8_t *)t->data == f->base + f->data_offset + t->begin);
    REQUIRE(safetensors_find(f, t->name) == t);
    uint8_t sum = 0;
    for (uint64_t k = 0; k < t->end - t->begin; k++) sum ^= ((const uint8_t *)t->data)[k];
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    safetensors_file *f = NULL;
    celer_error err = {{0}};
    if (safetensors_parse(data, size, &f, &err) != CELER_OK) {
        REQUIRE(f == NULL && strncmp(err.msg, "<buffer>: ", 10) == 0 && !strchr(err.msg, '\n'));
        return 0;
    }
    REQUIRE(f->data_offset >= 8 && f->data_offset <= f->size);
    uint64_t covered = 0;
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < f->n_tensors; i++) {
        sink ^= check_tensor(f, &f->tensors[i]);
        covered += f->tensors[i].end - f->tensors[i].begin;
    }
    REQUIRE(covered == f->size - f->data_offset); /* contiguous, no overlap, no gap */
    for (size_t i = 0; i < f->n_meta; i++) REQUIRE(f->meta[i].key && f->meta[i].value);
    (void)sink;
    safetensors_close(f);
    return 0;
}
