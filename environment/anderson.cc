#include "environment/anderson.h"

#include <cstddef>

#include "common/linear_solve.h"

namespace smfg::env {
namespace {
// Tikhonov weight relative to the mean diagonal of dF^T dF: keeps the normal
// equations solvable when residual differences become nearly collinear.
constexpr double kRegularisation = 1e-10;
}  // namespace

void AndersonMixer::Reset() {
  xs_.clear();
  fs_.clear();
}

void AndersonMixer::Next(const std::vector<double>& x, const std::vector<double>& g, double beta,
                         std::vector<double>* next) {
  const size_t n = x.size();
  std::vector<double> f(n);
  for (size_t i = 0; i < n; ++i) f[i] = g[i] - x[i];
  xs_.push_back(x);
  fs_.push_back(f);
  if (static_cast<int>(xs_.size()) > memory_ + 1) {
    xs_.pop_front();
    fs_.pop_front();
  }
  next->resize(n);
  for (size_t i = 0; i < n; ++i) (*next)[i] = x[i] + beta * f[i];
  const int m = static_cast<int>(xs_.size()) - 1;
  if (m <= 0) return;

  // dF_j and dX_j, j = 0..m-1, oldest first.
  std::vector<std::vector<double>> df(m, std::vector<double>(n)), dx(m, std::vector<double>(n));
  for (int j = 0; j < m; ++j) {
    for (size_t i = 0; i < n; ++i) {
      df[j][i] = fs_[j + 1][i] - fs_[j][i];
      dx[j][i] = xs_[j + 1][i] - xs_[j][i];
    }
  }
  std::vector<double> normal(m * m), rhs(m);
  double trace = 0;
  for (int a = 0; a < m; ++a) {
    for (int b = 0; b < m; ++b) {
      double s = 0;
      for (size_t i = 0; i < n; ++i) s += df[a][i] * df[b][i];
      normal[a * m + b] = s;
    }
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += df[a][i] * f[i];
    rhs[a] = s;
    trace += normal[a * m + a];
  }
  if (trace == 0) return;
  for (int a = 0; a < m; ++a) normal[a * m + a] += kRegularisation * trace / m;
  if (!SolveLinearSystem(m, normal.data(), rhs.data())) return;  // keep the damped step
  for (int j = 0; j < m; ++j) {
    for (size_t i = 0; i < n; ++i) (*next)[i] -= rhs[j] * (dx[j][i] + beta * df[j][i]);
  }
}

}  // namespace smfg::env
