// linalg.hpp — the host's dense decompositions, compiled once (linalg.cpp, through Eigen): the eigendecompositions
// and QR that Shampoo and SOAP run on their statistics, and the SVDs and spectra the tests and tutorials 15 and 18
// compute as references. Every file that instantiated an Eigen decomposition itself paid for it in compile time:
// one SelfAdjointEigenSolver<MatrixXd> is 12 s of g++ -O2, 72 s under -fsanitize=address,undefined, and seven
// files had one (SOAP's took 5 minutes under the sanitizers).
// Matrices are Eigen's (column-major, so the results are Eigen's own bits); products stay with the callers.
// A matrix that is not square where it must be, or non-finite for the square root or the SVD, is an Error
// naming the call and the shape (symmetric_eigen reports non-finite input as converged = false).
#pragma once

#include <Eigen/Core>

namespace moments::linalg {

template <class Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
template <class Scalar>
using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class Scalar>
using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

// A = V diag(λ) Vᵀ for a symmetric A, of which the lower triangle is read (as torch.linalg.eigh): λ ascending,
// V's column i the eigenvector of λ_i (empty when not asked for). converged is false when Eigen's QL iteration
// did not converge; values and vectors are then not to be used.
template <class Scalar>
struct SymmetricEigen {
  Vector<Scalar> values;
  Matrix<Scalar> vectors;
  bool converged = false;
};
template <class Scalar>
SymmetricEigen<Scalar> symmetric_eigen(const Matrix<Scalar>& a, bool with_vectors = true);

// V diag(√λ) Vᵀ: the symmetric square root of a symmetric positive semi-definite A.
Matrix<double> symmetric_sqrt(const Matrix<double>& a);

// The square Q of A = QR (Householder reflections; A is m × n, Q is m × m). Eigen applies the reflections in
// an order that depends on where Q is stored, so the row-major form (SOAP's, whose state is row-major) differs
// from the column-major one in the last bits.
Matrix<double> householder_q(const Matrix<double>& a);
RowMatrix<float> householder_q_row_major(const Matrix<float>& a);

// A = U diag(σ) Vᵀ by two-sided Jacobi (to full precision): σ descending; U (m × m) and V (n × n) full when
// asked for, else empty.
struct Svd {
  Vector<double> singular_values;
  Matrix<double> u, v;
};
Svd svd(const Matrix<double>& a, bool with_vectors = false);

extern template SymmetricEigen<float> symmetric_eigen(const Matrix<float>&, bool);
extern template SymmetricEigen<double> symmetric_eigen(const Matrix<double>&, bool);

}  // namespace moments::linalg
