#include "config/bounds.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "google/protobuf/descriptor.h"

namespace smfg::config {
namespace {

namespace pb = ::google::protobuf;

std::string Join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : absl::StrCat(prefix, ".", name);
}

absl::Status Check(const pb::Message& m, const std::string& prefix) {
  const pb::Reflection* r = m.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(m, &fields);  // only fields that are set: cheap on sparse messages
  for (const pb::FieldDescriptor* f : fields) {
    const std::string path = Join(prefix, f->name());
    if (f->is_repeated()) {
      const int n = r->FieldSize(m, f);
      if (n > kMaxRepeated) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": ", n, " entries, at most ", kMaxRepeated));
      }
      for (int i = 0; i < n; ++i) {
        const std::string element = absl::StrCat(path, "[", i, "]");
        if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
          SMFG_RETURN_IF_ERROR(Check(r->GetRepeatedMessage(m, f, i), element));
        } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING) {
          std::string scratch;
          const size_t bytes = r->GetRepeatedStringReference(m, f, i, &scratch).size();
          if (bytes > kMaxStringBytes) {
            return absl::InvalidArgumentError(
                absl::StrCat(element, ": ", bytes, " bytes, at most ", kMaxStringBytes));
          }
        }
      }
    } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      SMFG_RETURN_IF_ERROR(Check(r->GetMessage(m, f), path));
    } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING) {
      std::string scratch;
      const size_t bytes = r->GetStringReference(m, f, &scratch).size();
      const size_t limit = prefix.empty() && f->name() == "name" ? kMaxNameBytes : kMaxStringBytes;
      if (bytes > limit) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": ", bytes, " bytes, at most ", limit));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckSizeBounds(const pb::Message& message) { return Check(message, ""); }

}  // namespace smfg::config
