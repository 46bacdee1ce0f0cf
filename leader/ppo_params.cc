// PpoParams::Validate, outside ppo.cc so that code which only checks a spec
// (smfg spec, smfg evaluate, the coordinator's Submit) links no LibTorch
// (smfg_leader_math, client/CMakeLists.txt).
#include <cmath>
#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "leader/ppo.h"

namespace smfg::leader {

absl::Status PpoParams::Validate() const {
  auto fail = [](absl::string_view field, absl::string_view rule, auto got) {
    return absl::InvalidArgumentError(
        absl::StrCat("learner.", field, ": must be ", rule, ", got ", got));
  };
  // Each floating-point check is written so that NaN fails it.
  auto finite_positive = [](double x) { return std::isfinite(x) && x > 0.0; };
  auto finite_non_negative = [](double x) { return std::isfinite(x) && x >= 0.0; };
  if (observation_size < 1) return fail("observation_size", ">= 1", observation_size);
  if (action_size < 1) return fail("action_size", ">= 1", action_size);
  for (size_t i = 0; i < hidden_sizes.size(); ++i) {
    if (hidden_sizes[i] < 1 || hidden_sizes[i] > 4096) {
      return fail(absl::StrCat("hidden_sizes[", i, "]"), "in [1, 4096]", hidden_sizes[i]);
    }
  }
  if (!finite_positive(policy_learning_rate)) {
    return fail("policy_learning_rate", "finite and > 0", policy_learning_rate);
  }
  if (!finite_positive(value_learning_rate)) {
    return fail("value_learning_rate", "finite and > 0", value_learning_rate);
  }
  if (!(clip_epsilon > 0.0 && clip_epsilon < 1.0)) {
    return fail("clip_epsilon", "in (0, 1)", clip_epsilon);
  }
  if (!(gae_lambda >= 0.0 && gae_lambda <= 1.0)) {
    return fail("gae_lambda", "in [0, 1]", gae_lambda);
  }
  if (!(discount > 0.0 && discount <= 1.0)) return fail("discount", "in (0, 1]", discount);
  if (!finite_non_negative(entropy_coefficient)) {
    return fail("entropy_coefficient", "finite and >= 0", entropy_coefficient);
  }
  if (!finite_non_negative(value_coefficient)) {
    return fail("value_coefficient", "finite and >= 0", value_coefficient);
  }
  if (epochs < 1) return fail("epochs", ">= 1", epochs);
  if (minibatch_size < 1) return fail("minibatch_size", ">= 1", minibatch_size);
  if (!finite_non_negative(target_kl)) {
    return fail("target_kl", "finite and >= 0 (0 disables)", target_kl);
  }
  if (!finite_positive(max_grad_norm)) {
    return fail("max_grad_norm", "finite and > 0", max_grad_norm);
  }
  if (!finite_positive(initial_action_std)) {
    return fail("initial_action_std", "finite and > 0", initial_action_std);
  }
  if (schedule_updates < 0) return fail("schedule_updates", ">= 0", schedule_updates);
  if (!(final_learning_rate_fraction > 0.0 && final_learning_rate_fraction <= 1.0)) {
    return fail("final_learning_rate_fraction", "in (0, 1]", final_learning_rate_fraction);
  }
  if (!(final_action_std == 0.0 ||
        (final_action_std > 0.0 && final_action_std <= initial_action_std))) {
    return fail("final_action_std", "0 or in (0, initial_action_std]", final_action_std);
  }
  return absl::OkStatus();
}

}  // namespace smfg::leader
