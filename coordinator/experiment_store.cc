#include "coordinator/experiment_store.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <random>
#include <set>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/status.h"

namespace smfg::coordinator {
namespace {

// Bumped whenever kMigrations grows; a database with a higher version was
// written by a newer smfg and is refused rather than half-understood.
constexpr int kSchemaVersion = 3;
// "SMFG" in the SQLite header: tells our database apart from another program's
// SQLite file that someone pointed --data_dir at.
constexpr int kApplicationId = 0x534D4647;

// kMigrations[v] takes the schema from version v to v + 1. Existing entries
// must never change: databases in the field have already applied them.
constexpr const char* kMigrations[] = {
    // 0 -> 1
    R"sql(
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
)sql",
    // 1 -> 2 (issue 8): iteration records become typed protos
    // (smfg.v1.IterationRecord, serialized) in `iterations`; the JSON rows of
    // version 1 stay, renamed, for whoever wants them (nothing reads them).
    // Result names become relative paths ("plots/x.svg", was "plots__x.svg").
    R"sql(
ALTER TABLE metrics RENAME TO metrics_json_v1;
CREATE TABLE iterations (
  experiment_id TEXT NOT NULL REFERENCES experiments (id),
  iteration INTEGER NOT NULL,
  record BLOB NOT NULL,
  recorded_at INTEGER NOT NULL,
  PRIMARY KEY (experiment_id, iteration)
) WITHOUT ROWID;
UPDATE results SET name = replace(name, '__', '/');
)sql",
    // 2 -> 3 (issue 9): facts about the store itself; the incarnation (a
    // random id drawn when the database is first created or upgraded) binds
    // checkpoints to this database.
    R"sql(
CREATE TABLE store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
)sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion);

constexpr char kExperimentColumns[] =
    "id, idempotency_key, name, spec_text, status, status_message, "
    "cancel_requested, created_at, updated_at, outer_iteration, seq";

// A status message longer than this is cut (messages carry errors, which may
// quote long inputs; every response must stay small).
constexpr size_t kMaxStatusMessageBytes = 4096;

std::string BoundedMessage(absl::string_view message) {
  if (message.size() <= kMaxStatusMessageBytes) return std::string(message);
  size_t cut = kMaxStatusMessageBytes - 3;
  // Do not split a UTF-8 sequence.
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(message.substr(0, cut), "...");
}

// 128 random bits as hex, from the OS.
std::string RandomHex128() {
  std::random_device device;
  std::string hex;
  for (int i = 0; i < 4; ++i) absl::StrAppend(&hex, absl::Hex(device(), absl::kZeroPad8));
  return hex;
}

constexpr ExperimentStatus kAllStatuses[] = {
    ExperimentStatus::kQueued,  ExperimentStatus::kWaitingForWorkers,
    ExperimentStatus::kRunning, ExperimentStatus::kSucceeded,
    ExperimentStatus::kFailed,  ExperimentStatus::kCancelled,
};

absl::StatusCode CodeFor(int sqlite_code) {
  switch (sqlite_code & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_NOLFS:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kInternal;
  }
}

std::string ExperimentNotFound(absl::string_view id) {
  return absl::StrCat("experiment \"", id, "\" not found");
}

}  // namespace

absl::string_view ExperimentStatusName(ExperimentStatus status) {
  switch (status) {
    case ExperimentStatus::kQueued:
      return "QUEUED";
    case ExperimentStatus::kWaitingForWorkers:
      return "WAITING_FOR_WORKERS";
    case ExperimentStatus::kRunning:
      return "RUNNING";
    case ExperimentStatus::kSucceeded:
      return "SUCCEEDED";
    case ExperimentStatus::kFailed:
      return "FAILED";
    case ExperimentStatus::kCancelled:
      return "CANCELLED";
  }
  return "UNKNOWN";
}

absl::StatusOr<ExperimentStatus> ParseExperimentStatus(absl::string_view name) {
  for (ExperimentStatus s : kAllStatuses) {
    if (ExperimentStatusName(s) == name) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown experiment status \"", name, "\""));
}

bool IsTerminal(ExperimentStatus status) {
  return status == ExperimentStatus::kSucceeded || status == ExperimentStatus::kFailed ||
         status == ExperimentStatus::kCancelled;
}

bool IsLegalTransition(ExperimentStatus from, ExperimentStatus to) {
  using S = ExperimentStatus;
  if (IsTerminal(from)) return false;
  if (from == to) return true;
  switch (from) {
    case S::kQueued:
      return to == S::kWaitingForWorkers || to == S::kRunning || to == S::kFailed ||
             to == S::kCancelled;
    case S::kWaitingForWorkers:
      return to == S::kRunning || to == S::kFailed || to == S::kCancelled;
    case S::kRunning:
      // Back to waiting when every worker is gone; the run resumes later.
      return to == S::kWaitingForWorkers || to == S::kSucceeded || to == S::kFailed ||
             to == S::kCancelled;
    default:
      return false;
  }
}

// A prepared statement tied to the store's connection. Binding errors are
// kept and reported by the first Step(), so call sites stay linear.
class ExperimentStore::Statement {
 public:
  Statement(ExperimentStore* store, absl::string_view sql) : store_(store) {
    const int rc =
        sqlite3_prepare_v2(store_->db_, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
    if (rc != SQLITE_OK) status_ = store_->SqliteError(rc, "prepare");
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int index, int64_t value) {
    if (status_.ok()) Check(sqlite3_bind_int64(stmt_, index, value));
    return *this;
  }
  // SQLITE_TRANSIENT: SQLite copies, so temporaries passed here are safe.
  Statement& BindText(int index, absl::string_view value) {
    if (status_.ok()) {
      // A null pointer would bind SQL NULL, not an empty string.
      Check(sqlite3_bind_text(stmt_, index, value.empty() ? "" : value.data(),
                              static_cast<int>(value.size()), SQLITE_TRANSIENT));
    }
    return *this;
  }
  Statement& BindBlob(int index, absl::string_view value) {
    if (status_.ok()) {
      Check(sqlite3_bind_blob64(stmt_, index, value.empty() ? "" : value.data(), value.size(),
                                SQLITE_TRANSIENT));
    }
    return *this;
  }

  // True while a row is available; false when the statement is done.
  absl::StatusOr<bool> Step() {
    SMFG_RETURN_IF_ERROR(status_);
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    status_ = store_->SqliteError(rc, "step");
    return status_;
  }
  // Runs a statement that returns no rows of interest.
  absl::Status Run() {
    while (true) {
      SMFG_ASSIGN_OR_RETURN(bool row, Step());
      if (!row) return absl::OkStatus();
    }
  }

  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) {
    const auto* p = sqlite3_column_text(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
  }
  std::string Blob(int col) {
    const void* p = sqlite3_column_blob(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
  }

  // The current row of a SELECT of kExperimentColumns.
  absl::StatusOr<ExperimentRecord> Experiment() {
    ExperimentRecord r;
    r.id = Text(0);
    r.idempotency_key = Text(1);
    r.name = Text(2);
    r.spec_text = Text(3);
    const std::string status = Text(4);
    auto parsed = ParseExperimentStatus(status);
    if (!parsed.ok()) {
      // The CHECK constraint forbids this: the file was altered behind our back.
      return absl::DataLossError(
          absl::StrCat(store_->db_path_, ": experiment ", r.id, " has status \"", status, "\""));
    }
    r.status = *parsed;
    r.status_message = Text(5);
    r.cancel_requested = Int(6) != 0;
    r.created_unix_seconds = Int(7);
    r.updated_unix_seconds = Int(8);
    r.outer_iteration = Int(9);
    r.seq = Int(10);
    return r;
  }

  // Every remaining row of a SELECT of kExperimentColumns.
  absl::StatusOr<std::vector<ExperimentRecord>> AllExperiments() {
    std::vector<ExperimentRecord> out;
    while (true) {
      SMFG_ASSIGN_OR_RETURN(bool row, Step());
      if (!row) return out;
      SMFG_ASSIGN_OR_RETURN(ExperimentRecord r, Experiment());
      out.push_back(std::move(r));
    }
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK) status_ = store_->SqliteError(rc, "bind");
  }

  ExperimentStore* store_;
  sqlite3_stmt* stmt_ = nullptr;
  absl::Status status_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back unless committed. IMMEDIATE takes the
// write lock up front, so a read-then-write transaction can never fail halfway
// with SQLITE_BUSY after having read stale data.
class ExperimentStore::Transaction {
 public:
  explicit Transaction(ExperimentStore* store) : store_(store) {}
  ~Transaction() {
    // After some I/O errors SQLite has already rolled back on its own.
    if (begun_ && !sqlite3_get_autocommit(store_->db_)) {
      sqlite3_exec(store_->db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  absl::Status Begin() {
    SMFG_RETURN_IF_ERROR(store_->Exec("BEGIN IMMEDIATE"));
    begun_ = true;
    return absl::OkStatus();
  }
  absl::Status Commit() { return store_->Exec("COMMIT"); }

 private:
  ExperimentStore* store_;
  bool begun_ = false;
};

ExperimentStore::ExperimentStore(std::string data_dir, std::string db_path, sqlite3* db,
                                 ExperimentStoreOptions options)
    : data_dir_(std::move(data_dir)),
      db_path_(std::move(db_path)),
      options_(std::move(options)),
      db_(db) {}

ExperimentStore::~ExperimentStore() {
  absl::MutexLock lock(&mu_);
  // Every Statement is finalised by now, so close_v2 closes at once; as the
  // last connection it also checkpoints the WAL into smfg.db.
  sqlite3_close_v2(db_);
}

absl::StatusOr<std::unique_ptr<ExperimentStore>> ExperimentStore::Open(
    const std::string& data_dir, ExperimentStoreOptions options) {
  namespace fs = std::filesystem;
  if (data_dir.empty()) {
    return absl::InvalidArgumentError("experiment store: empty data directory");
  }
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec || !fs::is_directory(data_dir, ec)) {
    return absl::FailedPreconditionError(absl::StrCat("cannot use data directory ", data_dir, ": ",
                                                      ec ? ec.message() : "not a directory"));
  }
  std::string db_path = (fs::path(data_dir) / "smfg.db").string();
  if (fs::exists(db_path, ec) && !fs::is_regular_file(db_path, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat(db_path, " exists and is not a regular file"));
  }
  sqlite3* db = nullptr;
  // NOMUTEX: the store's own mutex serialises every use of the connection.
  const int rc =
      sqlite3_open_v2(db_path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status(
        CodeFor(rc),
        absl::StrCat(db_path, ": cannot open: ", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    sqlite3_close_v2(db);
    return status;
  }
  std::unique_ptr<ExperimentStore> store(
      new ExperimentStore(data_dir, std::move(db_path), db, std::move(options)));
  {
    absl::MutexLock lock(&store->mu_);
    const absl::Status initialised = store->Initialise();
    if (!initialised.ok() && absl::StrContains(initialised.message(), "readonly database")) {
      // SQLite says so at the first statement that writes (journal mode,
      // schema): the file or its directory is not writable for us.
      return absl::FailedPreconditionError(
          absl::StrCat(store->db_path_, " is read-only for this process (", initialised.message(),
                       "); the coordinator needs to write its data "
                       "directory"));
    }
    SMFG_RETURN_IF_ERROR(initialised);
  }
  return store;
}

absl::Status ExperimentStore::Initialise() {
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, options_.busy_timeout_ms);

  // Nothing below writes until the file is known to be ours and intact: a
  // foreign or damaged file must be left exactly as it was found.
  int64_t tables = 0;
  {
    Statement s(this, "SELECT count(*) FROM sqlite_master");
    auto row = s.Step();
    if (!row.ok()) {
      if (row.status().code() == absl::StatusCode::kDataLoss) {
        return absl::DataLossError(
            absl::StrCat(db_path_, " is not a readable SQLite database (left untouched): ",
                         absl::StripPrefix(row.status().message(), absl::StrCat(db_path_, ": "))));
      }
      return row.status();
    }
    tables = s.Int(0);
  }
  if (options_.verify_on_open) {
    Statement s(this, "PRAGMA quick_check(5)");
    std::string problems;
    while (true) {
      SMFG_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      const std::string line = s.Text(0);
      if (line != "ok") absl::StrAppend(&problems, problems.empty() ? "" : "; ", line);
    }
    if (!problems.empty()) {
      return absl::DataLossError(
          absl::StrCat(db_path_, " is corrupt (left untouched): ", problems));
    }
  }
  int64_t application_id = 0;
  {
    Statement s(this, "PRAGMA application_id");
    SMFG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (row) application_id = s.Int(0);
  }
  if (application_id != kApplicationId && !(application_id == 0 && tables == 0)) {
    return absl::FailedPreconditionError(
        absl::StrCat(db_path_, " is an SQLite database of another application (application_id ",
                     application_id, ", ", tables, " schema objects); left untouched"));
  }
  if (tables == 0) {
    // A new (or emptied) database next to the checkpoints of experiments it
    // does not know: a lost or truncated database, not a fresh start.
    namespace fs = std::filesystem;
    std::error_code ec;
    int orphans = 0;
    for (fs::directory_iterator it(fs::path(data_dir_) / "checkpoints", ec), end; !ec && it != end;
         it.increment(ec)) {
      ++orphans;
    }
    if (orphans > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          db_path_, " is empty or new, but ", data_dir_, "/checkpoints holds the checkpoints of ",
          orphans,
          " experiment(s): restore smfg.db from a backup (docs/OPERATIONS.md), or move "
          "checkpoints/ away to start a new store; nothing was changed"));
    }
  }

  {
    Statement s(this, "PRAGMA journal_mode=WAL");
    SMFG_ASSIGN_OR_RETURN(bool row, s.Step());
    const std::string mode = row ? s.Text(0) : "";
    if (!absl::EqualsIgnoreCase(mode, "wal")) {
      // WAL needs shared memory between processes; network filesystems lack it.
      return absl::FailedPreconditionError(
          absl::StrCat(db_path_, ": cannot enable WAL journal mode (got \"", mode,
                       "\"); is the data directory on a network filesystem?"));
    }
  }
  SMFG_RETURN_IF_ERROR(Exec("PRAGMA synchronous=FULL"));
  SMFG_RETURN_IF_ERROR(Exec("PRAGMA foreign_keys=ON"));
  // Fail now, not at the first write of a run: a store that cannot be written
  // (read-only file or directory, full disk) would accept experiments and
  // then fail every one of them.
  if (sqlite3_db_readonly(db_, "main") == 1) {
    return absl::FailedPreconditionError(
        absl::StrCat(db_path_, ": the database is read-only; the coordinator needs to write it"));
  }
  SMFG_RETURN_IF_ERROR(Migrate());
  {
    Transaction txn(this);
    SMFG_RETURN_IF_ERROR(txn.Begin());
    absl::Status probe = Statement(this,
                                   "INSERT INTO store_info (key, value) VALUES ('last_opened', ?) "
                                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                             .BindText(1, absl::StrCat(Now()))
                             .Run();
    if (probe.ok()) probe = txn.Commit();
    if (!probe.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("the store cannot be written (",
                                                        probe.message(),
                                                        "); the coordinator needs to write it"));
    }
  }
  Statement s(this, "SELECT value FROM store_info WHERE key = 'incarnation'");
  SMFG_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::DataLossError(absl::StrCat(db_path_, ": no incarnation recorded"));
  incarnation_ = s.Text(0);
  return absl::OkStatus();
}

absl::Status ExperimentStore::Migrate() {
  Transaction txn(this);
  SMFG_RETURN_IF_ERROR(txn.Begin());
  SMFG_RETURN_IF_ERROR(
      Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
  int64_t version = 0;
  {
    Statement s(this, "SELECT max(version) FROM schema_version");
    SMFG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (row) version = s.Int(0);  // NULL (empty table) reads as 0
  }
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(db_path_, " has schema version ", version, " but this build knows only up to ",
                     kSchemaVersion, "; use a newer smfg-coordinator"));
  }
  if (version == kSchemaVersion) return absl::OkStatus();  // read-only: rollback is fine
  for (int64_t v = version; v < kSchemaVersion; ++v) {
    SMFG_RETURN_IF_ERROR(
        Annotate(Exec(kMigrations[v]), absl::StrCat("migration to schema version ", v + 1)));
  }
  SMFG_RETURN_IF_ERROR(Exec("DELETE FROM schema_version"));
  SMFG_RETURN_IF_ERROR(Statement(this, "INSERT INTO schema_version (version) VALUES (?)")
                           .Bind(1, kSchemaVersion)
                           .Run());
  SMFG_RETURN_IF_ERROR(
      Statement(this, "INSERT OR IGNORE INTO store_info (key, value) VALUES ('incarnation', ?)")
          .BindText(1, RandomHex128())
          .Run());
  SMFG_RETURN_IF_ERROR(Exec(absl::StrCat("PRAGMA application_id=", kApplicationId)));
  return txn.Commit();
}

absl::Status ExperimentStore::Exec(absl::string_view sql) {
  const std::string copy(sql);  // sqlite3_exec wants NUL termination
  const int rc = sqlite3_exec(db_, copy.c_str(), nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) return absl::OkStatus();
  return SqliteError(rc, copy.size() > 40 ? copy.substr(0, 40) + "..." : copy);
}

absl::Status ExperimentStore::Fault(absl::string_view point) {
  if (!fault_hook_) return absl::OkStatus();
  return fault_hook_(point);
}

absl::Status ExperimentStore::SqliteError(int code, absl::string_view what) {
  return absl::Status(CodeFor(code), absl::StrCat(db_path_, ": ", what, ": ", sqlite3_errmsg(db_)));
}

int64_t ExperimentStore::Now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void ExperimentStore::SetFaultHookForTesting(FaultHook hook) {
  absl::MutexLock lock(&mu_);
  fault_hook_ = std::move(hook);
}

absl::StatusOr<ExperimentRecord> ExperimentStore::GetLocked(absl::string_view id) {
  Statement s(this, absl::StrCat("SELECT ", kExperimentColumns, " FROM experiments WHERE id = ?"));
  s.BindText(1, id);
  SMFG_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(ExperimentNotFound(id));
  return s.Experiment();
}

absl::Status ExperimentStore::CheckExistsLocked(absl::string_view id) {
  Statement s(this, "SELECT 1 FROM experiments WHERE id = ?");
  s.BindText(1, id);
  SMFG_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(ExperimentNotFound(id));
  return absl::OkStatus();
}

absl::StatusOr<CreateResult> ExperimentStore::Create(const ExperimentRecord& request) {
  if (request.idempotency_key.empty()) {
    return absl::InvalidArgumentError("experiment: empty idempotency key");
  }
  absl::MutexLock lock(&mu_);
  Transaction txn(this);
  SMFG_RETURN_IF_ERROR(txn.Begin());
  {
    Statement s(this, absl::StrCat("SELECT ", kExperimentColumns,
                                   " FROM experiments WHERE idempotency_key = ?"));
    s.BindText(1, request.idempotency_key);
    SMFG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (row) {
      SMFG_ASSIGN_OR_RETURN(ExperimentRecord existing, s.Experiment());
      if (existing.spec_text != request.spec_text) {
        return absl::AlreadyExistsError(absl::StrCat("idempotency key \"", request.idempotency_key,
                                                     "\" already names experiment ", existing.id,
                                                     " with a different spec"));
      }
      return CreateResult{std::move(existing), false};
    }
  }
  // The number AUTOINCREMENT would pick next: never reused, even if rows are
  // ever deleted. We hold the write lock, so nobody can take it in between.
  int64_t seq = 1;
  {
    Statement s(this, "SELECT seq FROM sqlite_sequence WHERE name = 'experiments'");
    SMFG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (row) seq = s.Int(0) + 1;
  }
  // Ids are never reused, also not after the database was restored from a
  // backup older than some experiments: an id whose checkpoint directory
  // exists was given out before, so it is skipped.
  char id[32];
  for (int skipped = 0;; ++seq, ++skipped) {
    std::snprintf(id, sizeof(id), "exp-%06lld", static_cast<long long>(seq));
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::path(data_dir_) / "checkpoints" / id, ec)) break;
    if (skipped == 0) {
      std::fprintf(stderr,
                   "experiment store: %s was used before this database's state "
                   "(restored from a backup?); skipping to an unused id\n",
                   id);
    }
  }
  const int64_t now = Now();
  SMFG_RETURN_IF_ERROR(
      Statement(this,
                "INSERT INTO experiments (seq, id, idempotency_key, name, spec_text, "
                "status, status_message, cancel_requested, created_at, updated_at, "
                "outer_iteration) VALUES (?, ?, ?, ?, ?, 'QUEUED', '', 0, ?, ?, -1)")
          .Bind(1, seq)
          .BindText(2, id)
          .BindText(3, request.idempotency_key)
          .BindText(4, request.name)
          .BindText(5, request.spec_text)
          .Bind(6, now)
          .Bind(7, now)
          .Run());
  SMFG_RETURN_IF_ERROR(Fault("Create:after_insert"));
  SMFG_ASSIGN_OR_RETURN(ExperimentRecord created, GetLocked(id));
  SMFG_RETURN_IF_ERROR(txn.Commit());
  return CreateResult{std::move(created), true};
}

absl::StatusOr<ExperimentRecord> ExperimentStore::Get(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  return GetLocked(id);
}

absl::StatusOr<std::vector<ExperimentRecord>> ExperimentStore::List(
    std::optional<ExperimentStatus> status, int limit, int64_t before_seq) {
  if (limit < 0) {
    return absl::InvalidArgumentError(absl::StrCat("negative list limit ", limit));
  }
  if (before_seq < 0) {
    return absl::InvalidArgumentError(absl::StrCat("negative list position ", before_seq));
  }
  absl::MutexLock lock(&mu_);
  // LIMIT -1 is SQLite's "no limit".
  Statement s(this, absl::StrCat("SELECT ", kExperimentColumns, " FROM experiments WHERE seq < ?3",
                                 status ? " AND status = ?2" : "", " ORDER BY seq DESC LIMIT ?1"));
  s.Bind(1, limit == 0 ? -1 : limit);
  if (status) s.BindText(2, ExperimentStatusName(*status));
  s.Bind(3, before_seq == 0 ? std::numeric_limits<int64_t>::max() : before_seq);
  return s.AllExperiments();
}

absl::Status ExperimentStore::Delete(absl::string_view id) {
  namespace fs = std::filesystem;
  {
    absl::MutexLock lock(&mu_);
    Transaction txn(this);
    SMFG_RETURN_IF_ERROR(txn.Begin());
    SMFG_ASSIGN_OR_RETURN(ExperimentRecord current, GetLocked(id));
    if (!IsTerminal(current.status)) {
      return absl::FailedPreconditionError(
          absl::StrCat("experiment ", id, " is ", ExperimentStatusName(current.status),
                       "; only a SUCCEEDED, FAILED or CANCELLED experiment can be deleted (cancel "
                       "it first)"));
    }
    for (const char* table : {"iterations", "results", "checkpoints"}) {
      SMFG_RETURN_IF_ERROR(
          Statement(this, absl::StrCat("DELETE FROM ", table, " WHERE experiment_id = ?"))
              .BindText(1, id)
              .Run());
      SMFG_RETURN_IF_ERROR(Fault(absl::StrCat("Delete:after_", table)));
    }
    // Rows of a schema-1 store, if it was one.
    Statement legacy(this, "SELECT 1 FROM sqlite_master WHERE name = 'metrics_json_v1'");
    SMFG_ASSIGN_OR_RETURN(bool has_legacy, legacy.Step());
    if (has_legacy) {
      SMFG_RETURN_IF_ERROR(Statement(this, "DELETE FROM metrics_json_v1 WHERE experiment_id = ?")
                               .BindText(1, id)
                               .Run());
    }
    SMFG_RETURN_IF_ERROR(
        Statement(this, "DELETE FROM experiments WHERE id = ?").BindText(1, id).Run());
    SMFG_RETURN_IF_ERROR(txn.Commit());
  }
  // The rows are gone; the files follow (a crash here leaves a directory that
  // only keeps its id from being given out again).
  std::error_code ec;
  fs::remove_all(fs::path(data_dir_) / "checkpoints" / std::string(id), ec);
  if (ec) {
    std::fprintf(stderr, "experiment store: deleted %s but not its checkpoints: %s\n",
                 std::string(id).c_str(), ec.message().c_str());
  }
  return absl::OkStatus();
}

absl::Status ExperimentStore::UpdateStatus(absl::string_view id, ExperimentStatus status,
                                           absl::string_view message) {
  absl::MutexLock lock(&mu_);
  Transaction txn(this);
  SMFG_RETURN_IF_ERROR(txn.Begin());
  SMFG_ASSIGN_OR_RETURN(ExperimentRecord current, GetLocked(id));
  if (!IsLegalTransition(current.status, status)) {
    return absl::FailedPreconditionError(
        absl::StrCat("experiment ", id, ": illegal status transition ",
                     ExperimentStatusName(current.status), " -> ", ExperimentStatusName(status)));
  }
  SMFG_RETURN_IF_ERROR(
      Statement(this,
                "UPDATE experiments SET status = ?, status_message = ?, updated_at = ? "
                "WHERE id = ?")
          .BindText(1, ExperimentStatusName(status))
          .BindText(2, BoundedMessage(message))
          .Bind(3, Now())
          .BindText(4, id)
          .Run());
  SMFG_RETURN_IF_ERROR(Fault("UpdateStatus:after_update"));
  return txn.Commit();
}

absl::StatusOr<ExperimentRecord> ExperimentStore::RequestCancel(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  Transaction txn(this);
  SMFG_RETURN_IF_ERROR(txn.Begin());
  SMFG_ASSIGN_OR_RETURN(ExperimentRecord current, GetLocked(id));
  switch (current.status) {
    case ExperimentStatus::kCancelled:
      return current;
    case ExperimentStatus::kSucceeded:
    case ExperimentStatus::kFailed:
      return absl::FailedPreconditionError(absl::StrCat("experiment ", id, " already finished (",
                                                        ExperimentStatusName(current.status),
                                                        "); nothing to cancel"));
    case ExperimentStatus::kQueued:
      SMFG_RETURN_IF_ERROR(
          Statement(this,
                    "UPDATE experiments SET status = 'CANCELLED', cancel_requested = 1, "
                    "status_message = 'cancelled before it started', updated_at = ? "
                    "WHERE id = ?")
              .Bind(1, Now())
              .BindText(2, id)
              .Run());
      break;
    case ExperimentStatus::kWaitingForWorkers:
    case ExperimentStatus::kRunning:
      SMFG_RETURN_IF_ERROR(Statement(this,
                                     "UPDATE experiments SET cancel_requested = 1, updated_at = ? "
                                     "WHERE id = ?")
                               .Bind(1, Now())
                               .BindText(2, id)
                               .Run());
      break;
  }
  SMFG_ASSIGN_OR_RETURN(ExperimentRecord updated, GetLocked(id));
  SMFG_RETURN_IF_ERROR(txn.Commit());
  return updated;
}

absl::StatusOr<std::vector<ExperimentRecord>> ExperimentStore::ExperimentsToResume() {
  absl::MutexLock lock(&mu_);
  Statement s(this, absl::StrCat("SELECT ", kExperimentColumns,
                                 " FROM experiments WHERE status IN "
                                 "('RUNNING', 'WAITING_FOR_WORKERS') ORDER BY seq"));
  return s.AllExperiments();
}

absl::Status ExperimentStore::AppendIteration(absl::string_view id, int64_t iteration,
                                              absl::string_view record) {
  if (iteration < 0) {
    return absl::InvalidArgumentError(absl::StrCat("negative iteration ", iteration));
  }
  absl::MutexLock lock(&mu_);
  Transaction txn(this);
  SMFG_RETURN_IF_ERROR(txn.Begin());
  const int64_t now = Now();
  SMFG_RETURN_IF_ERROR(
      Statement(this,
                "UPDATE experiments SET outer_iteration = max(outer_iteration, ?), "
                "updated_at = ? WHERE id = ?")
          .Bind(1, iteration)
          .Bind(2, now)
          .BindText(3, id)
          .Run());
  if (sqlite3_changes(db_) == 0) return absl::NotFoundError(ExperimentNotFound(id));
  SMFG_RETURN_IF_ERROR(Fault("AppendIteration:after_experiment"));
  SMFG_RETURN_IF_ERROR(
      Statement(this,
                "INSERT INTO iterations (experiment_id, iteration, record, recorded_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (experiment_id, iteration) DO UPDATE "
                "SET record = excluded.record, recorded_at = excluded.recorded_at")
          .BindText(1, id)
          .Bind(2, iteration)
          .BindBlob(3, record)
          .Bind(4, now)
          .Run());
  return txn.Commit();
}

absl::StatusOr<std::vector<IterationRow>> ExperimentStore::Iterations(absl::string_view id,
                                                                      int64_t after_iteration) {
  absl::MutexLock lock(&mu_);
  SMFG_RETURN_IF_ERROR(CheckExistsLocked(id));
  Statement s(this,
              "SELECT iteration, record FROM iterations WHERE experiment_id = ? AND "
              "iteration > ? ORDER BY iteration");
  s.BindText(1, id).Bind(2, after_iteration);
  std::vector<IterationRow> out;
  while (true) {
    SMFG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(IterationRow{s.Int(0), s.Blob(1)});
  }
  return out;
}

namespace {

absl::Status CheckResultPaths(const std::vector<ResultFile>& files) {
  std::set<absl::string_view> paths;
  for (const ResultFile& f : files) {
    SMFG_RETURN_IF_ERROR(ValidateRelativePath(f.path));
    if (!paths.insert(f.path).second) {
      return absl::InvalidArgumentError(absl::StrCat("result \"", f.path, "\" given twice"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ExperimentStore::InsertResultsLocked(absl::string_view id,
                                                  const std::vector<ResultFile>& files) {
  const int64_t now = Now();
  for (const ResultFile& f : files) {
    SMFG_RETURN_IF_ERROR(
        Statement(this,
                  "INSERT INTO results (experiment_id, name, bytes, updated_at) "
                  "VALUES (?, ?, ?, ?) ON CONFLICT (experiment_id, name) DO UPDATE "
                  "SET bytes = excluded.bytes, updated_at = excluded.updated_at")
            .BindText(1, id)
            .BindText(2, f.path)
            .BindBlob(3, f.bytes)
            .Bind(4, now)
            .Run());
    SMFG_RETURN_IF_ERROR(Fault("PutResults:after_file"));
  }
  return absl::OkStatus();
}

absl::Status ExperimentStore::PutResults(absl::string_view id,
                                         const std::vector<ResultFile>& files) {
  SMFG_RETURN_IF_ERROR(CheckResultPaths(files));
  absl::MutexLock lock(&mu_);
  Transaction txn(this);
  SMFG_RETURN_IF_ERROR(txn.Begin());
  SMFG_RETURN_IF_ERROR(CheckExistsLocked(id));
  SMFG_RETURN_IF_ERROR(InsertResultsLocked(id, files));
  return txn.Commit();
}

absl::StatusOr<ExperimentStatus> ExperimentStore::Complete(absl::string_view id,
                                                           const std::vector<ResultFile>& files,
                                                           absl::string_view message,
                                                           absl::string_view cancelled_message) {
  SMFG_RETURN_IF_ERROR(CheckResultPaths(files));
  absl::MutexLock lock(&mu_);
  Transaction txn(this);
  SMFG_RETURN_IF_ERROR(txn.Begin());
  SMFG_ASSIGN_OR_RETURN(ExperimentRecord current, GetLocked(id));
  const ExperimentStatus end =
      current.cancel_requested ? ExperimentStatus::kCancelled : ExperimentStatus::kSucceeded;
  if (!IsLegalTransition(current.status, end)) {
    return absl::FailedPreconditionError(
        absl::StrCat("experiment ", id, ": illegal status transition ",
                     ExperimentStatusName(current.status), " -> ", ExperimentStatusName(end)));
  }
  if (end == ExperimentStatus::kSucceeded) {
    SMFG_RETURN_IF_ERROR(InsertResultsLocked(id, files));
  }
  SMFG_RETURN_IF_ERROR(
      Statement(this,
                "UPDATE experiments SET status = ?, status_message = ?, updated_at = ? "
                "WHERE id = ?")
          .BindText(1, ExperimentStatusName(end))
          .BindText(
              2, BoundedMessage(end == ExperimentStatus::kSucceeded ? message : cancelled_message))
          .Bind(3, Now())
          .BindText(4, id)
          .Run());
  SMFG_RETURN_IF_ERROR(Fault("Complete:after_update"));
  SMFG_RETURN_IF_ERROR(txn.Commit());
  return end;
}

absl::Status ExperimentStore::PutResult(absl::string_view id, absl::string_view path,
                                        absl::string_view bytes) {
  return PutResults(id, {ResultFile{std::string(path), std::string(bytes)}});
}

absl::StatusOr<std::string> ExperimentStore::GetResult(absl::string_view id,
                                                       absl::string_view name) {
  absl::MutexLock lock(&mu_);
  Statement s(this, "SELECT bytes FROM results WHERE experiment_id = ? AND name = ?");
  s.BindText(1, id).BindText(2, name);
  SMFG_ASSIGN_OR_RETURN(bool row, s.Step());
  if (row) return s.Blob(0);
  SMFG_RETURN_IF_ERROR(CheckExistsLocked(id));
  return absl::NotFoundError(absl::StrCat("experiment ", id, " has no result \"", name, "\""));
}

absl::StatusOr<std::vector<std::string>> ExperimentStore::ListResults(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  SMFG_RETURN_IF_ERROR(CheckExistsLocked(id));
  Statement s(this, "SELECT name FROM results WHERE experiment_id = ? ORDER BY name");
  s.BindText(1, id);
  std::vector<std::string> out;
  while (true) {
    SMFG_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(s.Text(0));
  }
  return out;
}

absl::StatusOr<std::string> ExperimentStore::CheckpointDir(absl::string_view id) {
  namespace fs = std::filesystem;
  {
    absl::MutexLock lock(&mu_);
    // Only ids the store generated pass this, so `id` is a safe path component.
    SMFG_RETURN_IF_ERROR(CheckExistsLocked(id));
  }
  const fs::path dir = fs::path(data_dir_) / "checkpoints" / std::string(id);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot create checkpoint directory ", dir.string(), ": ", ec.message()));
  }
  return dir.string();
}

absl::Status ExperimentStore::RecordCheckpoint(absl::string_view id, int64_t iteration) {
  if (iteration < 0) {
    return absl::InvalidArgumentError(absl::StrCat("negative iteration ", iteration));
  }
  absl::MutexLock lock(&mu_);
  Transaction txn(this);
  SMFG_RETURN_IF_ERROR(txn.Begin());
  SMFG_RETURN_IF_ERROR(CheckExistsLocked(id));
  SMFG_RETURN_IF_ERROR(Statement(this,
                                 "INSERT INTO checkpoints (experiment_id, iteration, recorded_at) "
                                 "VALUES (?, ?, ?)")
                           .BindText(1, id)
                           .Bind(2, iteration)
                           .Bind(3, Now())
                           .Run());
  return txn.Commit();
}

absl::StatusOr<std::optional<CheckpointInfo>> ExperimentStore::LatestCheckpoint(
    absl::string_view id) {
  absl::MutexLock lock(&mu_);
  SMFG_RETURN_IF_ERROR(CheckExistsLocked(id));
  Statement s(this,
              "SELECT iteration, recorded_at FROM checkpoints WHERE experiment_id = ? "
              "ORDER BY seq DESC LIMIT 1");
  s.BindText(1, id);
  SMFG_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<CheckpointInfo>();
  return std::optional<CheckpointInfo>(CheckpointInfo{s.Int(0), s.Int(1)});
}

}  // namespace smfg::coordinator
