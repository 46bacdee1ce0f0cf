// A minimal work queue: runs fn(i) for i in [0, n) on `threads` threads. Items
// are claimed dynamically (atomic counter), so the order of execution varies;
// callers that need determinism write item i's result to slot i and reduce in
// index order afterwards (DESIGN §4).
#ifndef SMFG_COMMON_PARALLEL_H_
#define SMFG_COMMON_PARALLEL_H_

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>
#include <vector>

namespace smfg {

inline void ParallelFor(int n, int threads, const std::function<void(int)>& fn) {
  if (threads <= 1 || n <= 1) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<int> next{0};
  auto work = [&] {
    for (int i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::thread> pool;
  const int extra = std::min(threads, n) - 1;
  pool.reserve(extra);
  for (int t = 0; t < extra; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
}

// Threads to use when the user asked for `requested` (0 = all cores).
inline int ResolveThreads(int requested) {
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

}  // namespace smfg

#endif  // SMFG_COMMON_PARALLEL_H_
