// The trainer's checkpoint on disk: the only code that knows its file.
//
// A checkpoint directory holds one file, `checkpoint.pb`: a v1::CheckpointFile
// (proto/smfg/v1/training.proto) wrapping the serialized v1::TrainerCheckpoint
// and its FNV-1a 64 hash. It is replaced atomically and durably
// (smfg::WriteFileAtomically: temporary file, fsync, rename, fsync of the
// directory), so after a crash the directory holds the previous checkpoint or
// the new one, never a mix; a checkpoint that WriteCheckpoint returned OK for
// survives a power cut.
//
// Reading treats the file as untrusted: at most kMaxCheckpointFileBytes, the
// hash must match, and the content must be consistent (history numbered
// 1..iteration, beliefs of days x 24 x buses prices, finite values where the
// loop needs them); anything else is DATA_LOSS naming the file and the
// problem.
#ifndef SMFG_TRAINING_CHECKPOINT_H_
#define SMFG_TRAINING_CHECKPOINT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "environment/equilibrium.h"
#include "smfg/v1/training.pb.h"

namespace smfg::training {

// Writes `checkpoint` into `dir` (which must exist). UNAVAILABLE on I/O
// errors; the previous checkpoint is then left as it was.
absl::Status WriteCheckpoint(const std::string& dir, const v1::TrainerCheckpoint& checkpoint);

// The checkpoint in `dir`. NOT_FOUND when `dir` holds none; FAILED_PRECONDITION
// when it holds only the pre-proto `loop.state` of an older smfg (which this
// version cannot resume); DATA_LOSS for a damaged or inconsistent file.
absl::StatusOr<v1::TrainerCheckpoint> ReadCheckpoint(const std::string& dir);

// Whether `dir` holds a checkpoint file (valid or not), of this version or the
// pre-proto one: a directory in use by some run.
bool HasCheckpoint(const std::string& dir);

// env::PriceBelief <-> its checkpoint form (exact: doubles are copied).
v1::PriceBeliefState BeliefToState(const env::PriceBelief& belief);
env::PriceBelief BeliefFromState(const v1::PriceBeliefState& state);

}  // namespace smfg::training

#endif  // SMFG_TRAINING_CHECKPOINT_H_
