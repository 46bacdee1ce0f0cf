#include "common/files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

std::string TempPath(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/files_test";
  std::filesystem::create_directories(dir);
  return dir + "/" + name;
}

TEST(ReadFileTest, ReadsARegularFileWhole) {
  const std::string path = TempPath("plain.txt");
  std::string content(200000, 'x');
  content[7] = '\0';
  std::ofstream(path, std::ios::binary) << content;
  const absl::StatusOr<std::string> read = ReadFile(path, 1 << 20);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(*read, content);
}

TEST(ReadFileTest, RefusesFilesLargerThanTheBoundWithoutEchoingThem) {
  const std::string path = TempPath("big.txt");
  std::ofstream(path, std::ios::binary) << "secret-token-" << std::string(100, 'y');
  EXPECT_THAT(ReadFile(path, 100),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("larger than 100 bytes"), Not(HasSubstr("secret")))));
  EXPECT_THAT(ReadFile(path, 113), IsOk());
}

TEST(ReadFileTest, RefusesDevicesFifosAndDirectoriesAtOnce) {
  EXPECT_THAT(ReadFile("/dev/zero", 1 << 20),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("character device")));
  const std::string fifo = TempPath("fifo");
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Would block forever if opened for a blocking read without a writer.
  EXPECT_THAT(ReadFile(fifo, 1 << 20),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("a FIFO")));
  EXPECT_THAT(ReadFile(::testing::TempDir(), 1 << 20),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("a directory")));
}

TEST(ReadFileTest, MissingFileIsNotFoundNamingThePath) {
  EXPECT_THAT(ReadFile("/nonexistent/dir/x.textproto", 10),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/dir/x.textproto")));
}

TEST(WriteFileAtomicallyTest, ReplacesTheContentAndLeavesNoTemporaryFile) {
  const std::string dir = TempPath("atomic");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/out.bin";
  ASSERT_THAT(WriteFileAtomically(path, "first"), IsOk());
  ASSERT_THAT(WriteFileAtomically(path, std::string("sec\0nd", 6)), IsOk());
  EXPECT_EQ(*ReadFile(path, 100), std::string("sec\0nd", 6));
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    ++entries;
    EXPECT_EQ(e.path().filename(), "out.bin");
  }
  EXPECT_EQ(entries, 1);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST(WriteFileAtomicallyTest, FailureLeavesTheOldContent) {
  const std::string path = TempPath("missing-dir/out.bin");
  EXPECT_THAT(WriteFileAtomically(path, "x"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("missing-dir/out.bin")));
  const std::string dir = TempPath("readonly");
  std::filesystem::create_directories(dir);
  const std::string kept = dir + "/kept.txt";
  ASSERT_THAT(WriteFileAtomically(kept, "old"), IsOk());
  if (::geteuid() != 0) {  // root ignores directory permissions
    ::chmod(dir.c_str(), 0500);
    EXPECT_THAT(WriteFileAtomically(kept, "new"), StatusIs(absl::StatusCode::kUnavailable));
    ::chmod(dir.c_str(), 0700);
  }
  EXPECT_EQ(*ReadFile(kept, 100), "old");
}

TEST(ValidateRelativePathTest, AcceptsPlainRelativePaths) {
  for (const char* ok :
       {"comparison.json", "plots/convergence.svg", "learned/lmp_by_bus.csv", "a-b_c.d/e"}) {
    EXPECT_THAT(ValidateRelativePath(ok), IsOk()) << ok;
  }
}

TEST(ValidateRelativePathTest, RefusesEverythingThatCouldEscapeOrHide) {
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../../x", "a//b", "a/", ".hidden", "a/.b",
                          "a\\b", "a b", "x\n", "é"}) {
    EXPECT_THAT(ValidateRelativePath(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
  EXPECT_THAT(ValidateRelativePath(std::string(501, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1 to 500")));
}

}  // namespace
}  // namespace smfg
