// RetainFreedHeapMemory: a block below the mmap threshold comes from the heap
// (not mmap), and freeing it leaves it there for the next allocation instead
// of trimming the heap back. Runs in its own process (its own ctest entry), so
// the settings cannot leak into other tests.
#include "common/allocator.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

#include "gtest/gtest.h"

namespace smfg {
namespace {

TEST(AllocatorTest, FreedBlocksStayInTheHeap) {
  ASSERT_TRUE(RetainFreedHeapMemory());
  constexpr size_t kBlock = size_t{8} << 20;  // above glibc's default 128 KiB mmap threshold
  static_assert(kBlock < kMmapThresholdBytes);
  const struct mallinfo2 before = mallinfo2();
  char* p = static_cast<char*>(std::malloc(kBlock));
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, kBlock);
  const struct mallinfo2 held = mallinfo2();
  // From the heap (arena grew), not a separate mapping.
  EXPECT_EQ(held.hblkhd, before.hblkhd);
  EXPECT_GE(held.arena, before.arena + kBlock);
  std::free(p);
  const struct mallinfo2 after = mallinfo2();
  // Not trimmed: the heap keeps the block's pages, free for reuse.
  EXPECT_GE(after.arena, before.arena + kBlock);
  EXPECT_GE(after.fordblks, kBlock);
}

}  // namespace
}  // namespace smfg
