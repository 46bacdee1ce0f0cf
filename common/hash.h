// 64-bit FNV-1a: a fast, stable, non-cryptographic hash for fingerprints and
// checksums that must agree across processes and builds (never for security).
#ifndef SMFG_COMMON_HASH_H_
#define SMFG_COMMON_HASH_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace smfg {

inline uint64_t Fnv1a64(absl::string_view bytes) {
  uint64_t hash = 14695981039346656037ull;  // offset basis
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;  // FNV prime
  }
  return hash;
}

}  // namespace smfg

#endif  // SMFG_COMMON_HASH_H_
