// Small status helpers. Debian's Abseil 20220623 has no RETURN_IF_ERROR /
// ASSIGN_OR_RETURN, so we define our own, prefixed to avoid clashes.
#ifndef SMFG_COMMON_STATUS_H_
#define SMFG_COMMON_STATUS_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define SMFG_STATUS_CONCAT_INNER(a, b) a##b
#define SMFG_STATUS_CONCAT(a, b) SMFG_STATUS_CONCAT_INNER(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing function if
// it is not OK.
#define SMFG_RETURN_IF_ERROR(expr)                     \
  do {                                                 \
    ::absl::Status smfg_status_tmp = (expr);           \
    if (!smfg_status_tmp.ok()) return smfg_status_tmp; \
  } while (false)

// `SMFG_ASSIGN_OR_RETURN(auto x, F())` declares/assigns the value of an
// absl::StatusOr, or returns its status.
#define SMFG_ASSIGN_OR_RETURN(lhs, expr) \
  SMFG_ASSIGN_OR_RETURN_IMPL(SMFG_STATUS_CONCAT(smfg_statusor_, __LINE__), lhs, expr)
#define SMFG_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()

namespace smfg {

// Returns `status` with `prefix: ` prepended to its message (code unchanged).
// Used to add a field path or file name as an error travels outwards.
inline absl::Status Annotate(const absl::Status& status, absl::string_view prefix) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(prefix, ": ", status.message()));
}

}  // namespace smfg

#endif  // SMFG_COMMON_STATUS_H_
