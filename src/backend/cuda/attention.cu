// attention.cu: causal attention over the paged fp16 KV cache, split over the context
// (flash-decoding). attention_split_kernel: a block per (chunk of positions, query head,
// token), chunks of at least `chunk` positions, longer when the context needs more than
// n_chunks of them; its 4 warps walk the chunk's positions, 4 at a time each, with an
// online softmax (lane l holds dimensions l, l+32, ... of the query and the accumulator),
// then merge in shared memory into one partial (max, sum, unnormalized output).
// attention_combine_kernel merges a token's chunks. Scores are never stored: memory is
// linear in the context, never T x T.
// Query head h reads KV head h / (n_head / n_head_kv), as cpu_attention does.
// Tests: tests/test_cuda_ops.c.
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_common.cuh"

#define ATT_WARPS 4
#define ATT_MAX_DIMS_PER_LANE 16 // head_dim <= 512
#define ATT_POSITIONS 4          // positions a warp takes per step

// Positions per chunk for a token attending n_pos positions: at least a.chunk, and enough
// that a.n_chunks chunks cover them (whole KV blocks), so a grid sized for a long context
// spreads a short one over all its chunks too. The combine computes the same.
__device__ __forceinline__ int32_t chunk_length(const attention_args &a, int32_t n_pos) {
    const int32_t even = (n_pos + a.n_chunks - 1) / a.n_chunks, blocks = (even + a.block_size - 1) / a.block_size;
    return max(a.chunk, blocks * a.block_size);
}

__global__ void __launch_bounds__(ATT_WARPS *WARP_SIZE) attention_split_kernel(attention_args a) {
    __shared__ float warp_max_s[ATT_WARPS], warp_sum_s[ATT_WARPS];
    __shared__ float warp_acc[ATT_WARPS][ATT_MAX_DIMS_PER_LANE * WARP_SIZE];
    const int32_t c = blockIdx.x, h = blockIdx.y;
    const int64_t t = blockIdx.z;
    const int32_t n_pos = a.pos[t] + 1, len = chunk_length(a, n_pos), p0 = c * len;
    if (p0 >= n_pos) return; // past this token's context: the combine never reads it
    const int32_t p1 = min(p0 + len, n_pos);
    const int32_t hd = a.head_dim, dpl = hd / WARP_SIZE, kvh = h / (a.n_head / a.n_head_kv), kv_dim = a.n_head_kv * hd;
    const int32_t lane = threadIdx.x % WARP_SIZE, warp = threadIdx.x / WARP_SIZE;
    const float scale = 1.0f / sqrtf((float)hd);
    const float *qr = a.q + (t * a.n_head + h) * hd;
    float q[ATT_MAX_DIMS_PER_LANE], acc[ATT_MAX_DIMS_PER_LANE];
#pragma unroll
    for (int i = 0; i < ATT_MAX_DIMS_PER_LANE; i++) {
        q[i] = i < dpl ? qr[lane + WARP_SIZE * i] * scale : 0.0f;
        acc[i] = 0.0f;
    }
    const int32_t *table = a.blocks + a.table_off[t];
    float m = -INFINITY, l = 0.0f;
    // Each warp takes ATT_POSITIONS consecutive positions per step: their dot products
    // and warp sums are independent, so their latencies overlap.
    for (int32_t p = p0 + warp * ATT_POSITIONS; p < p1; p += ATT_WARPS * ATT_POSITIONS) {
        float s[ATT_POSITIONS];
        const __half *vr[ATT_POSITIONS];
#pragma unroll
        for (int j = 0; j < ATT_POSITIONS; j++) {
            s[j] = -INFINITY;
            vr[j] = NULL;
            const int32_t pj = p + j;
            if (pj < p1) { // the same for every lane
                const int64_t cell = (int64_t)table[pj / a.block_size] * a.block_size + pj % a.block_size;
                const __half *kr = (const __half *)a.k_cache + cell * kv_dim + kvh * hd;
                vr[j] = (const __half *)a.v_cache + cell * kv_dim + kvh * hd;
                float d = 0.0f;
#pragma unroll
                for (int i = 0; i < ATT_MAX_DIMS_PER_LANE; i++)
                    if (i < dpl) d += q[i] * __half2float(kr[lane + WARP_SIZE * i]);
                s[j] = warp_sum(d);
            }
        }
        float m_new = m; // p < p1: s[0] is finite, so m_new is
#pragma unroll
        for (int j = 0; j < ATT_POSITIONS; j++) m_new = fmaxf(m_new, s[j]);
        const float corr = expf(m - m_new);
        float e[ATT_POSITIONS], e_sum = 0.0f;
#pragma unroll
        for (int j = 0; j < ATT_POSITIONS; j++) {
            e[j] = vr[j] ? expf(s[j] - m_new) : 0.0f;
            e_sum += e[j];
        }
        l = l * corr + e_sum;
#pragma unroll
        for (int i = 0; i < ATT_MAX_DIMS_PER_LANE; i++) {
            if (i >= dpl) continue;
            float o = acc[i] * corr;
#pragma unroll
            for (int j = 0; j < ATT_POSITIONS; j++)
                if (vr[j]) o += e[j] * __half2float(vr[j][lane + WARP_SIZE * i]);
            acc[i] = o;
        }
        m = m_new;
    }
    if (lane == 0) warp_max_s[warp] = m, warp_sum_s[warp] = l;
#pragma unroll
    for (int i = 0; i < ATT_MAX_DIMS_PER_LANE; i++)
        if (i < dpl) warp_acc[warp][lane + WARP_SIZE * i] = acc[i];
    __syncthreads();
    float M = -INFINITY; // warp 0 always had position p0, so M is finite
    for (int w = 0; w < ATT_WARPS; w++) M = fmaxf(M, warp_max_s[w]);
    float wscale[ATT_WARPS], L = 0.0f;
    for (int w = 0; w < ATT_WARPS; w++) {
        wscale[w] = warp_max_s[w] == -INFINITY ? 0.0f : expf(warp_max_s[w] - M);
        L += warp_sum_s[w] * wscale[w];
    }
    float *part = a.partial + ((t * a.n_head + h) * a.n_chunks + c) * (int64_t)(hd + 2);
    if (threadIdx.x == 0) part[0] = M, part[1] = L;
    for (int32_t d = threadIdx.x; d < hd; d += ATT_WARPS * WARP_SIZE) {
        float o = 0.0f;
        for (int w = 0; w < ATT_WARPS; w++) o += warp_acc[w][d] * wscale[w];
        part[2 + d] = o;
    }
}

__global__ void __launch_bounds__(ATT_WARPS *WARP_SIZE) attention_combine_kernel(attention_args a) {
    const int32_t h = blockIdx.x;
    const int64_t t = blockIdx.y;
    const int32_t n_pos = a.pos[t] + 1, len = chunk_length(a, n_pos), hd = a.head_dim, used = (n_pos + len - 1) / len;
    const float *part = a.partial + (t * a.n_head + h) * a.n_chunks * (int64_t)(hd + 2);
    float M = -INFINITY, L = 0.0f;
    for (int32_t c = 0; c < used; c++) M = fmaxf(M, part[c * (hd + 2)]);
    for (int32_t c = 0; c < used; c++) L += part[c * (hd + 2) + 1] * expf(part[c * (hd + 2)] - M);
    const float inv = 1.0f / L;
    float *out = a.out + (t * a.n_head + h) * hd;
    for (int32_t d = threadIdx.x; d < hd; d += ATT_WARPS * WARP_SIZE) {
        float o = 0.0f;
        for (int32_t c = 0; c < used; c++) o += part[c * (hd + 2) + 2 + d] * expf(part[c * (hd + 2)] - M);
        out[d] = o * inv;
    }
}

extern "C" celer_status attention_cuda(const attention_args *a, cudaStream_t stream, celer_error *err) {
    if (!a->q || !a->out || !a->k_cache || !a->v_cache || !a->pos || !a->table_off || !a->blocks || !a->partial || a->n < 1 ||
        a->n > 65535 || a->n_head < 1 || a->n_head > 65535 || a->n_head_kv < 1 || a->n_head % a->n_head_kv != 0)
        return cuda_fail(err, CELER_ERR_INVALID_ARG, "attention: invalid arguments");
    if (a->head_dim < WARP_SIZE || a->head_dim % WARP_SIZE != 0 || a->head_dim > ATT_MAX_DIMS_PER_LANE * WARP_SIZE)
        return cuda_fail(err, CELER_ERR_UNSUPPORTED, "attention: head_dim must be a multiple of 32, at most 512");
    if (a->block_size < 1 || a->chunk < 1 || a->chunk % a->block_size != 0 || a->n_chunks < 1)
        return cuda_fail(err, CELER_ERR_INVALID_ARG, "attention: invalid chunking");
    attention_split_kernel<<<dim3((unsigned)a->n_chunks, (unsigned)a->n_head, (unsigned)a->n), ATT_WARPS * WARP_SIZE, 0, stream>>>(*a);
    CUDA_LAUNCHED("attention_split_kernel", err);
    attention_combine_kernel<<<dim3((unsigned)a->n_head, (unsigned)a->n), ATT_WARPS * WARP_SIZE, 0, stream>>>(*a);
    CUDA_LAUNCHED("attention_combine_kernel", err);
    return CELER_OK;
}
