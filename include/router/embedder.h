// File: router/embedder.h
//
// An Embedder turns prompt text into a query vector. The library ships one
// (TextFeaturizer, see text_featurizer.h); a host with a real embedding model
// implements this interface or passes vectors directly.
#ifndef ROUTER_EMBEDDER_H_
#define ROUTER_EMBEDDER_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "router/export.h"

namespace router {

class ROUTER_EXPORT Embedder {
 public:
  virtual ~Embedder() = default;

  // Dimension of the vectors Embed writes.
  virtual int dim() const = 0;

  // Writes the vector of `text` into `out`, which must have exactly dim()
  // elements. Thread-safe: may be called from many threads at once.
  virtual absl::Status Embed(std::string_view text, absl::Span<float> out) const = 0;
};

}  // namespace router

#endif  // ROUTER_EMBEDDER_H_
