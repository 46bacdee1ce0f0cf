// Dense linear solves for the small systems of the model (SoC grids, Anderson
// mixing): n is at most a few dozen, so plain Gaussian elimination is right.
#ifndef SMFG_COMMON_LINEAR_SOLVE_H_
#define SMFG_COMMON_LINEAR_SOLVE_H_

namespace smfg {

// Solves A x = b in place (A is n x n, row-major; x overwrites b) by Gaussian
// elimination with partial pivoting. Returns false if A is singular.
bool SolveLinearSystem(int n, double* a, double* b);

}  // namespace smfg

#endif  // SMFG_COMMON_LINEAR_SOLVE_H_
