// cuda/kernels.hpp — the host-side entry points of the kernels, declared once and
// defined in each executor's copy of the .cu files (namespace gpu or emu; see
// runtime.hpp). backend.cu forwards the Backend interface to these.
#pragma once
#include <cstdint>

#include "backend.hpp"
#include "runtime.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {

Backend& backend();  // this executor's Backend (backend.cu)

// memory.cu: x[i] ← value; destination[i] ← source[i]
void fill(float* x, int64_t n, float value);
void copy(float* destination, const float* source, int64_t n);

// sgd.cu, adam.cu, adafactor.cu: the optimizer steps, arguments as in lib/optim/*_math.hpp.
void sgd_update(float* theta, const float* grad, float* buffer, int64_t n, const SgdScalars& s);
void adam_update(float* theta, const float* grad, float* m, float* v, float* v_max, int64_t n, const AdamScalars& s);
double adafactor_update(float* x, const float* g, float* r, float* c, float* v, float* m, const AdafactorStep& step);

}  // namespace moments::cuda::MOMENTS_EXECUTOR
