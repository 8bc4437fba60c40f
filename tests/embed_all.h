// EmbedAll: gives a dataset the vectors of its prompts under a fitted
// featurizer: the step every test that fits a router on generated text
// takes.
#ifndef ROUTER_TESTS_EMBED_ALL_H_
#define ROUTER_TESTS_EMBED_ALL_H_

#include <cstddef>
#include <cstdint>

#include <catch2/catch.hpp>

#include "router/dataset.h"
#include "router/text_featurizer.h"

namespace router::testing {

inline void EmbedAll(const TextFeaturizer& featurizer, Dataset* data) {
  data->dim = featurizer.dim();
  data->vectors.assign(static_cast<size_t>(data->rows()) * data->dim, 0.0f);
  for (int64_t r = 0; r < data->rows(); ++r) {
    REQUIRE(featurizer
                .Embed(data->prompts[r],
                       absl::MakeSpan(data->vectors.data() + r * data->dim, data->dim))
                .ok());
  }
}

}  // namespace router::testing

#endif  // ROUTER_TESTS_EMBED_ALL_H_
