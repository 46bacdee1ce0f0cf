// A small, fully specified scenario for tests and benchmarks, built in C++ so
// environment tests do not depend on the spec parser. Same network as
// configs/three_bus.textproto; `households_per_class_per_bus` households of each
// of four income classes at each bus.
#ifndef SMFG_ENVIRONMENT_TEST_SCENARIO_H_
#define SMFG_ENVIRONMENT_TEST_SCENARIO_H_

#include "environment/scenario.h"

namespace smfg::env {

Scenario MakeTestScenario(int households_per_class_per_bus, int days, uint64_t seed = 7);
// 24 rates at `rate` $/kWh, net billing at LMP, no fixed charges.
Tariff FlatTestTariff(const Scenario& scenario, double rate);

}  // namespace smfg::env

#endif  // SMFG_ENVIRONMENT_TEST_SCENARIO_H_
