// linalg.cpp — Eigen's decompositions, instantiated here only (why: linalg.hpp).
#include "linalg.hpp"

#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>

#include "error.hpp"

namespace moments::linalg {

namespace {
// Eigen only asserts (an abort) on a matrix it cannot decompose; these say which call and which shape.
template <class M>
void check_square(const char* op, const M& a) {
  if (a.rows() != a.cols()) fail("linalg::", op, ": expected a square matrix, got ", a.rows(), " x ", a.cols());
}
template <class M>
void check_finite(const char* op, const M& a) {
  if (!a.allFinite()) fail("linalg::", op, ": the ", a.rows(), " x ", a.cols(), " matrix has a NaN or infinite entry");
}
}  // namespace

template <class Scalar>
SymmetricEigen<Scalar> symmetric_eigen(const Matrix<Scalar>& a, bool with_vectors) {
  check_square("symmetric_eigen", a);
  Eigen::SelfAdjointEigenSolver<Matrix<Scalar>> solver(a, with_vectors ? Eigen::ComputeEigenvectors : Eigen::EigenvaluesOnly);
  SymmetricEigen<Scalar> out;
  out.converged = solver.info() == Eigen::Success;
  if (!out.converged) return out;
  out.values = solver.eigenvalues();
  if (with_vectors) out.vectors = solver.eigenvectors();
  return out;
}

Matrix<double> symmetric_sqrt(const Matrix<double>& a) {
  check_square("symmetric_sqrt", a);
  check_finite("symmetric_sqrt", a);
  return Eigen::SelfAdjointEigenSolver<Matrix<double>>(a).operatorSqrt();
}

Matrix<double> householder_q(const Matrix<double>& a) { return Eigen::HouseholderQR<Matrix<double>>(a).householderQ(); }

RowMatrix<float> householder_q_row_major(const Matrix<float>& a) {
  return Eigen::HouseholderQR<Matrix<float>>(a).householderQ();
}

Svd svd(const Matrix<double>& a, bool with_vectors) {
  check_finite("svd", a);
  Eigen::JacobiSVD<Matrix<double>> solver(a, with_vectors ? Eigen::ComputeFullU | Eigen::ComputeFullV : 0);
  Svd out;
  out.singular_values = solver.singularValues();
  if (with_vectors) out.u = solver.matrixU(), out.v = solver.matrixV();
  return out;
}

template SymmetricEigen<float> symmetric_eigen(const Matrix<float>&, bool);
template SymmetricEigen<double> symmetric_eigen(const Matrix<double>&, bool);

}  // namespace moments::linalg
