// Suite `autograd`: the accumulation contract, graph shapes, no-grad, detach, errors.
#include "testing.hpp"

using namespace moments;
using testing::check_error;

TEST_CASE("backward adds into .grad: calling it twice doubles leaf gradients") {
  Tensor x = Tensor::from({1, 2, 3}).requires_grad_();
  Tensor y = sum(x * x);  // dy/dx = 2x
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<float>{2, 4, 6});
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<float>{4, 8, 12});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<float>{2, 4, 6});
}

TEST_CASE("a tensor used twice gets the sum of both paths (diamond graph)") {
  Tensor x = Tensor::scalar(3.0f).requires_grad_();
  Tensor a = x * 2.0f;
  Tensor b = x * x;
  Tensor y = a + b;  // dy/dx = 2 + 2x = 8
  y.backward();
  CHECK(x.grad().item() == 8.0f);
}

TEST_CASE("only leaves keep gradients; intermediates pass them on") {
  Tensor x = Tensor::scalar(2.0f).requires_grad_();
  Tensor h = x * 3.0f;
  Tensor y = h * h;
  y.backward();
  CHECK(x.grad().item() == 36.0f);  // 2 h * 3 = 2·6·3
  CHECK_FALSE(h.grad().defined());
  CHECK_FALSE(h.is_leaf());
  CHECK(h.node()->op == "mul");
}

TEST_CASE("NoGradGuard records nothing; detach cuts the graph") {
  Tensor x = Tensor::from({1, 2}).requires_grad_();
  {
    NoGradGuard off;
    Tensor y = x * 2.0f;
    CHECK_FALSE(y.requires_grad());
    CHECK_FALSE(grad_enabled());
  }
  CHECK(grad_enabled());
  Tensor d = x.detach();
  CHECK_FALSE(d.requires_grad());
  Tensor y = sum(x * d);  // d is a constant: dy/dx = d
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<float>{1, 2});
}

TEST_CASE("inputs without requires_grad receive no gradient") {
  Tensor x = Tensor::from({1, 2}).requires_grad_();
  Tensor c = Tensor::from({5, 7});
  sum(x * c).backward();
  CHECK(x.grad().to_vector() == std::vector<float>{5, 7});
  CHECK_FALSE(c.grad().defined());
}

TEST_CASE("backward with an explicit gradient seeds non-scalar outputs") {
  Tensor x = Tensor::from({1, 2, 3}).requires_grad_();
  Tensor y = x * x;
  y.backward(Tensor::from({1, 0, -1}));
  CHECK(x.grad().to_vector() == std::vector<float>{2, 0, -6});
}

TEST_CASE("autograd errors say what went wrong") {
  Tensor x = Tensor::from({1, 2, 3}).requires_grad_();
  Tensor y = x * 2.0f;
  check_error([&] { y.backward(); }, {"backward", "[3]", "gradient"});
  check_error([&] { y.backward(Tensor::ones({2})); }, {"backward", "[2]", "[3]"});
  check_error([] { Tensor::ones({1}).backward(); }, {"backward", "does not require grad"});
  check_error([&] { y.requires_grad_(); }, {"requires_grad_", "mul"});
  check_error([&] { x.set_grad(Tensor::ones({4})); }, {"set_grad", "[4]", "[3]"});
}

TEST_CASE("a deep chain backpropagates without recursion limits") {
  Tensor x = Tensor::scalar(1.0f).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 200000; ++i) y = y + 0.0f;
  y.backward();
  CHECK(x.grad().item() == 1.0f);
}
