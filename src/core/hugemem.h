/* hugemem.h: large buffers that the hot loops stream through (the CPU backend's packed
 * weights; bench's bandwidth probe), placed where the kernel can back them with 2 MiB
 * pages. Not the KV cache: it is written a little at a time, and a prompt's first write
 * to a layer would fault in and zero a whole 2 MiB page (about 8 ms more time to first
 * token, measured; at times a compaction stall).
 *
 * A decode step reads every weight once; with 4 KiB pages that is a TLB miss and a page
 * walk every 4 KiB (about 24,000 per token for a 100 MB model). Linux gives anonymous
 * memory transparent huge pages only when asked (transparent_hugepage=madvise, the usual
 * default), so these buffers are aligned to 2 MiB and marked MADV_HUGEPAGE. Where that is
 * not available the memory is ordinary; nothing else changes. Free with free(). */
#ifndef CELER_CORE_HUGEMEM_H
#define CELER_CORE_HUGEMEM_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define CELER_HUGE_PAGE ((size_t)2 << 20)

/* bytes (> 0) of memory aligned to 2 MiB and rounded up to a whole number of 2 MiB pages
 * when at least one page large (smaller buffers: 64-byte aligned, ordinary pages);
 * NULL when out of memory. */
static inline void *celer_alloc_huge(size_t bytes) {
    if (bytes == 0 || bytes > SIZE_MAX - CELER_HUGE_PAGE) return NULL;
    if (bytes < CELER_HUGE_PAGE) return aligned_alloc(64, (bytes + 63) / 64 * 64);
    const size_t rounded = (bytes + CELER_HUGE_PAGE - 1) / CELER_HUGE_PAGE * CELER_HUGE_PAGE;
    void *p = aligned_alloc(CELER_HUGE_PAGE, rounded);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p) (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice only: may fail (no THP), harmless */
#endif
    return p;
}

#endif
