#include "router/text_featurizer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <Eigen/Dense>
#include <Eigen/SparseCore>

#include "fmt/format.h"
#include "internal/byte_stream.h"
#include "internal/option_schemas.h"
#include "internal/randomized_svd.h"
#include "internal/simd.h"
#include "router/status.h"

namespace router {
namespace {

using Feature = std::pair<int32_t, float>;

// Extra columns of the randomized SVD's test matrix (Halko et al. suggest
// 5-10): they make the top `dim` directions accurate.
constexpr int kOversample = 10;
// Singular values below this share of the largest are rounding noise; their
// directions would be arbitrary, so Fit drops them from dim().
constexpr double kRankTolerance = 1e-8;

// Per kind of feature a salt, so that the word "abc" and the char n-gram "abc"
// do not land in mirrored buckets with the same sign.
constexpr uint64_t kWordSalt = 0x9e3779b97f4a7c15ULL;
constexpr uint64_t kCharSalt = 0xc2b2ae3d27d4eb4fULL;

// Byte -> lower-cased byte, or 0 for a separator. Bytes >= 0x80 are kept as
// they are so that UTF-8 words stay whole.
constexpr std::array<uint8_t, 256> kWordByte = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    if (c >= 'A' && c <= 'Z') t[c] = static_cast<uint8_t>(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80) {
      t[c] = static_cast<uint8_t>(c);
    }
  }
  return t;
}();

// FNV-1a, finished with MurmurHash3's fmix64 so that every output bit
// depends on every input byte: the bucket uses the low bits, the sign the top
// one. Fixed-width integer arithmetic only, so identical on every platform.
constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

inline uint64_t FnvStep(uint64_t h, char c) {
  return (h ^ static_cast<uint8_t>(c)) * kFnvPrime;
}

inline uint64_t Finish(uint64_t h, uint64_t salt) {
  h ^= salt;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

// Buffers reused by every call on a thread, so Embed allocates only when a
// text is larger than any seen before on that thread.
struct Scratch {
  std::string words;             // " w1 w2 ... wn ": lower-cased words
  std::vector<int32_t> counts;   // signed count per bucket; zero between calls
  // Buckets counted into (may repeat): the first `touched_size` entries. The
  // vector is only room for them, kept ahead of the count, so that counting
  // a feature appends without a capacity test or a branch on "new bucket?"
  // (unpredictable: it was CountFeatures' main cost).
  std::vector<int32_t> touched;
  size_t touched_size = 0;
  std::vector<Feature> features;
  std::vector<const float*> rows;  // Embed: the projection row of each feature
  std::vector<float> scales;       // Embed: the value of each feature
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

absl::Status ValidateOptions(const TextFeaturizerOptions& o) { return internal::CheckRanges(o); }

// Counts the signed hashed features of `text` into s.counts and lists the
// buckets counted into in s.touched. `o` must be valid.
void CountFeatures(const TextFeaturizerOptions& o, std::string_view text,
                   Scratch& s) {
  const int32_t sparse_dim = o.word_buckets + o.char_buckets;
  if (s.counts.size() < static_cast<size_t>(sparse_dim)) {
    s.counts.resize(sparse_dim, 0);
  }
  // Normally none; after an exception mid-count it lists what to re-zero.
  for (size_t i = 0; i < s.touched_size; ++i) s.counts[s.touched[i]] = 0;
  s.touched_size = 0;
  int32_t* const counts = s.counts.data();
  int32_t* touched = s.touched.data();
  size_t used = 0;
  // Makes room in s.touched for `more` appends.
  auto room = [&](size_t more) {
    if (used + more > s.touched.size()) {
      s.touched_size = used;  // what to re-zero should resize throw
      s.touched.resize(std::max(2 * s.touched.size(), used + more));
      touched = s.touched.data();
    }
  };
  auto add = [&](uint64_t h, int32_t offset, int32_t buckets) {
    // Lemire's multiply-shift maps the low 32 bits onto [0, buckets).
    const int32_t b =
        offset + static_cast<int32_t>(((h & 0xffffffffULL) * buckets) >> 32);
    // Always written, kept only when the bucket was empty.
    touched[used] = b;
    used += counts[b] == 0;
    counts[b] += 1 - 2 * static_cast<int32_t>(h >> 63);
  };

  // Words separated by single spaces, with a space at both ends: a padded
  // word (for char n-grams) and a bigram are then both contiguous slices.
  std::string& w = s.words;
  w.resize(text.size() + 2);  // the most it can take
  char* const out = w.data();
  size_t size = 0;
  out[size++] = ' ';
  for (char c : text) {
    const uint8_t l = kWordByte[static_cast<uint8_t>(c)];
    if (l != 0) {
      out[size++] = static_cast<char>(l);
    } else if (out[size - 1] != ' ') {
      out[size++] = ' ';
    }
  }
  if (out[size - 1] != ' ') out[size++] = ' ';
  w.resize(size);

  const size_t min_n = o.min_char_ngram;
  const size_t max_n = o.max_char_ngram;
  size_t prev_start = 0;
  for (size_t start = 1; start < w.size(); ) {
    const size_t end = w.find(' ', start);
    // The word, the bigram and a short padded word; the n-grams of longer
    // ones make room per position, so the room follows what is counted, not
    // the bound (a 1 MiB word would otherwise ask for megabytes at once).
    room(3);
    uint64_t h = kFnvOffset;
    for (size_t i = start; i < end; ++i) h = FnvStep(h, w[i]);
    add(Finish(h, kWordSalt), 0, o.word_buckets);
    if (prev_start != 0) {
      h = kFnvOffset;
      for (size_t i = prev_start; i < end; ++i) h = FnvStep(h, w[i]);
      add(Finish(h, kWordSalt), 0, o.word_buckets);
    }
    // Char n-grams of " word " as sklearn's char_wb: a padded word shorter
    // than min_n counts once, whole.
    const char* p = w.data() + start - 1;
    const size_t len = end - start + 2;
    if (len < min_n) {
      h = kFnvOffset;
      for (size_t i = 0; i < len; ++i) h = FnvStep(h, p[i]);
      add(Finish(h, kCharSalt), o.word_buckets, o.char_buckets);
    } else {
      for (size_t i = 0; i + min_n <= len; ++i) {
        room(max_n - min_n + 1);
        h = kFnvOffset;
        const size_t stop = std::min(len, i + max_n);
        for (size_t j = i; j < stop; ++j) {
          h = FnvStep(h, p[j]);
          if (j + 1 - i >= min_n) {
            add(Finish(h, kCharSalt), o.word_buckets, o.char_buckets);
          }
        }
      }
    }
    prev_start = start;
    start = end + 1;
  }
  s.touched_size = used;
}

// 1 + ln(c) for the counts a text most often has, computed as DrainFeatures
// did before the table (in double, then rounded), so the values are the same.
constexpr int32_t kSublinearTable = 64;
const std::array<float, kSublinearTable>& SublinearTable() {
  static const std::array<float, kSublinearTable> table = [] {
    std::array<float, kSublinearTable> t{};
    t[1] = 1.0f;
    for (int32_t c = 2; c < kSublinearTable; ++c) {
      t[c] = static_cast<float>(1.0 + std::log(static_cast<double>(c)));
    }
    return t;
  }();
  return table;
}

// Turns the counts into sublinear tf (times idf, when given) features, calls
// emit(bucket, value) for each, and zeroes the counts again. A bucket whose
// signed count cancelled to zero is dropped, as is a repeat in s.touched (its
// count was zeroed already).
template <typename Emit>
void DrainFeatures(Scratch& s, const float* idf, bool sorted, Emit emit) {
  int32_t* const touched = s.touched.data();
  if (sorted) std::sort(touched, touched + s.touched_size);
  const std::array<float, kSublinearTable>& sublinear = SublinearTable();
  for (size_t i = 0; i < s.touched_size; ++i) {
    const int32_t b = touched[i];
    const int32_t c = s.counts[b];
    if (c == 0) continue;
    s.counts[b] = 0;
    // sign(c) (1 + ln|c|).
    const int64_t a = c < 0 ? -int64_t{c} : c;
    float v = a < kSublinearTable
                  ? sublinear[a]
                  : static_cast<float>(1.0 + std::log(static_cast<double>(a)));
    if (c < 0) v = -v;
    if (idf != nullptr) v *= idf[b];
    emit(b, v);
  }
  s.touched_size = 0;
}

// DrainFeatures into a list of (bucket, value) pairs.
void DrainFeatures(Scratch& s, const float* idf, bool sorted, std::vector<Feature>* out) {
  out->clear();
  DrainFeatures(s, idf, sorted, [out](int32_t b, float v) { out->emplace_back(b, v); });
}

// The training matrix in CSR form: a row per text (sublinear tf x idf,
// L2-normalised), in arrays that Eigen maps without a copy.
struct TrainingMatrix {
  std::vector<int> outer{0}, inner;
  std::vector<double> values;
  std::vector<int64_t> df;  // per bucket, the texts it occurs in
  std::vector<float> idf;
};

absl::Status BuildTrainingMatrix(const TextFeaturizerOptions& o,
                                 absl::Span<const std::string> texts,
                                 TrainingMatrix* m) {
  const int32_t d = o.word_buckets + o.char_buckets;
  std::vector<int64_t>& df = m->df;
  df.assign(d, 0);
  Scratch& s = ThreadScratch();
  for (const std::string& text : texts) {
    CountFeatures(o, text, s);
    DrainFeatures(s, /*idf=*/nullptr, /*sorted=*/true, &s.features);
    if (m->inner.size() + s.features.size() >
        static_cast<size_t>(std::numeric_limits<int>::max())) {
      return absl::InvalidArgumentError(
          "TextFeaturizer::Fit: corpus has more than 2^31 features");
    }
    for (const auto& [b, v] : s.features) {
      m->inner.push_back(b);
      m->values.push_back(v);
      ++df[b];
    }
    m->outer.push_back(static_cast<int>(m->inner.size()));
  }
  if (m->inner.empty()) {
    return absl::InvalidArgumentError(
        "TextFeaturizer::Fit: no text in the corpus has a word");
  }
  const double n = static_cast<double>(texts.size());
  m->idf.resize(d);
  for (int32_t b = 0; b < d; ++b) {
    m->idf[b] = static_cast<float>(
        std::log((1.0 + n) / (1.0 + static_cast<double>(df[b]))) + 1.0);
  }
  for (size_t r = 0; r + 1 < m->outer.size(); ++r) {
    double sq = 0;
    for (int i = m->outer[r]; i < m->outer[r + 1]; ++i) {
      m->values[i] *= m->idf[m->inner[i]];
      sq += m->values[i] * m->values[i];
    }
    const double inv = sq > 0 ? 1.0 / std::sqrt(sq) : 0.0;
    for (int i = m->outer[r]; i < m->outer[r + 1]; ++i) m->values[i] *= inv;
  }
  return absl::OkStatus();
}

// The top right-singular vectors of `x` (at most `max_rank`, only those
// above the rank tolerance) as the rows x k matrix `projection`, row-major;
// returns k.
template <typename SparseMatrix>
int RightSingularVectors(const SparseMatrix& x, const TextFeaturizerOptions& o,
                         int64_t max_rank, std::vector<float>* projection) {
  const internal::TruncatedSvd svd = internal::RandomizedSvd(
      x, {.rank = max_rank, .oversample = kOversample,
          .power_iterations = o.power_iterations, .seed = o.seed});
  const Eigen::VectorXd& sigma = svd.singular_values;
  int k = 0;
  while (k < max_rank && sigma(k) > kRankTolerance * sigma(0)) ++k;

  const int64_t d = x.cols();
  projection->assign(static_cast<size_t>(d) * k, 0.0f);
  for (int j = 0; j < k; ++j) {
    for (int64_t b = 0; b < d; ++b) {
      (*projection)[b * k + j] = static_cast<float>(svd.right_vectors(b, j));
    }
  }
  return k;
}

}  // namespace

TextFeaturizer::TextFeaturizer(TextFeaturizerOptions options)
    : options_(options) {}

absl::Status TextFeaturizer::Fit(absl::Span<const std::string> texts) {
  ROUTER_RETURN_IF_ERROR(ValidateOptions(options_));
  if (texts.empty()) {
    return absl::InvalidArgumentError("TextFeaturizer::Fit: empty corpus");
  }
  // Fit allocates matrices of corpus size: running out of memory is an error
  // to report, not an exception to let out of the library. The new state is
  // built aside and swapped in only once all of it succeeded.
  try {
    TrainingMatrix m;
    ROUTER_RETURN_IF_ERROR(BuildTrainingMatrix(options_, texts, &m));
    const int64_t n = static_cast<int64_t>(texts.size());
    const Eigen::Map<const Eigen::SparseMatrix<double, Eigen::RowMajor, int>>
        x(n, sparse_dim(), static_cast<int>(m.inner.size()), m.outer.data(),
          m.inner.data(), m.values.data());
    std::vector<float> projection;
    const int k = RightSingularVectors(
        x, options_, std::min<int64_t>({options_.dim, n, sparse_dim()}),
        &projection);
    if (k == 0) {
      return absl::InvalidArgumentError(
          "TextFeaturizer::Fit: the training matrix is zero");
    }
    // Rows of buckets that no training text has are zero up to rounding;
    // make them exactly zero, so that text made only of unseen features maps
    // to zero rather than to normalised rounding noise.
    for (int32_t b = 0; b < sparse_dim(); ++b) {
      if (m.df[b] == 0) {
        std::fill_n(projection.begin() + static_cast<size_t>(b) * k, k, 0.0f);
      }
    }
    idf_ = std::move(m.idf);
    projection_ = std::move(projection);
    dim_ = k;
    return absl::OkStatus();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        "TextFeaturizer::Fit: out of memory; use fewer texts, buckets or dims");
  }
}

absl::Status TextFeaturizer::Embed(std::string_view text,
                                   absl::Span<float> out) const {
  if (!fitted()) {
    return absl::FailedPreconditionError(
        "TextFeaturizer::Embed: call Fit first");
  }
  if (out.size() != static_cast<size_t>(dim_)) {
    return absl::InvalidArgumentError(
        fmt::format("TextFeaturizer::Embed: output has {} floats, dim() is {}", out.size(), dim_));
  }
  if (static_cast<int64_t>(text.size()) > options_.max_text_bytes) {
    return absl::InvalidArgumentError(
        fmt::format("TextFeaturizer::Embed: text of {} bytes exceeds max_text_bytes = {}",
                    text.size(), options_.max_text_bytes));
  }
  Eigen::Map<Eigen::VectorXf> acc(out.data(), dim_);
  acc.setZero();
  Scratch& s = ThreadScratch();
  CountFeatures(options_, text, s);
  // Unsorted and not normalised: the final normalisation makes the sparse
  // vector's scale irrelevant, and the order is still fixed by the text. One
  // row of the projection per distinct feature, summed by the SIMD kernel (a
  // few rows per pass over `out`, see internal/simd.h).
  s.rows.resize(s.touched_size);  // at least the features to come
  s.scales.resize(s.touched_size);
  size_t n = 0;
  DrainFeatures(s, idf_.data(), /*sorted=*/false, [&](int32_t b, float v) {
    s.rows[n] = projection_.data() + static_cast<size_t>(b) * dim_;
    s.scales[n++] = v;
  });
  internal::simd::AddScaledRows(out.data(), s.rows.data(), s.scales.data(), n, dim_);
  const float norm = acc.norm();
  if (norm > 0 && std::isfinite(norm)) {
    acc /= norm;
  } else {
    acc.setZero();
  }
  return absl::OkStatus();
}

void TextFeaturizer::SparseFeatures(std::string_view text,
                                    std::vector<Feature>* out) const {
  out->clear();
  if (!ValidateOptions(options_).ok()) return;
  Scratch& s = ThreadScratch();
  CountFeatures(options_, text, s);
  DrainFeatures(s, idf_.empty() ? nullptr : idf_.data(), /*sorted=*/true, out);
  double sq = 0;
  for (const auto& f : *out) sq += double{f.second} * f.second;
  const double inv = sq > 0 ? 1.0 / std::sqrt(sq) : 0.0;
  for (auto& f : *out) f.second = static_cast<float>(f.second * inv);
}

}  // namespace router

// ---------------------------------------------------------------- state I/O

namespace router {
namespace {
constexpr uint32_t kFeaturizerStateVersion = 1;
// Bounds that keep a corrupt header from implying an absurd allocation;
// both are far above any useful setting.
constexpr int kMaxBuckets = 1 << 24;
constexpr int kMaxDim = 1 << 16;
}  // namespace

absl::Status TextFeaturizer::SaveState(std::string* out) const {
  if (!fitted()) return absl::FailedPreconditionError("TextFeaturizer: not fitted");
  internal::ByteWriter w(out);
  w.Put(kFeaturizerStateVersion);
  w.Put<int32_t>(options_.word_buckets);
  w.Put<int32_t>(options_.char_buckets);
  w.Put<int32_t>(options_.min_char_ngram);
  w.Put<int32_t>(options_.max_char_ngram);
  w.Put<int32_t>(options_.dim);
  w.Put<uint64_t>(options_.seed);
  w.Put<int32_t>(options_.power_iterations);
  w.Put<int64_t>(options_.max_text_bytes);
  w.Put<int32_t>(dim_);
  w.PutVector(idf_);
  w.PutVector(projection_);
  return absl::OkStatus();
}

absl::Status TextFeaturizer::LoadState(std::string_view state) {
  internal::ByteReader r(state, "featurizer state");
  uint32_t version = 0;
  TextFeaturizerOptions o;
  int32_t dim = 0;
  if (r.Get(&version, "state version") && version != kFeaturizerStateVersion) {
    r.Fail("state version", fmt::format("version {} is not supported", version));
  }
  r.Get(&o.word_buckets, "word buckets") && r.Get(&o.char_buckets, "char buckets") &&
      r.Get(&o.min_char_ngram, "min char n-gram") &&
      r.Get(&o.max_char_ngram, "max char n-gram") && r.Get(&o.dim, "options dim") &&
      r.Get(&o.seed, "seed") && r.Get(&o.power_iterations, "power iterations") &&
      r.Get(&o.max_text_bytes, "max text bytes") && r.Get(&dim, "dim");
  if (!r.status().ok()) return r.status();
  if (!ValidateOptions(o).ok() || o.word_buckets > kMaxBuckets ||
      o.char_buckets > kMaxBuckets || o.max_char_ngram > 64) {
    r.Fail("options", "out of range");
  } else if (dim < 1 || dim > kMaxDim || dim > o.dim) {
    r.Fail("dim", fmt::format("{} is out of range", dim));
  }
  if (!r.status().ok()) return r.status();
  const uint64_t sparse = static_cast<uint64_t>(o.word_buckets) + o.char_buckets;
  std::vector<float> idf, projection;
  r.GetVector(&idf, sparse, "idf") && r.GetVector(&projection, sparse * dim, "projection");
  for (float v : idf) {
    if (!(v > 0.0f && std::isfinite(v))) r.Fail("idf", "a weight is not positive and finite");
  }
  for (float v : projection) {
    if (!std::isfinite(v)) r.Fail("projection", "non-finite value");
  }
  ROUTER_RETURN_IF_ERROR(r.Finish());
  options_ = o;
  dim_ = dim;
  idf_ = std::move(idf);
  projection_ = std::move(projection);
  return absl::OkStatus();
}

}  // namespace router
