#!/bin/sh
# tests/consumer/run.sh — test `consumer` (suite install): moments as a library other
# projects build on. Builds and runs the tiny project in this folder twice:
#   1. against an installed moments: `meson install --destdir` of this build tree into a
#      temporary folder, then moments.pc found through pkg_config_path (moments.pc is
#      relocatable: its prefix is relative to its own folder, so the moved tree works);
#   2. with moments as a subproject: subprojects/moments is a symlink to this source tree,
#      named by a wrap file that provides `moments` (as the README shows).
# Exits 77 (skipped) when meson, ninja or pkg-config are missing.
#
# usage: run.sh SOURCE_ROOT BUILD_ROOT PREFIX LIBDIR B_SANITIZE GPU_BUILT
#   (tests/meson.build passes them; CXX in the environment is the compiler to use)
set -eu
source_root=$1 build_root=$2 prefix=$3 libdir=$4 sanitize=$5 gpu_built=$6
here=$(cd "$(dirname "$0")" && pwd)

for tool in meson ninja pkg-config; do
  if ! command -v "$tool" > /dev/null 2>&1; then
    echo "skipped: $tool is not on PATH (needed to build a consumer project)"
    exit 77
  fi
done

# A fixed folder in the build tree (not mktemp): the same paths every run, so ccache
# serves the second and later runs. Left in place when a step fails, for a look inside.
work=$build_root/consumer-test
rm -rf "$work"
mkdir -p "$work"
fail() { echo "FAILED: $* (files in $work)"; exit 1; }
started=$(date +%s)
elapsed() { echo "  ($(($(date +%s) - started)) s so far)"; }

# A copy of the consumer project (run.sh itself is not part of it).
make_project() {
  mkdir -p "$1"
  cp "$here/meson.build" "$here/main.cpp" "$1/"
}

# Builds (quietly: the log is shown only when a step fails) and runs the consumer.
build_and_run() {  # NAME BUILDTYPE [MESON OPTIONS...]
  name=$1 buildtype=$2; shift 2
  if ! meson setup "$work/$name/build" "$work/$name" --buildtype="$buildtype" "$@" > "$work/$name.log" 2>&1 ||
     ! ninja -C "$work/$name/build" consumer >> "$work/$name.log" 2>&1; then
    cat "$work/$name.log"
    fail "$name: the consumer project did not build (log above)"
  fi
  (cd "$work/$name/build" && ./consumer) > "$work/$name.out" 2>&1 || { cat "$work/$name.out"; fail "$name: consumer failed"; }
  cat "$work/$name.out"
  [ -s "$work/$name/build/consumer_loss.png" ] || fail "$name: consumer drew no chart"
  elapsed
}

# ---- 1. against the installed tree ------------------------------------------------------
stage=$work/stage
meson install -C "$build_root" --destdir "$stage" --no-rebuild > "$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "meson install --destdir did not succeed"; }
echo "installed into $stage"
elapsed
pc_dir=$stage$prefix/$libdir/pkgconfig
[ -f "$pc_dir/moments.pc" ] || fail "no moments.pc in $pc_dir"
for header in moments/moments.hpp moments/optim/adam.hpp moments/plots/plots.hpp moments/config.hpp \
              moments/cuda/backend.hpp moments/io/checkpoint.hpp; do
  [ -f "$stage$prefix/include/$header" ] || fail "header $header was not installed"
done
module=$stage$prefix/$libdir/moments/libmoments_cuda_gpu.so
if [ "$gpu_built" = 1 ]; then
  [ -f "$module" ] || fail "the GPU module was not installed at $prefix/$libdir/moments/"
fi
make_project "$work/installed"
# The moved install tree has its module where no built-in path points: name it.
export MOMENTS_CUDA_MODULE="$module"
build_and_run installed debug --wrap-mode=nofallback -Dpkg_config_path="$pc_dir" -Db_sanitize="$sanitize"
unset MOMENTS_CUDA_MODULE
if [ "$gpu_built" = 1 ] && grep -q "could not be loaded" "$work/installed.out"; then
  fail "installed: the consumer could not load the installed GPU module"
fi

# ---- 2. as a subproject ------------------------------------------------------------------
# The subproject copy is built with its own options (no sanitizers: b_sanitize is not passed on), so
# it is the same build in every tree; the plain tree checks it, and a sanitizer tree stops here.
if [ "$sanitize" != none ]; then
  echo "consumer: installed tree built and ran (the subproject build is checked in the tree without sanitizers)"
  rm -rf "$work"
  exit 0
fi

make_project "$work/subproject"
mkdir -p "$work/subproject/subprojects"
ln -s "$source_root" "$work/subproject/subprojects/moments"
cat > "$work/subproject/subprojects/moments.wrap" << WRAP
[wrap-git]
url = $source_root
revision = HEAD

[provide]
dependency_names = moments
WRAP
# Kept lean: no nvcc module and no emulator in this copy, unoptimized and without debug info
# (buildtype plain: -O0 compiles fastest, and this copy of the library is never debugged).
build_and_run subproject plain --wrap-mode=nodownload -Dmoments:cuda=disabled -Dmoments:gpu_emulation=disabled
echo "consumer: installed tree and subproject both built and ran"
rm -rf "$work"
