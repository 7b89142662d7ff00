// matvec.cu: matrix-vector products with dequantization fused, for decode (1..8 tokens).
// A warp per two weight rows: lane l dequantizes the rows' 8-element chunks l, l+32, ...
// in registers and multiplies them with every token's activations (fp32, two 16-byte
// loads per token, shared by both rows), then the warp sums. Up to three matrices sharing the input run in one
// launch (Q, K and V); the SwiGLU variant reads the gate and up rows in the same warp and
// writes silu(gate) * up. Tests: tests/test_cuda_ops.c.
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_quant.cuh"

#define MATVEC_WARPS 4 // warps per block
#define MATVEC_ROWS 2  // weight rows per warp (matvec_kernel): each activation load serves both

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

// Warps an output of `rows` rows takes: MATVEC_ROWS rows each.
__host__ __device__ static inline int64_t warps_for(int64_t rows) { return (rows + MATVEC_ROWS - 1) / MATVEC_ROWS; }

template <int TYPE, int NT>
__global__ void __launch_bounds__(MATVEC_WARPS *WARP_SIZE) matvec_kernel(matvec_args a) {
    const int lane = threadIdx.x % WARP_SIZE;
    int64_t wi = (int64_t)blockIdx.x * MATVEC_WARPS + threadIdx.x / WARP_SIZE; // this warp, over all outputs
    int s = 0;                                                                   // which output it works for
    while (s < a.n_out - 1 && wi >= warps_for(a.out[s].rows)) wi -= warps_for(a.out[s++].rows);
    const matvec_out o = a.out[s];
    const int64_t row0 = wi * MATVEC_ROWS;
    if (row0 >= o.rows) return; // whole warp: the grid's tail
    const int nr = o.rows - row0 < MATVEC_ROWS ? (int)(o.rows - row0) : MATVEC_ROWS;
    const uint8_t *w = (const uint8_t *)o.w + row0 * o.row_bytes;
    const int64_t chunks = a.cols / 8;
    float acc[MATVEC_ROWS][NT];
#pragma unroll
    for (int r = 0; r < MATVEC_ROWS; r++)
#pragma unroll
        for (int t = 0; t < NT; t++) acc[r][t] = 0.0f;
#pragma unroll 2 // with two rows: four chunks' loads in flight per lane; nothing in the loop stores
    for (int64_t c = lane; c < chunks; c += WARP_SIZE) {
        float v[MATVEC_ROWS][8];
#pragma unroll
        for (int r = 0; r < MATVEC_ROWS; r++) {
            if (r < nr) dequant<TYPE>::run(w + r * o.row_bytes, c, v[r]);
            else
#pragma unroll
                for (int k = 0; k < 8; k++) v[r][k] = 0.0f;
        }
#pragma unroll
        for (int t = 0; t < NT; t++) {
            if (t < a.n_tokens) { // each activation chunk loaded once for the warp's rows
                const float4 *p = (const float4 *)(a.x + t * a.x_stride + 8 * c);
                const float4 xa = p[0], xb = p[1];
#pragma unroll
                for (int r = 0; r < MATVEC_ROWS; r++)
                    acc[r][t] += v[r][0] * xa.x + v[r][1] * xa.y + v[r][2] * xa.z + v[r][3] * xa.w + v[r][4] * xb.x + v[r][5] * xb.y +
                                 v[r][6] * xb.z + v[r][7] * xb.w;
            }
        }
    }
#pragma unroll
    for (int r = 0; r < MATVEC_ROWS; r++)
#pragma unroll
        for (int t = 0; t < NT; t++) acc[r][t] = warp_sum(acc[r][t]);
    if (lane < a.n_tokens) {
#pragma unroll
        for (int r = 0; r < MATVEC_ROWS; r++) {
            if (r >= nr) break;
            float sum = 0.0f;
#pragma unroll
            for (int t = 0; t < NT; t++)
                if (t == lane) sum = acc[r][t];
            float *y = o.y + lane * o.y_stride + row0 + r;
            *y = o.accumulate ? *y + sum : sum;
        }
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

// warps: the grid's warps (a row each for SwiGLU, MATVEC_ROWS rows each otherwise).
template <int TYPE, int NT> static void launch(const matvec_args *a, int64_t warps, cudaStream_t stream) {
    const dim3 grid(cuda_blocks(warps, MATVEC_WARPS)), block(MATVEC_WARPS * WARP_SIZE);
    if (a->swiglu) matvec_swiglu_kernel<TYPE, NT><<<grid, block, 0, stream>>>(*a);
    else matvec_kernel<TYPE, NT><<<grid, block, 0, stream>>>(*a);
}

template <int TYPE> static void launch_tokens(const matvec_args *a, int64_t warps, cudaStream_t stream) {
    if (a->n_tokens <= 1) launch<TYPE, 1>(a, warps, stream);
    else if (a->n_tokens <= 2) launch<TYPE, 2>(a, warps, stream);
    else if (a->n_tokens <= 4) launch<TYPE, 4>(a, warps, stream);
    else launch<TYPE, 8>(a, warps, stream);
}

extern "C" bool cuda_type_supported(uint32_t type) { return cuda_quant_supported(type); }

extern "C" celer_status matvec_cuda(const matvec_args *a, cudaStream_t stream, celer_error *err) {
    if (!cuda_quant_supported(a->type)) return cuda_fail(err, CELER_ERR_UNSUPPORTED, "matvec: weight type has no CUDA kernel");
    if (a->n_tokens < 1 || a->n_tokens > MATVEC_MAX_TOKENS || a->n_out < 1 || a->n_out > MATVEC_MAX_OUT || a->cols < 32 ||
        a->cols % 32 != 0 || a->x_stride < a->cols || a->x_stride % 4 != 0 || (a->swiglu && (a->n_out != 2 || a->out[0].rows != a->out[1].rows)))
        return cuda_fail(err, CELER_ERR_INVALID_ARG, "matvec: invalid arguments (tokens, outputs, columns or strides)");
    int64_t warps = 0;
    for (int i = 0; i < a->n_out; i++) {
        if (!a->out[i].w || !a->out[i].y || a->out[i].rows < 1 || a->out[i].y_stride < a->out[i].rows)
            return cuda_fail(err, CELER_ERR_INVALID_ARG, "matvec: an output without weights, rows or room");
        warps += warps_for(a->out[i].rows);
    }
    if (a->swiglu) warps = a->out[0].rows;
    if ((warps + MATVEC_WARPS - 1) / MATVEC_WARPS > 0x7fffffff) return cuda_fail(err, CELER_ERR_INVALID_ARG, "matvec: too many rows");
#define CASE(t) \
    case t: launch_tokens<t>(a, warps, stream); break;
    switch (a->type) { CUDA_QUANT_TYPES(CASE) default: break; }
#undef CASE
    CUDA_LAUNCHED("matvec_kernel", err);
    return CELER_OK;
}
