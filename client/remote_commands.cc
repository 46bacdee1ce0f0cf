#include "client/remote_commands.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "common/status.h"
#include "config/spec_convert.h"
#include "config/spec_loader.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/generic/generic_stub.h"
#include "training/report_files.h"
#include "training/trainer_params.h"

namespace smfg::client {
namespace {

namespace fs = std::filesystem;

// A channel to o.coordinator, over TLS trusting o.tls_ca_pem when it is set.
std::shared_ptr<grpc::Channel> ConnectChannel(const RemoteOptions& o) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!o.tls_ca_pem.empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = o.tls_ca_pem;
    credentials = grpc::SslCredentials(ssl);
  }
  // gRPC's default limits: every response of the API stays below 4 MiB
  // (results and long histories come in chunks).
  return grpc::CreateChannel(o.coordinator, credentials);
}

}  // namespace

std::unique_ptr<v1::ExperimentService::Stub> ConnectExperimentService(const RemoteOptions& o) {
  return v1::ExperimentService::NewStub(ConnectChannel(o));
}

void PrepareContext(grpc::ClientContext* context, const RemoteOptions& remote,
                    absl::Duration timeout) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (!remote.token.empty()) context->AddMetadata("authorization", "Bearer " + remote.token);
}

namespace {

// One unary ExperimentService call with the options' deadline and token.
template <typename Request, typename Response>
absl::Status Call(const RemoteOptions& remote,
                  grpc::Status (v1::ExperimentService::Stub::*method)(grpc::ClientContext*,
                                                                      const Request&, Response*),
                  const Request& request, Response* response) {
  grpc::ClientContext context;
  PrepareContext(&context, remote, remote.rpc_timeout);
  const std::unique_ptr<v1::ExperimentService::Stub> stub = ConnectExperimentService(remote);
  return FromGrpcStatus(((*stub).*method)(&context, request, response));
}

absl::Status RequireId(const std::string& id) {
  return id.empty() ? absl::InvalidArgumentError("an experiment ID is required") : absl::OkStatus();
}

}  // namespace

absl::Status RemoteOptions::Validate() const {
  if (coordinator.empty() || coordinator.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--coordinator: expected HOST:PORT, got '", coordinator, "'"));
  }
  if (rpc_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--rpc_timeout: must be positive");
  }
  return absl::OkStatus();
}

absl::Status SubmitOptions::Validate() const {
  SMFG_RETURN_IF_ERROR(remote.Validate());
  if (spec_path.empty()) return absl::InvalidArgumentError("submit: a SPEC file is required");
  return absl::OkStatus();
}

absl::Status ExperimentIdOptions::Validate() const {
  SMFG_RETURN_IF_ERROR(remote.Validate());
  if (watch_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--watch_timeout: must be positive");
  }
  return RequireId(id);
}

absl::Status ListOptions::Validate() const {
  SMFG_RETURN_IF_ERROR(remote.Validate());
  if (limit < 0) return absl::InvalidArgumentError("--limit: must be >= 0");
  v1::ExperimentState state;
  if (!status.empty() && !v1::ExperimentState_Parse(status, &state)) {
    return absl::InvalidArgumentError(absl::StrCat("--status: unknown status '", status, "'"));
  }
  return absl::OkStatus();
}

absl::Status ResultsOptions::Validate() const {
  SMFG_RETURN_IF_ERROR(remote.Validate());
  if (out_dir.empty()) return absl::InvalidArgumentError("--out: must not be empty");
  return RequireId(id);
}

std::string FormatExperiment(const v1::Experiment& e) {
  std::string line =
      absl::StrFormat("%s  %-19s  iteration %3d  %s", e.id(), v1::ExperimentState_Name(e.status()),
                      e.outer_iteration(), e.name());
  if (!e.message().empty()) absl::StrAppend(&line, "  (", e.message(), ")");
  if (e.cancel_requested() && e.status() != v1::CANCELLED) absl::StrAppend(&line, "  [cancelling]");
  return line;
}

absl::Status RunSubmit(const SubmitOptions& o, std::ostream& out) {
  SMFG_RETURN_IF_ERROR(o.Validate());
  // Checked here with every rule the coordinator applies (errors with file
  // and line), and sent whole: the effective spec carries its network inline
  // and every default written, so the coordinator never needs a file.
  SMFG_ASSIGN_OR_RETURN(config::LoadedSpec loaded, training::LoadExperimentFile(o.spec_path));
  v1::SubmitRequest request;
  *request.mutable_spec() = config::EffectiveSpec(loaded.spec, loaded.scenario);
  request.set_idempotency_key(
      o.key.empty() ? absl::StrCat("smfg-", getpid(), "-", absl::ToUnixNanos(absl::Now())) : o.key);
  v1::SubmitResponse response;
  SMFG_RETURN_IF_ERROR(Call(o.remote, &v1::ExperimentService::Stub::Submit, request, &response));
  out << response.experiment_id() << (response.created() ? "" : " (already submitted)") << "\n";
  return absl::OkStatus();
}

absl::Status RunWatch(const ExperimentIdOptions& o, std::ostream& out) {
  SMFG_RETURN_IF_ERROR(o.Validate());
  grpc::ClientContext context;
  PrepareContext(&context, o.remote, o.watch_timeout);
  v1::WatchRequest request;
  request.set_id(o.id);
  auto reader = ConnectExperimentService(o.remote)->Watch(&context, request);
  v1::WatchEvent event;
  v1::Experiment last;
  std::string last_line;
  while (reader->Read(&event)) {
    for (const v1::IterationRecord& r : event.records()) {
      out << absl::StrFormat("%s  outer %3d  J %.5f  EEI spread %.3f pp  cost gap %+.2f %%\n", o.id,
                             r.iteration(), r.evaluated().objective(),
                             100 * r.evaluated().eei_spread(), 100 * r.evaluated().recovery_gap());
    }
    const std::string line = FormatExperiment(event.experiment());
    if (line != last_line) out << line << "\n";
    last_line = line;
    last = event.experiment();
    out.flush();
  }
  SMFG_RETURN_IF_ERROR(FromGrpcStatus(reader->Finish()));
  if (last.status() == v1::FAILED || last.status() == v1::CANCELLED) {
    return absl::AbortedError(absl::StrCat(o.id, " ended ", v1::ExperimentState_Name(last.status()),
                                           ": ", last.message()));
  }
  return absl::OkStatus();
}

absl::Status RunGet(const ExperimentIdOptions& o, std::ostream& out) {
  SMFG_RETURN_IF_ERROR(o.Validate());
  v1::GetExperimentRequest request;
  request.set_id(o.id);
  v1::Experiment response;
  SMFG_RETURN_IF_ERROR(Call(o.remote, &v1::ExperimentService::Stub::Get, request, &response));
  out << FormatExperiment(response) << "\n";
  return absl::OkStatus();
}

absl::Status RunList(const ListOptions& o, std::ostream& out) {
  SMFG_RETURN_IF_ERROR(o.Validate());
  v1::ListExperimentsRequest request;
  v1::ExperimentState state = v1::EXPERIMENT_STATE_UNSPECIFIED;
  if (!o.status.empty()) v1::ExperimentState_Parse(o.status, &state);
  request.set_status(state);
  // Page after page until --limit experiments (0: all) are listed.
  int listed = 0;
  do {
    if (o.limit > 0) request.set_page_size(std::min(o.limit - listed, 1000));
    v1::ListExperimentsResponse response;
    SMFG_RETURN_IF_ERROR(Call(o.remote, &v1::ExperimentService::Stub::List, request, &response));
    for (const v1::Experiment& e : response.experiments()) out << FormatExperiment(e) << "\n";
    listed += response.experiments_size();
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty() && (o.limit == 0 || listed < o.limit));
  return absl::OkStatus();
}

absl::Status RunDelete(const ExperimentIdOptions& o, std::ostream& out) {
  SMFG_RETURN_IF_ERROR(o.Validate());
  v1::DeleteRequest request;
  request.set_id(o.id);
  v1::DeleteResponse response;
  SMFG_RETURN_IF_ERROR(Call(o.remote, &v1::ExperimentService::Stub::Delete, request, &response));
  out << o.id << " deleted\n";
  return absl::OkStatus();
}

absl::Status RunCancel(const ExperimentIdOptions& o, std::ostream& out) {
  SMFG_RETURN_IF_ERROR(o.Validate());
  v1::CancelRequest request;
  request.set_id(o.id);
  v1::Experiment response;
  SMFG_RETURN_IF_ERROR(Call(o.remote, &v1::ExperimentService::Stub::Cancel, request, &response));
  out << FormatExperiment(response) << "\n";
  return absl::OkStatus();
}

absl::StatusOr<std::vector<training::OutputFile>> DownloadResults(const RemoteOptions& remote,
                                                                  const std::string& id) {
  grpc::ClientContext context;
  PrepareContext(&context, remote, remote.rpc_timeout);
  v1::GetResultsRequest request;
  request.set_id(id);
  auto reader = ConnectExperimentService(remote)->GetResults(&context, request);
  std::vector<training::OutputFile> files;
  std::vector<size_t> sizes;  // announced, per file
  v1::ResultChunk chunk;
  const auto bad = [&](absl::string_view why) {
    context.TryCancel();
    return absl::DataLossError(absl::StrCat("results of ", id, ": ", why));
  };
  while (reader->Read(&chunk)) {
    if (chunk.offset() == 0) {
      // A new file: the previous one must be complete.
      if (!files.empty() && files.back().bytes.size() != sizes.back()) {
        return bad(absl::StrCat(files.back().path, " ended early"));
      }
      SMFG_RETURN_IF_ERROR(ValidateRelativePath(chunk.path()));
      if (chunk.size() < 0 || chunk.size() > kMaxCheckpointFileBytes) {
        return bad(absl::StrCat(chunk.path(), ": size ", chunk.size()));
      }
      files.push_back({chunk.path(), ""});
      sizes.push_back(static_cast<size_t>(chunk.size()));
      files.back().bytes.reserve(sizes.back());
    } else if (files.empty() || chunk.path() != files.back().path ||
               chunk.offset() != static_cast<int64_t>(files.back().bytes.size())) {
      return bad(
          absl::StrCat("chunk of ", chunk.path(), " at offset ", chunk.offset(), " out of order"));
    }
    if (files.back().bytes.size() + chunk.data().size() > sizes.back()) {
      return bad(absl::StrCat(chunk.path(), " is longer than announced"));
    }
    files.back().bytes += chunk.data();
  }
  SMFG_RETURN_IF_ERROR(FromGrpcStatus(reader->Finish()));
  if (!files.empty() && files.back().bytes.size() != sizes.back()) {
    return bad(absl::StrCat(files.back().path, " ended early"));
  }
  return files;
}

absl::Status RunResults(const ResultsOptions& o, std::ostream& out) {
  SMFG_RETURN_IF_ERROR(o.Validate());
  SMFG_ASSIGN_OR_RETURN(std::vector<training::OutputFile> files, DownloadResults(o.remote, o.id));
  // Every path was checked (relative, no "..") before anything is written,
  // so a coordinator cannot make the client write outside out_dir.
  SMFG_RETURN_IF_ERROR(training::WriteOutputFiles(o.out_dir, files));
  // The same table and report `smfg train` prints, when the run has one.
  for (const training::OutputFile& f : files) {
    if (f.path == "comparison.txt") out << f.bytes;
  }
  out << "Wrote " << files.size() << " files to " << o.out_dir << "\n";
  return absl::OkStatus();
}

namespace {

// The ServingStatus (field 1, a varint) of a serialized
// grpc.health.v1.HealthCheckResponse; absent means 0 (UNKNOWN). The health
// proto's C++ code is not shipped with Debian's gRPC, hence the generic stub
// and this hand decoding.
absl::StatusOr<uint64_t> ServingStatusOf(const std::string& bytes) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  uint64_t status = 0;
  for (uint32_t tag = in.ReadTag(); tag != 0; tag = in.ReadTag()) {
    const bool skipped = tag == 8 ? in.ReadVarint64(&status)
                                  : google::protobuf::internal::WireFormatLite::SkipField(&in, tag);
    if (!skipped) return absl::DataLossError("unreadable HealthCheckResponse");
  }
  return status;
}

std::string ServingStatusName(uint64_t status) {
  static const char* const kNames[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
  return status < 4 ? kNames[status] : absl::StrCat("STATUS_", status);
}

}  // namespace

absl::StatusOr<std::string> CheckHealth(const RemoteOptions& remote) {
  SMFG_RETURN_IF_ERROR(remote.Validate());
  grpc::GenericStub stub(ConnectChannel(remote));
  grpc::ClientContext context;
  PrepareContext(&context, remote, remote.rpc_timeout);
  grpc::Slice empty;  // an empty HealthCheckRequest: service "" = the whole server
  const grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();  // bounded by the call's deadline
  SMFG_RETURN_IF_ERROR(FromGrpcStatus(status));
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return absl::DataLossError("unreadable HealthCheckResponse");
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  absl::StatusOr<uint64_t> serving = ServingStatusOf(bytes);
  if (!serving.ok()) return serving.status();
  return ServingStatusName(*serving);
}

absl::Status RunHealth(const RemoteOptions& remote, std::ostream& out) {
  absl::StatusOr<std::string> health = CheckHealth(remote);
  if (!health.ok()) return health.status();
  out << *health << "\n";
  if (*health == "SERVING") return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("coordinator at ", remote.coordinator, " is ", *health));
}

}  // namespace smfg::client
