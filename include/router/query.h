// File: router/query.h
//
// A Query is one request to route: its vector (already embedded) and, when
// known, its text and its prompt length in tokens. A Query is a view: it does
// not own the vector or the text, which must outlive the call it is passed to.
#ifndef ROUTER_QUERY_H_
#define ROUTER_QUERY_H_

#include <cstdint>
#include <string_view>

#include "absl/types/span.h"
#include "router/request_overrides.h"

namespace router {

struct Query {
  // The query vector, dimension Router::dim(). Need not be normalised: routers
  // that search by cosine similarity normalise a private copy.
  absl::Span<const float> vector;
  // The prompt text, if available (used for the trace and by featurizers).
  std::string_view text;
  // Prompt length in tokens; when 0, EstimateInputTokens(text) is used.
  int64_t input_tokens = 0;
  // This request's own policy parameters, or null for the policy's. Viewed,
  // not owned, like the vector.
  const RequestOverrides* overrides = nullptr;
};

// A cheap, deterministic token estimate: one token per four bytes of text,
// rounded up, at least one. Used when the host does not pass a token count.
inline int64_t EstimateInputTokens(std::string_view text) {
  return text.empty() ? 1 : static_cast<int64_t>((text.size() + 3) / 4);
}

// The task the request named (RequestOverrides::task), or empty.
inline std::string_view QueryTask(const Query& query) {
  return query.overrides != nullptr ? std::string_view(query.overrides->task) : std::string_view();
}

// The token count a Query stands for.
inline int64_t InputTokens(const Query& query) {
  return query.input_tokens > 0 ? query.input_tokens
                                : EstimateInputTokens(query.text);
}

}  // namespace router

#endif  // ROUTER_QUERY_H_
