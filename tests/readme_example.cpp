// The README's "A first look" program, kept here so the docs suite builds and runs it.
#include <iostream>

#include "moments.hpp"
using namespace moments;

int main() {
  Generator gen(0);                         // seeded: the same numbers on every machine
  MLP model({64, 32, 10}, gen);             // Linear layers with PyTorch's default init
  AdamW opt(model.parameters(), {.learning_rate = 1e-3, .weight_decay = 0.01});
  Tensor x = randn({8, 64}, gen);
  std::vector<int64_t> y{0, 1, 2, 3, 4, 5, 6, 7};
  for (int step = 0; step < 100; ++step) {
    opt.zero_grad();                                   // gradients accumulate otherwise
    Tensor loss = cross_entropy(model.forward(x), y);  // forward
    loss.backward();                                   // backward: fills p.grad()
    opt.step();                                        // update
  }
  std::cout << opt.state_bytes_total() << " bytes of AdamW state\n";  // m and v: 2 floats per weight
}
