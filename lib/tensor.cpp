// tensor.cpp — storage, factories, element access and printing.
#include "tensor.hpp"

#include <atomic>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <new>
#include <ostream>
#include <sstream>

#include "autograd.hpp"
#include "size_cache.hpp"
#include "backend.hpp"  // cuda/: the executor behind Device::cuda (GPU or CPU emulator)

namespace moments {

const char* device_name(Device device) { return device == Device::cpu ? "cpu" : "cuda"; }

bool cuda_available() { return cuda::available(); }

// The backend that makes new cuda buffers, or an error naming `what` and how to get one.
static cuda::Backend& backend_for_new(const char* what) {
  if (!cuda::available()) fail(what, ": cannot make a cuda tensor: ", cuda::unavailable_reason());
  return cuda::active_backend();
}

std::string shape_str(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

// What every size error ends with: the limit, in elements and bytes.
static std::string size_limit_text() {
  std::ostringstream out;
  out << "a tensor holds at most kMaxTensorNumel = " << kMaxTensorNumel << " elements (kMaxTensorBytes = "
      << kMaxTensorBytes << " bytes, 128 TiB)";
  return out.str();
}

int64_t checked_numel(const Shape& shape, const char* op) {
  int64_t nonzero = 1;  // the product of the nonzero sizes: the limit applies to it (see tensor.hpp)
  bool has_zero = false, overflows = false;
  for (int64_t size : shape) {
    if (size < 0) fail(op, ": shape ", shape_str(shape), " has a negative size (sizes must be >= 0)");
    if (size == 0) has_zero = true;
    else overflows = overflows || __builtin_mul_overflow(nonzero, size, &nonzero);
  }
  if (overflows)
    fail(op, ": shape ", shape_str(shape), ": the product of its ", has_zero ? "nonzero " : "",
         "sizes overflows int64_t; ", size_limit_text());
  if (nonzero > kMaxTensorNumel)
    fail(op, ": shape ", shape_str(shape), has_zero ? ": its nonzero sizes multiply to " : " has ", nonzero,
         " elements of ", sizeof(float), " bytes; ", size_limit_text());
  return has_zero ? 0 : nonzero;
}

// ---- Storage -------------------------------------------------------------

static constexpr std::align_val_t kAlignment{64};  // a cache line; lets Eigen use aligned loads

namespace {

// Large CPU buffers are recycled. A training step allocates the same sizes every
// step (activations, gradients) and frees them by the next one. Handed to malloc,
// such buffers interleave with the small allocations that live on (a vector of
// losses, the monitor's records): each step a freed buffer's hole gets a small
// allocation in it, the next step's buffer no longer fits, and the heap grows by
// about one buffer per step (measured: +230 KB per step for the tutorial's MLP,
// every new page a page fault). Here a freed buffer of at least kMinBytes waits in
// a free list for the next request of exactly its size; at most kMaxCachedBytes
// wait at once (beyond that, buffers go back to the system). Under AddressSanitizer
// every buffer is freed at once, so use-after-free is still caught.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)  // clang's spelling
#define MOMENTS_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(MOMENTS_ASAN)  // GCC's, then clang's
constexpr bool kRecycle = false;
#else
constexpr bool kRecycle = true;
#endif
constexpr size_t kMinBytes = size_t{64} << 10;         // 64 KiB: smaller ones malloc handles well
constexpr size_t kMaxCachedBytes = size_t{512} << 20;  // 512 MiB

// Large buffers start at staggered offsets within a page. The system allocator hands every large
// buffer out at the same offset within its page (mmap'd, after a header), so the i-th elements of θ, g,
// m and v share their address's low 12 bits, and a loop that reads some of them while it writes others
// stalls on false store-to-load dependencies (4K aliasing). Adam's step on 16.8M parameters, one thread:
// 15 ms with all four at one offset, 9-10 ms with them apart (2026-12-03, 2-core AMD EPYC VM).
constexpr size_t kStaggerBytes = size_t{1} << 20;  // buffers of 1 MiB and more
constexpr size_t kPage = 4096, kLine = 64;

void* allocate_staggered(size_t bytes) {
  static std::atomic<unsigned> next{0};
  size_t color = (next.fetch_add(1, std::memory_order_relaxed) * 23u) % (kPage / kLine);  // 23: far apart in turn
  size_t shift = kLine * (1 + color);  // at least one line: room for the pointer to free
  char* raw = static_cast<char*>(::operator new(bytes + shift, kAlignment));
  char* p = raw + shift;
  std::memcpy(p - sizeof(void*), &raw, sizeof(void*));
  return p;
}
void free_staggered(void* p) {
  void* raw = nullptr;
  std::memcpy(&raw, static_cast<char*>(p) - sizeof(void*), sizeof(void*));
  ::operator delete(raw, kAlignment);
}

class BufferCache {
 public:
  void* take(size_t bytes) {
    if (kRecycle && bytes >= kMinBytes)
      if (void* p = kept_.take(bytes)) return p;
    return bytes >= kStaggerBytes ? allocate_staggered(bytes) : ::operator new(bytes, kAlignment);
  }
  void give_back(void* p, size_t bytes) {
    if (kRecycle && bytes >= kMinBytes && kept_.keep(p, bytes)) return;
    if (bytes >= kStaggerBytes) return free_staggered(p);
    ::operator delete(p, kAlignment);
  }
 private:
  SizeCache kept_{kMaxCachedBytes};
};

// Never destroyed: a Tensor in static storage may be freed after any other static.
BufferCache& buffer_cache() {
  static BufferCache* cache = new BufferCache;
  return *cache;
}

size_t cpu_bytes(int64_t numel) { return sizeof(float) * static_cast<size_t>(numel > 0 ? numel : 1); }

}  // namespace

Storage::Storage(int64_t numel, Device device) : numel_(numel), device_(device) {
  if (numel < 0 || numel > kMaxTensorNumel)
    fail("Storage: cannot hold ", numel, " elements (expected 0 to ", kMaxTensorNumel, "; ", size_limit_text(), ")");
  // Always allocate at least one float so data() is never null.
  int64_t count = numel > 0 ? numel : 1;
  if (device == Device::cuda) {
    backend_ = &backend_for_new("Storage");
    data_ = backend_->allocate(count);
    return;
  }
  data_ = static_cast<float*>(buffer_cache().take(cpu_bytes(count)));
}

Storage::~Storage() {
  if (!backend_) {
    buffer_cache().give_back(data_, cpu_bytes(numel_));
    return;
  }
  try {
    backend_->release(data_, numel_ > 0 ? numel_ : 1);  // the count allocate() was given
  } catch (const Error&) {
    // A destructor cannot throw. The only expected failure is at program exit, when
    // the CUDA runtime has already shut down and taken the memory with it.
  }
}

// ---- factories -----------------------------------------------------------

// Every tensor's memory comes from here: the shape is checked (tensor.hpp, SIZE
// LIMITS), and a buffer the system refuses becomes an Error naming `op`, the shape
// and the bytes.
Tensor Tensor::empty(const Shape& shape, Device device, const char* op) {
  int64_t numel = checked_numel(shape, op);
  if (device == Device::cuda) backend_for_new(op);  // no executor: say so, not "cannot allocate"
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  auto refused = [&](const std::string& why) {
    fail(op, ": cannot allocate ", numel * static_cast<int64_t>(sizeof(float)), " bytes for shape ", shape_str(shape),
         " on ", device_name(device), " (", why, ")");
  };
  try {
    impl->storage = std::make_shared<Storage>(numel, device);
  } catch (const std::bad_alloc&) {
    refused("out of memory");
  } catch (const Error& e) {  // cudaMalloc's failure, in the runtime's words
    if (device != Device::cuda) throw;
    refused(e.what());
  }
  return Tensor(std::move(impl));
}

static Tensor filled(const Shape& shape, float value, Device device, const char* op) {
  Tensor t = Tensor::empty(shape, device, op);
  if (device == Device::cuda) t.impl()->storage->backend()->fill(t.data(), t.numel(), value);
  else std::fill(t.data(), t.data() + t.numel(), value);
  return t;
}
Tensor Tensor::full(const Shape& shape, float value, Device device) { return filled(shape, value, device, "Tensor::full"); }
Tensor Tensor::zeros(const Shape& shape, Device device) { return filled(shape, 0.0f, device, "Tensor::zeros"); }
Tensor Tensor::ones(const Shape& shape, Device device) { return filled(shape, 1.0f, device, "Tensor::ones"); }
Tensor Tensor::scalar(float value) { return full({}, value); }

// n elements exactly: through arange(0, float(n)) a count above 2^24 would round to another float.
Tensor Tensor::arange(int64_t n) {
  if (n < 0) fail("arange: ", n, " elements; need n >= 0");
  if (n > kMaxTensorNumel) fail("arange: ", n, " elements; ", size_limit_text());
  Tensor t = empty({n}, Device::cpu, "arange");
  for (int64_t i = 0; i < n; ++i) t.data()[i] = static_cast<float>(i);  // exact up to 2^24, then rounded
  return t;
}

Tensor Tensor::arange(float start, float stop, float step) {
  if (step == 0.0f || !std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step))
    fail("arange: start ", start, ", stop ", stop, ", step ", step, ": need finite values and step != 0");
  double count = std::ceil((static_cast<double>(stop) - start) / step);
  if (count > static_cast<double>(kMaxTensorNumel))  // before the cast to int64_t, which could overflow
    fail("arange: start ", start, ", stop ", stop, ", step ", step, " make ", count, " elements; ", size_limit_text());
  int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  Tensor t = empty({n}, Device::cpu, "arange");
  for (int64_t i = 0; i < n; ++i) t.data()[i] = static_cast<float>(start + static_cast<double>(i) * step);
  return t;
}

Tensor Tensor::from(const std::vector<float>& values, const Shape& shape) {
  int64_t numel = checked_numel(shape, "Tensor::from");
  if (static_cast<int64_t>(values.size()) != numel)
    fail("Tensor::from: ", values.size(), " values cannot fill shape ", shape_str(shape), " (", numel, " elements)");
  Tensor t = empty(shape, Device::cpu, "Tensor::from");
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

Tensor Tensor::from(const std::vector<float>& values) {
  return from(values, {static_cast<int64_t>(values.size())});
}

// ---- properties and access ----------------------------------------------

void Tensor::fail_undefined(const char* what) {
  fail(what, ": the tensor is undefined (default-constructed, or a grad that was never computed)");
}

int64_t Tensor::size(int64_t d) const {
  int64_t n = dim();
  if (d < -n || d >= n) fail("Tensor::size: dim ", d, " is out of range for shape ", shape_str(shape()));
  return shape()[static_cast<size_t>(d < 0 ? d + n : d)];
}


cuda::Backend& Tensor::cuda_backend() const {
  check_defined("cuda_backend");
  if (!impl_->storage->backend()) fail("cuda_backend: this tensor is on ", device_name(device()), ", not cuda");
  return *impl_->storage->backend();
}

static void require_cpu(const Tensor& t, const char* what) {
  if (t.device() != Device::cpu)
    fail(what, ": element access needs a cpu tensor, this one is on ", device_name(t.device()), "; call .to(Device::cpu)");
}

float Tensor::item() const {
  if (numel() != 1) fail("item: needs a tensor with one element, got shape ", shape_str(shape()));
  if (device() == Device::cuda) return to_vector()[0];
  return data()[0];
}

// The row-major offset of `index`, checked coordinate by coordinate and against
// the `numel` elements of the storage: the offset only grows from one dim to the
// next, so once it reaches numel (or would overflow) the element is not there.
static int64_t offset_of(const Shape& shape, int64_t numel, std::initializer_list<int64_t> index) {
  if (index.size() != shape.size())
    fail("at: index has ", index.size(), " coordinates, tensor of shape ", shape_str(shape), " needs ", shape.size());
  int64_t offset = 0;
  size_t d = 0;
  for (int64_t i : index) {
    if (i < 0 || i >= shape[d]) fail("at: index ", i, " is out of range for dim ", d, " of shape ", shape_str(shape));
    if (__builtin_mul_overflow(offset, shape[d], &offset) || __builtin_add_overflow(offset, i, &offset) || offset >= numel)
      fail("at: index ", i, " of dim ", d, " reaches past the ", numel, " elements of the storage under shape ",
           shape_str(shape), " (the shape disagrees with the storage)");
    ++d;
  }
  return offset;
}

float& Tensor::at(std::initializer_list<int64_t> index) {
  require_cpu(*this, "at");
  return data()[offset_of(shape(), numel(), index)];
}
float Tensor::at(std::initializer_list<int64_t> index) const {
  require_cpu(*this, "at");
  return data()[offset_of(shape(), numel(), index)];
}

std::vector<float> Tensor::to_vector() const {
  check_defined("to_vector");
  if (device() == Device::cuda) {
    std::vector<float> host(static_cast<size_t>(numel()));
    if (numel() > 0) impl_->storage->backend()->copy_to_host(host.data(), data(), numel());
    return host;
  }
  return std::vector<float>(data(), data() + numel());
}

Tensor Tensor::clone() const {
  check_defined("clone");
  if (device() == Device::cuda) {
    // On the backend that holds this tensor, which may not be the active one.
    cuda::Backend* backend = impl_->storage->backend();
    Tensor t = empty(shape(), Device::cuda, "clone");
    if (t.impl()->storage->backend() != backend)
      fail("clone: this cuda tensor lives on the ", backend->name(), " executor, new ones go to the ",
           t.impl()->storage->backend()->name(), " (emulation was switched after it was made)");
    backend->copy_on_device(t.data(), data(), numel());
    return t;
  }
  Tensor t = empty(shape(), device());
  std::memcpy(t.data(), data(), static_cast<size_t>(impl_->storage->bytes()));
  return t;
}

Tensor Tensor::detach() const {
  check_defined("detach");
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = impl_->shape;
  impl->storage = impl_->storage;
  return Tensor(std::move(impl));
}

Tensor Tensor::to(Device target) const {
  check_defined("to");
  if (target == device()) return *this;
  if (target == Device::cuda) {  // host → device
    backend_for_new("Tensor::to(cuda)");
    Tensor t = empty(shape(), Device::cuda);
    t.impl()->storage->backend()->copy_to_device(t.data(), data(), numel());
    return t;
  }
  Tensor t = empty(shape(), Device::cpu);  // device → host
  impl_->storage->backend()->copy_to_host(t.data(), data(), numel());
  return t;
}

// ---- printing ------------------------------------------------------------

namespace {
constexpr int64_t kEdge = 3;           // entries shown at each end of a long dim
constexpr int64_t kSummarize = 1000;   // tensors with more elements are summarized

struct Printer {
  std::ostream& out;
  const Tensor& t;
  bool summarize;
  bool scientific;
  bool integral;

  void number(float v) {
    std::ostringstream s;
    if (std::isnan(v) || std::isinf(v)) s << v;
    else if (integral) s << std::fixed << std::setprecision(0) << v << '.';
    else if (scientific) s << std::scientific << std::setprecision(4) << v;
    else s << std::fixed << std::setprecision(4) << v;
    out << s.str();
  }

  void dim(size_t d, int64_t offset, int indent) {
    const Shape& shape = t.shape();
    int64_t n = shape[d];
    int64_t stride = 1;
    for (size_t j = d + 1; j < shape.size(); ++j) stride *= shape[j];
    out << '[';
    for (int64_t i = 0; i < n; ++i) {
      if (summarize && n > 2 * kEdge && i == kEdge) {
        out << "...";
        i = n - kEdge - 1;
        out << (d + 1 == shape.size() ? ", " : ",\n" + std::string(static_cast<size_t>(indent + 1), ' '));
        continue;
      }
      if (d + 1 == shape.size()) number(t.data()[offset + i]);
      else dim(d + 1, offset + i * stride, indent + 1);
      if (i + 1 < n)
        out << (d + 1 == shape.size() ? ", " : ",\n" + std::string(static_cast<size_t>(indent + 1), ' '));
    }
    out << ']';
  }
};
}  // namespace

std::ostream& operator<<(std::ostream& out, const Tensor& t) {
  if (!t.defined()) return out << "tensor(undefined)";
  if (t.device() == Device::cuda) {  // print a host copy, then say where it lives
    std::string text = to_string(t.to(Device::cpu));
    text.insert(text.size() - 1, ", device=cuda");
    if (t.requires_grad()) text.insert(text.size() - 1, t.is_leaf() ? ", requires_grad" : ", grad_fn=" + t.node()->op);
    return out << text;
  }
  float max_abs = 0.0f;
  bool integral = true;
  for (int64_t i = 0; i < t.numel(); ++i) {
    float v = t.data()[i];
    if (!std::isfinite(v)) continue;
    max_abs = std::max(max_abs, std::fabs(v));
    if (v != std::nearbyint(v)) integral = false;
  }
  bool scientific = max_abs >= 1e5f || (max_abs > 0.0f && max_abs < 1e-3f);
  Printer printer{out, t, t.numel() > kSummarize, scientific, integral && max_abs < 1e7f};
  out << "tensor(";
  if (t.dim() == 0) printer.number(t.data()[0]);
  else printer.dim(0, 0, 7);
  out << ", shape=" << shape_str(t.shape());
  if (t.requires_grad()) out << (t.is_leaf() ? ", requires_grad" : ", grad_fn=" + t.node()->op);
  return out << ')';
}

std::string to_string(const Tensor& t) {
  std::ostringstream out;
  out << t;
  return out.str();
}

}  // namespace moments
