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
int64_t shape_numel(const Shape& shape);

// The memory behind a tensor. CPU storage is plain host memory (buffers of 64 KiB
// and more are recycled for the next tensor of the same size: see tensor.cpp); CUDA storage is
// device memory from the active cuda::Backend, which it remembers: data() is then
// a device pointer, for kernels only (copy with Tensor::to or to_vector to read it).
class Storage {
 public:
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
  static Tensor empty(const Shape& shape, Device device = Device::cpu);  // uninitialised
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
  float& at(std::initializer_list<int64_t> index);  // bounds-checked element access (cpu only)
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
