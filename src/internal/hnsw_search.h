// One query's search of a FAISS HNSW graph over inner products, with the
// library's SIMD kernel for distances and per-thread scratch, so that a warm
// route allocates nothing. FAISS's IndexHNSW::search (1.7.3) builds a
// visited table of one byte per row, a distance computer and its heaps on
// every call, and computes each distance with a scalar loop in Debian's
// build (docs/performance.md).
//
// The walk is FAISS's: greedy descent through the upper levels from the
// entry point, then a bounded beam search on level 0 (efSearch candidates,
// FAISS's MinimaxHeap, its relative-distance stopping rule and its result
// heap). Only the distances differ, in their last bits (the kernel's sums
// run in another order and use fused multiply-adds where the CPU has them),
// so near-ties may order differently; knn_router_test compares the two.
#ifndef ROUTER_INTERNAL_HNSW_SEARCH_H_
#define ROUTER_INTERNAL_HNSW_SEARCH_H_

#include <cstdint>
#include <string_view>

#include <faiss/IndexHNSW.h>

namespace router::internal {

// Whether HnswSearch can search `index`: inner products, searched the
// default way (upper_beam 1, bounded queue), over rows stored as floats
// (IndexHNSWFlat), halves (IndexHNSWSQ, QT_fp16) or 8-bit codes with a range
// per dimension (IndexHNSWSQ, QT_8bit). Other indexes go through FAISS's own
// search.
bool HnswSearchSupports(const faiss::IndexHNSW& index);

// Whether a loaded `index` is safe to search: its graph's tables agree in
// size, every neighbour is a row (or -1) that reaches the level it is listed
// at, the entry point is a row of the top level; and every stored value
// HnswSearch reads is finite (for 8-bit codes, every dimension's range: the
// kernels do not check, simd.h). FAISS's reader checks none of the graph,
// and its search would read out of bounds as the library's walk would.
// False with `problem` saying what is wrong.
bool HnswIndexSound(const faiss::IndexHNSW& index, const char** problem);

// Whether `blob` is what FAISS 1.7.3's write_index makes of an index the
// library saves: an inner-product IndexHNSWFlat, or an IndexHNSWSQ over fp16
// or 8-bit rows (with their ranges), of `rows` rows of `dim`, and nothing
// after it. FAISS's reader sizes each table by the count stored before it
// (up to 2^40 entries, zero-filled before it reads them) and reads a nested
// index of any kind, recursively. So a damaged or hostile blob could make it
// allocate terabytes, or overflow the stack, before any check of ours ran.
// This walks the blob first and holds every count to the bytes that follow
// it. False with `problem` saying what is wrong.
bool HnswBlobShaped(std::string_view blob, int dim, int64_t rows, const char** problem);

// The k nearest rows of `index` to `query` (index.d floats, normalised like
// the rows), nearest first: similarities[i] is the inner product of row
// labels[i] (for compressed rows, with the row as its codes decode). Fewer
// than k found: the rest have label -1. Needs HnswSearchSupports(index).
// Thread-safe (the scratch is per thread).
void HnswSearch(const faiss::IndexHNSW& index, const float* query, int k,
                float* similarities, int64_t* labels);

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_HNSW_SEARCH_H_
