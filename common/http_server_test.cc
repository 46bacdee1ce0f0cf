#include "common/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;
using ::testing::HasSubstr;

// Sends `request` to 127.0.0.1:port (then half-closes) and returns the whole
// response. Socket timeouts keep a broken server from hanging the test.
std::string Fetch(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval timeout{};
  timeout.tv_sec = 5;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    size_t done = 0;
    while (done < request.size()) {
      const ssize_t n = send(fd, request.data() + done, request.size() - done, MSG_NOSIGNAL);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    shutdown(fd, SHUT_WR);
    char buffer[4096];
    ssize_t n;
    while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) response.append(buffer, n);
  }
  close(fd);
  return response;
}

class HttpServerTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<HttpServer>> s = HttpServer::Start(
        "127.0.0.1", 0, {{"/metrics", [] { return std::string("smfg_up 1\n"); }}});
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    ASSERT_GT(server_->port(), 0);
  }
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, ServesMetrics) {
  const std::string r = Fetch(server_->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(r, testing::StartsWith("HTTP/1.0 200 OK\r\n"));
  EXPECT_THAT(r, testing::HasSubstr("\r\n\r\nsmfg_up 1\n"));
}

TEST_F(HttpServerTest, UnknownPathIs404) {
  EXPECT_THAT(Fetch(server_->port(), "GET /nope HTTP/1.0\r\n\r\n"),
              testing::StartsWith("HTTP/1.0 404"));
}

TEST_F(HttpServerTest, MalformedAndOversizedRequestsGet400AndServerStaysUp) {
  EXPECT_THAT(Fetch(server_->port(), "HELLO\r\n\r\n"), testing::StartsWith("HTTP/1.0 400"));
  EXPECT_THAT(Fetch(server_->port(), "POST /metrics HTTP/1.1\r\n\r\n"),
              testing::StartsWith("HTTP/1.0 400"));
  // Incomplete request (no blank line) ended by the client.
  EXPECT_THAT(Fetch(server_->port(), "GET /metrics HTTP/1.1\r\n"),
              testing::StartsWith("HTTP/1.0 400"));
  const std::string huge =
      "GET /" + std::string(HttpServer::kMaxRequestBytes * 2, 'a') + " HTTP/1.1\r\n\r\n";
  EXPECT_THAT(Fetch(server_->port(), huge), testing::StartsWith("HTTP/1.0 400"));
  EXPECT_THAT(Fetch(server_->port(), "GET /metrics HTTP/1.0\r\n\r\n"),
              testing::HasSubstr("smfg_up 1"));
}

TEST(HttpServerStartTest, RejectsBadHost) {
  EXPECT_THAT(HttpServer::Start("not-an-ip", 0, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not an IPv4 address")));
}

}  // namespace
}  // namespace smfg
