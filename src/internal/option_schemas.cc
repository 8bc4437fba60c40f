// Each options struct's fields, declared once: key, member, allowed range,
// one line of doc. Defaults live in the structs themselves.
#include "internal/option_schemas.h"

#include <cstdint>
#include <limits>

#include "internal/byte_stream.h"
#include "internal/options_schema.h"

namespace router::internal {

const OptionsSchema<KnnOptions>& KnnOptionsSchema() {
  using O = KnnOptions;
  static const auto& schema =
      (new OptionsSchema<O>("knn"))
          ->Integer("k", &O::k, Range::AtLeast(1),
                    "Neighbours per query (capped at the reference set size).")
          .Enum<O::Weighting>("weighting", &O::weighting,
                              {{"uniform", O::Weighting::kUniform},
                               {"similarity", O::Weighting::kSimilarity}},
                              "Neighbour weights: cosine similarity (floored at 1e-6) or equal.")
          .Integer("hnsw_threshold", &O::hnsw_threshold, Range::AtLeast(0),
                   "Reference sets larger than this use an HNSW index instead of exact search.")
          .Integer("hnsw_m", &O::hnsw_m, Range::AtLeast(2), "HNSW graph degree M.")
          .Integer("hnsw_ef_construction", &O::hnsw_ef_construction, Range::AtLeast(1),
                   "HNSW beam width while building.")
          .Integer("hnsw_ef_search", &O::hnsw_ef_search, Range::AtLeast(1),
                   "HNSW beam width while searching (raised to k if smaller).")
          .Enum<O::HnswStorage>("hnsw_storage", &O::hnsw_storage,
                                {{"float", O::HnswStorage::kFloat},
                                 {"fp16", O::HnswStorage::kHalf},
                                 {"sq8", O::HnswStorage::kBytes}},
                                "HNSW row storage: float (4 bytes per dimension), fp16 (2) or "
                                "sq8 (1, 8-bit codes over each dimension's range).")
          .Integer("batch_threads", &O::batch_threads, Range::Closed(0, 1024),
                   "Threads sharing one batch of queries on an HNSW index; 0 = OpenMP's setting. "
                   "Exact batches use BLAS's threads.");
  return schema;
}

const OptionsSchema<ClusterOptions>& ClusterOptionsSchema() {
  using O = ClusterOptions;
  static const auto& schema =
      (new OptionsSchema<O>("cluster"))
          ->Integer("num_clusters", &O::num_clusters, Range::AtLeast(0),
                    "K for k-means; 0 = chosen from the number of rows (AutoNumClusters).")
          .Enum<O::Assignment>("assignment", &O::assignment,
                               {{"auto", O::Assignment::kAuto},
                                {"centroids", O::Assignment::kCentroids},
                                {"sources", O::Assignment::kSources}},
                               "Clusters from k-means weighted by centroid similarity, or one per "
                               "training source weighted by a learned classifier of the source; "
                               "auto: sources when 2 to 256 have 10 or more rows.")
          .Boolean("split_by_source", &O::split_by_source,
                   "Split each k-means cluster holding 10 or more training rows of each of "
                   "two or more sources into one cluster per such source.")
          .Number("classifier_l2", &O::classifier_l2, Range::AtLeast(0),
                  "L2 strength of the source classifier, per training row.")
          .Integer("nearest_clusters", &O::nearest_clusters, Range::AtLeast(1),
                   "Clusters a query mixes (more than K means all K).")
          .Number("temperature", &O::temperature, Range::Above(0),
                  "Softmax temperature over the query's cosine similarities to the centroids.")
          .Number("prior_strength", &O::prior_strength, Range::AtLeast(0),
                  "Shrinkage towards the model's global mean, in pseudo-observations.")
          .Integer("kmeans_iterations", &O::kmeans_iterations, Range::AtLeast(1),
                   "Lloyd iterations of k-means.")
          .Integer("kmeans_restarts", &O::kmeans_restarts, Range::AtLeast(1),
                   "k-means restarts; the best is kept.")
          .Integer("seed", &O::seed, Range::Any(), "Seed of the k-means initialisation.")
          .Integer("kmeans_threads", &O::kmeans_threads, Range::AtLeast(0),
                   "OpenMP threads for k-means during Fit; 0 = the caller's OpenMP setting.");
  return schema;
}

const OptionsSchema<MfOptions>& MfOptionsSchema() {
  using O = MfOptions;
  static const auto& schema =
      (new OptionsSchema<O>("mf"))
          ->Integer("hidden_dim", &O::hidden_dim, Range::Closed(1, 4096), "Latent size h.")
          .Integer("epochs", &O::epochs, Range::AtLeast(1), "Maximum passes over the rows.")
          .Integer("batch_size", &O::batch_size, Range::AtLeast(1), "Rows per mini-batch.")
          .Number("learning_rate", &O::learning_rate, Range::Above(0), "Adam step size.")
          .Number("l2", &O::l2, Range::AtLeast(0), "L2 strength on W, w and each v_m.")
          .Number("validation_fraction", &O::validation_fraction, Range::Closed(0, 0.9),
                  "Share of rows held out for early stopping; 0 trains every epoch.")
          .Integer("patience", &O::patience, Range::AtLeast(1),
                   "Epochs without a lower validation loss before training stops.")
          .Integer("seed", &O::seed, Range::Any(), "Seed of initialisation and shuffling.")
          .Enum<O::Loss>("loss", &O::loss,
                         {{"pointwise", O::Loss::kPointwise}, {"pairwise", O::Loss::kPairwise}},
                         "Logistic loss on scores, or on pairwise preferences.")
          .Integer("num_threads", &O::num_threads, Range::Closed(1, 256), "Training threads.")
          .Number("onboard_l2", &O::onboard_l2, Range::Above(0),
                  "Ridge strength of an onboarded model towards the trained models' mean.");
  return schema;
}

const OptionsSchema<LinUcbOptions>& LinUcbOptionsSchema() {
  using O = LinUcbOptions;
  static const auto& schema =
      (new OptionsSchema<O>("linucb"))
          ->Integer("context_dim", &O::context_dim, Range::Closed(1, 1024),
                    "Principal components kept (lowered to the data's dimension and rank).")
          .Number("alpha", &O::alpha, Range::AtLeast(0),
                  "Width of the UCB bonus reported as uncertainty; 0 = pure exploitation.")
          .Number("ridge", &O::ridge, Range::Above(0), "Each arm's A starts at ridge * I.")
          .Number("prior_quality", &O::prior_quality, Range::Closed(0, 1),
                  "Quality an arm predicts before it has data.")
          .Integer("seed", &O::seed, Range::Any(), "Seed of the randomized PCA and k-means.")
          .Boolean("warm_start", &O::warm_start,
                   "Fit replays the labelled rows into the arms (false: arms start at the prior).")
          .Integer("reinvert_every", &O::reinvert_every, Range::AtLeast(1),
                   "Updates after which an arm's A^-1 is recomputed from A.")
          .Boolean("whiten", &O::whiten, "Scale each principal component to unit variance.")
          .Integer("clusters", &O::clusters, Range::Closed(0, 1024),
                   "k-means clusters whose one-hot joins the context; 0 = none.");
  return schema;
}

const OptionsSchema<StackedOptions>& StackedOptionsSchema() {
  using O = StackedOptions;
  static const auto& schema =
      (new OptionsSchema<O>("stacked"))
          ->Strings("bases", &O::bases,
                    "Base router kinds whose estimates are combined; each takes its own block.")
          .Integer("folds", &O::folds, Range::Closed(2, 100),
                   "Folds of the out-of-fold predictions the weights are fitted on.")
          .Rule([](const O& o) -> std::string {
            if (o.bases.empty()) return "bases must name at least one router kind";
            for (size_t i = 0; i < o.bases.size(); ++i) {
              if (o.bases[i] == O::kKind) return "bases must not include \"stacked\"";
              for (size_t j = 0; j < i; ++j) {
                if (o.bases[j] == o.bases[i]) {
                  return fmt::format("bases names \"{}\" twice", o.bases[i]);
                }
              }
            }
            return "";
          });
  return schema;
}

const OptionsSchema<TextFeaturizerOptions>& TextFeaturizerOptionsSchema() {
  using O = TextFeaturizerOptions;
  static const auto& schema =
      (new OptionsSchema<O>("featurizer"))
          ->Integer("word_buckets", &O::word_buckets, Range::Closed(1, 1 << 30),
                    "Hashing buckets for word 1-2-grams.")
          .Integer("char_buckets", &O::char_buckets, Range::Closed(1, 1 << 30),
                   "Hashing buckets for character n-grams.")
          .Integer("min_char_ngram", &O::min_char_ngram, Range::AtLeast(1),
                   "Shortest character n-gram (<= max_char_ngram).")
          .Integer("max_char_ngram", &O::max_char_ngram, Range::AtLeast(1),
                   "Longest character n-gram.")
          .Integer("dim", &O::dim, Range::AtLeast(1),
                   "Dimension of the learned projection (lowered to the corpus's rank).")
          .Integer("seed", &O::seed, Range::Any(), "Seed of the randomized SVD.")
          .Integer("power_iterations", &O::power_iterations, Range::AtLeast(0),
                   "Power iterations of the randomized SVD.")
          .Integer("max_text_bytes", &O::max_text_bytes, Range::AtLeast(0),
                   "Longest prompt Embed accepts, in bytes.")
          .Rule([](const O& o) -> std::string {
            if (o.min_char_ngram > o.max_char_ngram) {
              return fmt::format("min_char_ngram ({}) must be <= max_char_ngram ({})",
                                 o.min_char_ngram, o.max_char_ngram);
            }
            if (int64_t{o.word_buckets} + o.char_buckets > std::numeric_limits<int32_t>::max()) {
              return "word_buckets + char_buckets must be < 2^31";
            }
            return "";
          });
  return schema;
}

const OptionsSchema<Limits>& LimitsSchema() {
  static const auto& schema =
      (new OptionsSchema<Limits>("limits"))
          ->Integer("max_prompt_bytes", &Limits::max_prompt_bytes, Range::AtLeast(1),
                    "Longest prompt routed or embedded, in bytes.")
          .Integer("max_batch_size", &Limits::max_batch_size, Range::AtLeast(1),
                   "Most queries in one batch call.")
          .Integer("max_models", &Limits::max_models, Range::AtLeast(1),
                   "Most models a fit or an onboarding may reach.")
          .Integer("max_section_bytes", &Limits::max_section_bytes, Range::AtLeast(1),
                   "Largest section of a saved file this config's host loads.");
  return schema;
}

const OptionsSchema<CalibrationConfig>& CalibrationConfigSchema() {
  static const auto& schema =
      (new OptionsSchema<CalibrationConfig>("calibration"))
          ->Choice("method", &CalibrationConfig::method, {"none", "isotonic", "platt"},
                   "none; isotonic: any monotone map (needs many rows); platt: a sigmoid of "
                   "the prediction's logit (two parameters per model).")
          .Integer("folds", &CalibrationConfig::folds, Range::Closed(2, 100),
                   "Cross-fitting folds by prompt; fitting costs this many extra router fits.");
  return schema;
}

const OptionsSchema<Constraints>& ConstraintsSchema() {
  using O = Constraints;
  static const auto& schema =
      (new OptionsSchema<O>("policy.constraints"))
          ->Strings("allowed_models", &O::allowed_models,
                    "When non-empty, only these models may be chosen.")
          .Strings("denied_models", &O::denied_models, "These models are never chosen.")
          .Strings("allowed_tags", &O::allowed_tags,
                   "When non-empty, a model must carry one of these tags.")
          .Strings("denied_tags", &O::denied_tags,
                   "A model carrying any of these tags is never chosen.")
          .Number("max_latency_ms", &O::max_latency_ms, Range::AtLeast(0),
                  "Models with a higher p50 latency are excluded; 0 = no ceiling.")
          .Boolean("enforce_context_window", &O::enforce_context_window,
                   "Exclude a model whose context window < input + expected output tokens.");
  return schema;
}

const OptionsSchema<Profile>& ProfileSchema() {
  using O = Profile;
  static const auto& schema =
      (new OptionsSchema<O>("models[]"))
          ->String("name", &O::name, "The model's stable name (required).")
          .Number("input_usd_per_mtok", &O::input_usd_per_mtok, Range::AtLeast(0),
                  "Price per million input tokens, USD.")
          .Number("output_usd_per_mtok", &O::output_usd_per_mtok, Range::AtLeast(0),
                  "Price per million output tokens, USD.")
          .Number("expected_output_tokens", &O::expected_output_tokens, Range::AtLeast(0),
                  "Typical completion length, for the price-based cost.")
          .Number("p50_latency_ms", &O::p50_latency_ms, Range::AtLeast(0),
                  "Median latency, ms; 0 = unknown.")
          .Integer("context_window", &O::context_window, Range::AtLeast(0),
                   "Input + output tokens the model takes; 0 = unlimited.")
          .Strings("tags", &O::tags, "Labels that constraints allow or deny.")
          .Boolean("available", &O::available, "False keeps every policy off the model.");
  return schema;
}

const OptionsSchema<PacingState>& PacingStateSchema() {
  using O = PacingState;
  static const auto& schema =
      (new OptionsSchema<O>("policy.pacing_state"))
          ->Number("multiplier", &O::multiplier, Range::AtLeast(0),
                   "The dual multiplier mu (lambda = mu / target_cost_usd).")
          .Number("spend_usd", &O::spend_usd, Range::Any(), "Spend counted so far, USD.")
          .Integer("requests", &O::requests, Range::AtLeast(0), "Decisions counted so far.");
  return schema;
}

const OptionsSchema<MaxUtilityOptions>& MaxUtilityOptionsSchema() {
  using O = MaxUtilityOptions;
  static const auto& schema = (new OptionsSchema<O>("policy"))
      ->Number("lambda", &O::lambda, Range::AtLeast(0),
               "Quality per USD per request; 0 picks the best quality.");
  return schema;
}

const OptionsSchema<QualityFloorOptions>& QualityFloorOptionsSchema() {
  using O = QualityFloorOptions;
  static const auto& schema = (new OptionsSchema<O>("policy"))
      ->Number("tau", &O::tau, Range::Closed(0, 1),
               "The cheapest model predicted at or above tau wins.");
  return schema;
}

const OptionsSchema<BudgetPacingOptions>& BudgetPacingOptionsSchema() {
  using O = BudgetPacingOptions;
  static const auto& schema =
      (new OptionsSchema<O>("policy"))
          ->Number("target_cost_usd", &O::target_cost_usd, Range::AtLeast(0),
                   "The average cost per request to hold (> 0).")
          .Number("pacing_step", &O::step, Range::LeftOpen(0, 10),
                  "Dual step per request, in units of the target.")
          .Number("max_multiplier", &O::max_multiplier, Range::Above(0),
                  "Upper bound of the dual multiplier mu.")
          .Object("pacing_state", &O::initial, PacingStateSchema(),
                  "The pacing state to start from (saves write the live state).");
  return schema;
}

const OptionsSchema<ThresholdOptions>& ThresholdOptionsSchema() {
  using O = ThresholdOptions;
  static const auto& schema =
      (new OptionsSchema<O>("policy"))
          ->String("strong", &O::strong, "The strong model.")
          .String("weak", &O::weak, "The weak model.")
          .Number("threshold", &O::threshold, Range::Closed(-1, 1),
                  "Strong when q_strong - q_weak exceeds it (saves write the live one).")
          .Number("strong_share", &O::strong_share, Range{.max = 1},
                  "Share of strong decisions to hold online; < 0 keeps the threshold fixed.")
          .Number("share_step", &O::share_step, Range::LeftOpen(0, 1),
                  "Step of the share control.");
  return schema;
}

absl::Status CheckRanges(const KnnOptions& options) {
  return KnnOptionsSchema().Validate(options);
}
absl::Status CheckRanges(const ClusterOptions& options) {
  return ClusterOptionsSchema().Validate(options);
}
absl::Status CheckRanges(const MfOptions& options) { return MfOptionsSchema().Validate(options); }
absl::Status CheckRanges(const LinUcbOptions& options) {
  return LinUcbOptionsSchema().Validate(options);
}
absl::Status CheckRanges(const StackedOptions& options) {
  return StackedOptionsSchema().Validate(options);
}
absl::Status CheckRanges(const TextFeaturizerOptions& options) {
  return TextFeaturizerOptionsSchema().Validate(options);
}
absl::Status CheckRanges(const Limits& limits) { return LimitsSchema().Validate(limits); }

namespace {

template <typename Options>
void PutOptionsWith(const OptionsSchema<Options>& schema, const Options& options, ByteWriter* w) {
  w->PutString(schema.Write(options).dump());
}

template <typename Options>
bool GetOptionsWith(const OptionsSchema<Options>& schema, ByteReader* r, Options* out) {
  std::string text;
  if (!r->GetString(&text, "options")) return false;
  absl::StatusOr<Json> json = ParseJsonText(text, "options");
  if (!json.ok()) return r->Fail("options", StdView(json.status().message()));
  Options options = *out;
  if (absl::Status read = schema.Read(*json, Options::kKind, &options); !read.ok()) {
    return r->Fail("options", StdView(read.message()));
  }
  *out = std::move(options);
  return true;
}

}  // namespace

void PutOptions(const KnnOptions& options, ByteWriter* w) {
  PutOptionsWith(KnnOptionsSchema(), options, w);
}
void PutOptions(const ClusterOptions& options, ByteWriter* w) {
  PutOptionsWith(ClusterOptionsSchema(), options, w);
}
void PutOptions(const MfOptions& options, ByteWriter* w) {
  PutOptionsWith(MfOptionsSchema(), options, w);
}
void PutOptions(const LinUcbOptions& options, ByteWriter* w) {
  PutOptionsWith(LinUcbOptionsSchema(), options, w);
}
void PutOptions(const StackedOptions& options, ByteWriter* w) {
  PutOptionsWith(StackedOptionsSchema(), options, w);
}
bool GetOptions(ByteReader* r, StackedOptions* out) {
  return GetOptionsWith(StackedOptionsSchema(), r, out);
}
bool GetOptions(ByteReader* r, KnnOptions* out) { return GetOptionsWith(KnnOptionsSchema(), r, out); }
bool GetOptions(ByteReader* r, ClusterOptions* out) {
  return GetOptionsWith(ClusterOptionsSchema(), r, out);
}
bool GetOptions(ByteReader* r, MfOptions* out) { return GetOptionsWith(MfOptionsSchema(), r, out); }
bool GetOptions(ByteReader* r, LinUcbOptions* out) {
  return GetOptionsWith(LinUcbOptionsSchema(), r, out);
}

}  // namespace router::internal
