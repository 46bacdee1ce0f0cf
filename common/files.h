// The project's one file reader and one atomic file writer.
//
// ReadFile treats the path as untrusted: it reads regular files only (a FIFO,
// a device such as /dev/zero, a socket or a directory is refused before a
// byte is read, so a read can neither block nor run forever) and never more
// than `max_bytes`. Its errors name the path and the reason, never the file's
// content:
//   NOT_FOUND          the path (or a directory on it) does not exist
//   PERMISSION_DENIED  the OS refused to open it
//   FAILED_PRECONDITION not a regular file ("<path>: not a regular file (a FIFO)")
//   RESOURCE_EXHAUSTED larger than max_bytes ("<path>: larger than 1048576 bytes")
//   UNAVAILABLE        any other I/O error
//
// WriteFileAtomically gives readers the old content or the new one, never a
// mix, and survives a crash or power cut once it returned OK: it writes a
// uniquely named temporary file in the same directory, fsyncs it, renames it
// over `path` and fsyncs the directory. On any error the temporary file is
// removed and `path` is left as it was.
#ifndef SMFG_COMMON_FILES_H_
#define SMFG_COMMON_FILES_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smfg {

// Upper bounds used across the project (bytes).
inline constexpr int64_t kMaxSpecFileBytes = int64_t{16} << 20;       // specs, tariffs, cases
inline constexpr int64_t kMaxSmallFileBytes = int64_t{1} << 20;       // tokens, PEM files
inline constexpr int64_t kMaxCheckpointFileBytes = int64_t{2} << 30;  // training checkpoints

absl::StatusOr<std::string> ReadFile(const std::string& path, int64_t max_bytes);

absl::Status WriteFileAtomically(const std::string& path, absl::string_view content);

// Checks a path that names a file inside some directory (a result file, say):
// 1-500 bytes of [A-Za-z0-9._-/], '/'-separated components that are not empty,
// not "." or "..", and do not start with '.'; so it is relative and cannot
// leave the directory it is joined to. INVALID_ARGUMENT naming the problem.
absl::Status ValidateRelativePath(absl::string_view path);

}  // namespace smfg

#endif  // SMFG_COMMON_FILES_H_
