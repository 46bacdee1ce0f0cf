// Fuzzes every RPC of the real smfg-coordinator with random bytes and with
// mutated messages (protobuf reflection on each method's request type) while
// an experiment runs. Bounded in count and time; a fixed seed makes a failure
// reproducible. The coordinator must stay up (health SERVING), its memory
// must not grow, and the run in progress must still equal a local
// `smfg train` bit for bit. Prints how many messages it tried.
#include <sys/wait.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "smfg/v1/experiment.grpc.pb.h"
#include "smfg/v1/worker.grpc.pb.h"
#include "tests/cluster_util.h"

namespace smfg {
namespace {

namespace fs = std::filesystem;
namespace pb = ::google::protobuf;
using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::ReadAll;

constexpr int kMaxMessages = 20000;
constexpr absl::Duration kMaxFuzzTime = absl::Seconds(90);

int64_t RssKb(pid_t pid) {
  const std::string status = ReadAll(absl::StrCat("/proc/", pid, "/status"));
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (absl::StartsWith(line, "VmRSS:")) {
      std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
      int64_t kb = 0;
      if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kb)) return kb;
    }
  }
  return -1;
}

class Mutator {
 public:
  explicit Mutator(uint32_t seed) : rng_(seed) {}

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  std::string RandomBytes(int max_len) {
    std::string s(Uniform(0, max_len), '\0');
    for (char& c : s) c = static_cast<char>(Uniform(0, 255));
    return s;
  }

  std::string RandomString() {
    switch (Uniform(0, 4)) {
      case 0:
        return "";
      case 1:
        return "exp-000002";  // an id that exists once a fuzzed Submit succeeds
      case 2:
        return std::string(Uniform(200, 400), 'a');
      case 3:
        return "../../etc/passwd";
      default:
        return RandomBytes(40);
    }
  }

  // Sets a random selection of `m`'s fields to random values, recursively.
  void Fill(pb::Message* m, int depth) {
    const pb::Descriptor* d = m->GetDescriptor();
    const pb::Reflection* r = m->GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
      const pb::FieldDescriptor* f = d->field(i);
      if (Uniform(0, 2) == 0) continue;
      const int count = f->is_repeated() ? Uniform(0, depth < 2 ? 4 : 1) : 1;
      for (int k = 0; k < count; ++k) SetOne(m, r, f, depth);
    }
  }

  std::string Mutated(const pb::Descriptor* type, pb::DynamicMessageFactory* factory) {
    std::unique_ptr<pb::Message> m(factory->GetPrototype(type)->New());
    Fill(m.get(), 0);
    std::string bytes = m->SerializeAsString();
    // Sometimes flip a few bytes or cut the message short.
    if (!bytes.empty() && Uniform(0, 3) == 0) {
      for (int k = Uniform(1, 3); k > 0; --k) {
        bytes[Uniform(0, static_cast<int>(bytes.size()) - 1)] ^= static_cast<char>(Uniform(1, 255));
      }
    }
    if (!bytes.empty() && Uniform(0, 5) == 0) bytes.resize(Uniform(0, bytes.size() - 1));
    return bytes;
  }

 private:
  double RandomDouble() {
    switch (Uniform(0, 6)) {
      case 0:
        return 0.0;
      case 1:
        return -1.0;
      case 2:
        return 1e300;
      case 3:
        return std::numeric_limits<double>::quiet_NaN();
      case 4:
        return std::numeric_limits<double>::infinity();
      default:
        return std::uniform_real_distribution<double>(-1e6, 1e6)(rng_);
    }
  }
  int64_t RandomInt() {
    switch (Uniform(0, 4)) {
      case 0:
        return 0;
      case 1:
        return -1;
      case 2:
        return std::numeric_limits<int32_t>::max();
      default:
        return Uniform(-1000, 100000);
    }
  }

  void SetOne(pb::Message* m, const pb::Reflection* r, const pb::FieldDescriptor* f, int depth) {
    const bool rep = f->is_repeated();
    switch (f->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_MESSAGE:
        if (depth > 4) return;
        Fill(rep ? r->AddMessage(m, f) : r->MutableMessage(m, f), depth + 1);
        return;
      case pb::FieldDescriptor::CPPTYPE_DOUBLE:
        rep ? r->AddDouble(m, f, RandomDouble()) : r->SetDouble(m, f, RandomDouble());
        return;
      case pb::FieldDescriptor::CPPTYPE_FLOAT:
        rep ? r->AddFloat(m, f, RandomDouble()) : r->SetFloat(m, f, RandomDouble());
        return;
      case pb::FieldDescriptor::CPPTYPE_INT32:
        rep ? r->AddInt32(m, f, RandomInt()) : r->SetInt32(m, f, RandomInt());
        return;
      case pb::FieldDescriptor::CPPTYPE_INT64:
        rep ? r->AddInt64(m, f, RandomInt()) : r->SetInt64(m, f, RandomInt());
        return;
      case pb::FieldDescriptor::CPPTYPE_UINT32:
        rep ? r->AddUInt32(m, f, RandomInt()) : r->SetUInt32(m, f, RandomInt());
        return;
      case pb::FieldDescriptor::CPPTYPE_UINT64:
        rep ? r->AddUInt64(m, f, RandomInt()) : r->SetUInt64(m, f, RandomInt());
        return;
      case pb::FieldDescriptor::CPPTYPE_BOOL:
        rep ? r->AddBool(m, f, Uniform(0, 1)) : r->SetBool(m, f, Uniform(0, 1));
        return;
      case pb::FieldDescriptor::CPPTYPE_ENUM:
        rep ? r->AddEnumValue(m, f, Uniform(-1, 8)) : r->SetEnumValue(m, f, Uniform(-1, 8));
        return;
      case pb::FieldDescriptor::CPPTYPE_STRING:
        rep ? r->AddString(m, f, RandomString()) : r->SetString(m, f, RandomString());
        return;
    }
  }

  std::mt19937 rng_;
};

// One call with raw request bytes; a server-streaming method's responses
// are read and dropped. Any status is acceptable: only the server's
// survival matters here.
void Call(grpc::GenericStub& stub, const pb::MethodDescriptor* method, const std::string& bytes) {
  const std::string path = absl::StrCat("/", method->service()->full_name(), "/", method->name());
  grpc::ClientContext context;
  // Long polls and Watch streams end at the deadline.
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Milliseconds(300)));
  grpc::CompletionQueue cq;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, path, &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  call->Write(request, reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  call->WritesDone(reinterpret_cast<void*>(3));
  cq.Next(&tag, &ok);
  grpc::ByteBuffer response;
  for (int reads = 0; reads < 50; ++reads) {
    call->Read(&response, reinterpret_cast<void*>(4));
    cq.Next(&tag, &ok);
    if (!ok) break;
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

TEST(ApiFuzzTest, EveryRpcSurvivesRandomAndMutatedMessagesDuringARun) {
  const fs::path dir = testing_util::FreshDir("api-fuzz");
  std::string address;
  auto coordinator = testing_util::StartCoordinator(SMFG_COORDINATOR_BIN, dir, "coordinator.log",
                                                    {"--local_threads=1"}, &address);
  ASSERT_FALSE(address.empty()) << ReadAll((dir / "coordinator.log").string());
  const std::string spec = testing_util::WriteSmallSpec(dir, 3);
  absl::StatusOr<std::string> id = testing_util::Submit(testing_util::Plain(address), spec, "run");
  ASSERT_THAT(id, IsOk());
  ASSERT_EQ(*id, "exp-000001");

  std::vector<const pb::MethodDescriptor*> methods;
  // Through a message of each file, so that the file's descriptor is linked.
  for (const pb::ServiceDescriptor* s :
       {v1::SubmitRequest::descriptor()->file()->FindServiceByName("ExperimentService"),
        v1::RegisterRequest::descriptor()->file()->FindServiceByName("WorkerService")}) {
    ASSERT_NE(s, nullptr);
    for (int i = 0; i < s->method_count(); ++i) methods.push_back(s->method(i));
  }
  ASSERT_EQ(methods.size(), 11u);
  pb::DynamicMessageFactory factory(pb::DescriptorPool::generated_pool());
  grpc::GenericStub stub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  Mutator mutator(20261130);
  const auto send_some = [&](int n) {
    for (int k = 0; k < n; ++k) {
      const pb::MethodDescriptor* method = methods[k % methods.size()];
      const std::string bytes = mutator.Uniform(0, 2) == 0
                                    ? mutator.RandomBytes(512)
                                    : mutator.Mutated(method->input_type(), &factory);
      Call(stub, method, bytes);
    }
  };
  send_some(200);  // warm up: caches, thread pools, the store's pages
  const int64_t rss_before = RssKb(coordinator->pid());
  const absl::Time start = absl::Now();
  int sent = 200;
  while (sent < kMaxMessages && absl::Now() - start < kMaxFuzzTime) {
    send_some(100);
    sent += 100;
  }
  const int64_t rss_after = RssKb(coordinator->pid());
  std::printf("api fuzz: %d messages to %zu RPCs in %s; coordinator RSS %lld kB -> %lld kB\n", sent,
              methods.size(), absl::FormatDuration(absl::Now() - start).c_str(),
              static_cast<long long>(rss_before), static_cast<long long>(rss_after));
  EXPECT_GE(sent, 2000);
  EXPECT_LT(rss_after - rss_before, 64 * 1024) << "the coordinator's memory grew";
  EXPECT_EQ(testing_util::HealthCheck(address), "SERVING");

  std::string progress;
  ASSERT_THAT(testing_util::WatchToEnd(testing_util::Plain(address), *id, &progress), IsOk())
      << progress;
  ASSERT_THAT(testing_util::DownloadResults(testing_util::Plain(address), *id, dir / "remote"),
              IsOk());
  testing_util::TrainLocally(spec, dir / "local");
  EXPECT_EQ(ReadAll((dir / "remote" / "comparison.json").string()),
            ReadAll((dir / "local" / "comparison.json").string()));
  EXPECT_EQ(ReadAll((dir / "remote" / "learned_tariff.json").string()),
            ReadAll((dir / "local" / "learned_tariff.json").string()));
  const int status = coordinator->Stop(absl::Seconds(30));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace smfg
