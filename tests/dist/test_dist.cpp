// tests/dist/test_dist.cpp — the communicator and data parallel, on however many ranks launched it
// (alone: one rank; tests/dist/run_ranks.sh: mpirun -np 2 and -np 3). Its own small main, as Debian's
// doctest has no doctest_mpi.h: each check prints what failed with its rank, and the exit status is
// non-zero on any failure (mpirun then ends the job).
//   1. shard_range covers a buffer with slices in rank order;
//   2. broadcast, reduce_scatter_sum, all_gather, all_reduce_sum give the expected bits (the sums added
//      in rank order, computed here from every rank's known inputs), so every rank holds the same bits;
//   3. mismatched counts and bad roots throw moments::Error on every rank, naming the collective;
//   4. data parallel: an MLP on the UCI digits, 50 steps of a global batch of 50 rows (uneven slices on
//      3 ranks), for every optimizer in the list, against one process on the same batches: the same bits
//      on one rank, within float32 tolerances on 2 and 3; every rank ends with the same bits, and the
//      bucket size changes none. Rank 0 prints a hash of each optimizer's parameters ("bits" lines),
//      which run_ranks.sh compares between two runs.
#include <csignal>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "data_parallel.hpp"
#include "moments.hpp"

using namespace moments;

namespace {

int failures = 0;
int rank_id = 0;

void expect(bool ok, const std::string& what) {
  if (ok) return;
  ++failures;
  std::cerr << "rank " << rank_id << ": FAILED: " << what << "\n";
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Rank r's input for the collectives: values that do not add exactly in float32, so the order shows.
std::vector<float> input_of(int r, size_t n) {
  std::vector<float> v(n);
  for (size_t k = 0; k < n; ++k) v[k] = 0.1f * static_cast<float>(r + 1) + 1e-3f * static_cast<float>(k) + 1.0f / static_cast<float>(k + 3 + r);
  return v;
}

void check_shards() {
  for (int64_t n : {0, 1, 7, 10, 1210})
    for (int size : {1, 2, 3, 5}) {
      int64_t next = 0;
      for (int r = 0; r < size; ++r) {
        Range s = shard_range(n, size, r);
        expect(s.begin == next && s.size() >= n / size && s.size() <= n / size + 1,
               "shard_range(" + std::to_string(n) + ", " + std::to_string(size) + ", " + std::to_string(r) + ")");
        next = s.end;
      }
      expect(next == n, "shard_range covers " + std::to_string(n));
    }
}

void check_collectives(Communicator& comm) {
  const int N = comm.size(), me = comm.rank();
  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{11}, size_t{1000}}) {
    const std::string at = " (n = " + std::to_string(n) + ")";
    // broadcast from the last rank
    std::vector<float> b = input_of(me, n);
    comm.broadcast(b, N - 1);
    expect(same_bits(b, input_of(N - 1, n)), "broadcast from rank " + std::to_string(N - 1) + at);
    // the sum every rank must get: ((x_0 + x_1) + x_2) ...
    std::vector<float> sum = input_of(0, n);
    for (int r = 1; r < N; ++r) {
      std::vector<float> x = input_of(r, n);
      for (size_t k = 0; k < n; ++k) sum[k] += x[k];
    }
    Range mine = shard_range(static_cast<int64_t>(n), N, me);
    std::vector<float> shard(static_cast<size_t>(mine.size()));
    comm.reduce_scatter_sum(input_of(me, n), shard);
    expect(same_bits(shard, std::vector<float>(sum.begin() + mine.begin, sum.begin() + mine.end)), "reduce_scatter_sum" + at);
    std::vector<float> gathered(n, -1.0f);
    comm.all_gather(std::vector<float>(sum.begin() + mine.begin, sum.begin() + mine.end), gathered);
    expect(same_bits(gathered, sum), "all_gather" + at);
    std::vector<float> reduced = input_of(me, n);
    comm.all_reduce_sum(reduced);
    expect(same_bits(reduced, sum), "all_reduce_sum (rank-ordered sum, the same bits on every rank)" + at);
  }
  comm.barrier();
}

// `run` must throw moments::Error whose message holds `needle`.
void expect_error(const std::function<void()>& run, const std::string& needle, const std::string& what) {
  try {
    run();
    expect(false, what + ": no error thrown");
  } catch (const Error& e) {
    expect(std::string(e.what()).find(needle) != std::string::npos, what + ": message '" + e.what() + "' lacks '" + needle + "'");
  }
}

void check_errors(Communicator& comm) {
  const int N = comm.size(), me = comm.rank();
  std::vector<float> v(4);
  expect_error([&] { comm.broadcast(v, N); }, "broadcast: root", "broadcast to a root past the last rank");
  std::vector<float> wrong_shard(3);
  expect_error([&] { comm.reduce_scatter_sum(std::vector<float>(4 * static_cast<size_t>(N)), wrong_shard); },
               "shard of 3", "reduce_scatter_sum with a shard of the wrong size");
  if (N > 1) {  // counts that differ between ranks: every rank must throw, none may hang
    std::vector<float> uneven(10 + static_cast<size_t>(me));
    expect_error([&] { comm.all_reduce_sum(uneven); }, "reduce_scatter_sum: the ranks passed different element counts (rank 0: 10, rank 1: 11",
                 "all_reduce_sum with counts that differ between ranks");
    expect_error([&] { comm.broadcast(uneven, 0); }, "broadcast: the ranks passed different element counts", "broadcast with uneven counts");
    comm.barrier();  // the communicator still works after the errors
  }
}

// ---- data parallel ------------------------------------------------------------------------------------
using Factory = std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&)>;
struct Case {
  std::string name;
  Factory make;
};
// |dp − one process| <= kAtol + kRtol·|one process|, per element, after 50 steps. Measured on 2 and 3 ranks
// (x86-64-v3): at most 3e-7 (SGD with momentum, 3 ranks), Lion 0 (a sign survives rounding); the bound
// leaves ten times that.
constexpr float kAtol = 2e-6f, kRtol = 1e-5f;

std::vector<float> flat(const std::vector<Tensor>& params) {
  std::vector<float> out;
  for (const Tensor& p : params) out.insert(out.end(), p.data(), p.data() + p.numel());
  return out;
}

constexpr int kSteps = 50;
constexpr int64_t kBatch = 50;

// 50 steps of the digits MLP (64 → 16 → 10) on global batches of kBatch rows in the file's order; with `dp`,
// on this rank's slice of each batch, gradients averaged across the ranks. `init_seed`: the model's weights.
std::vector<float> train(const Dataset& data, const Case& c, uint64_t init_seed, Communicator* comm, int64_t bucket) {
  Generator gen(init_seed);
  MLP model({64, 16, 10}, gen);
  std::unique_ptr<DataParallel> dp;
  if (comm) dp = std::make_unique<DataParallel>(*comm, model.parameters(), DataParallelOptions{.bucket_elements = bucket});
  auto opt = c.make(model.parameters());
  const int64_t batches = data.size() / kBatch;
  for (int step = 0; step < kSteps; ++step) {
    const int64_t begin = (step % batches) * kBatch;
    Range mine = dp ? dp->shard(begin, begin + kBatch) : Range{begin, begin + kBatch};
    opt->zero_grad();
    Tensor loss = cross_entropy(model.forward(rows(data.inputs, mine.begin, mine.end)), labels_of(data, mine.begin, mine.end));  // forward
    loss.backward();                                                   // backward
    if (dp) dp->average_gradients(mine.size(), kBatch);                // every rank: the global mean's gradient
    opt->step();                                                       // update
  }
  return flat(model.parameters());
}

uint64_t fnv1a(const std::vector<float>& v) {
  uint64_t h = 1469598103934665603ull;
  const auto* bytes = reinterpret_cast<const unsigned char*>(v.data());
  for (size_t i = 0; i < v.size() * sizeof(float); ++i) h = (h ^ bytes[i]) * 1099511628211ull;
  return h;
}

// Every optimizer whose step is cheap on this MLP. Left out: Shampoo and SOAP (a matrix root or
// eigenbasis per step: most of a minute here, and SOAP's eigenbasis turns the ranks' rounding into 6e-3
// after 50 steps), Muon (matrices only), Adam-mini (its partition needs names), SophiaG (its Hessian
// estimate is a separate step).
std::vector<Case> cases() {
  using P = std::vector<Tensor>;
  return {
      {"SGD", [](const P& p) { return std::make_unique<SGD>(p, SgdOptions{.learning_rate = 0.1, .momentum = 0.9}); }},
      {"Adam", [](const P& p) { return std::make_unique<Adam>(p, AdamOptions{.learning_rate = 1e-2}); }},
      {"AdamW", [](const P& p) { return std::make_unique<AdamW>(p, AdamWOptions{.learning_rate = 1e-2, .weight_decay = 0.1}); }},
      {"Adafactor", [](const P& p) { return std::make_unique<Adafactor>(p, AdafactorOptions{}); }},
      {"Lion", [](const P& p) { return std::make_unique<Lion>(p, LionOptions{.learning_rate = 1e-3}); }},
      {"Adagrad", [](const P& p) { return std::make_unique<Adagrad>(p, AdagradOptions{.learning_rate = 0.05}); }},
      {"RMSprop", [](const P& p) { return std::make_unique<RMSprop>(p, RmspropOptions{.learning_rate = 1e-3}); }},
      {"Adadelta", [](const P& p) { return std::make_unique<Adadelta>(p, AdadeltaOptions{}); }},
      {"Adamax", [](const P& p) { return std::make_unique<Adamax>(p, AdamaxOptions{}); }},
      {"NAdam", [](const P& p) { return std::make_unique<NAdam>(p, NadamOptions{.learning_rate = 1e-2}); }},
      {"RAdam", [](const P& p) { return std::make_unique<RAdam>(p, RadamOptions{.learning_rate = 1e-2}); }},
      {"LAMB", [](const P& p) { return std::make_unique<Lamb>(p, LambOptions{}); }},
      {"Adam8bit", [](const P& p) { return std::make_unique<Adam8bit>(p, Adam8bitOptions{}); }},
      {"AdamWScheduleFree", [](const P& p) { return std::make_unique<AdamWScheduleFree>(p, ScheduleFreeOptions{}); }},
  };
}

void check_data_parallel(Communicator& comm) {
  const Dataset data = load_digits_csv(MOMENTS_DATA_DIR "/digits.csv");
  const int me = comm.rank();
  bool first = true;
  for (const Case& c : cases()) {
    // Every rank starts from other weights (seed 7 + rank): the broadcast must make them rank 0's.
    const std::vector<float> together = train(data, c, 7 + static_cast<uint64_t>(me), &comm, 1000);  // 1210 floats: 2 buckets
    // The one-process run, on rank 0 only (the other ranks receive its parameters: half the work under ASan).
    std::vector<float> alone = me == 0 ? train(data, c, 7, nullptr, 0) : std::vector<float>(together.size());
    comm.broadcast(alone, 0);
    float worst = 0.0f;
    bool within = alone.size() == together.size();
    for (size_t i = 0; within && i < alone.size(); ++i) {
      const float err = std::fabs(together[i] - alone[i]);
      worst = std::max(worst, err);
      if (err > kAtol + kRtol * std::fabs(alone[i])) within = false;
    }
    if (comm.size() == 1) expect(same_bits(together, alone), c.name + ": one rank gives one process's bits");
    std::ostringstream what;
    what << c.name << ": " << comm.size() << " ranks against one process after " << kSteps << " steps, max |diff| " << worst
         << " (allowed " << kAtol << " + " << kRtol << "·|θ|)";
    expect(within, what.str());
    // The same bits on every rank: rank 0's parameters broadcast and compared.
    std::vector<float> rank0 = together;
    comm.broadcast(rank0, 0);
    expect(same_bits(rank0, together), c.name + ": every rank holds rank 0's parameters bit for bit");
    if (first) {  // the bucket size changes no bit
      expect(same_bits(train(data, c, 7 + static_cast<uint64_t>(me), &comm, 1 << 20), together), c.name + ": one bucket against two");
      expect(same_bits(train(data, c, 7 + static_cast<uint64_t>(me), &comm, 97), together), c.name + ": buckets of 97 against two");
      first = false;
    }
    if (me == 0) {
      std::cout << "bits " << c.name << " " << std::hex << fnv1a(together) << std::dec << "\n";
      std::cout << "  " << what.str() << "\n";
    }
  }
}

}  // namespace

// `test_dist --rank-dies`: the last rank kills itself (SIGKILL, as a crash would) while the others wait in an
// all-reduce for it. MPI cannot time that collective out; mpirun sees the dead rank and ends the job, which
// run_ranks.sh checks happens (a non-zero status, well within its timeout).
int rank_dies(Communicator& comm) {
  std::vector<float> v(1000, 1.0f);
  if (comm.rank() == comm.size() - 1) std::raise(SIGKILL);
  comm.all_reduce_sum(v);
  std::cerr << "rank " << comm.rank() << ": the all-reduce returned without the dead rank\n";
  return 0;
}

int main(int argc, char** argv) {
  try {
    std::unique_ptr<Communicator> comm = make_communicator();
    rank_id = comm->rank();
    if (argc > 1 && std::string(argv[1]) == "--rank-dies") return comm->size() > 1 ? rank_dies(*comm) : 0;
    if (rank_id == 0) std::cout << "test_dist: " << comm->size() << " rank(s), backend " << comm->backend() << "\n";
    check_shards();
    check_collectives(*comm);
    check_errors(*comm);
    check_data_parallel(*comm);
    if (rank_id == 0 || failures) std::cout << "rank " << rank_id << ": " << failures << " failure(s)\n";
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "rank " << rank_id << ": unexpected error: " << e.what() << "\n";
    return 1;
  }
}
