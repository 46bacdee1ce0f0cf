// A tiny JSON writer: enough for reports, with deterministic key order and
// round-trippable doubles (%.17g). Non-finite numbers become null, since JSON
// has no NaN.
#ifndef SMFG_COMMON_JSON_H_
#define SMFG_COMMON_JSON_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace smfg {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(absl::string_view key);
  JsonWriter& String(absl::string_view value);
  JsonWriter& Number(double value);
  JsonWriter& Int(long long value);
  JsonWriter& Bool(bool value);
  JsonWriter& Numbers(const double* values, int n);
  // Inserts an already-rendered JSON value (e.g. a nested document).
  JsonWriter& Raw(absl::string_view json);
  template <typename Container>
  JsonWriter& Numbers(const Container& c) {
    BeginArray();
    for (double v : c) Number(v);
    return EndArray();
  }
  const std::string& str() const { return out_; }

 private:
  void Separate();
  std::string out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

std::string JsonEscape(absl::string_view s);

// The shortest of %.15g and %.17g that reads back as the same double ("nan",
// "inf", "-inf" for non-finite values). For text formats that must round-trip.
std::string RoundTripDouble(double value);

}  // namespace smfg

#endif  // SMFG_COMMON_JSON_H_
