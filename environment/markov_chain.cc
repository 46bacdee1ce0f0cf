#include "environment/markov_chain.h"

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/linear_solve.h"

namespace smfg::env {
namespace {

// Bit sets of states, one row of `words` uint64 per state.
class BitRows {
 public:
  BitRows(int n) : n_(n), words_((n + 63) / 64), bits_(static_cast<size_t>(n) * words_, 0) {}
  bool Test(int row, int j) const { return (Row(row)[j >> 6] >> (j & 63)) & 1; }
  void Set(int row, int j) { Row(row)[j >> 6] |= uint64_t{1} << (j & 63); }
  void OrInto(int row, int from) {
    for (int w = 0; w < words_; ++w) Row(row)[w] |= Row(from)[w];
  }
  int n() const { return n_; }

 private:
  uint64_t* Row(int r) { return &bits_[static_cast<size_t>(r) * words_]; }
  const uint64_t* Row(int r) const { return &bits_[static_cast<size_t>(r) * words_]; }
  int n_, words_;
  std::vector<uint64_t> bits_;
};

// Stationary distribution of P restricted to `states`, a closed communicating
// class (so the restriction is stochastic and irreducible), by GTH. Returns
// false if a censored row sum underflowed to zero.
bool GthStationary(int n, const double* p, const std::vector<int>& states, double* mu) {
  const int m = static_cast<int>(states.size());
  std::vector<double> q(static_cast<size_t>(m) * m);
  for (int a = 0; a < m; ++a) {
    for (int b = 0; b < m; ++b) q[a * m + b] = p[states[a] * n + states[b]];
  }
  for (int k = m - 1; k >= 1; --k) {
    double s = 0;
    for (int j = 0; j < k; ++j) s += q[k * m + j];
    if (!(s > 0)) return false;
    for (int i = 0; i < k; ++i) q[i * m + k] /= s;
    for (int i = 0; i < k; ++i) {
      const double f = q[i * m + k];
      if (f == 0.0) continue;
      for (int j = 0; j < k; ++j) q[i * m + j] += f * q[k * m + j];
    }
  }
  std::vector<double> x(m, 0.0);
  x[0] = 1.0;
  double total = 1.0;
  for (int k = 1; k < m; ++k) {
    double v = 0;
    for (int i = 0; i < k; ++i) v += x[i] * q[i * m + k];
    x[k] = v;
    total += v;
  }
  for (int a = 0; a < m; ++a) mu[states[a]] = x[a] / total;
  return true;
}

// Fallback for a class whose GTH pivots underflowed: solve mu^T (P - I) = 0
// with one equation replaced by sum mu = 1, with partial pivoting.
void DenseStationary(int n, const double* p, const std::vector<int>& states, double* mu) {
  const int m = static_cast<int>(states.size());
  std::vector<double> a(static_cast<size_t>(m) * m), b(m, 0.0);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < m; ++j) {
      a[i * m + j] = i == m - 1 ? 1.0 : p[states[j] * n + states[i]] - (i == j ? 1.0 : 0.0);
    }
  }
  b[m - 1] = 1.0;
  if (!SolveLinearSystem(m, a.data(), b.data())) {
    // Cannot happen for a closed class; a uniform distribution keeps mu valid.
    for (int i = 0; i < m; ++i) mu[states[i]] = 1.0 / m;
    return;
  }
  double total = 0;
  for (double& v : b) total += v = v > 0 ? v : 0.0;
  for (int i = 0; i < m; ++i) mu[states[i]] = b[i] / total;
}

}  // namespace

int LongRunDistribution(int n, const double* p, int start, double* mu) {
  // reach[i]: states reachable from i in zero or more steps (Warshall).
  BitRows reach(n);
  for (int i = 0; i < n; ++i) {
    reach.Set(i, i);
    for (int j = 0; j < n; ++j) {
      if (p[i * n + j] > 0) reach.Set(i, j);
    }
  }
  for (int k = 0; k < n; ++k) {
    for (int i = 0; i < n; ++i) {
      if (i != k && reach.Test(i, k)) reach.OrInto(i, k);
    }
  }
  // i is recurrent iff every state it reaches reaches it back; the recurrent
  // states reachable from i are then exactly its closed class.
  std::vector<int> class_of(n, -1);
  std::vector<std::vector<int>> classes;
  for (int i = 0; i < n; ++i) {
    bool recurrent = true;
    for (int j = 0; j < n && recurrent; ++j) {
      if (reach.Test(i, j) && !reach.Test(j, i)) recurrent = false;
    }
    if (!recurrent) continue;
    int first = -1;
    for (int j = 0; j < n && first < 0; ++j) {
      if (reach.Test(i, j)) first = j;  // the class's smallest state
    }
    if (class_of[first] < 0) {
      class_of[first] = static_cast<int>(classes.size());
      classes.emplace_back();
    }
    class_of[i] = class_of[first];
    classes[class_of[i]].push_back(i);
  }

  for (int i = 0; i < n; ++i) mu[i] = 0.0;
  std::vector<double> pi(n, 0.0);
  auto class_distribution = [&](int c) {
    if (!GthStationary(n, p, classes[c], pi.data())) DenseStationary(n, p, classes[c], pi.data());
  };
  const int num_classes = static_cast<int>(classes.size());
  if (num_classes == 1 || class_of[start] >= 0) {
    const int c = num_classes == 1 ? 0 : class_of[start];
    class_distribution(c);
    for (int s : classes[c]) mu[s] = pi[s];
    return num_classes;
  }

  // `start` is transient and several classes can absorb it: the probability
  // of ending in class c solves x = P_TT x + P_Tc 1 over the transient states T.
  std::vector<int> transient, index(n, -1);
  for (int i = 0; i < n; ++i) {
    if (class_of[i] < 0) {
      index[i] = static_cast<int>(transient.size());
      transient.push_back(i);
    }
  }
  const int t = static_cast<int>(transient.size());
  std::vector<double> a(static_cast<size_t>(t) * t), x(t);
  double total = 0;
  for (int c = 0; c < num_classes; ++c) {
    for (int r = 0; r < t; ++r) {
      double into = 0;
      for (int s : classes[c]) into += p[transient[r] * n + s];
      x[r] = into;
      for (int k = 0; k < t; ++k) {
        a[r * t + k] = (r == k ? 1.0 : 0.0) - p[transient[r] * n + transient[k]];
      }
    }
    // I - P_TT is nonsingular: every transient state leaves T with positive
    // probability within t steps. Should rounding make it singular, the start
    // goes to the first class it can reach.
    double weight;
    if (SolveLinearSystem(t, a.data(), x.data())) {
      weight = x[index[start]] > 0 ? x[index[start]] : 0.0;
    } else {
      weight = total == 0 && reach.Test(start, classes[c][0]) ? 1.0 : 0.0;
    }
    if (weight == 0.0) continue;
    class_distribution(c);
    for (int s : classes[c]) mu[s] += weight * pi[s];
    total += weight;
  }
  for (int i = 0; i < n; ++i) mu[i] /= total;
  return num_classes;
}

}  // namespace smfg::env
