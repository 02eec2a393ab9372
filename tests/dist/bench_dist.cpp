// tests/dist/bench_dist.cpp — the speed-up of data parallel on this machine (issue 22's target: 2 ranks
// give >= 1.6x the samples per second of one rank, one thread each, for the 784-1024-1024-10 MLP at a
// global batch of 256). `meson test -C build --benchmark --suite bench -v` runs bench_dist.sh, which
// alternates `mpirun -np 1` and `mpirun -np 2` of `bench_dist --measure FILE` three times (this machine is
// shared: alternating spreads its noise over both) and then `bench_dist --report FILE`.
//   --measure FILE  on however many ranks: the fastest of 12 timed steps (after 3 warm-up ones) of data
//                   parallel and of ZeRO stage 2, appended by rank 0 to FILE as "<ranks> <scheme> <ms>".
//                   A step is forward and backward on this rank's rows, the gradient exchange, Adam's step.
//   --report FILE   the fastest of each (ranks, scheme) over the rounds: a table, the targets, and rows
//                   "dist/..." in bench-results.csv.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <memory>
#include <vector>

#include "bench_common.hpp"
#include "data_parallel.hpp"
#include "moments.hpp"
#include "zero.hpp"

using namespace moments;

namespace {

constexpr int64_t kBatch = 256;

// The fastest step's milliseconds of `scheme` ("dp" or "zero2") on `comm`.
double ms_per_step(Communicator& comm, const char* scheme) {
  Generator gen(3);
  MLP model({784, 1024, 1024, 10}, gen);
  Tensor x = randn({kBatch, 784}, gen);
  std::vector<int64_t> y(kBatch);
  for (int64_t i = 0; i < kBatch; ++i) y[static_cast<size_t>(i)] = i % 10;
  auto adam = [](const std::vector<Tensor>& p) { return std::make_unique<Adam>(p, AdamOptions{.learning_rate = 1e-4}); };
  std::unique_ptr<DataParallel> dp;
  std::unique_ptr<ZeroOptimizer> zero;
  std::unique_ptr<Optimizer> opt;
  if (std::string(scheme) == "dp") {
    dp = std::make_unique<DataParallel>(comm, model.parameters());
    opt = adam(model.parameters());
  } else {
    zero = std::make_unique<ZeroOptimizer>(comm, model.parameters(), adam, ZeroOptions{.stage = 2});
  }
  const Range mine = shard_range(kBatch, comm.size(), comm.rank());
  const Tensor my_x = rows(x, mine.begin, mine.end);
  const std::vector<int64_t> my_y(y.begin() + mine.begin, y.begin() + mine.end);
  double fastest = 1e300;
  for (int step = 0; step < 15; ++step) {
    comm.barrier();
    const auto start = std::chrono::steady_clock::now();
    if (zero) zero->zero_grad(); else opt->zero_grad();
    cross_entropy(model.forward(my_x), my_y).backward();
    if (zero) {
      zero->step(mine.size(), kBatch);
    } else {
      dp->average_gradients(mine.size(), kBatch);
      opt->step();
    }
    comm.barrier();
    if (step >= 3) fastest = std::min(fastest, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return fastest;
}

}  // namespace

int measure(const std::string& file) {
  std::unique_ptr<Communicator> comm = make_communicator();
  const double dp = ms_per_step(*comm, "dp");
  const double zero2 = ms_per_step(*comm, "zero2");
  if (comm->rank() == 0) {
    std::ofstream out(file, std::ios::app);
    out << comm->size() << " dp " << dp << "\n" << comm->size() << " zero2 " << zero2 << "\n";
    std::printf("%d rank(s): data parallel %.2f ms/step, ZeRO-2 %.2f ms/step\n", comm->size(), dp, zero2);
  }
  return 0;
}

int report(const std::string& file) {
  std::map<std::pair<int, std::string>, double> best;
  std::ifstream in(file);
  int ranks = 0;
  std::string scheme;
  double ms = 0;
  while (in >> ranks >> scheme >> ms) {
    auto [it, fresh] = best.emplace(std::make_pair(ranks, scheme), ms);
    if (!fresh) it->second = std::min(it->second, ms);
  }
  const auto alone = best.find({1, "dp"}), dp = best.find({2, "dp"}), zero2 = best.find({2, "zero2"});
  if (alone == best.end() || dp == best.end() || zero2 == best.end()) {
    std::printf("bench_dist: %s lacks the 1-rank or 2-rank measurements\n", file.c_str());
    return 1;
  }
  auto samples = [](double step_ms) { return static_cast<double>(kBatch) / step_ms * 1e3; };
  std::printf("Data parallel, 784-1024-1024-10 MLP, Adam, global batch %lld, one thread per rank, load %s\n",
              static_cast<long long>(kBatch), bench::load_average().c_str());
  std::printf("(the fastest step of each over 3 alternating runs of mpirun -np 1 and -np 2)\n");
  std::printf("  1 rank:            %8.2f ms/step  %8.0f samples/s\n", alone->second, samples(alone->second));
  std::printf("  2 ranks, DP:       %8.2f ms/step  %8.0f samples/s\n", dp->second, samples(dp->second));
  std::printf("  2 ranks, ZeRO-2:   %8.2f ms/step  %8.0f samples/s\n", zero2->second, samples(zero2->second));
  bench::Results results("dist");
  const std::string base = results.add("1rank/samples_per_s", samples(alone->second), "samples/s");
  results.add("2ranks/dp/samples_per_s", samples(dp->second), "samples/s", base);
  results.add("2ranks/zero2/samples_per_s", samples(zero2->second), "samples/s", base);
  results.write();
  bench::print_target("2 ranks / 1 rank, samples per second (data parallel)", alone->second / dp->second, 1.6, true);
  bench::print_target("2 ranks / 1 rank, samples per second (ZeRO stage 2)", alone->second / zero2->second, 1.6, true);
  return 0;
}

int main(int argc, char** argv) {
  try {
    if (argc == 3 && std::string(argv[1]) == "--measure") return measure(argv[2]);
    if (argc == 3 && std::string(argv[1]) == "--report") return report(argv[2]);
    std::fprintf(stderr, "usage: bench_dist --measure FILE | --report FILE (tests/dist/bench_dist.sh runs both)\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_dist: %s\n", e.what());
    return 1;
  }
}
