#include "common/json.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace smfg {
namespace {

TEST(JsonWriterTest, NestedDocument) {
  JsonWriter w;
  w.BeginObject().Key("a").Number(0.1).Key("b").BeginArray().Int(1).Int(2).EndArray();
  w.Key("c").String("x\"y\n").Key("d").Bool(true).Key("e").BeginObject().EndObject();
  w.EndObject();
  EXPECT_EQ(w.str(), R"({"a":0.1,"b":[1,2],"c":"x\"y\n","d":true,"e":{}})");
}

TEST(JsonWriterTest, NumbersRoundTripAndNonFiniteIsNull) {
  JsonWriter w;
  const double third = 1.0 / 3.0;
  w.BeginArray().Number(third).Number(std::numeric_limits<double>::quiet_NaN()).EndArray();
  const std::string s = w.str();
  EXPECT_EQ(std::strtod(s.c_str() + 1, nullptr), third);
  EXPECT_NE(s.find("null"), std::string::npos);
}

TEST(JsonWriterTest, EscapesControlCharacters) {
  EXPECT_EQ(JsonEscape(std::string("a\x01") + "b"), "a\\u0001b");
}

}  // namespace
}  // namespace smfg
