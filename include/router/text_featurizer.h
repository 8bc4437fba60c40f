// File: router/text_featurizer.h
//
// TextFeaturizer is the built-in Embedder: no model files, deterministic on
// every platform, microseconds per prompt. It works in two stages.
//
//  1. Sparse: the text is lower-cased (ASCII only) and split into words at
//     every byte that is not an ASCII letter or digit; bytes >= 0x80 count as
//     letters, so UTF-8 words stay whole (and are not case-folded). Word
//     unigrams and bigrams are hashed into `word_buckets` buckets and the
//     character n-grams (byte lengths min_char_ngram..max_char_ngram, over
//     each word padded with a space on both sides, as scikit-learn's
//     "char_wb"; a padded word shorter than min_char_ngram counts once, whole)
//     into `char_buckets` more. Each feature hashes (FNV-1a + a 64-bit
//     finaliser, the same on every platform) to a bucket and a sign (signed
//     feature hashing). Signed counts c become sublinear term frequencies
//     sign(c) (1 + ln|c|), are weighted by smooth inverse document frequencies
//     ln((1 + N) / (1 + df)) + 1 learned at Fit, and the vector is
//     L2-normalised.
//  2. Dense: a projection to `dim` dimensions learned at Fit by a truncated SVD
//     of the training matrix (randomized, seeded, signs of the singular
//     vectors fixed), then L2-normalisation. The projection spans only
//     features seen in training, so a text none of whose features occurred in
//     the corpus maps to the zero vector, like the empty text.
//
// Defaults follow ../DESIGN.md: measured on real routing data, 2 x 4096
// buckets keep about 0.03 AIQ over 2 x 1024, and a 256-d projection keeps the
// quality of the sparse vector while making indexes ~30x smaller.
//
// Thread safety: Fit is not thread-safe; after it, Embed and SparseFeatures
// are const and may be called from many threads at once (each thread keeps
// its own scratch buffers).
#ifndef ROUTER_TEXT_FEATURIZER_H_
#define ROUTER_TEXT_FEATURIZER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "router/export.h"
#include "router/embedder.h"

namespace router {

struct TextFeaturizerOptions {
  int word_buckets = 4096;
  int char_buckets = 4096;
  int min_char_ngram = 3;
  int max_char_ngram = 5;
  // Output dimension; Fit lowers it to the rank the training data allows:
  // at most the number of texts, and no more than the numerical rank of the
  // training matrix (duplicate texts add none).
  int dim = 256;
  // Seed of the randomized SVD.
  uint64_t seed = 42;
  // Power iterations of the randomized SVD (more = closer to the exact SVD).
  int power_iterations = 3;
  // Prompts longer than this many bytes are rejected by Embed (Fit, which is
  // offline, takes texts of any length).
  int64_t max_text_bytes = 1 << 20;
};

class ROUTER_EXPORT TextFeaturizer : public Embedder {
 public:
  explicit TextFeaturizer(TextFeaturizerOptions options = {});

  // Learns IDF weights and the dense projection from `texts`; may be called
  // again to refit. InvalidArgument on an empty corpus, a corpus without a
  // single word, or invalid options (buckets <= 0, min_char_ngram < 1,
  // min_char_ngram > max_char_ngram, dim < 1, power_iterations < 0,
  // max_text_bytes < 0); ResourceExhausted if memory runs out. On any error
  // the featurizer is left unchanged.
  absl::Status Fit(absl::Span<const std::string> texts);

  bool fitted() const { return dim_ > 0; }
  int dim() const override { return dim_; }
  // Size of the sparse space (word_buckets + char_buckets).
  int sparse_dim() const { return options_.word_buckets + options_.char_buckets; }
  const TextFeaturizerOptions& options() const { return options_; }

  // The dense, L2-normalised vector of `text` (dim() floats). FailedPrecondition
  // before Fit; InvalidArgument if `out` has the wrong size or the text is
  // longer than max_text_bytes. The empty text (or one with no word, or with
  // no feature seen at Fit) maps to the zero vector. Allocates nothing once a
  // thread's scratch buffers have grown to the largest text it has seen.
  absl::Status Embed(std::string_view text, absl::Span<float> out) const override;

  // The sparse stage alone: (bucket, value) pairs sorted by bucket, with IDF
  // applied once fitted (idf = 1 before) and L2-normalised; buckets
  // [0, word_buckets) are words and bigrams, the rest char n-grams. Empty for
  // a text without words, or when the options are invalid. Exposed for tests
  // and tools.
  void SparseFeatures(std::string_view text,
                      std::vector<std::pair<int32_t, float>>* out) const;

  // Appends the fitted state (options, IDF weights, projection) to `out`.
  // FailedPrecondition before Fit.
  absl::Status SaveState(std::string* out) const;
  // Replaces the state by one SaveState wrote, after validating all of it;
  // on error (DataLoss naming the field) nothing changes.
  absl::Status LoadState(std::string_view state);

 private:
  TextFeaturizerOptions options_;
  int dim_ = 0;
  std::vector<float> idf_;         // sparse_dim(); empty before Fit
  std::vector<float> projection_;  // sparse_dim() x dim_, row-major
};

}  // namespace router

#endif  // ROUTER_TEXT_FEATURIZER_H_
