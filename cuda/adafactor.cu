// cuda/adafactor.cu — Adafactor's step on the device: the CUDA mirror of
// Adafactor::update in lib/optim/adafactor.cpp, with the same comments in the
// same order. The per-element formulas (lerp, factored_v_hat, adafactor_u) are
// lib/optim/adafactor_math.hpp's; the scalars ρ_t, α_t and the clip factor are
// computed on the host between kernels, as on the CPU.
//
// The reductions:
//   row means of G²      each row summed in double in the CPU's order, so R, C and mean(R)
//   column means of G²   match the CPU bit for bit, but read coalesced: a block stages
//   mean(R) per matrix   32 × 32 tiles of G in __shared__ memory and 32 of its threads add
//                        one row each (row_var_kernel); one thread per column walks down
//                        the rows (consecutive threads, consecutive columns); a block per
//                        matrix stages R in chunks for its thread 0 (r_mean_kernel). A tree
//                        would use more threads but add in another order than the CPU.
//   RMS(X), RMS(U)       a grid of a fixed kReduceBlocks blocks (so the same order on every
//                        GPU): block sums in shared memory (double), then one block adds the
//                        partial sums. The order differs from the CPU's running sum, so
//                        these doubles may differ in their last bits.
#include <algorithm>
#include <cmath>

#include "device_buffer.hpp"
#include "kernels.hpp"
#include "launch.hpp"
#include "optim/adafactor_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {

constexpr unsigned int kReduceBlocks = 128;  // blocks of a grid-stride sum: its partial sums fit one block

// The sum of `value` over the block, returned to every thread (blockDim.x == kThreads).
__device__ double block_sum(double value) {
  MOMENTS_SHARED(double[kThreads], partial);
  partial[threadIdx.x] = value;
  __syncthreads();
  for (unsigned int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();  // every partial of this round is written before the next round reads it
  }
  const double total = partial[0];
  __syncthreads();  // everyone has read partial[0] before a second call overwrites it
  return total;
}

// Σ x², x: (n,). partials: (gridDim.x,), one sum per block.
__global__ void sum_squares_kernel(const float* __restrict__ x, int64_t n, double* __restrict__ partials) {
  double sum = 0.0;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x)
    sum += static_cast<double>(x[k]) * x[k];
  double total = block_sum(sum);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// out[0] ← Σ partials, partials: (count,), count ≤ kReduceBlocks; one block.
__global__ void sum_partials_kernel(const double* __restrict__ partials, int64_t count, double* __restrict__ out) {
  double total = block_sum(threadIdx.x < count ? partials[threadIdx.x] : 0.0);
  if (threadIdx.x == 0) out[0] = total;
}

// x: (n,). Decoupled weight decay, x ← x · decay.
__global__ void scale_kernel(float* __restrict__ x, int64_t n, float decay) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k < n) x[k] = x[k] * decay;
}

constexpr int64_t kRowTile = 32;  // row_var_kernel: rows per block, and columns per pass

// g: (batches, rows, cols); r: (batches, rows). A block of kThreads threads takes kRowTile rows and
// walks their columns kRowTile at a time: all its threads copy a kRowTile × kRowTile tile of G into
// __shared__ memory (consecutive threads, consecutive floats: coalesced), then thread t < kRowTile adds
// row t's part of the tile, in column order, to its running double — the CPU's order, so the same bits.
__global__ void row_var_kernel(const float* __restrict__ g, float* __restrict__ r, int64_t batches, int64_t rows,
                               int64_t cols, AdafactorScalars s, float eps1_added) {
  MOMENTS_SHARED(float[kRowTile][kRowTile + 1], tile);  // +1: row t's column of the tile falls in 32 different banks
  const int64_t all_rows = batches * rows;       // row index b · rows + i
  const unsigned int t = threadIdx.x;
  const int64_t tile_column = t % kRowTile, tile_row = t / kRowTile, rows_per_pass = kThreads / kRowTile;
  for (int64_t first : rows_of_block((all_rows + kRowTile - 1) / kRowTile)) {
    const int64_t row0 = first * kRowTile;
    double row_sum = 0.0;  // thread t < kRowTile: row row0 + t
    for (int64_t col0 = 0; col0 < cols; col0 += kRowTile) {
      for (int64_t i = tile_row; i < kRowTile; i += rows_per_pass) {
        const int64_t row = row0 + i, col = col0 + tile_column;
        tile[i][tile_column] = row < all_rows && col < cols ? g[row * cols + col] : 0.0f;
      }
      __syncthreads();
      if (t < kRowTile)
        for (int64_t j = 0; j < kRowTile && col0 + j < cols; ++j)
          row_sum += static_cast<double>(tile[t][j]) * tile[t][j];
      __syncthreads();  // the tile is read before the next pass overwrites it
    }
    const int64_t row = row0 + t;
    if (t < kRowTile && row < all_rows) {
      float row_mean = static_cast<float>(row_sum / static_cast<double>(cols)) + eps1_added;
      r[row] = lerp(r[row], row_mean, s.one_minus_beta2);  // R_t ← β̂2 R_{t−1} + (1 − β̂2) mean_j(G²)
    }
  }
}

// g: (batches, rows, cols); c: (batches, cols). One thread per column.
__global__ void col_var_kernel(const float* __restrict__ g, float* __restrict__ c, int64_t batches, int64_t rows,
                               int64_t cols, AdafactorScalars s, float eps1_added) {
  int64_t column = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;  // b · cols + j
  if (column >= batches * cols) return;
  int64_t b = column / cols, j = column % cols;
  const float* gb = g + b * rows * cols;
  double column_sum = 0.0;
  for (int64_t i = 0; i < rows; ++i) column_sum += static_cast<double>(gb[i * cols + j]) * gb[i * cols + j];
  float col_mean = static_cast<float>(column_sum / static_cast<double>(rows)) + eps1_added;
  c[column] = lerp(c[column], col_mean, s.one_minus_beta2);  // C_t ← β̂2 C_{t−1} + (1 − β̂2) mean_i(G²)
}

// r: (batches, rows); r_means: (batches,). One block per matrix: its threads copy R kThreads floats at
// a time into __shared__ memory (coalesced), and thread 0 adds them in order, as the CPU does.
__global__ void r_mean_kernel(const float* __restrict__ r, float* __restrict__ r_means, int64_t batches,
                              int64_t rows) {
  MOMENTS_SHARED(float[kThreads], chunk);
  for (int64_t b : rows_of_block(batches)) {
    double r_sum = 0.0;
    for (int64_t i0 = 0; i0 < rows; i0 += kThreads) {
      const int64_t i = i0 + threadIdx.x;
      chunk[threadIdx.x] = i < rows ? r[b * rows + i] : 0.0f;
      __syncthreads();
      if (threadIdx.x == 0)
        for (int64_t k = 0; k < kThreads && i0 + k < rows; ++k) r_sum += chunk[k];
      __syncthreads();  // thread 0 has read the chunk before the next one overwrites it
    }
    if (threadIdx.x == 0) r_means[b] = static_cast<float>(r_sum / static_cast<double>(rows));
  }
}

// g, v: (n,). V̂ for vectors, one thread per element.
__global__ void variance_kernel(const float* __restrict__ g, float* __restrict__ v, int64_t n, AdafactorScalars s,
                                float eps1_added) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k < n) v[k] = lerp(v[k], g[k] * g[k] + eps1_added, s.one_minus_beta2);  // V̂_t ← β̂2 V̂_{t−1} + (1 − β̂2) G²
}

// U_k = G_k / √V̂_k for element k = (b · rows + i) · cols + j: from the factored
// moments r: (batches, rows), c: (batches, cols), r_means: (batches,), or, when r is
// null (vectors), from v: (n,).
__device__ float u_at(int64_t k, const float* g, const float* r, const float* c, const float* r_means, const float* v,
                      int64_t rows, int64_t cols, const AdafactorScalars& s) {
  if (!r) return adafactor_u(g[k], v[k], s);
  int64_t row = k / cols, j = k % cols, b = row / rows;
  float v_hat = factored_v_hat(r[row], c[b * cols + j], r_means[b], s);
  return adafactor_u(g[k], v_hat, s);
}

// Σ U², g: (n,). partials: (gridDim.x,).
__global__ void sum_u_squares_kernel(const float* __restrict__ g, const float* __restrict__ r,
                                     const float* __restrict__ c, const float* __restrict__ r_means,
                                     const float* __restrict__ v, int64_t rows, int64_t cols, int64_t n,
                                     AdafactorScalars s, double* __restrict__ partials) {
  double sum = 0.0;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float u = u_at(k, g, r, c, r_means, v, rows, cols, s);
    sum += static_cast<double>(u) * u;
  }
  double total = block_sum(sum);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// The step's two scalars, on the device so the host never waits: from Σ X² (x_total, null for an
// empty parameter) α_t = max(ε2, RMS(X_{t−1})) ρ_t (or ρ_t without scale_parameter), written to
// alpha_out as a double; from Σ U² (u_total) step = −α_t / max(1, RMS(U)/d), written to step_out.
// The same double operations the host did before, so the same bits.
__global__ void step_scalars_kernel(const double* __restrict__ x_total, const double* __restrict__ u_total,
                                    int64_t numel, double rho, double eps2, bool scale_parameter,
                                    double clip_threshold, double* __restrict__ alpha_out,
                                    float* __restrict__ step_out) {
  const double n = static_cast<double>(numel);
  const double rms_x = x_total && numel > 0 ? sqrt(x_total[0] / n) : 0.0;
  const double alpha = scale_parameter ? (eps2 < rms_x ? rms_x : eps2) * rho : rho;  // std::max(ε2, RMS(X))
  alpha_out[0] = alpha;
  if (!u_total) return;
  const double rms_u = sqrt(u_total[0] / n);
  const double ratio = rms_u / clip_threshold;
  const double clip = 1.0 < ratio ? ratio : 1.0;  // std::max(1, RMS(U)/d)
  step_out[0] = static_cast<float>(-alpha / clip);
}

// x, g: (n,); m: (n,) when β1 > 0, else null. step[0] = −α_t / max(1, RMS(U)/d).
__global__ void apply_kernel(float* __restrict__ x, const float* __restrict__ g, float* __restrict__ m,
                             const float* __restrict__ r, const float* __restrict__ c,
                             const float* __restrict__ r_means, const float* __restrict__ v, int64_t rows,
                             int64_t cols, int64_t n, AdafactorScalars s, const float* __restrict__ step_at,
                             float beta1, float one_minus_beta1) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= n) return;
  const float step = step_at[0];
  float u = u_at(k, g, r, c, r_means, v, rows, cols, s);
  float x_k = x[k];
  if (!m) {
    x_k = x_k + step * u;  // X_t ← X_{t−1} − α_t Û_t
  } else {
    float m_k = m[k] * beta1 + one_minus_beta1 * (-step * u);  // M_t ← β1 M_{t−1} + (1 − β1) α_t Û_t
    x_k = x_k - m_k;                                          // X_t ← X_{t−1} − M_t
    m[k] = m_k;
  }
  x[k] = x_k;
}

namespace {

// Σ x² over the device array x: (n,), in double, into total[0] on the device.
void sum_squares(const float* x, int64_t n, double* total) {
  unsigned int blocks = std::min(kReduceBlocks, std::max(1u, blocks_for(n, kThreads)));
  DeviceBuffer<double> partials(blocks);
  launch("sum_squares_kernel", sum_squares_kernel, blocks, kThreads, 0, x, n, partials.data());
  launch("sum_partials_kernel", sum_partials_kernel, 1, kThreads, 0, partials.data(), int64_t{blocks}, total);
}

}  // namespace

void adafactor_update(float* x, const float* g, float* r, float* c, float* v, float* m, const AdafactorStep& o,
                      float* alpha_out) {
  const double t = static_cast<double>(o.t);
  const int64_t numel = o.batches * o.rows * o.cols;
  double* alpha = reinterpret_cast<double*>(alpha_out);  // two floats hold α_t as a double

  // ρ_t and α_t = max(ε2, RMS(X_{t−1})) ρ_t — RMS before weight decay (step_scalars_kernel).
  double rho = o.relative_step ? std::min(o.learning_rate, 1.0 / std::sqrt(t)) : o.learning_rate;
  DeviceBuffer<double> x_total(1), u_total(1);
  if (numel > 0 && o.scale_parameter) sum_squares(x, numel, x_total.data());
  if (numel == 0) {
    launch("step_scalars_kernel", step_scalars_kernel, 1, 1, 0, static_cast<const double*>(nullptr),
           static_cast<const double*>(nullptr), numel, rho, o.eps2, o.scale_parameter, o.clip_threshold, alpha,
           static_cast<float*>(nullptr));
    return;
  }

  // Decoupled weight decay: X ← X (1 − lr λ).
  if (o.weight_decay != 0.0) {
    float decay = static_cast<float>(1.0 - o.learning_rate * o.weight_decay);
    launch("scale_kernel", scale_kernel, blocks_for(numel, kThreads), kThreads, 0, x, numel, decay);
  }

  AdafactorScalars s{static_cast<float>(std::pow(t, o.beta2_decay)),  // 1 − β̂2_t = t^c
                     static_cast<float>(o.eps1), o.eps1_in_square, o.maximize ? -1.0f : 1.0f};
  float eps1_added = o.eps1_in_square ? s.eps1 : 0.0f;  // the paper's G² + ε1

  // Second moment: R and C (factored), or V̂ (vectors).
  DeviceBuffer<float> r_means(o.batches);  // mean(R) per matrix
  if (o.factored) {
    launch("row_var_kernel", row_var_kernel, row_blocks((o.batches * o.rows + kRowTile - 1) / kRowTile), kThreads, 0,
           g, r, o.batches, o.rows, o.cols, s, eps1_added);
    launch("col_var_kernel", col_var_kernel, blocks_for(o.batches * o.cols, kThreads), kThreads, 0, g, c, o.batches,
           o.rows, o.cols, s, eps1_added);
    launch("r_mean_kernel", r_mean_kernel, row_blocks(o.batches), kThreads, 0, static_cast<const float*>(r),
           r_means.data(), o.batches, o.rows);
  } else {
    launch("variance_kernel", variance_kernel, blocks_for(numel, kThreads), kThreads, 0, g, v, numel, s, eps1_added);
  }
  if (!o.factored) r = nullptr;  // u_at reads V̂ when there is no R

  // U_t = G_t / √V̂_t, visited element by element (twice: for RMS(U), then to apply).
  unsigned int blocks = std::min(kReduceBlocks, std::max(1u, blocks_for(numel, kThreads)));
  DeviceBuffer<double> partials(blocks);
  DeviceBuffer<float> step(1);
  launch("sum_u_squares_kernel", sum_u_squares_kernel, blocks, kThreads, 0, g, r, c, r_means.data(), v,
         o.rows, o.cols, numel, s, partials.data());
  launch("sum_partials_kernel", sum_partials_kernel, 1, kThreads, 0, partials.data(), int64_t{blocks}, u_total.data());
  // Û_t = U_t / max(1, RMS(U_t)/d); the step −α_t / max(1, RMS(U)/d), computed where the sums are.
  launch("step_scalars_kernel", step_scalars_kernel, 1, 1, 0,
         o.scale_parameter ? static_cast<const double*>(x_total.data()) : nullptr,
         static_cast<const double*>(u_total.data()), numel, rho, o.eps2, o.scale_parameter, o.clip_threshold, alpha,
         step.data());

  float beta1 = static_cast<float>(o.beta1), one_minus_beta1 = static_cast<float>(1.0 - o.beta1);
  launch("apply_kernel", apply_kernel, blocks_for(numel, kThreads), kThreads, 0, x, g, o.beta1 == 0.0 ? nullptr : m, r,
         c, r_means.data(), v, o.rows, o.cols, numel, s, static_cast<const float*>(step.data()), beta1,
         one_minus_beta1);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
