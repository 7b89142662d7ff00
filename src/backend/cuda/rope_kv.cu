// rope_kv.cu: one launch per layer between the QKV product and attention: biases added
// (Qwen2), rotary embedding on Q and K, then K and V written to their cache cells as
// fp16. Angles as cpu_rope computes them, bit for bit before sin/cos: theta_i = scale *
// (pos * theta_scale^i / factor_i), theta_scale^i by repeated multiplication and
// theta_scale = base^(-2/n_rot) from the host's powf (the CPU's). A block per token. Tests: tests/test_cuda_ops.c.
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_common.cuh"

#define ROPE_THREADS 256

__global__ void __launch_bounds__(ROPE_THREADS) rope_kv_kernel(rope_kv_args a, float theta_scale) {
    const int64_t t = blockIdx.x;
    const int32_t hd = a.head_dim, q_dim = a.n_head * hd, kv_dim = a.n_head_kv * hd, half_rot = a.n_rot / 2;
    float *q = a.q + t * q_dim, *k = a.k + t * kv_dim;
    const float *v = a.v + t * kv_dim;
    if (a.bq)
        for (int32_t e = threadIdx.x; e < q_dim; e += ROPE_THREADS) q[e] += a.bq[e];
    if (a.bk)
        for (int32_t e = threadIdx.x; e < kv_dim; e += ROPE_THREADS) k[e] += a.bk[e];
    __syncthreads();
    const float pos = (float)a.pos[t];
    for (int32_t idx = threadIdx.x; idx < (a.n_head + a.n_head_kv) * half_rot; idx += ROPE_THREADS) {
        const int32_t h = idx / half_rot, i = idx % half_rot;
        float *x = h < a.n_head ? q + h * hd : k + (h - a.n_head) * hd;
        const float ff = a.freq_factors ? a.freq_factors[i] : 1.0f;
        float theta_base = pos;
        for (int32_t j = 0; j < i; j++) theta_base *= theta_scale;
        const float theta = a.freq_scale * (theta_base / ff);
        float s, c;
        sincosf(theta, &s, &c);
        const int32_t ia = a.rope_halves ? i : 2 * i, ib = a.rope_halves ? i + half_rot : 2 * i + 1;
        const float x0 = x[ia], x1 = x[ib];
        x[ia] = x0 * c - x1 * s;
        x[ib] = x0 * s + x1 * c;
    }
    __syncthreads();
    const int64_t cell = a.cell[t];
    __half *kc = (__half *)a.k_cache + cell * kv_dim, *vc = (__half *)a.v_cache + cell * kv_dim;
    for (int32_t e = threadIdx.x; e < kv_dim; e += ROPE_THREADS) {
        kc[e] = __float2half_rn(k[e]);
        vc[e] = __float2half_rn(a.bv ? v[e] + a.bv[e] : v[e]);
    }
}

extern "C" celer_status rope_kv_cuda(const rope_kv_args *a, cudaStream_t stream, celer_error *err) {
    if (!a->q || !a->k || !a->v || !a->k_cache || !a->v_cache || !a->pos || !a->cell || a->n < 1 || a->n_head < 1 || a->n_head_kv < 1 ||
        a->n_head % a->n_head_kv != 0 || a->head_dim < 2 || a->n_rot < 2 || a->n_rot > a->head_dim || a->n_rot % 2 != 0)
        return cuda_fail(err, CELER_ERR_INVALID_ARG, "rope_kv: invalid arguments");
    rope_kv_kernel<<<(unsigned)a->n, ROPE_THREADS, 0, stream>>>(*a, powf(a->freq_base, -2.0f / (float)a->n_rot));
    CUDA_LAUNCHED("rope_kv_kernel", err);
    return CELER_OK;
}
