// Process-wide allocator settings for the long-running binaries (smfg,
// smfg-train, smfg-worker, smfg-coordinator): call once at the start of main,
// before any thread starts.
//
// Why: every DC-OPF hour is solved from a fresh copy of the Clp model
// (dcopf.h), and Clp's factorisation allocates and frees its work areas on
// every solve. With glibc's defaults each free at the top of the heap hands the
// pages back to the kernel (brk) and the next solve faults them in again:
// about a tenth of `smfg evaluate`'s CPU time went to the kernel that way
// (docs/PERFORMANCE.md "End to end", docs/DECISIONS.md "Freed heap stays in the
// process"). The settings below keep freed memory for
// reuse instead:
//   - blocks below kMmapThresholdBytes come from the heap, not from mmap (so
//     freeing them does not unmap them);
//   - the top of a heap is returned to the kernel only when more than
//     kTrimThresholdBytes of it are free;
//   - the heap grows kTopPadBytes at a time.
// The cost is resident memory: up to kTrimThresholdBytes of free heap kept per
// malloc arena (one per thread that allocates, at most 8 per core).
// Numbers are unchanged by any of this: only where memory comes from.
#ifndef SMFG_COMMON_ALLOCATOR_H_
#define SMFG_COMMON_ALLOCATOR_H_

#include <cstddef>

namespace smfg {

inline constexpr size_t kMmapThresholdBytes = size_t{32} << 20;
inline constexpr size_t kTrimThresholdBytes = size_t{128} << 20;
inline constexpr size_t kTopPadBytes = size_t{16} << 20;

// Applies the settings above (glibc mallopt). Returns false if the C library
// refused one of them (or is not glibc); the process then runs with the
// library's defaults, which changes speed only.
bool RetainFreedHeapMemory();

}  // namespace smfg

#endif  // SMFG_COMMON_ALLOCATOR_H_
