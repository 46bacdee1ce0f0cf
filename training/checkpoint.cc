#include "training/checkpoint.h"

#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/hash.h"
#include "common/status.h"

namespace smfg::training {
namespace {

namespace fs = std::filesystem;

constexpr char kFile[] = "checkpoint.pb";
// Written by smfg before the typed checkpoint (issue 8).
constexpr char kLegacyFile[] = "loop.state";

absl::Status CheckBelief(const v1::PriceBeliefState& b, absl::string_view what) {
  if (b.days() < 0 || b.buses() < 0 ||
      static_cast<int64_t>(b.lmp_per_mwh_size()) !=
          int64_t{b.days()} * env::kHoursPerDay * b.buses()) {
    return absl::DataLossError(absl::StrCat(what, ": ", b.lmp_per_mwh_size(), " prices for ",
                                            b.days(), " days x 24 hours x ", b.buses(), " buses"));
  }
  for (double lmp : b.lmp_per_mwh()) {
    if (!std::isfinite(lmp)) return absl::DataLossError(absl::StrCat(what, ": non-finite price"));
  }
  return absl::OkStatus();
}

absl::Status CheckConsistent(const v1::TrainerCheckpoint& c) {
  if (c.iteration() < 1) return absl::DataLossError(absl::StrCat("iteration ", c.iteration()));
  if (c.history_size() != c.iteration()) {
    return absl::DataLossError(
        absl::StrCat("history has ", c.history_size(), " records for iteration ", c.iteration()));
  }
  for (int k = 0; k < c.history_size(); ++k) {
    if (c.history(k).iteration() != k + 1) {
      return absl::DataLossError(absl::StrCat("history[", k, "] is iteration ",
                                              c.history(k).iteration(), ", expected ", k + 1));
    }
  }
  if (c.stall() < 0) return absl::DataLossError(absl::StrCat("stall ", c.stall()));
  if (!std::isfinite(c.best_objective())) return absl::DataLossError("best_objective not finite");
  SMFG_RETURN_IF_ERROR(CheckBelief(c.rollout_belief(), "rollout_belief"));
  SMFG_RETURN_IF_ERROR(CheckBelief(c.eval_belief(), "eval_belief"));
  if (c.leader_state().empty()) return absl::DataLossError("no leader state");
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteCheckpoint(const std::string& dir, const v1::TrainerCheckpoint& checkpoint) {
  v1::CheckpointFile file;
  if (!checkpoint.SerializeToString(file.mutable_checkpoint())) {
    return absl::InternalError("checkpoint: cannot serialise");
  }
  file.set_fnv1a64(Fnv1a64(file.checkpoint()));
  std::string bytes;
  if (!file.SerializeToString(&bytes)) return absl::InternalError("checkpoint: cannot serialise");
  return WriteFileAtomically((fs::path(dir) / kFile).string(), bytes);
}

absl::StatusOr<v1::TrainerCheckpoint> ReadCheckpoint(const std::string& dir) {
  const std::string path = (fs::path(dir) / kFile).string();
  absl::StatusOr<std::string> bytes = ReadFile(path, kMaxCheckpointFileBytes);
  if (absl::IsNotFound(bytes.status())) {
    std::error_code ec;
    if (fs::exists(fs::path(dir) / kLegacyFile, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          dir, " holds a checkpoint (", kLegacyFile,
          ") written by an older smfg, which this version cannot resume; start the run anew "
          "in another directory"));
    }
    return absl::NotFoundError(absl::StrCat("no checkpoint in ", dir));
  }
  if (!bytes.ok()) return bytes.status();
  const auto damaged = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(path, ": damaged checkpoint: ", why));
  };
  v1::CheckpointFile file;
  if (!file.ParseFromString(*bytes)) return damaged("not a checkpoint file");
  if (Fnv1a64(file.checkpoint()) != file.fnv1a64()) return damaged("checksum mismatch");
  v1::TrainerCheckpoint checkpoint;
  if (!checkpoint.ParseFromString(file.checkpoint())) return damaged("unreadable content");
  const absl::Status consistent = CheckConsistent(checkpoint);
  if (!consistent.ok()) return damaged(consistent.message());
  return checkpoint;
}

bool HasCheckpoint(const std::string& dir) {
  std::error_code ec;
  return fs::exists(fs::path(dir) / kFile, ec) || fs::exists(fs::path(dir) / kLegacyFile, ec);
}

v1::PriceBeliefState BeliefToState(const env::PriceBelief& belief) {
  v1::PriceBeliefState s;
  s.set_days(belief.days);
  s.set_buses(belief.buses);
  s.mutable_lmp_per_mwh()->Assign(belief.lmp_per_mwh.begin(), belief.lmp_per_mwh.end());
  return s;
}

env::PriceBelief BeliefFromState(const v1::PriceBeliefState& state) {
  env::PriceBelief b;
  b.days = state.days();
  b.buses = state.buses();
  b.lmp_per_mwh.assign(state.lmp_per_mwh().begin(), state.lmp_per_mwh().end());
  return b;
}

}  // namespace smfg::training
