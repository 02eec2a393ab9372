// autograd.hpp — define-by-run reverse-mode differentiation.
//
// THE ACCUMULATION CONTRACT (read this before writing a training loop)
//   1. backward() ADDS into .grad. It never overwrites. Calling backward()
//      twice on the same graph doubles every leaf gradient.
//   2. Only leaves keep gradients: tensors you created with requires_grad_()
//      (parameters). Intermediate results pass their gradient on and keep none.
//   3. Clearing is your job: call zero_grad() on each parameter (or the
//      optimizer's zero_grad()) before each new backward(), or gradients from
//      earlier steps pile up. zero_grad() drops the gradient (grad() becomes
//      undefined), as PyTorch's set_to_none=True does; optimizers skip
//      parameters without a gradient.
//   4. A tensor read by several ops gets the sum of their gradients: a weight tied
//      between a token embedding and the output layer (embedding() and linear())
//      receives both (tests/test_ops.cpp checks it).
//   5. The graph is kept after backward(), so backward() may be called again.
//      It is freed when the last handle on the output goes away.
//
// USAGE
//   Tensor x = Tensor::scalar(2.0f).requires_grad_();
//   Tensor y = x * x + 3.0f * x;     // records mul, mul, add
//   y.backward();                    // x.grad() = 2x + 3 = 7
//   { NoGradGuard off; x.data()[0] -= 0.1f * x.grad().item(); }  // no recording here
//
// HOW IT WORKS
//   Every op whose inputs require a gradient records a Node: its op name, its
//   inputs, and a backward function that turns d(loss)/d(output) into
//   d(loss)/d(input) for each input. backward() sorts the nodes topologically
//   and walks them in reverse, summing the gradient that reaches each tensor.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "tensor.hpp"

namespace moments {

struct Node {
  std::string op;               // "matmul", "add", ... (for error messages and debugging)
  std::vector<Tensor> inputs;   // the tensors this op read
  // Given the gradient of the loss w.r.t. the output, returns one gradient per
  // input, each with that input's shape (undefined for inputs without grad).
  std::function<std::vector<Tensor>(const Tensor& grad_output)> backward;
};

// True unless a NoGradGuard is alive on this thread.
bool grad_enabled();

// While alive, ops record nothing (optimizer steps and evaluation use it).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Used by ops: does any input need a gradient (and is recording on)?
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Used by ops: attach a node to `output`, making it a non-leaf that requires grad.
void record(Tensor& output, std::string op, std::vector<Tensor> inputs,
            std::function<std::vector<Tensor>(const Tensor&)> backward);

}  // namespace moments
