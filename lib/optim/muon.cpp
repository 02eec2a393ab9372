// optim/muon.cpp — Muon: Newton–Schulz, the state, validation and the step
// (element-wise math in muon_math.hpp, the algorithm box in muon.hpp); then
// split_muon_params and MuonWithAuxAdamW.
#include "muon.hpp"

#include <algorithm>
#include <cmath>

#include "adam_math.hpp"
#include "autograd.hpp"
#include "backend.hpp"
#include "muon_math.hpp"
#include "ops.hpp"
#include "parallel.hpp"
#include "validate.hpp"

namespace moments {

MOMENTS_CPU_CLONES void muon_momentum(const float* grad, float* b, float* u, int64_t n, const MuonScalars& scalars) {
  const MuonScalars s = scalars;  // a local copy: the stores below cannot alias it, so the loop vectorizes
  for (int64_t i = 0; i < n; ++i) muon_momentum_element(grad[i], b[i], u[i], s);
}

MOMENTS_CPU_CLONES void muon_apply(float* theta, const float* o, int64_t n, const MuonScalars& scalars) {
  const MuonScalars s = scalars;
  for (int64_t i = 0; i < n; ++i) muon_apply_element(theta[i], o[i], s);
}

// ---- Newton–Schulz ---------------------------------------------------------
Tensor newton_schulz(const Tensor& g, const NewtonSchulzOptions& o) {
  if (g.dim() != 2) fail("newton_schulz: expected a 2-D matrix, got shape ", shape_str(g.shape()));
  NoGradGuard no_grad;
  const bool tall = g.shape()[0] > g.shape()[1];
  Tensor x = tall ? transpose(g) : g.detach();          // (r, s) with r <= s: A = X Xᵀ is the smaller Gram matrix
  const float norm = std::sqrt(sum(x * x).item());      // ‖X‖_F, summed in float
  const float eps = static_cast<float>(o.eps);
  x = x / (o.eps_added ? norm + eps : std::max(norm, eps));  // X_0: ‖X_0‖_2 <= ‖X_0‖_F <= 1
  const float a = static_cast<float>(o.a), b = static_cast<float>(o.b), c = static_cast<float>(o.c);
  for (int k = 0; k < o.steps; ++k) {
    Tensor gram = matmul(x, transpose(x));              // A = X Xᵀ             (r, r)
    Tensor poly = gram * b + matmul(gram * c, gram);    // B = b A + (c A) A    as the canonical code writes c * A @ A
    x = x * a + matmul(poly, x);                        // X ← a X + B X        (r, s)
  }
  return tall ? transpose(x) : x;
}

NewtonSchulzOptions MuonOptions::newton_schulz() const {
  return {.a = ns_a, .b = ns_b, .c = ns_c, .steps = static_cast<int>(ns_steps), .eps = eps, .eps_added = keller_jordan};
}

// ---- the step, shared by Muon and MuonWithAuxAdamW's Muon groups -------------
namespace {

void validate_muon(const char* who, const MuonOptions& o) {
  check_at_least(who, "learning_rate", o.learning_rate, 0.0);
  check_at_least(who, "momentum", o.momentum, 0.0);
  check_at_least(who, "weight_decay", o.weight_decay, 0.0);
  check_at_least(who, "eps", o.eps, 0.0);
  check_at_least(who, "ns_steps", o.ns_steps, 0.0);
  check_at_most(who, "ns_steps", o.ns_steps, 99.0);
  check_whole(who, "ns_steps", o.ns_steps);
  for (auto [name, value] : {std::pair{"ns_a", o.ns_a}, {"ns_b", o.ns_b}, {"ns_c", o.ns_c}})
    if (!std::isfinite(value)) fail(who, ": invalid ", name, " ", value, " (must be finite)");
  if (o.keller_jordan && o.match_rms_adamw)
    fail(who, ": match_rms_adamw is torch.optim.Muon's learning-rate adjustment; the keller_jordan dialect "
              "scales the update by max(1, rows/cols)^0.5 only (set one or the other)");
}

void check_matrix(const char* who, const Tensor& p, size_t index) {
  if (p.dim() != 2)
    fail(who, ": parameter ", index, " has shape ", shape_str(p.shape()), " (", p.dim(),
         "-D); Muon orthogonalises 2-D weight matrices only: give biases, norm gains and embeddings to AdamW "
         "(split_muon_params, MuonWithAuxAdamW)");
}

MuonScalars muon_scalars(const MuonOptions& o, const Shape& shape) {
  const double rows = static_cast<double>(shape[0]), cols = static_cast<double>(shape[1]);
  const double ratio = o.match_rms_adamw ? 0.2 * std::sqrt(std::max(rows, cols))  // Moonshot's: RMS as AdamW's
                                         : std::sqrt(std::max(1.0, rows / cols));  // √max(1, n/m)
  MuonScalars s{};
  s.one_minus_momentum = static_cast<float>(1.0 - o.momentum);
  s.momentum = static_cast<float>(o.momentum);
  s.nesterov = o.nesterov;
  s.decay = static_cast<float>(1.0 - o.learning_rate * o.weight_decay);
  s.scale_first = o.keller_jordan;
  s.scale = o.keller_jordan ? static_cast<float>(ratio) : 1.0f;
  s.minus_step = static_cast<float>(-(o.keller_jordan ? o.learning_rate : o.learning_rate * ratio));
  return s;
}

void muon_step(Tensor& param, const Tensor& grad, ParamState& state, const MuonOptions& o, bool traced,
               int64_t index, Explanation& explanation) {
  const MuonScalars s = muon_scalars(o, param.shape());
  const int64_t n = param.numel();
  float* b = state.buffers.at("momentum_buffer").data();
  Tensor u = Tensor::empty(param.shape(), param.device(), "Muon::step");  // B̃_t, the matrix to orthogonalise
  const bool cuda = param.device() == Device::cuda;  // the same loops as kernels: cuda/muon.cu
  if (cuda) {
    param.cuda_backend().muon_momentum(grad.data(), b, u.data(), n, s);
  } else {
    const float* g = grad.data();
    float* up = u.data();
    parallel_for(n, kElementsPerChunk, [&](int64_t begin, int64_t end) {
      muon_momentum(g + begin, b + begin, up + begin, end - begin, s);
    });
  }
  Tensor orthogonal = newton_schulz(u, o.newton_schulz());  // O_t
  if (cuda) {
    param.cuda_backend().muon_apply(param.data(), orthogonal.data(), n, s);
    return;  // (the explain trace is cpu-only)
  }
  float* theta = param.data();
  const float* op = orthogonal.data();
  const float theta_before = traced ? theta[index] : 0.0f;
  parallel_for(n, kElementsPerChunk, [&](int64_t begin, int64_t end) {
    muon_apply(theta + begin, op + begin, end - begin, s);
  });
  if (!traced) return;
  explanation = {state.step,
                 {{"g", grad.data()[index]},
                  {"momentum_buffer", b[index]},
                  {"nesterov_update", u.data()[index]},
                  {"orthogonalized", op[index]},
                  {"step_size", -static_cast<double>(s.minus_step) * s.scale},
                  {"update", static_cast<double>(theta[index]) - theta_before}}};
}

}  // namespace

// ---- Muon ------------------------------------------------------------------
Muon::Muon(const std::vector<Tensor>& params, MuonOptions options) { add_param_group(params, options); }

void Muon::check_matrices(const std::vector<Tensor>& params) const {
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i].defined()) check_matrix("Muon", params[i], i);
}

void Muon::add_param_group(const std::vector<Tensor>& params, MuonOptions options) {
  check_matrices(params);
  OptimizerWith<MuonOptions>::add_param_group(params, options);
}

void Muon::add_param_group(const std::vector<Tensor>& params) { add_param_group(params, constructor_options_); }

void Muon::validate(const MuonOptions& o) const { validate_muon("Muon", o); }

void Muon::init_state(const Tensor& param, ParamState& state, size_t) const {
  state.buffers["momentum_buffer"] = Tensor::zeros(param.shape(), param.device());  // B_0 ← 0
}

void Muon::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  muon_step(param, grad, state, options_[group], traced(param), traced_index(), explanation_);
}

// ---- split_muon_params -----------------------------------------------------
MuonParamSplit split_muon_params(const NamedTensors& named, const std::vector<std::string>& adamw_names) {
  auto under = [](const std::string& name, const std::string& prefix) {  // "head" covers "head.weight"
    return name == prefix || (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
                              name[prefix.size()] == '.');
  };
  std::vector<bool> used(adamw_names.size(), false);
  MuonParamSplit out;
  for (const auto& [name, p] : named) {
    bool listed = false;
    for (size_t k = 0; k < adamw_names.size(); ++k)
      if (under(name, adamw_names[k])) listed = used[k] = true;
    const bool adamw = listed || p.dim() != 2 || name.find("embed") != std::string::npos;
    (adamw ? out.adamw : out.muon).push_back(p);
    (adamw ? out.adamw_names : out.muon_names).push_back(name);
  }
  for (size_t k = 0; k < adamw_names.size(); ++k)
    if (!used[k]) {
      std::string all;
      for (const auto& [name, p] : named) all += (all.empty() ? "" : ", ") + name;
      fail("split_muon_params: no parameter is named '", adamw_names[k], "' or lies under it; the model has: ", all);
    }
  return out;
}

// ---- MuonWithAuxAdamW ------------------------------------------------------
MuonOptions MuonWithAuxAdamWOptions::muon() const {
  return {.learning_rate = learning_rate, .weight_decay = weight_decay, .momentum = momentum, .nesterov = nesterov,
          .ns_a = ns_a, .ns_b = ns_b, .ns_c = ns_c, .eps = ns_eps, .ns_steps = ns_steps,
          .match_rms_adamw = match_rms_adamw, .keller_jordan = keller_jordan};
}

AdamWOptions MuonWithAuxAdamWOptions::adamw() const {
  AdamWOptions o;
  o.learning_rate = learning_rate, o.beta1 = beta1, o.beta2 = beta2, o.eps = eps, o.weight_decay = weight_decay;
  o.amsgrad = amsgrad, o.maximize = maximize;
  return o;
}

MuonWithAuxAdamWOptions MuonWithAuxAdamWOptions::from(const MuonOptions& o) {
  MuonWithAuxAdamWOptions out;
  out.use_muon = true, out.learning_rate = o.learning_rate, out.weight_decay = o.weight_decay;
  out.momentum = o.momentum, out.nesterov = o.nesterov, out.ns_a = o.ns_a, out.ns_b = o.ns_b, out.ns_c = o.ns_c;
  out.ns_eps = o.eps, out.ns_steps = o.ns_steps, out.match_rms_adamw = o.match_rms_adamw;
  out.keller_jordan = o.keller_jordan;
  return out;
}

MuonWithAuxAdamWOptions MuonWithAuxAdamWOptions::from(const AdamWOptions& o) {
  MuonWithAuxAdamWOptions out;
  out.use_muon = false, out.learning_rate = o.learning_rate, out.weight_decay = o.weight_decay;
  out.beta1 = o.beta1, out.beta2 = o.beta2, out.eps = o.eps, out.amsgrad = o.amsgrad, out.maximize = o.maximize;
  return out;
}

MuonWithAuxAdamW::MuonWithAuxAdamW(const MuonParamSplit& split, MuonOptions muon, AdamWOptions adamw) {
  for (size_t i = 0; i < split.muon.size(); ++i)
    if (split.muon[i].defined()) check_matrix("MuonWithAuxAdamW", split.muon[i], i);
  if (!split.muon.empty()) add_param_group(split.muon, MuonWithAuxAdamWOptions::from(muon));
  if (!split.adamw.empty() || split.muon.empty()) add_param_group(split.adamw, MuonWithAuxAdamWOptions::from(adamw));
}

void MuonWithAuxAdamW::validate(const MuonWithAuxAdamWOptions& o) const {
  const char* who = "MuonWithAuxAdamW";
  validate_muon(who, o.muon());  // lr and weight_decay are checked here for both kinds
  check_at_least(who, "eps", o.eps, 0.0);  // AdamW's (torch.optim.AdamW's conditions)
  check_in_unit_interval(who, "beta1", o.beta1);
  check_in_unit_interval(who, "beta2", o.beta2);
}

void MuonWithAuxAdamW::init_state(const Tensor& param, ParamState& state, size_t group) const {
  const MuonWithAuxAdamWOptions& o = options_[group];
  if (o.use_muon) {
    check_matrix("MuonWithAuxAdamW", param, 0);  // a group added later (add_param_group) is checked here
    state.buffers["momentum_buffer"] = Tensor::zeros(param.shape(), param.device());  // B_0
    return;
  }
  state.buffers["exp_avg"] = Tensor::zeros(param.shape(), param.device());     // m_0
  state.buffers["exp_avg_sq"] = Tensor::zeros(param.shape(), param.device());  // v_0
  if (o.amsgrad) state.buffers["max_exp_avg_sq"] = Tensor::zeros(param.shape(), param.device());
}

void MuonWithAuxAdamW::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  const MuonWithAuxAdamWOptions& o = options_[group];
  if (o.use_muon) {
    muon_step(param, grad, state, o.muon(), traced(param), traced_index(), explanation_);
    return;
  }
  // AdamW: torch.optim.AdamW's step (adam.hpp), through the same loop and kernel as AdamW's.
  AdamScalars s = adam_scalars(o.learning_rate, o.beta1, o.beta2, o.eps, o.weight_decay, /*decoupled=*/true,
                               o.amsgrad, o.maximize, state.step);
  float* m = state.buffers.at("exp_avg").data();
  float* v = state.buffers.at("exp_avg_sq").data();
  float* v_max = o.amsgrad ? state.buffers.at("max_exp_avg_sq").data() : nullptr;
  if (param.device() == Device::cuda) {
    param.cuda_backend().adam_update(param.data(), grad.data(), m, v, v_max, param.numel(), s);
    return;
  }
  float* theta = param.data();
  const float* g = grad.data();
  parallel_for(param.numel(), kElementsPerChunk, [&](int64_t begin, int64_t end) {
    adam_update(theta + begin, g + begin, m + begin, v + begin, v_max ? v_max + begin : nullptr, end - begin, s);
  });
}

}  // namespace moments
