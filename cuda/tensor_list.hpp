// cuda/tensor_list.hpp — one launch for many tensors: the multi-tensor path of the element-wise
// optimizer kernels, as PyTorch's foreach/fused Adam and llm.c's one AdamW launch do.
//
// A RULE is one optimizer's element update over up to kListBuffers flat buffers (θ, g, state...):
//   struct AdamRule {
//     using Scalars = AdamScalars;
//     static constexpr unsigned kReads = 0b11111, kWrites = 0b11101;  // bit k: buffer k (θ, g, m, v, v_max)
//     __device__ static void apply(float* const* b, int64_t i, const AdamScalars& s);  // element i
//   };
// Each thread takes four consecutive elements (apply4): where the tensor's buffers are 16-byte aligned
// (cudaMalloc's and the caching allocator's are) it loads each buffer the rule reads as one float4,
// runs apply on those registers four times and stores each buffer the rule writes as one float4 — the
// fewest, widest memory operations, which is what bounds an optimizer step; elsewhere (a view one
// float in, a tensor's last n mod 4 elements) it runs apply on memory float by float. The same apply
// per element either way, so the same bits; kReads and kWrites must name every buffer apply reads and
// writes (a missing bit reads zeros or drops a store, and the cuda suite's bit-for-bit checks fail).
// tensor_kernel<Rule> runs it over one tensor (the readable per-tensor path: a grid-stride loop over
// its groups of four); tensor_list_kernel<Rule> over a TensorList of up to kListTensors tensors, one
// block per kThreads · 4 elements of each (a block finds its tensor by binary search in first_block).
//
// WHEN THE LIST PATH RUNS: Optimizer::step() opens a launch batch on the backend (backend.hpp:
// begin_launch_batch). While it is open, the backend queues each element-wise optimizer call
// (queue_rule below) instead of launching it; consecutive calls of the same rule with the same
// scalars share a list. The queue is flushed as one launch per list when the batch closes, when a
// list is full, and before anything else touches the device (every other launch, copy or cudaFree),
// so nothing can observe the order having changed.
//
// The list travels in the kernel's parameters (at most 4 KiB): 64 tensors × 5 pointers, their sizes
// and first blocks are 3.6 KiB, so a group of 100 tensors takes 2 launches.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "launch.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {

constexpr int kListBuffers = 5;   // θ, g and up to three state buffers (Adam with AMSGrad: m, v, v_max)
constexpr int kListTensors = 64;  // tensors per launch
constexpr int kPerThread = 4;     // consecutive elements per thread: one float4 per buffer

struct TensorList {
  int count = 0;
  int64_t first_block[kListTensors + 1] = {};  // tensor t's blocks are [first_block[t], first_block[t + 1])
  int64_t size[kListTensors] = {};
  float* buffer[kListBuffers][kListTensors] = {};  // buffer[k][t]: tensor t's k-th buffer (null if unused)
};

// The two commonest shapes of a rule, for element functions of lib/optim/*_math.hpp that take their
// values by reference: b[0] (θ, or the one state) and b[2], b[3] are loaded once into registers,
// updated by Element together with b[1] (g, read only) and the scalars, and stored once.
//   using AdamaxRule = TwoStateRule<AdamaxScalars, adamax_update_element>;  // θ, g, m, u
template <class S, void (*Element)(float&, float, float&, float&, const S&)>
struct TwoStateRule {
  using Scalars = S;
  static constexpr unsigned kReads = 0b01111, kWrites = 0b01101;
  __device__ static void apply(float* const* b, int64_t i, const S& s) {
    float x = b[0][i], first = b[2][i], second = b[3][i];
    Element(x, b[1][i], first, second, s);
    b[0][i] = x;
    b[2][i] = first;
    b[3][i] = second;
  }
};
template <class S, void (*Element)(float&, float, const S&)>
struct OneStateRule {  // b: the value updated in place, then one input
  using Scalars = S;
  static constexpr unsigned kReads = 0b00011, kWrites = 0b00001;
  __device__ static void apply(float* const* b, int64_t i, const S& s) {
    float x = b[0][i];
    Element(x, b[1][i], s);
    b[0][i] = x;
  }
};

// Whether every buffer can be read as float4 (a null one is unused, and 0 is aligned).
__device__ inline bool aligned4(float* const* b) {
  bool aligned = true;
  for (int k = 0; k < kListBuffers; ++k) aligned = aligned && reinterpret_cast<uintptr_t>(b[k]) % 16 == 0;
  return aligned;
}

// Elements [i, i + 4) of a tensor of n (fewer at its end): through registers, four at a time, where
// `aligned` (aligned4 of b) and all four exist; float by float otherwise. i is a multiple of 4.
// In registers apply sees no null buffer: a rule knows which of its buffers exist from its scalars
// (Adam's amsgrad, SGD's momentum), never by testing a pointer.
template <class Rule>
__device__ void apply4(float* const* b, int64_t i, int64_t n, bool aligned, const typename Rule::Scalars& s) {
  if (!aligned || i + kPerThread > n) {
    for (int64_t e = i; e < i + kPerThread && e < n; ++e) Rule::apply(b, e, s);
    return;
  }
  float r[kListBuffers][kPerThread] = {};  // buffer k's four values
  float* const in_registers[kListBuffers] = {r[0], r[1], r[2], r[3], r[4]};  // what apply reads and writes
  for (int k = 0; k < kListBuffers; ++k) {
    if (b[k] && ((Rule::kReads >> k) & 1u)) {
      const float4 v = *reinterpret_cast<const float4*>(b[k] + i);  // one load
      r[k][0] = v.x, r[k][1] = v.y, r[k][2] = v.z, r[k][3] = v.w;
    }
  }
  for (int j = 0; j < kPerThread; ++j) Rule::apply(in_registers, j, s);
  for (int k = 0; k < kListBuffers; ++k)
    if (b[k] && ((Rule::kWrites >> k) & 1u))
      *reinterpret_cast<float4*>(b[k] + i) = float4{r[k][0], r[k][1], r[k][2], r[k][3]};  // one store
}

// One tensor: b holds its buffers (n elements each); a grid-stride loop over its groups of four.
template <class Rule>
__global__ void tensor_kernel(float* b0, float* b1, float* b2, float* b3, float* b4, int64_t n,
                              const typename Rule::Scalars s) {
  float* const b[kListBuffers] = {b0, b1, b2, b3, b4};
  const bool aligned = aligned4(b);
  for (int64_t q : grid_stride((n + kPerThread - 1) / kPerThread)) apply4<Rule>(b, q * kPerThread, n, aligned, s);
}

// Every tensor of the list; blocks of kThreads · 4 elements, the list's blocks end to end.
template <class Rule>
__global__ void tensor_list_kernel(const TensorList list, const typename Rule::Scalars s) {
  const int64_t block = blockIdx.x;
  int lo = 0, hi = list.count - 1;  // the last t with first_block[t] ≤ block
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (list.first_block[mid] <= block) lo = mid;
    else hi = mid - 1;
  }
  const int64_t i = ((block - list.first_block[lo]) * blockDim.x + threadIdx.x) * kPerThread;
  if (i >= list.size[lo]) return;
  float* const b[kListBuffers] = {list.buffer[0][lo], list.buffer[1][lo], list.buffer[2][lo], list.buffer[3][lo],
                                  list.buffer[4][lo]};
  apply4<Rule>(b, i, list.size[lo], aligned4(b), s);
}

// The per-tensor launch: `name` is the kernel's, for messages.
template <class Rule>
void launch_rule(const char* name, const float* const* b, int64_t n, const typename Rule::Scalars& s) {
  if (n <= 0) return;
  float* p[kListBuffers];
  for (int k = 0; k < kListBuffers; ++k) p[k] = const_cast<float*>(b[k]);  // inputs are only read by the rule
  launch(name, tensor_kernel<Rule>, element_blocks((n + kPerThread - 1) / kPerThread, kThreads), kThreads, 0, p[0], p[1],
         p[2], p[3], p[4], n, s);
}

// ---- the queue of an open launch batch (backend.cu owns the one instance) -----------------------
class PendingList {
 public:
  bool open = false;

  void begin() { open = ++depth_ > 0; }
  void end() {  // the outermost end launches what is queued
    if (depth_ == 0 || --depth_ > 0) return;
    open = false;
    flush();
  }

  // Queues one tensor's update of `Rule`; launches the list first if it cannot join it.
  template <class Rule>
  void add(const char* name, const float* const* b, int64_t n, const typename Rule::Scalars& s) {
    static_assert(std::is_trivially_copyable_v<typename Rule::Scalars> && sizeof(s) <= kScalarBytes);
    if (n <= 0) return;
    unsigned char bytes[kScalarBytes] = {};
    std::memcpy(bytes, &s, sizeof(s));
    if (list_.count > 0 && (launcher_ != &launch_list<Rule> || std::memcmp(bytes, scalars_, kScalarBytes) != 0))
      flush();
    const int64_t blocks = blocks_for((n + kPerThread - 1) / kPerThread, kThreads);
    if (list_.count == kListTensors || list_.first_block[list_.count] + blocks > kMaxGridX) flush();
    launcher_ = &launch_list<Rule>;
    name_ = name;
    std::memcpy(scalars_, bytes, kScalarBytes);
    const int t = list_.count++;
    list_.first_block[t + 1] = list_.first_block[t] + blocks;
    list_.size[t] = n;
    for (int k = 0; k < kListBuffers; ++k) list_.buffer[k][t] = const_cast<float*>(b[k]);
  }

  // Launches what is queued (one launch); safe to call with nothing queued.
  void flush() {
    if (list_.count == 0) return;
    const TensorList list = list_;
    list_ = TensorList{};  // emptied first: the launch below must not flush it again
    launcher_(name_, list, scalars_);
  }

 private:
  static constexpr size_t kScalarBytes = 128;
  template <class Rule>
  static void launch_list(const char* name, const TensorList& list, const unsigned char* scalars) {
    typename Rule::Scalars s;
    std::memcpy(&s, scalars, sizeof(s));
    const int64_t blocks = list.first_block[list.count];
    launch_unqueued(name, tensor_list_kernel<Rule>, static_cast<unsigned int>(blocks), kThreads, 0, list, s);
  }
  int depth_ = 0;
  TensorList list_;
  void (*launcher_)(const char*, const TensorList&, const unsigned char*) = nullptr;
  const char* name_ = "";
  unsigned char scalars_[kScalarBytes] = {};
};

PendingList& pending_list();  // backend.cu

// What an optimizer's host entry point calls: queued while a batch is open, else launched now.
template <class Rule>
void run_rule(const char* name, const float* const* b, int64_t n, const typename Rule::Scalars& s) {
  if (pending_list().open) return pending_list().add<Rule>(name, b, n, s);
  launch_rule<Rule>(name, b, n, s);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
