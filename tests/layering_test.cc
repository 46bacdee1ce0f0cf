// Enforces the dependency direction of DESIGN §6 (docs/DECISIONS.md "Modules")
// by reading every source file's #include lines:
//   common/        absl and the standard library; common/grpc_status.* may use
//                  gRPC (the one status conversion) and common/status_matchers.h
//                  gmock (tests only)
//   environment/   + common/ and COIN-OR; no gRPC, torch, protobuf or proto/
//   rl/            learning mathematics shared by the learners (PPO's GAE,
//                  surrogate, KL, schedules): the standard library only
//   leader/        learners on torch (with followers/, the only places torch
//                  may be included); no gRPC, proto or environment/
//   followers/     the learning followers: environment/, rl/, torch and
//                  leader/torch_mlp.h (the shared MLP); no gRPC, proto,
//                  config/ or a higher module
//   config/        proto <-> environment; no torch, gRPC or higher module
//   training/      environment, leader, config, proto; no gRPC, coordinator/
//                  or client/
//   follower_workers/ never coordinator/, leader/, training/ or client/ (of
//                  the learners only followers/'s plain headers)
//   client/        never coordinator/ (it sits on training/ and the protos)
//   coordinator/   never client/; of follower_workers/ only the worker
//                  protocol's codec (wire_convert.h)
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace {

struct Rule {
  std::string directory;  // relative to the project root
  std::regex forbidden;   // matched against the included path
  std::string why;
  // Files (relative to the root) and includes that are allowed anyway.
  std::regex exempt_file = std::regex("^$");
  std::regex exempt_include = std::regex("^$");
};

const std::vector<Rule>& Rules() {
  static const std::vector<Rule>* rules = new std::vector<Rule>{
      {"common",
       std::regex("^(environment|config|training|client|coordinator|follower_workers|leader|"
                  "followers|proto|smfg/v1|grpcpp|grpc|torch|ATen|google/protobuf|coin|gmock)/"),
       "common/ depends on absl and the standard library only",
       std::regex("^common/(grpc_status\\.(h|cc)|status_matchers(_test)?\\.(h|cc)|"
                  ".*_test\\.cc)$")},
      {"environment",
       std::regex("^(grpcpp|grpc|torch|ATen|google/protobuf|proto|smfg/v1|config|training|"
                  "client|coordinator|follower_workers|leader|followers)/"),
       "environment/ is plain C++ (absl, Clp): no gRPC, torch, protobuf or proto"},
      {"rl",
       std::regex("^(absl|common|environment|config|training|client|coordinator|"
                  "follower_workers|leader|followers|proto|smfg/v1|grpcpp|grpc|torch|ATen|"
                  "google/protobuf|coin)/"),
       "rl/ is the learners' shared mathematics in plain C++: the standard library only"},
      {"leader",
       std::regex("^(grpcpp|grpc|google/protobuf|proto|smfg/v1|environment|config|training|"
                  "client|coordinator|follower_workers|followers)/"),
       "leader/ is learners on torch behind plain types: no gRPC, proto or environment"},
      {"followers",
       std::regex("^(grpcpp|grpc|google/protobuf|proto|smfg/v1|config|training|client|"
                  "coordinator|follower_workers|leader)/"),
       "followers/ is the learning followers on the environment and torch: no gRPC, proto, "
       "config or higher module; of leader/ only the shared MLP",
       std::regex("^$"), std::regex("^leader/torch_mlp\\.h$")},
      {"config",
       std::regex("^(torch|ATen|grpcpp|grpc|training|client|coordinator|follower_workers|"
                  "leader|followers)/"),
       "config/ converts the proto spec to environment types only"},
      {"training", std::regex("^(torch|ATen|grpcpp|grpc|coordinator|client|follower_workers)/"),
       "training/ is the run itself: no gRPC, no service, no client"},
      {"follower_workers", std::regex("^(torch|ATen|coordinator|leader|training|client)/"),
       "workers depend on environment, followers/ (behind its plain headers) and proto, never "
       "on the coordinator, training or torch"},
      {"client", std::regex("^(torch|ATen|coordinator|follower_workers|followers)/"),
       "the client sits on training/ and the protos, never on the service"},
      {"coordinator", std::regex("^(torch|ATen|follower_workers|client)/"),
       "the coordinator reaches torch through leader/'s facade only and never depends on the "
       "client; of the workers only the shared protocol codec",
       std::regex("^$"), std::regex("^follower_workers/wire_convert\\.h$")},
  };
  return *rules;
}

// Returns "file:line: <include> (why)" for each violation in `text`.
std::vector<std::string> Violations(const std::string& file, const std::string& text,
                                    const Rule& rule) {
  static const std::regex include_re(R"(^\s*#\s*include\s*[<"]([^>"]+)[>"])");
  std::vector<std::string> out;
  if (std::regex_search(file, rule.exempt_file)) return out;
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::smatch m;
    if (std::regex_search(line, m, include_re) && std::regex_search(m[1].str(), rule.forbidden) &&
        !std::regex_search(m[1].str(), rule.exempt_include)) {
      out.push_back(file + ":" + std::to_string(n) + ": " + m[1].str() + " (" + rule.why + ")");
    }
  }
  return out;
}

const Rule& RuleFor(const std::string& directory) {
  for (const Rule& r : Rules()) {
    if (r.directory == directory) return r;
  }
  static const Rule* none = new Rule{"", std::regex("^$"), ""};
  ADD_FAILURE() << "no rule for " << directory;
  return *none;
}

TEST(LayeringTest, CheckerCatchesForbiddenIncludes) {
  const Rule& env = RuleFor("environment");
  EXPECT_EQ(Violations("environment/x.cc", "#include <grpcpp/grpcpp.h>\n", env).size(), 1u);
  EXPECT_EQ(
      Violations("environment/x.cc", "  #  include \"proto/smfg/v1/spec.pb.h\"\n", env).size(), 1u);
  EXPECT_EQ(Violations("environment/x.cc", "#include <torch/torch.h>\n", env).size(), 1u);
  EXPECT_EQ(
      Violations("environment/x.cc", "#include \"absl/status/status.h\"\n#include <vector>\n", env)
          .size(),
      0u);
  const Rule& training = RuleFor("training");
  EXPECT_EQ(Violations("training/t.cc", "#include \"grpcpp/grpcpp.h\"\n", training).size(), 1u);
  EXPECT_EQ(
      Violations("training/t.cc", "#include \"coordinator/experiment_store.h\"\n", training).size(),
      1u);
  EXPECT_EQ(Violations("training/t.cc", "#include \"client/commands.h\"\n", training).size(), 1u);
  EXPECT_EQ(Violations("training/t.cc", "#include \"leader/ppo.h\"\n", training).size(), 0u);
  const Rule& client = RuleFor("client");
  EXPECT_EQ(
      Violations("client/c.cc", "#include \"coordinator/experiment_store.h\"\n", client).size(),
      1u);
  const Rule& leader = RuleFor("leader");
  for (const char* bad : {"#include \"environment/scenario.h\"\n",
                          "#include \"smfg/v1/spec.pb.h\"\n", "#include <grpcpp/grpcpp.h>\n"}) {
    EXPECT_EQ(Violations("leader/l.cc", bad, leader).size(), 1u) << bad;
  }
  const Rule& common = RuleFor("common");
  EXPECT_EQ(Violations("common/json.cc", "#include <grpcpp/grpcpp.h>\n", common).size(), 1u);
  EXPECT_EQ(Violations("common/grpc_status.cc", "#include <grpcpp/grpcpp.h>\n", common).size(), 0u);
  const Rule& coordinator = RuleFor("coordinator");
  EXPECT_EQ(
      Violations("coordinator/w.cc", "#include \"follower_workers/worker_core.h\"\n", coordinator)
          .size(),
      1u);
  EXPECT_EQ(
      Violations("coordinator/w.cc", "#include \"follower_workers/wire_convert.h\"\n", coordinator)
          .size(),
      0u);
}

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(LayeringTest, ProjectFollowsDependencyDirection) {
  namespace fs = std::filesystem;
  const fs::path root = SMFG_SOURCE_DIR;
  std::vector<std::string> violations;
  int files = 0;
  for (const Rule& rule : Rules()) {
    ASSERT_TRUE(fs::exists(root / rule.directory)) << rule.directory;
    for (const auto& entry : fs::recursive_directory_iterator(root / rule.directory)) {
      const std::string ext = entry.path().extension().string();
      if (ext != ".h" && ext != ".cc") continue;
      ++files;
      for (auto& v : Violations(fs::relative(entry.path(), root).generic_string(),
                                ReadText(entry.path()), rule)) {
        violations.push_back(v);
      }
    }
  }
  EXPECT_GT(files, 100);
  for (const std::string& v : violations) ADD_FAILURE() << v;
}

// Only leader/ and followers/ may include torch, in any directory we own.
TEST(LayeringTest, TorchOnlyInLeaderAndFollowers) {
  namespace fs = std::filesystem;
  const fs::path root = SMFG_SOURCE_DIR;
  const Rule torch{"", std::regex("^(torch|ATen)/"), "torch lives in leader/ and followers/ only"};
  for (const char* dir : {"common", "environment", "rl", "config", "training", "client",
                          "coordinator", "follower_workers", "tests", "bench"}) {
    if (!fs::exists(root / dir)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / dir)) {
      const std::string ext = entry.path().extension().string();
      if (ext != ".h" && ext != ".cc") continue;
      for (auto& v : Violations(entry.path().string(), ReadText(entry.path()), torch)) {
        ADD_FAILURE() << v;
      }
    }
  }
}

}  // namespace
