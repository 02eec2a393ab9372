// test_soap.cpp — SOAP (lib/optim/soap.hpp) against its restated canonical code, and the invariants that make
// it Adam in a rotated basis: with identity bases (or none) it is Adam bit for bit; its update does not depend
// on the signs or the order of the eigenvectors it is given (so two eigensolvers may disagree on them); its
// bases stay orthonormal; its state is m, v and a statistic and a basis per preconditioned dim.
// Run: meson test -C build --suite optim   (golden numbers: tests/reference/make_soap_golden.py)
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/datasets.hpp"
#include "optim_testing.hpp"
#include "reference/soap_golden.hpp"

using namespace moments;
using testing::check_close;
using testing::check_error;
using testing::pattern;

namespace {

using Params = std::vector<Tensor>;

// make_soap_golden.py's gradient at step t: (p − target)·weight + pattern(n, t, 1/32). The drift keeps the second
// gradient from equalling the first (SOAP's first step does not move p), which would be diagonal in the basis
// built from it, its off-diagonal entries rounding noise that Adam's division would turn into ±1.
void set_drifting_gradients(testing::Problem& problem, int t) {
  NoGradGuard off;
  for (size_t i = 0; i < problem.params.size(); ++i) {
    const Tensor& p = problem.params[i];
    Tensor g = (p.detach() - problem.targets[i]) * problem.weights[i] + pattern(p.shape(), t, golden::soap_drift);
    problem.params[i].set_grad(g);
  }
}

std::vector<unsigned char> bytes_of(const Params& tensors) {
  std::vector<unsigned char> out;
  for (const Tensor& t : tensors) {
    std::vector<float> v = t.to_vector();
    auto p = reinterpret_cast<const unsigned char*>(v.data());
    out.insert(out.end(), p, p + v.size() * sizeof(float));
  }
  return out;
}

// ‖QᵀQ − I‖_max of a d × d basis.
double orthonormality_error(const Tensor& q) {
  Tensor host = q.to(Device::cpu);
  const int64_t d = host.size(0);
  double worst = 0.0;
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) {
      double dot = 0.0;
      for (int64_t r = 0; r < d; ++r) dot += static_cast<double>(host.data()[r * d + i]) * host.data()[r * d + j];
      worst = std::max(worst, std::fabs(dot - (i == j ? 1.0 : 0.0)));
    }
  return worst;
}

// The state with `edit` applied to its buffers, loaded back (a way in for tests: state() is read-only).
void edit_state(SOAP& soap, const std::function<void(std::map<std::string, Tensor>&)>& edit) {
  StateDict dict = soap.state_dict();
  for (auto& [index, s] : dict.state) edit(s.buffers);
  soap.load_state_dict(dict);
}

}  // namespace

TEST_CASE("SOAP follows the restated canonical soap.py for 30 steps (matrix, vector, dims over max, 3-D, merged)") {
  // Tolerance, 1e-5 + 1e-5·|expected| (float32 parameters of magnitude 0.1–2, 30 steps): the rotations are
  // matrix products summed in another order than torch's BLAS, the eigenvectors come from another solver (their
  // signs and order do not matter: see the tests below), Adam's division M'/(√V' + ε) passes on the relative
  // error of each rotated element, and moments rotates M' only when the basis changes where soap.py turns it
  // back and forth every step: in the restatement itself that alone moves the parameters by up to 6.2e-6
  // (soap_high_lr). The worst difference measured here is printed; it is below 7e-6.
  REQUIRE(golden::soap_cases.size() == golden::soap_shapes.size());
  double worst = 0.0;
  for (size_t i = 0; i < golden::soap_cases.size(); ++i) {
    const golden::OptimCase& c = golden::soap_cases[i];
    std::vector<Shape> shapes(golden::soap_shapes[i].begin(), golden::soap_shapes[i].end());
    testing::Problem problem(shapes);
    std::string case_name = c.name;
    CAPTURE(case_name);
    auto opt = testing::build<SOAP, SoapOptions>(c, problem.params);
    size_t snapshot = 0;
    for (int t = 1; t <= c.steps.back(); ++t) {
      set_drifting_gradients(problem, t);
      opt->step();
      if (t != c.steps[snapshot]) continue;
      for (size_t p = 0; p < problem.params.size(); ++p) {
        check_close(problem.params[p], c.params[snapshot][p], 1e-5f, 1e-5f,
                    case_name + ": param " + std::to_string(p) + " after step " + std::to_string(t));
        std::vector<float> actual = problem.params[p].to_vector();
        for (size_t k = 0; k < actual.size(); ++k)
          worst = std::max(worst, std::fabs(static_cast<double>(actual[k]) - c.params[snapshot][p][k]));
      }
      ++snapshot;
    }
  }
  MESSAGE("SOAP against the restated soap.py: worst parameter difference " << worst);
  CHECK(worst < 7e-6);
}

TEST_CASE("SOAP's first step only initialises: p unchanged, L = (1 − β_s) G Gᵀ, Q its eigenbasis, descending") {
  Tensor w = pattern({4, 3}, 1).requires_grad_();
  SOAP soap({w}, {.shampoo_beta = 0.9});
  std::vector<float> before = w.to_vector();
  Tensor g = pattern({4, 3}, 3, 0.5f);
  w.set_grad(g);
  soap.step();
  CHECK(w.to_vector() == before);
  const ParamState* s = soap.state(w);
  REQUIRE(s != nullptr);
  check_close(s->buffers.at("GG0"), (matmul(g, transpose(g)) * 0.1f).to_vector(), 1e-5f, 1e-5f, "L");
  check_close(s->buffers.at("GG1"), (matmul(transpose(g), g) * 0.1f).to_vector(), 1e-5f, 1e-5f, "R");
  for (const char* q : {"Q0", "Q1"}) CHECK(orthonormality_error(s->buffers.at(q)) < 1e-6);
  // L Q = Q diag(λ) with λ descending: the eigenvalues() of the statistic, column by column.
  std::vector<double> lambda = soap.eigenvalues(w)[0];
  REQUIRE(lambda.size() == 4);
  for (size_t i = 1; i < lambda.size(); ++i) CHECK(lambda[i - 1] >= lambda[i]);
  Tensor lq = matmul(s->buffers.at("GG0"), s->buffers.at("Q0"));
  const float* q = s->buffers.at("Q0").data();
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 4; ++j)  // within 1e-5 of λ_max (float32 eigenvectors)
      CHECK(std::fabs(lq.data()[i * 4 + j] - lambda[static_cast<size_t>(j)] * q[i * 4 + j]) < 1e-5 * lambda[0]);
  CHECK(s->buffers.at("exp_avg").to_vector() == std::vector<float>(12, 0.0f));
}

TEST_CASE("SOAP with no basis (max_precond_dim 0, a vector) is Adam bit for bit, one step behind") {
  // SOAP's first step only initialises, so SOAP after steps 1..T+1 equals Adam after steps 2..T+1. With ε in
  // torch.optim.Adam's place (eps_after_bias_correction) and no decay, the step is adam_update_element's.
  for (double max_dim : {0.0, 10000.0}) {  // 0: no dim preconditioned; 10000: only the matrix is, the vector not
    CAPTURE(max_dim);
    testing::Problem with_soap(std::vector<Shape>{{4, 3}, {5}}), with_adam(std::vector<Shape>{{4, 3}, {5}});
    SOAP soap(with_soap.params, {.learning_rate = 0.01, .beta1 = 0.9, .beta2 = 0.99, .weight_decay = 0.0,
                                 .max_precond_dim = max_dim, .eps_after_bias_correction = true});
    Adam adam(with_adam.params, {.learning_rate = 0.01, .beta1 = 0.9, .beta2 = 0.99});
    set_drifting_gradients(with_soap, 1);
    soap.step();
    for (int t = 2; t <= 30; ++t) {
      set_drifting_gradients(with_soap, t);
      set_drifting_gradients(with_adam, t);
      soap.step();
      adam.step();
      INFO("step " << t);
      CHECK(bytes_of({with_soap.params[1]}) == bytes_of({with_adam.params[1]}));  // the vector: never rotated
      if (max_dim == 0.0) {
        CHECK(bytes_of({with_soap.params[0]}) == bytes_of({with_adam.params[0]}));
        CHECK(bytes_of({soap.state(with_soap.params[0])->buffers.at("exp_avg_sq")}) ==
              bytes_of({adam.state(with_adam.params[0])->buffers.at("exp_avg_sq")}));
      }
    }
  }
}

TEST_CASE("SOAP with identity bases runs the rotations and is still Adam bit for bit") {
  // A first gradient with orthogonal rows and columns of decreasing norm: L = diag(9, 4, 0), R = diag(9, 4), so
  // eigh gives bases of ±unit vectors in order, and with no refresh in the run they stay. Rotations by them are
  // exact, so the whole path (rotate, Adam on Δ', rotate back, W + Δ) gives Adam's bits.
  Tensor w_soap = pattern({3, 2}, 1).requires_grad_(), w_adam = pattern({3, 2}, 1).requires_grad_();
  SOAP soap({w_soap}, {.learning_rate = 0.01, .weight_decay = 0.0, .precondition_frequency = 1000,
                       .eps_after_bias_correction = true});
  Adam adam({w_adam}, {.learning_rate = 0.01, .beta1 = 0.95, .beta2 = 0.95});
  w_soap.set_grad(Tensor::from({3, 0, 0, 2, 0, 0}, {3, 2}));
  soap.step();
  for (const char* name : {"Q0", "Q1"}) {
    std::vector<float> q = soap.state(w_soap)->buffers.at(name).to_vector();
    const auto d = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(q.size()))));
    for (int64_t i = 0; i < d; ++i)
      for (int64_t j = 0; j < d; ++j) CHECK(std::fabs(q[static_cast<size_t>(i * d + j)]) == (i == j ? 1.0f : 0.0f));
  }
  for (int t = 2; t <= 25; ++t) {
    Tensor g = pattern({3, 2}, t, 0.3f) + w_soap.detach();
    w_soap.set_grad(g);
    w_adam.set_grad(g.clone());
    soap.step();
    adam.step();
    INFO("step " << t);
    CHECK(bytes_of({w_soap}) == bytes_of({w_adam}));
  }
}

TEST_CASE("SOAP's update does not depend on the eigenvectors' signs (bit for bit) nor on their order") {
  // Adam works element by element, so a signed permutation of the basis permutes and flips M' and V' along,
  // and rotating back undoes it; the refresh sorts the columns by their Rayleigh quotients and its Householder
  // QR gives the same Q for a column flipped or not. So torch's eigh and Eigen's may choose differently.
  auto run = [](const std::function<void(std::map<std::string, Tensor>&)>& edit) {
    testing::Problem problem(std::vector<Shape>{{5, 4}, {3, 2, 4}});
    SOAP soap(problem.params, {.learning_rate = 0.02, .precondition_frequency = 3});
    set_drifting_gradients(problem, 1);
    soap.step();
    edit_state(soap, edit);
    for (int t = 2; t <= 20; ++t) {
      set_drifting_gradients(problem, t);
      soap.step();
    }
    return problem.params;
  };
  auto flip_signs = [](std::map<std::string, Tensor>& buffers) {
    for (auto& [name, q] : buffers) {
      if (name[0] != 'Q') continue;
      const int64_t d = q.size(0);
      for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < d; j += 2) q.data()[i * d + j] = -q.data()[i * d + j];  // every other column
    }
  };
  auto reverse_columns = [](std::map<std::string, Tensor>& buffers) {
    for (auto& [name, q] : buffers) {
      if (name[0] != 'Q') continue;
      const int64_t d = q.size(0);
      Tensor copy = q.clone();
      for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < d; ++j) q.data()[i * d + j] = copy.data()[i * d + (d - 1 - j)];
    }
  };
  Params plain = run([](std::map<std::string, Tensor>&) {});
  Params flipped = run(flip_signs);
  CHECK(bytes_of(plain) == bytes_of(flipped));
  Params reordered = run(reverse_columns);
  for (size_t p = 0; p < plain.size(); ++p)
    check_close(reordered[p], plain[p].to_vector(), 1e-6f, 1e-5f, "columns reversed, param " + std::to_string(p));
  // A rotation WITHIN the basis (not a signed permutation) is seen: Adam is not rotation-invariant.
  Params rotated = run([](std::map<std::string, Tensor>& buffers) {
    Tensor& q = buffers.at("Q0");
    const int64_t d = q.size(0);
    for (int64_t i = 0; i < d; ++i) {  // columns 0 and 1 turned by 45°
      float a = q.data()[i * d], b = q.data()[i * d + 1];
      q.data()[i * d] = (a + b) * 0.70710678f;
      q.data()[i * d + 1] = (a - b) * 0.70710678f;
    }
  });
  double moved = 0.0;
  for (int64_t k = 0; k < plain[0].numel(); ++k)
    moved = std::max(moved, std::fabs(static_cast<double>(rotated[0].data()[k]) - plain[0].data()[k]));
  CHECK(moved > 1e-4);
}

TEST_CASE("SOAP's eigenbases stay orthonormal through eigh and the QR refreshes; M' turns with them") {
  testing::Problem problem(std::vector<Shape>{{16, 12}, {2, 3, 5}});
  SOAP soap(problem.params, {.learning_rate = 0.01, .precondition_frequency = 2});
  for (int t = 1; t <= 12; ++t) {
    set_drifting_gradients(problem, t);
    soap.step();
    for (const Tensor& p : problem.params)
      for (const auto& [name, q] : soap.state(p)->buffers)
        if (name[0] == 'Q') {
          INFO(name << " of " << shape_str(p.shape()) << " after step " << t);
          CHECK(orthonormality_error(q) < 2e-6);
        }
  }
  // The refresh's power iteration makes the basis near-diagonalise L: off-diagonal QᵀLQ small against λ_max.
  const ParamState* s = soap.state(problem.params[0]);
  Tensor q = s->buffers.at("Q0"), l = s->buffers.at("GG0");
  Tensor d = matmul(transpose(q), matmul(l, q));
  double diagonal = 0.0, off = 0.0;  // the largest |(QᵀLQ)_ij| on and off the diagonal
  for (int64_t i = 0; i < 16; ++i)
    for (int64_t j = 0; j < 16; ++j) {
      double value = std::fabs(static_cast<double>(d.data()[i * 16 + j]));
      if (i == j) diagonal = std::max(diagonal, value);
      else off = std::max(off, value);
    }
  CHECK(off < 0.1 * diagonal);
}

TEST_CASE("SOAP's state: m and v, and per preconditioned dim a statistic and a basis (8 + 8(m² + n²)/(mn) B)") {
  using Bytes = std::map<std::string, int64_t>;
  auto bytes_after_one_step = [](SOAP& soap, const Params& params) {
    for (Tensor p : params) p.set_grad(Tensor::ones(p.shape()));
    soap.step();
    Bytes out;
    for (const StateMemory& row : soap.state_bytes()) out[row.buffer] += row.bytes;
    return out;
  };
  Tensor w = pattern({64, 32}, 1).requires_grad_(), b = pattern({64}, 2).requires_grad_();
  SOAP soap({w, b});
  Bytes bytes = bytes_after_one_step(soap, {w, b});
  CHECK(bytes == Bytes{{"exp_avg", 4 * (64 * 32 + 64)}, {"exp_avg_sq", 4 * (64 * 32 + 64)},
                       {"GG0", 4 * 64 * 64}, {"Q0", 4 * 64 * 64}, {"GG1", 4 * 32 * 32}, {"Q1", 4 * 32 * 32}});
  double per_weight = static_cast<double>(bytes["exp_avg"] + bytes["exp_avg_sq"] + bytes["GG0"] + bytes["Q0"] +
                                          bytes["GG1"] + bytes["Q1"] - 8 * 64) / (64 * 32);
  CHECK(per_weight == doctest::Approx(8.0 + 8.0 * (64 * 64 + 32 * 32) / (64 * 32)));  // 28 bytes a weight
  // A dim over max_precond_dim gets nothing; precondition_1d gives the vector its own; merge_dims merges first.
  Tensor wide = pattern({3, 50}, 1).requires_grad_(), v = pattern({6}, 2).requires_grad_();
  Tensor t3 = pattern({2, 2, 3}, 3).requires_grad_();
  SOAP other({wide, v}, {.max_precond_dim = 40, .precondition_1d = true});
  other.add_param_group({t3}, {{"merge_dims", 1.0}, {"max_precond_dim", 4.0}});
  CHECK(other.working_shape(t3) == std::vector<int64_t>{4, 3});
  CHECK(bytes_after_one_step(other, {wide, v, t3}) ==
        Bytes{{"exp_avg", 4 * (150 + 6 + 12)}, {"exp_avg_sq", 4 * (150 + 6 + 12)}, {"GG0", 4 * (9 + 36 + 16)},
              {"Q0", 4 * (9 + 36 + 16)}, {"GG1", 4 * 9}, {"Q1", 4 * 9}});
  CHECK(other.eigenvalues(wide)[1].empty());
  CHECK(other.eigenvalues(wide)[0].size() == 3);
}

TEST_CASE("SOAP resumes from a state_dict and from a checkpoint with the same bits") {
  testing::check_state_dict_round_trip([](const Params& p) {
    return std::make_unique<SOAP>(p, SoapOptions{.learning_rate = 0.01, .precondition_frequency = 2});
  });
  testing::check_checkpoint_round_trip([](MLP& model) {
    return std::make_unique<SOAP>(model.parameters(), SoapOptions{.precondition_frequency = 3});
  });
}

TEST_CASE("SOAP validates its options and refuses a layout change once it has state") {
  Params p = {pattern({3, 2}, 1).requires_grad_()};
  check_error([&] { SOAP(p, {.learning_rate = -1}); }, {"SOAP", "learning_rate", "-1"});
  check_error([&] { SOAP(p, {.beta1 = 1.0}); }, {"SOAP", "beta1", "[0, 1)"});
  check_error([&] { SOAP(p, {.beta2 = NAN}); }, {"SOAP", "beta2"});
  check_error([&] { SOAP(p, {.shampoo_beta = 1.0}); }, {"SOAP", "shampoo_beta", "< 1"});
  check_error([&] { SOAP(p, {.eps = -1e-8}); }, {"SOAP", "eps"});
  check_error([&] { SOAP(p, {.weight_decay = -0.1}); }, {"SOAP", "weight_decay"});
  check_error([&] { SOAP(p, {.precondition_frequency = 0}); }, {"SOAP", "precondition_frequency", "integer >= 1"});
  check_error([&] { SOAP(p, {.precondition_frequency = 2.5}); }, {"SOAP", "precondition_frequency", "2.5"});
  check_error([&] { SOAP(p, {.max_precond_dim = -1}); }, {"SOAP", "max_precond_dim", "integer >= 0"});
  SOAP soap(p, {});
  p[0].set_grad(Tensor::ones({3, 2}));
  soap.step();
  soap.set_hyperparameter(0, "max_precond_dim", 2.0);
  p[0].set_grad(Tensor::ones({3, 2}));
  check_error([&] { soap.step(); }, {"SOAP", "[3, 2]", "max_precond_dim", "cannot change"});
  Tensor bad = pattern({3, 2}, 1).requires_grad_();
  SOAP nan_soap({bad}, {});
  bad.set_grad(Tensor::full({3, 2}, NAN));
  check_error([&] { nan_soap.step(); }, {"SOAP", "GG0", "NaN"});
  check_error([&] { soap.eigenvalues(bad); }, {"SOAP", "not one of this optimizer's parameters"});
}

TEST_CASE("SOAP trains an MLP on the UCI digits to >= 90% held-out accuracy") {
  Dataset digits = load_digits_csv(MOMENTS_DATA_DIR "/digits.csv");
  auto [train, test] = split(digits, 1400);
  Generator gen(0);
  MLP model({64, 32, 10}, gen);
  SOAP soap(model.parameters(), {});
  testing::train_digits(model, soap, train);  // forward, backward, update: 50 rows a step
  NoGradGuard eval;
  double train_accuracy = accuracy(model.forward(train.inputs), train.labels);
  double test_accuracy = accuracy(model.forward(test.inputs), test.labels);
  MESSAGE("SOAP on the UCI digits: train " << train_accuracy << ", held-out " << test_accuracy);
  CHECK(train_accuracy >= 0.95);
  CHECK(test_accuracy >= 0.90);
  // What the preconditioner saw: the spectra of the first layer's statistics (for the curvature tutorial).
  Tensor w = model.parameters()[0];
  std::vector<std::vector<double>> lambda = soap.eigenvalues(w);
  REQUIRE(lambda.size() == 2);
  CHECK(lambda[0].size() == static_cast<size_t>(w.size(0)));
  CHECK(lambda[1].size() == static_cast<size_t>(w.size(1)));
  for (const auto& side : lambda) CHECK(side.front() >= side.back());
  MESSAGE("first layer " << shape_str(w.shape()) << ": L's eigenvalues " << lambda[0].front() << " .. "
                         << lambda[0].back() << ", R's " << lambda[1].front() << " .. " << lambda[1].back()
                         << "; state " << soap.state_bytes_total() << " bytes for "
                         << w.numel() + model.parameters()[1].numel() + model.parameters()[2].numel() +
                                model.parameters()[3].numel()
                         << " parameters");
}

TEST_CASE("a Monitor records SOAP's run: its state buffers, memory, a CSV log and the charts") {
  const std::string header = testing::check_monitored_run(
      [](MLP& m) { return std::make_unique<SOAP>(m.parameters(), SoapOptions{.learning_rate = 0.01, .precondition_frequency = 2}); },
      {.steps = 8, .each = [](int64_t step, const Record& r) {
         if (step == 1) CHECK(r.update_norm == 0.0);  // the first step only initialises
         else CHECK(r.update_norm > 0.0);
       }});
  CHECK(header.find(",state.GG0.mean_abs,") != std::string::npos);
  CHECK(header.find(",state.Q1.max_abs") != std::string::npos);
}
