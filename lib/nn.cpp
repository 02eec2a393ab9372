// nn.cpp — Linear and MLP.
#include "nn.hpp"

#include <cmath>

#include "ops.hpp"

namespace moments {

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, p] : named_parameters()) out.push_back(p);
  return out;
}

void Module::zero_grad() const {
  for (Tensor p : parameters()) p.zero_grad();
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const Tensor& p : parameters()) n += p.numel();
  return n;
}

Linear::Linear(int64_t in_features, int64_t out_features, Generator& gen, bool has_bias) {
  if (in_features <= 0 || out_features <= 0)
    fail("Linear: in_features and out_features must be >= 1, got ", in_features, " and ", out_features);
  float bound = 1.0f / std::sqrt(static_cast<float>(in_features));
  weight = rand({out_features, in_features}, gen, -bound, bound).requires_grad_();
  if (has_bias) bias = rand({out_features}, gen, -bound, bound).requires_grad_();
}

Tensor Linear::forward(const Tensor& x) const { return linear(x, weight, bias); }

NamedTensors Linear::named_parameters() const {
  NamedTensors out{{"weight", weight}};
  if (bias.defined()) out.emplace_back("bias", bias);
  return out;
}

void Linear::to(Device device) {
  if (weight.device() == device) return;  // keep the handles an optimizer may hold
  weight = weight.to(device).detach().requires_grad_();
  if (bias.defined()) bias = bias.to(device).detach().requires_grad_();
}

MLP::MLP(const std::vector<int64_t>& sizes, Generator& gen) {
  if (sizes.size() < 2) fail("MLP: needs at least an input and an output size, got ", sizes.size(), " sizes");
  for (size_t i = 0; i + 1 < sizes.size(); ++i) layers.emplace_back(sizes[i], sizes[i + 1], gen);
}

Tensor MLP::forward(const Tensor& x) const {
  Tensor h = x;
  for (size_t i = 0; i < layers.size(); ++i) {
    h = layers[i].forward(h);
    if (i + 1 < layers.size()) h = relu(h);
  }
  return h;
}

void MLP::to(Device device) {
  for (Linear& layer : layers) layer.to(device);
}

NamedTensors MLP::named_parameters() const {
  NamedTensors out;
  for (size_t i = 0; i < layers.size(); ++i)
    for (auto& [name, p] : layers[i].named_parameters()) out.emplace_back("layers." + std::to_string(i) + "." + name, p);
  return out;
}

}  // namespace moments
