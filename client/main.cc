// The `smfg` command-line tool. Flags are parsed here into the Options structs
// of commands.h; everything else lives in testable functions.
//
// This file builds two binaries (client/CMakeLists.txt): smfg-train, with
// SMFG_CLI_RUNS_TRAINING, runs every command; smfg runs every command but
// train and optimize, which need the PPO leader and so LibTorch, and for those
// two replaces itself (execv, same arguments) with the smfg-train next to it.
// So `smfg evaluate`, `smfg submit`, ... never pay LibTorch's start-up.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/commands.h"
#include "client/remote_commands.h"
#include "common/allocator.h"
#include "common/token.h"

ABSL_FLAG(bool, json, false, "Print one JSON document on stdout instead of text.");
ABSL_FLAG(std::string, tariff, "flat",
          "evaluate: comma-separated tariffs: flat, tou, or TariffFile paths.");
ABSL_FLAG(std::string, out, "",
          "evaluate, train, results: directory for reports, metrics and SVG plots (train default: "
          "out/train).");
ABSL_FLAG(bool, myopic, false, "evaluate: followers do not use their batteries.");
ABSL_FLAG(bool, exploitability, true, "evaluate: measure follower exploitability.");
ABSL_FLAG(int, threads, 0, "evaluate, train: worker threads (0 = all cores).");
ABSL_FLAG(int, days, 0, "spec, evaluate, train: override the spec's number of days (0 = keep).");
ABSL_FLAG(bool, resume, false, "train: continue the run in --out from its last checkpoint.");
ABSL_FLAG(int, iterations, 0, "train: override the spec's outer iteration budget (0 = keep).");
ABSL_FLAG(double, load_scale, 1.0, "opf: multiply the case's bus loads by this factor.");
ABSL_FLAG(std::string, load, "", "opf: explicit bus loads in MW, comma-separated.");
ABSL_FLAG(int, hour, 18, "opf: hour of day (renewable availability, load shape).");
ABSL_FLAG(std::string, coordinator, "",
          "submit, watch, list, get, cancel, delete, results, health: the coordinator's HOST:PORT "
          "(default: $SMFG_COORDINATOR).");
ABSL_FLAG(std::string, key, "", "submit: idempotency key (default: a fresh one).");
ABSL_FLAG(std::string, status, "", "list: only experiments with this status (e.g. RUNNING).");
ABSL_FLAG(int, limit, 0, "list: at most this many, newest first (0 = all).");
ABSL_FLAG(int, rpc_timeout_s, 30, "remote commands: deadline of each RPC, seconds.");
ABSL_FLAG(std::string, tls_ca, "",
          "remote commands: PEM CA certificate(s); connect with TLS trusting them.");
ABSL_FLAG(std::string, token_file, "",
          "remote commands: file holding the coordinator's API bearer token "
          "(default: $SMFG_API_TOKEN).");

namespace {

constexpr char kUsage[] =
    "smfg COMMAND [flags]\n"
    "Commands:\n"
    "  opf CASE         DC optimal power flow of a MATPOWER case (.m) or a spec's network:\n"
    "                   LMPs, dispatch, line flows, congestion, cost.\n"
    "                   Flags: --load, --load_scale, --hour, --json\n"
    "  spec SPEC        Check a spec with every rule and print its effective form (network\n"
    "                   inline, every default written): what submit sends.\n"
    "                   Flags: --days, --json\n"
    "  evaluate SPEC    Follower mean-field equilibrium under a tariff and its report.\n"
    "                   Flags: --tariff, --out, --myopic, --exploitability, --threads,\n"
    "                   --days, --json\n"
    "  train SPEC       Learn the leader's tariff (PPO) against the followers' mean-field\n"
    "                   equilibrium; compare with flat and the best TOU; plots.\n"
    "                   Flags: --out, --resume, --iterations, --days, --threads, --json\n"
    "  optimize SPEC    The reference optimum alone: the best static tariff of the spec's\n"
    "                   family (NLopt BOBYQA/COBYLA) against the follower equilibrium.\n"
    "                   Flags: --days, --threads, --json\n"

    "Remote commands (an smfg-coordinator at --coordinator or $SMFG_COORDINATOR):\n"
    "  submit SPEC      Submit an experiment; prints its id. Flags: --key\n"
    "  watch ID         Progress lines until the experiment ends.\n"
    "  list             Experiments, newest first. Flags: --status, --limit\n"
    "  get ID           One experiment's status.\n"
    "  cancel ID        Stop an experiment at its next outer iteration.\n"
    "  delete ID        Remove a finished experiment with its results and checkpoints.\n"
    "  results ID       Download the result files. Flags: --out (required)\n"
    "  health           Ask the coordinator's gRPC health service; prints SERVING and\n"
    "                   exits 0, else prints the status (or the error) and exits 1.\n"
    "  Remote commands send the API token from --token_file or $SMFG_API_TOKEN,\n"
    "  and use TLS when --tls_ca is given.\n";

int Fail(const absl::Status& status) {
  std::cerr << "smfg: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

smfg::client::RemoteOptions RemoteFromFlags() {
  smfg::client::RemoteOptions o;
  o.coordinator = absl::GetFlag(FLAGS_coordinator);
  if (o.coordinator.empty()) {
    const char* env = std::getenv("SMFG_COORDINATOR");
    if (env != nullptr) o.coordinator = env;
  }
  o.rpc_timeout = absl::Seconds(absl::GetFlag(FLAGS_rpc_timeout_s));
  absl::StatusOr<std::string> token =
      smfg::LoadToken(absl::GetFlag(FLAGS_token_file), "SMFG_API_TOKEN");
  if (!token.ok()) {
    std::cerr << "smfg: " << token.status().message() << "\n";
    std::exit(2);
  }
  o.token = *token;
  const std::string ca = absl::GetFlag(FLAGS_tls_ca);
  if (!ca.empty()) {
    absl::StatusOr<std::string> pem = smfg::LoadPemFile(ca, "--tls_ca");
    if (!pem.ok()) {
      std::cerr << "smfg: " << pem.status().message() << "\n";
      std::exit(2);
    }
    o.tls_ca_pem = *pem;
  }
  return o;
}

#ifndef SMFG_CLI_RUNS_TRAINING
// Runs smfg-train from this executable's directory with `argv` (whose flags
// have been checked already); returns only if that fails.
int ExecTrainer(const std::string& command, char** argv) {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) {
    std::cerr << "smfg: cannot find its own executable (/proc/self/exe): " << error.message()
              << "\n";
    return 1;
  }
  const std::string trainer = (self.parent_path() / "smfg-train").string();
  execv(trainer.c_str(), argv);
  std::cerr << "smfg: " << command << " runs in smfg-train, which could not be started (" << trainer
            << ": " << std::strerror(errno)
            << "); install it next to smfg (it is built and shipped with it)\n";
  return 1;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  // Before any thread starts (common/allocator.h); speed only.
  smfg::RetainFreedHeapMemory();
  // --help lists the flags defined in this file (absl only lists a file
  // named after the binary by default).
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "client/main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = args[1];
  if (command == "list") {
    if (args.size() != 2) {
      std::cerr << "smfg list: takes no argument\n" << kUsage;
      return 2;
    }
    smfg::client::ListOptions o;
    o.remote = RemoteFromFlags();
    o.status = absl::GetFlag(FLAGS_status);
    o.limit = absl::GetFlag(FLAGS_limit);
    const absl::Status s = smfg::client::RunList(o, std::cout);
    return s.ok() ? 0 : Fail(s);
  }
  if (command == "health") {
    if (args.size() != 2) {
      std::cerr << "smfg health: takes no argument\n" << kUsage;
      return 2;
    }
    const absl::Status s = smfg::client::RunHealth(RemoteFromFlags(), std::cout);
    return s.ok() ? 0 : Fail(s);
  }
  if (args.size() != 3) {
    std::cerr << "smfg " << command << ": expects exactly one file argument\n" << kUsage;
    return 2;
  }
  if (command == "opf") {
    smfg::client::OpfOptions o;
    o.case_path = args[2];
    o.load_scale = absl::GetFlag(FLAGS_load_scale);
    o.hour = absl::GetFlag(FLAGS_hour);
    o.json = absl::GetFlag(FLAGS_json);
    for (absl::string_view v : absl::StrSplit(absl::GetFlag(FLAGS_load), ',', absl::SkipEmpty())) {
      double mw;
      if (!absl::SimpleAtod(v, &mw)) {
        return Fail(absl::InvalidArgumentError(absl::StrCat("--load: not a number: '", v, "'")));
      }
      o.load_mw.push_back(mw);
    }
    const absl::Status s = smfg::client::RunOpf(o, std::cout);
    return s.ok() ? 0 : Fail(s);
  }
  if (command == "spec") {
    smfg::client::SpecOptions o;
    o.spec_path = args[2];
    o.days = absl::GetFlag(FLAGS_days);
    o.json = absl::GetFlag(FLAGS_json);
    const absl::Status s = smfg::client::RunSpec(o, std::cout);
    return s.ok() ? 0 : Fail(s);
  }
  if (command == "evaluate") {
    smfg::client::EvaluateOptions o;
    o.spec_path = args[2];
    o.tariffs = absl::GetFlag(FLAGS_tariff);
    o.out_dir = absl::GetFlag(FLAGS_out);
    o.myopic = absl::GetFlag(FLAGS_myopic);
    o.exploitability = absl::GetFlag(FLAGS_exploitability);
    o.threads = absl::GetFlag(FLAGS_threads);
    o.days = absl::GetFlag(FLAGS_days);
    o.json = absl::GetFlag(FLAGS_json);
#ifndef SMFG_CLI_RUNS_TRAINING
    // Learning followers need LibTorch: smfg-train evaluates them.
    const absl::StatusOr<bool> needs_trainer = smfg::client::EvaluateNeedsTrainer(o);
    if (!needs_trainer.ok()) return Fail(needs_trainer.status());
    if (*needs_trainer) return ExecTrainer(command, argv);
#else
    o.learning_evaluator = smfg::client::MakeLocalEvaluator;
#endif
    const absl::Status s = smfg::client::RunEvaluate(o, std::cout, std::cerr);
    return s.ok() ? 0 : Fail(s);
  }
#ifndef SMFG_CLI_RUNS_TRAINING
  if (command == "train" || command == "optimize") return ExecTrainer(command, argv);
#else
  if (command == "train") {
    smfg::client::TrainOptions o;
    o.spec_path = args[2];
    if (!absl::GetFlag(FLAGS_out).empty()) o.out_dir = absl::GetFlag(FLAGS_out);
    o.resume = absl::GetFlag(FLAGS_resume);
    o.iterations = absl::GetFlag(FLAGS_iterations);
    o.days = absl::GetFlag(FLAGS_days);
    o.threads = absl::GetFlag(FLAGS_threads);
    o.json = absl::GetFlag(FLAGS_json);
    const absl::Status s = smfg::client::RunTrain(o, std::cout, std::cerr);
    return s.ok() ? 0 : Fail(s);
  }
  if (command == "optimize") {
    smfg::client::OptimizeOptions o;
    o.spec_path = args[2];
    o.days = absl::GetFlag(FLAGS_days);
    o.threads = absl::GetFlag(FLAGS_threads);
    o.json = absl::GetFlag(FLAGS_json);
    const absl::Status s = smfg::client::RunOptimize(o, std::cout, std::cerr);
    return s.ok() ? 0 : Fail(s);
  }
#endif
  if (command == "submit") {
    smfg::client::SubmitOptions o;
    o.remote = RemoteFromFlags();
    o.spec_path = args[2];
    o.key = absl::GetFlag(FLAGS_key);
    const absl::Status s = smfg::client::RunSubmit(o, std::cout);
    return s.ok() ? 0 : Fail(s);
  }
  if (command == "watch" || command == "get" || command == "cancel" || command == "delete") {
    smfg::client::ExperimentIdOptions o;
    o.remote = RemoteFromFlags();
    o.id = args[2];
    const absl::Status s = command == "watch"    ? smfg::client::RunWatch(o, std::cout)
                           : command == "get"    ? smfg::client::RunGet(o, std::cout)
                           : command == "cancel" ? smfg::client::RunCancel(o, std::cout)
                                                 : smfg::client::RunDelete(o, std::cout);
    return s.ok() ? 0 : Fail(s);
  }
  if (command == "results") {
    smfg::client::ResultsOptions o;
    o.remote = RemoteFromFlags();
    o.id = args[2];
    o.out_dir = absl::GetFlag(FLAGS_out);
    const absl::Status s = smfg::client::RunResults(o, std::cout);
    return s.ok() ? 0 : Fail(s);
  }
  std::cerr << "smfg: unknown command '" << command << "'\n" << kUsage;
  return 2;
}
