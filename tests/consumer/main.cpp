// tests/consumer/main.cpp — a program that uses moments the way another project would:
// only through the installed <moments/...> headers and dependency('moments') / moments.pc.
// tests/consumer/run.sh builds it against an installed tree and as a subproject.
//
// It fits θ to minimize (θ − 3)² with AdamW, draws the loss curve, and says which
// executor the lazily loaded CUDA backend offers (loading it on purpose, last).
#include <cmath>
#include <cstdio>
#include <vector>

#include <moments/config.hpp>
#include <moments/cuda/backend.hpp>
#include <moments/moments.hpp>
#include <moments/optim/adam.hpp>
#include <moments/plots/plots.hpp>

using namespace moments;

int main() {
  Tensor theta = Tensor::from({0.0f}).requires_grad_();
  AdamW opt({theta}, {.learning_rate = 0.1, .weight_decay = 0.0});
  std::vector<double> steps, losses;
  for (int step = 1; step <= 200; ++step) {
    opt.zero_grad();
    Tensor loss = sum((theta - Tensor::scalar(3.0f)) * (theta - Tensor::scalar(3.0f)));  // forward
    loss.backward();                                                                      // backward
    opt.step();                                                                           // update
    steps.push_back(step);
    losses.push_back(loss.item());
  }
  float fitted = theta.item();
  std::printf("moments %s: theta = %.4f after 200 AdamW steps\n", MOMENTS_VERSION, fitted);
  if (std::fabs(fitted - 3.0f) > 0.05f) {
    std::printf("FAILED: theta should approach 3\n");
    return 1;
  }

  plots::LineChart chart({.title = "consumer loss", .y_label = "loss", .y_scale = plots::Scale::log});
  chart.add_series("AdamW", steps, losses);
  chart.save_png("consumer_loss.png");
  std::printf("chart: consumer_loss.png\n");

  // The GPU executor is a module loaded on first use; here it is asked for on purpose.
  std::printf("cuda: gpu built %d, %s\n", cuda::gpu_built() ? 1 : 0,
              cuda::gpu_backend() ? "gpu present" : cuda::unavailable_reason().c_str());
  return 0;
}
