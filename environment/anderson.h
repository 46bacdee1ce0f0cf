// Anderson acceleration (type II) of a fixed-point iteration x = G(x).
//
// With residuals f_k = G(x_k) - x_k and the differences of the last m iterates
// and residuals, dX_j = x_{j+1} - x_j and dF_j = f_{j+1} - f_j, each step solves
// the small least-squares problem
//   gamma = argmin || f_k - dF gamma ||^2 + lambda ||gamma||^2
// and moves to
//   x_{k+1} = x_k + beta f_k - (dX + beta dF) gamma.
// memory = 0 is the plain damped iteration x_{k+1} = x_k + beta f_k. For a linear
// map the method terminates like GMRES; for the price map it turns a slow,
// oscillating damped iteration into a few steps (docs/MODEL.md §6).
#ifndef SMFG_ENVIRONMENT_ANDERSON_H_
#define SMFG_ENVIRONMENT_ANDERSON_H_

#include <deque>
#include <vector>

namespace smfg::env {

class AndersonMixer {
 public:
  explicit AndersonMixer(int memory) : memory_(memory) {}

  // x: current iterate, g: G(x). Writes the next iterate to *next.
  void Next(const std::vector<double>& x, const std::vector<double>& g, double beta,
            std::vector<double>* next);
  // Forgets the history (after a step that made things worse).
  void Reset();

 private:
  int memory_;
  std::deque<std::vector<double>> xs_, fs_;  // last memory_ + 1 iterates/residuals
};

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_ANDERSON_H_
