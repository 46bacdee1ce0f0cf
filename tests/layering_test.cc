// Enforces the dependency direction of DESIGN §6 by reading every source file's
// #include lines:
//   common/       absl and the standard library only
//   environment/  + common/ and COIN-OR; no gRPC, torch, protobuf or proto/
//   leader/       the only place <torch/...> may be included
//   follower_workers/ may not include coordinator/ or leader/
//   coordinator/, client/, spec/ may not include follower_workers/ internals
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
};

const std::vector<Rule>& Rules() {
  static const std::vector<Rule>* rules = new std::vector<Rule>{
      {"common",
       std::regex("^(environment|spec|client|coordinator|follower_workers|leader|proto|"
                  "smfg/v1|grpcpp|grpc|torch|google/protobuf|coin)/"),
       "common/ depends on absl and the standard library only"},
      {"environment",
       std::regex("^(grpcpp|grpc|torch|ATen|google/protobuf|proto|smfg/v1|spec|"
                  "client|coordinator|follower_workers|leader)/"),
       "environment/ is plain C++ (absl, Clp): no gRPC, torch, protobuf or proto"},
      {"spec", std::regex("^(torch|ATen|grpcpp|client|coordinator|follower_workers|leader)/"),
       "spec/ converts the proto spec to environment types only"},
      {"follower_workers", std::regex("^(torch|ATen|coordinator|leader)/"),
       "workers depend on environment and proto, never on the coordinator or torch"},
      {"client", std::regex("^(torch|ATen)/"), "torch lives in leader/ only"},
      {"coordinator", std::regex("^(torch|ATen|follower_workers|client)/"),
       "the coordinator reaches torch through leader/'s facade only and never depends on the "
       "client"},
  };
  return *rules;
}

// Returns "file:line: <include> (why)" for each violation in `text`.
std::vector<std::string> Violations(const std::string& file, const std::string& text,
                                    const Rule& rule) {
  static const std::regex include_re(R"(^\s*#\s*include\s*[<"]([^>"]+)[>"])");
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::smatch m;
    if (std::regex_search(line, m, include_re) && std::regex_search(m[1].str(), rule.forbidden)) {
      out.push_back(file + ":" + std::to_string(n) + ": " + m[1].str() + " (" + rule.why + ")");
    }
  }
  return out;
}

TEST(LayeringTest, CheckerCatchesForbiddenIncludes) {
  const Rule& env = Rules()[1];
  EXPECT_EQ(Violations("x.cc", "#include <grpcpp/grpcpp.h>\n", env).size(), 1u);
  EXPECT_EQ(Violations("x.cc", "  #  include \"proto/smfg/v1/spec.pb.h\"\n", env).size(), 1u);
  EXPECT_EQ(Violations("x.cc", "#include <torch/torch.h>\n", env).size(), 1u);
  EXPECT_EQ(
      Violations("x.cc", "#include \"absl/status/status.h\"\n#include <vector>\n", env).size(), 0u);
}

TEST(LayeringTest, ProjectFollowsDependencyDirection) {
  namespace fs = std::filesystem;
  const fs::path root = SMFG_SOURCE_DIR;
  std::vector<std::string> violations;
  int files = 0;
  for (const Rule& rule : Rules()) {
    if (!fs::exists(root / rule.directory)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / rule.directory)) {
      const std::string ext = entry.path().extension().string();
      if (ext != ".h" && ext != ".cc") continue;
      std::ifstream in(entry.path());
      const std::string text((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      ++files;
      for (auto& v : Violations(fs::relative(entry.path(), root).string(), text, rule)) {
        violations.push_back(v);
      }
    }
  }
  EXPECT_GT(files, 10);
  for (const std::string& v : violations) ADD_FAILURE() << v;
}

// Only leader/ may include torch, in any directory we own.
TEST(LayeringTest, TorchOnlyInLeader) {
  namespace fs = std::filesystem;
  const fs::path root = SMFG_SOURCE_DIR;
  const Rule torch{"", std::regex("^(torch|ATen)/"), "torch lives in leader/ only"};
  for (const char* dir : {"common", "environment", "spec", "client", "coordinator",
                          "follower_workers", "tests", "bench"}) {
    if (!fs::exists(root / dir)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / dir)) {
      const std::string ext = entry.path().extension().string();
      if (ext != ".h" && ext != ".cc") continue;
      std::ifstream in(entry.path());
      const std::string text((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      for (auto& v : Violations(entry.path().string(), text, torch)) ADD_FAILURE() << v;
    }
  }
}

}  // namespace
