// The deployment files (docker-compose.yml, deploy/k8s/*.yaml) only use flags,
// subcommands and SMFG_* environment variables that the binaries' --help
// lists, and the extraction behind that check (tests/deployment_flags.h)
// on inline YAML snippets.
#include "tests/deployment_flags.h"

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/process_util.h"

namespace smfg::deploy_check {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

DeploymentRefs Extract(const std::string& yaml) {
  absl::StatusOr<DeploymentRefs> refs = ExtractDeploymentRefs(yaml);
  EXPECT_TRUE(refs.ok()) << refs.status();
  return refs.ok() ? *refs : DeploymentRefs{};
}

// ---- YAML subset -----------------------------------------------------------------

TEST(DeploymentYamlTest, MapsListsScalarsAndComments) {
  absl::StatusOr<std::vector<YamlNodePtr>> docs = ParseYamlSubset(
      "a: 1  # comment\n"
      "b:\n"
      "  - x\n"
      "  - 'y # not a comment'\n"
      "c:\n"
      "- k: v\n"
      "  k2: \"q\\\"uote\"\n"
      "d: [p, \"q, r\", {s: t}]\n"
      "e: plain\n"
      "  continued\n");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_THAT(*docs, SizeIs(1));
  const YamlNode& root = *(*docs)[0];
  EXPECT_EQ(root.Find("a")->scalar, "1");
  ASSERT_THAT(root.Find("b")->list, SizeIs(2));
  EXPECT_EQ(root.Find("b")->list[1]->scalar, "y # not a comment");
  ASSERT_THAT(root.Find("c")->list, SizeIs(1));
  EXPECT_EQ(root.Find("c")->list[0]->Find("k2")->scalar, "q\"uote");
  const YamlNode& d = *root.Find("d");
  ASSERT_THAT(d.list, SizeIs(3));
  EXPECT_EQ(d.list[1]->scalar, "q, r");
  EXPECT_EQ(d.list[2]->Find("s")->scalar, "t");
  EXPECT_EQ(root.Find("e")->scalar, "plain continued");
}

TEST(DeploymentYamlTest, BlockScalarsAnchorsMergeKeysAndDocuments) {
  absl::StatusOr<std::vector<YamlNodePtr>> docs = ParseYamlSubset(
      "base: &base\n"
      "  image: smfg:local\n"
      "  user: \"10001\"\n"
      "svc:\n"
      "  <<: *base\n"
      "  user: root\n"
      "  lit: |\n"
      "    one # kept\n"
      "    two\n"
      "  fold: >-\n"
      "    three\n"
      "    four\n"
      "---\n"
      "second: [a,\n"
      "  b]\n");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_THAT(*docs, SizeIs(2));
  const YamlNode& svc = *(*docs)[0]->Find("svc");
  EXPECT_EQ(svc.Find("image")->scalar, "smfg:local");
  EXPECT_EQ(svc.Find("user")->scalar, "root");  // own keys win over merged ones
  EXPECT_EQ(svc.Find("lit")->scalar, "one # kept\ntwo");
  EXPECT_EQ(svc.Find("fold")->scalar, "three four");
  EXPECT_THAT((*docs)[1]->Find("second")->list, SizeIs(2));
}

TEST(DeploymentYamlTest, RejectsWhatItDoesNotUnderstand) {
  EXPECT_THAT(ParseYamlSubset("a:\n\tb: 1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));  // tab indentation
  EXPECT_THAT(ParseYamlSubset("a: *nowhere\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));  // unknown alias
  EXPECT_THAT(ParseYamlSubset("a: [1, 2\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));  // unclosed flow
  EXPECT_THAT(ParseYamlSubset("a: 1\n   b: 2\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));  // bad indentation
  EXPECT_THAT(ParseYamlSubset("a: 'open\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));  // unclosed quote
}

// ---- Shell words ----------------------------------------------------------------

TEST(DeploymentShellWordsTest, QuotesSubstitutionsAndOperators) {
  EXPECT_THAT(SplitShellWords("a 'b c' \"d $(e f) ${G:-h i}\" $(j k)"),
              ElementsAre("a", "b c", "d $(e f) ${G:-h i}", "$(j k)"));
  EXPECT_THAT(SplitShellWords("x && y || z; w | v 2>&1 &"),
              ElementsAre("x", "&&", "y", "||", "z", ";", "w", "|", "v", "2>&1", "&"));
  EXPECT_THAT(SplitShellWords("a \\\n  b # comment\nc"), ElementsAre("a", "b", ";", "c"));
}

// ---- Extraction -------------------------------------------------------------------

TEST(DeploymentExtractTest, ComposeCommandsHealthchecksAndEnvironment) {
  const DeploymentRefs refs = Extract(
      "services:\n"
      "  coordinator:\n"
      "    image: smfg:local\n"
      "    command: >\n"
      "      smfg-coordinator --listen=0.0.0.0:50051\n"
      "      --data_dir /data --metrics_port -1\n"
      "    environment:\n"
      "      SMFG_API_TOKEN: ${SMFG_API_TOKEN:?set it}\n"
      "      OTHER: x\n"
      "    healthcheck:\n"
      "      test: [\"CMD\", \"smfg\", \"health\", \"--coordinator\", \"localhost:50051\"]\n"
      "  worker:\n"
      "    command: [\"/usr/local/bin/smfg-worker\", \"--coordinator\", \"coordinator:50051\"]\n"
      "    environment:\n"
      "      - SMFG_CLUSTER_TOKEN=${SMFG_CLUSTER_TOKEN}\n"
      "    healthcheck:\n"
      "      test: [\"CMD-SHELL\", \"pgrep smfg-worker || exit 1\"]\n"
      "  web:\n"
      "    command: [\"nginx\", \"-g\", \"daemon off;\"]\n");
  ASSERT_THAT(refs.invocations, SizeIs(3));  // pgrep's argument is not a run
  const Invocation& coordinator = refs.invocations[0];
  EXPECT_EQ(coordinator.binary, "smfg-coordinator");
  EXPECT_THAT(coordinator.flags, ElementsAre("--listen", "--data_dir", "--metrics_port"));
  EXPECT_EQ(coordinator.line, 4);
  EXPECT_EQ(refs.invocations[1].binary, "smfg");
  EXPECT_EQ(refs.invocations[1].subcommand, "health");
  EXPECT_THAT(refs.invocations[1].flags, ElementsAre("--coordinator"));
  EXPECT_EQ(refs.invocations[2].binary, "smfg-worker");
  ASSERT_THAT(refs.env, SizeIs(2));  // OTHER is not ours
  EXPECT_EQ(refs.env[0].name, "SMFG_API_TOKEN");
  EXPECT_THAT(refs.env[0].binaries, ElementsAre("smfg", "smfg-coordinator"));
  EXPECT_EQ(refs.env[1].name, "SMFG_CLUSTER_TOKEN");
  EXPECT_THAT(refs.env[1].binaries, ElementsAre("smfg-worker"));
  EXPECT_THAT(refs.problems, IsEmpty());
}

TEST(DeploymentExtractTest, KubernetesCommandArgsEnvProbesAndDependentVariables) {
  const DeploymentRefs refs = Extract(
      "apiVersion: apps/v1\n"
      "kind: Deployment\n"
      "spec:\n"
      "  template:\n"
      "    spec:\n"
      "      containers:\n"
      "        - name: worker\n"
      "          command: [smfg-worker]\n"
      "          args:\n"
      "            - --coordinator=$(COORDINATOR)\n"
      "            - --threads\n"
      "            - \"2\"\n"
      "            - --name=$(POD_NAME)\n"
      "          env:\n"
      "            - name: COORDINATOR\n"
      "              value: smfg-coordinator:50051\n"
      "            - name: SMFG_CLUSTER_TOKEN\n"
      "              valueFrom:\n"
      "                secretKeyRef: {name: smfg-tokens, key: cluster-token}\n"
      "          livenessProbe:\n"
      "            exec:\n"
      "              command: [\"sh\", \"-c\", \"exec smfg health --token_file "
      "\\\"$(mktemp)\\\"\"]\n");
  ASSERT_THAT(refs.invocations, SizeIs(2));
  EXPECT_EQ(refs.invocations[0].binary, "smfg-worker");
  EXPECT_THAT(refs.invocations[0].flags, ElementsAre("--coordinator", "--threads", "--name"));
  EXPECT_EQ(refs.invocations[0].line, 8);
  EXPECT_EQ(refs.invocations[1].binary, "smfg");
  EXPECT_EQ(refs.invocations[1].subcommand, "health");
  EXPECT_THAT(refs.invocations[1].flags, ElementsAre("--token_file"));
  ASSERT_THAT(refs.env, SizeIs(1));
  EXPECT_EQ(refs.env[0].name, "SMFG_CLUSTER_TOKEN");
  EXPECT_THAT(refs.env[0].binaries, ElementsAre("smfg", "smfg-worker"));
  // $(COORDINATOR) is defined; $(POD_NAME) is not, so Kubernetes would pass it literally.
  ASSERT_THAT(refs.problems, SizeIs(1));
  EXPECT_THAT(refs.problems[0], HasSubstr("$(POD_NAME)"));
  EXPECT_THAT(refs.problems[0], HasSubstr("line 13"));
}

TEST(DeploymentExtractTest, ShellScriptsAndVariablesWithoutOurBinary) {
  const DeploymentRefs refs = Extract(
      "services:\n"
      "  worker:\n"
      "    entrypoint: [\"/bin/sh\", \"-ec\"]\n"
      "    command:\n"
      "      - |\n"
      "        X=1 exec smfg-worker \\\n"
      "          --coordinator=\"${COORD:-coordinator:50051}\" --threads \"$(nproc)\"\n"
      "  proxy:\n"
      "    image: envoy\n"
      "    environment: [SMFG_API_TOKEN]\n");
  ASSERT_THAT(refs.invocations, SizeIs(1));
  EXPECT_THAT(refs.invocations[0].flags, ElementsAre("--coordinator", "--threads"));
  ASSERT_THAT(refs.problems, SizeIs(1));
  EXPECT_THAT(refs.problems[0], HasSubstr("SMFG_API_TOKEN is set where no command runs"));
}

TEST(DeploymentExtractTest, ComposeExtensionFieldsCountWhereMerged) {
  const DeploymentRefs refs = Extract(
      "x-smfg: &smfg\n"
      "  image: smfg:local\n"
      "  environment:\n"
      "    SMFG_CLUSTER_TOKEN: ${SMFG_CLUSTER_TOKEN}\n"
      "services:\n"
      "  worker:\n"
      "    <<: *smfg\n"
      "    command: smfg-worker --coordinator=c:1\n");
  ASSERT_THAT(refs.env, SizeIs(1));
  EXPECT_THAT(refs.env[0].binaries, ElementsAre("smfg-worker"));
  EXPECT_THAT(refs.problems, IsEmpty());
}

// ---- Checking against help texts -------------------------------------------------

const std::map<std::string, std::string>& FakeHelp() {
  static const auto* help = new std::map<std::string, std::string>{
      {"smfg-worker", "  --coordinator HOST:PORT\n  --threads N\n  $SMFG_CLUSTER_TOKEN\n"},
      {"smfg", "  health   check a coordinator\n  --coordinator (...)\n  --token_file\n"}};
  return *help;
}

TEST(DeploymentCheckTest, DocumentedFlagsAndVariablesPass) {
  const DeploymentRefs refs = Extract(
      "command: smfg-worker --coordinator=c:1 --threads 2\n"
      "environment: {SMFG_CLUSTER_TOKEN: t}\n");
  EXPECT_THAT(CheckAgainstHelp("f.yml", refs, FakeHelp()), IsEmpty());
}

TEST(DeploymentCheckTest, CatchesBogusFlag) {
  const DeploymentRefs refs = Extract("command: smfg-worker --coordinator=c:1 --no_such_flag\n");
  EXPECT_THAT(CheckAgainstHelp("f.yml", refs, FakeHelp()),
              ElementsAre("f.yml:1: smfg-worker: flag --no_such_flag is not in "
                          "`smfg-worker --help`"));
}

TEST(DeploymentCheckTest, FlagMustMatchAsAWholeWord) {
  // "--thread" is a prefix of the documented "--threads", not a flag of its own.
  const DeploymentRefs refs = Extract("command: [smfg-worker, --thread, \"2\"]\n");
  EXPECT_THAT(CheckAgainstHelp("f.yml", refs, FakeHelp()), SizeIs(1));
}

TEST(DeploymentCheckTest, CatchesUnknownVariableSubcommandAndBinary) {
  const DeploymentRefs refs = Extract(
      "a:\n"
      "  command: smfg-worker --coordinator=c:1\n"
      "  environment: [SMFG_API_TOKEN=x]\n"
      "b:\n"
      "  command: smfg healthz\n"
      "c:\n"
      "  command: smfg-cordinator --listen=x:1\n");
  const std::vector<std::string> problems = CheckAgainstHelp("f.yml", refs, FakeHelp());
  EXPECT_THAT(problems,
              ElementsAre("f.yml:5: smfg: subcommand 'healthz' is not in `smfg --help`",
                          "f.yml:7: unknown binary 'smfg-cordinator' (not one of smfg's binaries)",
                          "f.yml:3: SMFG_API_TOKEN is set for smfg-worker but is not in the "
                          "--help of any of them"));
}

// ---- The real binaries and deployment files ---------------------------------------

struct HelpRun {
  int exit_code = -1;  // -1: did not exit by itself in time
  std::string output;  // stdout and stderr
};

HelpRun RunWithDeadline(const std::string& binary, const std::string& flag) {
  const fs::path dir = testing_util::FreshDir("smfg-help");
  const std::string log = (dir / "out.txt").string();
  HelpRun run;
  {
    testing_util::Child child({binary, flag}, log, /*capture_stdout=*/false);
    const int status = child.Wait(absl::Seconds(30));
    if (status >= 0 && WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  }
  run.output = testing_util::ReadAll(log);
  return run;
}

const std::map<std::string, std::string>& BinaryPaths() {
  static const auto* paths =
      new std::map<std::string, std::string>{{"smfg-coordinator", SMFG_COORDINATOR_BIN},
                                             {"smfg-worker", SMFG_WORKER_BIN},
                                             {"smfg", SMFG_CLIENT_BIN}};
  return *paths;
}

std::map<std::string, std::string> RealHelp() {
  std::map<std::string, std::string> help;
  for (const auto& [name, path] : BinaryPaths())
    help[name] = RunWithDeadline(path, "--help").output;
  return help;
}

TEST(DeploymentFlagsTest, EveryBinaryExistsAndPrintsItsFlags) {
  for (const auto& [name, path] : BinaryPaths()) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(fs::exists(path)) << path;
    const HelpRun run = RunWithDeadline(path, "--help");
    EXPECT_NE(run.exit_code, -1) << "did not exit within the deadline";
    EXPECT_THAT(run.output, HasSubstr("--"));
  }
}

TEST(DeploymentFlagsTest, WorkerHelpListsEveryFlagOnStdoutAndExitsZero) {
  for (const std::string flag : {"--help", "-h"}) {
    SCOPED_TRACE(flag);
    const fs::path dir = testing_util::FreshDir("smfg-worker-help");
    testing_util::Child child({SMFG_WORKER_BIN, flag}, (dir / "stderr.txt").string(),
                              /*capture_stdout=*/true);
    std::string stdout_text;
    for (std::string line = child.ReadLine(absl::Seconds(30)); !line.empty();
         line = child.ReadLine(absl::Seconds(30))) {
      stdout_text += line + "\n";
    }
    const int status = child.Wait(absl::Seconds(30));
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
    for (const char* documented : {"--coordinator", "--threads", "--name", "--token_file",
                                   "--tls_ca", "--help", "-h", "SMFG_CLUSTER_TOKEN"}) {
      EXPECT_THAT(stdout_text, HasSubstr(documented));
    }
  }
}

TEST(DeploymentFlagsTest, WorkerRejectsUnknownFlagWithExitTwo) {
  const HelpRun run = RunWithDeadline(SMFG_WORKER_BIN, "--no_such_flag");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.output, HasSubstr("unknown flag '--no_such_flag'"));
}

// The flags and SMFG_* variables a main.cc defines or reads: ABSL_FLAG names,
// and string literals that are exactly a flag ("--threads", "-h") or a
// variable name ("SMFG_API_TOKEN"; every getenv/LoadToken of ours is in a
// main.cc or goes through one with such a literal).
std::set<std::string> FlagsAndVariablesInSource(const std::string& source) {
  std::set<std::string> found;
  static const std::regex kAbslFlag(R"(ABSL_FLAG\(\s*[^,]+,\s*(\w+)\s*,)");
  static const std::regex kLiteral(R"re("(--?[a-z_]+|SMFG_[A-Z_]+)")re");
  for (std::sregex_iterator it(source.begin(), source.end(), kAbslFlag), end; it != end; ++it) {
    found.insert("--" + (*it)[1].str());
  }
  for (std::sregex_iterator it(source.begin(), source.end(), kLiteral), end; it != end; ++it) {
    found.insert((*it)[1].str());
  }
  return found;
}

// The other direction: everything a binary accepts is in its --help (which
// the check above relies on, and which operators read).
TEST(DeploymentFlagsTest, HelpListsEveryFlagAndVariableTheMainReads) {
  const std::map<std::string, std::string> sources = {{"smfg-coordinator", "coordinator/main.cc"},
                                                      {"smfg-worker", "follower_workers/main.cc"},
                                                      {"smfg", "client/main.cc"}};
  const std::map<std::string, std::string> help = RealHelp();
  for (const auto& [binary, source] : sources) {
    const std::set<std::string> accepted = FlagsAndVariablesInSource(
        testing_util::ReadAll((fs::path(SMFG_SOURCE_DIR) / source).string()));
    EXPECT_GE(accepted.size(), 3u) << source << ": the scan found (almost) nothing";
    for (const std::string& name : accepted) {
      EXPECT_TRUE(absl::StrContains(help.at(binary), name))
          << binary << " --help does not mention " << name << " (used in " << source << ")";
    }
  }
}

// Where docker-compose.yml and deploy/k8s/ are: the source tree, or
// $SMFG_DEPLOYMENT_ROOT (to try the check on a copy before changing the tree).
fs::path DeploymentRoot() {
  const char* root = std::getenv("SMFG_DEPLOYMENT_ROOT");
  return root != nullptr && *root != '\0' ? fs::path(root) : fs::path(SMFG_SOURCE_DIR);
}

// The files checked: the compose file if present and every manifest.
std::vector<fs::path> DeploymentFiles() {
  const fs::path root = DeploymentRoot();
  std::vector<fs::path> files;
  if (fs::exists(root / "docker-compose.yml")) files.push_back(root / "docker-compose.yml");
  if (fs::is_directory(root / "deploy" / "k8s")) {
    for (const fs::directory_entry& entry : fs::directory_iterator(root / "deploy" / "k8s")) {
      const std::string ext = entry.path().extension().string();
      if (ext == ".yaml" || ext == ".yml") files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(DeploymentFlagsTest, DeploymentFilesUseOnlyDocumentedFlagsAndVariables) {
  const std::vector<fs::path> files = DeploymentFiles();
  ASSERT_FALSE(files.empty()) << "no docker-compose.yml and no deploy/k8s/*.yaml";
  const std::map<std::string, std::string> help = RealHelp();
  std::vector<std::string> problems;
  std::map<std::string, int> runs_by_binary;
  for (const fs::path& file : files) {
    const std::string name = fs::relative(file, DeploymentRoot()).string();
    absl::StatusOr<DeploymentRefs> refs = ExtractDeploymentRefs(testing_util::ReadAll(file));
    ASSERT_TRUE(refs.ok()) << name << ": " << refs.status();
    for (const Invocation& invocation : refs->invocations) ++runs_by_binary[invocation.binary];
    for (std::string& p : CheckAgainstHelp(name, *refs, help)) problems.push_back(std::move(p));
  }
  EXPECT_THAT(problems, IsEmpty()) << absl::StrJoin(problems, "\n");
  // The check saw the commands at all (an extraction finding nothing passes trivially).
  EXPECT_GT(runs_by_binary["smfg-coordinator"], 0);
  EXPECT_GT(runs_by_binary["smfg-worker"], 0);
}

TEST(DeploymentFlagsTest, RealHelpCatchesBogusFlagAndVariable) {
  const DeploymentRefs refs = Extract(
      "command: [smfg-worker, --coordinator=c:1, --no_such_flag]\n"
      "env:\n"
      "  - name: SMFG_NO_SUCH_VARIABLE\n");
  const std::vector<std::string> problems = CheckAgainstHelp("snippet.yaml", refs, RealHelp());
  EXPECT_THAT(problems,
              ElementsAre(HasSubstr("flag --no_such_flag"), HasSubstr("SMFG_NO_SUCH_VARIABLE")));
}

}  // namespace
}  // namespace smfg::deploy_check
