// Helpers for tests that run programs as child processes: a Child that is
// always terminated and reaped, file and log helpers, a self-signed TLS
// certificate, and reading the coordinator's Prometheus endpoint. Plain
// POSIX + Abseil (no gRPC client, no torch), so any test may link it; the
// coordinator/client steps are in tests/cluster_util.h. Never used by
// production code.
#ifndef SMFG_TESTS_PROCESS_UTIL_H_
#define SMFG_TESTS_PROCESS_UTIL_H_

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace smfg::testing_util {

// A child process, terminated (SIGTERM, then SIGKILL) and reaped by the
// destructor, so a failing test never leaves processes behind.
class Child {
 public:
  // Starts `argv` (argv[0] is a path); its stdout goes to a pipe (read with
  // ReadLine) if `capture_stdout`, else to `log_path`; stderr always to
  // `log_path`. `env` entries ("NAME=value") are added to the environment.
  Child(std::vector<std::string> argv, const std::string& log_path, bool capture_stdout,
        std::vector<std::string> env = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // One line of stdout, or "" at EOF / after `timeout`.
  std::string ReadLine(absl::Duration timeout);
  // SIGKILL, as a crash would; returns once the process is gone.
  void Kill();
  // SIGTERM, wait up to `grace`, then SIGKILL; returns the exit status as
  // waitpid reports it (-1 if it had to be killed or was not started).
  int Stop(absl::Duration grace);
  // Waits up to `timeout` for the process to exit by itself; returns the
  // waitpid status, or -1 (still running: it is then killed).
  int Wait(absl::Duration timeout);

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
};

std::string ReadAll(const std::string& path);

// A fresh, empty directory under the test temp dir named after the test.
std::filesystem::path FreshDir(const std::string& prefix = "smfg-mp");

// True once `path` contains `text`, polling until `deadline` (a log written
// by another process: there is nothing to wait on but the file itself).
bool WaitForLogLine(const std::filesystem::path& path, const std::string& text,
                    absl::Time deadline);

// A self-signed TLS certificate for CN=localhost with subjectAltName
// DNS:localhost and IP:127.0.0.1 (so a client may dial either), valid one day.
struct SelfSignedCert {
  std::string cert_path;  // PEM certificate (also the client's trust root)
  std::string key_path;   // PEM private key, unencrypted
  std::string cert_pem;   // contents of cert_path
};
// Made by `openssl req` in `dir`. UNAVAILABLE when openssl is not installed
// (callers skip), INTERNAL when it fails.
absl::StatusOr<SelfSignedCert> MakeSelfSignedCert(const std::filesystem::path& dir);

// GET http://host_port/path over a plain socket (HTTP/1.0, 30 s timeout);
// returns the body of a 200 response, else an error with the status line.
// For the coordinator's Prometheus endpoint (--metrics_port).
absl::StatusOr<std::string> HttpGet(const std::string& host_port, const std::string& path);

// Reads the "metrics on HOST:PORT" line a coordinator started with
// --metrics_port=0 prints after "listening on"; "" if it does not come
// within `timeout`.
std::string ReadMetricsAddress(Child& coordinator, absl::Duration timeout = absl::Seconds(30));

// The value of the integer-valued per-worker series `series` (e.g.
// "smfg_worker_shards_completed_total") for the worker registered as `name`
// in Prometheus text `metrics`; -1 when there is no such row. A worker that
// re-registered under the same name has several rows: their sum.
int64_t WorkerMetric(const std::string& metrics, const std::string& series,
                     const std::string& name);

}  // namespace smfg::testing_util

#endif  // SMFG_TESTS_PROCESS_UTIL_H_
