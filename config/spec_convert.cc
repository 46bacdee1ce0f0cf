#include "config/spec_convert.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/status.h"
#include "environment/matpower.h"
#include "environment/network.h"
#include "environment/scenario.h"
#include "google/protobuf/text_format.h"
#include "smfg/v1/spec.pb.h"

namespace smfg::config {
namespace {

// Defaults of the leader-side messages (quoted in spec.proto). The scenario's
// defaults are the env:: struct initialisers and are not repeated here.
constexpr double kDefaultMinImportRatePerKwh = 0.05;
constexpr double kDefaultMaxImportRatePerKwh = 0.60;
constexpr double kDefaultMaxFixedChargePerDay = 2.0;
constexpr double kDefaultWeightEquity = 1.0;
constexpr double kDefaultWeightRevenue = 1.0;
constexpr double kDefaultPolicyLearningRate = 3e-4;
constexpr double kDefaultValueLearningRate = 1e-3;
constexpr double kDefaultClipEpsilon = 0.2;
constexpr double kDefaultGaeLambda = 0.95;
constexpr double kDefaultLeaderDiscount = 0.99;
constexpr double kDefaultEntropyCoefficient = 0.01;
constexpr double kDefaultValueCoefficient = 0.5;
constexpr int kDefaultEpochs = 10;
constexpr int kDefaultMinibatchSize = 8;
constexpr double kDefaultTargetKl = 0.02;
constexpr double kDefaultMaxGradNorm = 0.5;
constexpr int kDefaultHiddenSizes[] = {64, 64};
constexpr int kDefaultBlockStartHours[] = {0, 7, 17, 21};
constexpr int kDefaultSmoothHarmonics = 2;
constexpr double kDefaultCostRecoveryTolerance = 0.01;
constexpr int kDefaultReferenceEvaluations = 120;
constexpr double kDefaultReferenceTolerance = 1e-3;
constexpr double kDefaultInitialActionStd = 0.5;
constexpr double kDefaultFinalLearningRateFraction = 0.1;
constexpr double kDefaultFinalActionStd = 0.05;
constexpr int kDefaultOuterMaxIterations = 200;
constexpr double kDefaultObjectiveTolerance = 1e-4;
constexpr double kDefaultMeanFieldTolerancePerMwh = 1e-3;
constexpr int kDefaultPatienceIterations = 3;
constexpr int kDefaultCheckpointEvery = 10;

// Spec names of env's der_share[] entries, indexed by env::DerType.
constexpr const char* kDerShareNames[env::kNumDerTypes] = {"consumer", "solar", "solar_battery"};

absl::Status Error(absl::string_view path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

absl::StatusOr<env::Distribution> ToDistribution(const v1::Distribution& d,
                                                 const std::string& path) {
  env::Distribution out;
  switch (d.kind()) {
    case v1::Distribution::KIND_UNSPECIFIED:
    case v1::Distribution::CONSTANT:
      out.kind = env::Distribution::Kind::kConstant;
      break;
    case v1::Distribution::UNIFORM:
      out.kind = env::Distribution::Kind::kUniform;
      break;
    case v1::Distribution::NORMAL:
      out.kind = env::Distribution::Kind::kNormal;
      break;
    case v1::Distribution::LOGNORMAL:
      out.kind = env::Distribution::Kind::kLogNormal;
      break;
    default:
      // Proto3 enums are open: JSON and text accept a bare number.
      return Error(path + ".kind",
                   absl::StrCat("unknown distribution kind ", static_cast<int>(d.kind()),
                                " (expected CONSTANT, UNIFORM, NORMAL or LOGNORMAL)"));
  }
  out.a = d.a();
  out.b = d.b();
  out.min_value = d.min_value();
  if (d.has_max_value()) out.max_value = d.max_value();
  return out;
}

v1::Distribution FromDistribution(const env::Distribution& d) {
  v1::Distribution out;
  switch (d.kind) {
    case env::Distribution::Kind::kConstant:
      out.set_kind(v1::Distribution::CONSTANT);
      break;
    case env::Distribution::Kind::kUniform:
      out.set_kind(v1::Distribution::UNIFORM);
      break;
    case env::Distribution::Kind::kNormal:
      out.set_kind(v1::Distribution::NORMAL);
      break;
    case env::Distribution::Kind::kLogNormal:
      out.set_kind(v1::Distribution::LOGNORMAL);
      break;
  }
  out.set_a(d.a);
  out.set_b(d.b);
  out.set_min_value(d.min_value);
  // The unbounded default reads better absent than as 1e+300.
  if (d.max_value != env::Distribution{}.max_value) out.set_max_value(d.max_value);
  return out;
}

env::Network ToNetwork(const v1::Network& n) {
  env::Network out;
  if (n.has_base_mva()) out.base_mva = n.base_mva();
  if (n.has_value_of_lost_load_per_mwh()) {
    out.value_of_lost_load_per_mwh = n.value_of_lost_load_per_mwh();
  }
  for (const v1::Bus& b : n.buses()) out.buses.push_back(env::Bus{b.name()});
  for (const v1::Line& l : n.lines()) {
    env::Line line;
    line.name = l.name();
    line.from_bus = l.from_bus();
    line.to_bus = l.to_bus();
    if (l.has_reactance_pu()) line.reactance_pu = l.reactance_pu();
    if (l.has_limit_mw()) line.limit_mw = l.limit_mw();
    out.lines.push_back(std::move(line));
  }
  for (const v1::Generator& g : n.generators()) {
    env::Generator gen;
    gen.name = g.name();
    gen.bus = g.bus();
    gen.pmin_mw = g.pmin_mw();
    gen.pmax_mw = g.pmax_mw();
    gen.cost_quadratic = g.cost_quadratic();
    gen.cost_linear = g.cost_linear();
    gen.cost_fixed = g.cost_fixed();
    gen.renewable = g.renewable();
    gen.hourly_availability.assign(g.hourly_availability().begin(), g.hourly_availability().end());
    out.generators.push_back(std::move(gen));
  }
  return out;
}

v1::Network FromNetwork(const env::Network& n) {
  v1::Network out;
  out.set_base_mva(n.base_mva);
  out.set_value_of_lost_load_per_mwh(n.value_of_lost_load_per_mwh);
  for (const env::Bus& b : n.buses) out.add_buses()->set_name(b.name);
  for (const env::Line& l : n.lines) {
    v1::Line* line = out.add_lines();
    line->set_name(l.name);
    line->set_from_bus(l.from_bus);
    line->set_to_bus(l.to_bus);
    line->set_reactance_pu(l.reactance_pu);
    if (l.limit_mw != env::Line{}.limit_mw) line->set_limit_mw(l.limit_mw);
  }
  for (const env::Generator& g : n.generators) {
    v1::Generator* gen = out.add_generators();
    gen->set_name(g.name);
    gen->set_bus(g.bus);
    gen->set_pmin_mw(g.pmin_mw);
    gen->set_pmax_mw(g.pmax_mw);
    gen->set_cost_quadratic(g.cost_quadratic);
    gen->set_cost_linear(g.cost_linear);
    gen->set_cost_fixed(g.cost_fixed);
    gen->set_renewable(g.renewable);
    for (double a : g.hourly_availability) gen->add_hourly_availability(a);
  }
  return out;
}

absl::StatusOr<env::HouseholdClass> ToClass(const v1::HouseholdClass& c, size_t index,
                                            const std::vector<std::string>& groups,
                                            size_t num_buses) {
  const std::string p = absl::StrCat("scenario.classes[", index, "]");
  env::HouseholdClass out;
  out.name = c.name();
  out.income_group = -1;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (groups[g] == c.income_group()) out.income_group = static_cast<int>(g);
  }
  if (out.income_group < 0) {
    return Error(p + ".income_group",
                 absl::StrCat("unknown income group '", c.income_group(),
                              "'; scenario.income_groups is [", absl::StrJoin(groups, ", "), "]"));
  }
  out.households_per_bus.assign(c.households_per_bus().begin(), c.households_per_bus().end());
  // One count for every bus keeps large (MATPOWER) networks writable.
  if (out.households_per_bus.size() == 1 && num_buses > 1) {
    out.households_per_bus.assign(num_buses, out.households_per_bus[0]);
  }
  if (c.has_der_share()) {
    out.der_share[static_cast<int>(env::DerType::kConsumer)] = c.der_share().consumer();
    out.der_share[static_cast<int>(env::DerType::kSolar)] = c.der_share().solar();
    out.der_share[static_cast<int>(env::DerType::kSolarBattery)] = c.der_share().solar_battery();
  }
  const struct {
    const char* field;
    const v1::Distribution& from;
    env::Distribution* to;
  } distributions[] = {
      {"annual_income_usd", c.annual_income_usd(), &out.annual_income_usd},
      {"daily_demand_kwh", c.daily_demand_kwh(), &out.daily_demand_kwh},
      {"pv_kw", c.pv_kw(), &out.pv_kw},
      {"battery_kwh", c.battery_kwh(), &out.battery_kwh},
      {"battery_kw", c.battery_kw(), &out.battery_kw},
      {"charge_efficiency", c.charge_efficiency(), &out.charge_efficiency},
      {"discharge_efficiency", c.discharge_efficiency(), &out.discharge_efficiency},
  };
  for (const auto& d : distributions) {
    SMFG_ASSIGN_OR_RETURN(*d.to, ToDistribution(d.from, absl::StrCat(p, ".", d.field)));
  }
  return out;
}

void FillShape(const google::protobuf::RepeatedField<double>& from,
               const std::array<double, env::kHoursPerDay>& fallback, std::vector<double>* to) {
  if (from.empty()) {
    to->assign(fallback.begin(), fallback.end());
  } else {
    to->assign(from.begin(), from.end());
  }
}

env::ProfileParams ToProfiles(const v1::ProfileParams& p) {
  env::ProfileParams out;
  FillShape(p.demand_shape(), kDefaultResidentialShape, &out.demand_shape);
  FillShape(p.exogenous_shape(), kDefaultCommercialShape, &out.exogenous_shape);
  if (p.has_sunrise_hour()) out.sunrise_hour = p.sunrise_hour();
  if (p.has_sunset_hour()) out.sunset_hour = p.sunset_hour();
  if (p.has_pv_clear_sky_kwh_per_kw_day()) {
    out.pv_clear_sky_kwh_per_kw_day = p.pv_clear_sky_kwh_per_kw_day();
  }
  if (p.has_pv_system_efficiency()) out.pv_system_efficiency = p.pv_system_efficiency();
  if (p.has_min_clearness()) out.min_clearness = p.min_clearness();
  if (p.has_seasonal_peak_day()) out.seasonal_peak_day = p.seasonal_peak_day();
  if (p.has_seasonal_demand_amplitude()) {
    out.seasonal_demand_amplitude = p.seasonal_demand_amplitude();
  }
  if (p.has_daily_demand_noise()) out.daily_demand_noise = p.daily_demand_noise();
  if (p.has_household_demand_noise()) {
    out.household_demand_noise = p.household_demand_noise();
  }
  return out;
}

env::FollowerParams::Ppo ToFollowerPpo(const v1::FollowerPpoParams& p) {
  env::FollowerParams::Ppo out;
  // Empty means the default widths, as for learner.hidden_sizes.
  if (!p.hidden_sizes().empty()) {
    out.hidden_sizes.assign(p.hidden_sizes().begin(), p.hidden_sizes().end());
  }
  if (p.has_learning_rate()) out.learning_rate = p.learning_rate();
  if (p.has_phases_per_solve()) out.phases_per_solve = p.phases_per_solve();
  if (p.has_phases_per_warm_solve()) out.phases_per_warm_solve = p.phases_per_warm_solve();
  if (p.has_epochs_per_phase()) out.epochs_per_phase = p.epochs_per_phase();
  if (p.has_episodes_per_household_day()) {
    out.episodes_per_household_day = p.episodes_per_household_day();
  }
  if (p.has_episode_days()) out.episode_days = p.episode_days();
  if (p.has_clip()) out.clip = p.clip();
  if (p.has_gae_lambda()) out.gae_lambda = p.gae_lambda();
  if (p.has_value_coef()) out.value_coef = p.value_coef();
  return out;
}

absl::StatusOr<env::FollowerParams> ToFollower(const v1::FollowerParams& f) {
  env::FollowerParams out;
  if (f.has_temperature_usd()) out.temperature_usd = f.temperature_usd();
  if (f.has_discount_per_hour()) out.discount_per_hour = f.discount_per_hour();
  if (f.has_soc_levels()) out.soc_levels = f.soc_levels();
  if (f.has_max_soc_steps_per_hour()) {
    out.max_soc_steps_per_hour = f.max_soc_steps_per_hour();
  }
  if (f.has_battery_wear_usd_per_kwh()) {
    out.battery_wear_usd_per_kwh = f.battery_wear_usd_per_kwh();
  }
  out.myopic = f.myopic();
  switch (f.learner()) {
    case v1::FOLLOWER_LEARNER_UNSPECIFIED:
    case v1::FOLLOWER_LEARNER_EXACT:
      out.learner = env::FollowerParams::Learner::kExact;
      break;
    case v1::FOLLOWER_LEARNER_PPO:
      out.learner = env::FollowerParams::Learner::kPpo;
      break;
    default:
      // Proto3 enums are open: JSON and text accept a bare number.
      return Error("scenario.follower.learner",
                   absl::StrCat("unknown follower learner ", static_cast<int>(f.learner()),
                                " (expected FOLLOWER_LEARNER_EXACT or FOLLOWER_LEARNER_PPO)"));
  }
  if (f.has_ppo() && out.learner != env::FollowerParams::Learner::kPpo) {
    return Error("scenario.follower.ppo", "set but follower.learner is not FOLLOWER_LEARNER_PPO");
  }
  out.ppo = ToFollowerPpo(f.ppo());
  return out;
}

env::InnerLoopParams ToInner(const v1::InnerLoopParams& in) {
  env::InnerLoopParams out;
  if (in.has_damping()) out.damping = in.damping();
  if (in.has_tolerance_per_mwh()) out.tolerance_per_mwh = in.tolerance_per_mwh();
  if (in.has_max_iterations()) out.max_iterations = in.max_iterations();
  if (in.has_anderson_memory()) out.anderson_memory = in.anderson_memory();
  if (in.has_stall_iterations()) out.stall_iterations = in.stall_iterations();
  return out;
}

bool IsPathStart(char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_'; }

bool IsPathChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '[' ||
         c == ']';
}

// Rewrites env "der_share[1]" components (an array in env, a message in the
// spec) to "der_share.solar".
std::string RenameDerShare(absl::string_view path) {
  std::string out(path);
  for (int t = 0; t < env::kNumDerTypes; ++t) {
    const std::string from = absl::StrCat("der_share[", t, "]");
    const size_t pos = out.find(from);
    if (pos != std::string::npos) {
      out.replace(pos, from.size(), absl::StrCat("der_share.", kDerShareNames[t]));
    }
  }
  return out;
}

}  // namespace

bool SplitFieldPath(absl::string_view message, absl::string_view* path, absl::string_view* rest) {
  const size_t colon = message.find(": ");
  if (colon == absl::string_view::npos || colon == 0 || !IsPathStart(message[0])) {
    return false;
  }
  for (size_t i = 0; i < colon; ++i) {
    if (!IsPathChar(message[i])) return false;
  }
  *path = message.substr(0, colon);
  *rest = message.substr(colon + 2);
  return true;
}

absl::Status ScenarioErrorInSpec(const absl::Status& error, const v1::ExperimentSpec& spec) {
  if (error.ok()) return error;
  absl::string_view path, rest;
  if (!SplitFieldPath(error.message(), &path, &rest)) {
    return Annotate(error, "scenario");
  }
  if (spec.scenario().network_source_case() == v1::Scenario::kMatpowerFile &&
      (path == "network" || absl::StartsWith(path, "network."))) {
    return Annotate(error,
                    absl::StrCat("scenario.matpower_file: ", spec.scenario().matpower_file()));
  }
  return absl::Status(error.code(), absl::StrCat("scenario.", RenameDerShare(path), ": ", rest));
}

absl::Status TariffErrorInFile(const absl::Status& error, const v1::TariffFile& file) {
  if (error.ok()) return error;
  absl::string_view path, rest;
  if (!SplitFieldPath(error.message(), &path, &rest)) return error;
  constexpr absl::string_view kRates = "import_rate_per_kwh";
  if (!absl::StartsWith(path, kRates)) return error;
  // path is import_rate_per_kwh, import_rate_per_kwh[b] or import_rate_per_kwh[b][h].
  absl::string_view tail = path.substr(kRates.size());
  std::string bus_part, hour_part;
  if (!tail.empty() && tail[0] == '[') {
    const size_t close = tail.find(']');
    bus_part = std::string(tail.substr(0, close + 1));
    hour_part = std::string(tail.substr(close + 1));
  }
  std::string mapped;
  if (file.per_bus_size() > 0) {
    mapped =
        bus_part.empty() ? "per_bus" : absl::StrCat("per_bus", bus_part, ".", kRates, hour_part);
  } else {
    // Every row is the same uniform list, so only the hour matters.
    mapped = absl::StrCat(kRates, hour_part);
  }
  return absl::Status(error.code(), absl::StrCat(mapped, ": ", rest));
}

absl::StatusOr<ConvertedScenario> ConvertScenario(const v1::ExperimentSpec& spec,
                                                  absl::string_view spec_dir,
                                                  const ConvertOptions& options) {
  const v1::Scenario& s = spec.scenario();
  ConvertedScenario result;
  env::Scenario& out = result.scenario;
  out.name = s.name().empty() ? spec.name() : s.name();
  out.exogenous_mean_mw.assign(s.exogenous_mean_mw().begin(), s.exogenous_mean_mw().end());
  switch (s.network_source_case()) {
    case v1::Scenario::kNetwork:
      out.network = ToNetwork(s.network());
      break;
    case v1::Scenario::kMatpowerFile: {
      if (s.matpower_file().empty()) {
        return Error("scenario.matpower_file", "must not be empty");
      }
      if (!options.read_files) {
        return Error("scenario.matpower_file",
                     "files are not read here: the spec must carry its network inline");
      }
      result.matpower_path = JoinPath(spec_dir, s.matpower_file());
      absl::StatusOr<env::MatpowerCase> matpower = env::LoadMatpowerFile(result.matpower_path);
      if (!matpower.ok()) return Annotate(matpower.status(), "scenario.matpower_file");
      out.network = std::move(matpower->network);
      if (out.exogenous_mean_mw.empty()) {
        out.exogenous_mean_mw = std::move(matpower->bus_load_mw);
      }
      break;
    }
    case v1::Scenario::NETWORK_SOURCE_NOT_SET:
      return Error("scenario", "one of network or matpower_file must be set");
  }
  out.income_groups.assign(s.income_groups().begin(), s.income_groups().end());
  for (int i = 0; i < s.classes_size(); ++i) {
    SMFG_ASSIGN_OR_RETURN(env::HouseholdClass c,
                          ToClass(s.classes(i), i, out.income_groups, out.network.buses.size()));
    out.classes.push_back(std::move(c));
  }
  if (s.has_households_represented()) {
    out.households_represented = s.households_represented();
  }
  if (s.has_days()) out.days = s.days();
  out.first_day_of_year = s.first_day_of_year();
  if (s.has_seed()) out.seed = s.seed();
  if (s.has_shards()) out.shards = s.shards();
  out.profiles = ToProfiles(s.profiles());
  SMFG_ASSIGN_OR_RETURN(out.follower, ToFollower(s.follower()));
  out.inner = ToInner(s.inner());
  out.utility_fixed_cost_per_day = s.utility_fixed_cost_per_day();
  return result;
}

absl::StatusOr<env::Scenario> ToScenario(const v1::ExperimentSpec& spec,
                                         absl::string_view spec_dir) {
  SMFG_ASSIGN_OR_RETURN(ConvertedScenario converted, ConvertScenario(spec, spec_dir));
  return std::move(converted.scenario);
}

v1::ExperimentSpec FromScenario(const env::Scenario& scenario) {
  v1::ExperimentSpec spec;
  spec.set_name(scenario.name);
  v1::Scenario* s = spec.mutable_scenario();
  s->set_name(scenario.name);
  *s->mutable_network() = FromNetwork(scenario.network);
  for (double mw : scenario.exogenous_mean_mw) s->add_exogenous_mean_mw(mw);
  for (const std::string& g : scenario.income_groups) s->add_income_groups(g);
  for (const env::HouseholdClass& c : scenario.classes) {
    v1::HouseholdClass* out = s->add_classes();
    out->set_name(c.name);
    if (c.income_group >= 0 && c.income_group < static_cast<int>(scenario.income_groups.size())) {
      out->set_income_group(scenario.income_groups[c.income_group]);
    }
    for (int n : c.households_per_bus) out->add_households_per_bus(n);
    *out->mutable_annual_income_usd() = FromDistribution(c.annual_income_usd);
    *out->mutable_daily_demand_kwh() = FromDistribution(c.daily_demand_kwh);
    v1::DerShare* share = out->mutable_der_share();
    share->set_consumer(c.der_share[static_cast<int>(env::DerType::kConsumer)]);
    share->set_solar(c.der_share[static_cast<int>(env::DerType::kSolar)]);
    share->set_solar_battery(c.der_share[static_cast<int>(env::DerType::kSolarBattery)]);
    *out->mutable_pv_kw() = FromDistribution(c.pv_kw);
    *out->mutable_battery_kwh() = FromDistribution(c.battery_kwh);
    *out->mutable_battery_kw() = FromDistribution(c.battery_kw);
    *out->mutable_charge_efficiency() = FromDistribution(c.charge_efficiency);
    *out->mutable_discharge_efficiency() = FromDistribution(c.discharge_efficiency);
  }
  s->set_households_represented(scenario.households_represented);
  s->set_days(scenario.days);
  s->set_first_day_of_year(scenario.first_day_of_year);
  s->set_seed(scenario.seed);
  s->set_shards(scenario.shards);

  const env::ProfileParams& p = scenario.profiles;
  v1::ProfileParams* profiles = s->mutable_profiles();
  for (double v : p.demand_shape) profiles->add_demand_shape(v);
  for (double v : p.exogenous_shape) profiles->add_exogenous_shape(v);
  profiles->set_sunrise_hour(p.sunrise_hour);
  profiles->set_sunset_hour(p.sunset_hour);
  profiles->set_pv_clear_sky_kwh_per_kw_day(p.pv_clear_sky_kwh_per_kw_day);
  profiles->set_pv_system_efficiency(p.pv_system_efficiency);
  profiles->set_min_clearness(p.min_clearness);
  profiles->set_seasonal_demand_amplitude(p.seasonal_demand_amplitude);
  profiles->set_seasonal_peak_day(p.seasonal_peak_day);
  profiles->set_daily_demand_noise(p.daily_demand_noise);
  profiles->set_household_demand_noise(p.household_demand_noise);

  const env::FollowerParams& f = scenario.follower;
  v1::FollowerParams* follower = s->mutable_follower();
  follower->set_temperature_usd(f.temperature_usd);
  follower->set_discount_per_hour(f.discount_per_hour);
  follower->set_soc_levels(f.soc_levels);
  follower->set_max_soc_steps_per_hour(f.max_soc_steps_per_hour);
  follower->set_battery_wear_usd_per_kwh(f.battery_wear_usd_per_kwh);
  follower->set_myopic(f.myopic);
  // Written only for PPO, so that the effective spec (and fingerprint) of a
  // spec with exact followers is what it was before followers could learn.
  if (f.learner == env::FollowerParams::Learner::kPpo) {
    follower->set_learner(v1::FOLLOWER_LEARNER_PPO);
    v1::FollowerPpoParams* ppo = follower->mutable_ppo();
    for (int width : f.ppo.hidden_sizes) ppo->add_hidden_sizes(width);
    ppo->set_learning_rate(f.ppo.learning_rate);
    ppo->set_phases_per_solve(f.ppo.phases_per_solve);
    ppo->set_phases_per_warm_solve(f.ppo.phases_per_warm_solve);
    ppo->set_epochs_per_phase(f.ppo.epochs_per_phase);
    ppo->set_episodes_per_household_day(f.ppo.episodes_per_household_day);
    ppo->set_episode_days(f.ppo.episode_days);
    ppo->set_clip(f.ppo.clip);
    ppo->set_gae_lambda(f.ppo.gae_lambda);
    ppo->set_value_coef(f.ppo.value_coef);
  }

  v1::InnerLoopParams* inner = s->mutable_inner();
  inner->set_damping(scenario.inner.damping);
  inner->set_tolerance_per_mwh(scenario.inner.tolerance_per_mwh);
  inner->set_max_iterations(scenario.inner.max_iterations);
  inner->set_anderson_memory(scenario.inner.anderson_memory);
  inner->set_stall_iterations(scenario.inner.stall_iterations);

  s->set_utility_fixed_cost_per_day(scenario.utility_fixed_cost_per_day);
  return spec;
}

v1::ExperimentSpec WithDefaults(const v1::ExperimentSpec& spec) {
  v1::ExperimentSpec out = spec;

  v1::TariffStructure* t = out.mutable_tariff();
  if (t->rate_structure() == v1::TariffStructure::RATE_STRUCTURE_UNSPECIFIED) {
    t->set_rate_structure(v1::TariffStructure::UNIFORM);
  }
  if (!t->has_min_import_rate_per_kwh()) {
    t->set_min_import_rate_per_kwh(kDefaultMinImportRatePerKwh);
  }
  if (!t->has_max_import_rate_per_kwh()) {
    t->set_max_import_rate_per_kwh(kDefaultMaxImportRatePerKwh);
  }
  if (!t->has_max_fixed_charge_per_day()) {
    t->set_max_fixed_charge_per_day(kDefaultMaxFixedChargePerDay);
  }
  if (t->export_rule() == v1::EXPORT_RULE_UNSPECIFIED) {
    t->set_export_rule(v1::EXPORT_RULE_NET_BILLING_LMP);
  }
  if (t->family() == v1::TariffStructure::FAMILY_UNSPECIFIED) {
    t->set_family(v1::TariffStructure::SMOOTH);
  }
  if (t->family() == v1::TariffStructure::BLOCKS && t->block_start_hours().empty()) {
    for (int h : kDefaultBlockStartHours) t->add_block_start_hours(h);
  }
  if (!t->has_smooth_harmonics()) t->set_smooth_harmonics(kDefaultSmoothHarmonics);
  if (t->cost_recovery() == v1::TariffStructure::COST_RECOVERY_UNSPECIFIED) {
    t->set_cost_recovery(v1::TariffStructure::PENALTY);
  }
  if (!t->has_cost_recovery_tolerance()) {
    t->set_cost_recovery_tolerance(kDefaultCostRecoveryTolerance);
  }

  v1::LeaderObjective* o = out.mutable_objective();
  if (!o->has_w_equity()) o->set_w_equity(kDefaultWeightEquity);
  if (!o->has_w_revenue()) o->set_w_revenue(kDefaultWeightRevenue);
  if (o->spread_measure() == v1::LeaderObjective::SPREAD_MEASURE_UNSPECIFIED) {
    o->set_spread_measure(v1::LeaderObjective::MAX_MIN);
  }

  v1::LeaderLearner* l = out.mutable_learner();
  if (!l->has_policy_learning_rate()) {
    l->set_policy_learning_rate(kDefaultPolicyLearningRate);
  }
  if (!l->has_value_learning_rate()) {
    l->set_value_learning_rate(kDefaultValueLearningRate);
  }
  if (!l->has_clip_epsilon()) l->set_clip_epsilon(kDefaultClipEpsilon);
  if (!l->has_gae_lambda()) l->set_gae_lambda(kDefaultGaeLambda);
  if (!l->has_discount()) l->set_discount(kDefaultLeaderDiscount);
  if (!l->has_entropy_coefficient()) {
    l->set_entropy_coefficient(kDefaultEntropyCoefficient);
  }
  if (!l->has_value_coefficient()) l->set_value_coefficient(kDefaultValueCoefficient);
  if (!l->has_epochs()) l->set_epochs(kDefaultEpochs);
  if (!l->has_minibatch_size()) l->set_minibatch_size(kDefaultMinibatchSize);
  if (!l->has_target_kl()) l->set_target_kl(kDefaultTargetKl);
  if (!l->has_max_grad_norm()) l->set_max_grad_norm(kDefaultMaxGradNorm);
  if (l->hidden_sizes().empty()) {
    for (int width : kDefaultHiddenSizes) l->add_hidden_sizes(width);
  }
  if (!l->has_initial_action_std()) l->set_initial_action_std(kDefaultInitialActionStd);
  if (!l->has_final_learning_rate_fraction()) {
    l->set_final_learning_rate_fraction(kDefaultFinalLearningRateFraction);
  }
  if (!l->has_final_action_std()) {
    l->set_final_action_std(std::min(kDefaultFinalActionStd, l->initial_action_std()));
  }

  if (l->action_bounds() == v1::LeaderLearner::ACTION_BOUNDS_UNSPECIFIED) {
    l->set_action_bounds(v1::LeaderLearner::CLIP);
  }

  v1::OuterLoop* loop = out.mutable_loop();
  if (!loop->has_max_iterations()) loop->set_max_iterations(kDefaultOuterMaxIterations);
  if (!l->has_schedule_updates()) l->set_schedule_updates(loop->max_iterations());
  if (!loop->has_objective_tolerance()) {
    loop->set_objective_tolerance(kDefaultObjectiveTolerance);
  }
  if (!loop->has_mean_field_tolerance_per_mwh()) {
    loop->set_mean_field_tolerance_per_mwh(kDefaultMeanFieldTolerancePerMwh);
  }
  if (!loop->has_patience_iterations()) {
    loop->set_patience_iterations(kDefaultPatienceIterations);
  }
  if (!loop->has_checkpoint_every()) loop->set_checkpoint_every(kDefaultCheckpointEvery);
  if (loop->mode() == v1::OuterLoop::MODE_UNSPECIFIED) loop->set_mode(v1::OuterLoop::NESTED);
  v1::ReferenceOptimizer* reference = out.mutable_reference();
  if (!reference->has_max_evaluations()) {
    reference->set_max_evaluations(kDefaultReferenceEvaluations);
  }
  if (!reference->has_relative_tolerance()) {
    reference->set_relative_tolerance(kDefaultReferenceTolerance);
  }
  return out;
}

v1::ExperimentSpec EffectiveSpec(const v1::ExperimentSpec& spec, const env::Scenario& scenario) {
  v1::ExperimentSpec out = WithDefaults(spec);
  *out.mutable_scenario() = FromScenario(scenario).scenario();
  if (!spec.learner().has_rollout_days_per_update()) {
    out.mutable_learner()->set_rollout_days_per_update(scenario.days);
  }
  return out;
}

std::string EffectiveSpecText(const v1::ExperimentSpec& spec, const env::Scenario& scenario) {
  std::string text;
  // Printing a message to a string cannot fail.
  (void)google::protobuf::TextFormat::PrintToString(EffectiveSpec(spec, scenario), &text);
  return absl::StrCat(
      "# proto-file: proto/smfg/v1/spec.proto\n", "# proto-message: smfg.v1.ExperimentSpec\n",
      "# Effective spec of experiment '", spec.name(), "': every default written out.\n\n", text);
}

absl::StatusOr<env::ExportRule> ToExportRule(v1::ExportRule rule) {
  switch (rule) {
    case v1::EXPORT_RULE_UNSPECIFIED:
    case v1::EXPORT_RULE_NET_BILLING_LMP:
      return env::ExportRule::kNetBillingLmp;
    case v1::EXPORT_RULE_NET_METERING:
      return env::ExportRule::kNetMetering;
    case v1::EXPORT_RULE_FIXED:
      return env::ExportRule::kFixed;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown export rule ", static_cast<int>(rule),
                       " (expected EXPORT_RULE_NET_BILLING_LMP, EXPORT_RULE_NET_METERING or "
                       "EXPORT_RULE_FIXED)"));
  }
}

v1::ExportRule FromExportRule(env::ExportRule rule) {
  switch (rule) {
    case env::ExportRule::kNetBillingLmp:
      return v1::EXPORT_RULE_NET_BILLING_LMP;
    case env::ExportRule::kNetMetering:
      return v1::EXPORT_RULE_NET_METERING;
    case env::ExportRule::kFixed:
      return v1::EXPORT_RULE_FIXED;
  }
  return v1::EXPORT_RULE_UNSPECIFIED;
}

absl::StatusOr<env::Tariff> ToTariff(const v1::TariffFile& file, const env::Scenario& scenario) {
  const size_t num_buses = scenario.network.buses.size();
  const bool uniform = file.import_rate_per_kwh_size() > 0;
  const bool per_bus = file.per_bus_size() > 0;
  if (uniform && per_bus) {
    return Error("per_bus",
                 "must be empty when import_rate_per_kwh is set; set exactly "
                 "one of the two");
  }
  if (!uniform && !per_bus) {
    return Error("import_rate_per_kwh",
                 "one of import_rate_per_kwh (24 rates for every bus) or per_bus must "
                 "be set");
  }
  env::Tariff out;
  if (uniform) {
    // A single row is env::Tariff's uniform form.
    out.import_rate_per_kwh.emplace_back(file.import_rate_per_kwh().begin(),
                                         file.import_rate_per_kwh().end());
  } else {
    for (int b = 0; b < file.per_bus_size(); ++b) {
      const v1::BusRates& rates = file.per_bus(b);
      if (!rates.bus().empty() && static_cast<size_t>(b) < num_buses &&
          rates.bus() != scenario.network.buses[b].name) {
        return Error(absl::StrCat("per_bus[", b, "].bus"),
                     absl::StrCat("is '", rates.bus(), "' but bus ", b, " of the network is '",
                                  scenario.network.buses[b].name, "'"));
      }
      out.import_rate_per_kwh.emplace_back(rates.import_rate_per_kwh().begin(),
                                           rates.import_rate_per_kwh().end());
    }
    // A single per_bus entry would read as uniform; require the full list.
    if (static_cast<size_t>(file.per_bus_size()) != num_buses) {
      return Error("per_bus", absl::StrCat("has ", file.per_bus_size(), " entries, network has ",
                                           num_buses, " buses"));
    }
  }
  if (file.fixed_charge_per_day().empty()) {
    out.fixed_charge_per_day.assign(scenario.income_groups.size(), 0.0);
  } else {
    out.fixed_charge_per_day.assign(file.fixed_charge_per_day().begin(),
                                    file.fixed_charge_per_day().end());
  }
  absl::StatusOr<env::ExportRule> rule = ToExportRule(file.export_rule());
  if (!rule.ok()) return Annotate(rule.status(), "export_rule");
  out.export_rule = *rule;
  out.fixed_export_credit_per_kwh = file.fixed_export_credit_per_kwh();
  return out;
}

v1::TariffFile FromTariff(const env::Tariff& tariff, const env::Scenario& scenario) {
  v1::TariffFile out;
  // A single row, or identical rows, are a uniform tariff.
  bool uniform = !tariff.import_rate_per_kwh.empty();
  for (const std::vector<double>& row : tariff.import_rate_per_kwh) {
    if (row != tariff.import_rate_per_kwh.front()) uniform = false;
  }
  if (uniform) {
    for (double r : tariff.import_rate_per_kwh.front()) out.add_import_rate_per_kwh(r);
  } else {
    for (size_t b = 0; b < tariff.import_rate_per_kwh.size(); ++b) {
      v1::BusRates* rates = out.add_per_bus();
      if (b < scenario.network.buses.size()) {
        rates->set_bus(scenario.network.buses[b].name);
      }
      for (double r : tariff.import_rate_per_kwh[b]) rates->add_import_rate_per_kwh(r);
    }
  }
  for (double c : tariff.fixed_charge_per_day) out.add_fixed_charge_per_day(c);
  out.set_export_rule(FromExportRule(tariff.export_rule));
  out.set_fixed_export_credit_per_kwh(tariff.fixed_export_credit_per_kwh);
  return out;
}

std::string DirName(absl::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == absl::string_view::npos) return "";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string JoinPath(absl::string_view dir, absl::string_view relative) {
  if (dir.empty() || absl::StartsWith(relative, "/")) return std::string(relative);
  if (absl::EndsWith(dir, "/")) return absl::StrCat(dir, relative);
  return absl::StrCat(dir, "/", relative);
}

}  // namespace smfg::config
