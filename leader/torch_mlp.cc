#include "leader/torch_mlp.h"

#include <cmath>

namespace smfg::nn {

torch::TensorOptions F64() { return torch::TensorOptions().dtype(torch::kFloat64); }

std::string Describe(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    return c10_error->what_without_backtrace();
  }
  return e.what();
}

torch::Tensor Matrix(const std::vector<double>& data, int64_t rows, int64_t cols) {
  return torch::from_blob(const_cast<double*>(data.data()), {rows, cols}, F64()).clone();
}

torch::Tensor Vector(const std::vector<double>& data) {
  return torch::from_blob(const_cast<double*>(data.data()), {static_cast<int64_t>(data.size())},
                          F64())
      .clone();
}

torch::Tensor Mlp::Forward(const torch::Tensor& x) const {
  torch::Tensor h = x;
  for (size_t i = 0; i < layers.size(); ++i) {
    h = torch::linear(h, layers[i].weight, layers[i].bias);
    if (i + 1 < layers.size()) h = torch::tanh(h);
  }
  return h;
}

std::vector<torch::Tensor> Mlp::Parameters() const {
  std::vector<torch::Tensor> out;
  for (const Layer& layer : layers) {
    out.push_back(layer.weight);
    out.push_back(layer.bias);
  }
  return out;
}

Mlp MakeMlp(int input_size, const std::vector<int>& hidden_sizes, int output_size,
            double output_scale, CounterRng* rng) {
  std::vector<int> widths = {input_size};
  widths.insert(widths.end(), hidden_sizes.begin(), hidden_sizes.end());
  widths.push_back(output_size);
  Mlp mlp;
  for (size_t i = 0; i + 1 < widths.size(); ++i) {
    const int fan_in = widths[i];
    const int fan_out = widths[i + 1];
    const bool output_layer = i + 2 == widths.size();
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    const double scale = output_layer ? output_scale : 1.0;
    std::vector<double> weight(static_cast<size_t>(fan_in) * fan_out);
    for (double& w : weight) w = scale * rng->Uniform(-bound, bound);
    Layer layer;
    layer.weight = Matrix(weight, fan_out, fan_in).requires_grad_(true);
    layer.bias = torch::zeros({fan_out}, F64()).requires_grad_(true);
    mlp.layers.push_back(std::move(layer));
  }
  return mlp;
}

void EnsureSingleThreaded() {
  if (torch::get_num_threads() != 1) torch::set_num_threads(1);
}

}  // namespace smfg::nn
