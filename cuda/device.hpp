// cuda/device.hpp — what the rest of moments may ask of the CUDA runtime.
// Plain C++: included by lib/ without nvcc. Implemented in device.cu.
#pragma once
#include <string>

namespace moments::cuda {

// Number of usable CUDA devices. Any runtime error (no driver, a driver older
// than the runtime, no device) counts as "none": on a GPU-less machine
// cudaGetDeviceCount reports "CUDA driver version is insufficient", not "no device".
int device_count();

// Why device_count() is 0, in the runtime's words ("" when a device is present).
std::string no_device_reason();

}  // namespace moments::cuda
