// The `smfg` command-line tool. Flags are parsed here into the Options structs
// of commands.h; everything else lives in testable functions.
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/commands.h"

ABSL_FLAG(bool, json, false, "Print one JSON document on stdout instead of text.");
ABSL_FLAG(std::string, tariff, "flat",
          "evaluate: comma-separated tariffs: flat, tou, or TariffFile paths.");
ABSL_FLAG(std::string, out, "",
          "evaluate, train: directory for reports, metrics and SVG plots (train default: out/train).");
ABSL_FLAG(bool, myopic, false, "evaluate: followers do not use their batteries.");
ABSL_FLAG(bool, exploitability, true, "evaluate: measure follower exploitability.");
ABSL_FLAG(int, threads, 0, "evaluate, train: worker threads (0 = all cores).");
ABSL_FLAG(int, days, 0, "evaluate, train: override the spec's number of days (0 = keep).");
ABSL_FLAG(bool, resume, false, "train: continue the run in --out from its last checkpoint.");
ABSL_FLAG(int, iterations, 0, "train: override the spec's outer iteration budget (0 = keep).");
ABSL_FLAG(double, load_scale, 1.0, "opf: multiply the case's bus loads by this factor.");
ABSL_FLAG(std::string, load, "", "opf: explicit bus loads in MW, comma-separated.");
ABSL_FLAG(int, hour, 18, "opf: hour of day (renewable availability, load shape).");

namespace {

constexpr char kUsage[] =
    "smfg COMMAND [flags]\n"
    "Commands:\n"
    "  opf CASE         DC optimal power flow of a MATPOWER case (.m) or a spec's network:\n"
    "                   LMPs, dispatch, line flows, congestion, cost.\n"
    "                   Flags: --load, --load_scale, --hour, --json\n"
    "  evaluate SPEC    Follower mean-field equilibrium under a tariff and its report.\n"
    "                   Flags: --tariff, --out, --myopic, --exploitability, --threads,\n"
    "                   --days, --json\n"
    "  train SPEC       Learn the leader's tariff (PPO) against the followers' mean-field\n"
    "                   equilibrium; compare with flat and the best TOU; plots.\n"
    "                   Flags: --out, --resume, --iterations, --days, --threads, --json\n";

int Fail(const absl::Status& status) {
  std::cerr << "smfg: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = args[1];
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
    const absl::Status s = smfg::client::RunEvaluate(o, std::cout, std::cerr);
    return s.ok() ? 0 : Fail(s);
  }
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
  std::cerr << "smfg: unknown command '" << command << "'\n" << kUsage;
  return 2;
}
