// cpu_baseline.hpp — the start-up check that this CPU runs the instruction set the
// build was compiled for (meson option cpu_baseline, x86-64-v3 by default).
//
// Every executable links lib/cpu_baseline.cpp whole (meson.build's cpu_check_dep). That
// file alone is compiled for plain x86-64, and its constructor runs before any other
// code of the program: on a CPU without, say, AVX2 and FMA the program prints
//
//   moments: this program was built for x86-64-v3 (meson option cpu_baseline), which needs
//   avx, avx2, ..., fma; this CPU lacks avx2, fma. Rebuild for it with
//   `meson setup --reconfigure BUILD -Dcpu_baseline=x86-64` (any x86-64 CPU) or
//   `-Dcpu_baseline=native` (this one).
//
// and exits with status 1, instead of dying of an illegal instruction somewhere inside.
// Only plain C types here: the functions below run before the C++ runtime of the program
// has started, and must not pick up inline library code compiled for the baseline.
#pragma once

#include <cstddef>

namespace moments::cpu_baseline {

// A feature test, named as __builtin_cpu_supports spells it ("avx2", "fma", "sse4.2").
using HasFeature = bool (*)(const char* feature);

// This CPU's answer (false for a name the check does not know).
bool cpu_has(const char* feature);
// Whether the check knows `feature` (the names meson passes must all be known).
bool known_feature(const char* feature);

// Checks the comma-separated `required` features with `has`. Returns true when all are
// present; otherwise writes the message above into `message` (capacity `size`, always
// NUL-terminated) and returns false. `baseline` is the option's value, for the message.
bool check(const char* baseline, const char* required, HasFeature has, char* message, std::size_t size);

// What this build was compiled for: the option's value and the features checked.
const char* built_baseline();
const char* built_features();

}  // namespace moments::cpu_baseline
