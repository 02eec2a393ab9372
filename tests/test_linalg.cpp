// Suite `linalg`: lib/linalg.hpp, Eigen's decompositions behind one file. Each result is checked by what
// defines it (A V = V diag(λ), QᵀQ = I with QᵀA upper triangular, U diag(σ) Vᵀ = A), and bad input is an Error.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "linalg.hpp"
#include "testing.hpp"

using namespace moments;
using testing::check_error;

namespace {

linalg::Matrix<double> sample(int rows, int cols) {  // a fixed, well-spread matrix
  linalg::Matrix<double> a(rows, cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) a(i, j) = std::sin(1.0 + 3.0 * i + 7.0 * j) + (i == j ? 2.0 : 0.0);
  return a;
}

}  // namespace

TEST_CASE("symmetric_eigen: A V = V diag(λ), λ ascending, V orthonormal; float and double; values only") {
  linalg::Matrix<double> b = sample(6, 6), a = b * b.transpose();
  linalg::SymmetricEigen<double> e = linalg::symmetric_eigen(a);
  REQUIRE(e.converged);
  CHECK((a * e.vectors - e.vectors * e.values.asDiagonal()).cwiseAbs().maxCoeff() < 1e-12);
  CHECK((e.vectors.transpose() * e.vectors - linalg::Matrix<double>::Identity(6, 6)).cwiseAbs().maxCoeff() < 1e-13);
  for (int i = 1; i < 6; ++i) CHECK(e.values(i - 1) <= e.values(i));
  linalg::SymmetricEigen<double> values_only = linalg::symmetric_eigen(a, /*with_vectors=*/false);
  CHECK(values_only.vectors.size() == 0);
  CHECK((values_only.values - e.values).cwiseAbs().maxCoeff() < 1e-12);
  linalg::SymmetricEigen<float> single = linalg::symmetric_eigen<float>(a.cast<float>());
  REQUIRE(single.converged);
  CHECK((single.values.cast<double>() - e.values).cwiseAbs().maxCoeff() < 1e-4 * e.values.maxCoeff());
  // The square root squares back.
  linalg::Matrix<double> root = linalg::symmetric_sqrt(a);
  CHECK((root * root - a).cwiseAbs().maxCoeff() < 1e-11);
}

TEST_CASE("householder_q: square and orthonormal, and QᵀA is upper triangular; the row-major form agrees") {
  linalg::Matrix<double> a = sample(5, 3);
  linalg::Matrix<double> q = linalg::householder_q(a);
  REQUIRE(q.rows() == 5);
  REQUIRE(q.cols() == 5);
  CHECK((q.transpose() * q - linalg::Matrix<double>::Identity(5, 5)).cwiseAbs().maxCoeff() < 1e-14);
  linalg::Matrix<double> r = q.transpose() * a;
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < std::min(i, 3); ++j) CHECK(std::fabs(r(i, j)) < 1e-14);
  linalg::RowMatrix<float> rows = linalg::householder_q_row_major(a.cast<float>());
  CHECK((rows.cast<double>() - q).cwiseAbs().maxCoeff() < 1e-6);
}

TEST_CASE("svd: σ descending, U diag(σ) Vᵀ = A with full U and V; values only when not asked") {
  linalg::Matrix<double> a = sample(4, 6);
  linalg::Svd s = linalg::svd(a, /*with_vectors=*/true);
  REQUIRE(s.u.rows() == 4);
  REQUIRE(s.v.rows() == 6);
  linalg::Matrix<double> sigma = linalg::Matrix<double>::Zero(4, 6);
  for (int i = 0; i < 4; ++i) sigma(i, i) = s.singular_values(i);
  CHECK((s.u * sigma * s.v.transpose() - a).cwiseAbs().maxCoeff() < 1e-13);
  for (int i = 1; i < 4; ++i) CHECK(s.singular_values(i - 1) >= s.singular_values(i));
  linalg::Svd values_only = linalg::svd(a);
  CHECK(values_only.u.size() == 0);
  CHECK((values_only.singular_values - s.singular_values).cwiseAbs().maxCoeff() < 1e-13);
}

TEST_CASE("bad input is an Error naming the call and the shape") {
  check_error([] { linalg::symmetric_eigen(sample(3, 4)); }, {"linalg::symmetric_eigen: expected a square matrix, got 3 x 4"});
  check_error([] { linalg::symmetric_sqrt(sample(2, 3)); }, {"linalg::symmetric_sqrt: expected a square matrix, got 2 x 3"});
  linalg::Matrix<double> nan = sample(3, 3);
  nan(1, 2) = std::numeric_limits<double>::quiet_NaN();
  check_error([&] { linalg::symmetric_sqrt(nan); }, {"linalg::symmetric_sqrt: the 3 x 3 matrix has a NaN or infinite entry"});
  check_error([&] { linalg::svd(nan); }, {"linalg::svd: the 3 x 3 matrix has a NaN or infinite entry"});
}
