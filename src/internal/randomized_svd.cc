#include "internal/randomized_svd.h"

#include <Eigen/Cholesky>
#include <Eigen/QR>

namespace router::internal {
namespace {

// Cholesky QR falls back to Householder when a pivot of R is below this share
// of the largest: the columns' condition number is then above ~1e6, where
// two Cholesky passes may not give an orthonormal basis (Yamamoto et al.).
constexpr double kCholeskyQrMinPivot = 1e-6;

void HouseholderOrthonormalize(RowMatrixXd* m) {
  const Eigen::HouseholderQR<Eigen::MatrixXd> qr{Eigen::MatrixXd(*m)};
  *m = qr.householderQ() * Eigen::MatrixXd::Identity(m->rows(), m->cols());
}

// One Cholesky QR step: m <- m R^-1, where R^T R = m^T m. False, with `m`
// unchanged, when m^T m is not safely positive definite.
bool CholeskyQrStep(RowMatrixXd* m) {
  const Eigen::Index w = m->cols();
  Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(w, w);
  gram.selfadjointView<Eigen::Lower>().rankUpdate(m->transpose());
  const Eigen::LLT<Eigen::MatrixXd> llt(gram);
  if (llt.info() != Eigen::Success) return false;
  const Eigen::VectorXd diag = llt.matrixLLT().diagonal();
  if (!(diag.minCoeff() > kCholeskyQrMinPivot * diag.maxCoeff())) return false;
  llt.matrixU().solveInPlace<Eigen::OnTheRight>(*m);
  return true;
}

}  // namespace

// Cholesky QR twice (Yamamoto et al. 2015, "CholeskyQR2"): the second pass
// restores the orthogonality the first loses to rounding, and the two cost
// about a third of the flops of a Householder QR with its thin Q formed. The
// basis spans the same columns, so the SVD that follows is the same.
// Rank-deficient or badly conditioned input falls back to Householder; a
// failed step leaves `m` as it was, and a first step only changes it within
// its column span, so no copy of `m` is needed for the fallback.
void Orthonormalize(RowMatrixXd* m) {
  if (CholeskyQrStep(m) && CholeskyQrStep(m)) return;
  HouseholderOrthonormalize(m);
}

void PinSigns(Eigen::MatrixXd* vectors) {
  for (Eigen::Index j = 0; j < vectors->cols(); ++j) {
    Eigen::Index top = 0;
    vectors->col(j).cwiseAbs().maxCoeff(&top);
    if ((*vectors)(top, j) < 0.0) vectors->col(j) *= -1.0;
  }
}

}  // namespace router::internal
