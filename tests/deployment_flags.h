// Reads the deployment files (docker-compose.yml, deploy/k8s/*.yaml) well
// enough to find every command line that runs one of our binaries, the flags
// it passes and the SMFG_* environment variables set for the container, and
// checks them against each binary's --help text. Used by
// tests/deployment_flags_test.cc, so that a flag renamed in a main.cc, or
// misspelt in a manifest, fails a unit test instead of a rollout.
//
// YAML: there is no YAML library in the build, so ParseYamlSubset reads the
// subset our deployment files use, and fails (never guesses) on anything else
// it recognises as outside it:
//   - block mappings `key: value` and block sequences `- item`, indented with
//     spaces (a tab in the indentation is an error); a sequence may sit at the
//     same indentation as its key (`env:\n- name: X`), and `- key: v` starts a
//     mapping inside a sequence;
//   - scalars: plain (continued on deeper-indented lines), 'single' and
//     "double" quoted (\" \\ \n \t escapes), block scalars `|` and `>` with
//     optional chomping/indentation indicators, which are ignored (`|` keeps
//     line breaks, `>` folds lines into one with spaces; trailing line breaks
//     are always dropped);
//   - flow collections `[a, "b"]` and `{k: v}`, nested, possibly spanning
//     several lines until the brackets balance;
//   - comments (`#` at the start or after whitespace, outside quotes), several
//     documents separated by `---`, tags (`!reset`, `!!str`) which are
//     dropped, anchors `&a`, aliases `*a` and merge keys `<<: *a`.
// Not supported: multi-line quoted scalars containing `#`, complex keys (`?`),
// anchors on `- key: v` items.
//
// What counts as a command line, in any mapping of any document:
//   - `entrypoint`, `command` and `args`, concatenated in that order (compose
//     services and Kubernetes containers / exec probes). A list is taken word
//     for word; a string is split like a shell script (quotes, `$(...)` and
//     `${...}` kept as one word, `;` `&&` `||` `|` `&` and newlines separating
//     commands). `sh -c SCRIPT` / `bash -c SCRIPT` is followed into SCRIPT.
//   - `test` of a compose `healthcheck` (`CMD` list, `CMD-SHELL` script or a
//     string).
// Within each simple command, leading `exec`, `env` and NAME=value words are
// skipped; if the program's base name starts with "smfg" it is one of ours.
// Its flags are the words starting with `--` (name up to any `=`, so both
// `--flag=value` and `--flag value` work; the value word is ignored) and `-h`;
// for `smfg` the first other word that is not the value of a preceding
// `--flag` is the subcommand.
// Environment variables: the keys of a mapping's `environment`/`env` (compose
// map or `NAME=value` list, Kubernetes `- name: NAME` list), those starting
// with SMFG_ only; each belongs to the binaries invoked anywhere under the
// same mapping (a service with its healthcheck, a container with its probes);
// compose extension fields (`x-...` keys) count only where they are merged.
// `envFrom` is not read: name variables one by one so this check sees them.
// A Kubernetes dependent variable `$(NAME)` in a word of a command/args list
// must be set in that container's env: Kubernetes leaves it unexpanded
// otherwise.
#ifndef SMFG_TESTS_DEPLOYMENT_FLAGS_H_
#define SMFG_TESTS_DEPLOYMENT_FLAGS_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smfg::deploy_check {

// One YAML node: a scalar, a mapping (keys in file order) or a sequence.
struct YamlNode {
  enum class Kind { kScalar, kMap, kList };
  Kind kind = Kind::kScalar;
  std::string scalar;
  std::vector<std::pair<std::string, std::shared_ptr<const YamlNode>>> map;
  std::vector<std::shared_ptr<const YamlNode>> list;
  int line = 0;  // 1-based line where the node starts

  // The value of `key` in a mapping, or nullptr.
  const YamlNode* Find(absl::string_view key) const;
};
using YamlNodePtr = std::shared_ptr<const YamlNode>;

// The documents of `text` (the subset above); INVALID_ARGUMENT naming the
// line for what the subset does not cover.
absl::StatusOr<std::vector<YamlNodePtr>> ParseYamlSubset(absl::string_view text);

// `script` split like a POSIX shell would into words, with quotes removed;
// an operator (`;` `;;` `&&` `||` `|` `&`) is a word of its
// own, and so are `(` and `)`; an unescaped newline reads as `;`.
// `$(...)`, `${...}` and backquotes stay inside their word unexpanded; a
// `#` starting a word comments out the rest of the line.
std::vector<std::string> SplitShellWords(absl::string_view script);

// One run of one of our binaries.
struct Invocation {
  std::string binary;              // base name, e.g. "smfg-worker"
  std::vector<std::string> flags;  // e.g. "--coordinator" (values dropped)
  std::string subcommand;          // `smfg` only, e.g. "health"; else ""
  int line = 0;                    // of the command in its file
};

// One SMFG_* variable set for a container / service.
struct EnvVar {
  std::string name;                   // e.g. "SMFG_CLUSTER_TOKEN"
  std::vector<std::string> binaries;  // our binaries run in that container
  int line = 0;
};

struct DeploymentRefs {
  std::vector<Invocation> invocations;
  std::vector<EnvVar> env;
  // Mistakes found without any help text ("line N: ..."): an undefined
  // Kubernetes $(VAR), an SMFG_* variable set where none of our binaries runs.
  std::vector<std::string> problems;
};

// Everything above, from the text of one YAML file.
absl::StatusOr<DeploymentRefs> ExtractDeploymentRefs(absl::string_view yaml);

// One message per mistake, each naming `file`, the line, the binary and the
// flag, subcommand or variable: a binary with no entry in `help_by_binary`
// (keyed by base name), a flag or variable its help does not mention, a
// subcommand that does not start a line of the help, and refs.problems.
std::vector<std::string> CheckAgainstHelp(const std::string& file, const DeploymentRefs& refs,
                                          const std::map<std::string, std::string>& help_by_binary);

}  // namespace smfg::deploy_check

#endif  // SMFG_TESTS_DEPLOYMENT_FLAGS_H_
