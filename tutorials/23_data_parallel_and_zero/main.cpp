// Tutorial 23 — data parallelism and ZeRO: the same training on 1, 2 and 3 ranks, and who keeps what.
//
//   1. The digits MLP (64-32-10) trained with AdamW by one process, then by every rank of this run with
//      DataParallel, ZeRO stage 1 and ZeRO stage 2 (lib/dist/): the losses, the held-out accuracy, and how far
//      the parameters are from the one-process run's (the ranks add their gradients in another grouping).
//   2. Memory per rank, measured, for a 784-1024-1024-10 MLP with Adam after one step: weights, gradients,
//      optimizer state and the copies ZeRO steps the slices of cut tensors in, per rank and per scheme. Drawn as zero_memory.png.
//   3. The capstone's GPT (tutorial 22's short configuration) trained the same way with DataParallel: the
//      windows of each batch split across the ranks, the gradient averaged, then clipped by its global norm.
//   4. At 1,000 ranks: the ZeRO paper's per-rank memory and traffic for a model of a billion parameters,
//      computed from the formulas (nothing is run), in float32 as moments trains and in mixed precision.
//
// Build and run (one rank without mpirun; as root add --allow-run-as-root, and --oversubscribe for more
// ranks than cores):
//   meson compile -C build && mpirun -np 2 ./build/tutorials/23_data_parallel_and_zero [--out DIR]
//   --out DIR  where zero_memory.png goes (default: the current directory); only rank 0 prints and draws
// Try this (the README's last section):
//   --adafactor  parts 1 and 2 alone, with Adafactor (its defaults) instead of AdamW and Adam: ZeRO then
//                partitions whole tensors (no chart)
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../22_char_gpt/gpt.hpp"  // the capstone's model and recipe
#include "data_parallel.hpp"
#include "moments.hpp"
#include "plots.hpp"
#include "zero.hpp"

using namespace moments;

namespace {

constexpr int64_t kBatch = 50;  // the global batch: 17 + 17 + 16 rows on 3 ranks
constexpr int kSteps = 200;
bool adafactor = false;  // Try this: --adafactor

// Part 1's optimizer, and part 2's.
std::unique_ptr<Optimizer> make_adamw(const std::vector<Tensor>& params) {
  if (adafactor) return std::make_unique<Adafactor>(params, AdafactorOptions{});
  return std::make_unique<AdamW>(params, AdamWOptions{.learning_rate = 3e-3, .weight_decay = 0.01});
}
std::unique_ptr<Optimizer> make_adam(const std::vector<Tensor>& params) {
  if (adafactor) return std::make_unique<Adafactor>(params, AdafactorOptions{});
  return std::make_unique<Adam>(params, AdamOptions{});
}

struct Result {
  std::vector<float> params;  // flattened, in parameter order
  double train_loss = 0, held_out = 0;
  ZeroPartition partition = ZeroPartition::flat;  // ZeRO's
};

// kSteps of AdamW on global batches of kBatch rows, in the file's order. scheme: "one process" (no
// communicator), "data parallel", "ZeRO-1" or "ZeRO-2".
Result train(const Dataset& train_set, const Dataset& test_set, const std::string& scheme, Communicator* comm) {
  Generator gen(42);
  MLP model({64, 32, 10}, gen);
  std::unique_ptr<DataParallel> dp;
  std::unique_ptr<ZeroOptimizer> zero;
  std::unique_ptr<Optimizer> opt;
  if (scheme == "data parallel") dp = std::make_unique<DataParallel>(*comm, model.parameters());
  if (scheme == "ZeRO-1" || scheme == "ZeRO-2")
    zero = std::make_unique<ZeroOptimizer>(*comm, model.parameters(), make_adamw, ZeroOptions{.stage = scheme == "ZeRO-1" ? 1 : 2});
  else
    opt = make_adamw(model.parameters());
  const int64_t batches = train_set.size() / kBatch;
  for (int step = 0; step < kSteps; ++step) {
    const int64_t begin = (step % batches) * kBatch, end = begin + kBatch;
    const Range mine = zero ? zero->shard(begin, end) : dp ? dp->shard(begin, end) : Range{begin, end};
    if (zero) zero->zero_grad(); else opt->zero_grad();
    // forward: the mean loss over MY rows of the global batch
    Tensor loss = cross_entropy(model.forward(rows(train_set.inputs, mine.begin, mine.end)), labels_of(train_set, mine.begin, mine.end));
    loss.backward();                                           // backward: my rows' gradient
    if (zero) {
      zero->step(mine.size(), kBatch);                         // reduce, step my shard, gather
    } else {
      if (dp) dp->average_gradients(mine.size(), kBatch);      // every rank: the global batch's gradient
      opt->step();                                             // the same update on every rank
    }
  }
  Result r;
  if (zero) r.partition = zero->partition();
  for (const Tensor& p : model.parameters()) r.params.insert(r.params.end(), p.data(), p.data() + p.numel());
  NoGradGuard off;
  r.train_loss = cross_entropy(model.forward(train_set.inputs), train_set.labels).item();
  r.held_out = accuracy(model.forward(test_set.inputs), test_set.labels);
  return r;
}

// Bytes one rank holds after a step of Adam on the wide MLP, per scheme. `buffers`: what the collectives go
// through and keep between steps (the bucket, ZeRO's slice of the stream, the communicator's scratch).
struct Held {
  double weights = 0, gradients = 0, state = 0, master = 0, buffers = 0;
};

// A communicator of its own (a duplicate of MPI's world), so that its buffers are this scheme's alone.
Held one_step(const std::string& scheme) {
  std::unique_ptr<Communicator> own = make_communicator();
  Communicator& comm = *own;
  Generator gen(1);
  MLP model({784, 1024, 1024, 10}, gen);
  Tensor x = randn({8, 784}, gen);
  const std::vector<int64_t> y = {0, 1, 2, 3, 4, 5, 6, 7};
  Held held;
  for (const Tensor& p : model.parameters()) held.weights += 4.0 * static_cast<double>(p.numel());
  if (scheme == "data parallel") {
    DataParallel dp(comm, model.parameters());
    std::unique_ptr<Optimizer> opt = make_adam(model.parameters());
    const Range mine = dp.shard(0, 8);
    cross_entropy(model.forward(rows(x, mine.begin, mine.end)), {y.begin() + mine.begin, y.begin() + mine.end}).backward();
    dp.average_gradients(mine.size(), 8);
    opt->step();
    for (const Tensor& p : model.parameters()) held.gradients += 4.0 * static_cast<double>(p.numel());
    held.state = static_cast<double>(opt->state_bytes_total());
    held.buffers = static_cast<double>(dp.staging_bytes() + comm.scratch_bytes());
    return held;
  }
  ZeroOptimizer zero(comm, model.parameters(), make_adam, {.stage = scheme == "ZeRO-1" ? 1 : 2});
  const Range mine = zero.shard(0, 8);
  cross_entropy(model.forward(rows(x, mine.begin, mine.end)), {y.begin() + mine.begin, y.begin() + mine.end}).backward();
  zero.step(mine.size(), 8);
  held.gradients = static_cast<double>(zero.gradient_bytes());
  held.state = static_cast<double>(zero.state_bytes());
  held.master = static_cast<double>(zero.master_bytes());
  held.buffers = static_cast<double>(zero.staging_bytes() + comm.scratch_bytes());
  return held;
}

// Rows [begin, end) of a batch of windows.
TokenBatch windows(const TokenBatch& batch, int64_t begin, int64_t end) {
  TokenBatch out{.batch = end - begin, .block = batch.block, .inputs = {}, .targets = {}};
  out.inputs.assign(batch.inputs.begin() + begin * batch.block, batch.inputs.begin() + end * batch.block);
  out.targets.assign(batch.targets.begin() + begin * batch.block, batch.targets.begin() + end * batch.block);
  return out;
}

struct GptRun {
  std::vector<float> params;
  double validation = 0;
};

// Tutorial 22's short run for kGptIters iterations, by one process (comm = nullptr) or data parallel:
// the same batches on every rank (one seed), each rank's windows of them, the gradient averaged before the
// global-norm clipping (so every rank clips the same gradient by the same factor) and the step.
constexpr int64_t kGptIters = 30;
GptRun train_gpt(const CharCorpus& text, const std::vector<TokenBatch>& validation, Communicator* comm) {
  Generator init(1337);
  gpt::Gpt model(gpt::Config{.vocab_size = text.vocab_size(), .block_size = 32, .n_layer = 2, .n_head = 2, .n_embd = 48}, init);
  const gpt::Recipe recipe{.max_iters = 300, .warmup_iters = 30, .lr_decay_iters = 300, .learning_rate = 1e-2, .min_lr = 1e-3};
  std::unique_ptr<DataParallel> dp;
  if (comm) dp = std::make_unique<DataParallel>(*comm, model.parameters());
  std::unique_ptr<Optimizer> opt = gpt::nanogpt_adamw(model, recipe);  // two groups: decay on matrices only
  LrScheduler schedule(*opt, gpt::nanogpt_schedule(recipe));
  Generator batches(recipe.seed);
  for (int64_t it = 0; it < kGptIters; ++it) {
    const TokenBatch batch = sample_windows(text.train, recipe.batch_size, model.config.block_size, batches);
    const Range mine = dp ? dp->shard(0, batch.batch) : Range{0, batch.batch};
    opt->zero_grad();
    model.loss(windows(batch, mine.begin, mine.end)).backward();  // my windows' mean loss, its gradient
    if (dp) dp->average_gradients(mine.size(), batch.batch);      // the whole batch's gradient, everywhere
    clip_grad_norm(opt->all_params(), recipe.grad_clip);
    opt->step();
    schedule.step();
  }
  GptRun run;
  for (const Tensor& p : model.parameters()) run.params.insert(run.params.end(), p.data(), p.data() + p.numel());
  run.validation = gpt::mean_loss(model, validation);
  return run;
}

std::string mib(double bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f MiB", bytes / (1 << 20));
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string out_dir = argc == 3 && std::strcmp(argv[1], "--out") == 0 ? argv[2] : ".";
  adafactor = argc == 2 && std::strcmp(argv[1], "--adafactor") == 0;
  const char* const optimizer = adafactor ? "Adafactor (its defaults)" : "AdamW lr 3e-3";
  const char* const state_name = adafactor ? "Adafactor" : "Adam";
  std::unique_ptr<Communicator> comm = make_communicator();
  const int N = comm->size(), me = comm->rank();
  auto say = [&](auto... args) {
    if (me == 0) std::printf(args...);
  };

  // ---- 1. the same training on N ranks --------------------------------------------------------------
  auto [train_set, test_set] = split(load_digits_csv(MOMENTS_DATA_DIR "/digits.csv"), 1400);
  say("%d rank(s) (%s backend). UCI digits, MLP 64-32-10, %s, global batch %lld, %d steps\n\n", N,
      comm->backend().c_str(), optimizer, static_cast<long long>(kBatch), kSteps);
  say("rows of each global batch per rank:");
  for (int r = 0; r < N; ++r) say(" %lld", static_cast<long long>(shard_range(kBatch, N, r).size()));
  say("\n\n%-14s %12s %10s %26s\n", "scheme", "train loss", "held-out", "max |θ − θ(one process)|");
  // The one-process run on rank 0 only; the other ranks get its parameters by broadcast.
  Result alone = me == 0 ? train(train_set, test_set, "one process", nullptr) : Result{};
  alone.params.resize(static_cast<size_t>(64 * 32 + 32 + 32 * 10 + 10));
  comm->broadcast(alone.params, 0);
  say("%-14s %12.6f %9.2f %% %26s\n", "one process", alone.train_loss, 100 * alone.held_out, "-");
  std::vector<float> dp_params;
  for (const std::string scheme : {"data parallel", "ZeRO-1", "ZeRO-2"}) {
    const Result r = train(train_set, test_set, scheme, comm.get());
    float worst = 0;
    for (size_t i = 0; i < r.params.size(); ++i) worst = std::max(worst, std::fabs(r.params[i] - alone.params[i]));
    say("%-14s %12.6f %9.2f %% %26.2g", scheme.c_str(), r.train_loss, 100 * r.held_out, static_cast<double>(worst));
    if (scheme == "data parallel") dp_params = r.params;
    else say("   %s", r.params == dp_params ? "(data parallel's bits)" : "(NOT data parallel's bits)");
    if (adafactor && scheme != "data parallel")
      say(", %s partition", r.partition == ZeroPartition::flat ? "flat" : "whole-tensor");
    say("\n");
  }

  // ---- 2. memory per rank ----------------------------------------------------------------------------
  say("\nAfter one %s step on a 784-1024-1024-10 MLP (1,863,690 weights), bytes per rank:\n", state_name);
  say("%-14s %4s %11s %11s %11s %11s %11s %11s\n", "scheme", "rank", "weights", "gradients",
      adafactor ? "its state" : "Adam state", "cut slices", "buffers", "total");
  plots::BarChart chart({.title = "What each rank holds after an Adam step (784-1024-1024-10 MLP, " + std::to_string(N) + " ranks)",
                         .y_label = "bytes", .layout = plots::BarLayout::stacked, .y_format = plots::NumberFormat::bytes,
                         .width = 900, .height = 500});
  std::vector<std::string> categories;
  std::vector<double> weights, gradients, state, master, buffers;
  for (const std::string scheme : {"data parallel", "ZeRO-1", "ZeRO-2"}) {
    const Held held = one_step(scheme);
    // Every rank's five numbers to every rank, by a sum of zeros elsewhere (bytes that are multiples of 4
    // below 2^26: exact in a float).
    std::vector<float> all(5 * static_cast<size_t>(N), 0.0f);
    const float mine[5] = {static_cast<float>(held.weights), static_cast<float>(held.gradients), static_cast<float>(held.state),
                           static_cast<float>(held.master), static_cast<float>(held.buffers)};
    std::copy(mine, mine + 5, all.begin() + 5 * me);
    comm->all_reduce_sum(all);
    for (int r = 0; r < N; ++r) {
      const float* h = all.data() + 5 * r;
      say("%-14s %4d %11s %11s %11s %11s %11s %11s\n", r == 0 ? scheme.c_str() : "", r, mib(h[0]).c_str(), mib(h[1]).c_str(),
          mib(h[2]).c_str(), mib(h[3]).c_str(), mib(h[4]).c_str(),
          mib(static_cast<double>(h[0]) + h[1] + h[2] + h[3] + h[4]).c_str());
      categories.push_back((scheme == "data parallel" ? "DP" : scheme) + " r" + std::to_string(r));
      weights.push_back(h[0]);
      gradients.push_back(h[1]);
      state.push_back(h[2]);
      master.push_back(h[3]);
      buffers.push_back(h[4]);
    }
  }
  if (adafactor) return 0;  // the Try this run ends here
  chart.set_categories(categories);
  chart.add_series("weights", weights).add_series("gradients", gradients).add_series("Adam state", state).add_series("cut slices", master).add_series("buffers", buffers);
  if (me == 0) chart.save_png(out_dir + "/zero_memory.png");

  // ---- 3. the capstone's GPT ---------------------------------------------------------------------------
  const CharCorpus text = load_char_corpus(MOMENTS_DATA_DIR "/tinyshakespeare.txt");
  const std::vector<TokenBatch> validation = gpt::fixed_windows(text.validation, 4, 12, 32, 2000);
  say("\nTutorial 22's short GPT (2 layers, width 48, context 32), %lld iterations of 12 windows, windows per rank:",
      static_cast<long long>(kGptIters));
  for (int r = 0; r < N; ++r) say(" %lld", static_cast<long long>(shard_range(12, N, r).size()));
  GptRun gpt_alone = me == 0 ? train_gpt(text, validation, nullptr) : GptRun{};
  const GptRun gpt_dp = train_gpt(text, validation, comm.get());
  gpt_alone.params.resize(gpt_dp.params.size());
  comm->broadcast(gpt_alone.params, 0);
  float gpt_worst = 0;
  for (size_t i = 0; i < gpt_dp.params.size(); ++i) gpt_worst = std::max(gpt_worst, std::fabs(gpt_dp.params[i] - gpt_alone.params[i]));
  say("\n%-14s validation loss %.4f\n%-14s validation loss %.4f, max |θ − θ(one process)| %.2g\n", "one process",
      gpt_alone.validation, "data parallel", gpt_dp.validation, static_cast<double>(gpt_worst));

  // ---- 4. a billion parameters on 1,000 ranks ---------------------------------------------------------
  const double psi = 1e9, ranks = 1000;
  say("\nA model of Ψ = 1e9 parameters on N = 1,000 ranks, per rank (the ZeRO paper's formulas):\n");
  say("%-34s %16s %16s\n", "", "float32 (moments)", "mixed precision");
  // float32: 4Ψ weights, 4Ψ gradients, 8Ψ Adam state; ZeRO-2 counts its gradient shard (4Ψ/N) as the paper does.
  // mixed precision (the paper): 2Ψ fp16 weights, 2Ψ fp16 gradients, 12Ψ fp32 weights, m and v.
  auto gb = [](double bytes) { return bytes / 1e9; };
  say("%-34s %13.3f GB %13.3f GB\n", "data parallel", gb(16 * psi), gb(16 * psi));
  say("%-34s %13.3f GB %13.3f GB\n", "ZeRO-1 (optimizer state sharded)", gb(8 * psi + 8 * psi / ranks), gb(4 * psi + 12 * psi / ranks));
  say("%-34s %13.3f GB %13.3f GB\n", "ZeRO-2 (and gradients)", gb(4 * psi + 12 * psi / ranks), gb(2 * psi + 14 * psi / ranks));
  say("%-34s %13.3f GB %13.3f GB\n", "ZeRO-3 (and weights; not built)", gb(16 * psi / ranks), gb(16 * psi / ranks));
  // Traffic: what each rank sends (and receives) per step, in elements of Ψ; a ring all-reduce is 2(N−1)/N·Ψ.
  const double link = 25e9;  // bytes per second per rank: a 200 Gb/s network port
  say("\nSent per rank and step (the same received), and its time on a 25 GB/s (200 Gb/s) link per rank:\n");
  say("%-34s %8s %14s %10s\n", "", "elements", "bytes (fp32)", "time");
  auto traffic = [&](const char* what, double elements) {
    say("%-34s %7.0fΨ %11.0f GB %8.2f s\n", what, elements, gb(elements * psi * 4), elements * psi * 4 / link);
  };
  traffic("data parallel (all-reduce)", 2);
  traffic("ZeRO-1 here (all-reduce, gather)", 3);
  traffic("ZeRO-1 / ZeRO-2 in the paper", 2);
  traffic("ZeRO-3 in the paper", 3);
  return 0;
}
