// Transparent huge pages for large buffers that are filled once.
#ifndef ROUTER_INTERNAL_HUGE_PAGES_H_
#define ROUTER_INTERNAL_HUGE_PAGES_H_

#include <cstddef>

namespace router::internal {

// Asks the kernel to back the 2 MiB-aligned interior of [data, data + size)
// with transparent huge pages. Call it after allocating and before the first
// write: loading a router touches hundreds of megabytes of fresh memory, and
// with 4 KiB pages most of the load time is page faults (one per 4 KiB
// instead of one per 2 MiB). Only advice: a no-op for small buffers, when
// THP is off ("never"), or on systems without madvise(MADV_HUGEPAGE).
void AdviseHugePages(void* data, size_t size);

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_HUGE_PAGES_H_
