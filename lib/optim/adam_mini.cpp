// optim/adam_mini.cpp — Adam-mini's partition by name, state, validation and step (math in
// adam_mini_math.hpp, the algorithm box and the rules in adam_mini.hpp).
#include "adam_mini.hpp"

#include <algorithm>
#include <cctype>

#include "adam_mini_math.hpp"
#include "backend.hpp"
#include "parallel.hpp"
#include "validate.hpp"

namespace moments {

MOMENTS_CPU_CLONES void adam_mini_block_sums(const float* grad, int64_t blocks, int64_t block_size, double* out) {
  for (int64_t b = 0; b < blocks; ++b) out[b] = adam_mini_sum_squares(grad + b * block_size, block_size);
}

MOMENTS_CPU_CLONES void adam_mini_block_elements(float* theta, const float* grad, float* m, const float* scale,
                                                 int64_t begin, int64_t end, int64_t block_size,
                                                 const AdamMiniScalars& scalars) {
  const AdamMiniScalars s = scalars;  // a local copy: the stores below cannot alias it, so the loop vectorizes
  for (int64_t i = begin; i < end;) {  // the blocks that [begin, end) overlaps, one scale each
    int64_t b = i / block_size;
    int64_t stop = std::min(end, (b + 1) * block_size);
    const float scale_b = scale[b];
    for (; i < stop; ++i) adam_mini_block_element(theta[i], grad[i], m[i], scale_b, s);
  }
}

MOMENTS_CPU_CLONES void adam_mini_adam_update(float* theta, const float* grad, float* m, float* v, int64_t n,
                                              const AdamMiniScalars& scalars) {
  const AdamMiniScalars s = scalars;
  for (int64_t i = 0; i < n; ++i) adam_mini_adam_element(theta[i], grad[i], m[i], v[i], s);
}

const char* rule_name(AdamMiniRule rule) {
  switch (rule) {
    case AdamMiniRule::adam: return "adam";
    case AdamMiniRule::head: return "head";
    case AdamMiniRule::row: return "row";
    case AdamMiniRule::tensor: return "tensor";
  }
  return "?";
}

namespace {

bool contains_any(const std::string& name, const std::vector<std::string>& patterns) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return name.find(p) != std::string::npos; });
}

}  // namespace

AdamMini::AdamMini(const NamedTensors& named_parameters, AdamMiniOptions options, AdamMiniModel model)
    : model_(std::move(model)) {
  if (model_.n_kv_heads == 0) model_.n_kv_heads = model_.n_heads;
  if (!(model_.dim >= 1)) fail("AdamMini: invalid dim ", model_.dim, " (must be >= 1)");
  if (!(model_.n_heads >= 1)) fail("AdamMini: invalid n_heads ", model_.n_heads, " (must be >= 1)");
  if (!(model_.n_kv_heads >= 1 && model_.n_heads % model_.n_kv_heads == 0))
    fail("AdamMini: invalid n_kv_heads ", model_.n_kv_heads, " (n_heads ", model_.n_heads,
         " must be a multiple of it)");
  add_param_group(named_parameters, options);
}

std::vector<AdamMiniBlocks> AdamMini::classify(const NamedTensors& named, std::vector<Tensor>& tensors) const {
  const AdamMiniNames& n = model_.names;
  std::vector<AdamMiniBlocks> out;
  for (const auto& [given, param] : named) {
    if (!param.defined()) fail("AdamMini: parameter '", given, "' is an undefined tensor");
    if (!param.requires_grad()) continue;  // as the canonical code: not optimized
    std::string name = given;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    AdamMiniBlocks b{given, param.shape(), AdamMiniRule::tensor, "", 1, param.numel(), !contains_any(name, n.no_decay)};
    const std::pair<const char*, const std::vector<std::string>*> row_lists[] = {
        {"embd", &n.embd}, {"output", &n.output}, {"wv", &n.wv}, {"mlp", &n.mlp}, {"attn_proj", &n.attn_proj}};
    if (contains_any(name, n.adam_block)) {
      b.rule = AdamMiniRule::adam, b.matched = "adam_block", b.blocks = param.numel(), b.block_size = 1;
    } else if (contains_any(name, n.wqk)) {
      const int64_t dim = model_.dim, heads = model_.n_heads;
      if (dim % heads != 0) fail("AdamMini: dim ", dim, " is not a multiple of n_heads ", heads, " (query/key '", given, "')");
      const int64_t head_numel = dim * dim / heads;  // one head's rows: head_dim · dim elements
      if (param.numel() == 0 || param.numel() % head_numel != 0)
        fail("AdamMini: '", given, "' matches the query/key names (wqk) but has shape ", shape_str(param.shape()), " (",
             param.numel(), " elements), not a multiple of one head's dim * dim / n_heads = ", head_numel);
      b.rule = AdamMiniRule::head, b.matched = "wqk", b.blocks = param.numel() / head_numel, b.block_size = head_numel;
    } else {
      for (const auto& [list, patterns] : row_lists) {
        if (!contains_any(name, *patterns)) continue;
        if (param.dim() != 2)
          fail("AdamMini: '", given, "' matches the per-row names (", list, ") but has shape ", shape_str(param.shape()),
               "; the row rule needs a matrix [rows, cols]");
        b.rule = AdamMiniRule::row, b.matched = list, b.blocks = param.shape()[0], b.block_size = param.shape()[1];
        break;
      }
    }
    if (b.rule == AdamMiniRule::tensor && param.numel() == 0) b.blocks = 0;
    out.push_back(b);
    tensors.push_back(param);
  }
  return out;
}

void AdamMini::keep(const std::vector<AdamMiniBlocks>& parts, const std::vector<Tensor>& tensors) {
  for (size_t i = 0; i < parts.size(); ++i) {
    index_[tensors[i].impl()] = partition_.size();
    partition_.push_back(parts[i]);
  }
}

void AdamMini::add_param_group(const NamedTensors& named, AdamMiniOptions options) {
  std::vector<Tensor> tensors;
  std::vector<AdamMiniBlocks> parts = classify(named, tensors);
  OptimizerWith::add_param_group(tensors, options);  // validates and checks the tensors; throws before keep()
  keep(parts, tensors);
}

void AdamMini::add_param_group(const NamedTensors& named, const std::map<std::string, double>& overrides) {
  std::vector<Tensor> tensors;
  std::vector<AdamMiniBlocks> parts = classify(named, tensors);
  OptimizerWith::add_param_group(tensors, overrides);
  keep(parts, tensors);
}

const AdamMiniBlocks& AdamMini::blocks(const Tensor& param) const {
  auto it = index_.find(param.impl());
  if (it == index_.end()) fail("AdamMini::blocks: the tensor ", shape_str(param.shape()), " is not one of its parameters");
  return partition_[it->second];
}

std::vector<AdamMiniBlocks> AdamMini::partition() const { return partition_; }

void AdamMini::validate(const AdamMiniOptions& o) const {  // the canonical code's ValueError checks, NaN refused
  check_at_least("AdamMini", "learning_rate", o.learning_rate, 0.0);
  check_in_unit_interval("AdamMini", "beta1", o.beta1);
  check_in_unit_interval("AdamMini", "beta2", o.beta2);
  check_at_least("AdamMini", "weight_decay", o.weight_decay, 0.0);
  check_at_least("AdamMini", "eps", o.eps, 0.0);  // ours: the canonical code does not check ε
}

void AdamMini::init_state(const Tensor& param, ParamState& state, size_t) const {
  const AdamMiniBlocks& b = blocks(param);
  state.buffers["exp_avg"] = Tensor::zeros(param.shape(), param.device());             // m ← 0, per element
  if (b.rule == AdamMiniRule::adam)
    state.buffers["exp_avg_sq"] = Tensor::zeros(param.shape(), param.device());        // v ← 0, per element
  else
    state.buffers["vmean"] = Tensor::zeros({b.blocks}, param.device());                // v_b ← 0, per block
}

void AdamMini::update(Tensor& param, const Tensor& grad, ParamState& state, size_t group) {
  const AdamMiniOptions& o = options_[group];
  const AdamMiniBlocks& b = blocks(param);
  AdamMiniScalars s = adam_mini_scalars(o.learning_rate, o.beta1, o.beta2, o.eps, b.decays ? o.weight_decay : 0.0,
                                        state.step);
  const int64_t n = param.numel();
  float* theta = param.data();
  const float* g = grad.data();
  float* m = state.buffers.at("exp_avg").data();
  const bool adam_rule = b.rule == AdamMiniRule::adam;
  float* v = state.buffers.at(adam_rule ? "exp_avg_sq" : "vmean").data();  // (n,) or (blocks,)
  if (param.device() == Device::cuda) {  // the same loops as kernels: cuda/adam_mini.cu (the explain trace is cpu-only)
    if (adam_rule)
      param.cuda_backend().adam_mini_adam_update(theta, g, m, v, n, s);
    else
      param.cuda_backend().adam_mini_block_update(theta, g, m, v, b.blocks, b.block_size, s);
    return;
  }
  const float theta_before = traced(param) ? theta[traced_index()] : 0.0f;
  std::vector<float>& scale = scale_;  // (blocks,): (1/(1 − β1^t)) / (√v̂_b + ε)
  if (adam_rule) {
    parallel_for(n, kElementsPerChunk, [&](int64_t begin, int64_t end) {
      adam_mini_adam_update(theta + begin, g + begin, m + begin, v + begin, end - begin, s);
    });
  } else {
    std::vector<double>& sums = sums_;  // (blocks,): Σ g² per block
    sums.resize(static_cast<size_t>(b.blocks));
    parallel_for(b.blocks, std::max<int64_t>(1, kElementsPerChunk / std::max<int64_t>(1, b.block_size)),
                 [&](int64_t begin, int64_t end) {
                   adam_mini_block_sums(g + begin * b.block_size, end - begin, b.block_size, sums.data() + begin);
                 });
    scale.resize(sums.size());
    for (int64_t k = 0; k < b.blocks; ++k) scale[k] = adam_mini_block_scale(v[k], sums[k], b.block_size, s);
    parallel_for(n, kElementsPerChunk, [&](int64_t begin, int64_t end) {
      adam_mini_block_elements(theta, g, m, scale.data(), begin, end, b.block_size, s);
    });
  }
  if (!traced(param)) return;
  // The explain trace: element `i` and, for a block rule, its block's values.
  const int64_t i = traced_index();
  const double bias_correction2_sqrt = s.bias_correction2_sqrt;
  if (adam_rule) {
    explanation_ = {state.step,
                    {{"g", g[i]}, {"m", m[i]}, {"v", v[i]}, {"denom", std::sqrt(v[i]) / bias_correction2_sqrt + s.eps},
                     {"step_size", s.step_size}, {"update", static_cast<double>(theta[i]) - theta_before}}};
    return;
  }
  const int64_t k = i / b.block_size;
  explanation_ = {state.step,
                  {{"g", g[i]},
                   {"m", m[i]},
                   {"block", static_cast<double>(k)},
                   {"vmean", v[k]},
                   {"denom", std::sqrt(v[k]) / bias_correction2_sqrt + s.eps},
                   {"scale", scale[k]},
                   {"update", static_cast<double>(theta[i]) - theta_before}}};
}

}  // namespace moments
