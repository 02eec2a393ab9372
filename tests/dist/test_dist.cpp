// tests/dist/test_dist.cpp — the communicator and data parallel, on however many ranks launched it
// (alone: one rank; tests/dist/run_ranks.sh: mpirun -np 2 and -np 3). Its own small main, as Debian's
// doctest has no doctest_mpi.h: each check prints what failed with its rank, and the exit status is
// non-zero on any failure (mpirun then ends the job).
//   1. shard_range covers a buffer with slices in rank order;
//   2. broadcast, reduce_scatter_sum, all_gather, all_reduce_sum and their uneven forms give the expected
//      bits (the sums added in rank order, computed here from every rank's known inputs), so every rank
//      holds the same bits; broadcast_bytes sends bytes;
//   3. mismatched counts and bad roots throw moments::Error on every rank, naming the collective;
//   4. data parallel: an MLP on the UCI digits, 50 steps of a global batch of 50 rows (uneven slices on
//      3 ranks), for every optimizer in the list, against one process on the same batches: the same bits
//      on one rank, within float32 tolerances on 2 and 3; every rank ends with the same bits, and the
//      bucket size changes none. Rank 0 prints a hash of each optimizer's parameters ("bits" lines),
//      which run_ranks.sh compares between two runs.
//   5. ZeRO (dist/zero.hpp): stage 2 for every optimizer of the list (and stage 1 for three) gives
//      DataParallel's parameters bit for bit, flat or whole-tensor as the optimizer allows; each rank's
//      state is its slice's (Adam: 8 bytes per element it owns), the ranks' add up to one process's; a
//      sharded run's checkpoint is, byte for byte, the one a one-process optimizer with the same state
//      writes; the optimizers that cannot be sharded so are refused by name.
//   6. parameters on Device::cuda (the emulator without a GPU): data parallel and ZeRO staged through the host;
//   7. `--save DIR` / `--resume DIR` (run_resume.sh): a checkpoint written by a ZeRO run on one rank count
//      resumes on another, bit for bit where the rank count is the same, within tolerance otherwise.
#include <algorithm>
#include <csignal>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <unistd.h>
#include <fstream>
#include <iterator>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "backend.hpp"  // cuda::set_emulation
#include "data_parallel.hpp"
#include "zero.hpp"
#include "../temp_files.hpp"  // testing::read_file
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
    // Uneven slices (ZeRO's whole tensors): rank r gets counts[r] elements, rank 0 none when n > 0.
    std::vector<int64_t> counts(static_cast<size_t>(N), 0);
    for (size_t k = 0; k < n; ++k) counts[N == 1 ? 0 : 1 + k % static_cast<size_t>(N - 1)] += 1;
    int64_t begin = 0;
    for (int r = 0; r < me; ++r) begin += counts[static_cast<size_t>(r)];
    const int64_t count = counts[static_cast<size_t>(me)];
    std::vector<float> uneven(static_cast<size_t>(count));
    comm.reduce_scatter_sum_uneven(input_of(me, n), uneven, counts);
    expect(same_bits(uneven, std::vector<float>(sum.begin() + begin, sum.begin() + begin + count)), "reduce_scatter_sum_uneven" + at);
    std::vector<float> gathered_uneven(n, -1.0f);
    comm.all_gather_uneven(uneven, gathered_uneven, counts);
    expect(same_bits(gathered_uneven, sum), "all_gather_uneven" + at);
  }
  // Bytes from the last rank.
  std::string text = "rank " + std::to_string(me) + " says hello";
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(text.data()), reinterpret_cast<const std::byte*>(text.data()) + text.size());
  bytes.resize(32);
  comm.broadcast_bytes(bytes, N - 1);
  expect(std::string(reinterpret_cast<const char*>(bytes.data())) == "rank " + std::to_string(N - 1) + " says hello", "broadcast_bytes");
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
  std::vector<float> four_floats(4);
  expect_error([&] { comm.all_gather_uneven(std::vector<float>(1), four_floats, std::vector<int64_t>(static_cast<size_t>(N), 9)); },
               "the shard counts add up to", "all_gather_uneven with counts that do not add up");
  if (N > 1) {  // counts that differ between ranks: every rank must throw, none may hang
    std::vector<int64_t> mine_counts(static_cast<size_t>(N), 0);
    mine_counts[static_cast<size_t>(me)] = 4;  // each rank claims all four elements for itself
    std::vector<float> four(4);
    expect_error([&] { comm.all_gather_uneven(std::vector<float>(4), four, mine_counts); }, "passed other shard counts",
                 "all_gather_uneven with counts that differ between ranks");
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
  for (const Tensor& p : params) {
    const std::vector<float> values = p.to_vector();  // from either device
    out.insert(out.end(), values.begin(), values.end());
  }
  return out;
}

constexpr int kSteps = 50;
constexpr int64_t kBatch = 50;

// How train() spreads the work: one process, DataParallel, or ZeRO at a stage.
struct Spread {
  Communicator* comm = nullptr;  // nullptr: one process
  int64_t bucket = 1 << 20;      // DataParallel's bucket
  int zero_stage = 0;            // 0: DataParallel; 1 or 2: ZeroOptimizer
  Device device = Device::cpu;   // where the model lives (cuda: the GPU or the emulator)
};

// `steps` steps (from step `first`) of the digits MLP (64 → 16 → 10) on global batches of kBatch rows in the
// file's order; with a communicator, on this rank's slice of each batch, gradients averaged across the ranks.
// `init_seed`: the model's weights.
std::vector<float> train(const Dataset& data, const Case& c, uint64_t init_seed, Spread spread, int steps = kSteps) {
  Generator gen(init_seed);
  MLP model({64, 16, 10}, gen);
  model.to(spread.device);
  std::unique_ptr<DataParallel> dp;
  std::unique_ptr<ZeroOptimizer> zero;
  std::unique_ptr<Optimizer> opt;
  if (spread.comm && spread.zero_stage > 0)
    zero = std::make_unique<ZeroOptimizer>(*spread.comm, model.parameters(), c.make, ZeroOptions{.stage = spread.zero_stage});
  else {
    if (spread.comm) dp = std::make_unique<DataParallel>(*spread.comm, model.parameters(), DataParallelOptions{.bucket_elements = spread.bucket});
    opt = c.make(model.parameters());
  }
  const int64_t batches = data.size() / kBatch;
  for (int step = 0; step < steps; ++step) {
    const int64_t begin = (step % batches) * kBatch;
    Range mine = zero ? zero->shard(begin, begin + kBatch) : dp ? dp->shard(begin, begin + kBatch) : Range{begin, begin + kBatch};
    zero ? zero->zero_grad() : opt->zero_grad();
    Tensor loss = cross_entropy(model.forward(rows(data.inputs, mine.begin, mine.end).to(spread.device)), labels_of(data, mine.begin, mine.end));  // forward
    loss.backward();                                                   // backward
    if (zero) {
      zero->step(mine.size(), kBatch);                                 // reduce, the shard's update, gather
      continue;
    }
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
      {"LAMB", [](const P& p) { return std::make_unique<Lamb>(p, LambOptions{.max_grad_norm = INFINITY}); }},  // (ZeRO: no global clipping)
      {"Adam8bit", [](const P& p) { return std::make_unique<Adam8bit>(p, Adam8bitOptions{}); }},
      {"AdamWScheduleFree", [](const P& p) { return std::make_unique<AdamWScheduleFree>(p, ScheduleFreeOptions{}); }},
  };
}

void check_data_parallel(Communicator& comm) {
  const Dataset data = load_digits_csv(MOMENTS_DATA_DIR "/digits.csv");
  const int me = comm.rank();
  bool first = true, first_zero = true;
  for (const Case& c : cases()) {
    // Every rank starts from other weights (seed 7 + rank): the broadcast must make them rank 0's.
    const std::vector<float> together = train(data, c, 7 + static_cast<uint64_t>(me), {.comm = &comm, .bucket = 1000});  // 1210 floats: 2 buckets
    // The one-process run, on rank 0 only (the other ranks receive its parameters: half the work under ASan).
    std::vector<float> alone = me == 0 ? train(data, c, 7, {}) : std::vector<float>(together.size());
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
      expect(same_bits(train(data, c, 7 + static_cast<uint64_t>(me), {.comm = &comm, .bucket = 1 << 20}), together), c.name + ": one bucket against two");
      expect(same_bits(train(data, c, 7 + static_cast<uint64_t>(me), {.comm = &comm, .bucket = 97}), together), c.name + ": buckets of 97 against two");
      first = false;
    }
    // ZeRO: the same bits as data parallel (stage 2 for each; stage 1 for the first, flat, and a whole-tensor one).
    for (int stage : {1, 2}) {
      if (stage == 1 && !(first_zero || c.name == "Adafactor" || c.name == "Adam8bit")) continue;
      const std::vector<float> sharded = train(data, c, 7 + static_cast<uint64_t>(me), {.comm = &comm, .zero_stage = stage});
      expect(same_bits(sharded, together), c.name + ": ZeRO stage " + std::to_string(stage) + " gives data parallel's bits");
    }
    first_zero = false;
    if (me == 0) {
      std::cout << "bits " << c.name << " " << std::hex << fnv1a(together) << std::dec << "\n";
      std::cout << "  " << what.str() << "\n";
    }
  }
}

// A path prefix in the temporary directory, the same on every rank (rank 0's process id) and another for each run.
std::string scratch_prefix(Communicator& comm) {
  float pid = static_cast<float>(getpid());  // < 2^22 on Linux: exact in a float
  comm.broadcast(std::span<float>(&pid, 1), 0);
  return (std::filesystem::temp_directory_path() / ("moments_zero_" + std::to_string(static_cast<long>(pid)) + "_")).string();
}

// ZeRO's memory, its checkpoints, and what it refuses.
void check_zero(Communicator& comm) {
  const Dataset data = load_digits_csv(MOMENTS_DATA_DIR "/digits.csv");
  const int me = comm.rank(), N = comm.size();
  Generator gen(7);
  MLP model({64, 16, 10}, gen);
  const std::vector<Case> all = cases();
  auto find = [&](const std::string& name) { return *std::find_if(all.begin(), all.end(), [&](const Case& c) { return c.name == name; }); };
  for (const std::string name : {"Adam", "Adafactor"}) {
    const Case c = find(name);
    ZeroOptimizer zero(comm, model.parameters(), c.make, {.stage = 2});
    expect(zero.partition() == (name == "Adam" ? ZeroPartition::flat : ZeroPartition::whole_tensors), name + ": the automatic partition");
    for (int step = 0; step < 3; ++step) {
      Range mine = zero.shard(0, kBatch);
      zero.zero_grad();
      cross_entropy(model.forward(rows(data.inputs, mine.begin, mine.end)), labels_of(data, mine.begin, mine.end)).backward();
      zero.step(mine.size(), kBatch);
    }
    const int64_t owned = zero.shard_counts()[static_cast<size_t>(me)];
    if (name == "Adam") expect(zero.state_bytes() == 8 * owned, "Adam under ZeRO keeps 8 bytes per element this rank owns");
    expect(zero.gradient_bytes() == 0, name + ": stage 2 keeps no gradient between steps");
    // The ranks' state adds up to one process's, whose optimizer is loaded with the gathered state.
    std::vector<float> bytes(static_cast<size_t>(N), 0.0f);
    bytes[static_cast<size_t>(me)] = static_cast<float>(zero.state_bytes());
    comm.all_reduce_sum(bytes);
    float sum = 0;
    for (float b : bytes) sum += b;
    std::unique_ptr<Optimizer> one = zero.make_full_optimizer();
    one->load_state_dict(zero.full_state_dict());
    expect(sum == static_cast<float>(one->state_bytes_total()), name + ": the ranks' state bytes add up to one process's");
    if (me == 0)
      std::cout << "  ZeRO stage 2, " << name << ": state bytes per rank " << zero.state_bytes() << " of one process's "
                << one->state_bytes_total() << " (" << N << " ranks)\n";
    // The checkpoint of the sharded run is the one-process optimizer's, byte for byte.
    const std::string dir = scratch_prefix(comm);
    save_checkpoint(dir + name + ".safetensors", model, zero, nullptr, {.step = 3});
    if (me == 0) {
      save_checkpoint(dir + name + "_one.safetensors", model, *one, nullptr, {.step = 3});
      expect(testing::read_file(dir + name + ".safetensors") == testing::read_file(dir + name + "_one.safetensors"),
             name + ": the sharded checkpoint is the one-process optimizer's, byte for byte");
      std::remove((dir + name + "_one.safetensors").c_str());
    }
    comm.barrier();
    // Loading it back gives every rank its slice again, with the same state.
    const StateDict before = zero.full_state_dict();
    ZeroOptimizer again(comm, model.parameters(), c.make, {.stage = 1});
    load_checkpoint(dir + name + ".safetensors", model, again);
    std::unique_ptr<Optimizer> reloaded = again.make_full_optimizer();
    reloaded->load_state_dict(again.full_state_dict());
    expect(reloaded->state_bytes_total() == one->state_bytes_total(), name + ": the reloaded state has one process's size");
    comm.barrier();
    if (me == 0) std::remove((dir + name + ".safetensors").c_str());
  }
  // Refused by name: LAMB with its global clipping, a flat partition of a whole-tensor optimizer, stage 3.
  auto lamb = [](const std::vector<Tensor>& p) { return std::make_unique<Lamb>(p, LambOptions{}); };
  expect_error([&] { ZeroOptimizer z(comm, model.parameters(), lamb); }, "LAMB needs every gradient", "ZeRO with LAMB's clipping");
  expect_error([&] { ZeroOptimizer z(comm, model.parameters(), find("Adafactor").make, {.partition = ZeroPartition::flat}); },
               "Adafactor reads whole tensors", "ZeRO flat with Adafactor");
  expect_error([&] { ZeroOptimizer z(comm, model.parameters(), find("Adam").make, {.stage = 3}); }, "stage 3", "ZeRO stage 3");
  expect_error([&] { ZeroOptimizer z(comm, model.parameters(), find("Adam").make, {.bucket_elements = 0}); }, "bucket_elements = 0",
               "ZeRO with an empty bucket");
  expect_error([&] { ZeroOptimizer z(comm, model.parameters(), find("Adam").make); z.step(3, 2); }, "local_rows 3, global_rows 2",
               "ZeRO step with more local rows than global");
  comm.barrier();
}

// Parameters on Device::cuda (a GPU, or the CPU emulator): their gradients and weights go through the
// host for each collective. Data parallel matches one process on the device as on the CPU, ZeRO stage 2
// gives data parallel's bits, and the gathered state lives on the device.
void check_cuda(Communicator& comm) {
  cuda::set_emulation(true);  // the emulator where there is no GPU
  if (!cuda_available()) {
    if (comm.rank() == 0) std::cout << "  cuda: no GPU and no emulator in this build; skipped\n";
    return;
  }
  const Dataset data = load_digits_csv(MOMENTS_DATA_DIR "/digits.csv");
  const int me = comm.rank();
  const Case adam = cases()[1];
  constexpr int kCudaSteps = 10;
  const std::vector<float> dp = train(data, adam, 7 + static_cast<uint64_t>(me), {.comm = &comm, .device = Device::cuda}, kCudaSteps);
  std::vector<float> alone = me == 0 ? train(data, adam, 7, {.device = Device::cuda}, kCudaSteps) : std::vector<float>(dp.size());
  comm.broadcast(alone, 0);
  float worst = 0;
  for (size_t i = 0; i < dp.size(); ++i) worst = std::max(worst, std::fabs(dp[i] - alone[i]));
  if (comm.size() == 1) expect(same_bits(dp, alone), "cuda: one rank gives one process's bits");
  expect(worst <= kAtol, "cuda: data parallel against one process, max |diff| " + std::to_string(worst));
  const std::vector<float> zero2 = train(data, adam, 7 + static_cast<uint64_t>(me), {.comm = &comm, .zero_stage = 2, .device = Device::cuda}, kCudaSteps);
  expect(same_bits(zero2, dp), "cuda: ZeRO stage 2 gives data parallel's bits");
  // The gathered state is on the device, and reloads.
  Generator gen(7);
  MLP model({64, 16, 10}, gen);
  model.to(Device::cuda);
  ZeroOptimizer zero(comm, model.parameters(), adam.make, {.stage = 2});
  Range mine = zero.shard(0, kBatch);
  cross_entropy(model.forward(rows(data.inputs, mine.begin, mine.end).to(Device::cuda)), labels_of(data, mine.begin, mine.end)).backward();
  zero.step(mine.size(), kBatch);
  const StateDict full = zero.full_state_dict();
  bool on_device = !full.state.empty();
  for (const auto& [index, state] : full.state)
    for (const auto& [name, buffer] : state.buffers) on_device = on_device && buffer.device() == Device::cuda;
  expect(on_device, "cuda: the gathered state's buffers are on the device");
  zero.load_full_state_dict(full);
  expect(zero.full_state_dict().state.at(0).buffers.at("exp_avg").to_vector() == full.state.at(0).buffers.at("exp_avg").to_vector(),
         "cuda: the state reloads");
  if (me == 0) std::cout << "  cuda (" << comm.size() << " ranks, staged through the host): data parallel against one process, max |diff| " << worst << "\n";
}

// ---- resume across rank counts (run_resume.sh) ---------------------------------------------------------
// `--save DIR`: 40 steps of ZeRO stage 2 with a warmup-cosine schedule, a checkpoint at step 20, the final
// parameters to DIR/final_<optimizer>.bin. `--resume DIR`: from the checkpoint, the last 20 steps, against
// that file: the same bits when run on the saving rank count, within kAtol + kRtol·|θ| otherwise.
constexpr int kResumeSteps = 40, kSaveAt = 20;

std::vector<float> train_zero(const Dataset& data, const Case& c, Communicator& comm, const std::string& save,
                              const std::string& resume) {
  Generator gen(7);
  MLP model({64, 16, 10}, gen);
  ZeroOptimizer zero(comm, model.parameters(), c.make, {.stage = 2});
  LrScheduler schedule(zero.shard_optimizer(), warmup_cosine(5, kResumeSteps));
  int64_t first = 0;
  if (!resume.empty()) first = load_checkpoint(resume, model, zero, &schedule).step;
  for (int64_t step = first; step < kResumeSteps; ++step) {
    if (!save.empty() && step == kSaveAt)
      save_checkpoint(save, model, zero, &schedule, {.step = step, .metadata = {{"ranks", std::to_string(comm.size())}}});
    const int64_t begin = (step % (data.size() / kBatch)) * kBatch;
    Range mine = zero.shard(begin, begin + kBatch);
    zero.zero_grad();
    cross_entropy(model.forward(rows(data.inputs, mine.begin, mine.end)), labels_of(data, mine.begin, mine.end)).backward();
    zero.step(mine.size(), kBatch);
    schedule.step();
  }
  return flat(model.parameters());
}

int save_or_resume(Communicator& comm, const std::string& mode, const std::string& dir) {
  const Dataset data = load_digits_csv(MOMENTS_DATA_DIR "/digits.csv");
  const std::vector<Case> all = cases();
  for (const std::string name : {"AdamW", "Adafactor"}) {
    const Case c = *std::find_if(all.begin(), all.end(), [&](const Case& k) { return k.name == name; });
    const std::string checkpoint = dir + "/" + name + ".safetensors", final_file = dir + "/final_" + name + ".bin";
    if (mode == "--save") {
      const std::vector<float> end = train_zero(data, c, comm, checkpoint, "");
      if (comm.rank() == 0) {
        std::ofstream out(final_file, std::ios::binary);
        out.write(reinterpret_cast<const char*>(end.data()), static_cast<std::streamsize>(end.size() * sizeof(float)));
        std::cout << "saved " << name << " on " << comm.size() << " ranks\n";
      }
      continue;
    }
    const std::vector<float> resumed = train_zero(data, c, comm, "", checkpoint);
    std::vector<float> uninterrupted(resumed.size());
    std::ifstream in(final_file, std::ios::binary);
    in.read(reinterpret_cast<char*>(uninterrupted.data()), static_cast<std::streamsize>(uninterrupted.size() * sizeof(float)));
    expect(static_cast<bool>(in), "read " + final_file);
    const std::string saved_ranks = load(checkpoint).metadata.at("user.ranks");
    float worst = 0;
    bool within = true;
    for (size_t i = 0; i < resumed.size(); ++i) {
      const float err = std::fabs(resumed[i] - uninterrupted[i]);
      worst = std::max(worst, err);
      within = within && err <= kAtol + kRtol * std::fabs(uninterrupted[i]);
    }
    std::ostringstream what_text;
    what_text << name << ": saved on " << saved_ranks << " ranks at step " << kSaveAt << ", resumed on " << comm.size()
              << ", max |diff| from the uninterrupted run " << worst;
    const std::string what = what_text.str();
    if (saved_ranks == std::to_string(comm.size())) expect(same_bits(resumed, uninterrupted), what + " (expected the same bits)");
    else expect(within, what);
    if (comm.rank() == 0) std::cout << "  " << what << "\n";
  }
  if (comm.rank() == 0 || failures) std::cout << "rank " << comm.rank() << ": " << failures << " failure(s)\n";
  return failures == 0 ? 0 : 1;
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
    if (argc > 2 && (std::string(argv[1]) == "--save" || std::string(argv[1]) == "--resume")) return save_or_resume(*comm, argv[1], argv[2]);
    if (rank_id == 0) std::cout << "test_dist: " << comm->size() << " rank(s), backend " << comm->backend() << "\n";
    check_shards();
    check_collectives(*comm);
    check_errors(*comm);
    check_data_parallel(*comm);
    check_zero(*comm);
    check_cuda(*comm);
    if (rank_id == 0 || failures) std::cout << "rank " << rank_id << ": " << failures << " failure(s)\n";
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "rank " << rank_id << ": unexpected error: " << e.what() << "\n";
    return 1;
  }
}
