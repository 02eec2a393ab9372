// Tutorial 01 — autograd by hand.
//
// A tiny expression, differentiated twice: once by hand with the chain rule,
// once by moments' autograd, first on scalars and then on tensors. Every
// gradient is printed next to the value the chain rule predicts.
//
// Build and run:  meson compile -C build && ./build/tutorials/01_autograd_by_hand [--f F | --third-backward | --sigmoid]
//   --f F             part 1 with f = F instead of -2                                  (see Try this)
//   --third-backward  part 1 calls backward() a third time instead of zero_grad()
//   --sigmoid         part 2 with sigmoid in place of tanh
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "moments.hpp"

using namespace moments;

int main(int argc, char** argv) {
  const bool third_backward = argc == 2 && std::strcmp(argv[1], "--third-backward") == 0;
  const bool use_sigmoid = argc == 2 && std::strcmp(argv[1], "--sigmoid") == 0;
  const float f_value = argc == 3 && std::strcmp(argv[1], "--f") == 0 ? std::strtof(argv[2], nullptr) : -2.0f;
  // ---- Part 1: scalars ----------------------------------------------------
  // L = (a*b + c) * f, drawn as a graph:   a ─┐
  //                                            mul → e ─┐
  //                                        b ─┘         add → d ─┐
  //                                        c ───────────┘        mul → L
  //                                        f ────────────────────┘
  Tensor a = Tensor::scalar(2.0f).requires_grad_();
  Tensor b = Tensor::scalar(-3.0f).requires_grad_();
  Tensor c = Tensor::scalar(10.0f).requires_grad_();
  Tensor f = Tensor::scalar(f_value).requires_grad_();

  // forward
  Tensor e = a * b;  // -6
  Tensor d = e + c;  // 4
  Tensor L = d * f;  // -8
  std::printf("Part 1: L = (a*b + c) * f with a = 2, b = -3, c = 10, f = %g\n", f.item());
  std::printf("forward:  e = a*b = %g,  d = e + c = %g,  L = d*f = %g\n", e.item(), d.item(), L.item());

  // backward
  L.backward();
  // The chain rule, from the output back:
  //   dL/dL = 1
  //   dL/dd = f                 dL/df = d
  //   dL/dc = dL/dd · 1         dL/de = dL/dd · 1
  //   dL/da = dL/de · b         dL/db = dL/de · a
  float dL_dd = f.item(), dL_de = dL_dd;
  std::printf("backward (autograd | by hand):\n");
  std::printf("  dL/da = %5g | dL/de * b = %g\n", a.grad().item(), dL_de * b.item());
  std::printf("  dL/db = %5g | dL/de * a = %g\n", b.grad().item(), dL_de * a.item());
  std::printf("  dL/dc = %5g | dL/dd     = %g\n", c.grad().item(), dL_dd);
  std::printf("  dL/df = %5g | d         = %g\n", f.grad().item(), d.item());

  // Gradients ACCUMULATE: a second backward() adds the same amounts again.
  L.backward();
  std::printf("after a second backward(), dL/da = %g (doubled: backward adds into .grad)\n", a.grad().item());
  if (third_backward) {
    L.backward();
    std::printf("after a third backward(), dL/da = %g\n\n", a.grad().item());
  } else {
    a.zero_grad();
    std::printf("after a.zero_grad(), a.grad() is %s\n\n", a.grad().defined() ? "defined" : "undefined");
  }

  // ---- Part 2: tensors ------------------------------------------------------
  // y = tanh(x W + b), L = mean(y^2): a one-layer network and a toy loss.
  Tensor x = Tensor::from({1.0f, -1.0f, 0.5f, 2.0f, 0.0f, -0.5f}, {2, 3});       // (batch 2, in 3)
  Tensor W = Tensor::from({0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f}, {3, 2}).requires_grad_();  // (in 3, out 2)
  Tensor bias = Tensor::from({0.05f, -0.05f}).requires_grad_();                  // (out 2)

  // forward
  Tensor z = matmul(x, W) + bias;  // (2, 2); bias broadcasts over the batch
  Tensor y = use_sigmoid ? sigmoid(z) : tanh(z);
  Tensor loss = mean(y * y);
  std::cout << "Part 2: y = " << (use_sigmoid ? "sigmoid" : "tanh") << "(x W + b), L = mean(y^2)\n";
  std::cout << "z = " << z.detach() << "\n";
  std::cout << "L = " << loss.item() << "\n";

  // backward
  loss.backward();
  // By hand:  dL/dy = 2y / 4 (mean over 4 elements),  dL/dz = dL/dy · (1 - y^2)  [sigmoid: dL/dy · y(1 - y)],
  //           dL/dW = x^T · dL/dz,  dL/db = dL/dz summed over the batch (broadcast in reverse).
  Tensor dz;
  {
    NoGradGuard by_hand;  // plain arithmetic: record nothing
    Tensor yv = y.detach();
    dz = (yv * 0.5f) * (use_sigmoid ? yv * (1.0f - yv) : 1.0f - yv * yv);
    std::cout << "dL/dW (autograd) = " << W.grad() << "\n";
    std::cout << "dL/dW (by hand)  = " << matmul(transpose(x), dz) << "\n";
    std::cout << "dL/db (autograd) = " << bias.grad() << "\n";
    std::cout << "dL/db (by hand)  = " << sum(dz, 0) << "\n";
  }
  return 0;
}
