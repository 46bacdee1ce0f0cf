#include "follower_workers/wire_convert.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "config/fingerprint.h"
#include "config/spec_convert.h"

namespace smfg::workers {
namespace {

using RepeatedDouble = google::protobuf::RepeatedField<double>;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

void CopyOut(const std::vector<double>& from, RepeatedDouble* to) {
  to->Reserve(static_cast<int>(from.size()));
  for (double v : from) to->Add(v);
}

// Copies `from` into `to` after checking its size (when `expected` >= 0) and
// that every value is finite.
absl::Status CopyIn(const RepeatedDouble& from, long long expected, absl::string_view field,
                    std::vector<double>* to) {
  if (expected >= 0 && from.size() != expected) {
    return Invalid(field, absl::StrCat("has ", from.size(), " values, expected ", expected));
  }
  for (int i = 0; i < from.size(); ++i) {
    if (!std::isfinite(from.Get(i))) {
      return Invalid(absl::StrCat(field, "[", i, "]"), "not finite");
    }
  }
  to->assign(from.begin(), from.end());
  return absl::OkStatus();
}

void RowsOut(const std::vector<std::vector<double>>& rows,
             google::protobuf::RepeatedPtrField<v1::DoubleRow>* out) {
  for (const auto& row : rows) CopyOut(row, out->Add()->mutable_values());
}

absl::Status RowsIn(const google::protobuf::RepeatedPtrField<v1::DoubleRow>& rows,
                    absl::string_view field, std::vector<std::vector<double>>* out) {
  out->assign(rows.size(), {});
  for (int r = 0; r < rows.size(); ++r) {
    SMFG_RETURN_IF_ERROR(
        CopyIn(rows.Get(r).values(), -1, absl::StrCat(field, "[", r, "]"), &(*out)[r]));
  }
  return absl::OkStatus();
}

absl::Status CheckFinite(double v, absl::string_view field) {
  return std::isfinite(v) ? absl::OkStatus() : Invalid(field, "not finite");
}

absl::Status CheckCount(long long v, absl::string_view field) {
  return v >= 0 ? absl::OkStatus() : Invalid(field, absl::StrCat("negative (", v, ")"));
}

// Dimensions are bounded so that products of them cannot overflow and a
// garbage header cannot make us allocate gigabytes before the size check.
constexpr int kMaxDim = 1 << 20;

absl::Status CheckDim(int v, absl::string_view field) {
  if (v < 0 || v > kMaxDim) return Invalid(field, absl::StrCat("out of range (", v, ")"));
  return absl::OkStatus();
}

}  // namespace

StatsShape StatsShape::Of(const env::Scenario& scenario) {
  return {scenario.days, static_cast<int>(scenario.network.buses.size()),
          static_cast<int>(scenario.income_groups.size()),
          static_cast<int>(scenario.classes.size())};
}

v1::WireTariff TariffToProto(const env::Tariff& tariff) {
  v1::WireTariff out;
  RowsOut(tariff.import_rate_per_kwh, out.mutable_import_rate_per_kwh());
  CopyOut(tariff.fixed_charge_per_day, out.mutable_fixed_charge_per_day());
  out.set_export_rule(config::FromExportRule(tariff.export_rule));
  out.set_fixed_export_credit_per_kwh(tariff.fixed_export_credit_per_kwh);
  RowsOut(tariff.daily_import_rate_per_kwh, out.mutable_daily_import_rate_per_kwh());
  RowsOut(tariff.daily_fixed_charge_per_day, out.mutable_daily_fixed_charge_per_day());
  out.set_daily_rate_rows(tariff.daily_rate_rows);
  return out;
}

absl::StatusOr<env::Tariff> TariffFromProto(const v1::WireTariff& proto) {
  env::Tariff t;
  SMFG_RETURN_IF_ERROR(
      RowsIn(proto.import_rate_per_kwh(), "import_rate_per_kwh", &t.import_rate_per_kwh));
  SMFG_RETURN_IF_ERROR(
      CopyIn(proto.fixed_charge_per_day(), -1, "fixed_charge_per_day", &t.fixed_charge_per_day));
  absl::StatusOr<env::ExportRule> rule = config::ToExportRule(proto.export_rule());
  if (!rule.ok()) return Annotate(rule.status(), "export_rule");
  t.export_rule = *rule;
  SMFG_RETURN_IF_ERROR(
      CheckFinite(proto.fixed_export_credit_per_kwh(), "fixed_export_credit_per_kwh"));
  t.fixed_export_credit_per_kwh = proto.fixed_export_credit_per_kwh();
  SMFG_RETURN_IF_ERROR(RowsIn(proto.daily_import_rate_per_kwh(), "daily_import_rate_per_kwh",
                              &t.daily_import_rate_per_kwh));
  SMFG_RETURN_IF_ERROR(RowsIn(proto.daily_fixed_charge_per_day(), "daily_fixed_charge_per_day",
                              &t.daily_fixed_charge_per_day));
  if (proto.daily_rate_rows() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("daily_rate_rows: must be >= 0, got ", proto.daily_rate_rows()));
  }
  t.daily_rate_rows = proto.daily_rate_rows() == 0 ? 1 : proto.daily_rate_rows();
  return t;
}

v1::WirePriceBelief BeliefToProto(const env::PriceBelief& belief) {
  v1::WirePriceBelief out;
  out.set_days(belief.days);
  out.set_buses(belief.buses);
  CopyOut(belief.lmp_per_mwh, out.mutable_lmp_per_mwh());
  return out;
}

absl::StatusOr<env::PriceBelief> BeliefFromProto(const v1::WirePriceBelief& proto) {
  SMFG_RETURN_IF_ERROR(CheckDim(proto.days(), "days"));
  SMFG_RETURN_IF_ERROR(CheckDim(proto.buses(), "buses"));
  env::PriceBelief b;
  b.days = proto.days();
  b.buses = proto.buses();
  SMFG_RETURN_IF_ERROR(CopyIn(proto.lmp_per_mwh(),
                              static_cast<long long>(b.days) * env::kHoursPerDay * b.buses,
                              "lmp_per_mwh", &b.lmp_per_mwh));
  return b;
}

v1::WirePopulationStats StatsToProto(const env::PopulationStats& s) {
  v1::WirePopulationStats out;
  out.set_days(s.days);
  out.set_buses(s.buses);
  out.set_groups(s.groups);
  out.set_classes(s.classes);
  CopyOut(s.net_load_kw, out.mutable_net_load_kw());
  CopyOut(s.group_wear_usd, out.mutable_group_wear_usd());
  CopyOut(s.group_import_kwh, out.mutable_group_import_kwh());
  CopyOut(s.group_export_kwh, out.mutable_group_export_kwh());
  CopyOut(s.group_bill_by_day, out.mutable_group_bill_by_day());
  CopyOut(s.group_households, out.mutable_group_households());
  CopyOut(s.group_annual_income_usd, out.mutable_group_annual_income_usd());
  CopyOut(s.import_kwh_bus_hour, out.mutable_import_kwh_bus_hour());
  CopyOut(s.export_kwh_bus_hour, out.mutable_export_kwh_bus_hour());
  CopyOut(s.behaviour, out.mutable_behaviour());
  CopyOut(s.class_der_household_days, out.mutable_class_der_household_days());
  out.set_household_days(s.household_days);
  out.set_battery_household_days(s.battery_household_days);
  out.set_policy_iterations(s.policy_iterations);
  out.set_unconverged_household_days(s.unconverged_household_days);
  out.set_nonunique_distribution_household_days(s.nonunique_distribution_household_days);
  return out;
}

absl::StatusOr<env::PopulationStats> StatsFromProto(const v1::WirePopulationStats& p,
                                                    const StatsShape* expected) {
  SMFG_RETURN_IF_ERROR(CheckDim(p.days(), "days"));
  SMFG_RETURN_IF_ERROR(CheckDim(p.buses(), "buses"));
  SMFG_RETURN_IF_ERROR(CheckDim(p.groups(), "groups"));
  SMFG_RETURN_IF_ERROR(CheckDim(p.classes(), "classes"));
  const StatsShape shape{p.days(), p.buses(), p.groups(), p.classes()};
  if (expected != nullptr && !(shape == *expected)) {
    return Invalid("days/buses/groups/classes",
                   absl::StrCat(shape.days, "/", shape.buses, "/", shape.groups, "/", shape.classes,
                                ", expected ", expected->days, "/", expected->buses, "/",
                                expected->groups, "/", expected->classes));
  }
  env::PopulationStats s;
  s.days = shape.days;
  s.buses = shape.buses;
  s.groups = shape.groups;
  s.classes = shape.classes;
  const long long days = s.days, buses = s.buses, groups = s.groups, classes = s.classes;
  const long long hours = env::kHoursPerDay;
  SMFG_RETURN_IF_ERROR(
      CopyIn(p.net_load_kw(), days * hours * buses, "net_load_kw", &s.net_load_kw));
  SMFG_RETURN_IF_ERROR(CopyIn(p.group_wear_usd(), groups, "group_wear_usd", &s.group_wear_usd));
  SMFG_RETURN_IF_ERROR(
      CopyIn(p.group_import_kwh(), groups, "group_import_kwh", &s.group_import_kwh));
  SMFG_RETURN_IF_ERROR(
      CopyIn(p.group_export_kwh(), groups, "group_export_kwh", &s.group_export_kwh));
  SMFG_RETURN_IF_ERROR(
      CopyIn(p.group_bill_by_day(), days * groups, "group_bill_by_day", &s.group_bill_by_day));
  SMFG_RETURN_IF_ERROR(
      CopyIn(p.group_households(), groups, "group_households", &s.group_households));
  SMFG_RETURN_IF_ERROR(CopyIn(p.group_annual_income_usd(), groups, "group_annual_income_usd",
                              &s.group_annual_income_usd));
  SMFG_RETURN_IF_ERROR(CopyIn(p.import_kwh_bus_hour(), buses * hours, "import_kwh_bus_hour",
                              &s.import_kwh_bus_hour));
  SMFG_RETURN_IF_ERROR(CopyIn(p.export_kwh_bus_hour(), buses * hours, "export_kwh_bus_hour",
                              &s.export_kwh_bus_hour));
  SMFG_RETURN_IF_ERROR(CopyIn(p.behaviour(),
                              classes * env::kNumDerTypes * hours * env::kNumBehaviourFields,
                              "behaviour", &s.behaviour));
  SMFG_RETURN_IF_ERROR(CopyIn(p.class_der_household_days(), classes * env::kNumDerTypes,
                              "class_der_household_days", &s.class_der_household_days));
  SMFG_RETURN_IF_ERROR(CheckCount(p.household_days(), "household_days"));
  SMFG_RETURN_IF_ERROR(CheckCount(p.battery_household_days(), "battery_household_days"));
  SMFG_RETURN_IF_ERROR(CheckCount(p.policy_iterations(), "policy_iterations"));
  SMFG_RETURN_IF_ERROR(CheckCount(p.unconverged_household_days(), "unconverged_household_days"));
  SMFG_RETURN_IF_ERROR(CheckCount(p.nonunique_distribution_household_days(),
                                  "nonunique_distribution_household_days"));
  s.household_days = p.household_days();
  s.battery_household_days = p.battery_household_days();
  s.policy_iterations = p.policy_iterations();
  s.unconverged_household_days = p.unconverged_household_days();
  s.nonunique_distribution_household_days = p.nonunique_distribution_household_days();
  return s;
}

v1::WireExploitabilityStats ExploitabilityToProto(const env::ExploitabilityStats& s) {
  v1::WireExploitabilityStats out;
  out.set_household_days(s.household_days);
  out.set_sum_regularised(s.sum_regularised);
  out.set_max_regularised(s.max_regularised);
  out.set_sum_plain(s.sum_plain);
  out.set_max_plain(s.max_plain);
  return out;
}

absl::StatusOr<env::ExploitabilityStats> ExploitabilityFromProto(
    const v1::WireExploitabilityStats& p) {
  SMFG_RETURN_IF_ERROR(CheckCount(p.household_days(), "household_days"));
  SMFG_RETURN_IF_ERROR(CheckFinite(p.sum_regularised(), "sum_regularised"));
  SMFG_RETURN_IF_ERROR(CheckFinite(p.max_regularised(), "max_regularised"));
  SMFG_RETURN_IF_ERROR(CheckFinite(p.sum_plain(), "sum_plain"));
  SMFG_RETURN_IF_ERROR(CheckFinite(p.max_plain(), "max_plain"));
  env::ExploitabilityStats s;
  s.household_days = p.household_days();
  s.sum_regularised = p.sum_regularised();
  s.max_regularised = p.max_regularised();
  s.sum_plain = p.sum_plain();
  s.max_plain = p.max_plain();
  return s;
}

v1::FollowerPolicyParameters PolicyToProto(const followers::PolicyVersion& policy) {
  v1::FollowerPolicyParameters p;
  p.set_version(policy.version);
  if (policy.values != nullptr) CopyOut(*policy.values, p.mutable_values());
  return p;
}

absl::StatusOr<followers::PolicyVersion> PolicyFromProto(const v1::FollowerPolicyParameters& p,
                                                         long long expected_size) {
  auto values = std::make_shared<std::vector<double>>();
  SMFG_RETURN_IF_ERROR(CopyIn(p.values(), expected_size, "values", values.get()));
  return followers::PolicyVersion{.version = p.version(), .values = std::move(values)};
}

v1::WireShardGradient GradientToProto(const followers::ShardGradient& g) {
  v1::WireShardGradient p;
  p.set_policy_version(g.policy_version);
  CopyOut(g.gradient, p.mutable_gradient());
  p.set_steps(g.steps);
  p.set_policy_loss_sum(g.policy_loss_sum);
  p.set_value_loss_sum(g.value_loss_sum);
  p.set_approx_kl_sum(g.approx_kl_sum);
  p.set_clipped_steps(g.clipped_steps);
  p.set_mean_daily_reward_usd(g.mean_daily_reward_usd);
  p.set_mean_entropy(g.mean_entropy);
  return p;
}

absl::StatusOr<followers::ShardGradient> GradientFromProto(const v1::WireShardGradient& p,
                                                           long long expected_size) {
  followers::ShardGradient g;
  SMFG_RETURN_IF_ERROR(CopyIn(p.gradient(), expected_size, "gradient", &g.gradient));
  SMFG_RETURN_IF_ERROR(CheckCount(p.steps(), "steps"));
  SMFG_RETURN_IF_ERROR(CheckCount(p.clipped_steps(), "clipped_steps"));
  if (p.clipped_steps() > p.steps()) {
    return Invalid("clipped_steps", absl::StrCat(p.clipped_steps(), " > steps ", p.steps()));
  }
  SMFG_RETURN_IF_ERROR(CheckFinite(p.policy_loss_sum(), "policy_loss_sum"));
  SMFG_RETURN_IF_ERROR(CheckFinite(p.value_loss_sum(), "value_loss_sum"));
  SMFG_RETURN_IF_ERROR(CheckFinite(p.approx_kl_sum(), "approx_kl_sum"));
  SMFG_RETURN_IF_ERROR(CheckFinite(p.mean_daily_reward_usd(), "mean_daily_reward_usd"));
  SMFG_RETURN_IF_ERROR(CheckFinite(p.mean_entropy(), "mean_entropy"));
  g.policy_version = p.policy_version();
  g.steps = p.steps();
  g.policy_loss_sum = p.policy_loss_sum();
  g.value_loss_sum = p.value_loss_sum();
  g.approx_kl_sum = p.approx_kl_sum();
  g.clipped_steps = p.clipped_steps();
  g.mean_daily_reward_usd = p.mean_daily_reward_usd();
  g.mean_entropy = p.mean_entropy();
  return g;
}

absl::Status CheckKernelInputs(const env::Tariff& tariff, const env::PriceBelief& belief,
                               const StatsShape& shape) {
  const bool daily = !tariff.daily_import_rate_per_kwh.empty();
  const auto& rows = daily ? tariff.daily_import_rate_per_kwh : tariff.import_rate_per_kwh;
  const char* field = daily ? "daily_import_rate_per_kwh" : "import_rate_per_kwh";
  if (daily && tariff.daily_rate_rows != 1 && tariff.daily_rate_rows != shape.buses) {
    return Invalid("daily_rate_rows",
                   absl::StrCat("must be 1 or ", shape.buses, ", got ", tariff.daily_rate_rows));
  }
  const size_t want_rows =
      daily ? static_cast<size_t>(shape.days) * static_cast<size_t>(tariff.daily_rate_rows) : 0;
  if (daily ? rows.size() != want_rows
            : (rows.size() != 1 && rows.size() != static_cast<size_t>(shape.buses))) {
    return Invalid(field, absl::StrCat("has ", rows.size(), " rows, expected ",
                                       daily ? absl::StrCat(want_rows, " (daily_rate_rows per day)")
                                             : absl::StrCat("1 or ", shape.buses)));
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].size() != static_cast<size_t>(env::kHoursPerDay)) {
      return Invalid(
          absl::StrCat(field, "[", r, "]"),
          absl::StrCat("has ", rows[r].size(), " entries, expected ", env::kHoursPerDay));
    }
  }
  if (tariff.export_rule == env::ExportRule::kNetBillingLmp &&
      (belief.days != shape.days || belief.buses != shape.buses ||
       belief.lmp_per_mwh.size() !=
           static_cast<size_t>(shape.days) * env::kHoursPerDay * shape.buses)) {
    return Invalid("belief", absl::StrCat(belief.days, " days x ", belief.buses,
                                          " buses, scenario has ", shape.days, " x ", shape.buses));
  }
  return absl::OkStatus();
}

uint64_t ScenarioFingerprint(const v1::Scenario& scenario) { return config::Fingerprint(scenario); }

}  // namespace smfg::workers
