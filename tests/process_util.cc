#include "tests/process_util.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "gtest/gtest.h"

extern char** environ;

namespace smfg::testing_util {

namespace fs = std::filesystem;

Child::Child(std::vector<std::string> argv, const std::string& log_path, bool capture_stdout,
             std::vector<std::string> env) {
  int fds[2] = {-1, -1};
  if (capture_stdout && pipe(fds) != 0) return;
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  // Built before fork(): the child may only make async-signal-safe calls.
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(capture_stdout ? fds[1] : log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  if (log >= 0) close(log);
  if (capture_stdout) {
    close(fds[1]);
    out_fd_ = fds[0];
  }
}

Child::~Child() {
  Stop(absl::Seconds(20));
  if (out_fd_ >= 0) close(out_fd_);
}

std::string Child::ReadLine(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string line;
  while (out_fd_ >= 0) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return "";
    pollfd p{out_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(ms)) <= 0) continue;
    char c;
    if (read(out_fd_, &c, 1) != 1) return "";
    if (c == '\n') return line;
    line += c;
  }
  return line;
}

void Child::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

int Child::Wait(absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  bool exited = false;
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    exited = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) == 1;
    close(pidfd);
  }
  if (!exited) {
    Kill();
    return -1;
  }
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

int Child::Stop(absl::Duration grace) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  return Wait(grace);
}

std::string ReadAll(const std::string& path) {
  // Test output and logs: a missing or unreadable file reads as empty.
  absl::StatusOr<std::string> content = ReadFile(path, kMaxCheckpointFileBytes);
  return content.ok() ? *content : std::string();
}

fs::path FreshDir(const std::string& prefix) {
  const fs::path dir = fs::path(testing::TempDir()) /
                       absl::StrCat(prefix, "-", getpid(), "-",
                                    testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

bool WaitForLogLine(const fs::path& path, const std::string& text, absl::Time deadline) {
  while (absl::Now() < deadline) {
    if (ReadAll(path.string()).find(text) != std::string::npos) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return ReadAll(path.string()).find(text) != std::string::npos;
}

absl::StatusOr<SelfSignedCert> MakeSelfSignedCert(const fs::path& dir) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
    return absl::UnavailableError("openssl is not installed");
  }
  fs::create_directories(dir);
  SelfSignedCert tls;
  tls.cert_path = (dir / "cert.pem").string();
  tls.key_path = (dir / "key.pem").string();
  const std::string command = absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout ",
      tls.key_path, " -out ", tls.cert_path, " >/dev/null 2>&1");
  if (std::system(command.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("failed: ", command));
  }
  tls.cert_pem = ReadAll(tls.cert_path);
  if (tls.cert_pem.empty()) return absl::InternalError("openssl wrote no certificate");
  return tls;
}

namespace {

// A TCP connection to host:port with 30 s send/receive timeouts, or -1.
int ConnectWithTimeouts(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return -1;
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const timeval timeout{30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  return fd;
}

}  // namespace

absl::StatusOr<std::string> HttpGet(const std::string& host_port, const std::string& path) {
  const size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError("expected HOST:PORT, got '" + host_port + "'");
  }
  const int fd = ConnectWithTimeouts(host_port.substr(0, colon), host_port.substr(colon + 1));
  if (fd < 0) return absl::UnavailableError("cannot connect to " + host_port);
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: ", host_port, "\r\n\r\n");
  const bool sent = send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
                    static_cast<ssize_t>(request.size());
  // The server answers with "Connection: close": the response ends at EOF.
  std::string response;
  char buffer[4096];
  ssize_t n = 0;
  while (sent && (n = read(fd, buffer, sizeof(buffer))) > 0) response.append(buffer, n);
  close(fd);
  if (!sent || n < 0) {
    return absl::UnavailableError(absl::StrCat("GET ", path, " from ", host_port, " failed"));
  }
  const size_t header_end = response.find("\r\n\r\n");
  const std::string status_line = response.substr(0, response.find("\r\n"));
  if (header_end == std::string::npos || status_line.find(" 200 ") == std::string::npos) {
    return absl::UnavailableError("GET " + path + ": '" + status_line + "'");
  }
  return response.substr(header_end + 4);
}

std::string ReadMetricsAddress(Child& coordinator, absl::Duration timeout) {
  const std::string line = coordinator.ReadLine(timeout);
  const std::string prefix = "metrics on ";
  return line.rfind(prefix, 0) == 0 ? line.substr(prefix.size()) : "";
}

int64_t WorkerMetric(const std::string& metrics, const std::string& series,
                     const std::string& name) {
  const std::string labels_end = absl::StrCat(",name=\"", name, "\"} ");
  int64_t total = -1;
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (!absl::StartsWith(line, series + "{")) continue;
    const size_t at = line.find(labels_end);
    int64_t value = 0;
    if (at == absl::string_view::npos ||
        !absl::SimpleAtoi(line.substr(at + labels_end.size()), &value)) {
      continue;
    }
    total = std::max<int64_t>(total, 0) + value;
  }
  return total;
}

}  // namespace smfg::testing_util
