#include "router/synthetic.h"

#include <algorithm>
#include <cmath>

#include "fmt/format.h"
#include "internal/random.h"
#include "router/query.h"

namespace router {
namespace {

using Rng = internal::SplitMix64;

struct Topic {
  const char* name;
  std::vector<const char*> words;
};

const std::vector<Topic>& Topics() {
  static const std::vector<Topic> topics = {
      {"code",
       {"python", "function", "compile", "bug", "stack", "trace", "segfault", "pointer",
        "refactor", "unittest", "recursion", "array", "compiler", "lambda", "regex",
        "api", "json", "thread", "mutex", "git", "debugger", "variable", "loop", "class"}},
      {"math",
       {"integral", "derivative", "prove", "theorem", "equation", "polynomial", "matrix",
        "eigenvalue", "prime", "lemma", "geometry", "triangle", "probability", "sum",
        "series", "limit", "algebra", "solve", "fraction", "integer", "vector", "angle",
        "logarithm", "inequality"}},
      {"history",
       {"empire", "dynasty", "revolution", "treaty", "medieval", "roman", "war", "king",
        "queen", "century", "colonial", "ancient", "battle", "monarchy", "pharaoh",
        "renaissance", "crusade", "senate", "republic", "archive", "chronicle",
        "napoleon", "byzantine", "feudal"}},
      {"medicine",
       {"symptom", "diagnosis", "dosage", "patient", "chronic", "infection", "vaccine",
        "antibiotic", "cardiac", "therapy", "clinical", "tumor", "insulin", "fever",
        "allergy", "surgery", "prescription", "blood", "pressure", "immune", "virus",
        "nausea", "migraine", "anatomy"}},
      {"law",
       {"contract", "liability", "plaintiff", "defendant", "statute", "court", "appeal",
        "tort", "clause", "jurisdiction", "lawsuit", "verdict", "attorney", "copyright",
        "trademark", "negligence", "tenant", "landlord", "regulation", "compliance",
        "arbitration", "testimony", "patent", "custody"}},
      {"cooking",
       {"recipe", "bake", "oven", "flour", "sauce", "simmer", "garlic", "onion", "butter",
        "dough", "roast", "spice", "pasta", "knead", "marinade", "skillet", "broth",
        "dessert", "vegetarian", "grill", "yeast", "whisk", "caramel", "saute"}},
  };
  return topics;
}

const std::vector<const char*>& FillerWords() {
  static const std::vector<const char*> words = {
      "please", "explain", "how", "what", "why", "the", "a", "of", "to", "in", "is",
      "can", "you", "me", "help", "with", "this", "my", "about", "and", "for", "should",
      "i", "it", "does", "work", "give", "example", "short", "answer", "detail", "best"};
  return words;
}

struct ModelSpec {
  const char* name;
  double input_usd_per_mtok;
  double output_usd_per_mtok;
  std::vector<const char*> tags;
  // Probability of a good answer per topic, in Topics() order:
  //   code, math, history, medicine, law, cooking
  double skill[6];
};

// Cheap specialists beat the expensive generalist on their own topics; the
// generalist is the best single model overall.
const std::vector<ModelSpec>& Models() {
  static const std::vector<ModelSpec> models = {
      {"small-coder", 0.15, 0.60, {"small", "code"}, {0.92, 0.45, 0.30, 0.30, 0.30, 0.35}},
      {"small-math", 0.15, 0.60, {"small", "math"}, {0.40, 0.92, 0.30, 0.30, 0.30, 0.35}},
      {"mid-writer", 0.50, 1.50, {"mid"}, {0.35, 0.30, 0.90, 0.55, 0.60, 0.88}},
      {"large-generalist", 3.00, 15.00, {"large"}, {0.75, 0.72, 0.76, 0.90, 0.90, 0.74}},
      {"tiny", 0.05, 0.10, {"small"}, {0.20, 0.15, 0.25, 0.20, 0.20, 0.60}},
  };
  return models;
}

constexpr double kExpectedOutputTokens = 200.0;

// With metered costs: a topic's typical answer length (Topics() order) times
// a model's verbosity (Models() order).
constexpr double kTopicOutputTokens[6] = {420.0, 300.0, 240.0, 180.0, 360.0, 120.0};
constexpr double kModelVerbosity[5] = {1.0, 0.8, 1.5, 1.2, 0.5};

// A standard normal draw (Box-Muller).
double Normal(Rng& rng) {
  const double u = 1.0 - rng.Uniform();  // in (0, 1]
  return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * rng.Uniform());
}

std::string MakePrompt(int topic, const SyntheticOptions& options, Rng& rng) {
  const std::vector<Topic>& topics = Topics();
  const int span = std::max(0, options.max_words - options.min_words);
  const int words = options.min_words + rng.Below(span + 1);
  std::string prompt;
  for (int i = 0; i < words; ++i) {
    const char* word;
    const double u = rng.Uniform();
    if (u < options.filler_share) {
      word = FillerWords()[rng.Below(static_cast<int>(FillerWords().size()))];
    } else if (u < options.filler_share + 0.05) {
      // An occasional word from another topic, as real prompts have.
      const Topic& other = topics[rng.Below(static_cast<int>(topics.size()))];
      word = other.words[rng.Below(static_cast<int>(other.words.size()))];
    } else {
      const Topic& own = topics[topic];
      word = own.words[rng.Below(static_cast<int>(own.words.size()))];
    }
    if (!prompt.empty()) prompt += ' ';
    prompt += word;
  }
  if (!prompt.empty()) prompt[0] = static_cast<char>(prompt[0] - 'a' + 'A');
  prompt += '?';
  return prompt;
}

}  // namespace

SyntheticData GenerateSynthetic(const SyntheticOptions& options) {
  const std::vector<Topic>& topics = Topics();
  const std::vector<ModelSpec>& models = Models();
  const int num_topics = static_cast<int>(topics.size());
  const int num_models = static_cast<int>(models.size());

  SyntheticData out;
  for (const Topic& topic : topics) out.topics.push_back(topic.name);
  for (const ModelSpec& spec : models) {
    Profile profile;
    profile.name = spec.name;
    profile.input_usd_per_mtok = spec.input_usd_per_mtok;
    profile.output_usd_per_mtok = spec.output_usd_per_mtok;
    profile.expected_output_tokens = kExpectedOutputTokens;
    for (const char* tag : spec.tags) profile.tags.push_back(tag);
    out.catalog.Add(std::move(profile)).IgnoreError();  // names are unique
    out.dataset.model_names.push_back(spec.name);
  }
  out.expected_score.resize(static_cast<size_t>(num_topics) * num_models);
  for (int t = 0; t < num_topics; ++t) {
    int best = 0;
    for (int m = 0; m < num_models; ++m) {
      out.expected_score[t * num_models + m] = models[m].skill[t];
      if (models[m].skill[t] > models[best].skill[t]) best = m;
    }
    int value = best;
    for (int m = 0; m < num_models; ++m) {
      if (models[m].skill[t] >= models[best].skill[t] - 0.05 &&
          models[m].output_usd_per_mtok < models[value].output_usd_per_mtok) {
        value = m;
      }
    }
    for (int m = 0; m < num_models; ++m) {
      out.median_output_tokens.push_back(options.metered_output
                                             ? kTopicOutputTokens[t] * kModelVerbosity[m]
                                             : kExpectedOutputTokens);
    }
    out.best_model_of_topic.push_back(models[best].name);
    out.best_value_model_of_topic.push_back(models[value].name);
  }

  Rng rng(options.seed);
  Dataset& data = out.dataset;
  const int64_t rows = std::max<int64_t>(options.rows, 0);
  data.scores.reserve(rows * num_models);
  data.costs.reserve(rows * num_models);
  for (int64_t r = 0; r < rows; ++r) {
    const int topic = static_cast<int>(r % num_topics);
    std::string prompt = MakePrompt(topic, options, rng);
    const int64_t input_tokens = EstimateInputTokens(prompt);
    data.ids.push_back(fmt::format("syn-{}", r));
    data.sources.push_back(topics[topic].name);
    data.splits.push_back(rng.Uniform() < options.test_fraction ? Split::kTest
                                                                : Split::kTrain);
    data.prompts.push_back(std::move(prompt));
    out.topic_of_row.push_back(topic);
    for (int m = 0; m < num_models; ++m) {
      data.scores.push_back(rng.Uniform() < models[m].skill[topic] ? 1.0 : 0.0);
      if (!options.metered_output) {
        data.costs.push_back(out.catalog.at(m).ExpectedCostUsd(input_tokens));
        continue;
      }
      const double output_tokens =
          std::round(out.median_output_tokens[topic * num_models + m] *
                     std::exp(options.output_noise_sd * Normal(rng)));
      const Profile& profile = out.catalog.at(m);
      data.costs.push_back((static_cast<double>(input_tokens) * profile.input_usd_per_mtok +
                            output_tokens * profile.output_usd_per_mtok) *
                           1e-6);
    }
  }
  return out;
}

std::string SyntheticPrompt(int topic, uint64_t seed) {
  Rng rng(seed ^ 0x5EED5EED5EEDull);
  const int num_topics = static_cast<int>(Topics().size());
  return MakePrompt(((topic % num_topics) + num_topics) % num_topics, SyntheticOptions{},
                    rng);
}

}  // namespace router
