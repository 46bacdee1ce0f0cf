// A tiny blocking HTTP/1.0 server for GET endpoints such as /metrics (plain
// POSIX sockets, one thread, one connection at a time). Requests are read
// with a 1 s timeout and at most kMaxRequestBytes; anything that is not a
// well-formed "GET <path> HTTP/1.x" request gets 400, an unknown path 404.
#ifndef SMFG_COMMON_HTTP_SERVER_H_
#define SMFG_COMMON_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace smfg {

class HttpServer {
 public:
  static constexpr size_t kMaxRequestBytes = 8192;
  // Returns the body of a 200 text/plain response.
  using Handler = std::function<std::string()>;

  // Listens on `host` (an IPv4 address, e.g. 127.0.0.1) and `port` (0: any
  // free port) and starts serving `handlers` (by exact path) on a thread.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& host, int port,
                                                           std::map<std::string, Handler> handlers);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // Stops accepting and joins the thread. Idempotent.
  void Stop();

 private:
  HttpServer(int fd, int port, std::map<std::string, Handler> handlers);
  void Loop();
  void Serve(int client_fd);

  const int fd_;
  const int port_;
  const std::map<std::string, Handler> handlers_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace smfg

#endif  // SMFG_COMMON_HTTP_SERVER_H_
