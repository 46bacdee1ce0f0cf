// WorkerPool's time rules on an injected clock: liveness and work deadlines
// without sleeping.
#include "coordinator/worker_pool.h"

#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg::coordinator {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;

// A clock that moves only when told to.
class FakeClock {
 public:
  absl::Time Now() {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
};

WorkerPoolOptions Options(FakeClock* clock) {
  WorkerPoolOptions o;
  o.heartbeat_timeout = absl::Seconds(15);
  o.work_deadline = absl::Minutes(10);
  o.clock = [clock] { return clock->Now(); };
  return o;
}

std::string Register(WorkerPool& pool, const std::string& name) {
  v1::RegisterRequest request;
  request.set_name(name);
  return pool.Register(request).worker_id();
}

TEST(WorkerPoolClockTest, SilentWorkerDiesExactlyAfterTheHeartbeatTimeout) {
  FakeClock clock;
  WorkerPool pool(Options(&clock));
  const std::string id = Register(pool, "quiet");
  EXPECT_EQ(pool.LiveWorkers(), 1);
  clock.Advance(absl::Seconds(15));
  EXPECT_EQ(pool.LiveWorkers(), 1) << "at the timeout itself the worker is still live";
  v1::HeartbeatRequest beat;
  beat.set_worker_id(id);
  ASSERT_THAT(pool.Heartbeat(beat), IsOk());  // a sign of life restarts the count
  clock.Advance(absl::Seconds(15));
  EXPECT_EQ(pool.LiveWorkers(), 1);
  clock.Advance(absl::Milliseconds(1));
  EXPECT_EQ(pool.LiveWorkers(), 0);
  // A dead worker must register again.
  EXPECT_THAT(pool.Heartbeat(beat), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_EQ(pool.Workers().size(), 1u);
  EXPECT_FALSE(pool.Workers()[0].live);
  EXPECT_EQ(pool.Workers()[0].failures, 1);
}

TEST(WorkerPoolClockTest, AnItemPastItsDeadlineGoesToAnotherWorker) {
  FakeClock clock;
  WorkerPool pool(Options(&clock));
  const std::string slow = Register(pool, "slow");
  JobSpec job;
  job.experiment_id = "e";
  job.scenario = std::make_shared<v1::Scenario>();
  job.shards = 1;
  job.kind = v1::WORK_KIND_EXPLOITABILITY;
  job.payload = std::make_shared<v1::WorkItem>();
  absl::StatusOr<JobResults> results;
  std::thread run([&] { results = pool.RunJob(job, {}); });

  v1::GetWorkRequest poll;
  poll.set_worker_id(slow);
  absl::StatusOr<v1::GetWorkResponse> first = pool.GetWork(poll, absl::Seconds(30));
  ASSERT_THAT(first, IsOk());
  ASSERT_TRUE(first->has_item());

  // Both stay live (they keep polling or beating), but the item's deadline
  // passes: the next poll of another worker gets it.
  const std::string fast = Register(pool, "fast");
  for (int minute = 0; minute < 10; ++minute) {
    clock.Advance(absl::Minutes(1));
    for (const std::string& id : {slow, fast}) {
      v1::HeartbeatRequest beat;
      beat.set_worker_id(id);
      ASSERT_THAT(pool.Heartbeat(beat), IsOk());
    }
  }
  clock.Advance(absl::Milliseconds(2));
  poll.set_worker_id(fast);
  absl::StatusOr<v1::GetWorkResponse> second = pool.GetWork(poll, absl::Seconds(30));
  ASSERT_THAT(second, IsOk());
  ASSERT_TRUE(second->has_item());
  EXPECT_EQ(second->item().shards(0), 0);
  EXPECT_NE(second->item().work_id(), first->item().work_id());

  // The late result is stale and changes nothing; the new one completes the job.
  v1::SubmitResultRequest late;
  late.set_worker_id(slow);
  late.set_work_id(first->item().work_id());
  late.add_results()->set_shard(0);
  EXPECT_THAT(pool.SubmitResult(late), StatusIs(absl::StatusCode::kFailedPrecondition));
  v1::SubmitResultRequest done;
  done.set_worker_id(fast);
  done.set_work_id(second->item().work_id());
  v1::ShardResult* r = done.add_results();
  r->set_shard(0);
  r->mutable_exploitability()->set_household_days(7);
  ASSERT_THAT(pool.SubmitResult(done), IsOk());
  run.join();
  ASSERT_THAT(results, IsOk());
  EXPECT_EQ(results->exploitability[0].household_days, 7);
  for (const WorkerCounters& w : pool.Workers()) {
    if (w.worker_id == slow) {
      EXPECT_EQ(w.reassignments, 1);
      EXPECT_EQ(w.failures, 1);
      EXPECT_EQ(w.rejected_results, 1);
    }
  }
}

}  // namespace
}  // namespace smfg::coordinator
