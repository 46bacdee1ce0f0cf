#include "training/iteration_record.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace smfg::training {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

v1::IterationRecord Record(int k) {
  v1::IterationRecord r;
  r.set_iteration(k);
  v1::ObjectiveTerms* e = r.mutable_evaluated();
  e->set_objective(-0.1 / k);
  e->set_eei_spread(0.025);
  for (const char* g : {"low", "high"}) {
    v1::GroupValue* v = e->add_eei();
    v->set_group(g);
    v->set_value(g[0] == 'l' ? 0.06 : 0.01);
  }
  for (const char* b : {"bus1", "bus2"}) {
    v1::BusPrices* p = r.add_lmp_by_bus();
    p->set_bus(b);
    p->set_mean(23.5);
    p->set_std(1.75);
  }
  r.set_belief_change_per_mwh(k == 1 ? std::numeric_limits<double>::infinity() : 0.001);
  r.mutable_ppo()->set_kl_early_stop(k == 2);
  r.mutable_bytes()->set_to_workers(int64_t{1} << 40);
  return r;
}

TEST(IterationJsonTest, OneLineOfProtoJsonThatParsesBackExactly) {
  for (int k : {1, 2}) {
    const std::string json = IterationJson(Record(k));
    EXPECT_THAT(json, Not(HasSubstr("\n")));
    EXPECT_THAT(json, HasSubstr("\"evaluated\":{\"objective\":"));
    // Every field is written, zeros included, with the .proto's names.
    EXPECT_THAT(json, HasSubstr("\"recovery_gap\":0"));
    EXPECT_THAT(json, HasSubstr("\"lmp_by_bus\":[{\"bus\":\"bus1\",\"mean\":23.5,\"std\":1.75}"));
    v1::IterationRecord back;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok()) << json;
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(back, Record(k))) << json;
  }
  EXPECT_THAT(IterationJson(Record(1)), HasSubstr("\"belief_change_per_mwh\":\"Infinity\""));
  EXPECT_EQ(MetricsJsonl({Record(1), Record(2)}),
            IterationJson(Record(1)) + "\n" + IterationJson(Record(2)) + "\n");
}

TEST(MetricsCsvTest, OneColumnPerLeafNamedByPathAndLabel) {
  const std::string csv = MetricsCsv({Record(1), Record(2)});
  const std::vector<std::string> lines = absl::StrSplit(csv, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u);
  const std::vector<std::string> header = absl::StrSplit(lines[0], ',');
  EXPECT_EQ(header[0], "iteration");
  EXPECT_EQ(header[1], "evaluated.objective");
  EXPECT_THAT(header, ::testing::Contains("evaluated.eei.low.value"));
  EXPECT_THAT(header, ::testing::Contains("lmp_by_bus.bus2.std"));
  EXPECT_THAT(header, ::testing::Contains("seconds.barrier_wait"));
  EXPECT_THAT(header, ::testing::Contains("bytes.to_workers"));
  EXPECT_THAT(header, Not(::testing::Contains("lmp_by_bus.bus1.bus")));
  std::vector<std::string> row1 = absl::StrSplit(lines[1], ',');
  std::vector<std::string> row2 = absl::StrSplit(lines[2], ',');
  ASSERT_EQ(row1.size(), header.size());
  ASSERT_EQ(row2.size(), header.size());
  const auto cell = [&](const std::vector<std::string>& row, const std::string& column) {
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == column) return row[i];
    }
    return std::string("<missing>");
  };
  EXPECT_EQ(cell(row1, "iteration"), "1");
  EXPECT_EQ(cell(row2, "evaluated.objective"), "-0.05");
  EXPECT_EQ(cell(row1, "evaluated.objective"), "-0.1");
  EXPECT_EQ(cell(row1, "evaluated.eei.high.value"), "0.01");
  EXPECT_EQ(cell(row1, "belief_change_per_mwh"), "inf");
  EXPECT_EQ(cell(row1, "ppo.kl_early_stop"), "0");
  EXPECT_EQ(cell(row2, "ppo.kl_early_stop"), "1");
  EXPECT_EQ(cell(row2, "bytes.to_workers"), "1099511627776");
  // Doubles round-trip.
  v1::IterationRecord odd = Record(3);
  odd.mutable_evaluated()->set_objective(1.0 / 3.0);
  const std::vector<std::string> odd_lines = absl::StrSplit(MetricsCsv({odd}), '\n');
  const std::vector<std::string> odd_row = absl::StrSplit(odd_lines[1], ',');
  EXPECT_EQ(std::stod(odd_row[1]), 1.0 / 3.0);
  EXPECT_EQ(MetricsCsv({}), "");
}

}  // namespace
}  // namespace smfg::training
