// cuda/backend.cpp — which executor Device::cuda tensors run on (the rules are in
// backend.hpp). Plain C++, compiled once, whatever the build has.
#include "backend.hpp"

#include <cstdlib>
#include <string>

#include "error.hpp"

#ifdef MOMENTS_WITH_CUDA
#include "device.hpp"
namespace moments::cuda::gpu {
Backend& backend();
}
#endif
#ifdef MOMENTS_WITH_CUDA_EMULATOR
namespace moments::cuda::emu {
Backend& backend();
}
#endif
#ifndef MOMENTS_CUDA_EMULATION_DEFAULT
#define MOMENTS_CUDA_EMULATION_DEFAULT 0
#endif

namespace moments::cuda {

namespace {
int emulation_switch = -1;  // set_emulation: -1 unset, 0 off, 1 on

std::string environment() {
  const char* value = std::getenv("MOMENTS_CUDA_EMULATION");
  return value ? value : "";
}

Backend* choose() {
  bool forced = emulation_switch != 0 && environment() == "force";
  if (!forced)
    if (Backend* gpu = gpu_backend()) return gpu;
  return emulation_enabled() ? emulator_backend() : nullptr;
}
}  // namespace

bool gpu_built() {
#ifdef MOMENTS_WITH_CUDA
  return true;
#else
  return false;
#endif
}

bool emulator_built() {
#ifdef MOMENTS_WITH_CUDA_EMULATOR
  return true;
#else
  return false;
#endif
}

void set_emulation(bool on) { emulation_switch = on ? 1 : 0; }

bool emulation_enabled() {
  if (!emulator_built()) return false;
  if (emulation_switch >= 0) return emulation_switch == 1;
  std::string value = environment();
  if (!value.empty()) return value != "0";
  return MOMENTS_CUDA_EMULATION_DEFAULT != 0;
}

Backend* gpu_backend() {
#ifdef MOMENTS_WITH_CUDA
  static const bool present = device_count() > 0;  // asked once: the answer does not change while we run
  return present ? &gpu::backend() : nullptr;
#else
  return nullptr;
#endif
}

Backend* emulator_backend() {
#ifdef MOMENTS_WITH_CUDA_EMULATOR
  return &emu::backend();
#else
  return nullptr;
#endif
}

bool available() { return choose() != nullptr; }
bool emulating() { return choose() != nullptr && choose() == emulator_backend(); }

std::string unavailable_reason() {
  if (choose()) return "";
  std::string why;
#ifdef MOMENTS_WITH_CUDA
  why = "no CUDA device is present (" + no_device_reason() + ")";
#else
  why = "this build of moments has no GPU backend (nvcc was not found, or -Dcuda=disabled)";
#endif
  if (emulator_built())
    why += "; to run Device::cuda tensors on the CPU emulator instead, call moments::cuda::set_emulation(true), "
           "set MOMENTS_CUDA_EMULATION=1, or configure with -Dgpu_emulation=enabled";
  else
    why += "; the CPU emulator is not in this build either (-Dgpu_emulation=disabled)";
  return why;
}

Backend& active_backend() {
  if (Backend* backend = choose()) return *backend;
  fail("CUDA: ", unavailable_reason());
}

}  // namespace moments::cuda
