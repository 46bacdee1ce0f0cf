// The worker's connection loop: Register, long-poll GetWork, compute the item
// with WorkerCore, SubmitResult; a second thread sends Heartbeats while
// registered. When the coordinator is unreachable every step retries with
// capped exponential backoff; when it forgets us (NOT_FOUND) we register
// again. Every RPC carries a deadline.
#ifndef SMFG_FOLLOWER_WORKERS_WORKER_CLIENT_H_
#define SMFG_FOLLOWER_WORKERS_WORKER_CLIENT_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "follower_workers/worker_core.h"
#include "grpcpp/grpcpp.h"
#include "smfg/v1/worker.grpc.pb.h"

namespace smfg::workers {

struct WorkerClientOptions {
  std::string name = "worker";
  int threads = 1;  // >= 1
  // Cluster token, sent as "authorization: Bearer <token>"; empty: none.
  std::string token;
  // Deadline of Register, SubmitResult and Heartbeat calls.
  absl::Duration rpc_timeout = absl::Seconds(10);
  // Deadline of a GetWork long poll (the server answers before it).
  absl::Duration long_poll = absl::Seconds(30);
  // Backoff after a failed call: initial, doubled per consecutive failure, capped.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
};

class WorkerClient {
 public:
  WorkerClient(std::shared_ptr<grpc::ChannelInterface> channel, WorkerClientOptions options);
  ~WorkerClient();  // Stops; Run() must have returned before destruction completes.
  WorkerClient(const WorkerClient&) = delete;
  WorkerClient& operator=(const WorkerClient&) = delete;

  // Serves work until Stop(). Returns OK after Stop(); it does not give up on
  // an unavailable coordinator (it keeps backing off).
  absl::Status Run();
  // Makes Run() return promptly: cancels in-flight calls, wakes backoff
  // waits, and abandons the current item between shards. Thread-safe.
  void Stop();

  // Items whose results the coordinator accepted.
  int64_t items_completed() const { return items_completed_.load(); }
  // Successful registrations (> 1 after re-registering).
  int64_t registrations() const { return registrations_.load(); }

 private:
  class ScopedCall;
  bool Stopped() const { return stopped_.load(); }
  // Waits up to `d` unless stopped; returns false when stopped.
  bool WaitFor(absl::Duration d);
  absl::Duration NextBackoff();
  void HeartbeatLoop();
  std::string WorkerId();
  void ForgetWorkerId(const std::string& id);

  std::unique_ptr<v1::WorkerService::Stub> stub_;
  const WorkerClientOptions options_;
  WorkerCore core_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::string worker_id_;                                 // guarded by mu_; empty = not registered
  absl::Duration heartbeat_interval_ = absl::Seconds(1);  // guarded by mu_
  std::set<grpc::ClientContext*> active_calls_;           // guarded by mu_
  int consecutive_failures_ = 0;                          // Run() thread only
  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> items_completed_{0};
  std::atomic<int64_t> registrations_{0};
};

}  // namespace smfg::workers

#endif  // SMFG_FOLLOWER_WORKERS_WORKER_CLIENT_H_
