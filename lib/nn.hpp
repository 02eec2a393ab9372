// nn.hpp — layers with parameters: Linear and an MLP.
//
// USAGE
//   Generator gen(0);
//   MLP model({64, 32, 10}, gen);                 // 64 -> 32 -> relu -> 10
//   Tensor logits = model.forward(x);             // x: (batch, 64)
//   for (auto& [name, p] : model.named_parameters())  // "layers.0.weight", "layers.0.bias", ...
//     std::cout << name << " " << shape_str(p.shape()) << "\n";
//
// Parameters are leaf tensors with requires_grad; the handles returned by
// parameters() alias the module's own tensors, so an optimizer that updates
// them updates the model.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "random.hpp"
#include "tensor.hpp"

namespace moments {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;
  virtual Tensor forward(const Tensor& x) const = 0;
  // In a stable order: registration order, weight before bias.
  virtual NamedTensors named_parameters() const = 0;
  std::vector<Tensor> parameters() const;
  void zero_grad() const;
  int64_t parameter_count() const;
};

// y = x W^T + b, with PyTorch's default initialisation: W and b drawn from
// U(-1/√fan_in, 1/√fan_in) (kaiming_uniform_ with a = √5, and the bias rule).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, Generator& gen, bool bias = true);
  Tensor forward(const Tensor& x) const override;
  NamedTensors named_parameters() const override;
  // Moves weight and bias to `device` (Device::cuda: a GPU, or the CPU emulator): new
  // leaves with requires_grad and no gradient. Make the optimizer after moving, so it
  // holds the new tensors.
  void to(Device device);

  Tensor weight;  // (out_features, in_features)
  Tensor bias;    // (out_features), undefined when bias = false
};

// Linear layers with ReLU between them (none after the last).
class MLP : public Module {
 public:
  MLP(const std::vector<int64_t>& sizes, Generator& gen);
  Tensor forward(const Tensor& x) const override;
  NamedTensors named_parameters() const override;  // "layers.<i>.weight", "layers.<i>.bias"
  void to(Device device);  // every layer's parameters (see Linear::to)

  std::vector<Linear> layers;
};

}  // namespace moments
