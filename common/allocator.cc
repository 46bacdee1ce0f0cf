#include "common/allocator.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace smfg {

bool RetainFreedHeapMemory() {
#if defined(__GLIBC__)
  // mallopt returns 1 on success, 0 on error.
  return mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThresholdBytes)) == 1 &&
         mallopt(M_TRIM_THRESHOLD, static_cast<int>(kTrimThresholdBytes)) == 1 &&
         mallopt(M_TOP_PAD, static_cast<int>(kTopPadBytes)) == 1;
#else
  return false;
#endif
}

}  // namespace smfg
