#include "common/token.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace smfg {
namespace {

absl::Status CheckToken(absl::string_view token, absl::string_view source) {
  for (char c : token) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": token contains whitespace or control characters"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> LoadToken(const std::string& file, const char* env_var) {
  if (!file.empty()) {
    absl::StatusOr<std::string> content = ReadFile(file, kMaxSmallFileBytes);
    if (!content.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read token file: ", content.status().message()));
    }
    std::string token(absl::StripAsciiWhitespace(*content));
    if (token.empty())
      return absl::InvalidArgumentError(absl::StrCat(file, ": token file is empty"));
    absl::Status s = CheckToken(token, file);
    if (!s.ok()) return s;
    return token;
  }
  const char* value = env_var == nullptr ? nullptr : std::getenv(env_var);
  if (value == nullptr) return std::string();
  std::string token(absl::StripAsciiWhitespace(value));
  absl::Status s = CheckToken(token, env_var);
  if (!s.ok()) return s;
  return token;
}

absl::StatusOr<std::string> LoadPemFile(const std::string& path, absl::string_view flag) {
  absl::StatusOr<std::string> content = ReadFile(path, kMaxSmallFileBytes);
  if (!content.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", content.status().message()));
  }
  if (content->empty())
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is empty"));
  return content;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = a.size() > b.size() ? a.size() : b.size();
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

}  // namespace smfg
