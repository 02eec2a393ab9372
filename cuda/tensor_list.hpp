// cuda/tensor_list.hpp — one launch for many tensors: the multi-tensor path of the element-wise
// optimizer kernels, as PyTorch's foreach/fused Adam and llm.c's one AdamW launch do.
//
// A RULE is one optimizer's element update over up to kListBuffers flat buffers (θ, g, state...):
//   struct AdamRule {
//     using Scalars = AdamScalars;
//     __device__ static void apply(float* const* b, int64_t i, const AdamScalars& s);  // element i
//   };
// tensor_kernel<Rule> runs it over one tensor (the readable per-tensor path: a grid-stride loop over
// its elements); tensor_list_kernel<Rule> over a TensorList of up to kListTensors tensors, one block per
// 256 elements of each (a block finds its tensor by binary search in first_block). Both call the
// same apply, so the two paths give the same bits.
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
  __device__ static void apply(float* const* b, int64_t i, const S& s) {
    float x = b[0][i];
    Element(x, b[1][i], s);
    b[0][i] = x;
  }
};

// One tensor: b holds its buffers (n elements each); a grid-stride loop (runtime.hpp).
template <class Rule>
__global__ void tensor_kernel(float* b0, float* b1, float* b2, float* b3, float* b4, int64_t n,
                              const typename Rule::Scalars s) {
  float* const b[kListBuffers] = {b0, b1, b2, b3, b4};
  for (int64_t i : grid_stride(n)) Rule::apply(b, i, s);
}

// Every tensor of the list; blocks of kThreads elements, the list's blocks end to end.
template <class Rule>
__global__ void tensor_list_kernel(const TensorList list, const typename Rule::Scalars s) {
  const int64_t block = blockIdx.x;
  int lo = 0, hi = list.count - 1;  // the last t with first_block[t] ≤ block
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (list.first_block[mid] <= block) lo = mid;
    else hi = mid - 1;
  }
  const int64_t i = (block - list.first_block[lo]) * blockDim.x + threadIdx.x;
  if (i >= list.size[lo]) return;
  float* const b[kListBuffers] = {list.buffer[0][lo], list.buffer[1][lo], list.buffer[2][lo], list.buffer[3][lo],
                                  list.buffer[4][lo]};
  Rule::apply(b, i, s);
}

// The per-tensor launch: `name` is the kernel's, for messages.
template <class Rule>
void launch_rule(const char* name, const float* const* b, int64_t n, const typename Rule::Scalars& s) {
  if (n <= 0) return;
  float* p[kListBuffers];
  for (int k = 0; k < kListBuffers; ++k) p[k] = const_cast<float*>(b[k]);  // inputs are only read by the rule
  launch(name, tensor_kernel<Rule>, element_blocks(n, kThreads), kThreads, 0, p[0], p[1], p[2], p[3], p[4], n, s);
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
    if (list_.count == kListTensors) flush();
    launcher_ = &launch_list<Rule>;
    name_ = name;
    std::memcpy(scalars_, bytes, kScalarBytes);
    const int t = list_.count++;
    list_.first_block[t + 1] = list_.first_block[t] + blocks_for(n, kThreads);
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
