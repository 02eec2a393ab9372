// autograd.cpp — recording nodes, and backward(): a topological sort plus a reverse walk.
#include "autograd.hpp"

#include <unordered_map>
#include <unordered_set>

#include "ops.hpp"

namespace moments {

static thread_local bool g_grad_enabled = true;

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

void record(Tensor& output, std::string op, std::vector<Tensor> inputs,
            std::function<std::vector<Tensor>(const Tensor&)> backward) {
  auto node = std::make_shared<Node>();
  node->op = std::move(op);
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  output.impl()->node = std::move(node);
  output.impl()->requires_grad = true;
}

// A graph is a chain of shared_ptrs; freeing a 100k-op chain by plain
// recursion would overflow the stack. Instead, a dying tensor takes over the
// nodes that only it keeps alive and frees them one at a time.
TensorImpl::~TensorImpl() {
  std::vector<std::shared_ptr<Node>> pending;
  if (node && node.use_count() == 1) pending.push_back(std::move(node));
  while (!pending.empty()) {
    std::shared_ptr<Node> current = std::move(pending.back());
    pending.pop_back();
    for (Tensor& input : current->inputs) {
      TensorImpl* impl = input.impl();
      if (impl && input.impl_ptr().use_count() == 1 && impl->node && impl->node.use_count() == 1)
        pending.push_back(std::move(impl->node));
    }
  }  // each `current` dies here with inputs whose nodes were already taken: no recursion
}

// ---- Tensor's autograd members -------------------------------------------

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }
bool Tensor::is_leaf() const { return impl_ && !impl_->node; }
std::shared_ptr<Node> Tensor::node() const { return impl_ ? impl_->node : nullptr; }

Tensor& Tensor::requires_grad_(bool on) {
  check_defined("requires_grad_");
  if (!is_leaf())
    fail("requires_grad_: only leaf tensors can change requires_grad; this one was made by '", impl_->node->op,
         "' (use detach() to get a leaf)");
  impl_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  check_defined("grad");
  return impl_->grad ? Tensor(impl_->grad) : Tensor();
}

void Tensor::set_grad(const Tensor& grad) {
  check_defined("set_grad");
  if (grad.defined() && (grad.shape() != shape() || grad.device() != device()))
    fail("set_grad: gradient of shape ", shape_str(grad.shape()), " on ", device_name(grad.device()),
         " does not match the tensor's shape ", shape_str(shape()), " on ", device_name(device()));
  impl_->grad = grad.defined() ? grad.impl_ptr() : nullptr;
}

void Tensor::zero_grad() {
  check_defined("zero_grad");
  impl_->grad = nullptr;
}

void Tensor::backward() const {
  check_defined("backward");
  if (numel() != 1)
    fail("backward: called without a gradient on a tensor of shape ", shape_str(shape()),
         "; only single-element outputs get the implicit gradient 1, so pass one of the same shape");
  backward(Tensor::ones(shape(), device()));
}

void Tensor::backward(const Tensor& grad_output) const {
  check_defined("backward");
  if (!requires_grad())
    fail("backward: this tensor does not require grad (no input had requires_grad_(), or it was made under NoGradGuard)");
  if (!grad_output.defined() || grad_output.shape() != shape())
    fail("backward: gradient of shape ", grad_output.defined() ? shape_str(grad_output.shape()) : "undefined",
         " does not match the output's shape ", shape_str(shape()));

  // 1. Topological order of every tensor that leads here (iterative DFS, post-order).
  std::vector<TensorImpl*> order;
  std::unordered_set<TensorImpl*> visited;
  std::vector<std::pair<TensorImpl*, size_t>> stack{{impl_.get(), 0}};
  visited.insert(impl_.get());
  while (!stack.empty()) {
    auto& [impl, next] = stack.back();
    if (impl->node && next < impl->node->inputs.size()) {
      TensorImpl* input = impl->node->inputs[next++].impl();
      if (input->requires_grad && visited.insert(input).second) stack.push_back({input, 0});
      continue;
    }
    order.push_back(impl);
    stack.pop_back();
  }

  // 2. Walk it in reverse: outputs before the inputs they were made from.
  NoGradGuard no_grad;  // gradients are plain values; no graph of the graph
  std::unordered_map<TensorImpl*, Tensor> grads{{impl_.get(), grad_output}};
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl* impl = *it;
    auto found = grads.find(impl);
    if (found == grads.end()) continue;
    Tensor grad = found->second;
    grads.erase(found);
    if (!impl->node) {  // a leaf: accumulate into .grad (contract rule 1)
      if (impl->grad) add_(Tensor(impl->grad), grad);
      else impl->grad = grad.clone().impl_ptr();
      continue;
    }
    Node& node = *impl->node;
    std::vector<Tensor> input_grads = node.backward(grad);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const Tensor& input = node.inputs[i];
      if (!input.requires_grad() || !input_grads[i].defined()) continue;
      if (input_grads[i].shape() != input.shape())
        fail("backward of '", node.op, "': gradient for input ", i, " has shape ", shape_str(input_grads[i].shape()),
             ", expected ", shape_str(input.shape()), " (a bug in the op)");
      auto [slot, fresh] = grads.try_emplace(input.impl(), input_grads[i]);
      if (!fresh) slot->second = add(slot->second, input_grads[i]);
    }
  }
}

}  // namespace moments
