#include "follower_workers/worker_client.h"

#include <algorithm>
#include <cstdio>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace smfg::workers {

// Registers a ClientContext so Stop() can cancel it, and sets its deadline.
class WorkerClient::ScopedCall {
 public:
  ScopedCall(WorkerClient* client, absl::Duration timeout) : client_(client) {
    context_.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    if (!client_->options_.token.empty()) {
      context_.AddMetadata("authorization", "Bearer " + client_->options_.token);
    }
    std::lock_guard<std::mutex> lock(client_->mu_);
    client_->active_calls_.insert(&context_);
    // A Stop() that ran before registration would otherwise be missed.
    if (client_->Stopped()) context_.TryCancel();
  }
  ~ScopedCall() {
    std::lock_guard<std::mutex> lock(client_->mu_);
    client_->active_calls_.erase(&context_);
  }
  grpc::ClientContext* context() { return &context_; }

 private:
  WorkerClient* client_;
  grpc::ClientContext context_;
};

WorkerClient::WorkerClient(std::shared_ptr<grpc::ChannelInterface> channel,
                           WorkerClientOptions options)
    : stub_(v1::WorkerService::NewStub(std::move(channel))),
      options_(std::move(options)),
      core_(options_.threads) {}

WorkerClient::~WorkerClient() { Stop(); }

void WorkerClient::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  for (grpc::ClientContext* c : active_calls_) c->TryCancel();
  cv_.notify_all();
}

bool WorkerClient::WaitFor(absl::Duration d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, absl::ToChronoNanoseconds(d), [this] { return Stopped(); });
  return !Stopped();
}

absl::Duration WorkerClient::NextBackoff() {
  absl::Duration d = options_.initial_backoff;
  for (int i = 0; i < consecutive_failures_ && d < options_.max_backoff; ++i) d *= 2;
  ++consecutive_failures_;
  return std::min(d, options_.max_backoff);
}

std::string WorkerClient::WorkerId() {
  std::lock_guard<std::mutex> lock(mu_);
  return worker_id_;
}

void WorkerClient::ForgetWorkerId(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (worker_id_ == id) worker_id_.clear();
}

void WorkerClient::HeartbeatLoop() {
  while (!Stopped()) {
    absl::Duration interval;
    std::string id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      interval = heartbeat_interval_;
      id = worker_id_;
    }
    if (!id.empty()) {
      v1::HeartbeatRequest request;
      request.set_worker_id(id);
      v1::HeartbeatResponse response;
      ScopedCall call(this, std::min(options_.rpc_timeout, interval * 4));
      const grpc::Status status = stub_->Heartbeat(call.context(), request, &response);
      // The coordinator forgot us (declared dead or restarted): the Run()
      // loop registers again; our in-flight item is stale by now anyway.
      if (status.error_code() == grpc::StatusCode::NOT_FOUND) ForgetWorkerId(id);
    }
    // Wakes early on Stop() and on (re-)registration, so the first heartbeat
    // does not wait out the pre-registration default interval.
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, absl::ToChronoNanoseconds(interval),
                 [&] { return Stopped() || worker_id_ != id; });
  }
}

absl::Status WorkerClient::Run() {
  std::thread heartbeats([this] { HeartbeatLoop(); });
  while (!Stopped()) {
    std::string id = WorkerId();
    if (id.empty()) {
      v1::RegisterRequest request;
      request.set_name(options_.name);
      request.set_threads(options_.threads);
      v1::RegisterResponse response;
      ScopedCall call(this, options_.rpc_timeout);
      const grpc::Status status = stub_->Register(call.context(), request, &response);
      if (!status.ok()) {
        // Log the first failure of a streak and then at doubling intervals.
        if (!Stopped() && (consecutive_failures_ & (consecutive_failures_ - 1)) == 0) {
          std::fprintf(stderr, "smfg-worker %s: register failed (%s); retrying\n",
                       options_.name.c_str(), status.error_message().c_str());
        }
        WaitFor(NextBackoff());
        continue;
      }
      consecutive_failures_ = 0;
      registrations_++;
      std::lock_guard<std::mutex> lock(mu_);
      worker_id_ = response.worker_id();
      heartbeat_interval_ =
          absl::Milliseconds(std::max<int64_t>(10, response.heartbeat_interval_ms()));
      cv_.notify_all();
      continue;
    }

    v1::GetWorkRequest request;
    request.set_worker_id(id);
    for (uint64_t f : core_.KnownFingerprints()) request.add_known_scenario_fingerprints(f);
    v1::GetWorkResponse response;
    grpc::Status status;
    {
      ScopedCall call(this, options_.long_poll);
      status = stub_->GetWork(call.context(), request, &response);
    }
    if (Stopped()) break;
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
      ForgetWorkerId(id);
      continue;
    }
    if (!status.ok()) {
      WaitFor(NextBackoff());
      continue;
    }
    consecutive_failures_ = 0;
    if (!response.has_item()) continue;

    const v1::WorkItem& item = response.item();
    // Says what the worker holds, for operators and for the multi-process
    // test that kills a worker while it holds an item.
    std::fprintf(stderr, "smfg-worker %s: computing work %llu (shards %d..%d)\n",
                 options_.name.c_str(), static_cast<unsigned long long>(item.work_id()),
                 item.shards_size() > 0 ? item.shards(0) : -1,
                 item.shards_size() > 0 ? item.shards(item.shards_size() - 1) : -1);
    const absl::Time compute_start = absl::Now();
    absl::StatusOr<std::vector<v1::ShardResult>> results =
        core_.Compute(item, [this] { return Stopped(); });
    if (Stopped()) break;
    v1::SubmitResultRequest submit;
    submit.set_worker_id(id);
    submit.set_work_id(item.work_id());
    // Lets the coordinator split the item's round trip into compute and
    // communication (WorkerPool's JobStats).
    submit.set_compute_seconds(absl::ToDoubleSeconds(absl::Now() - compute_start));
    if (results.ok()) {
      for (v1::ShardResult& r : *results) *submit.add_results() = std::move(r);
    } else {
      submit.set_error_message(results.status().ToString());
    }
    // A submit that fails in transit is not retried: the coordinator
    // reassigns the item at its deadline, and results are deterministic.
    v1::SubmitResultResponse submitted;
    ScopedCall call(this, options_.rpc_timeout);
    const grpc::Status s = stub_->SubmitResult(call.context(), submit, &submitted);
    if (s.ok() && results.ok()) items_completed_++;
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) ForgetWorkerId(id);
  }
  heartbeats.join();
  return absl::OkStatus();
}

}  // namespace smfg::workers
