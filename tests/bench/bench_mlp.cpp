// bench_mlp — one training step of an MLP (ReLU between layers, cross-entropy,
// Adam) through the library's autograd, against the same network written by
// hand with Eigen (forward, backward and the same adam_update loop) in the same
// run: 784-256-256-10 and 784-1024-1024-10 at batch 64 and 256, then the small
// network at batch 1 to 1024 (the scaling table). The library's pool runs
// MOMENTS_NUM_THREADS threads (meson.build runs this benchmark with 1 and, as
// mlp_step_2t, with 2; OpenBLAS gets the same count); the hand-written network
// calls Eigen on one thread. The rows go under mlp/ for one thread and under
// mlp2t/ for two, where bench_torch.py finds them for torch at the same count;
// the scaling table runs at one thread only.
//
// Both versions start from the same weights; the first step's loss and every
// gradient must agree (exit 1 otherwise). Then the two alternate, step by
// step, and the figure is the ratio of medians. Target: library ≤ 1.5× the
// hand-written network. The library fixes Eigen's GEMM blocking globally
// (ops.cpp), so both use the same blocking here.
// Run: meson test -C build --benchmark --suite bench -v  (or ./build/tests/bench/bench_mlp)
// Rows go to bench-results.csv under mlp/.
#include <Eigen/Core>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "bench_common.hpp"
#include "moments.hpp"
#include "optim/adam_math.hpp"

using namespace moments;

namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Map = Eigen::Map<RowMatrix>;
using ConstMap = Eigen::Map<const RowMatrix>;

// The network by hand: weights W_l (out, in) and biases b_l, their gradients,
// Adam's m and v, and every activation, all allocated once.
struct HandNetwork {
  struct Layer {
    RowMatrix w, dw, w_m, w_v;                          // (out, in)
    Eigen::RowVectorXf b, db, b_m, b_v;                 // (out)
    RowMatrix z, h, dz;                                 // (batch, out): pre-activation, relu(z), dL/dz
  };
  std::vector<Layer> layers;
  RowMatrix dh;  // (batch, widest) scratch for dL/dh
  int64_t t = 0;

  HandNetwork(const MLP& model, int64_t batch) {
    for (const Linear& l : model.layers) {
      Layer layer;
      layer.w = ConstMap(l.weight.data(), l.weight.size(0), l.weight.size(1));
      layer.b = Eigen::Map<const Eigen::RowVectorXf>(l.bias.data(), l.bias.numel());
      layer.dw = layer.w_m = layer.w_v = RowMatrix::Zero(layer.w.rows(), layer.w.cols());
      layer.db = layer.b_m = layer.b_v = Eigen::RowVectorXf::Zero(layer.b.size());
      layer.z = layer.h = layer.dz = RowMatrix::Zero(batch, layer.w.rows());
      layers.push_back(std::move(layer));
    }
    Eigen::Index widest = 0;
    for (const Layer& layer : layers) widest = std::max(widest, layer.w.rows());
    dh = RowMatrix::Zero(batch, widest);
  }

  // forward, backward and an Adam update (lr 1e-3, defaults); returns the loss.
  float step(const ConstMap& x, const std::vector<int64_t>& y) {
    const int64_t batch = x.rows(), depth = static_cast<int64_t>(layers.size());
    // forward: z_l = h_{l−1} W_lᵀ + b_l, h_l = relu(z_l) (none after the last)
    for (int64_t l = 0; l < depth; ++l) {
      Layer& L = layers[static_cast<size_t>(l)];
      if (l == 0) L.z.noalias() = x * L.w.transpose();
      else L.z.noalias() = layers[static_cast<size_t>(l - 1)].h * L.w.transpose();
      L.z.rowwise() += L.b;
      if (l + 1 < depth) L.h = L.z.cwiseMax(0.0f);
    }
    // softmax cross-entropy: dz = (softmax(z) − onehot(y)) / batch
    Layer& last = layers.back();
    float loss = 0;
    for (int64_t i = 0; i < batch; ++i) {
      auto z = last.z.row(i).array();
      float max = z.maxCoeff();
      auto e = (z - max).exp();
      float sum = e.sum();
      loss += std::log(sum) - (z(y[static_cast<size_t>(i)]) - max);
      last.dz.row(i) = (e / sum).matrix() / static_cast<float>(batch);
      last.dz(i, y[static_cast<size_t>(i)]) -= 1.0f / static_cast<float>(batch);
    }
    // backward: dW_l = dz_lᵀ h_{l−1}, db_l = Σ_rows dz_l, dz_{l−1} = (dz_l W_l) ⊙ [z_{l−1} > 0]
    for (int64_t l = depth - 1; l >= 0; --l) {
      Layer& L = layers[static_cast<size_t>(l)];
      if (l == 0) L.dw.noalias() = L.dz.transpose() * x;
      else L.dw.noalias() = L.dz.transpose() * layers[static_cast<size_t>(l - 1)].h;
      L.db = L.dz.colwise().sum();
      if (l == 0) continue;
      Layer& below = layers[static_cast<size_t>(l - 1)];
      auto dh_l = dh.leftCols(below.w.rows());
      dh_l.noalias() = L.dz * L.w;
      below.dz.array() = (below.z.array() > 0.0f).select(dh_l.array(), 0.0f);
    }
    // update: the library's Adam loop on each buffer
    AdamScalars s = adam_scalars(1e-3, 0.9, 0.999, 1e-8, 0.0, false, false, false, ++t);
    for (Layer& L : layers) {
      adam_update(L.w.data(), L.dw.data(), L.w_m.data(), L.w_v.data(), nullptr, L.w.size(), s);
      adam_update(L.b.data(), L.db.data(), L.b_m.data(), L.b_v.data(), nullptr, L.b.size(), s);
    }
    return loss / static_cast<float>(batch);
  }
};

struct Case {
  std::vector<int64_t> sizes;
  int64_t batch;
};

std::string arch_name(const std::vector<int64_t>& sizes) {
  std::string name;
  for (int64_t s : sizes) {
    if (!name.empty()) name += '-';
    name += std::to_string(s);
  }
  return name;
}

// Multiply-adds of one sample through the network, forward.
double macs(const std::vector<int64_t>& sizes) {
  double total = 0;
  for (size_t i = 0; i + 1 < sizes.size(); ++i) total += static_cast<double>(sizes[i] * sizes[i + 1]);
  return total;
}

struct Measured {
  double library_ms, hand_ms, library_allocs;
};

// Checks the first step, then alternates the two versions for about
// `budget_ms` (at least 5 rounds) and returns the medians.
Measured measure(const Case& c, double budget_ms, bool& wrong) {
  Generator gen(1);
  MLP model(c.sizes, gen);
  HandNetwork hand(model, c.batch);
  Adam adam(model.parameters(), {.learning_rate = 1e-3});
  Tensor x = rand({c.batch, c.sizes.front()}, gen);
  std::vector<int64_t> y(static_cast<size_t>(c.batch));
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<int64_t>((7 * i) % static_cast<size_t>(c.sizes.back()));
  ConstMap x_map(x.data(), c.batch, c.sizes.front());

  auto library_step = [&] {
    adam.zero_grad();
    Tensor loss = cross_entropy(model.forward(x), y);  // forward
    loss.backward();                                   // backward
    adam.step();                                       // update
    return loss.item();
  };

  // The first step: same loss, same gradients.
  float library_loss = library_step();
  float hand_loss = hand.step(x_map, y);
  double worst = std::fabs(library_loss - hand_loss) / std::fabs(hand_loss);
  for (size_t l = 0; l < model.layers.size(); ++l) {
    const HandNetwork::Layer& L = hand.layers[l];
    Tensor gw = model.layers[l].weight.grad();
    double scale = L.dw.cwiseAbs().maxCoeff() + 1e-30;
    worst = std::max(worst, static_cast<double>((ConstMap(gw.data(), L.dw.rows(), L.dw.cols()) - L.dw).cwiseAbs().maxCoeff()) / scale);
  }
  if (!(worst < 1e-4)) {
    std::printf("FAIL: %s batch %lld: library and hand-written network differ by %.3g (relative)\n",
                arch_name(c.sizes).c_str(), static_cast<long long>(c.batch), worst);
    wrong = true;
  }

  std::vector<double> library_times, hand_times;
  double spent = 0;
  int64_t allocs = 0;
  for (int round = 0; round < 3 || (round < 400 && (spent < budget_ms || library_times.size() < 5)); ++round) {
    auto t0 = std::chrono::steady_clock::now();
    int64_t a0 = bench::allocations();
    library_step();
    allocs = bench::allocations() - a0;
    auto t1 = std::chrono::steady_clock::now();
    hand.step(x_map, y);
    auto t2 = std::chrono::steady_clock::now();
    double library_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    double hand_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
    spent += library_ms + hand_ms;
    if (round >= 2) {  // warm-up: state and caches
      library_times.push_back(library_ms);
      hand_times.push_back(hand_ms);
    }
  }
  return {bench::median(library_times), bench::median(hand_times), static_cast<double>(allocs)};
}

}  // namespace

int main() {
  const int threads = bench::threads();
  const std::string owner = threads == 1 ? "mlp" : "mlp" + std::to_string(threads) + "t";
  bench::Results results(owner);
  bool wrong = false;
  std::printf("bench_mlp: the library on %d thread%s (the network by hand on one), BLAS behind Eigen: %s, load average\n"
              "%s; medians of alternating steps\n\n",
              threads, threads == 1 ? "" : "s", bench::blas_name(), bench::load_average().c_str());
  results.add("threads", threads, "threads");
  results.add("blas", std::string(bench::blas_name()) == "openblas" ? 1 : 0, "flag");
  std::printf("%-18s %6s %12s %12s %10s %10s %12s\n", "network", "batch", "library ms", "by hand ms", "ratio",
              "GFLOP/s", "allocs/step");
  std::vector<Case> cases = {{{784, 256, 256, 10}, 64}, {{784, 256, 256, 10}, 256}, {{784, 1024, 1024, 10}, 64},
                             {{784, 1024, 1024, 10}, 256}};
  for (const Case& c : cases) {
    Measured m = measure(c, 1500, wrong);
    std::string key = arch_name(c.sizes) + "/" + std::to_string(c.batch);
    // forward 2 flops per multiply-add; backward the same for dW and for dx (not into the first layer)
    double flops = 2.0 * static_cast<double>(c.batch) * (3 * macs(c.sizes) - static_cast<double>(c.sizes[0] * c.sizes[1]));
    std::string hand = results.add("eigen/" + key + "/ms", m.hand_ms, "ms");
    results.add("library/" + key + "/ms", m.library_ms, "ms", hand);
    results.add("library/" + key + "/allocs_per_step", m.library_allocs, "allocs");
    std::printf("%-18s %6lld %12.3f %12.3f %10.2f %10.1f %12.0f\n", arch_name(c.sizes).c_str(),
                static_cast<long long>(c.batch), m.library_ms, m.hand_ms, m.library_ms / m.hand_ms,
                flops / m.library_ms / 1e6, m.library_allocs);
  }

  if (threads == 1) {  // the scaling table
    std::printf("\nscaling with the batch: 784-256-256-10, Adam (overhead-bound while the step at batch 1 is over\n"
                "half the step; compute-bound once it is under a tenth)\n");
    std::printf("%6s %12s %12s %10s %12s %10s   %s\n", "batch", "library ms", "by hand ms", "ratio", "us/sample", "GFLOP/s",
                "bound by");
    double batch_one_ms = 0;
    for (int64_t batch : {1, 4, 16, 64, 256, 1024}) {
      Case c{{784, 256, 256, 10}, batch};
      Measured m = measure(c, 700, wrong);
      if (batch == 1) batch_one_ms = m.library_ms;
      double flops = 2.0 * static_cast<double>(batch) * (3 * macs(c.sizes) - 784.0 * 256.0);
      double share = batch_one_ms / m.library_ms;
      const char* bound = share > 0.5 ? "overhead" : share > 0.1 ? "overhead + compute" : "compute (GEMM)";
      std::string hand = results.add("scaling/eigen/" + std::to_string(batch) + "/ms", m.hand_ms, "ms");
      results.add("scaling/library/" + std::to_string(batch) + "/ms", m.library_ms, "ms", hand);
      std::printf("%6lld %12.3f %12.3f %10.2f %12.2f %10.1f   %s\n", static_cast<long long>(batch), m.library_ms, m.hand_ms,
                  m.library_ms / m.hand_ms, 1e3 * m.library_ms / static_cast<double>(batch), flops / m.library_ms / 1e6,
                  bound);
    }
  }

  std::printf("\ntargets (issue 8; the library on %d thread%s, same run)\n", threads, threads == 1 ? "" : "s");
  for (const Case& c : cases) {
    std::string key = arch_name(c.sizes) + "/" + std::to_string(c.batch);
    bench::print_target("library MLP step / hand-written Eigen, " + key,
                        results.value(owner + "/library/" + key + "/ms") / results.value(owner + "/eigen/" + key + "/ms"),
                        1.5, false);
  }
  results.write();
  return wrong ? 1 : 0;
}
