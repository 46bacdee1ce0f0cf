// Size bounds of a spec message, so that nothing a client sends can make a
// response too large to return (a 5 MiB name once made List fail for every
// default gRPC client) or a conversion too large to hold. Checked with every
// other rule (config::ValidateSpec), for spec files and submitted specs alike.
#ifndef SMFG_CONFIG_BOUNDS_H_
#define SMFG_CONFIG_BOUNDS_H_

#include <cstddef>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace smfg::config {

// The experiment's name (shown in every Get and List row).
inline constexpr size_t kMaxNameBytes = 200;
// Any other string of a spec (bus, line, class and group names, ...).
inline constexpr size_t kMaxStringBytes = 256;
// Elements of any repeated field (buses, lines, generators, classes, ...).
inline constexpr int kMaxRepeated = 100000;

// OK when every string of `message` has at most kMaxStringBytes (its
// top-level `name`, kMaxNameBytes) and every repeated field at most
// kMaxRepeated elements, recursively. Else INVALID_ARGUMENT naming the field
// path below `root` ("name: 5242880 bytes, at most 200",
// "scenario.network.buses: 200000 entries, at most 100000").
absl::Status CheckSizeBounds(const google::protobuf::Message& message);

}  // namespace smfg::config

#endif  // SMFG_CONFIG_BOUNDS_H_
