// Fuzz-style robustness test: thousands of seeded random mutations of the
// default spec, in text and JSON form. Whatever the input, the loader must not
// crash and must return either OK (and then the scenario validates) or
// INVALID_ARGUMENT with a message. Deterministic (CounterRng), so a failure
// reproduces; run under -fsanitize=address,undefined to catch memory errors.
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/rng.h"
#include "common/status_matchers.h"
#include "config/spec_loader.h"
#include "environment/scenario.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "smfg/v1/spec.pb.h"

namespace smfg::config {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;

constexpr int kMutationsPerFormat = 2000;
constexpr uint64_t kSeed = 20251;

const std::vector<std::string>& Garbage() {
  static const auto* const kGarbage = new std::vector<std::string>{
      "{",
      "}",
      "[",
      "]",
      ":",
      ",",
      "\"",
      "'",
      "#",
      "<",
      ">",
      "\\",
      "\n",
      std::string("\0", 1),
      std::string("a\0b", 3),
      "\xff\xfe",
      "\xc3\x28",
      "\xe2\x82",
      "1e999",
      "-1e999",
      "-nan",
      "nan",
      "inf",
      "-inf",
      "NaN",
      "Infinity",
      "-Infinity",
      "-1",
      "0",
      "-0",
      "1e-320",
      "99999999999999999999",
      "2147483648",
      "-2147483649",
      "18446744073709551616",
      "0x7fffffff",
      "1.5",
      "1e308",
      "null",
      "true",
      "false",
      "foo: 1",
      "scenario {",
      "classes { }",
      "days: 0",
      "shards: -3",
      "matpower_file: \"\"",
      "kind: 7",
      "kind: LOGNORMAL",
      "\"\\u0000\"",
      "\"\\ud800\"",
      "\"days\": -1,",
      "\"foo\": {},",
      "{\"a\": [[[[[[[[[[]]]]]]]]]]}",
      std::string(200, '{'),
      std::string(200, '['),
  };
  return *kGarbage;
}

// Numbers that stress validation when they replace a number in the file.
const std::vector<std::string>& Numbers() {
  static const auto* const kNumbers = new std::vector<std::string>{
      "1e999", "-1e999", "-nan",   "nan",      "inf",        "-inf",        "-5",         "0",
      "-0",    "1e308",  "-1e308", "4.9e-324", "2147483647", "-2147483648", "2147483648", "1e20",
      "0.5",   "1",      "24",     "25",       "100000",     "-1",
  };
  return *kNumbers;
}

class Mutator {
 public:
  explicit Mutator(uint64_t stream) : rng_(kSeed, RngPurpose::kTest, stream) {}

  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_.NextU64() % n); }

  std::string Mutate(std::string s) {
    const int steps = 1 + static_cast<int>(Below(3));
    for (int i = 0; i < steps; ++i) s = MutateOnce(std::move(s));
    return s;
  }

 private:
  std::string MutateOnce(std::string s) {
    const size_t pos = Below(s.size() + 1);
    switch (Below(9)) {
      case 0:  // truncate
        return s.substr(0, pos);
      case 1: {  // delete a range
        const size_t len = 1 + Below(40);
        if (pos < s.size()) s.erase(pos, len);
        return s;
      }
      case 2: {  // duplicate a range
        const size_t len = 1 + Below(200);
        if (pos < s.size()) s.insert(pos, s.substr(pos, len));
        return s;
      }
      case 3: {  // replace characters with random bytes (NUL included)
        const size_t count = 1 + Below(4);
        for (size_t k = 0; k < count && !s.empty(); ++k) {
          s[Below(s.size())] = static_cast<char>(Below(256));
        }
        return s;
      }
      case 4: {  // swap two lines
        std::vector<std::string> lines = absl::StrSplit(s, '\n');
        if (lines.size() >= 2) {
          std::swap(lines[Below(lines.size())], lines[Below(lines.size())]);
        }
        return absl::StrJoin(lines, "\n");
      }
      case 5:  // insert garbage
        s.insert(pos, Garbage()[Below(Garbage().size())]);
        return s;
      case 6: {  // replace a number with an extreme one
        std::vector<size_t> starts;
        for (size_t i = 0; i < s.size(); ++i) {
          const bool digit = s[i] >= '0' && s[i] <= '9';
          const bool prev_digit =
              i > 0 && ((s[i - 1] >= '0' && s[i - 1] <= '9') || s[i - 1] == '.' || s[i - 1] == '-');
          if (digit && !prev_digit) starts.push_back(i);
        }
        if (starts.empty()) return s;
        const size_t start = starts[Below(starts.size())];
        size_t end = start;
        while (end < s.size() && ((s[end] >= '0' && s[end] <= '9') || s[end] == '.' ||
                                  s[end] == 'e' || s[end] == '-')) {
          ++end;
        }
        s.replace(start, end - start, Numbers()[Below(Numbers().size())]);
        return s;
      }
      case 7: {  // replace a character with a structural one
        if (!s.empty()) s[Below(s.size())] = "{}[]:,\"'#\n"[Below(10)];
        return s;
      }
      default: {  // a random byte string
        const size_t len = 1 + Below(16);
        std::string bytes;
        for (size_t k = 0; k < len; ++k) bytes.push_back(static_cast<char>(Below(256)));
        s.insert(pos, bytes);
        return s;
      }
    }
  }

  CounterRng rng_;
};

struct Tally {
  int ok = 0;
  int invalid = 0;
};

void CheckOne(const std::string& content, absl::string_view source, Format format, Tally* tally) {
  absl::StatusOr<LoadedSpec> loaded = ParseExperiment(content, source, format);
  if (loaded.ok()) {
    ++tally->ok;
    const absl::Status valid = env::ValidateScenario(loaded->scenario);
    EXPECT_TRUE(valid.ok()) << valid << "\ninput:\n" << content;
    return;
  }
  ++tally->invalid;
  const absl::Status& status = loaded.status();
  // A mutation that conjures a matpower_file may name a file that does not
  // exist; everything else is a content error.
  const bool missing_case = status.code() == absl::StatusCode::kNotFound &&
                            absl::StrContains(status.message(), "matpower_file");
  EXPECT_TRUE(status.code() == absl::StatusCode::kInvalidArgument || missing_case)
      << status << "\ninput:\n"
      << content;
  EXPECT_GT(status.message().size(), source.size() + 2) << status;
  EXPECT_TRUE(absl::StartsWith(status.message(), source)) << status;
}

std::string ReadConfig() {
  absl::StatusOr<std::string> content = ReadFile("configs/three_bus.textproto", kMaxSpecFileBytes);
  EXPECT_TRUE(content.ok()) << content.status();
  return content.ok() ? *content : "";
}

TEST(SpecFuzzTest, TextMutationsNeverCrash) {
  const std::string original = ReadConfig();
  ASSERT_FALSE(original.empty());
  Tally tally;
  CheckOne(original, "configs/three_bus.textproto", Format::kText, &tally);
  ASSERT_EQ(tally.ok, 1);
  for (int i = 0; i < kMutationsPerFormat; ++i) {
    Mutator mutator(static_cast<uint64_t>(i));
    CheckOne(mutator.Mutate(original), "configs/three_bus.textproto", Format::kText, &tally);
    if (HasFailure()) break;
  }
  std::cout << "text: " << tally.ok << " ok, " << tally.invalid << " invalid\n";
  // Mutations that hit comments leave the spec valid, the rest should not.
  EXPECT_GT(tally.ok, 0);
  EXPECT_GT(tally.invalid, kMutationsPerFormat / 4);
}

TEST(SpecFuzzTest, JsonMutationsNeverCrash) {
  v1::ExperimentSpec spec;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(ReadConfig(), &spec));
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string original;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(spec, &original, options).ok());
  Tally tally;
  CheckOne(original, "configs/three_bus.json", Format::kJson, &tally);
  ASSERT_EQ(tally.ok, 1);
  for (int i = 0; i < kMutationsPerFormat; ++i) {
    Mutator mutator(1000000 + static_cast<uint64_t>(i));
    CheckOne(mutator.Mutate(original), "configs/three_bus.json", Format::kJson, &tally);
    if (HasFailure()) break;
  }
  std::cout << "json: " << tally.ok << " ok, " << tally.invalid << " invalid\n";
  EXPECT_GT(tally.invalid, kMutationsPerFormat / 4);
}

TEST(SpecFuzzTest, TariffMutationsNeverCrash) {
  absl::StatusOr<LoadedSpec> loaded = LoadExperimentFile("configs/three_bus.textproto");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  absl::StatusOr<std::string> original =
      ReadFile("configs/tariffs/flat_0.15.textproto", kMaxSpecFileBytes);
  ASSERT_TRUE(original.ok());
  for (int i = 0; i < kMutationsPerFormat / 4; ++i) {
    Mutator mutator(2000000 + static_cast<uint64_t>(i));
    const std::string content = mutator.Mutate(*original);
    absl::StatusOr<env::Tariff> tariff =
        ParseTariffText(content, "flat.textproto", Format::kText, loaded->scenario);
    if (tariff.ok()) {
      EXPECT_TRUE(env::ValidateTariff(*tariff, loaded->scenario).ok()) << content;
    } else {
      EXPECT_THAT(tariff.status(), StatusIs(absl::StatusCode::kInvalidArgument))
          << tariff.status() << "\n"
          << content;
      EXPECT_FALSE(tariff.status().message().empty());
    }
    if (HasFailure()) break;
  }
}

}  // namespace
}  // namespace smfg::config
