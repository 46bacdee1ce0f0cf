// The LibTorch pieces every learner in smfg shares (the leader's tariff policy,
// leader/ppo.cc; the followers' battery policy, followers/): a tanh MLP whose
// weights are drawn from a CounterRng (so they are a function of the seed
// alone), float64 tensor helpers, the single-thread setting, and the text of a
// torch exception. An internal header: only leader/ppo.cc and followers/'s
// torch translation units include it (it brings <torch/torch.h> with it), and
// their public headers stay plain C++.
//
// Thread safety: Mlp::Forward only reads the weights, so several threads may
// run it at once on one Mlp under torch::NoGradGuard; building gradients
// (backward) on one Mlp from several threads is not supported.
#ifndef SMFG_LEADER_TORCH_MLP_H_
#define SMFG_LEADER_TORCH_MLP_H_

#include <torch/torch.h>

#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "common/rng.h"

namespace smfg::nn {

torch::TensorOptions F64();

// c10::Error::what() without its C++ backtrace (noise in a status message).
std::string Describe(const std::exception& e);

// Copies `data` (rows x cols, row-major) into a new float64 tensor.
torch::Tensor Matrix(const std::vector<double>& data, int64_t rows, int64_t cols);
torch::Tensor Vector(const std::vector<double>& data);

// An affine layer y = x W^T + b, W of shape [out, in] (torch::nn::Linear's layout).
struct Layer {
  torch::Tensor weight;
  torch::Tensor bias;
};

// tanh MLP with a linear output layer.
struct Mlp {
  std::vector<Layer> layers;

  torch::Tensor Forward(const torch::Tensor& x) const;
  // weight, bias of each layer in order.
  std::vector<torch::Tensor> Parameters() const;
};

// Initialises from `rng` (not from torch's global generator) so the weights are
// a function of the seed alone. Weights ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as
// in torch::nn::Linear, times output_scale in the output layer; biases start
// at 0. Weights and biases require gradients.
Mlp MakeMlp(int input_size, const std::vector<int>& hidden_sizes, int output_size,
            double output_scale, CounterRng* rng);

// torch's intra-op thread count is a process-wide setting; re-assert it before
// work in case something else in the process changed it. One thread keeps
// every reduction's order, hence the bits, fixed.
void EnsureSingleThreaded();

}  // namespace smfg::nn

#endif  // SMFG_LEADER_TORCH_MLP_H_
