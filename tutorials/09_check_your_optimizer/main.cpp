// Tutorial 09 — check your own optimizer: write AdamW against the Optimizer base, and let moments
// tell you whether it is AdamW.
//
// MyAdamW below is what a learner writes from the paper: an options struct, init_state(), update().
// check_optimizer (lib/optim/check.hpp) runs it beside moments' AdamW on the same parameters and the
// same gradients, and stops at the first element that differs; --mistake makes MyAdamW wrong in one of
// the classic ways, and the check names the mistake. Then a run recorded from PyTorch and one from a
// learner's numpy code (tests/reference/record_optimizer.py) are checked the same way.
//
// Build and run:  meson compile -C build && ./build/tutorials/09_check_your_optimizer [--mistake NAME]
//   --mistake eps_in_root | no_bias_correction | l2_decay | t_from_zero   (default: none, then eps_in_root)
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "moments.hpp"
#include "trajectory.hpp"

using namespace moments;

enum class Mistake { none, eps_in_root, no_bias_correction, l2_decay, t_from_zero };

// AdamW as Loshchilov & Hutter's Algorithm 2 writes it, in PyTorch's convention (λ times the learning
// rate), one element at a time. The options are moments' AdamWOptions (learning_rate, beta1, beta2, eps,
// weight_decay, ...): the same names, so the check can give both optimizers the same hyperparameters.
class MyAdamW : public OptimizerWith<AdamWOptions> {
 public:
  MyAdamW(const std::vector<Tensor>& params, AdamWOptions options, Mistake mistake = Mistake::none)
      : mistake_(mistake) {
    add_param_group(params, options);
  }
  std::string name() const override { return "MyAdamW"; }

 protected:
  void validate(const AdamWOptions& o) const override {
    if (!(o.learning_rate >= 0)) fail("MyAdamW: learning_rate must be >= 0, got ", o.learning_rate);
  }
  void init_state(const Tensor& param, ParamState& state, size_t) const override {
    state.buffers["m"] = Tensor::zeros(param.shape());  // m_0 = 0
    state.buffers["v"] = Tensor::zeros(param.shape());  // v_0 = 0
  }
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override {
    const AdamWOptions& o = options_[group];
    // t = 1 on the first step (state.step counts the steps taken, this one included); t_from_zero uses t − 1.
    const double t = static_cast<double>(mistake_ == Mistake::t_from_zero ? state.step - 1 : state.step);
    float* theta = param.data();
    float* m = state.buffers["m"].data();
    float* v = state.buffers["v"].data();
    for (int64_t i = 0; i < param.numel(); ++i) {
      float g = grad.data()[i];
      if (mistake_ == Mistake::l2_decay) g += static_cast<float>(o.weight_decay) * theta[i];  // Adam's L2, not AdamW's
      else theta[i] *= static_cast<float>(1.0 - o.learning_rate * o.weight_decay);          // θ ← θ(1 − αλ)
      m[i] = static_cast<float>(o.beta1) * m[i] + static_cast<float>(1.0 - o.beta1) * g;   // m ← β1 m + (1 − β1) g
      v[i] = static_cast<float>(o.beta2) * v[i] + static_cast<float>(1.0 - o.beta2) * g * g;  // v ← β2 v + (1 − β2) g²
      double m_hat = m[i] / (1.0 - std::pow(o.beta1, t));                                   // m̂ = m / (1 − β1^t)
      double v_hat = v[i] / (1.0 - std::pow(o.beta2, t));                                   // v̂ = v / (1 − β2^t)
      if (mistake_ == Mistake::no_bias_correction) m_hat = m[i], v_hat = v[i];
      double denom = mistake_ == Mistake::eps_in_root ? std::sqrt(v_hat + o.eps) : std::sqrt(v_hat) + o.eps;
      theta[i] = static_cast<float>(theta[i] - o.learning_rate * m_hat / denom);            // θ ← θ − α m̂/(√v̂ + ε)
      if (traced(param) && i == traced_index())  // what explain() shows, under the reference's names
        explanation_ = {state.step, {{"g", g}, {"m", m[i]}, {"v", v[i]}, {"m_hat", m_hat}, {"v_hat", v_hat}, {"denom", denom}}};
    }
  }

 private:
  Mistake mistake_;
};

void check(Mistake mistake, const char* title) {
  auto mine = [mistake](const std::vector<Tensor>& params) {
    return std::make_unique<MyAdamW>(params, AdamWOptions{.learning_rate = 1e-3, .weight_decay = 0.1}, mistake);
  };
  CheckReport report = check_optimizer(mine, "AdamW", {{"learning_rate", 1e-3}, {"weight_decay", 0.1}});
  std::printf("%s\n%s\n", title, format_report(report).c_str());
}

int main(int argc, char** argv) {
  std::string only = argc == 3 && std::strcmp(argv[1], "--mistake") == 0 ? argv[2] : "";
  const std::pair<const char*, Mistake> mistakes[] = {{"eps_in_root", Mistake::eps_in_root},
                                                      {"no_bias_correction", Mistake::no_bias_correction},
                                                      {"l2_decay", Mistake::l2_decay},
                                                      {"t_from_zero", Mistake::t_from_zero}};
  if (!only.empty()) {
    for (const auto& [name, mistake] : mistakes)
      if (only == name) return check(mistake, ("MyAdamW with --mistake " + only).c_str()), 0;
    std::fprintf(stderr, "09_check_your_optimizer: unknown mistake '%s' (eps_in_root, no_bias_correction, l2_decay, t_from_zero)\n",
                 only.c_str());
    return 2;
  }
  check(Mistake::none, "1. MyAdamW as written");
  check(Mistake::eps_in_root, "2. MyAdamW with epsilon inside the square root");

  // Runs recorded elsewhere: PyTorch's own AdamW, and a learner's AdamW in numpy.
  int part = 3;
  for (const char* file : {"torch_adamw.safetensors", "numpy_adamw_eps_in_root.safetensors"}) {
    RecordedTrajectory recorded = load_trajectory(std::string(MOMENTS_DATA_DIR "/recordings/") + file);
    CheckReport report = check_trajectory(recorded.trajectory, recorded.reference, recorded.hyperparameters);
    std::printf("%d. tests/data/recordings/%s, recorded by tests/reference/record_optimizer.py\n%s\n", part++, file,
                format_report(report).c_str());
  }
  return 0;
}
