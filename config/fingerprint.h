// Fingerprints of proto messages: Fnv1a64 (common/hash.h) of the deterministic
// serialisation (map entries sorted; unknown fields kept, so two messages that
// differ only there also differ in fingerprint). Equal messages give equal
// fingerprints within one version of the .proto files; used to key caches and
// to bind checkpoints to the spec they were made from, not as a security
// measure.
#ifndef SMFG_CONFIG_FINGERPRINT_H_
#define SMFG_CONFIG_FINGERPRINT_H_

#include <cstdint>
#include <string>

#include "google/protobuf/message.h"

namespace smfg::config {

std::string DeterministicBytes(const google::protobuf::Message& message);
uint64_t Fingerprint(const google::protobuf::Message& message);

}  // namespace smfg::config

#endif  // SMFG_CONFIG_FINGERPRINT_H_
