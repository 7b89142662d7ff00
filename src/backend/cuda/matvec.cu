// matvec.cu: matrix-vector products with dequantization fused, for decode (1..8 tokens).
// A warp per weight row: lane l dequantizes the row's 8-element chunks l, l+32, ... in
// registers and multiplies them with every token's activations (fp32, two 16-byte loads
// per token), then the warp sums. Up to three matrices sharing the input run in one
// launch (Q, K and V); the SwiGLU variant reads the gate and up rows in the same warp and
// writes silu(gate) * up. Tests: tests/test_cuda_ops.c.
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_quant.cuh"

#define MATVEC_WARPS 4 // rows per block

// acc[t] += w · x[t][8c..8c+7] for the first n tokens.
template <int NT>
__device__ __forceinline__ void dot8(const float w[8], const float *__restrict__ x, int64_t x_stride, int64_t c, int n, float acc[NT]) {
#pragma unroll
    for (int t = 0; t < NT; t++) {
        if (t < n) {
            const float4 *p = (const float4 *)(x + t * x_stride + 8 * c);
            const float4 a = p[0], b = p[1];
            acc[t] += w[0] * a.x + w[1] * a.y + w[2] * a.z + w[3] * a.w + w[4] * b.x + w[5] * b.y + w[6] * b.z + w[7] * b.w;
        }
    }
}

template <int TYPE, int NT>
__global__ void __launch_bounds__(MATVEC_WARPS *WARP_SIZE) matvec_kernel(matvec_args a) {
    const int lane = threadIdx.x % WARP_SIZE;
    int64_t row = (int64_t)blockIdx.x * MATVEC_WARPS + threadIdx.x / WARP_SIZE;
    int s = 0; // which output this row belongs to
    while (s < a.n_out - 1 && row >= a.out[s].rows) row -= a.out[s++].rows;
    const matvec_out o = a.out[s];
    if (row >= o.rows) return; // whole warp: the grid's tail
    const uint8_t *w = (const uint8_t *)o.w + row * o.row_bytes;
    const int64_t chunks = a.cols / 8;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
#pragma unroll 4 // loads of four chunks in flight per lane: nothing in the loop stores
    for (int64_t c = lane; c < chunks; c += WARP_SIZE) {
        float v[8];
        dequant<TYPE>::run(w, c, v);
        dot8<NT>(v, a.x, a.x_stride, c, a.n_tokens, acc);
    }
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = warp_sum(acc[t]);
    if (lane < a.n_tokens) {
        float r = 0.0f;
#pragma unroll
        for (int t = 0; t < NT; t++)
            if (t == lane) r = acc[t];
        float *y = o.y + lane * o.y_stride + row;
        *y = o.accumulate ? *y + r : r;
    }
}

template <int TYPE, int NT>
__global__ void __launch_bounds__(MATVEC_WARPS *WARP_SIZE) matvec_swiglu_kernel(matvec_args a) {
    const int lane = threadIdx.x % WARP_SIZE;
    const int64_t row = (int64_t)blockIdx.x * MATVEC_WARPS + threadIdx.x / WARP_SIZE;
    if (row >= a.out[0].rows) return;
    const uint8_t *wg = (const uint8_t *)a.out[0].w + row * a.out[0].row_bytes;
    const uint8_t *wu = (const uint8_t *)a.out[1].w + row * a.out[1].row_bytes;
    const int64_t chunks = a.cols / 8;
    float g[NT], u[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) g[t] = u[t] = 0.0f;
#pragma unroll 2
    for (int64_t c = lane; c < chunks; c += WARP_SIZE) {
        float v[8];
        dequant<TYPE>::run(wg, c, v);
        dot8<NT>(v, a.x, a.x_stride, c, a.n_tokens, g);
        dequant<TYPE>::run(wu, c, v);
        dot8<NT>(v, a.x, a.x_stride, c, a.n_tokens, u);
    }
#pragma unroll
    for (int t = 0; t < NT; t++) {
        g[t] = warp_sum(g[t]);
        u[t] = warp_sum(u[t]);
    }
    if (lane < a.n_tokens) {
        float gl = 0.0f, ul = 0.0f;
#pragma unroll
        for (int t = 0; t < NT; t++)
            if (t == lane) gl = g[t], ul = u[t];
        a.out[0].y[lane * a.out[0].y_stride + row] = gl / (1.0f + expf(-gl)) * ul;
    }
}

template <int TYPE, int NT> static void launch(const matvec_args *a, int64_t rows, cudaStream_t stream) {
    const dim3 grid(cuda_blocks(rows, MATVEC_WARPS)), block(MATVEC_WARPS * WARP_SIZE);
    if (a->swiglu) matvec_swiglu_kernel<TYPE, NT><<<grid, block, 0, stream>>>(*a);
    else matvec_kernel<TYPE, NT><<<grid, block, 0, stream>>>(*a);
}

template <int TYPE> static void launch_tokens(const matvec_args *a, int64_t rows, cudaStream_t stream) {
    if (a->n_tokens <= 1) launch<TYPE, 1>(a, rows, stream);
    else if (a->n_tokens <= 2) launch<TYPE, 2>(a, rows, stream);
    else if (a->n_tokens <= 4) launch<TYPE, 4>(a, rows, stream);
    else launch<TYPE, 8>(a, rows, stream);
}

extern "C" bool cuda_type_supported(uint32_t type) { return cuda_quant_supported(type); }

extern "C" celer_status matvec_cuda(const matvec_args *a, cudaStream_t stream, celer_error *err) {
    if (!cuda_quant_supported(a->type)) return cuda_fail(err, CELER_ERR_UNSUPPORTED, "matvec: weight type has no CUDA kernel");
    if (a->n_tokens < 1 || a->n_tokens > MATVEC_MAX_TOKENS || a->n_out < 1 || a->n_out > MATVEC_MAX_OUT || a->cols < 32 ||
        a->cols % 32 != 0 || a->x_stride < a->cols || a->x_stride % 4 != 0 || (a->swiglu && (a->n_out != 2 || a->out[0].rows != a->out[1].rows)))
        return cuda_fail(err, CELER_ERR_INVALID_ARG, "matvec: invalid arguments (tokens, outputs, columns or strides)");
    int64_t rows = 0;
    for (int i = 0; i < a->n_out; i++) {
        if (!a->out[i].w || !a->out[i].y || a->out[i].rows < 1 || a->out[i].y_stride < a->out[i].rows)
            return cuda_fail(err, CELER_ERR_INVALID_ARG, "matvec: an output without weights, rows or room");
        rows += a->out[i].rows;
    }
    if (a->swiglu) rows = a->out[0].rows;
    if (cuda_blocks(rows, MATVEC_WARPS) > 0x7fffffffu) return cuda_fail(err, CELER_ERR_INVALID_ARG, "matvec: too many rows");
#define CASE(t) \
    case t: launch_tokens<t>(a, rows, stream); break;
    switch (a->type) { CUDA_QUANT_TYPES(CASE) default: break; }
#undef CASE
    CUDA_LAUNCHED("matvec_kernel", err);
    return CELER_OK;
}
