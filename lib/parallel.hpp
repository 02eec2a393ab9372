// parallel.hpp — the CPU thread pool: loops split into fixed chunks, so results do not depend on the
// number of threads.
//
//   // y = 2x over n floats, in chunks of 64K elements spread over the threads:
//   moments::parallel_for(n, 1 << 16, [&](int64_t begin, int64_t end) {
//     for (int64_t i = begin; i < end; ++i) y[i] = 2.0f * x[i];
//   });
//   // a sum whose bits do not depend on the thread count: one partial per chunk, added in chunk order
//   double total = moments::parallel_reduce(n, 1 << 16, /*empty=*/0.0,
//       [&](int64_t begin, int64_t end) { double s = 0; for (int64_t i = begin; i < end; ++i) s += x[i]; return s; },
//       [](double a, double b) { return a + b; });
//
// The contract that keeps the bits: chunk boundaries depend only on (n, chunk), never on the thread count,
// and each chunk's work is the same loop whichever thread runs it. A chunk may run on any thread, in any
// order, so a body must write only its own chunk's outputs; anything combined across chunks goes through
// per-chunk partials combined in chunk order (parallel_reduce). Then 1, 2, 3 or 8 threads give identical bits.
//
// Threads: set_num_threads(n), else the environment variable MOMENTS_NUM_THREADS, else the machine's
// hardware threads. The pool is persistent (its threads start on the first parallel call and wait between
// calls). A parallel_for inside a chunk body runs inline on that thread (no nested fan-out, no deadlock);
// so does one started while another user thread is using the pool. An exception thrown by a chunk stops
// chunks not yet started and is rethrown in the caller (the one of the lowest chunk index, if several threw).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace moments {

// n >= 1 threads (the caller counts as one); 0 restores the default (MOMENTS_NUM_THREADS, else hardware
// threads). Not to be called from inside a parallel_for body.
void set_num_threads(int n);
int num_threads();

// The chunk of loops that touch each float a few times (element-wise ops, optimizer steps, sums): a tensor
// of at most this many elements stays on one thread, because waking the pool costs more than it saves there.
// (The numbers behind it are in parallel.cpp.)
constexpr std::int64_t kElementsPerChunk = std::int64_t{1} << 15;

// Chunks of [0, n): [0, chunk), [chunk, 2·chunk), ..., the last one possibly shorter.
inline std::int64_t num_chunks(std::int64_t n, std::int64_t chunk) { return n <= 0 ? 0 : (n + chunk - 1) / chunk; }

// A chunk body as parallel_for takes it: a reference to any callable body(begin, end), which it does not
// copy. (A std::function would allocate on the heap for a lambda capturing more than two pointers, once per
// call: an optimizer step over 100 tensors would then allocate 100 times.)
class ChunkBody {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, ChunkBody>>>
  ChunkBody(const F& body)  // NOLINT: implicit, so that a lambda can be passed as it is
      : object_(&body), call_([](const void* f, std::int64_t b, std::int64_t e) { (*static_cast<const F*>(f))(b, e); }) {}
  void operator()(std::int64_t begin, std::int64_t end) const { call_(object_, begin, end); }

 private:
  const void* object_;
  void (*call_)(const void*, std::int64_t, std::int64_t);
};

// Runs body(chunk_begin, chunk_end) for every chunk of [0, n) (chunk >= 1). Chunks are spread over the
// threads and the call returns when all are done. With one thread (or n <= chunk) it runs inline, in order.
void parallel_for(std::int64_t n, std::int64_t chunk, ChunkBody body);

// A deterministic reduction: partial(chunk_begin, chunk_end) -> T for each chunk, stored by chunk number,
// then folded left to right: combine(...combine(combine(p0, p1), p2)..., p_last); `empty` when n <= 0. With
// one chunk (n <= chunk) the result is p0 itself, as if the loop had never been split.
template <class T, class Partial, class Combine>
T parallel_reduce(std::int64_t n, std::int64_t chunk, T empty, const Partial& partial, const Combine& combine) {
  const auto chunks = static_cast<std::size_t>(num_chunks(n, chunk));
  if (chunks == 0) return empty;
  if (chunks == 1) return partial(std::int64_t{0}, n);
  // The partials live on the stack up to 64 chunks (2M floats at kElementsPerChunk), so a reduction in an
  // optimizer's step allocates nothing; beyond that one vector, whose cost is small beside the work.
  constexpr std::size_t kOnStack = 64;
  std::array<T, kOnStack> on_stack;
  std::vector<T> on_heap;
  if (chunks > kOnStack) on_heap.resize(chunks, empty);
  T* partials = chunks > kOnStack ? on_heap.data() : on_stack.data();
  parallel_for(n, chunk, [&](std::int64_t begin, std::int64_t end) {
    partials[static_cast<std::size_t>(begin / chunk)] = partial(begin, end);
  });
  T result = partials[0];
  for (std::size_t c = 1; c < chunks; ++c) result = combine(result, partials[c]);
  return result;
}

}  // namespace moments
