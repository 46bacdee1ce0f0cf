// Long-run distribution of a small finite Markov chain: the household's SoC at
// midnight under its day's policy (household_solver.h, docs/MODEL.md §5).
//
// For a row-stochastic n x n matrix P (P[i][j] = probability of i -> j) and a
// start state s0, the long-run distribution is the Cesàro limit
//   mu = lim_{N -> inf} (1/N) sum_{t < N} e_{s0}^T P^t,
// which always exists. When P has exactly one closed communicating class it is
// the unique stationary distribution (mu^T P = mu^T, sum mu = 1) whatever s0 is,
// and transient states get exactly 0. With several closed classes the
// stationary distribution is not unique; mu is then the mixture of the classes'
// stationary distributions weighted by the probabilities of ending up in each
// from s0.
//
// Structure is read from the doubles: i -> j is possible iff P[i][j] > 0. The
// stationary distribution of a closed (irreducible) class is computed by the
// Grassmann-Taksar-Heyman elimination, which has no subtractions and no pivoting
// and is accurate to a few ulps relative even for badly mixing chains.
#ifndef SMFG_ENVIRONMENT_MARKOV_CHAIN_H_
#define SMFG_ENVIRONMENT_MARKOV_CHAIN_H_

namespace smfg::env {

// Writes the long-run distribution started from `start` into mu[0..n) and
// returns the number of closed classes of P (1 means mu is the unique
// stationary distribution). p is row-major; only its off-diagonal entries and
// their signs matter (the diagonal is implied by the rows summing to 1).
int LongRunDistribution(int n, const double* p, int start, double* mu);

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_MARKOV_CHAIN_H_
