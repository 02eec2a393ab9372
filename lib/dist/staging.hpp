// dist/staging.hpp — a tensor's elements to and from host memory, on either device (private to lib/dist/).
//
// The collectives work on host buffers. A Device::cuda tensor's elements are staged through one: copied to
// the host before a collective and back to the device after it (Backend::copy_to_host / copy_to_device,
// a GPU's cudaMemcpy or the emulator's copy). NCCL, which would keep them on the device, is not packaged in
// Debian; a CUDA-aware MPI could take device pointers, but the rank-ordered sum (communicator.hpp) is added
// on the host, so it would still need the values there.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../tensor.hpp"
#include "backend.hpp"

namespace moments::dist_detail {

// host[0, n) ← t's elements [begin, begin + n) (flat, row-major).
inline void read_elements(const Tensor& t, int64_t begin, int64_t n, float* host) {
  if (t.device() == Device::cpu) {
    std::copy_n(t.data() + begin, n, host);
    return;
  }
  t.cuda_backend().copy_to_host(host, t.data() + begin, n);
}

// t's elements [begin, begin + n) ← host[0, n).
inline void write_elements(Tensor& t, int64_t begin, int64_t n, const float* host) {
  if (t.device() == Device::cpu) {
    std::copy_n(host, n, t.data() + begin);
    return;
  }
  t.cuda_backend().copy_to_device(t.data() + begin, host, n);
}

}  // namespace moments::dist_detail
