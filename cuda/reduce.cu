// cuda/reduce.cu — sum and max along one dim, the kernels behind sum, mean, max and
// sum_to (the gradient of broadcasting) in lib/ops.cpp.
//
// A tensor reduced along dim d is seen as (outer, n, inner) blocks (ops.cpp's Split):
// out[o, i] = Σ_j x[o, j, i].
//   sum_rows_kernel     inner == 1 (the last dim, or everything): one block per row, or per
//                       segment of a long row; each thread adds a strided share of it, then
//                       the block adds the shares as a tree in __shared__ memory
//                       (block_reduce.hpp). A row longer than kRowSegment is cut into
//                       segments_for(n) segments (at most kMaxSegments), one block each, and a
//                       second launch adds each row's segment sums the same way: a whole-tensor
//                       sum of 10^8 floats runs on 1024 blocks, not one. The number of segments
//                       is a function of n alone, never of the GPU, so the order of the
//                       additions — and the bits — are the same on every device.
//   sum_columns_kernel  inner > 1: one thread per (o, i) — per (o, segment, i) when the column
//                       is longer than kColumnSegment — adding down j in order (consecutive
//                       threads read consecutive floats), then a second launch adding the
//                       segments' sums in order. Columns of at most kColumnSegment add exactly
//                       as the CPU's column sums do; longer ones in kColumnSegment-long runs.
//   max_rows_kernel     inner == 1: one block per row, reading it coalesced; (value, index)
//                       pairs meet in a tree that keeps the smaller index on a tie and lets a
//                       NaN win, so the result is exactly the CPU loop's first maximum.
//   max_kernel          inner > 1: one thread per (o, i) walking j (coalesced across i).
//   scatter_kernel      max's backward: g[o, i] goes back to x's place [o, index, i].
// Scratch for the segment sums comes from the caching allocator (device_buffer.hpp).
#include "block_reduce.hpp"
#include "device_buffer.hpp"
#include "kernels.hpp"
#include "launch.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {

constexpr int64_t kRowSegment = 8192;     // a longer row is summed by several blocks
constexpr int64_t kColumnSegment = 256;   // a longer column is summed by several threads
constexpr int64_t kMaxSegments = 1024;    // at most this many pieces per row or column

// Pieces of at most `piece` elements covering n, but no more than kMaxSegments (longer pieces then).
inline int64_t segments_for(int64_t n, int64_t piece) {
  const int64_t pieces = (n + piece - 1) / piece;
  return pieces < 1 ? 1 : (pieces > kMaxSegments ? kMaxSegments : pieces);
}

// x: (rows, n) → out: (rows, segments), out[r, s] = the sum of segment s of row r (segments of
// ⌈n / segments⌉ elements, the last shorter). blockDim.x a power of two.
__global__ void sum_rows_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t rows, int64_t n,
                                int64_t segments) {
  MOMENTS_SHARED(float[kMaxRowThreads], partial);
  const int64_t length = (n + segments - 1) / segments;
  for (int64_t piece : rows_of_block(rows * segments)) {  // piece = r · segments + s
    const float* row = x + (piece / segments) * n;
    const int64_t begin = (piece % segments) * length, end = begin + length < n ? begin + length : n;
    float share = 0.0f;
    for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) share += row[j];
    float total = block_sum(share, partial);
    if (threadIdx.x == 0) out[piece] = total;
  }
}

// x: (outer, n, inner) → out: (outer, segments, inner), the sums down segments of ⌈n / segments⌉
// rows; with one segment, out: (outer, inner).
__global__ void sum_columns_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t outer, int64_t n,
                                   int64_t inner, int64_t segments) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;  // (o · segments + s) · inner + i
  if (k >= outer * segments * inner) return;
  const int64_t i = k % inner, s = (k / inner) % segments, o = k / (inner * segments);
  const int64_t length = (n + segments - 1) / segments;
  const int64_t begin = s * length, end = begin + length < n ? begin + length : n;
  const float* column = x + o * n * inner + i;
  float total = 0.0f;
  for (int64_t j = begin; j < end; ++j) total += column[j * inner];
  out[k] = total;
}

// Is (candidate, at) the better maximum than (current, best)? A NaN beats a number; between equals
// (or two NaNs) the smaller index wins: so any order of comparisons finds the first maximum.
__device__ inline bool better_max(float candidate, int64_t at, float current, int64_t best) {
  const bool candidate_nan = candidate != candidate, current_nan = current != current;
  if (candidate_nan || current_nan) return candidate_nan && (!current_nan || at < best);
  return candidate > current || (candidate == current && at < best);
}

// x: (rows, n) → values, indices: (rows); n ≥ 1. One block per row, blockDim.x a power of two.
__global__ void max_rows_kernel(const float* __restrict__ x, float* __restrict__ values,
                                float* __restrict__ indices, int64_t rows, int64_t n) {
  MOMENTS_SHARED(float[kMaxRowThreads], best_value);
  MOMENTS_SHARED(int64_t[kMaxRowThreads], best_index);
  const unsigned int t = threadIdx.x;
  for (int64_t r : rows_of_block(rows)) {
    const float* row = x + r * n;
    float value = row[0];  // every thread starts from j = 0, so no thread is left without a candidate
    int64_t index = 0;
    for (int64_t j = t; j < n; j += blockDim.x)
      if (better_max(row[j], j, value, index)) value = row[j], index = j;
    best_value[t] = value;
    best_index[t] = index;
    __syncthreads();
    for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
      if (t < half && better_max(best_value[t + half], best_index[t + half], best_value[t], best_index[t])) {
        best_value[t] = best_value[t + half];
        best_index[t] = best_index[t + half];
      }
      __syncthreads();
    }
    if (t == 0) {
      values[r] = best_value[0];
      indices[r] = static_cast<float>(best_index[0]);
    }
    __syncthreads();  // thread 0 has read the winner before the next row overwrites it
  }
}

// x: (outer, n, inner) → values, indices: (outer, inner); n ≥ 1.
__global__ void max_kernel(const float* x, float* values, float* indices, int64_t outer, int64_t n, int64_t inner) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= outer * inner) return;
  int64_t o = k / inner, i = k % inner;
  const float* column = x + o * n * inner + i;
  int64_t best = 0;
  for (int64_t j = 1; j < n; ++j)
    if (better_max(column[j * inner], j, column[best * inner], best)) best = j;
  values[k] = column[best * inner];
  indices[k] = static_cast<float>(best);
}

// g, indices: (outer, inner) → out: (outer, n, inner), already zero.
__global__ void scatter_kernel(const float* g, const float* indices, float* out, int64_t outer, int64_t n,
                               int64_t inner) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= outer * inner) return;
  int64_t o = k / inner, i = k % inner;
  out[o * n * inner + static_cast<int64_t>(indices[k]) * inner + i] = g[k];
}

namespace {

void sum_rows(const float* x, float* out, int64_t rows, int64_t n) {
  const int64_t segments = n > kRowSegment ? segments_for(n, kRowSegment) : 1;
  if (segments == 1) {
    launch("sum_rows_kernel", sum_rows_kernel, row_blocks(rows), row_threads(n), 0, x, out, rows, n, int64_t{1});
    return;
  }
  DeviceBuffer<float> pieces(rows * segments);  // (rows, segments)
  launch("sum_rows_kernel", sum_rows_kernel, row_blocks(rows * segments), kMaxRowThreads, 0, x, pieces.data(), rows,
         n, segments);
  launch("sum_rows_kernel", sum_rows_kernel, row_blocks(rows), row_threads(segments), 0,
         static_cast<const float*>(pieces.data()), out, rows, segments, int64_t{1});
}

void sum_columns(const float* x, float* out, int64_t outer, int64_t n, int64_t inner) {
  const int64_t segments = n > kColumnSegment ? segments_for(n, kColumnSegment) : 1;
  if (segments == 1) {
    launch("sum_columns_kernel", sum_columns_kernel, blocks_for(outer * inner, kThreads), kThreads, 0, x, out, outer,
           n, inner, int64_t{1});
    return;
  }
  DeviceBuffer<float> pieces(outer * segments * inner);  // (outer, segments, inner)
  launch("sum_columns_kernel", sum_columns_kernel, blocks_for(outer * segments * inner, kThreads), kThreads, 0, x,
         pieces.data(), outer, n, inner, segments);
  launch("sum_columns_kernel", sum_columns_kernel, blocks_for(outer * inner, kThreads), kThreads, 0,
         static_cast<const float*>(pieces.data()), out, outer, segments, inner, int64_t{1});
}

}  // namespace

void sum_dim(const float* x, float* out, int64_t outer, int64_t n, int64_t inner) {
  if (outer * inner == 0) return;
  if (n == 0) return fill(out, outer * inner, 0.0f);
  if (inner == 1) sum_rows(x, out, outer, n);
  else sum_columns(x, out, outer, n, inner);
}

void max_dim(const float* x, float* values, float* indices, int64_t outer, int64_t n, int64_t inner) {
  if (outer * inner == 0) return;
  if (inner == 1)
    launch("max_rows_kernel", max_rows_kernel, row_blocks(outer), row_threads(n), 0, x, values, indices, outer, n);
  else
    launch("max_kernel", max_kernel, blocks_for(outer * inner, kThreads), kThreads, 0, x, values, indices, outer, n,
           inner);
}

void scatter_dim(const float* g, const float* indices, float* out, int64_t outer, int64_t n, int64_t inner) {
  if (outer * inner > 0)
    launch("scatter_kernel", scatter_kernel, blocks_for(outer * inner, kThreads), kThreads, 0, g, indices, out, outer,
           n, inner);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
