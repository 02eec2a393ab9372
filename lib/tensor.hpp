// tensor.hpp — Tensor: float32, N-dimensional, contiguous, row-major.
//
// USAGE
//   #include "moments.hpp"
//   using namespace moments;
//   Tensor w = Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
//   Tensor loss = sum(w * w);          // records the graph (see autograd.hpp)
//   loss.backward();                   // w.grad() == 2 * w
//   std::cout << w.grad() << "\n";     // tensor([[2., 4., 6.], [8., 10., 12.]], shape=[2, 3])
//
// A Tensor IS A SHARED HANDLE. Copying a Tensor copies a pointer: the copy
// aliases the same storage, the same .grad and the same autograd node.
//     Tensor b = a;  b.at({0}) = 5;    // a.at({0}) is 5 as well
// Use clone() for an independent copy, and detach() for a handle on the same
// storage that is cut off from the graph.
//
// Layout: element (i0, i1, ..., ik) lives at offset i0*s0 + ... + ik*sk with
// row-major strides s_last = 1, s_j = s_{j+1} * size_{j+1}. There are no views
// with other strides: reshape and transpose make new contiguous tensors.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "error.hpp"

namespace moments {

namespace cuda {
class Backend;  // cuda/backend.hpp: the executor (GPU or CPU emulator) behind Device::cuda
}

using Shape = std::vector<int64_t>;

enum class Device { cpu, cuda };
const char* device_name(Device device);
// True when Device::cuda tensors can be made: a GPU is present, or the CPU
// emulator is switched on (cuda::set_emulation, MOMENTS_CUDA_EMULATION=1,
// -Dgpu_emulation=enabled; see cuda/backend.hpp).
bool cuda_available();

std::string shape_str(const Shape& shape);  // "[2, 3]"

// SIZE LIMITS. A tensor holds at most kMaxTensorBytes of floats: 2^47 bytes (128 TiB), the
// user address space of x86-64, so no buffer a machine could map is refused, and element
// counts, byte counts and offsets can never overflow int64_t or size_t. Every shape a tensor
// takes passes checked_numel, which refuses, naming `op` and the shape:
//   - a negative size;
//   - a product of sizes that overflows int64_t, or holds more than kMaxTensorNumel floats.
// The limit applies to the product of the NONZERO sizes, so [0, 2^62, 2^62] is refused as
// well: then every partial product of a tensor's sizes (outer · inner blocks, strides) fits,
// and so does the shape with its 0s made 1s (a sum over an empty dim makes that tensor).
// A buffer under the limit that the system cannot give (more than memory and swap) is a
// moments::Error naming the op, the shape and the bytes, not std::bad_alloc.
inline constexpr int64_t kMaxTensorBytes = int64_t{1} << 47;
inline constexpr int64_t kMaxTensorNumel = kMaxTensorBytes / static_cast<int64_t>(sizeof(float));  // 2^45
// The number of elements of `shape` (1 for []), checked as above.
int64_t checked_numel(const Shape& shape, const char* op);
inline int64_t shape_numel(const Shape& shape) { return checked_numel(shape, "shape_numel"); }

// The memory behind a tensor. CPU storage is plain host memory (buffers of 64 KiB
// and more are recycled for the next tensor of the same size: see tensor.cpp); CUDA storage is
// device memory from the active cuda::Backend, which it remembers: data() is then
// a device pointer, for kernels only (copy with Tensor::to or to_vector to read it).
class Storage {
 public:
  // numel in [0, kMaxTensorNumel] (an Error otherwise); a refused cpu allocation
  // throws std::bad_alloc, which Tensor::empty turns into an Error naming the shape.
  Storage(int64_t numel, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  float* data() { return data_; }
  const float* data() const { return data_; }
  int64_t numel() const { return numel_; }
  int64_t bytes() const { return numel_ * static_cast<int64_t>(sizeof(float)); }
  Device device() const { return device_; }
  cuda::Backend* backend() const { return backend_; }  // null for cpu storage

 private:
  float* data_ = nullptr;
  int64_t numel_ = 0;
  Device device_ = Device::cpu;
  cuda::Backend* backend_ = nullptr;
};

class Tensor;
struct Node;

// What a Tensor handle points at. Not used directly by learners.
struct TensorImpl {
  Shape shape;
  std::shared_ptr<Storage> storage;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated gradient (leaves only)
  std::shared_ptr<Node> node;        // the op that made this tensor; null for leaves
  TensorImpl() = default;
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;
  ~TensorImpl();  // frees long graphs without deep recursion (autograd.cpp)
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories -------------------------------------------------------
  // Each checks its shape with checked_numel (see SIZE LIMITS above) and names
  // itself in the error; empty() names `op` instead, for ops that make their outputs.
  static Tensor empty(const Shape& shape, Device device = Device::cpu, const char* op = "Tensor::empty");  // uninitialised
  static Tensor zeros(const Shape& shape, Device device = Device::cpu);
  static Tensor ones(const Shape& shape, Device device = Device::cpu);
  static Tensor full(const Shape& shape, float value, Device device = Device::cpu);
  static Tensor scalar(float value);                                  // shape []
  static Tensor arange(int64_t n);                                    // 0, 1, ..., n-1
  static Tensor arange(float start, float stop, float step = 1.0f);   // [start, stop)
  static Tensor from(const std::vector<float>& values, const Shape& shape);
  static Tensor from(const std::vector<float>& values);               // 1-D
  // rand/randn live in random.hpp (they need a Generator).

  // ---- properties ------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const {
    check_defined("Tensor::shape");
    return impl_->shape;
  }
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const {
    check_defined("Tensor::numel");
    return impl_->storage->numel();
  }
  Device device() const {
    check_defined("Tensor::device");
    return impl_->storage->device();
  }
  // The executor holding a cuda tensor's memory, whose kernels must work on it
  // (throws for a cpu tensor).
  cuda::Backend& cuda_backend() const;

  // ---- data access ------------------------------------------------------
  // The raw buffer: numel() floats, row-major (a device pointer for cuda tensors).
  float* data() {
    check_defined("Tensor::data");
    return impl_->storage->data();
  }
  const float* data() const {
    check_defined("Tensor::data");
    return impl_->storage->data();
  }
  float item() const;                              // the value of a 1-element tensor (copied back from cuda)
  // Element access (cpu only), checked: each coordinate within its dim, and the
  // offset within the storage (a shape set by hand through impl() cannot reach past it).
  float& at(std::initializer_list<int64_t> index);
  float at(std::initializer_list<int64_t> index) const;
  std::vector<float> to_vector() const;            // a host copy, from either device

  Tensor clone() const;   // deep copy, detached from the graph
  Tensor detach() const;  // same storage, no graph, requires_grad false
  Tensor to(Device device) const;  // a copy on `device` (this tensor itself if already there)

  // ---- autograd (implemented in autograd.cpp) ---------------------------
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);  // only on leaves
  bool is_leaf() const;
  Tensor grad() const;        // undefined until a backward() reaches this leaf
  void set_grad(const Tensor& grad);
  void zero_grad();           // drops the gradient (grad() becomes undefined)
  void backward() const;                        // scalar outputs only
  void backward(const Tensor& grad_output) const;  // any shape; seed gradient
  std::shared_ptr<Node> node() const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  void check_defined(const char* what) const {
    if (!impl_) [[unlikely]] fail_undefined(what);
  }
  [[noreturn]] static void fail_undefined(const char* what);
  std::shared_ptr<TensorImpl> impl_;
};

// Prints shape and values; large tensors show their first and last 3 entries
// along each dimension with "..." between. cuda tensors are copied back to print,
// and say ", device=cuda".
std::ostream& operator<<(std::ostream& out, const Tensor& tensor);
std::string to_string(const Tensor& tensor);

}  // namespace moments
