// Tutorial 08 — Adafactor: factored second moments and update clipping.
//
// Fits a 64 × 32 weight matrix by linear regression with Adafactor, and
// shows (1) its state: one number per row and per column instead of one per
// weight, (2) how close the factored estimate V̂ = R C / mean(R) stays to the
// full second moment Adam would keep, and (3) update clipping catching the
// jump in gradients when the data changes.
//
// Build and run:  meson compile -C build && ./build/tutorials/08_adafactor_factored_moments [--out DIR]
//   --out DIR  where adafactor_clipping.png goes (default: the current directory)
//   --clip-threshold X, --beta1 X   the same run with that option, and no chart (see Try this)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "moments.hpp"
#include "plots.hpp"

using namespace moments;

// How far the factored estimate is from the full one, where it matters: the
// update divides by √V, so compare ‖√V̂ − √V‖ / ‖√V‖ (Frobenius norms).
double relative_gap(const Tensor& row_var, const Tensor& col_var, const Tensor& full) {
  NoGradGuard plain;
  Tensor v_hat = matmul(row_var, col_var) / mean(row_var);  // R C / mean(R): (64, 1) @ (1, 32) → (64, 32)
  Tensor difference = sqrt(v_hat) - sqrt(full);
  return std::sqrt(sum(difference * difference).item() / sum(full).item());
}

int main(int argc, char** argv) {
  std::string out_dir = argc == 3 && std::strcmp(argv[1], "--out") == 0 ? argv[2] : ".";
  // --clip-threshold X or --beta1 X: the same run with that option (see Try this), and no chart.
  AdafactorOptions options{.learning_rate = 0.1};  // ρ_t = min(0.1, 1/√t)
  const bool variant = argc == 3 && (std::strcmp(argv[1], "--clip-threshold") == 0 || std::strcmp(argv[1], "--beta1") == 0);
  if (variant) (std::strcmp(argv[1], "--beta1") == 0 ? options.beta1 : options.clip_threshold) = std::atof(argv[2]);
  std::vector<double> steps, losses, rms_u, clip;  // every step, for the chart
  Generator gen(7);
  Tensor x = randn({256, 64}, gen);                    // inputs (256 examples, 64 features)
  Tensor w_true = randn({64, 32}, gen, 0.0f, 0.5f);    // the weights to find
  Tensor y = matmul(x, w_true);                        // targets (256, 32)
  Tensor w = randn({64, 32}, gen, 0.0f, 0.1f).requires_grad_();

  Adafactor adafactor({w}, options);
  adafactor.explain(w, 0);
  Tensor full_v = Tensor::zeros({64, 32});             // what Adam-style full moments would hold
  // Alongside, Adam from the same start on the same data: how large do its steps get after the jump?
  Tensor w_adam = w.detach().clone().requires_grad_();
  Adam adam({w_adam}, {.learning_rate = 0.01});
  double adam_rms_peak = 0, adam_max_peak = 0;  // over steps 101–200, in units of its learning rate
  int adam_rms_peak_step = 0;

  std::printf("Adafactor on a 64 x 32 weight matrix, linear regression (256 examples)\n");
  if (variant) std::printf("with %s %s\n", argv[1] + 2, argv[2]);
  std::printf("\n");
  std::printf(" step      loss   RMS(U)    clip   rho_t  alpha_t  sqrt(V_hat) vs sqrt(V)\n");
  for (int t = 1; t <= 200; ++t) {
    if (t == 101) {  // the data changes: a new target matrix, and gradients jump
      NoGradGuard plain;
      y = matmul(x, randn({64, 32}, gen, 0.0f, 2.0f));
      std::printf("  -- step 101: new targets, 4x larger --\n");
    }
    adafactor.zero_grad();
    Tensor loss = mse_loss(matmul(x, w), y);  // forward
    loss.backward();                          // backward
    adafactor.step();                         // update
    {
      adam.zero_grad();
      Tensor adam_loss = mse_loss(matmul(x, w_adam), y);
      adam_loss.backward();
      NoGradGuard plain;
      Tensor before = w_adam.detach().clone();
      adam.step();
      Tensor delta = (w_adam - before) / 0.01f;  // Adam's step, in units of α
      const double rms = std::sqrt(mean(delta * delta).item());
      if (t >= 101 && rms > adam_rms_peak) adam_rms_peak = rms, adam_rms_peak_step = t;
      for (int64_t i = 0; t >= 101 && i < delta.numel(); ++i)
        adam_max_peak = std::max(adam_max_peak, static_cast<double>(std::fabs(delta.data()[i])));
    }
    {
      NoGradGuard plain;  // the full moment with Adafactor's own decay: V ← lerp(V, G², t^-0.8)
      float weight = static_cast<float>(std::pow(static_cast<double>(t), -0.8));
      full_v = full_v + weight * (pow(w.grad(), 2.0f) - full_v);
    }
    const Explanation& e = adafactor.explanation();
    steps.push_back(t), losses.push_back(loss.item()), rms_u.push_back(e.get("rms_u")), clip.push_back(e.get("clip"));
    if (t <= 3 || t == 10 || t == 50 || t == 100 || (t >= 101 && t <= 103) || t == 110 || t == 200) {
      const ParamState& s = *adafactor.state(w);
      std::printf("%5d %9.4f %8.4f %7.3f %7.4f %8.5f %11.3f\n", t, loss.item(), e.get("rms_u"), e.get("clip"),
                  e.get("rho"), e.get("alpha"), relative_gap(s.buffers.at("row_var"), s.buffers.at("col_var"), full_v));
    }
  }

  // Why about 6: the newest G² enters V̂ with weight 1 − β̂2_t = t^−0.8; when V̂ had shrunk to almost nothing,
  // V̂_t ≈ t^−0.8 G_t², so U = G/√V̂ has an RMS of about t^0.4.
  std::printf("\nRMS(U) right after a jump, if V_hat had shrunk to nothing: t^0.4 = %.2f at t = 101, %.2f at t = 1000"
              " (this run: %.2f)\n", std::pow(101.0, 0.4), std::pow(1000.0, 0.4), rms_u[100]);
  std::printf("\nAdam (lr = 0.01) on the same problem, steps 101-200: largest RMS step %.2f lr (step %d),\n"
              "largest step of one weight %.2f lr; Kingma & Ba's bound (1 - beta1) / sqrt(1 - beta2) = %.2f\n",
              adam_rms_peak, adam_rms_peak_step, adam_max_peak, 0.1 / std::sqrt(0.001));
  std::printf("\nOptimizer state for this 64 x 32 matrix (2048 weights), from the real allocations:\n");
  for (Optimizer* opt : std::initializer_list<Optimizer*>{&adafactor, &adam}) {
    std::printf("  %-9s", opt->name().c_str());
    for (const StateMemory& m : opt->state_bytes()) std::printf("  %s %lld B", m.buffer.c_str(), static_cast<long long>(m.bytes));
    std::printf("  (total %lld B)\n", static_cast<long long>(opt->state_bytes_total()));
  }

  if (variant) return 0;
  plots::LineChart loss_chart({.title = "loss", .y_label = "loss", .y_scale = plots::Scale::log});
  plots::LineChart clip_chart({.title = "RMS(U) and the clip factor max(1, RMS(U)/d)", .y_scale = plots::Scale::log});
  loss_chart.add_series("loss", steps, losses);
  clip_chart.add_series("RMS(U)", steps, rms_u).add_series("clip factor", steps, clip);
  plots::Figure figure({.title = "Adafactor: the targets change at step 101"});
  figure.add(loss_chart).add(clip_chart);
  figure.save_png(out_dir + "/adafactor_clipping.png");
  std::printf("wrote adafactor_clipping.png\n");
  return 0;
}
