// Shared-secret tokens (issue 4, "Access"): loading a bearer token from a file
// or an environment variable, and comparing tokens in constant time.
#ifndef SMFG_COMMON_TOKEN_H_
#define SMFG_COMMON_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smfg {

// The token in `file` (surrounding whitespace stripped) when `file` is not
// empty, else the value of environment variable `env_var` (stripped), else ""
// (no token). INVALID_ARGUMENT when the file cannot be read or holds only
// whitespace, or the token contains whitespace or control characters.
absl::StatusOr<std::string> LoadToken(const std::string& file, const char* env_var);

// The PEM file named by command-line flag `flag` (a TLS certificate, key or
// CA bundle), read with ReadFile (at most kMaxSmallFileBytes, regular files
// only). INVALID_ARGUMENT "<flag>: ..." when it cannot be read or is empty.
absl::StatusOr<std::string> LoadPemFile(const std::string& path, absl::string_view flag);

// Equality whose running time depends only on the lengths, not on where the
// contents differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace smfg

#endif  // SMFG_COMMON_TOKEN_H_
