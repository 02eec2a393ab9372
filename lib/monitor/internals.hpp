// monitor/internals.hpp — a look inside the optimizer, per parameter tensor: the
// numbers that say what Adam's moments are doing (and their counterparts for
// Adafactor, Lion and LAMB). Monitor records them with MonitorOptions::internals;
// the columns are documented in monitor.hpp (OPTIMIZER INTERNALS).
//
// Each statistic is computed from the optimizer's own state after the step, only
// on the steps the monitor records: one vectorized pass over m and g, and one pass
// over v for a histogram of its bit patterns, from which the percentiles are
// selected exactly (reading again only the elements of three bins of 4096). Which statistics an optimizer has follows from its
// name(): a new optimizer gets none until it is listed here.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../optim/optimizer.hpp"

namespace moments {

// The families of optimizers with internals, and what each records.
enum class InternalsKind {
  none,
  adam,           // Adam, AdamW (amsgrad too), NAdam, RAdam, Adam8bit, AdamW8bit: m and √v̂
  adamax,         // Adamax: m and u (its ∞-norm moment stands where √v̂ stands)
  schedule_free,  // AdamWScheduleFree: √v̂ only (it keeps z and x, no m)
  lamb,           // LAMB: Adam's m and √v̂, and the trust ratio
  adafactor,      // Adafactor: R and C ranges, the update clip factor
  lion,           // Lion: sign flips of the update between consecutive steps
};

InternalsKind internals_kind(const Optimizer& optimizer);
// The statistics' names, e.g. "adam.m_norm"; the columns are NAME.<param>.
std::vector<std::string> internals_names(InternalsKind kind);

// The statistics of one parameter tensor after a step, in internals_names' order
// (NaN for what it does not have: a parameter not stepped yet, a vector's
// Adafactor factors). `param`, `grad` (may be undefined) and the state's buffers
// may live on any device; they are read on the host. `lion_flips` is Lion's
// fraction of sign flips (from lion_update_signs, NaN when unknown).
// `scratch` is reused across calls (the percentiles' selection).
struct InternalsScratch {
  std::vector<uint32_t> histogram;
  std::vector<float> picked, picked_middle, picked_high;  // the elements of the bins of p1, p50, p99
};
std::vector<double> compute_internals(const Optimizer& optimizer, InternalsKind kind, size_t group, const Tensor& param,
                                      const Tensor& grad, double lion_flips, InternalsScratch& scratch);

// Lion's update direction, sign(β1 m_{t−1} + (1 − β1) g_t), element by element
// (+1, −1, 0), computed before the step from the state and gradient it will use.
// Empty when the parameter has no gradient (before its first step m is 0).
std::vector<int8_t> lion_update_signs(const Optimizer& optimizer, size_t group, const Tensor& param);
// The fraction of elements whose sign differs between two such vectors (NaN when
// either is empty or their sizes differ).
double sign_flip_fraction(const std::vector<int8_t>& before, const std::vector<int8_t>& after);

}  // namespace moments
