#include "common/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace smfg {
namespace {

void WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

std::string Response(int code, absl::string_view reason, const std::string& content_type,
                     const std::string& body) {
  return absl::StrCat("HTTP/1.0 ", code, " ", reason, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& host, int port, std::map<std::string, Handler> handlers) {
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("HTTP port ", port, " out of range"));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("'", host, "' is not an IPv4 address"));
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 16) != 0) {
    const std::string error = std::strerror(errno);
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port, ": ", error));
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::unique_ptr<HttpServer> server(new HttpServer(fd, ntohs(addr.sin_port), std::move(handlers)));
  server->thread_ = std::thread([s = server.get()] { s->Loop(); });
  return server;
}

HttpServer::HttpServer(int fd, int port, std::map<std::string, Handler> handlers)
    : fd_(fd), port_(port), handlers_(std::move(handlers)) {}

HttpServer::~HttpServer() {
  Stop();
  close(fd_);
}

void HttpServer::Stop() {
  if (stopping_.exchange(true)) {
    if (thread_.joinable()) thread_.join();
    return;
  }
  // Wakes the blocked accept() (it fails with EINVAL on a shut-down socket).
  shutdown(fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
}

void HttpServer::Loop() {
  while (!stopping_.load()) {
    const int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (stopping_.load()) return;
      continue;
    }
    Serve(client);
    // Read (and drop) what the client still sends so that close() does not
    // reset the connection before it has read the response; bounded.
    shutdown(client, SHUT_WR);
    char sink[4096];
    for (int i = 0; i < 16 && recv(client, sink, sizeof(sink), 0) > 0; ++i) {
    }
    close(client);
  }
}

void HttpServer::Serve(int client) {
  timeval timeout{};
  timeout.tv_sec = 1;
  setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  std::string request;
  char buffer[1024];
  bool complete = false;
  while (request.size() <= kMaxRequestBytes) {
    const ssize_t n = recv(client, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // closed, error or 1 s timeout
    request.append(buffer, static_cast<size_t>(n));
    if (request.find("\r\n\r\n") != std::string::npos ||
        request.find("\n\n") != std::string::npos) {
      complete = true;
      break;
    }
  }
  const std::string bad = Response(400, "Bad Request", "text/plain", "bad request\n");
  if (!complete || request.size() > kMaxRequestBytes) {
    WriteAll(client, bad);
    return;
  }
  const std::string line = request.substr(0, request.find_first_of("\r\n"));
  std::vector<std::string> parts = absl::StrSplit(line, ' ');
  if (parts.size() != 3 || parts[0] != "GET" || parts[1].empty() || parts[1][0] != '/' ||
      (parts[2] != "HTTP/1.0" && parts[2] != "HTTP/1.1")) {
    WriteAll(client, bad);
    return;
  }
  std::string path = parts[1].substr(0, parts[1].find('?'));
  auto it = handlers_.find(path);
  if (it == handlers_.end()) {
    WriteAll(client, Response(404, "Not Found", "text/plain", "not found\n"));
    return;
  }
  WriteAll(client, Response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", it->second()));
}

}  // namespace smfg
