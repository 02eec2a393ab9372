// cuda/emulator/emulator.cpp — runs CUDA kernels on the CPU: the block loop with
// cooperative fibers for __syncthreads(), and device memory that catches double
// frees, copies outside an allocation, and reads past a buffer's end.
// What is and is not emulated is listed in emulator.hpp.
//
// FIBERS. A block's threads run on fibers. On x86-64 a switch is ten instructions
// (switch_stacks below: save the callee-saved registers, swap stack pointers);
// elsewhere glibc's makecontext/swapcontext, which also make a system call per
// switch (about 1 µs here, against 10 ns). One "runner" fiber starts thread 0 and, each time the kernel
// returns, starts the next thread of the block on the same fiber. Only when a
// thread calls __syncthreads() does its runner park it and go back to the block
// scheduler, which starts a fresh runner for the next unstarted thread. When no
// thread is left to start, every live thread is parked at the barrier: the
// scheduler releases them in thread order and each runs to its next barrier or to
// its end. So a kernel without barriers costs one fiber switch per block, and one
// with barriers costs a fiber per thread. Under AddressSanitizer every switch is
// announced with __sanitizer_start/finish_switch_fiber, so ASan follows the stacks.
//
// MEMORY. Each cudaMalloc is an mmap of its own: a guard page, the buffer placed
// so that it ends exactly at a page boundary, and a guard page after it. Buffers
// are PROT_NONE except while a copy or a kernel that was passed them runs; a
// SIGSEGV handler (installed with the first allocation, chaining to any previous
// one, such as ASan's) turns a touch of a closed buffer or a guard page into a
// message naming the buffer, the kernel and the thread, then aborts — a GPU
// reports "an illegal memory access was encountered" and its context is lost.
// A kernel may reach buffers it was not passed as arguments (pointers inside a
// struct): the handler opens such a buffer on first touch.
#include "emulator.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define MOMENTS_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MOMENTS_EMU_ASAN 1
#endif
#endif
#ifdef MOMENTS_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace moments::cuda::emu {

namespace {

// ---- errors --------------------------------------------------------------------
thread_local cudaError_t last_error = cudaSuccess;
thread_local char last_detail[512] = "";

template <class... Args>
cudaError_t set_error(cudaError_t error, const char* format, Args... args) {
  last_error = error;
  std::snprintf(last_detail, sizeof last_detail, format, args...);
  return error;
}

// ---- device memory ---------------------------------------------------------------
const size_t kPage = static_cast<size_t>(sysconf(_SC_PAGESIZE));

struct Allocation {
  char* map_begin;    // the first guard page
  size_t map_bytes;   // guard + data pages + guard
  char* begin;        // what cudaMalloc returned
  size_t bytes;       // what was asked for
  char* pages_begin;  // the first data page (≤ begin)
  size_t pages_bytes;
  bool open;          // readable and writable right now
};

std::mutex allocations_mutex;
std::map<const char*, Allocation>& allocations() {  // keyed by begin
  static auto* table = new std::map<const char*, Allocation>();  // never destroyed: used by the signal handler
  return *table;
}

// The allocation whose mapping (guards included) contains `address`, or null.
Allocation* find_mapping(const void* address) {
  const char* p = static_cast<const char*>(address);
  auto& table = allocations();
  auto it = table.upper_bound(p);
  // The buffer that begins at or before p; if p lies in the guard page before the
  // next buffer, that one.
  if (it != table.end() && p >= it->second.map_begin) return &it->second;
  if (it == table.begin()) return nullptr;
  --it;
  Allocation& a = it->second;
  return p < a.map_begin + a.map_bytes ? &a : nullptr;
}

void set_open(Allocation& a, bool open) {
  if (a.open == open || a.pages_bytes == 0) return;
  mprotect(a.pages_begin, a.pages_bytes, open ? PROT_READ | PROT_WRITE : PROT_NONE);
  a.open = open;
}

// ---- the running launch (per CPU thread) -------------------------------------------
struct LaunchState {
  const char* kernel = nullptr;       // null: no launch running on this CPU thread
  std::vector<Allocation*> opened;   // closed again when the launch ends
};
thread_local LaunchState launch_state;

void install_fault_handler();

// ---- fibers ----------------------------------------------------------------------
constexpr size_t kFiberStack = 256 * 1024;

// A suspended execution: where its registers were saved.
#if defined(__x86_64__)
struct Context {
  void* stack_pointer = nullptr;
};
}  // namespace
}  // namespace moments::cuda::emu

// switch_stacks(&from, to): pushes the callee-saved registers and the SSE/x87
// control words (System V ABI: everything a call must preserve), stores the stack
// pointer in *from, loads `to`, and pops the other context's registers; its `ret`
// continues wherever that context last called switch_stacks.
extern "C" void moments_emu_switch_stacks(void** from, void* to);
asm(R"(
  .text
  .p2align 4
  .globl moments_emu_switch_stacks
  .type moments_emu_switch_stacks, @function
moments_emu_switch_stacks:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size moments_emu_switch_stacks, .-moments_emu_switch_stacks
  .section .note.GNU-stack,"",@progbits
  .text
)");

namespace moments::cuda::emu {
namespace {

void switch_context(Context& from, Context& to) { moments_emu_switch_stacks(&from.stack_pointer, to.stack_pointer); }

// A context that starts `entry` (which never returns) on the stack [stack, stack + size).
void make_context(Context& context, char* stack, size_t size, void (*entry)()) {
  auto top = reinterpret_cast<uintptr_t>(stack + size) & ~uintptr_t{15};
  auto* slot = reinterpret_cast<uint64_t*>(top);
  *--slot = 0;                                          // entry's return address: none (keeps rsp % 16 == 8)
  *--slot = reinterpret_cast<uint64_t>(entry);          // where switch_stacks' ret goes
  for (int i = 0; i < 6; ++i) *--slot = 0;              // rbp, rbx, r12–r15
  uint32_t control[2] = {0, 0};                         // this thread's MXCSR and x87 control word
  asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(control[0]), "=m"(control[1]));
  *--slot = (uint64_t{control[1] & 0xFFFF} << 32) | control[0];
  context.stack_pointer = slot;
}
#else
struct Context {
  ucontext_t state{};
};
void switch_context(Context& from, Context& to) { swapcontext(&from.state, &to.state); }
// getcontext "returns twice" in general, hence GCC's -Wclobbered; here the saved
// state is only a template for makecontext and is never resumed, so it returns once.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wclobbered"
void make_context(Context& context, char* stack, size_t size, void (*entry)()) {
  getcontext(&context.state);
  context.state.uc_stack.ss_sp = stack;
  context.state.uc_stack.ss_size = size;
  context.state.uc_link = nullptr;
  makecontext(&context.state, entry, 0);
}
#pragma GCC diagnostic pop
#endif

struct Fiber {
  Context context;
  char* map = nullptr;         // the guard page, then the stack
  char* stack = nullptr;       // lowest address of the usable stack
  int thread = -1;             // the emulated thread (linear index in the block) it runs
  bool at_barrier = false;
  bool idle = true;            // finished its threads; can be reused
#ifdef MOMENTS_EMU_ASAN
  void* fake_stack = nullptr;
#endif
  Fiber() = default;
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;
  ~Fiber() {
    if (map) munmap(map, kFiberStack + kPage);
  }
};

constexpr size_t kSharedLimit = 48 * 1024;  // static + dynamic shared memory of one block

struct Block {
  ThreadBody body;
  dim3 size;                   // blockDim
  int thread_count = 0;
  int next_unstarted = 0;
  std::vector<unsigned char> shared;  // dynamic shared memory
  // Static shared memory (MOMENTS_SHARED): each declaration's array, placed in `statics` on the first
  // thread that reaches it in this block and found by its key afterwards.
  std::vector<std::pair<const void*, size_t>> static_slots;  // (key, offset into statics)
  size_t static_used = 0;
  std::vector<unsigned char> statics;
};

struct Scheduler {
  Context context;
  const void* stack_bottom = nullptr;  // the scheduler's own stack, for ASan
  size_t stack_size = 0;
#ifdef MOMENTS_EMU_ASAN
  void* fake_stack = nullptr;
#endif
  std::vector<std::unique_ptr<Fiber>> pool;  // every fiber made on this CPU thread, idle or not
  Fiber* running = nullptr;
  Block* block = nullptr;
};
thread_local Scheduler scheduler;

void set_thread_index(int linear) {
  const dim3& b = scheduler.block->size;
  unsigned int t = static_cast<unsigned int>(linear);
  threadIdx = {t % b.x, (t / b.x) % b.y, t / (b.x * b.y)};
}

// Fiber → scheduler, and back when resumed.
void yield_to_scheduler(Fiber* self) {
#ifdef MOMENTS_EMU_ASAN
  __sanitizer_start_switch_fiber(&self->fake_stack, scheduler.stack_bottom, scheduler.stack_size);
#endif
  switch_context(self->context, scheduler.context);
#ifdef MOMENTS_EMU_ASAN
  __sanitizer_finish_switch_fiber(self->fake_stack, &scheduler.stack_bottom, &scheduler.stack_size);
#endif
  scheduler.running = self;
  if (self->thread >= 0) set_thread_index(self->thread);
}

// Scheduler → fiber, returning when the fiber yields.
void resume(Fiber* fiber) {
  scheduler.running = fiber;
#ifdef MOMENTS_EMU_ASAN
  __sanitizer_start_switch_fiber(&scheduler.fake_stack, fiber->stack, kFiberStack);
#endif
  switch_context(scheduler.context, fiber->context);
#ifdef MOMENTS_EMU_ASAN
  __sanitizer_finish_switch_fiber(scheduler.fake_stack, nullptr, nullptr);
#endif
  scheduler.running = nullptr;
}

// A runner: starts the block's unstarted threads one after another. Never returns;
// when no thread is left it goes idle and waits to be reused for another block.
void runner() {
  Fiber* self = scheduler.running;
#ifdef MOMENTS_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &scheduler.stack_bottom, &scheduler.stack_size);
#endif
  for (;;) {
    Block* block = scheduler.block;
    while (block->next_unstarted < block->thread_count) {
      self->thread = block->next_unstarted++;
      set_thread_index(self->thread);
      block->body.call(block->body.context);
    }
    self->thread = -1;
    self->idle = true;
    yield_to_scheduler(self);
  }
}

Fiber* idle_fiber() {
  for (auto& f : scheduler.pool)
    if (f->idle) {
      f->idle = false;
      return f.get();
    }
  Fiber* f = scheduler.pool.emplace_back(std::make_unique<Fiber>()).get();
  // The stack, with an inaccessible page below it to stop an overflow.
  void* map = mmap(nullptr, kFiberStack + kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) {
    std::fprintf(stderr, "moments CUDA emulator: cannot map a %zu-byte fiber stack\n", kFiberStack);
    std::abort();
  }
  mprotect(map, kPage, PROT_NONE);
  f->map = static_cast<char*>(map);
  f->stack = static_cast<char*>(map) + kPage;
  make_context(f->context, f->stack, kFiberStack, runner);
  f->idle = false;
  return f;
}

// Runs every thread of the current block to its end.
void run_block(Block& block) {
  scheduler.block = &block;
  block.next_unstarted = 0;
  std::vector<Fiber*> parked;  // threads waiting at the barrier, in the order they arrived
  for (;;) {
    if (block.next_unstarted < block.thread_count) {
      Fiber* f = idle_fiber();
      resume(f);
      if (f->at_barrier) parked.push_back(f);
      continue;
    }
    if (parked.empty()) break;
    // Everyone alive is at the barrier: release them in thread order.
    std::vector<Fiber*> released;
    released.swap(parked);
    auto by_thread = [](const Fiber* a, const Fiber* b) { return a->thread < b->thread; };
    if (!std::is_sorted(released.begin(), released.end(), by_thread))  // they usually arrive in order
      std::sort(released.begin(), released.end(), by_thread);
    for (Fiber* f : released) {
      f->at_barrier = false;
      resume(f);
      if (f->at_barrier) parked.push_back(f);
    }
  }
}

const char* error_name(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unrecognized error code";
}

// ---- the fault handler ----------------------------------------------------------------
struct sigaction previous_segv;

void report_and_abort(const char* text) {
  ssize_t ignored = write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
  std::abort();
}

void on_fault(int signal, siginfo_t* info, void* context) {
  char* address = static_cast<char*>(info->si_addr);
  Allocation* a = find_mapping(address);
  if (!a) {  // not ours: hand it to whoever handled SIGSEGV before us
    if (previous_segv.sa_flags & SA_SIGINFO) {
      previous_segv.sa_sigaction(signal, info, context);
    } else if (previous_segv.sa_handler != SIG_IGN && previous_segv.sa_handler != SIG_DFL) {
      previous_segv.sa_handler(signal);
    } else {
      sigaction(SIGSEGV, &previous_segv, nullptr);  // default action when we return and fault again
    }
    return;
  }
  bool inside = address >= a->begin && address < a->begin + a->bytes;
  if (inside && launch_state.kernel) {  // a buffer the kernel reached without it being an argument
    set_open(*a, true);
    launch_state.opened.push_back(a);
    return;
  }
  char text[640];
  if (!launch_state.kernel) {
    std::snprintf(text, sizeof text,
                  "moments CUDA emulator: host code touched emulated device memory at %p (device buffer %p of %zu bytes, "
                  "byte offset %td) outside any kernel. On a GPU the host cannot dereference a device pointer either: "
                  "copy the data first (cudaMemcpy, or Tensor::to(Device::cpu)).\n",
                  static_cast<void*>(address), static_cast<void*>(a->begin), a->bytes, address - a->begin);
  } else {
    const char* where = address < a->begin ? "before its start" : "past its end";
    std::snprintf(text, sizeof text,
                  "moments CUDA emulator: kernel %s, block (%u, %u, %u), thread (%u, %u, %u): illegal memory access "
                  "at %p, byte offset %td of device buffer %p, which has %zu bytes (%s). On a GPU: \"an illegal "
                  "memory access was encountered\".\n",
                  launch_state.kernel, blockIdx.x, blockIdx.y, blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z,
                  static_cast<void*>(address), address - a->begin, static_cast<void*>(a->begin), a->bytes, where);
  }
  report_and_abort(text);
}

// Puts on_fault in front of SIGSEGV unless it is there already: called at every
// allocation and launch, because a test framework (doctest) may install its own
// crash handler later, on top of ours.
void install_fault_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    // The handler needs a stack of its own when a fiber's stack is what overflowed.
    static std::vector<char> alternate(64 * 1024);
    stack_t current{};
    if (sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE)) {
      stack_t ours{};
      ours.ss_sp = alternate.data();
      ours.ss_size = alternate.size();
      sigaltstack(&ours, nullptr);
    }
  });
  struct sigaction current {};
  sigaction(SIGSEGV, nullptr, &current);
  if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_fault) return;
  struct sigaction action {};
  action.sa_sigaction = on_fault;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  sigaction(SIGSEGV, &action, &previous_segv);
}

bool valid_range(const void* pointer, size_t bytes, Allocation** out) {
  std::lock_guard lock(allocations_mutex);
  Allocation* a = find_mapping(pointer);
  const char* p = static_cast<const char*>(pointer);
  if (!a || p < a->begin || bytes > static_cast<size_t>(a->begin + a->bytes - p)) return false;
  *out = a;
  return true;
}

}  // namespace

// ---- runtime API -------------------------------------------------------------------

cudaError_t cudaMalloc(void** pointer, size_t bytes) {
  if (!pointer) return set_error(cudaErrorInvalidValue, "cudaMalloc: the output pointer is null");
  *pointer = nullptr;
  if (bytes == 0) return cudaSuccess;
  install_fault_handler();
  size_t pages_bytes = (bytes + kPage - 1) / kPage * kPage;
  size_t map_bytes = pages_bytes + 2 * kPage;
  void* map = mmap(nullptr, map_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED) return set_error(cudaErrorMemoryAllocation, "cudaMalloc: mmap of %zu bytes failed", map_bytes);
  Allocation a{};
  a.map_begin = static_cast<char*>(map);
  a.map_bytes = map_bytes;
  a.pages_begin = a.map_begin + kPage;
  a.pages_bytes = pages_bytes;
  a.begin = a.pages_begin + pages_bytes - bytes;  // ends where the guard page after it starts
  a.bytes = bytes;
  a.open = false;
  {
    std::lock_guard lock(allocations_mutex);
    allocations()[a.begin] = a;
  }
  *pointer = a.begin;
  return cudaSuccess;
}

cudaError_t cudaFree(void* pointer) {
  if (!pointer) return cudaSuccess;
  std::lock_guard lock(allocations_mutex);
  auto it = allocations().find(static_cast<const char*>(pointer));
  if (it == allocations().end())
    return set_error(cudaErrorInvalidValue,
                     "cudaFree(%p): not the start of a live device allocation (freed twice, or never allocated)",
                     pointer);
  munmap(it->second.map_begin, it->second.map_bytes);
  allocations().erase(it);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* destination, const void* source, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  bool device_destination = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  bool device_source = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDeviceToDevice)
    return set_error(cudaErrorInvalidValue, "cudaMemcpy: unknown copy kind %d", static_cast<int>(kind));
  Allocation* to = nullptr;
  Allocation* from = nullptr;
  if (device_destination && !valid_range(destination, bytes, &to))
    return set_error(cudaErrorInvalidValue,
                     "cudaMemcpy: the destination [%p, +%zu bytes) is not inside one device allocation", destination,
                     bytes);
  if (device_source && !valid_range(source, bytes, &from))
    return set_error(cudaErrorInvalidValue,
                     "cudaMemcpy: the source [%p, +%zu bytes) is not inside one device allocation", source, bytes);
  if (to) set_open(*to, true);
  if (from) set_open(*from, true);
  std::memmove(destination, source, bytes);
  if (to) set_open(*to, false);
  if (from) set_open(*from, false);
  return cudaSuccess;
}

cudaError_t cudaMemset(void* pointer, int value, size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  Allocation* a = nullptr;
  if (!valid_range(pointer, bytes, &a))
    return set_error(cudaErrorInvalidValue, "cudaMemset: [%p, +%zu bytes) is not inside one device allocation",
                     pointer, bytes);
  set_open(*a, true);
  std::memset(pointer, value, bytes);
  set_open(*a, false);
  return cudaSuccess;
}

cudaError_t cudaGetLastError() {
  cudaError_t error = last_error;
  last_error = cudaSuccess;
  return error;
}
cudaError_t cudaPeekAtLastError() { return last_error; }
cudaError_t cudaDeviceSynchronize() { return last_error; }
cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
const char* cudaGetErrorString(cudaError_t error) { return error_name(error); }
const char* last_error_detail() { return last_detail; }

size_t live_allocations() {
  std::lock_guard lock(allocations_mutex);
  return allocations().size();
}
size_t live_bytes() {
  std::lock_guard lock(allocations_mutex);
  size_t total = 0;
  for (const auto& [begin, a] : allocations()) total += a.bytes;
  return total;
}

// ---- launches ---------------------------------------------------------------------

void __syncthreads() {
  Fiber* self = scheduler.running;
  if (!self || !launch_state.kernel) {
    std::fprintf(stderr, "moments CUDA emulator: __syncthreads() called outside a kernel launch\n");
    std::abort();
  }
  self->at_barrier = true;
  yield_to_scheduler(self);
}

void* dynamic_shared_memory() { return scheduler.block ? scheduler.block->shared.data() : nullptr; }

void* static_shared_memory(const void* key, size_t bytes) {
  Block* block = scheduler.block;
  if (!block || !launch_state.kernel) {
    std::fprintf(stderr, "moments CUDA emulator: a __shared__ array declared outside a kernel launch\n");
    std::abort();
  }
  for (const auto& [slot, offset] : block->static_slots)
    if (slot == key) return block->statics.data() + offset;
  const size_t offset = (block->static_used + 15) / 16 * 16;
  if (offset + bytes + block->shared.size() > kSharedLimit) {  // a GPU refuses to launch such a kernel
    std::fprintf(stderr,
                 "moments CUDA emulator: kernel %s uses %zu bytes of __shared__ memory (%zu static, %zu dynamic); the "
                 "limit is %zu (48 KiB)\n",
                 launch_state.kernel, offset + bytes + block->shared.size(), offset + bytes, block->shared.size(),
                 kSharedLimit);
    std::abort();
  }
  block->static_used = offset + bytes;
  block->static_slots.emplace_back(key, offset);
  unsigned char* memory = block->statics.data() + offset;
  std::memset(memory, 0xFF, bytes);  // NaN as floats, -1 as integers: a read before any write shows up
  return memory;
}

void launch_blocks(const char* kernel_name, dim3 grid, dim3 block, size_t shared_bytes, ThreadBody body,
                   const void* const* buffers, size_t buffer_count) {
  auto invalid = [&](const char* why) {
    set_error(cudaErrorInvalidConfiguration, "launch of %s with grid (%u, %u, %u), block (%u, %u, %u): %s", kernel_name,
              grid.x, grid.y, grid.z, block.x, block.y, block.z, why);
  };
  uint64_t threads = uint64_t{block.x} * block.y * block.z;
  if (threads == 0) return invalid("a block needs at least one thread");
  if (threads > 1024) return invalid("more than 1024 threads per block");
  if (block.x > 1024 || block.y > 1024 || block.z > 64) return invalid("block dims are limited to (1024, 1024, 64)");
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return invalid("the grid is empty");
  if (grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
    return invalid("grid dims are limited to (2^31 - 1, 65535, 65535)");
  if (shared_bytes > kSharedLimit) {
    set_error(cudaErrorInvalidValue, "launch of %s: %zu bytes of dynamic shared memory; the limit is 49152 (48 KiB)",
              kernel_name, shared_bytes);
    return;
  }
  if (launch_state.kernel) {
    std::fprintf(stderr, "moments CUDA emulator: kernel %s launched from inside kernel %s\n", kernel_name,
                 launch_state.kernel);
    std::abort();
  }
  install_fault_handler();
  // Open the buffers the kernel was passed (others open on first touch).
  launch_state.kernel = kernel_name;
  launch_state.opened.clear();
  for (size_t i = 0; i < buffer_count; ++i) {
    Allocation* a = nullptr;
    {
      std::lock_guard lock(allocations_mutex);
      a = find_mapping(buffers[i]);
    }
    if (a && !a->open) {
      set_open(*a, true);
      launch_state.opened.push_back(a);
    }
  }

  Block state;
  state.body = body;
  state.size = block;
  state.thread_count = static_cast<int>(threads);
  state.shared.resize(shared_bytes);
  state.statics.resize(kSharedLimit);  // never resized again: the threads hold pointers into it
  gridDim = grid;
  blockDim = block;
  for (unsigned int z = 0; z < grid.z; ++z)
    for (unsigned int y = 0; y < grid.y; ++y)
      for (unsigned int x = 0; x < grid.x; ++x) {
        blockIdx = {x, y, z};
        std::fill(state.shared.begin(), state.shared.end(), static_cast<unsigned char>(0xFF));
        state.static_slots.clear();  // a new block: each static array is placed (and poisoned) again
        state.static_used = 0;
        run_block(state);
      }
  scheduler.block = nullptr;

  for (Allocation* a : launch_state.opened) set_open(*a, false);
  launch_state.opened.clear();
  launch_state.kernel = nullptr;
}

}  // namespace moments::cuda::emu
