// File: router/synthetic.h
//
// A seeded generator of routing data where the right answer is known. Each
// topic has its own vocabulary; each model has a price and a per-topic
// probability of answering well. Cheap specialists beat the expensive
// generalist on their own topic, so a good router finds them, and the tests
// and the demo can check that it does. Prompts are words drawn from the
// topic's vocabulary mixed with shared filler words, so the text featurizer
// has to find the topic the way it would in real prompts.
#ifndef ROUTER_SYNTHETIC_H_
#define ROUTER_SYNTHETIC_H_

// Experimental tier (docs/architecture.md, "Two tiers"): test and demo data, not a routing API.
// Its API may change in any release. Define ROUTER_EXPERIMENTAL before
// including it to say you accept that.
#ifndef ROUTER_EXPERIMENTAL
#error "router/synthetic.h is experimental: define ROUTER_EXPERIMENTAL to use it"
#endif

#include <cstdint>
#include <string>
#include <vector>

#include "router/export.h"
#include "router/catalog.h"
#include "router/dataset.h"

namespace router {

struct SyntheticOptions {
  int64_t rows = 2000;
  uint64_t seed = 7;
  double test_fraction = 0.2;
  // Words per prompt, drawn uniformly in [min_words, max_words].
  int min_words = 8;
  int max_words = 24;
  // Share of prompt words drawn from the shared filler vocabulary.
  double filler_share = 0.4;
  // False: every cost is the list price of the prompt's tokens and a fixed
  // 200-token answer. True: costs are metered, as a provider bills them; the
  // answer's length depends on the topic and the model (median_output_tokens)
  // times a per-row log-normal factor of sd `output_noise_sd`.
  bool metered_output = false;
  double output_noise_sd = 0.3;
};

struct SyntheticData {
  Dataset dataset;  // text, scores, costs and splits; no vectors
  Catalog catalog;  // the models, with prices
  std::vector<std::string> topics;
  // Per row: index into `topics`.
  std::vector<int> topic_of_row;
  // Per topic: the model with the highest expected score (ties: cheaper), and
  // the cheapest model whose expected score is within 0.05 of that best.
  std::vector<std::string> best_model_of_topic;
  std::vector<std::string> best_value_model_of_topic;
  // Per topic and model (topics x models, row-major): the expected score.
  std::vector<double> expected_score;
  // Per topic and model (topics x models, row-major): the median answer
  // length in tokens (200 everywhere unless metered_output).
  std::vector<double> median_output_tokens;
};

ROUTER_EXPORT SyntheticData GenerateSynthetic(const SyntheticOptions& options = {});

// A new prompt of topic `topic` (an index into SyntheticData::topics), drawn
// with `seed`, from the same distribution as the generated rows.
ROUTER_EXPORT std::string SyntheticPrompt(int topic, uint64_t seed);

}  // namespace router

#endif  // ROUTER_SYNTHETIC_H_
