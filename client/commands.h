// The local (single-process) commands of the `smfg` tool. main.cc parses flags
// into these Options structs; each Run function validates, works, and writes a
// human-readable report (or one JSON document with json=true) to `out`.
// Progress goes to `progress` (stderr in the tool), never to `out`, so --json
// output stays parseable.
#ifndef SMFG_CLIENT_COMMANDS_H_
#define SMFG_CLIENT_COMMANDS_H_

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "environment/population_evaluator.h"
#include "environment/scenario.h"

namespace smfg::client {

struct OpfOptions {
  // A MATPOWER case file (.m) or an experiment spec (.textproto/.json).
  std::string case_path;
  // Explicit bus loads in MW (one per bus); overrides the case's loads.
  std::vector<double> load_mw;
  // Multiplies the case's loads (MATPOWER Pd, or the spec's exogenous load).
  double load_scale = 1.0;
  int hour = 18;  // selects renewable availability and the spec's load shape
  bool json = false;
  absl::Status Validate() const;
};

struct EvaluateOptions {
  std::string spec_path;
  // Comma-separated: "flat", "tou", or tariff files (TariffFile text/JSON).
  std::string tariffs = "flat";
  std::string out_dir;  // empty: no files
  bool myopic = false;  // followers do not use storage
  bool json = false;
  bool exploitability = true;
  int threads = 0;  // 0: all cores
  int days = 0;     // > 0 overrides the spec's number of days
  // Builds the evaluator of a spec whose followers learn (follower.learner
  // PPO). Set only in smfg-train (it needs LibTorch); smfg runs such specs by
  // executing smfg-train (EvaluateNeedsTrainer).
  std::function<absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>>(const env::Scenario&,
                                                                          int threads)>
      learning_evaluator;
  absl::Status Validate() const;
};

// Whether `o`'s spec has learning followers, so that evaluating it needs
// smfg-train. Errors: the spec's.
absl::StatusOr<bool> EvaluateNeedsTrainer(const EvaluateOptions& o);

// The in-process evaluator of a scenario, learning followers included
// (training::MakeLocalEvaluator). Defined in smfg_train_command (LibTorch):
// only smfg-train links it.
absl::StatusOr<std::unique_ptr<env::PopulationEvaluator>> MakeLocalEvaluator(
    const env::Scenario& scenario, int threads);

struct TrainOptions {
  std::string spec_path;
  std::string out_dir = "out/train";
  bool resume = false;  // continue from out_dir/checkpoints
  int days = 0;         // > 0 overrides the spec's number of days
  int iterations = 0;   // > 0 overrides loop.max_iterations
  int threads = 0;      // 0: all cores
  bool json = false;
  absl::Status Validate() const;
};

struct SpecOptions {
  std::string spec_path;
  int days = 0;       // > 0 overrides the spec's number of days
  bool json = false;  // the proto3 JSON form instead of text format
  absl::Status Validate() const;
};

absl::Status RunOpf(const OpfOptions& options, std::ostream& out);
// Checks a spec file with every rule and prints its effective form
// (config::EffectiveSpecText: network inline, every default written) as text
// format: what `smfg submit` sends and the coordinator runs, and a spec any
// client can submit as it is.
absl::Status RunSpec(const SpecOptions& options, std::ostream& out);
// Trains the leader (training/trainer.h), then evaluates the learned
// tariff against the flat and best-TOU baselines and writes everything under
// out_dir: metrics.{csv,jsonl}, learned_tariff.{json,csv}, the reports and
// plots of WriteReports, plots/convergence.svg and checkpoints/.
absl::Status RunEvaluate(const EvaluateOptions& options, std::ostream& out, std::ostream& progress);
absl::Status RunTrain(const TrainOptions& options, std::ostream& out, std::ostream& progress);

struct OptimizeOptions {
  std::string spec_path;
  int days = 0;     // > 0 overrides the spec's number of days
  int threads = 0;  // 0: all cores
  bool json = false;
  absl::Status Validate() const;
};

// `smfg optimize SPEC`: the reference optimum of the spec's leader problem
// alone (training/reference.h; run even when the spec disables it for
// training): the best static tariff of its family, its objective and terms,
// the search's evaluations, time and stopping reason, and the posted rates
// and fixed charges. Progress (one line per evaluation) on `progress`.
absl::Status RunOptimize(const OptimizeOptions& options, std::ostream& out, std::ostream& progress);

}  // namespace smfg::client

#endif  // SMFG_CLIENT_COMMANDS_H_
