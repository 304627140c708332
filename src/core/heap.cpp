#include "core/heap.h"

#if defined(__GLIBC__)
#include <malloc.h>

#include <climits>
#endif

namespace adapterbias {

void keep_freed_activations_in_heap() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}

}  // namespace adapterbias
