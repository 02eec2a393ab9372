// Tutorial 02 — tensors and broadcasting.
//
// What a moments Tensor is (a shared handle on float32 storage, row-major),
// how two tensors of different shapes combine (NumPy's broadcasting rules),
// and why the gradient of a broadcast input is a sum (sum_to).
//
// Build and run:  meson compile -C build && ./build/tutorials/02_tensors_and_broadcasting
//   --broadcast A B   only the broadcast of shapes A and B ("3,1" and "3")      (see Try this)
//   --mul             only part 4's gradients, with x * b in place of x + b
//   --sum-to S        only sum_to of a [2, 3] gradient to shape S ("3,1")
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "moments.hpp"

using namespace moments;

// The row-major strides of a shape: s_last = 1, s_j = s_{j+1} * size_{j+1}.
Shape strides_of(const Shape& shape) {
  Shape strides(shape.size(), 1);
  for (size_t j = shape.size(); j-- > 1;) strides[j - 1] = strides[j] * shape[j];
  return strides;
}

void print_memory(const char* name, const Tensor& t) {
  std::printf("  %-12s shape %-9s memory:", name, shape_str(t.shape()).c_str());
  for (float x : t.to_vector()) std::printf(" %g", x);
  std::printf("\n");
}

void show_broadcast(const Shape& a, const Shape& b) {
  try {
    Shape out = broadcast_shapes(a, b, "add");
    std::printf("  %-9s + %-9s -> %s\n", shape_str(a).c_str(), shape_str(b).c_str(), shape_str(out).c_str());
  } catch (const Error& e) {
    std::printf("  %-9s + %-9s -> error: %s\n", shape_str(a).c_str(), shape_str(b).c_str(), e.what());
  }
}

// "3,1" → [3, 1]; "" → [] (a scalar).
Shape parse_shape(const std::string& text) {
  Shape shape;
  for (size_t at = 0; at < text.size();) {
    size_t comma = text.find(',', at);
    shape.push_back(std::stoll(text.substr(at, comma == std::string::npos ? std::string::npos : comma - at)));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return shape;
}

// Try this: part 4 with x * b in place of x + b.
int product_gradients() {
  Tensor x = Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  Tensor b = Tensor::from({0.5f, -0.5f, 1.0f}).requires_grad_();
  Tensor weights = Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3});
  sum(weights * (x * b)).backward();  // forward, backward
  std::cout << "L = sum(w * (x * b)): dL/dx = w * b (b broadcast over the rows):\n" << x.grad() << "\n";
  std::cout << "dL/db = sum over the rows of w * x:\n" << b.grad() << "\n";
  return 0;
}

// Try this: sum_to of a [2, 3] gradient to `shape`, or the error that says why it cannot be.
int sum_to_shape(const Shape& shape) {
  Tensor g = Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3});
  try {
    Tensor summed = sum_to(g, shape);
    std::cout << "sum_to([2, 3] gradient, " << shape_str(shape) << ") = " << summed << "\n";
  } catch (const Error& e) {
    std::cout << "sum_to([2, 3] gradient, " << shape_str(shape) << "): error: " << e.what() << "\n";
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "--broadcast") == 0)  // Try this: two shapes, "3,1" and "3"
    return show_broadcast(parse_shape(argv[2]), parse_shape(argv[3])), 0;
  if (argc == 2 && std::strcmp(argv[1], "--mul") == 0) return product_gradients();
  if (argc == 3 && std::strcmp(argv[1], "--sum-to") == 0) return sum_to_shape(parse_shape(argv[2]));
  // ---- 1. A Tensor is a handle ------------------------------------------------
  std::printf("1. A Tensor is a shared handle\n");
  Tensor a = Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor alias = a;            // copies the handle: same storage
  Tensor copy = a.clone();     // copies the numbers: new storage
  alias.at({0, 0}) = 100.0f;
  copy.at({0, 1}) = -1.0f;
  std::printf("  after alias(0,0) = 100 and copy(0,1) = -1:\n");
  std::printf("  a(0,0) = %g, a(0,1) = %g   (the alias wrote into a; the clone did not)\n", a.at({0, 0}), a.at({0, 1}));
  std::printf("  same storage: alias %s, clone %s, detach %s\n\n",
              alias.data() == a.data() ? "yes" : "no", copy.data() == a.data() ? "yes" : "no",
              a.detach().data() == a.data() ? "yes" : "no");
  a.at({0, 0}) = 1.0f;

  // ---- 2. Shapes and row-major layout -----------------------------------------
  std::printf("2. Shape and layout: a is %s, %lld dims, %lld elements\n", shape_str(a.shape()).c_str(),
              static_cast<long long>(a.dim()), static_cast<long long>(a.numel()));
  Shape s = strides_of(a.shape());
  std::printf("  strides %s: element (i, j) is at offset %lld i + %lld j; a(1, 2) at offset %lld holds %g\n",
              shape_str(s).c_str(), static_cast<long long>(s[0]), static_cast<long long>(s[1]),
              static_cast<long long>(1 * s[0] + 2 * s[1]), a.data()[1 * s[0] + 2 * s[1]]);
  print_memory("a", a);
  print_memory("reshape 3x2", reshape(a, {3, 2}));   // same order in memory, new shape
  print_memory("transpose", transpose(a));           // a new tensor: the order changes
  std::cout << a << "\n\n";

  // ---- 3. Broadcasting rules ----------------------------------------------------
  // Align the shapes at the right; each pair of sizes must be equal or contain a 1
  // (a missing dim counts as 1); the result takes the larger size.
  std::printf("3. Broadcasting: align at the right; sizes must match or be 1\n");
  show_broadcast({2, 3}, {3});
  show_broadcast({2, 3}, {});
  show_broadcast({2, 1}, {1, 3});
  show_broadcast({4, 1, 3}, {2, 1});
  show_broadcast({2, 3}, {2});
  Tensor bias = Tensor::from({10, 20, 30});                // [3]: one per column
  Tensor column = Tensor::from({1, 2}, {2, 1});            // [2, 1]: one per row
  Tensor row = Tensor::from({1, 10, 100}, {1, 3});         // [1, 3]
  std::cout << "a + bias, with bias = [10, 20, 30] added to every row:\n" << a + bias << "\n";
  std::cout << "column * row, with column = [[1], [2]] and row = [[1, 10, 100]] (an outer product):\n"
            << column * row << "\n\n";

  // ---- 4. The gradient of a broadcast is a sum ------------------------------------
  // In y = x + b with x [2, 3] and b [3], each b_j was used twice (once per row),
  // so dL/db_j = Σ_i dL/dy_ij: the gradient is summed over the broadcast dims.
  std::printf("4. Gradients flow back through a broadcast as a sum (sum_to)\n");
  Tensor x = Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_();
  Tensor b = Tensor::from({0.5f, -0.5f, 1.0f}).requires_grad_();
  Tensor weights = Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3});  // L = Σ w ⊙ (x + b): dL/dy = w
  Tensor loss = sum(weights * (x + b));                         // forward
  loss.backward();                                              // backward
  std::cout << "L = sum(w * (x + b)), so dL/dy = w; dL/dx = dL/dy (x was not broadcast):\n" << x.grad() << "\n";
  std::cout << "dL/db = dL/dy summed over the rows it was broadcast to:\n" << b.grad() << "\n";
  std::cout << "sum_to(g, shape) for the other shapes g = dL/dy could have come from:\n";
  std::cout << "  [1, 3] " << sum_to(weights, {1, 3}) << "\n";
  std::cout << "  [2, 1] " << sum_to(weights, {2, 1}) << "\n";
  std::cout << "  []     " << sum_to(weights, {}) << "\n";

  // The outer product: out_ij = c_i r_j, so dL/dc_i = Σ_j g_ij r_j and dL/dr_j = Σ_i g_ij c_i.
  Tensor c = column.clone().requires_grad_();
  Tensor r = row.clone().requires_grad_();
  sum(c * r).backward();  // g = 1 everywhere
  std::cout << "outer product with g = 1: dL/dc_i = sum_j r_j, dL/dr_j = sum_i c_i:\n"
            << c.grad() << "\n" << r.grad() << "\n";
  return 0;
}
