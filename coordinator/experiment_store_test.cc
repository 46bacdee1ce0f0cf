#include "coordinator/experiment_store.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg::coordinator {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::IsOkAndHolds;
using ::smfg::testing_util::StatusIs;

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using S = ExperimentStatus;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

ExperimentRecord Request(const std::string& key, const std::string& spec,
                         const std::string& name = "run") {
  ExperimentRecord r;
  r.idempotency_key = key;
  r.name = name;
  r.spec_text = spec;
  return r;
}

class ExperimentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ =
        (fs::path(::testing::TempDir()) / absl::StrCat("smfg_store_", info->name(), "_", getpid()))
            .string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<ExperimentStore> OpenStore(const std::string& dir) {
    ExperimentStoreOptions options;
    options.clock = [this] { return now_.load(); };
    auto store = ExperimentStore::Open(dir, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(store).value() : nullptr;
  }
  std::unique_ptr<ExperimentStore> OpenStore() { return OpenStore(dir_); }

  std::string CreateId(ExperimentStore& store, const std::string& key) {
    auto r = store.Create(Request(key, "spec " + key));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->experiment.id : "";
  }

  std::string dir_;
  std::atomic<int64_t> now_{1'700'000'000};
};

// A data directory written by a version-1 store (before the typed iteration
// records): it opens, its results are renamed to paths, and its JSON rows stay
// in a table of their own (nothing is lost; nothing reads them).
TEST_F(ExperimentStoreTest, MigratesAVersionOneDatabaseWithoutLosingRows) {
  fs::create_directories(dir_);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/smfg.db").c_str(), &db), SQLITE_OK);
  const char* v1_schema = R"sql(
CREATE TABLE experiments (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  idempotency_key TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  spec_text TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('QUEUED', 'WAITING_FOR_WORKERS',
      'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
  status_message TEXT NOT NULL DEFAULT '',
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  outer_iteration INTEGER NOT NULL DEFAULT -1
);
CREATE INDEX experiments_by_status ON experiments (status, created_at);
CREATE TABLE metrics (
  experiment_id TEXT NOT NULL REFERENCES experiments (id),
  iteration INTEGER NOT NULL,
  json TEXT NOT NULL,
  recorded_at INTEGER NOT NULL,
  PRIMARY KEY (experiment_id, iteration)
) WITHOUT ROWID;
CREATE TABLE results (
  experiment_id TEXT NOT NULL REFERENCES experiments (id),
  name TEXT NOT NULL,
  bytes BLOB NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (experiment_id, name)
);
CREATE TABLE checkpoints (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  experiment_id TEXT NOT NULL REFERENCES experiments (id),
  iteration INTEGER NOT NULL,
  recorded_at INTEGER NOT NULL
);
CREATE INDEX checkpoints_by_experiment ON checkpoints (experiment_id, seq);
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES (1);
PRAGMA application_id=1397573191;
INSERT INTO experiments (id, idempotency_key, name, spec_text, status, created_at, updated_at,
    outer_iteration) VALUES ('exp-000001', 'k', 'old', 'name: "old"', 'SUCCEEDED', 1, 1, 2);
INSERT INTO metrics VALUES ('exp-000001', 1, '{"iteration":1,"objective":-0.03}', 1);
INSERT INTO metrics VALUES ('exp-000001', 2, '{"iteration":2,"objective":-0.02}', 1);
INSERT INTO results VALUES ('exp-000001', 'plots__convergence.svg', '<svg/>', 1);
INSERT INTO results VALUES ('exp-000001', 'comparison.json', '{}', 1);
)sql";
  char* error = nullptr;
  ASSERT_EQ(sqlite3_exec(db, v1_schema, nullptr, nullptr, &error), SQLITE_OK) << error;
  sqlite3_close_v2(db);

  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const absl::StatusOr<ExperimentRecord> old = store->Get("exp-000001");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->status, ExperimentStatus::kSucceeded);
  EXPECT_EQ(old->outer_iteration, 2);
  EXPECT_THAT(*store->ListResults("exp-000001"),
              ElementsAre("comparison.json", "plots/convergence.svg"));
  EXPECT_EQ(*store->GetResult("exp-000001", "plots/convergence.svg"), "<svg/>");
  EXPECT_TRUE(store->Iterations("exp-000001", -1)->empty());
  // New experiments get new ids and typed rows.
  const std::string id = CreateId(*store, "new");
  EXPECT_EQ(id, "exp-000002");
  ASSERT_TRUE(store->AppendIteration(id, 1, "record").ok());
  store.reset();

  ASSERT_EQ(sqlite3_open_v2((dir_ + "/smfg.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM metrics_json_v1", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 2);
  sqlite3_finalize(stmt);
  sqlite3_close_v2(db);
}

TEST_F(ExperimentStoreTest, CreatesDirectoryAndWalDatabase) {
  auto store = OpenStore(dir_ + "/nested/data");
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->db_path(), dir_ + "/nested/data/smfg.db");
  EXPECT_TRUE(fs::is_regular_file(store->db_path()));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(store->db_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))), "wal");
  sqlite3_finalize(stmt);
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 3);
  sqlite3_finalize(stmt);
  sqlite3_close_v2(db);
}

TEST_F(ExperimentStoreTest, PersistsAcrossReopen) {
  std::string id;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    auto created = store->Create(Request("key-1", "seed: 7\nname: \"a\"", "first"));
    ASSERT_TRUE(created.ok()) << created.status();
    EXPECT_TRUE(created->created);
    id = created->experiment.id;
    EXPECT_EQ(id, "exp-000001");
    EXPECT_EQ(created->experiment.status, S::kQueued);
    EXPECT_EQ(created->experiment.created_unix_seconds, now_.load());
    EXPECT_EQ(created->experiment.outer_iteration, -1);
    now_ += 10;
    ASSERT_TRUE(store->UpdateStatus(id, S::kRunning, "3 workers").ok());
    ASSERT_TRUE(store->AppendIteration(id, 0, R"({"j":1.5})").ok());
    ASSERT_TRUE(store->PutResult(id, "report.json", "{}").ok());
    ASSERT_TRUE(store->RecordCheckpoint(id, 0).ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto got = store->Get(id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->idempotency_key, "key-1");
  EXPECT_EQ(got->name, "first");
  EXPECT_EQ(got->spec_text, "seed: 7\nname: \"a\"");
  EXPECT_EQ(got->status, S::kRunning);
  EXPECT_EQ(got->status_message, "3 workers");
  EXPECT_EQ(got->created_unix_seconds, 1'700'000'000);
  EXPECT_EQ(got->updated_unix_seconds, 1'700'000'010);
  EXPECT_EQ(got->outer_iteration, 0);
  auto metrics = store->Iterations(id, -1);
  ASSERT_TRUE(metrics.ok());
  ASSERT_EQ(metrics->size(), 1u);
  EXPECT_EQ((*metrics)[0].record, R"({"j":1.5})");
  EXPECT_EQ(*store->GetResult(id, "report.json"), "{}");
  EXPECT_EQ((*store->LatestCheckpoint(id))->iteration, 0);
  // Ids continue after a reopen rather than restarting.
  EXPECT_EQ(CreateId(*store, "key-2"), "exp-000002");
}

TEST_F(ExperimentStoreTest, CreateIsIdempotentPerKey) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto first = store->Create(Request("k", "spec A"));
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->created);
  now_ += 5;
  auto again = store->Create(Request("k", "spec A", "another name"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->experiment.id, first->experiment.id);
  EXPECT_EQ(again->experiment.name, "run");  // the stored one, untouched
  EXPECT_EQ(again->experiment.created_unix_seconds, first->experiment.created_unix_seconds);

  auto conflict = store->Create(Request("k", "spec B"));
  EXPECT_THAT(conflict.status(), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(std::string(conflict.status().message()), HasSubstr(first->experiment.id));

  auto other = store->Create(Request("k2", "spec A"));
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->created);
  EXPECT_NE(other->experiment.id, first->experiment.id);
  EXPECT_EQ(store->List(std::nullopt, 0)->size(), 2u);

  EXPECT_THAT(store->Create(Request("", "spec")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ExperimentStoreTest, UnknownIdIsNotFoundAndNamed) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string missing = "exp-424242";
  for (const absl::Status& status :
       {store->Get(missing).status(), store->UpdateStatus(missing, S::kRunning, ""),
        store->RequestCancel(missing).status(), store->AppendIteration(missing, 0, "{}"),
        store->Iterations(missing, -1).status(), store->PutResult(missing, "a.csv", "x"),
        store->GetResult(missing, "a.csv").status(), store->ListResults(missing).status(),
        store->CheckpointDir(missing).status(), store->RecordCheckpoint(missing, 1),
        store->LatestCheckpoint(missing).status()}) {
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kNotFound)) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(missing));
  }
  EXPECT_FALSE(fs::exists(fs::path(dir_) / "checkpoints" / missing));
}

TEST_F(ExperimentStoreTest, ListIsNewestFirstWithFilterAndLimit) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string a = CreateId(*store, "a");
  now_ += 1;
  const std::string b = CreateId(*store, "b");
  const std::string c = CreateId(*store, "c");  // same second as b: later id wins
  ASSERT_TRUE(store->UpdateStatus(b, S::kRunning, "").ok());

  auto ids = [](const std::vector<ExperimentRecord>& v) {
    std::vector<std::string> out;
    for (const auto& r : v) out.push_back(r.id);
    return out;
  };
  EXPECT_THAT(ids(*store->List(std::nullopt, 0)), ElementsAre(c, b, a));
  EXPECT_THAT(ids(*store->List(std::nullopt, 2)), ElementsAre(c, b));
  EXPECT_THAT(ids(*store->List(S::kQueued, 0)), ElementsAre(c, a));
  EXPECT_THAT(ids(*store->List(S::kRunning, 0)), ElementsAre(b));
  EXPECT_TRUE(store->List(S::kFailed, 0)->empty());
  EXPECT_THAT(store->List(std::nullopt, -1).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ExperimentStoreTest, TransitionTable) {
  EXPECT_TRUE(IsLegalTransition(S::kQueued, S::kRunning));
  EXPECT_TRUE(IsLegalTransition(S::kQueued, S::kWaitingForWorkers));
  EXPECT_TRUE(IsLegalTransition(S::kWaitingForWorkers, S::kRunning));
  EXPECT_TRUE(IsLegalTransition(S::kRunning, S::kWaitingForWorkers));
  EXPECT_TRUE(IsLegalTransition(S::kRunning, S::kSucceeded));
  EXPECT_TRUE(IsLegalTransition(S::kRunning, S::kRunning));
  EXPECT_FALSE(IsLegalTransition(S::kQueued, S::kSucceeded));
  EXPECT_FALSE(IsLegalTransition(S::kWaitingForWorkers, S::kSucceeded));
  EXPECT_FALSE(IsLegalTransition(S::kRunning, S::kQueued));
  for (S terminal : {S::kSucceeded, S::kFailed, S::kCancelled}) {
    for (S to : {S::kQueued, S::kWaitingForWorkers, S::kRunning, S::kSucceeded, S::kFailed,
                 S::kCancelled}) {
      EXPECT_FALSE(IsLegalTransition(terminal, to));
    }
  }
  for (S s :
       {S::kQueued, S::kWaitingForWorkers, S::kRunning, S::kSucceeded, S::kFailed, S::kCancelled}) {
    EXPECT_EQ(*ParseExperimentStatus(ExperimentStatusName(s)), s);
  }
  EXPECT_THAT(ParseExperimentStatus("running"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("running")));
}

TEST_F(ExperimentStoreTest, IllegalTransitionsAreRejectedAndChangeNothing) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string id = CreateId(*store, "k");
  absl::Status early = store->UpdateStatus(id, S::kSucceeded, "too soon");
  EXPECT_THAT(early, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(early.message()), HasSubstr("QUEUED -> SUCCEEDED"));
  ASSERT_TRUE(store->UpdateStatus(id, S::kWaitingForWorkers, "0 workers").ok());
  ASSERT_TRUE(store->UpdateStatus(id, S::kRunning, "2 workers").ok());
  ASSERT_TRUE(store->UpdateStatus(id, S::kRunning, "iteration 3").ok());
  ASSERT_TRUE(store->UpdateStatus(id, S::kSucceeded, "converged").ok());
  absl::Status late = store->UpdateStatus(id, S::kRunning, "zombie");
  EXPECT_THAT(late, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(late.message()), HasSubstr("SUCCEEDED -> RUNNING"));
  auto got = store->Get(id);
  EXPECT_EQ(got->status, S::kSucceeded);
  EXPECT_EQ(got->status_message, "converged");
}

TEST_F(ExperimentStoreTest, RequestCancel) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string queued = CreateId(*store, "q");
  auto r = store->RequestCancel(queued);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, S::kCancelled);             // nothing running: cancelled at once
  EXPECT_TRUE(store->RequestCancel(queued).ok());  // idempotent

  const std::string running = CreateId(*store, "r");
  ASSERT_TRUE(store->UpdateStatus(running, S::kRunning, "").ok());
  r = store->RequestCancel(running);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, S::kRunning);  // the run loop finishes the job
  EXPECT_TRUE(r->cancel_requested);
  EXPECT_TRUE(store->Get(running)->cancel_requested);
  ASSERT_TRUE(store->UpdateStatus(running, S::kCancelled, "stopped at iteration 4").ok());

  const std::string done = CreateId(*store, "d");
  ASSERT_TRUE(store->UpdateStatus(done, S::kRunning, "").ok());
  ASSERT_TRUE(store->UpdateStatus(done, S::kFailed, "boom").ok());
  EXPECT_THAT(store->RequestCancel(done).status(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(ExperimentStoreTest, CompleteStoresResultsOrHonoursAnAcceptedCancel) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string ok = CreateId(*store, "ok");
  ASSERT_TRUE(store->UpdateStatus(ok, S::kRunning, "").ok());
  EXPECT_THAT(store->Complete(ok, {{"a.csv", "1"}}, "converged", "cancelled"),
              IsOkAndHolds(S::kSucceeded));
  EXPECT_EQ(store->Get(ok)->status_message, "converged");
  EXPECT_EQ(*store->GetResult(ok, "a.csv"), "1");
  // Terminal already: refused, nothing changes.
  EXPECT_THAT(store->Complete(ok, {{"a.csv", "2"}}, "again", "cancelled"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("SUCCEEDED")));
  EXPECT_EQ(*store->GetResult(ok, "a.csv"), "1");

  // A cancel accepted while the results were computed wins; no results land.
  const std::string late = CreateId(*store, "late");
  ASSERT_TRUE(store->UpdateStatus(late, S::kRunning, "").ok());
  ASSERT_TRUE(store->RequestCancel(late).ok());
  EXPECT_THAT(store->Complete(late, {{"a.csv", "1"}}, "converged", "cancelled at the end"),
              IsOkAndHolds(S::kCancelled));
  EXPECT_EQ(store->Get(late)->status, S::kCancelled);
  EXPECT_EQ(store->Get(late)->status_message, "cancelled at the end");
  EXPECT_THAT(*store->ListResults(late), IsEmpty());

  // A fault after the status update rolls back the results too.
  const std::string faulty = CreateId(*store, "faulty");
  ASSERT_TRUE(store->UpdateStatus(faulty, S::kRunning, "").ok());
  store->SetFaultHookForTesting([](absl::string_view point) {
    return point == "Complete:after_update" ? absl::InternalError("injected") : absl::OkStatus();
  });
  EXPECT_THAT(store->Complete(faulty, {{"a.csv", "1"}}, "converged", "cancelled"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("injected")));
  EXPECT_EQ(store->Get(faulty)->status, S::kRunning);
  EXPECT_THAT(*store->ListResults(faulty), IsEmpty());
  // Bad paths are refused before anything is touched.
  store->SetFaultHookForTesting(nullptr);
  EXPECT_THAT(store->Complete(faulty, {{"../x", "1"}}, "converged", "cancelled"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(store->Get(faulty)->status, S::kRunning);
}

TEST_F(ExperimentStoreTest, MetricsReappendReplacesAndStaysOrdered) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string id = CreateId(*store, "k");
  // Out of order on purpose: reads come back sorted by iteration.
  for (int it : {2, 0, 1, 3}) {
    ASSERT_TRUE(store->AppendIteration(id, it, absl::StrCat(R"({"it":)", it, "}")).ok());
  }
  // A run resumed from the checkpoint of iteration 1 repeats 2 and 3.
  ASSERT_TRUE(store->AppendIteration(id, 2, R"({"it":2,"resumed":true})").ok());
  ASSERT_TRUE(store->AppendIteration(id, 3, R"({"it":3,"resumed":true})").ok());
  auto all = store->Iterations(id, -1);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ((*all)[i].iteration, i);
  EXPECT_EQ((*all)[2].record, R"({"it":2,"resumed":true})");
  auto tail = store->Iterations(id, 1);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[0].iteration, 2);
  EXPECT_TRUE(store->Iterations(id, 3)->empty());
  EXPECT_EQ(store->Get(id)->outer_iteration, 3);

  // Records are opaque bytes: NULs and newlines are kept.
  ASSERT_TRUE(store->AppendIteration(id, 4, std::string("a\0\nb", 4)).ok());
  EXPECT_EQ(store->Iterations(id, 3)->at(0).record, std::string("a\0\nb", 4));
  EXPECT_THAT(store->AppendIteration(id, -1, "{}"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(store->Iterations(id, -1)->size(), 5u);
}

TEST_F(ExperimentStoreTest, ResultsRoundTripBinaryBytes) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string id = CreateId(*store, "k");
  std::string binary;
  for (int i = 0; i < 1000; ++i) binary.push_back(static_cast<char>(i % 256));
  binary += std::string("\0\0tail\0", 7);
  ASSERT_TRUE(store->PutResult(id, "tariff.bin", binary).ok());
  ASSERT_TRUE(store->PutResult(id, "empty.csv", "").ok());
  ASSERT_TRUE(store->PutResult(id, "report.json", "{\"v\":1}").ok());
  ASSERT_TRUE(store->PutResult(id, "report.json", "{\"v\":2}").ok());  // replaces

  EXPECT_EQ(*store->GetResult(id, "tariff.bin"), binary);
  EXPECT_EQ(store->GetResult(id, "tariff.bin")->size(), 1007u);
  EXPECT_EQ(*store->GetResult(id, "empty.csv"), "");
  EXPECT_EQ(*store->GetResult(id, "report.json"), "{\"v\":2}");
  EXPECT_THAT(*store->ListResults(id), ElementsAre("empty.csv", "report.json", "tariff.bin"));

  auto missing = store->GetResult(id, "plot.svg");
  EXPECT_THAT(missing.status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("plot.svg"));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(id));

  ASSERT_TRUE(store->PutResult(id, "plots/lmp.svg", "<svg/>").ok());
  EXPECT_EQ(*store->GetResult(id, "plots/lmp.svg"), "<svg/>");
  for (const char* bad :
       {"", ".hidden", "a/.b", "/abs.csv", "../x", "a/../../x", "a//b", "sp ace"}) {
    EXPECT_THAT(store->PutResult(id, bad, "x"), StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
  EXPECT_THAT(store->PutResults(id, {{"a.csv", "1"}, {"a.csv", "2"}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Results of another experiment are separate.
  const std::string other = CreateId(*store, "k2");
  EXPECT_TRUE(store->ListResults(other)->empty());
}

TEST_F(ExperimentStoreTest, CheckpointDirAndLatestCheckpoint) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string id = CreateId(*store, "k");
  auto dir = store->CheckpointDir(id);
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(*dir, (fs::path(dir_) / "checkpoints" / id).string());
  EXPECT_TRUE(fs::is_directory(*dir));
  EXPECT_TRUE(store->CheckpointDir(id).ok());  // already there: fine

  auto none = store->LatestCheckpoint(id);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(store->RecordCheckpoint(id, 4).ok());
  now_ += 60;
  ASSERT_TRUE(store->RecordCheckpoint(id, 5).ok());
  auto latest = store->LatestCheckpoint(id);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->iteration, 5);
  EXPECT_EQ((*latest)->recorded_unix_seconds, now_.load());
  // A run restarted from scratch records a lower iteration: that is the latest.
  ASSERT_TRUE(store->RecordCheckpoint(id, 1).ok());
  EXPECT_EQ((*store->LatestCheckpoint(id))->iteration, 1);
  EXPECT_THAT(store->RecordCheckpoint(id, -1), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ExperimentStoreTest, ExperimentsToResumeAfterReopen) {
  std::string queued, waiting, running, done, cancelled;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    queued = CreateId(*store, "q");
    waiting = CreateId(*store, "w");
    running = CreateId(*store, "r");
    done = CreateId(*store, "d");
    cancelled = CreateId(*store, "c");
    ASSERT_TRUE(store->UpdateStatus(waiting, S::kWaitingForWorkers, "").ok());
    ASSERT_TRUE(store->UpdateStatus(running, S::kRunning, "").ok());
    ASSERT_TRUE(store->AppendIteration(running, 6, "{}").ok());
    ASSERT_TRUE(store->RecordCheckpoint(running, 5).ok());
    ASSERT_TRUE(store->UpdateStatus(done, S::kRunning, "").ok());
    ASSERT_TRUE(store->UpdateStatus(done, S::kSucceeded, "").ok());
    ASSERT_TRUE(store->RequestCancel(cancelled).ok());
    // No orderly shutdown beyond closing: this is what a killed coordinator leaves.
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto resume = store->ExperimentsToResume();
  ASSERT_TRUE(resume.ok()) << resume.status();
  ASSERT_EQ(resume->size(), 2u);
  EXPECT_EQ((*resume)[0].id, waiting);  // oldest first
  EXPECT_EQ((*resume)[1].id, running);
  EXPECT_EQ((*resume)[1].outer_iteration, 6);
  EXPECT_EQ((*store->LatestCheckpoint(running))->iteration, 5);
  EXPECT_EQ(store->List(S::kQueued, 0)->size(), 1u);
}

TEST_F(ExperimentStoreTest, GarbageFileIsDataLossAndLeftUntouched) {
  fs::create_directories(dir_);
  const std::string path = dir_ + "/smfg.db";
  std::string garbage = "this is not a database, just notes\n";
  for (int i = 0; i < 5000; ++i) garbage.push_back(static_cast<char>((i * 37) % 251));
  WriteFile(path, garbage);
  auto store = ExperimentStore::Open(dir_);
  EXPECT_THAT(store.status(), StatusIs(absl::StatusCode::kDataLoss)) << store.status();
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(path));
  EXPECT_EQ(ReadFile(path), garbage);
  // No -wal / -shm files appear next to it either.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(ExperimentStoreTest, GarbageWithSqliteHeaderIsDataLossAndLeftUntouched) {
  fs::create_directories(dir_);
  const std::string path = dir_ + "/smfg.db";
  std::string garbage("SQLite format 3\0", 16);
  for (int i = 0; i < 8192; ++i) garbage.push_back(static_cast<char>((i * 13) % 256));
  WriteFile(path, garbage);
  auto store = ExperimentStore::Open(dir_);
  EXPECT_THAT(store.status(), StatusIs(absl::StatusCode::kDataLoss)) << store.status();
  EXPECT_EQ(ReadFile(path), garbage);
}

TEST_F(ExperimentStoreTest, TruncatedDatabaseIsCleanError) {
  const std::string original = dir_ + "/original";
  {
    auto store = OpenStore(original);
    ASSERT_NE(store, nullptr);
    for (int e = 0; e < 20; ++e) {
      const std::string id = CreateId(*store, absl::StrCat("k", e));
      for (int it = 0; it < 20; ++it) {
        ASSERT_TRUE(
            store
                ->AppendIteration(id, it, absl::StrCat(R"({"pad":")", std::string(200, 'x'), "\"}"))
                .ok());
      }
      ASSERT_TRUE(store->PutResult(id, "big.bin", std::string(20000, static_cast<char>(e))).ok());
    }
  }
  const std::string damaged = dir_ + "/damaged";
  fs::create_directories(damaged);
  const std::string path = damaged + "/smfg.db";
  fs::copy_file(original + "/smfg.db", path);
  const auto full_size = fs::file_size(path);
  ASSERT_GT(full_size, 100'000u);
  fs::resize_file(path, full_size / 2);
  const std::string before = ReadFile(path);

  auto store = ExperimentStore::Open(damaged);
  EXPECT_THAT(store.status(), StatusIs(absl::StatusCode::kDataLoss)) << store.status();
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(path));
  EXPECT_EQ(ReadFile(path), before);
  // The intact original still opens.
  EXPECT_NE(OpenStore(original), nullptr);
}

TEST_F(ExperimentStoreTest, ForeignSqliteDatabaseIsRefusedAndLeftUntouched) {
  fs::create_directories(dir_);
  const std::string path = dir_ + "/smfg.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1);", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  const std::string before = ReadFile(path);
  auto store = ExperimentStore::Open(dir_);
  EXPECT_THAT(store.status(), StatusIs(absl::StatusCode::kFailedPrecondition)) << store.status();
  EXPECT_EQ(ReadFile(path), before);
}

TEST_F(ExperimentStoreTest, NewerSchemaIsRefused) {
  { ASSERT_NE(OpenStore(), nullptr); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/smfg.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = ExperimentStore::Open(dir_);
  EXPECT_THAT(store.status(), StatusIs(absl::StatusCode::kFailedPrecondition)) << store.status();
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("99"));
}

TEST_F(ExperimentStoreTest, ConcurrentAppendIterationFromFourThreads) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string shared = CreateId(*store, "shared");
  std::vector<std::string> own;
  for (int t = 0; t < 4; ++t) own.push_back(CreateId(*store, absl::StrCat("own", t)));
  constexpr int kPerThread = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string json = absl::StrCat(R"({"t":)", t, R"(,"i":)", i, "}");
        if (!store->AppendIteration(shared, t * 1000 + i, json).ok()) ++failures;
        if (!store->AppendIteration(own[t], i, json).ok()) ++failures;
        if (!store->Iterations(shared, -1).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto rows = store->Iterations(shared, -1);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 4u * kPerThread);
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      const IterationRow& row = (*rows)[t * kPerThread + i];
      EXPECT_EQ(row.iteration, t * 1000 + i);
      EXPECT_EQ(row.record, absl::StrCat(R"({"t":)", t, R"(,"i":)", i, "}"));
    }
    EXPECT_EQ(store->Iterations(own[t], -1)->size(), static_cast<size_t>(kPerThread));
    EXPECT_EQ(store->Get(own[t])->outer_iteration, kPerThread - 1);
  }
  EXPECT_EQ(store->Get(shared)->outer_iteration, 3000 + kPerThread - 1);
}

TEST_F(ExperimentStoreTest, FailedTransactionLeavesPreviousDataIntact) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string id = CreateId(*store, "k");
  ASSERT_TRUE(store->PutResults(id, {{"a.csv", "old a"}, {"b.csv", "old b"}}).ok());
  ASSERT_TRUE(store->AppendIteration(id, 0, "{\"v\":0}").ok());

  // Fail after the second file of three: none of the three may land.
  int files_written = 0;
  store->SetFaultHookForTesting([&](absl::string_view point) {
    if (point == "PutResults:after_file" && ++files_written == 2) {
      return absl::UnavailableError("injected: disk full");
    }
    return absl::OkStatus();
  });
  absl::Status status =
      store->PutResults(id, {{"a.csv", "new a"}, {"b.csv", "new b"}, {"c.csv", "new c"}});
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(*store->GetResult(id, "a.csv"), "old a");
  EXPECT_EQ(*store->GetResult(id, "b.csv"), "old b");
  EXPECT_THAT(*store->ListResults(id), ElementsAre("a.csv", "b.csv"));

  // Fail between raising outer_iteration and writing the row.
  store->SetFaultHookForTesting([](absl::string_view point) {
    return point == "AppendIteration:after_experiment" ? absl::InternalError("injected")
                                                       : absl::OkStatus();
  });
  EXPECT_THAT(store->AppendIteration(id, 1, "{\"v\":1}"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("injected")));
  EXPECT_EQ(store->Get(id)->outer_iteration, 0);
  EXPECT_EQ(store->Iterations(id, -1)->size(), 1u);

  // Fail a create after its insert: the key stays free, no id is consumed.
  store->SetFaultHookForTesting([](absl::string_view point) {
    return point == "Create:after_insert" ? absl::InternalError("injected") : absl::OkStatus();
  });
  EXPECT_THAT(store->Create(Request("k-fail", "spec")),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("injected")));
  store->SetFaultHookForTesting(nullptr);
  EXPECT_TRUE(store->AppendIteration(id, 1, "{\"v\":1}").ok());
  EXPECT_EQ(store->Get(id)->outer_iteration, 1);

  // Everything survives a reopen unchanged.
  store.reset();
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->GetResult(id, "b.csv"), "old b");
  EXPECT_EQ(store->Iterations(id, -1)->size(), 2u);
  auto fresh = store->Create(Request("k-fail", "spec"));
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(fresh->created);
}

// A coordinator SIGKILLed while it writes: every write it was told succeeded
// is there, and no transaction is half-applied.
TEST_F(ExperimentStoreTest, KillDuringWritesLeavesConsistentDatabase) {
  std::string id;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    id = CreateId(*store, "k");
  }  // no connection may cross fork()
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    auto store = ExperimentStore::Open(dir_);
    if (!store.ok()) _exit(2);
    for (int64_t it = 0;; ++it) {
      const std::string blob(4096, static_cast<char>('a' + it % 26));
      if (!(*store)->PutResults(id, {{"x.bin", blob}, {"y.bin", blob}}).ok()) _exit(3);
      if (!(*store)->AppendIteration(id, it, absl::StrCat(R"({"it":)", it, "}")).ok()) _exit(4);
      const char ack = 1;
      if (write(pipe_fds[1], &ack, 1) != 1) _exit(5);
    }
  }
  close(pipe_fds[1]);
  int acks = 0;
  char ack;
  while (acks < 40 && read(pipe_fds[0], &ack, 1) == 1) ++acks;
  kill(child, SIGKILL);
  int wstatus = 0;
  waitpid(child, &wstatus, 0);
  close(pipe_fds[0]);
  ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exited early with " << WEXITSTATUS(wstatus);
  ASSERT_EQ(acks, 40);

  auto store = OpenStore();  // runs quick_check
  ASSERT_NE(store, nullptr);
  auto rows = store->Iterations(id, -1);
  ASSERT_TRUE(rows.ok());
  ASSERT_GE(rows->size(), 40u);
  for (size_t i = 0; i < rows->size(); ++i) EXPECT_EQ((*rows)[i].iteration, int64_t(i));
  EXPECT_EQ(store->Get(id)->outer_iteration, int64_t(rows->size()) - 1);
  const std::string x = *store->GetResult(id, "x.bin");
  const std::string y = *store->GetResult(id, "y.bin");
  EXPECT_EQ(x.size(), 4096u);
  EXPECT_EQ(x, y);  // both files of one PutResults, never a mix
  // And the store keeps working.
  EXPECT_TRUE(store->AppendIteration(id, int64_t(rows->size()), "{}").ok());
}

}  // namespace
}  // namespace smfg::coordinator
