#include "environment/network.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg::env {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Network ValidTriangle() {
  Network net;
  net.buses = {{"1"}, {"2"}, {"3"}};
  net.lines = {{"1-2", 0, 1, 0.1, kInf}, {"1-3", 0, 2, 0.1, 150.0}, {"2-3", 1, 2, 0.1, kInf}};
  Generator g;
  g.name = "g";
  g.pmax_mw = 100.0;
  g.cost_linear = 10.0;
  net.generators = {g, g};
  net.generators[1].bus = 1;
  return net;
}

// The message must be exactly "<path>: ..." so callers can prefix a context.
void ExpectInvalid(const Network& net, const std::string& message) {
  const absl::Status s = ValidateNetwork(net);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(s.message(), message);
}

TEST(ValidateNetworkTest, AcceptsValidNetworks) {
  EXPECT_TRUE(ValidateNetwork(ValidTriangle()).ok());
  Network single;
  single.buses = {{"only"}};
  EXPECT_TRUE(ValidateNetwork(single).ok());
  Network net = ValidTriangle();
  net.lines[1].limit_mw = 0.0;        // a zero limit is allowed
  net.generators[0].pmin_mw = -20.0;  // dispatchable load
  net.generators[1].hourly_availability.assign(24, 0.5);
  net.lines.push_back({"parallel", 2, 0, 0.3, 10.0});
  EXPECT_TRUE(ValidateNetwork(net).ok());
}

TEST(ValidateNetworkTest, RejectsDisconnectedNetwork) {
  Network net = ValidTriangle();
  net.lines = {net.lines[0]};
  ExpectInvalid(net, "network: buses {2} are not connected to bus 0");
  net.buses.resize(20, {"x"});
  ExpectInvalid(net,
                "network: buses {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, ... (18 in all)} are "
                "not connected to bus 0");
}

TEST(ValidateNetworkTest, RejectsNegativeCapacity) {
  Network net = ValidTriangle();
  net.generators[1].pmax_mw = -5.0;
  ExpectInvalid(net, "generators[1].pmax_mw: must be >= 0, got -5");
}

TEST(ValidateNetworkTest, RejectsPminAbovePmax) {
  Network net = ValidTriangle();
  net.generators[0].pmin_mw = 120.0;
  ExpectInvalid(net, "generators[0].pmin_mw: must be <= pmax_mw (100), got 120");
}

TEST(ValidateNetworkTest, RejectsZeroReactanceButAcceptsNegative) {
  // Series-compensated branches have x < 0 (MATPOWER's case300 has one); only
  // x = 0 has no DC flow equation.
  Network net = ValidTriangle();
  net.lines[2].reactance_pu = -0.1;
  EXPECT_TRUE(ValidateNetwork(net).ok()) << ValidateNetwork(net);
  net.lines[2].reactance_pu = 0.0;
  ExpectInvalid(net, "lines[2].reactance_pu: must be nonzero, got 0");
  net.lines[2].reactance_pu = -0.0;
  ExpectInvalid(net, "lines[2].reactance_pu: must be nonzero, got -0");
}

TEST(ValidateNetworkTest, PhaseShiftMustBeFinite) {
  Network net = ValidTriangle();
  net.lines[1].phase_shift_rad = -0.2;
  EXPECT_TRUE(ValidateNetwork(net).ok());
  net.lines[1].phase_shift_rad = std::nan("");
  ExpectInvalid(net, "lines[1].phase_shift_rad: must be finite, got nan");
}

TEST(ValidateNetworkTest, RejectsBadBusIndex) {
  Network net = ValidTriangle();
  net.lines[1].to_bus = 3;
  ExpectInvalid(net, "lines[1].to_bus: must be a bus index in [0, 3), got 3");
  net = ValidTriangle();
  net.lines[0].from_bus = -1;
  ExpectInvalid(net, "lines[0].from_bus: must be a bus index in [0, 3), got -1");
  net = ValidTriangle();
  net.generators[1].bus = 7;
  ExpectInvalid(net, "generators[1].bus: must be a bus index in [0, 3), got 7");
}

TEST(ValidateNetworkTest, RejectsSelfLoop) {
  Network net = ValidTriangle();
  net.lines[0].to_bus = 0;
  ExpectInvalid(net, "lines[0]: from_bus and to_bus must differ (self-loop at bus 0)");
}

TEST(ValidateNetworkTest, RejectsNegativeLimit) {
  Network net = ValidTriangle();
  net.lines[1].limit_mw = -1.0;
  ExpectInvalid(net, "lines[1].limit_mw: must be >= 0, got -1");
}

TEST(ValidateNetworkTest, RejectsNonConvexCost) {
  Network net = ValidTriangle();
  net.generators[0].cost_quadratic = -0.01;
  ExpectInvalid(net, "generators[0].cost_quadratic: must be >= 0 (convex cost), got -0.01");
}

TEST(ValidateNetworkTest, RejectsBadAvailability) {
  Network net = ValidTriangle();
  net.generators[0].hourly_availability.assign(23, 1.0);
  ExpectInvalid(net,
                "generators[0].hourly_availability: must be empty or have 24 values, "
                "got 23");
  net.generators[0].hourly_availability.assign(24, 1.0);
  net.generators[0].hourly_availability[13] = 1.5;
  ExpectInvalid(net, "generators[0].hourly_availability[13]: must be in [0, 1], got 1.5");
  net.generators[0].hourly_availability[13] = std::nan("");
  ExpectInvalid(net, "generators[0].hourly_availability[13]: must be in [0, 1], got nan");
}

TEST(ValidateNetworkTest, RejectsNonFiniteNumbers) {
  Network net = ValidTriangle();
  net.lines[0].reactance_pu = kInf;
  ExpectInvalid(net, "lines[0].reactance_pu: must be finite, got inf");
  net = ValidTriangle();
  net.lines[0].limit_mw = std::nan("");
  ExpectInvalid(net, "lines[0].limit_mw: must be >= 0, got nan");
  net = ValidTriangle();
  net.generators[1].cost_linear = -kInf;
  ExpectInvalid(net, "generators[1].cost_linear: must be finite, got -inf");
  net = ValidTriangle();
  net.generators[1].pmax_mw = kInf;
  ExpectInvalid(net, "generators[1].pmax_mw: must be finite, got inf");
  net = ValidTriangle();
  net.generators[0].cost_fixed = std::nan("");
  ExpectInvalid(net, "generators[0].cost_fixed: must be finite, got nan");
}

TEST(ValidateNetworkTest, RejectsBadScalars) {
  Network net = ValidTriangle();
  net.base_mva = 0.0;
  ExpectInvalid(net, "base_mva: must be > 0, got 0");
  net = ValidTriangle();
  net.value_of_lost_load_per_mwh = -1.0;
  ExpectInvalid(net, "value_of_lost_load_per_mwh: must be > 0, got -1");
  net = ValidTriangle();
  net.value_of_lost_load_per_mwh = kInf;
  ExpectInvalid(net, "value_of_lost_load_per_mwh: must be finite, got inf");
  ExpectInvalid(Network{}, "buses: must have at least one bus, got none");
}

}  // namespace
}  // namespace smfg::env
