// cpu_baseline.cpp — stops a program built for a CPU baseline (x86-64-v3 by default) on a
// CPU that lacks it, with a message naming the option to rebuild with (see cpu_baseline.hpp).
//
// meson.build compiles this file alone for plain x86-64 and passes MOMENTS_CPU_BASELINE (the
// option's value) and MOMENTS_CPU_FEATURES (what that baseline adds to plain x86-64). The
// constructor has the highest priority a program may use (101), so it runs before the
// constructors of every other file; shared libraries (libc, libstdc++) are not ours and
// target plain x86-64. Only C functions are called: an inline C++ library function used
// here could be linked from another file's copy, compiled for the baseline.
#include "cpu_baseline.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#ifndef MOMENTS_CPU_BASELINE
#define MOMENTS_CPU_BASELINE "default"
#endif
#ifndef MOMENTS_CPU_FEATURES
#define MOMENTS_CPU_FEATURES ""
#endif

namespace moments::cpu_baseline {

namespace {

struct Feature {
  const char* name;
  bool present;
};

// Appends the first `length` characters of `text` to the NUL-terminated `out` of capacity
// `size`, cutting them short if need be.
void append(char* out, std::size_t size, const char* text, std::size_t length) {
  std::size_t used = std::strlen(out);
  std::size_t room = size - used - 1;  // `out` holds used + 1 ≤ size characters already
  if (length > room) length = room;
  std::memcpy(out + used, text, length);
  out[used + length] = '\0';
}

// Calls `f(name, length)` for each name of a comma-separated list.
template <class F>
void for_each_name(const char* list, F f) {
  for (const char* p = list; *p;) {
    const char* comma = std::strchr(p, ',');
    std::size_t length = comma ? static_cast<std::size_t>(comma - p) : std::strlen(p);
    if (length > 0) f(p, length);
    p += length + (comma ? 1 : 0);
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
// __builtin_cpu_supports takes only string literals, hence one row per feature.
#define MOMENTS_FEATURE(name) {name, __builtin_cpu_supports(name) != 0}
bool lookup(const char* feature, bool* present) {
  __builtin_cpu_init();  // a constructor may run before libgcc's own
  const Feature table[] = {
      MOMENTS_FEATURE("sse3"),     MOMENTS_FEATURE("ssse3"),    MOMENTS_FEATURE("sse4.1"),
      MOMENTS_FEATURE("sse4.2"),   MOMENTS_FEATURE("popcnt"),   MOMENTS_FEATURE("avx"),
      MOMENTS_FEATURE("avx2"),     MOMENTS_FEATURE("fma"),      MOMENTS_FEATURE("f16c"),
      MOMENTS_FEATURE("bmi"),      MOMENTS_FEATURE("bmi2"),     MOMENTS_FEATURE("lzcnt"),
      MOMENTS_FEATURE("movbe"),    MOMENTS_FEATURE("avx512f"),  MOMENTS_FEATURE("avx512cd"),
      MOMENTS_FEATURE("avx512bw"), MOMENTS_FEATURE("avx512dq"), MOMENTS_FEATURE("avx512vl"),
  };
#undef MOMENTS_FEATURE
  for (const Feature& f : table)
    if (std::strcmp(f.name, feature) == 0) {
      *present = f.present;
      return true;
    }
  return false;
}
#else
bool lookup(const char*, bool*) { return false; }  // no baseline is checked off x86-64
#endif

}  // namespace

bool cpu_has(const char* feature) {
  bool present = false;
  return lookup(feature, &present) && present;
}

bool known_feature(const char* feature) {
  bool present = false;
  return lookup(feature, &present);
}

bool check(const char* baseline, const char* required, HasFeature has, char* message, std::size_t size) {
  if (size == 0) return false;
  message[0] = '\0';
  char needs[512] = "", missing[512] = "";
  for_each_name(required, [&](const char* name, std::size_t length) {
    char feature[32] = "";
    append(feature, sizeof feature, name, length);
    if (needs[0]) append(needs, sizeof needs, ", ", 2);
    append(needs, sizeof needs, name, length);
    if (has(feature)) return;
    if (missing[0]) append(missing, sizeof missing, ", ", 2);
    append(missing, sizeof missing, name, length);
  });
  if (!missing[0]) return true;
  std::snprintf(message, size,
                "moments: this program was built for %s (meson option cpu_baseline), which needs %s; "
                "this CPU lacks %s. Rebuild for it with `meson setup --reconfigure BUILD -Dcpu_baseline=x86-64` "
                "(any x86-64 CPU) or `-Dcpu_baseline=native` (this one).\n",
                baseline, needs, missing);
  return false;
}

const char* built_baseline() { return MOMENTS_CPU_BASELINE; }
const char* built_features() { return MOMENTS_CPU_FEATURES; }

}  // namespace moments::cpu_baseline

// Runs before every other constructor of the program (and so before main). Its C name is what
// meson.build's --undefined asks the linker for, so that every executable keeps this file.
extern "C" __attribute__((constructor(101))) void moments_cpu_baseline_check() {
  using namespace moments::cpu_baseline;
  char message[1024];
  if (check(MOMENTS_CPU_BASELINE, MOMENTS_CPU_FEATURES, cpu_has, message, sizeof message)) return;
  std::fputs(message, stderr);
  std::_Exit(1);
}
