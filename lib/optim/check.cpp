// optim/check.cpp — the check of check.hpp: references by name, replays, the first divergence,
// and the catalog of classic mistakes, each a readable variant of Adam, AdamW or SGD.
#include "check.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <type_traits>

#include "../error.hpp"
#include "../ops.hpp"
#include "../random.hpp"
#include "adadelta.hpp"
#include "adagrad.hpp"
#include "adam.hpp"
#include "adamax.hpp"
#include "lion.hpp"
#include "nadam.hpp"
#include "radam.hpp"
#include "rmsprop.hpp"
#include "sgd.hpp"

namespace moments {

namespace {

template <class Opt, class Options>
OptimizerFactory factory_of() {
  return [](const std::vector<Tensor>& params) -> std::unique_ptr<Optimizer> { return std::make_unique<Opt>(params, Options{}); };
}

const std::map<std::string, OptimizerFactory>& references() {
  static const std::map<std::string, OptimizerFactory> table = {
      {"SGD", factory_of<SGD, SgdOptions>()},           {"Adam", factory_of<Adam, AdamOptions>()},
      {"AdamW", factory_of<AdamW, AdamWOptions>()},     {"Adagrad", factory_of<Adagrad, AdagradOptions>()},
      {"RMSprop", factory_of<RMSprop, RmspropOptions>()}, {"Adadelta", factory_of<Adadelta, AdadeltaOptions>()},
      {"Adamax", factory_of<Adamax, AdamaxOptions>()},   {"NAdam", factory_of<NAdam, NadamOptions>()},
      {"RAdam", factory_of<RAdam, RadamOptions>()},      {"Lion", factory_of<Lion, LionOptions>()},
  };
  return table;
}

// ---- the catalog: Adam and AdamW written out, one mistake at a time ---------------------------------

enum class AdamMistake { eps_inside_root, no_bias_correction, m_correction_only, betas_swapped, t_stuck_at_one,
                         l2_instead_of_decoupled, decoupled_instead_of_l2, decay_without_lr, sign_flipped };

// Adam (decoupled = false) or AdamW (true), element by element, with `mistake` made. Without the mistake
// it is the algorithm of adam_math.hpp, so it reproduces the reference to rounding.
class CatalogAdam final : public OptimizerWith<AdamWOptions> {
 public:
  CatalogAdam(const std::vector<Tensor>& params, AdamWOptions options, bool decoupled, AdamMistake mistake)
      : decoupled_(decoupled), mistake_(mistake) {
    add_param_group(params, options);
  }
  std::string name() const override { return decoupled_ ? "AdamW (catalog)" : "Adam (catalog)"; }

 protected:
  void validate(const AdamWOptions&) const override {}
  void init_state(const Tensor& param, ParamState& state, size_t) const override {
    state.buffers["exp_avg"] = Tensor::zeros(param.shape());
    state.buffers["exp_avg_sq"] = Tensor::zeros(param.shape());
  }
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override {
    const AdamWOptions& o = options_[group];
    const bool l2 = decoupled_ ? mistake_ == AdamMistake::l2_instead_of_decoupled
                               : mistake_ != AdamMistake::decoupled_instead_of_l2;
    const double lambda = o.weight_decay;
    const double decay = mistake_ == AdamMistake::decay_without_lr ? 1.0 - lambda : 1.0 - o.learning_rate * lambda;
    double beta1 = o.beta1, beta2 = o.beta2;
    if (mistake_ == AdamMistake::betas_swapped) std::swap(beta1, beta2);
    const double t = mistake_ == AdamMistake::t_stuck_at_one ? 1.0 : static_cast<double>(state.step);
    const bool correct_m = mistake_ != AdamMistake::no_bias_correction;
    const bool correct_v = correct_m && mistake_ != AdamMistake::m_correction_only;
    const double bias_correction1 = correct_m ? 1.0 - std::pow(beta1, t) : 1.0;
    const double bias_correction2 = correct_v ? 1.0 - std::pow(beta2, t) : 1.0;
    float* theta = param.data();
    float* m = state.buffers.at("exp_avg").data();
    float* v = state.buffers.at("exp_avg_sq").data();
    for (int64_t k = 0; k < param.numel(); ++k) {
      const float before = theta[k];
      float g = mistake_ == AdamMistake::sign_flipped ? -grad.data()[k] : grad.data()[k];
      if (l2 && lambda != 0) g = g + static_cast<float>(lambda) * theta[k];          // L2: g + λθ
      if (!l2 && lambda != 0) theta[k] = theta[k] * static_cast<float>(decay);       // decoupled: θ(1 − αλ)
      m[k] = m[k] * static_cast<float>(beta1) + static_cast<float>(1.0 - beta1) * g;
      v[k] = v[k] * static_cast<float>(beta2) + static_cast<float>(1.0 - beta2) * g * g;
      const double m_hat = m[k] / bias_correction1, v_hat = v[k] / bias_correction2;
      const double denom = mistake_ == AdamMistake::eps_inside_root ? std::sqrt(v_hat + o.eps) : std::sqrt(v_hat) + o.eps;
      theta[k] = static_cast<float>(theta[k] - o.learning_rate * m_hat / denom);
      if (traced(param) && k == traced_index())
        explanation_ = {state.step, {{"g", g}, {"m", m[k]}, {"v", v[k]}, {"m_hat", m_hat}, {"v_hat", v_hat},
                                     {"denom", denom}, {"update", static_cast<double>(theta[k]) - before}}};
    }
  }

 private:
  bool decoupled_;
  AdamMistake mistake_;
};

enum class SgdMistake { decay_after_momentum, momentum_ignored, buffer_started_at_zero };

// PyTorch's SGD (momentum, dampening, weight decay as L2; no Nesterov) with `mistake` made.
class CatalogSgd final : public OptimizerWith<SgdOptions> {
 public:
  CatalogSgd(const std::vector<Tensor>& params, SgdOptions options, SgdMistake mistake) : mistake_(mistake) {
    add_param_group(params, options);
  }
  std::string name() const override { return "SGD (catalog)"; }

 protected:
  void validate(const SgdOptions&) const override {}
  void init_state(const Tensor& param, ParamState& state, size_t) const override {
    state.buffers["momentum_buffer"] = Tensor::zeros(param.shape());
  }
  void update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) override {
    const SgdOptions& o = options_[group];
    const float mu = static_cast<float>(mistake_ == SgdMistake::momentum_ignored ? 0.0 : o.momentum);
    const float lambda = static_cast<float>(o.weight_decay), damp = static_cast<float>(1.0 - o.dampening);
    float* theta = param.data();
    float* buf = state.buffers.at("momentum_buffer").data();
    for (int64_t k = 0; k < param.numel(); ++k) {
      const float before = theta[k];
      float g = grad.data()[k];
      if (mistake_ != SgdMistake::decay_after_momentum) g = g + lambda * theta[k];        // g + λθ, before momentum
      if (mu != 0) {
        const bool first = state.step == 1 && mistake_ != SgdMistake::buffer_started_at_zero;
        buf[k] = first ? g : mu * buf[k] + damp * g;  // PyTorch: the first buffer is g itself, undampened
        g = buf[k];
      }
      if (mistake_ == SgdMistake::decay_after_momentum) g = g + lambda * theta[k];
      theta[k] = theta[k] - static_cast<float>(o.learning_rate) * g;
      if (traced(param) && k == traced_index())
        explanation_ = {state.step, {{"g", grad.data()[k]}, {"momentum_buffer", buf[k]}, {"update", theta[k] - before}}};
    }
  }

 private:
  SgdMistake mistake_;
};

struct CatalogEntry {
  std::string reference;  // the reference it is a mistake of
  std::string mistake;    // as the report names it
  std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&, const std::map<std::string, double>&)> make;
};

template <class Options>
Options options_from(const std::map<std::string, double>& values) {
  Options o{};
  o.visit([&](const char* field, auto& slot) {
    auto it = values.find(field);
    if (it != values.end()) slot = static_cast<std::remove_reference_t<decltype(slot)>>(it->second);
  });
  return o;
}

const std::vector<CatalogEntry>& catalog() {
  auto adam = [](bool decoupled, AdamMistake mistake) {
    return [=](const std::vector<Tensor>& p, const std::map<std::string, double>& h) -> std::unique_ptr<Optimizer> {
      return std::make_unique<CatalogAdam>(p, options_from<AdamWOptions>(h), decoupled, mistake);
    };
  };
  auto sgd = [](SgdMistake mistake) {
    return [=](const std::vector<Tensor>& p, const std::map<std::string, double>& h) -> std::unique_ptr<Optimizer> {
      return std::make_unique<CatalogSgd>(p, options_from<SgdOptions>(h), mistake);
    };
  };
  static const std::vector<CatalogEntry> entries = [&] {
    std::vector<CatalogEntry> list;
    for (bool decoupled : {false, true}) {
      const std::string ref = decoupled ? "AdamW" : "Adam";
      list.push_back({ref, "epsilon inside the square root: sqrt(v_hat + eps) instead of sqrt(v_hat) + eps",
                      adam(decoupled, AdamMistake::eps_inside_root)});
      list.push_back({ref, "no bias correction: m / (sqrt(v) + eps) instead of m_hat / (sqrt(v_hat) + eps)",
                      adam(decoupled, AdamMistake::no_bias_correction)});
      list.push_back({ref, "bias correction of m only: v_hat = v", adam(decoupled, AdamMistake::m_correction_only)});
      list.push_back({ref, "beta1 and beta2 swapped", adam(decoupled, AdamMistake::betas_swapped)});
      list.push_back({ref, "the step count t never increases: the bias corrections of step 1 on every step",
                      adam(decoupled, AdamMistake::t_stuck_at_one)});
      list.push_back({ref, "the gradient's sign flipped: a step up the gradient", adam(decoupled, AdamMistake::sign_flipped)});
    }
    list.push_back({"AdamW", "L2 on the gradient (g + lambda theta, Adam's weight_decay) instead of decoupled decay",
                    adam(true, AdamMistake::l2_instead_of_decoupled)});
    list.push_back({"AdamW", "decoupled decay without the learning rate: theta (1 - lambda) instead of theta (1 - lr lambda)",
                    adam(true, AdamMistake::decay_without_lr)});
    list.push_back({"Adam", "decoupled decay (AdamW's) instead of L2 on the gradient",
                    adam(false, AdamMistake::decoupled_instead_of_l2)});
    list.push_back({"SGD", "weight decay added after the momentum buffer instead of to the gradient before it",
                    sgd(SgdMistake::decay_after_momentum)});
    list.push_back({"SGD", "momentum ignored", sgd(SgdMistake::momentum_ignored)});
    list.push_back({"SGD", "the momentum buffer starts at 0 and is dampened on step 1 (PyTorch starts it at g)",
                    sgd(SgdMistake::buffer_started_at_zero)});
    return list;
  }();
  return entries;
}

std::vector<Tensor> copies(const std::vector<Tensor>& tensors) {
  std::vector<Tensor> out;
  for (const Tensor& t : tensors) out.push_back(t.detach().clone().requires_grad_());
  return out;
}

// The first element of `yours` beyond the tolerance from `reference`, step by step; and the largest difference.
std::optional<Divergence> first_divergence(const Trajectory& yours, const Trajectory& reference, const CheckOptions& o,
                                           double* max_difference) {
  const size_t steps = std::min(yours.after.size(), reference.after.size());
  for (size_t s = 0; s < steps; ++s)
    for (size_t p = 0; p < reference.after[s].size(); ++p) {
      const Tensor& a = yours.after[s][p];
      const Tensor& b = reference.after[s][p];
      const Tensor& before = s == 0 ? reference.initial[p] : reference.after[s - 1][p];
      for (int64_t k = 0; k < b.numel(); ++k) {
        double x = a.data()[k], y = b.data()[k], d = std::fabs(x - y);
        if (max_difference && d > *max_difference) *max_difference = d;
        if (!(d <= o.atol + o.rtol * std::fabs(y)))  // NaN counts as a divergence
          return Divergence{static_cast<int64_t>(s) + 1, p, k, before.data()[k], x, y};
      }
    }
  return std::nullopt;
}

// The trace of element `index` of parameter `param` at step `step`, replaying from the start.
Explanation trace_at(const OptimizerFactory& make, const Trajectory& problem, const Divergence& d) {
  std::vector<Tensor> params = copies(problem.initial);
  std::unique_ptr<Optimizer> opt = make(params);
  opt->explain(params[d.param], d.index);
  for (int64_t s = 0; s < d.step; ++s) {
    for (size_t p = 0; p < params.size(); ++p) params[p].set_grad(problem.gradients[static_cast<size_t>(s)][p].clone());
    opt->step();
  }
  return opt->explanation();
}

void check_shapes(const Trajectory& t) {
  if (t.initial.empty()) fail("check: the trajectory has no parameters");
  if (t.gradients.empty()) fail("check: the trajectory has no steps");
  if (!t.after.empty() && t.after.size() != t.gradients.size())
    fail("check: the trajectory has ", t.gradients.size(), " steps of gradients but ", t.after.size(), " of parameters");
  auto same = [&](const std::vector<Tensor>& row, const char* what, size_t step) {
    if (row.size() != t.initial.size())
      fail("check: step ", step + 1, " has ", row.size(), " ", what, ", expected ", t.initial.size());
    for (size_t p = 0; p < row.size(); ++p)
      if (row[p].shape() != t.initial[p].shape())
        fail("check: step ", step + 1, ", ", what, " ", p, ": shape ", shape_str(row[p].shape()), ", expected ",
             shape_str(t.initial[p].shape()));
  };
  for (size_t s = 0; s < t.gradients.size(); ++s) same(t.gradients[s], "gradients", s);
  for (size_t s = 0; s < t.after.size(); ++s) same(t.after[s], "parameters", s);
}

}  // namespace

std::vector<std::string> reference_names() {
  std::vector<std::string> names;
  for (const auto& [name, make] : references()) names.push_back(name);
  return names;
}

std::unique_ptr<Optimizer> make_reference(const std::string& name, const std::vector<Tensor>& params,
                                          const std::map<std::string, double>& hyperparameters) {
  auto it = references().find(name);
  if (it == references().end()) {
    std::string known;
    for (const std::string& n : reference_names()) known += (known.empty() ? "" : ", ") + n;
    fail("check: no reference optimizer named '", name, "' (known: ", known, ")");
  }
  std::unique_ptr<Optimizer> opt = it->second(params);
  if (!hyperparameters.empty()) opt->set_hyperparameters(0, hyperparameters);  // names the unknown ones
  return opt;
}

Trajectory check_problem(const CheckOptions& options) {
  if (options.steps < 1) fail("check: steps must be at least 1, got ", options.steps);
  Generator gen(options.seed);
  Trajectory t;
  std::vector<Shape> shapes = {{16, 8}, {8}};
  std::vector<Tensor> scales;
  for (const Shape& shape : shapes) {
    t.initial.push_back(randn(shape, gen, 0.0f, 0.5f));
    Tensor scale = rand(shape, gen, -6.0f, 0.0f);  // log10 of each element's gradient scale
    for (int64_t k = 0; k < scale.numel(); ++k) scale.data()[k] = std::pow(10.0f, scale.data()[k]);
    scales.push_back(scale);
  }
  for (int64_t s = 0; s < options.steps; ++s) {
    std::vector<Tensor> grads;
    for (const Tensor& scale : scales) grads.push_back(mul(scale, randn(scale.shape(), gen, 0.5f, 1.0f)));  // scale · (0.5 + N(0, 1))
    t.gradients.push_back(grads);
  }
  return t;
}

Trajectory replay(const OptimizerFactory& make, const Trajectory& problem) {
  check_shapes(problem);
  Trajectory out{problem.initial, problem.gradients, {}};
  std::vector<Tensor> params = copies(problem.initial);
  std::unique_ptr<Optimizer> opt = make(params);
  for (const std::vector<Tensor>& grads : problem.gradients) {
    for (size_t p = 0; p < params.size(); ++p) params[p].set_grad(grads[p].clone());
    opt->step();
    std::vector<Tensor> row;
    for (const Tensor& p : params) row.push_back(p.detach().clone());
    out.after.push_back(row);
  }
  return out;
}

CheckReport check_trajectory(const Trajectory& yours, const std::string& reference,
                             const std::map<std::string, double>& hyperparameters, CheckOptions options) {
  check_shapes(yours);
  if (yours.after.empty()) fail("check: the trajectory to check has no parameters after its steps");
  OptimizerFactory make = [&](const std::vector<Tensor>& p) { return make_reference(reference, p, hyperparameters); };
  CheckReport report;
  report.reference = reference;
  report.options = options;
  for (const auto& [key, value] : make(copies(yours.initial))->hyperparameters(0)) report.hyperparameters[key] = value;
  const Trajectory ref = replay(make, yours);
  report.steps = static_cast<int64_t>(ref.after.size());
  report.divergence = first_divergence(yours, ref, options, &report.max_difference);
  if (!report.divergence) return report;
  report.reference_trace = trace_at(make, yours, *report.divergence);
  for (const CatalogEntry& entry : catalog()) {
    if (entry.reference != reference) continue;
    const Trajectory variant =
        replay([&](const std::vector<Tensor>& p) { return entry.make(p, report.hyperparameters); }, yours);
    if (!first_divergence(yours, variant, options, nullptr)) {
      report.likely_mistake = entry.mistake;
      break;
    }
  }
  return report;
}

CheckReport check_optimizer(const OptimizerFactory& yours, const std::string& reference,
                            const std::map<std::string, double>& hyperparameters, CheckOptions options) {
  const Trajectory problem = check_problem(options);
  CheckReport report = check_trajectory(replay(yours, problem), reference, hyperparameters, options);
  if (report.divergence) report.yours_trace = trace_at(yours, problem, *report.divergence);
  return report;
}

std::string format_report(const CheckReport& r) {
  char line[512];
  std::string out = "yours against moments' " + r.reference + " (";
  bool first = true;
  for (const auto& [key, value] : r.hyperparameters) {
    std::snprintf(line, sizeof line, "%s%s %g", first ? "" : ", ", key.c_str(), value);
    out += line, first = false;
  }
  std::snprintf(line, sizeof line, "), %lld steps, tolerance |yours - reference| <= %g + %g |reference|\n",
                static_cast<long long>(r.steps), r.options.atol, r.options.rtol);
  out += line;
  if (!r.divergence) {
    std::snprintf(line, sizeof line, "matches: every element of every step within the tolerance (largest difference %.2e)\n",
                  r.max_difference);
    return out + line;
  }
  const Divergence& d = *r.divergence;
  std::snprintf(line, sizeof line,
                "first divergence: step %lld, parameter %zu, element %lld: before %.8g, yours %.8g, reference %.8g "
                "(difference %.2e)\n",
                static_cast<long long>(d.step), d.param, static_cast<long long>(d.index), d.before, d.yours, d.reference,
                std::fabs(d.yours - d.reference));
  out += line;
  // The two traces, line by line in the reference's order (then any names only yours has).
  std::vector<std::string> names;
  for (const auto& [name, value] : r.reference_trace.values) names.push_back(name);
  for (const auto& [name, value] : r.yours_trace.values)
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  auto find = [](const Explanation& e, const std::string& name) -> std::optional<double> {
    for (const auto& [n, value] : e.values)
      if (n == name) return value;
    return std::nullopt;
  };
  std::snprintf(line, sizeof line, "the element's trace at step %lld (explain()):\n  %-16s %16s %16s\n",
                static_cast<long long>(d.step), "", r.yours_trace.values.empty() ? "yours (no trace)" : "yours", "reference");
  out += line;
  // θ before and after the step frame the trace: every line may agree and θ still differ (a decay of θ itself).
  Explanation yours = r.yours_trace, reference = r.reference_trace;
  names.insert(names.begin(), "theta before");
  names.push_back("theta after");
  yours.values.push_back({"theta before", d.before}), reference.values.push_back({"theta before", d.before});
  yours.values.push_back({"theta after", d.yours}), reference.values.push_back({"theta after", d.reference});
  for (const std::string& name : names) {
    std::optional<double> a = find(yours, name), b = find(reference, name);
    std::string ys = a ? (std::snprintf(line, sizeof line, "%.8g", *a), std::string(line)) : "";
    std::string rs = b ? (std::snprintf(line, sizeof line, "%.8g", *b), std::string(line)) : "";
    bool same = !a || !b || *a == *b || (std::isnan(*a) && std::isnan(*b)) ||
                (std::isfinite(*a) && std::isfinite(*b) && std::fabs(*a - *b) <= r.options.rtol * std::max(std::fabs(*a), std::fabs(*b)));
    bool differs = !same;
    std::snprintf(line, sizeof line, "  %-16s %16s %16s%s\n", name.c_str(), ys.c_str(), rs.c_str(), differs ? "   <- differs" : "");
    out += line;
  }
  out += r.likely_mistake.empty() ? "likely mistake: none of the catalog reproduces yours (optim/check.hpp lists it)\n"
                                  : "likely mistake: " + r.likely_mistake + " (it reproduces yours on every step)\n";
  return out;
}

}  // namespace moments
