#include "training/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/json.h"
#include "common/status.h"
#include "environment/population_evaluator.h"
#include "environment/report.h"
#include "leader/ppo_math.h"

namespace smfg::training {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

constexpr char kStateFile[] = "loop.state";
// v2 appends kDistributedNumbers to every history record; v1 files (written
// before those existed) still load, with those figures zero.
constexpr char kStateMagic[] = "smfg-loop-state-v2";
constexpr char kStateMagicV1[] = "smfg-loop-state-v1";

std::string LeaderFile(int iteration) { return absl::StrCat("leader-", iteration, ".ckpt"); }

// Posted prices have finite precision: rates in micro-dollars per kWh, fixed
// charges in micro-dollars per day. Besides being what a utility can post, this
// keeps last-bit noise in the policy network from reaching the followers
// (MODEL.md §9).
double Posted(double value) { return std::round(value * 1e6) / 1e6; }

// Doubles travel through checkpoints as hex floats: exact and still readable.
std::string Hex(double v) { return absl::StrFormat("%a", v); }

std::vector<double> RecordNumbers(const IterationRecord& r) {
  std::vector<double> v = {static_cast<double>(r.iteration),
                           r.evaluated.eei_spread,
                           r.evaluated.recovery_gap,
                           r.evaluated.lmp_std,
                           r.evaluated.generation_cost_per_mwh,
                           r.evaluated.objective,
                           r.rollout_mean_reward,
                           static_cast<double>(r.rollout_inner_iterations),
                           static_cast<double>(r.eval_inner_iterations),
                           r.inner_residual,
                           r.belief_change,
                           r.mean_rate_per_kwh,
                           r.ppo.policy_loss,
                           r.ppo.value_loss,
                           r.ppo.entropy,
                           r.ppo.clip_fraction,
                           r.ppo.grad_norm,
                           r.ppo.approx_kl,
                           static_cast<double>(r.ppo.epochs_run),
                           static_cast<double>(r.ppo.minibatches),
                           r.ppo.kl_early_stop ? 1.0 : 0.0,
                           r.seconds_rollout,
                           r.seconds_update,
                           r.seconds_evaluation,
                           r.seconds_population,
                           r.seconds_clearing,
                           r.seconds_exploitability,
                           r.exploitability_regularised_max,
                           r.exploitability_plain_mean,
                           static_cast<double>(r.lmp_mean_by_bus.size()),
                           static_cast<double>(r.evaluated.eei.size())};
  // Variable-length tails, their sizes given above.
  v.insert(v.end(), r.lmp_mean_by_bus.begin(), r.lmp_mean_by_bus.end());
  v.insert(v.end(), r.lmp_std_by_bus.begin(), r.lmp_std_by_bus.end());
  v.insert(v.end(), r.evaluated.eei.begin(), r.evaluated.eei.end());
  // The v2 trailer (byte counts stay exact as doubles below 2^53).
  v.insert(v.end(),
           {r.seconds_worker_compute, r.seconds_communication, r.seconds_barrier_wait,
            static_cast<double>(r.bytes_to_workers), static_cast<double>(r.bytes_from_workers)});
  return v;
}

constexpr size_t kRecordScalars = 31;
constexpr size_t kDistributedNumbers = 5;

// Returns false if the variable-length tails do not match their sizes or the
// v2 trailer is missing (`with_distributed`) or present (otherwise).
bool RecordFromNumbers(const std::vector<double>& v, bool with_distributed, IterationRecord* out) {
  if (v.size() < kRecordScalars) return false;
  IterationRecord& r = *out;
  size_t i = 0;
  r.iteration = static_cast<int>(v[i++]);
  r.evaluated.eei_spread = v[i++];
  r.evaluated.recovery_gap = v[i++];
  r.evaluated.lmp_std = v[i++];
  r.evaluated.generation_cost_per_mwh = v[i++];
  r.evaluated.objective = v[i++];
  r.rollout_mean_reward = v[i++];
  r.rollout_inner_iterations = static_cast<int>(v[i++]);
  r.eval_inner_iterations = static_cast<int>(v[i++]);
  r.inner_residual = v[i++];
  r.belief_change = v[i++];
  r.mean_rate_per_kwh = v[i++];
  r.ppo.policy_loss = v[i++];
  r.ppo.value_loss = v[i++];
  r.ppo.entropy = v[i++];
  r.ppo.clip_fraction = v[i++];
  r.ppo.grad_norm = v[i++];
  r.ppo.approx_kl = v[i++];
  r.ppo.epochs_run = static_cast<int>(v[i++]);
  r.ppo.minibatches = static_cast<int>(v[i++]);
  r.ppo.kl_early_stop = v[i++] != 0;
  r.seconds_rollout = v[i++];
  r.seconds_update = v[i++];
  r.seconds_evaluation = v[i++];
  r.seconds_population = v[i++];
  r.seconds_clearing = v[i++];
  r.seconds_exploitability = v[i++];
  r.exploitability_regularised_max = v[i++];
  r.exploitability_plain_mean = v[i++];
  const double buses = v[i++], groups = v[i++];
  const size_t trailer = with_distributed ? kDistributedNumbers : 0;
  if (buses < 0 || groups < 0 || v.size() != i + 2 * buses + groups + trailer) return false;
  const auto take = [&](size_t n) {
    std::vector<double> part(v.begin() + i, v.begin() + i + n);
    i += n;
    return part;
  };
  r.lmp_mean_by_bus = take(static_cast<size_t>(buses));
  r.lmp_std_by_bus = take(static_cast<size_t>(buses));
  r.evaluated.eei = take(static_cast<size_t>(groups));
  if (with_distributed) {
    r.seconds_worker_compute = v[i++];
    r.seconds_communication = v[i++];
    r.seconds_barrier_wait = v[i++];
    r.bytes_to_workers = static_cast<int64_t>(v[i++]);
    r.bytes_from_workers = static_cast<int64_t>(v[i++]);
  }
  return true;
}

// Adds the distributed-evaluation figures accrued since `before`.
void RecordDistributed(const env::EvaluatorCounters& before, const env::EvaluatorCounters& after,
                       IterationRecord* r) {
  r->seconds_worker_compute = after.compute_seconds - before.compute_seconds;
  r->seconds_communication = after.communication_seconds - before.communication_seconds;
  r->seconds_barrier_wait = after.barrier_seconds - before.barrier_seconds;
  r->bytes_to_workers = after.bytes_sent - before.bytes_sent;
  r->bytes_from_workers = after.bytes_received - before.bytes_received;
}

std::string NumbersLine(const std::vector<double>& v) {
  std::string s;
  for (double x : v) absl::StrAppend(&s, s.empty() ? "" : " ", Hex(x));
  return s;
}

absl::StatusOr<std::vector<double>> ParseNumbers(absl::string_view line, absl::string_view what) {
  std::vector<double> v;
  for (absl::string_view token : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    const std::string t(token);
    char* end = nullptr;
    const double x = std::strtod(t.c_str(), &end);
    if (end == t.c_str() || *end != '\0') {
      return absl::DataLossError(absl::StrCat("checkpoint ", what, ": bad number '", t, "'"));
    }
    v.push_back(x);
  }
  return v;
}

double MaxChange(const env::PriceBelief& a, const env::PriceBelief& b) {
  if (a.lmp_per_mwh.size() != b.lmp_per_mwh.size()) return std::numeric_limits<double>::infinity();
  double m = 0;
  for (size_t i = 0; i < a.lmp_per_mwh.size(); ++i) {
    m = std::max(m, std::fabs(a.lmp_per_mwh[i] - b.lmp_per_mwh[i]));
  }
  return m;
}

}  // namespace

std::vector<double> DayFeatures(const env::Scenario& scenario, const env::DayConditions& day,
                                int day_index) {
  const double doy = (scenario.first_day_of_year + day_index) % 365;
  return {day.clearness - 0.625, day.demand_factor - 1.0, std::sin(2 * M_PI * doy / 365.0),
          std::cos(2 * M_PI * doy / 365.0)};
}

absl::StatusOr<std::unique_ptr<StackelbergTrainer>> StackelbergTrainer::Create(
    TrainerParams params, env::PopulationEvaluator* evaluator, env::MarketClearing* market,
    const std::vector<env::DayConditions>& days) {
  const TariffBounds& b = params.bounds;
  if (!(b.min_rate_per_kwh >= 0 && b.max_rate_per_kwh > b.min_rate_per_kwh)) {
    return absl::InvalidArgumentError(
        "tariff: need 0 <= min_import_rate_per_kwh < max_import_rate_per_kwh");
  }
  if (b.learn_fixed_charges && !(b.max_fixed_charge_per_day > b.min_fixed_charge_per_day)) {
    return absl::InvalidArgumentError(
        "tariff: need min_fixed_charge_per_day < max_fixed_charge_per_day");
  }
  if (params.loop.max_iterations < 1 || params.loop.patience < 1 ||
      params.loop.checkpoint_every < 0) {
    return absl::InvalidArgumentError(
        "loop: max_iterations and patience must be >= 1, checkpoint_every >= 0");
  }
  if (static_cast<int>(days.size()) != params.scenario.days) {
    return absl::InvalidArgumentError("trainer: day conditions do not match scenario.days");
  }
  std::vector<std::vector<double>> features;
  for (int d = 0; d < params.scenario.days; ++d) {
    features.push_back(DayFeatures(params.scenario, days[d], d));
  }
  params.ppo.observation_size = kDayFeatures;
  params.ppo.action_size =
      env::kHoursPerDay +
      (b.learn_fixed_charges ? static_cast<int>(params.scenario.income_groups.size()) : 0);
  SMFG_RETURN_IF_ERROR(Annotate(params.ppo.Validate(), "learner"));
  SMFG_ASSIGN_OR_RETURN(std::unique_ptr<leader::PpoLearner> learner,
                        leader::PpoLearner::Create(params.ppo));
  if (!params.checkpoint_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(params.checkpoint_dir, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot create ", params.checkpoint_dir, ": ", ec.message()));
    }
  }
  return std::unique_ptr<StackelbergTrainer>(new StackelbergTrainer(
      std::move(params), evaluator, market, std::move(features), std::move(learner)));
}

StackelbergTrainer::StackelbergTrainer(TrainerParams params, env::PopulationEvaluator* evaluator,
                                       env::MarketClearing* market,
                                       std::vector<std::vector<double>> features,
                                       std::unique_ptr<leader::PpoLearner> learner)
    : params_(std::move(params)),
      evaluator_(evaluator),
      market_(market),
      features_(std::move(features)),
      learner_(std::move(learner)) {}

env::Tariff StackelbergTrainer::TariffFromActions(
    const std::vector<std::vector<double>>& raw) const {
  const TariffBounds& b = params_.bounds;
  env::Tariff t = params_.base;
  t.daily_import_rate_per_kwh.assign(raw.size(), std::vector<double>(env::kHoursPerDay));
  if (b.learn_fixed_charges) t.daily_fixed_charge_per_day.assign(raw.size(), {});
  for (size_t d = 0; d < raw.size(); ++d) {
    for (int h = 0; h < env::kHoursPerDay; ++h) {
      t.daily_import_rate_per_kwh[d][h] =
          Posted(leader::SquashToRange(raw[d][h], b.min_rate_per_kwh, b.max_rate_per_kwh));
    }
    for (size_t g = env::kHoursPerDay; g < raw[d].size(); ++g) {
      t.daily_fixed_charge_per_day[d].push_back(Posted(leader::SquashToRange(
          raw[d][g], b.min_fixed_charge_per_day, b.max_fixed_charge_per_day)));
    }
  }
  // The static rows stay meaningful for reports: the mean over days.
  t.import_rate_per_kwh.assign(1, std::vector<double>(env::kHoursPerDay, 0.0));
  for (const auto& day : t.daily_import_rate_per_kwh) {
    for (int h = 0; h < env::kHoursPerDay; ++h) t.import_rate_per_kwh[0][h] += day[h] / raw.size();
  }
  if (b.learn_fixed_charges) {
    for (size_t g = 0; g < t.fixed_charge_per_day.size(); ++g) {
      t.fixed_charge_per_day[g] =
          t.MeanFixedCharge(static_cast<int>(g), static_cast<int>(raw.size()));
    }
  }
  return t;
}

absl::StatusOr<env::Tariff> StackelbergTrainer::PolicyTariff() {
  std::vector<std::vector<double>> raw;
  for (const auto& f : features_)
    raw.push_back(learner_->Act(f, /*deterministic=*/true).raw_action);
  return TariffFromActions(raw);
}

absl::StatusOr<IterationRecord> StackelbergTrainer::Step() {
  IterationRecord rec;
  rec.iteration = iteration_ + 1;
  const env::Scenario& sc = params_.scenario;
  const env::EvaluatorCounters counters_before = evaluator_->Counters();
  auto start = Clock::now();

  // 1-2. Sampled tariffs and the followers' equilibrium under them.
  std::vector<leader::Transition> rollout;
  std::vector<std::vector<double>> raw;
  for (const auto& f : features_) {
    leader::PolicySample s = learner_->Act(f, /*deterministic=*/false);
    raw.push_back(s.raw_action);
    rollout.push_back({f, std::move(s.raw_action), s.log_prob, s.value, 0.0, true});
  }
  const env::Tariff sampled = TariffFromActions(raw);
  SMFG_ASSIGN_OR_RETURN(
      env::InnerResult inner,
      env::SolveMeanField(*evaluator_, *market_, sampled, sc.inner,
                          rollout_belief_.lmp_per_mwh.empty() ? nullptr : &rollout_belief_));
  rec.rollout_inner_iterations = inner.iterations;
  rec.seconds_population += inner.seconds_population;
  rec.seconds_clearing += inner.seconds_clearing;
  const std::vector<env::ObjectiveTerms> daily =
      env::DailyObjectives(sc, sampled, inner, params_.weights);
  for (size_t d = 0; d < daily.size(); ++d) {
    if (!std::isfinite(daily[d].objective)) {
      return absl::InternalError(absl::StrCat("iteration ", rec.iteration, ": day ", d,
                                              " has a non-finite leader objective; the run "
                                              "diverged (last good checkpoint kept)"));
    }
    rollout[d].reward = daily[d].objective;
    rec.rollout_mean_reward += daily[d].objective / daily.size();
  }
  rollout_belief_ = std::move(inner.belief);
  rec.seconds_rollout = Since(start);

  // 3. PPO update on the rollout.
  start = Clock::now();
  absl::StatusOr<leader::UpdateStats> update = learner_->Update(rollout, 0.0);
  if (!update.ok()) {
    return Annotate(update.status(),
                    absl::StrCat("iteration ", rec.iteration, " (last good checkpoint kept)"));
  }
  rec.ppo = *update;
  rec.seconds_update = Since(start);

  // 4. Evaluate the updated mean policy.
  start = Clock::now();
  SMFG_ASSIGN_OR_RETURN(env::Tariff policy, PolicyTariff());
  SMFG_ASSIGN_OR_RETURN(
      env::InnerResult eval,
      env::SolveMeanField(*evaluator_, *market_, policy, sc.inner,
                          eval_belief_.lmp_per_mwh.empty() ? nullptr : &eval_belief_));
  rec.evaluated = env::PoolObjective(sc, policy, eval, params_.weights);
  if (!std::isfinite(rec.evaluated.objective)) {
    return absl::InternalError(absl::StrCat("iteration ", rec.iteration,
                                            ": the leader objective is not finite; the run "
                                            "diverged (last good checkpoint kept)"));
  }
  rec.eval_inner_iterations = eval.iterations;
  rec.seconds_population += eval.seconds_population;
  rec.seconds_clearing += eval.seconds_clearing;
  rec.inner_residual = eval.residual;
  rec.belief_change = MaxChange(eval.belief, eval_belief_);
  const auto exploit_start = Clock::now();
  SMFG_ASSIGN_OR_RETURN(env::ExploitabilityStats exploit,
                        evaluator_->Exploitability(policy, eval.belief, eval.clearing.lmp));
  rec.seconds_exploitability = Since(exploit_start);
  rec.exploitability_regularised_max = exploit.max_regularised;
  rec.exploitability_plain_mean = exploit.MeanPlain();
  const env::EquilibriumReport report = env::MakeReport(sc, policy, eval, exploit, "learned");
  for (const env::BusPriceReport& b : report.buses) {
    rec.lmp_mean_by_bus.push_back(b.mean);
    rec.lmp_std_by_bus.push_back(b.std);
  }
  for (double r : policy.import_rate_per_kwh[0]) rec.mean_rate_per_kwh += r / env::kHoursPerDay;
  rec.seconds_evaluation = Since(start);
  RecordDistributed(counters_before, evaluator_->Counters(), &rec);

  // PPO keeps exploring, so J_k never stands still; the run has converged
  // when it stops *improving*: no gain over the best J so far beyond the
  // tolerance, with the equilibrium prices settled, `patience` times running.
  const bool improved = iteration_ == 0 || rec.evaluated.objective >
                                               best_objective_ + params_.loop.objective_tolerance;
  const bool settled = rec.belief_change < params_.loop.mean_field_tolerance_per_mwh;
  stall_ = (!improved && settled) ? stall_ + 1 : 0;
  if (iteration_ == 0 || rec.evaluated.objective > best_objective_) {
    best_objective_ = rec.evaluated.objective;
  }
  eval_belief_ = eval.belief;
  last_eval_ = std::move(eval);
  iteration_ = rec.iteration;
  history_.push_back(rec);
  const int every = params_.loop.checkpoint_every;
  if (!params_.checkpoint_dir.empty() && every > 0 && (iteration_ % every == 0 || done())) {
    SMFG_RETURN_IF_ERROR(SaveCheckpoint());
  }
  return rec;
}

absl::Status StackelbergTrainer::SaveCheckpoint() const {
  namespace fs = std::filesystem;
  const fs::path dir = params_.checkpoint_dir;
  // The policy goes to a new file first; the state file, replaced atomically,
  // names it. A crash in between leaves the previous pair intact.
  SMFG_RETURN_IF_ERROR(learner_->Save((dir / LeaderFile(iteration_)).string()));
  std::ostringstream s;
  s << kStateMagic << "\n";
  s << "iteration " << iteration_ << "\n";
  s << "leader " << LeaderFile(iteration_) << "\n";
  s << "stall " << stall_ << "\n";
  s << "best_objective " << Hex(best_objective_) << "\n";
  for (const auto* b : {&rollout_belief_, &eval_belief_}) {
    s << (b == &rollout_belief_ ? "rollout_belief " : "eval_belief ") << b->days << " " << b->buses
      << " " << NumbersLine(b->lmp_per_mwh) << "\n";
  }
  s << "history " << history_.size() << "\n";
  for (const IterationRecord& r : history_) s << NumbersLine(RecordNumbers(r)) << "\n";
  SMFG_RETURN_IF_ERROR(WriteFileAtomically((dir / kStateFile).string(), s.str()));
  std::error_code ec;
  // Older policy files are no longer referenced.
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("leader-", 0) == 0 && name != LeaderFile(iteration_))
      fs::remove(entry.path(), ec);
  }
  return absl::OkStatus();
}

absl::Status StackelbergTrainer::Resume() {
  namespace fs = std::filesystem;
  if (params_.checkpoint_dir.empty()) return absl::NotFoundError("no checkpoint directory");
  const fs::path path = fs::path(params_.checkpoint_dir) / kStateFile;
  absl::StatusOr<std::string> content = ReadFile(path.string(), kMaxCheckpointFileBytes);
  if (absl::IsNotFound(content.status())) {
    return absl::NotFoundError(absl::StrCat("no checkpoint at ", path.string()));
  }
  if (!content.ok()) return content.status();
  std::istringstream in(*content);
  auto bad = [&](absl::string_view what) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path.string(), ": ", what));
  };
  std::string line, key;
  if (!std::getline(in, line) || (line != kStateMagic && line != kStateMagicV1)) {
    return bad("not an smfg loop state file");
  }
  const bool with_distributed = line == kStateMagic;
  int iteration = 0, stall = 0;
  std::string leader_file, objective_hex;
  in >> key >> iteration;
  if (key != "iteration") return bad("expected 'iteration'");
  in >> key >> leader_file;
  if (key != "leader") return bad("expected 'leader'");
  in >> key >> stall;
  if (key != "stall") return bad("expected 'stall'");
  in >> key >> objective_hex;
  if (key != "best_objective" || !in) return bad("expected 'best_objective'");
  env::PriceBelief beliefs[2];
  for (env::PriceBelief& b : beliefs) {
    in >> key >> b.days >> b.buses;
    std::getline(in, line);
    SMFG_ASSIGN_OR_RETURN(b.lmp_per_mwh, ParseNumbers(line, key));
    if (b.lmp_per_mwh.size() != static_cast<size_t>(b.days) * env::kHoursPerDay * b.buses) {
      return bad(absl::StrCat(key, ": wrong number of prices"));
    }
  }
  size_t records = 0;
  in >> key >> records;
  if (key != "history" || !in) return bad("expected 'history'");
  std::getline(in, line);
  std::vector<IterationRecord> history;
  for (size_t i = 0; i < records; ++i) {
    if (!std::getline(in, line)) return bad("truncated history");
    SMFG_ASSIGN_OR_RETURN(std::vector<double> v, ParseNumbers(line, "history"));
    IterationRecord record;
    if (!RecordFromNumbers(v, with_distributed, &record)) return bad("malformed history record");
    history.push_back(std::move(record));
  }
  SMFG_RETURN_IF_ERROR(learner_->Load((fs::path(params_.checkpoint_dir) / leader_file).string()));
  iteration_ = iteration;
  stall_ = stall;
  best_objective_ = std::strtod(objective_hex.c_str(), nullptr);
  rollout_belief_ = std::move(beliefs[0]);
  eval_belief_ = std::move(beliefs[1]);
  history_ = std::move(history);
  return absl::OkStatus();
}

std::string IterationJson(const IterationRecord& r, const env::Scenario& scenario) {
  JsonWriter w;
  w.BeginObject().Key("iteration").Int(r.iteration);
  w.Key("objective").Number(r.evaluated.objective);
  w.Key("eei_spread").Number(r.evaluated.eei_spread);
  w.Key("recovery_gap").Number(r.evaluated.recovery_gap);
  w.Key("lmp_std").Number(r.evaluated.lmp_std);
  w.Key("generation_cost_per_mwh").Number(r.evaluated.generation_cost_per_mwh);
  w.Key("eei").BeginObject();
  for (size_t g = 0; g < r.evaluated.eei.size() && g < scenario.income_groups.size(); ++g) {
    w.Key(scenario.income_groups[g]).Number(r.evaluated.eei[g]);
  }
  w.EndObject();
  w.Key("rollout_mean_reward").Number(r.rollout_mean_reward);
  w.Key("mean_rate_per_kwh").Number(r.mean_rate_per_kwh);
  w.Key("inner_iterations").BeginObject().Key("rollout").Int(r.rollout_inner_iterations);
  w.Key("evaluation").Int(r.eval_inner_iterations).EndObject();
  w.Key("inner_residual_per_mwh").Number(r.inner_residual);
  w.Key("lmp_mean_by_bus").Numbers(r.lmp_mean_by_bus);
  w.Key("lmp_std_by_bus").Numbers(r.lmp_std_by_bus);
  w.Key("exploitability")
      .BeginObject()
      .Key("regularised_max")
      .Number(r.exploitability_regularised_max);
  w.Key("plain_mean").Number(r.exploitability_plain_mean).EndObject();
  w.Key("belief_change_per_mwh").Number(r.belief_change);
  w.Key("ppo").BeginObject().Key("policy_loss").Number(r.ppo.policy_loss);
  w.Key("value_loss").Number(r.ppo.value_loss).Key("entropy").Number(r.ppo.entropy);
  w.Key("approx_kl").Number(r.ppo.approx_kl).Key("clip_fraction").Number(r.ppo.clip_fraction);
  w.Key("epochs_run").Int(r.ppo.epochs_run).Key("kl_early_stop").Bool(r.ppo.kl_early_stop);
  w.EndObject();
  w.Key("seconds").BeginObject().Key("rollout").Number(r.seconds_rollout);
  w.Key("update").Number(r.seconds_update).Key("evaluation").Number(r.seconds_evaluation);
  w.Key("population").Number(r.seconds_population).Key("clearing").Number(r.seconds_clearing);
  w.Key("exploitability").Number(r.seconds_exploitability);
  w.Key("worker_compute").Number(r.seconds_worker_compute);
  w.Key("communication").Number(r.seconds_communication);
  w.Key("barrier_wait").Number(r.seconds_barrier_wait).EndObject();
  w.Key("bytes").BeginObject().Key("to_workers").Int(r.bytes_to_workers);
  w.Key("from_workers").Int(r.bytes_from_workers).EndObject();
  w.EndObject();
  return w.str();
}

}  // namespace smfg::training
