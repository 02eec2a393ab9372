// optim/validate.hpp — hyperparameter checks with PyTorch's conditions and
// messages that name the optimizer, the hyperparameter and its value.
// Each check is written as "not (ok)", so NaN is always rejected. That is
// stricter than PyTorch in two ways: torch.optim.SGD writes its checks as
// `lr < 0.0`, which NaN passes (Adam's `not 0.0 <= lr` rejects it), and PyTorch
// validates only the constructor's arguments, never a group given to
// add_param_group or changed later; moments validates every group, every time.
#pragma once
#include <cmath>

#include "../error.hpp"

namespace moments {

inline void check_at_least(const char* who, const char* name, double value, double minimum) {
  if (!(value >= minimum)) fail(who, ": invalid ", name, " ", value, " (must be >= ", minimum, ")");
}

inline void check_at_most(const char* who, const char* name, double value, double maximum) {
  if (!(value <= maximum)) fail(who, ": invalid ", name, " ", value, " (must be <= ", maximum, ")");
}

inline void check_in_unit_interval(const char* who, const char* name, double value) {  // [0, 1)
  if (!(value >= 0.0 && value < 1.0)) fail(who, ": invalid ", name, " ", value, " (must be in [0, 1))");
}

// A count (steps, a batch size): counts are doubles in the options, so that one set by name as NaN or
// 1e30 is refused here instead of being undefined behaviour in a conversion to an integer type.
inline void check_whole(const char* who, const char* name, double value) {
  if (!(std::isfinite(value) && value == std::floor(value)))
    fail(who, ": invalid ", name, " ", value, " (must be a whole number)");
}

}  // namespace moments
