// parallel.cpp — the persistent thread pool behind parallel_for (contract in parallel.hpp).
//
// One job at a time: the caller publishes the job, wakes the workers, and takes chunks itself like any
// worker; every thread claims the next chunk number from one atomic counter until none are left. Which
// thread runs which chunk varies from call to call; what a chunk computes does not.
#include "parallel.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "error.hpp"

// The cut-offs (kElementsPerChunk in parallel.hpp, kGemmFlopsPerChunk in ops.cpp) are set so that one chunk
// is worth several wake-ups of a worker (a condition variable: a few microseconds when a core is free).
// Measured on the 2-core VM of 2026-12, best of 2000 runs: an Adam element loop takes 0.42 ns per float
// (13.7 µs for 32K floats), so a 32K-float chunk is about 14 µs; a 128³ product (2.1M multiply-adds,
// kGemmFlopsPerChunk) takes 40 µs on one thread. Smaller tensors and products run inline. (The speed-up at
// 2 threads could not be measured there: other builds kept the load average at 20 to 37 on 2 cores.)

namespace moments {

namespace {

// True on a pool worker, and on the caller while it runs a job: a parallel_for there runs inline.
thread_local bool inside_parallel_region = false;

int default_num_threads() {
  if (const char* env = std::getenv("MOMENTS_NUM_THREADS"); env && *env) {
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    if (*end != '\0' || n < 1 || n > 1024)
      fail("MOMENTS_NUM_THREADS: expected a whole number of threads in [1, 1024], got \"", env, "\"");
    return static_cast<int>(n);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

struct Job {
  const ChunkBody* body = nullptr;
  std::int64_t n = 0, chunk = 1, chunks = 0;
  std::atomic<std::int64_t> next_chunk{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;  // the exception of the lowest chunk index that threw
  std::int64_t error_chunk = std::numeric_limits<std::int64_t>::max();

  // Claims and runs chunks until none are left (or one has thrown).
  void run_chunks() {
    for (;;) {
      std::int64_t c = next_chunk.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks || failed.load(std::memory_order_relaxed)) return;
      std::int64_t begin = c * chunk;
      try {
        (*body)(begin, std::min(n, begin + chunk));
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (c < error_chunk) {
          error_chunk = c;
          error = std::current_exception();
        }
        failed.store(true, std::memory_order_relaxed);
      }
    }
  }
};

class Pool {
 public:
  ~Pool() { resize(0); }

  int workers() const { return static_cast<int>(threads_.size()); }

  // Exactly `count` worker threads (joins the old ones first if the count changes).
  void resize(int count) {
    if (count == workers()) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    stop_ = false;
    for (int i = 0; i < count; ++i) threads_.emplace_back([this] { worker_loop(); });
  }

  // Runs the job on the caller plus up to `helpers` workers; returns when every chunk is done.
  void run(Job& job, int helpers) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &job;
      wanted_ = helpers;
      busy_ = 0;
      ++generation_;
    }
    wake_.notify_all();
    job.run_chunks();
    std::unique_lock<std::mutex> lock(mutex_);
    wanted_ = 0;  // workers that wake up late skip this job
    done_.wait(lock, [&] { return busy_ == 0; });
    job_ = nullptr;
  }

  std::mutex use_mutex;  // held by the one caller that owns the pool for a job

 private:
  void worker_loop() {
    inside_parallel_region = true;
    std::uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (wanted_ == 0) continue;
      --wanted_;
      ++busy_;
      Job* job = job_;
      lock.unlock();
      job->run_chunks();
      lock.lock();
      if (--busy_ == 0) done_.notify_all();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  Job* job_ = nullptr;
  std::uint64_t generation_ = 0;
  int wanted_ = 0;  // workers still to join the current job
  int busy_ = 0;    // workers running the current job
  bool stop_ = false;
};

Pool& pool() {
  static Pool instance;
  return instance;
}

std::mutex settings_mutex;
int requested_threads = 0;  // 0: the default

}  // namespace

void set_num_threads(int n) {
  if (n < 0) fail("set_num_threads: expected n >= 1 (or 0 for the default), got ", n);
  if (inside_parallel_region) fail("set_num_threads: called inside a parallel_for body");
  std::lock_guard<std::mutex> lock(settings_mutex);
  requested_threads = n;
}

int num_threads() {
  std::lock_guard<std::mutex> lock(settings_mutex);
  if (requested_threads == 0) requested_threads = default_num_threads();
  return requested_threads;
}

void parallel_for(std::int64_t n, std::int64_t chunk, ChunkBody body) {
  if (chunk < 1) fail("parallel_for: chunk must be >= 1, got ", chunk);
  if (n <= 0) return;
  std::int64_t chunks = num_chunks(n, chunk);
  int threads = chunks > 1 && !inside_parallel_region ? num_threads() : 1;
  std::unique_lock<std::mutex> owner(pool().use_mutex, std::defer_lock);
  if (threads > 1 && !owner.try_lock()) threads = 1;  // another user thread holds the pool: run inline
  if (threads == 1) {
    for (std::int64_t begin = 0; begin < n; begin += chunk) body(begin, std::min(n, begin + chunk));
    return;
  }
  Pool& p = pool();
  p.resize(threads - 1);
  Job job;
  job.body = &body;
  job.n = n;
  job.chunk = chunk;
  job.chunks = chunks;
  inside_parallel_region = true;
  p.run(job, static_cast<int>(std::min<std::int64_t>(threads - 1, chunks - 1)));
  inside_parallel_region = false;
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace moments
