#include "router/text_featurizer.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "hwy/targets.h"
#include "router/version.h"

namespace router {
namespace {

using Features = std::vector<std::pair<int32_t, float>>;

// A tiny deterministic generator, so the corpora are the same everywhere.
class Lcg {
 public:
  explicit Lcg(uint64_t seed) : state_(seed * 2862933555777941757ULL + 1) {}
  size_t Below(size_t n) {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<size_t>((state_ >> 33) % n);
  }

 private:
  uint64_t state_;
};

const std::vector<std::vector<std::string>>& Topics() {
  static const auto* topics = new std::vector<std::vector<std::string>>{
      {"recipe", "bake", "oven", "flour", "sugar", "butter", "whisk", "dough",
       "simmer", "garlic", "onion", "saute", "roast", "pasta", "sauce",
       "knead"},
      {"compile", "pointer", "function", "variable", "debug", "python",
       "segfault", "linker", "template", "recursion", "array", "thread",
       "mutex", "iterator", "kernel", "syntax"},
      {"galaxy", "telescope", "orbit", "nebula", "planet", "comet",
       "asteroid", "supernova", "redshift", "quasar", "eclipse", "jupiter",
       "saturn", "cosmic", "stellar", "parallax"},
  };
  return *topics;
}

// A prompt of `topic`: mostly topic words, some shared filler words.
std::string Prompt(int topic, Lcg& rng) {
  static const std::vector<std::string> filler = {
      "the", "how", "do", "i", "what", "is", "a", "of", "please", "explain"};
  const auto& words = Topics()[topic];
  std::string text;
  const size_t n = 8 + rng.Below(7);
  for (size_t i = 0; i < n; ++i) {
    if (!text.empty()) text += ' ';
    text += rng.Below(10) < 3 ? filler[rng.Below(filler.size())]
                              : words[rng.Below(words.size())];
  }
  return text;
}

std::vector<std::string> TopicCorpus(int per_topic, uint64_t seed) {
  Lcg rng(seed);
  std::vector<std::string> texts;
  for (int i = 0; i < per_topic; ++i) {
    for (int t = 0; t < 3; ++t) texts.push_back(Prompt(t, rng));
  }
  return texts;
}

std::vector<float> MustEmbed(const TextFeaturizer& f, std::string_view text) {
  std::vector<float> v(f.dim());
  const absl::Status status = f.Embed(text, absl::MakeSpan(v));
  REQUIRE(status.ok());
  return v;
}

double Dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double{a[i]} * b[i];
  return s;
}

double SparseDot(const Features& a, const Features& b) {
  double s = 0;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i].first < b[j].first) {
      ++i;
    } else if (a[i].first > b[j].first) {
      ++j;
    } else {
      s += double{a[i++].second} * b[j++].second;
    }
  }
  return s;
}

TextFeaturizerOptions SmallOptions() {
  TextFeaturizerOptions o;
  o.word_buckets = 1024;
  o.char_buckets = 1024;
  o.dim = 16;
  return o;
}

TEST_CASE("the feature hash is pinned") {
  // Constants computed once from the hash (FNV-1a + fmix64, multiply-shift
  // bucket, top bit sign) and cross-checked with an independent Python
  // implementation; if this fails, saved featurizers stop matching.
  TextFeaturizerOptions o;
  o.word_buckets = 1 << 16;
  o.char_buckets = 1 << 16;
  o.min_char_ngram = 3;
  o.max_char_ngram = 3;
  const TextFeaturizer f(o);
  const float r6 = 1 / std::sqrt(6.0f), r5 = 1 / std::sqrt(5.0f);
  const std::vector<std::pair<std::string, Features>> cases = {
      // "hello" and " he", "hel", "ell", "llo", "lo ".
      {"hello",
       {{14722, -r6}, {71928, -r6}, {87566, -r6}, {100970, r6},
        {106514, -r6}, {117040, -r6}}},
      // "a", "b", "a b" and " a ", " b ".
      {"a b",
       {{7279, -r5}, {13352, r5}, {38920, -r5}, {66070, -r5}, {128360, r5}}},
      // Only the bigram differs: "b a" instead of "a b".
      {"b a",
       {{7279, -r5}, {38920, -r5}, {59390, -r5}, {66070, -r5}, {128360, r5}}},
  };
  for (const auto& [text, expected] : cases) {
    INFO(text);
    Features got;
    f.SparseFeatures(text, &got);
    REQUIRE(got.size() == expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].first == expected[i].first);
      CHECK(got[i].second == Approx(expected[i].second).margin(1e-6));
    }
  }
}

TEST_CASE("sparse features are sorted, normalised and have words, bigrams "
          "and char n-grams") {
  const TextFeaturizer f(SmallOptions());
  const int wb = f.options().word_buckets;
  Features features;
  f.SparseFeatures("The quick brown fox; the QUICK dog!", &features);
  REQUIRE_FALSE(features.empty());
  double sq = 0;
  for (size_t i = 0; i < features.size(); ++i) {
    if (i > 0) CHECK(features[i - 1].first < features[i].first);
    CHECK(features[i].first >= 0);
    CHECK(features[i].first < f.sparse_dim());
    sq += double{features[i].second} * features[i].second;
  }
  CHECK(sq == Approx(1.0).margin(1e-5));

  // One word: one word feature (its unigram) and char n-grams.
  f.SparseFeatures("tokenizer", &features);
  int word = 0, chars = 0;
  for (const auto& [b, v] : features) (b < wb ? word : chars)++;
  CHECK(word == 1);
  CHECK(chars >= 3);

  // Bigrams make word order matter; case and separators do not.
  Features ab, ba, ab2;
  f.SparseFeatures("a b", &ab);
  f.SparseFeatures("b a", &ba);
  f.SparseFeatures("  A,\tB?? ", &ab2);
  CHECK(ab != ba);
  CHECK(ab == ab2);

  // Repeats are counted sublinearly: "zebra" and its char n-grams three
  // times (1 + ln 3), the bigram "zebra zebra" twice (1 + ln 2), the rest once.
  TextFeaturizerOptions wide = SmallOptions();
  wide.word_buckets = wide.char_buckets = 1 << 16;  // no collisions here
  Features repeats;
  TextFeaturizer(wide).SparseFeatures("zebra zebra zebra yak", &repeats);
  REQUIRE(repeats.size() == 1 + 1 + 1 + 1 + 12 + 6);
  float unit = 1e9f;
  for (const auto& [b, v] : repeats) unit = std::min(unit, std::abs(v));
  int ones = 0, twos = 0, threes = 0;
  for (const auto& [b, v] : repeats) {
    const double r = std::abs(v) / unit;
    ones += std::abs(r - 1) < 1e-4;
    twos += std::abs(r - (1 + std::log(2.0))) < 1e-4;
    threes += std::abs(r - (1 + std::log(3.0))) < 1e-4;
  }
  CHECK(ones == 1 + 1 + 6);  // yak, "zebra yak", n-grams of " yak "
  CHECK(twos == 1);
  CHECK(threes == 1 + 12);   // zebra, n-grams of " zebra "

  // Bytes >= 0x80 are word characters and are not lower-cased.
  Features cafe, cafe_upper;
  f.SparseFeatures("caf\xc3\xa9", &cafe);
  f.SparseFeatures("CAF\xc3\x89", &cafe_upper);
  word = 0;
  for (const auto& [b, v] : cafe) word += b < wb;
  CHECK(word == 1);
  CHECK(cafe != cafe_upper);

  f.SparseFeatures("", &features);
  CHECK(features.empty());
  f.SparseFeatures(" ,;!? \n", &features);
  CHECK(features.empty());
}

TEST_CASE("fitting is deterministic") {
  const std::vector<std::string> corpus = TopicCorpus(20, 1);
  TextFeaturizer a(SmallOptions()), b(SmallOptions());
  REQUIRE(a.Fit(corpus).ok());
  REQUIRE(b.Fit(corpus).ok());
  REQUIRE(a.dim() == 16);
  REQUIRE(b.dim() == 16);
  Lcg rng(99);
  for (int i = 0; i < 10; ++i) {
    const std::string text = Prompt(i % 3, rng);
    const std::vector<float> va = MustEmbed(a, text), vb = MustEmbed(b, text);
    CHECK(std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0);
    Features sa, sb;
    a.SparseFeatures(text, &sa);
    b.SparseFeatures(text, &sb);
    CHECK(sa == sb);
  }
}

TEST_CASE("embeddings are unit vectors, the empty text is zero") {
  TextFeaturizer f(SmallOptions());
  REQUIRE(f.Fit(TopicCorpus(20, 2)).ok());
  for (const std::string text :
       {"bake the dough", "x", "completely unseen words here", "a"}) {
    INFO(text);
    const std::vector<float> v = MustEmbed(f, text);
    CHECK(std::sqrt(Dot(v, v)) == Approx(1.0).margin(1e-5));
  }
  for (const std::string text : {"", "  ...  !!"}) {
    const std::vector<float> v = MustEmbed(f, text);
    for (float x : v) CHECK(x == 0.0f);
  }
}

TEST_CASE("prompts of one topic are closer than prompts of different topics") {
  TextFeaturizer f(SmallOptions());
  REQUIRE(f.Fit(TopicCorpus(40, 3)).ok());
  Lcg rng(12345);  // unseen prompts
  std::vector<std::vector<float>> v[3];
  for (int i = 0; i < 8; ++i) {
    for (int t = 0; t < 3; ++t) v[t].push_back(MustEmbed(f, Prompt(t, rng)));
  }
  double same = 0, different = 0;
  int n_same = 0, n_different = 0;
  for (int t = 0; t < 3; ++t) {
    for (int u = t; u < 3; ++u) {
      for (int i = 0; i < 8; ++i) {
        for (int j = 0; j < 8; ++j) {
          if (t == u && i >= j) continue;
          const double c = Dot(v[t][i], v[u][j]);
          (t == u ? same : different) += c;
          ++(t == u ? n_same : n_different);
        }
      }
    }
  }
  same /= n_same;
  different /= n_different;
  INFO("same " << same << " different " << different);
  CHECK(same > different + 0.4);
  // And each prompt is, on average, closer to its own topic than to others.
  for (int t = 0; t < 3; ++t) {
    for (int i = 0; i < 8; ++i) {
      double own = 0, other = 0;
      for (int u = 0; u < 3; ++u) {
        for (int j = 0; j < 8; ++j) {
          if (u == t && j == i) continue;
          (u == t ? own : other) += Dot(v[t][i], v[u][j]);
        }
      }
      CHECK(own / 7 > other / 16 + 0.2);
    }
  }
}

TEST_CASE("with dim at the corpus rank the projection keeps inner products") {
  // The training vectors span a space of rank <= N, so projecting onto all N
  // right-singular vectors must preserve their inner products exactly.
  TextFeaturizerOptions o = SmallOptions();
  o.dim = 64;
  TextFeaturizer f(o);
  const std::vector<std::string> corpus = TopicCorpus(4, 4);  // 12 texts
  REQUIRE(f.Fit(corpus).ok());
  REQUIRE(f.dim() == 12);
  for (size_t i = 0; i < corpus.size(); ++i) {
    for (size_t j = 0; j < corpus.size(); ++j) {
      Features si, sj;
      f.SparseFeatures(corpus[i], &si);
      f.SparseFeatures(corpus[j], &sj);
      CHECK(Dot(MustEmbed(f, corpus[i]), MustEmbed(f, corpus[j])) ==
            Approx(SparseDot(si, sj)).margin(1e-4));
    }
  }
}

TEST_CASE("fit lowers dim to the rank of the corpus") {
  TextFeaturizer f;  // dim 256
  REQUIRE(f.Fit(std::vector<std::string>{"alpha beta", "gamma delta",
                                         "epsilon", "zeta eta theta",
                                         "iota"})
              .ok());
  CHECK(f.dim() == 5);
  CHECK(MustEmbed(f, "alpha").size() == 5);

  // Repeated texts add no rank.
  TextFeaturizer g;
  std::vector<std::string> repeated;
  for (int i = 0; i < 10; ++i) {
    repeated.insert(repeated.end(), {"one two", "three", "four five six"});
  }
  REQUIRE(g.Fit(repeated).ok());
  CHECK(g.dim() == 3);
}

TEST_CASE("errors") {
  TextFeaturizerOptions o = SmallOptions();
  o.max_text_bytes = 100;
  TextFeaturizer f(o);
  std::vector<float> out(16);
  CHECK(f.Embed("hello", absl::MakeSpan(out)).code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK_FALSE(f.fitted());

  CHECK(f.Fit({}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(f.Fit(std::vector<std::string>{"", "?!"}).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK_FALSE(f.fitted());

  REQUIRE(f.Fit(TopicCorpus(10, 5)).ok());
  REQUIRE(f.dim() == 16);
  const std::vector<float> before = MustEmbed(f, "bake the dough");

  std::vector<float> wrong(15);
  CHECK(f.Embed("hello", absl::MakeSpan(wrong)).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(f.Embed(std::string(100, 'a'), absl::MakeSpan(out)).ok());
  const absl::Status too_long =
      f.Embed(std::string(101, 'a'), absl::MakeSpan(out));
  CHECK(too_long.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(too_long.message()).find("101") != std::string::npos);
  CHECK(std::string(too_long.message()).find("100") != std::string::npos);

  // A failed Fit leaves the fitted state alone.
  CHECK(f.Fit({}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(f.dim() == 16);
  CHECK(MustEmbed(f, "bake the dough") == before);

  const std::vector<std::string> corpus = {"some text", "more text"};
  auto invalid = [&](auto mutate) {
    TextFeaturizerOptions bad = SmallOptions();
    mutate(bad);
    TextFeaturizer g(bad);
    const absl::Status status = g.Fit(corpus);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK_FALSE(g.fitted());
    Features features;
    g.SparseFeatures("some text", &features);
    CHECK(features.empty());
  };
  invalid([](TextFeaturizerOptions& b) { b.word_buckets = 0; });
  invalid([](TextFeaturizerOptions& b) { b.char_buckets = -4; });
  invalid([](TextFeaturizerOptions& b) { b.min_char_ngram = 0; });
  invalid([](TextFeaturizerOptions& b) {
    b.min_char_ngram = 5;
    b.max_char_ngram = 3;
  });
  invalid([](TextFeaturizerOptions& b) { b.dim = 0; });
  invalid([](TextFeaturizerOptions& b) { b.power_iterations = -1; });
}

TEST_CASE("binary bytes, invalid UTF-8 and huge words do not crash") {
  TextFeaturizer f(SmallOptions());
  std::vector<std::string> corpus = TopicCorpus(10, 6);
  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes.push_back(static_cast<char>(c));
  corpus.push_back(all_bytes);
  REQUIRE(f.Fit(corpus).ok());

  Lcg rng(7);
  std::string noise(5000, '\0');
  for (char& c : noise) c = static_cast<char>(rng.Below(256));
  const std::string huge_word(200000, 'q');
  std::string mixed = "\xff\xfe\xc3 bake \xe2\x82 \x80\x80\x80" + huge_word;
  // Text whose features never occurred in training projects to zero (the
  // learned directions span the training features only); anything else to a
  // unit vector.
  for (const std::string& text :
       {all_bytes, noise, huge_word, mixed, std::string(1000, '\0'),
        std::string("\xc3")}) {
    const std::vector<float> v = MustEmbed(f, text);
    for (float x : v) REQUIRE(std::isfinite(x));
    const double norm = std::sqrt(Dot(v, v));
    CHECK((norm == 0 || std::abs(norm - 1) < 1e-5));
  }
  for (const std::string& text : {all_bytes, mixed}) {
    const std::vector<float> v = MustEmbed(f, text);
    CHECK(std::sqrt(Dot(v, v)) == Approx(1.0).margin(1e-5));
  }
}

TEST_CASE("text made only of features never seen in training maps to zero") {
  TextFeaturizerOptions o = SmallOptions();
  o.word_buckets = o.char_buckets = 1 << 16;
  TextFeaturizer f(o);
  const std::vector<std::string> corpus = TopicCorpus(10, 11);
  REQUIRE(f.Fit(corpus).ok());
  std::vector<bool> seen(f.sparse_dim(), false);
  Features features;
  for (const auto& text : corpus) {
    f.SparseFeatures(text, &features);
    for (const auto& [b, v] : features) seen[b] = true;
  }
  // Two euro signs and an n-tilde: no feature shared with the corpus (the
  // loop below checks that no hash collision says otherwise).
  const std::string unseen = "\xe2\x82\xac\xe2\x82\xac \xc3\xb1";
  f.SparseFeatures(unseen, &features);
  REQUIRE_FALSE(features.empty());
  for (const auto& [b, v] : features) REQUIRE_FALSE(seen[b]);
  for (float x : MustEmbed(f, unseen)) CHECK(x == 0.0f);
  // One seen word is enough to give a unit vector again.
  const std::vector<float> v = MustEmbed(f, unseen + " oven");
  CHECK(std::sqrt(Dot(v, v)) == Approx(1.0).margin(1e-5));
}

TEST_CASE("embed is safe from many threads at once") {
  TextFeaturizer f(SmallOptions());
  REQUIRE(f.Fit(TopicCorpus(20, 8)).ok());
  const std::vector<std::string> texts = TopicCorpus(30, 9);
  std::vector<std::vector<float>> expected;
  for (const auto& t : texts) expected.push_back(MustEmbed(f, t));

  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> v(f.dim());
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) {
          const size_t k = (i + t * 7) % texts.size();
          if (!f.Embed(texts[k], absl::MakeSpan(v)).ok() || v != expected[k]) {
            ++mismatches[t];
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int m : mismatches) CHECK(m == 0);
}

TEST_CASE("refitting replaces the learned state") {
  TextFeaturizer f(SmallOptions());
  REQUIRE(f.Fit(TopicCorpus(20, 10)).ok());
  REQUIRE(f.dim() == 16);
  REQUIRE(f.Fit(std::vector<std::string>{"just", "three", "texts"}).ok());
  CHECK(f.dim() == 3);
  CHECK(MustEmbed(f, "just texts").size() == 3);
}

// ------------------------------------------- Embed against a scalar reference

// The projection, read from the end of the saved state (the state's last
// field is the sparse_dim() x dim() row-major float array, after its u64
// count).
std::vector<float> ProjectionOf(const TextFeaturizer& f, std::string* state) {
  REQUIRE(f.SaveState(state).ok());
  const size_t count = static_cast<size_t>(f.sparse_dim()) * f.dim();
  REQUIRE(state->size() >= count * sizeof(float) + sizeof(uint64_t));
  const size_t at = state->size() - count * sizeof(float);
  uint64_t saved_count = 0;
  std::memcpy(&saved_count, state->data() + at - sizeof(uint64_t), sizeof(saved_count));
  REQUIRE(saved_count == count);
  std::vector<float> projection(count);
  std::memcpy(projection.data(), state->data() + at, count * sizeof(float));
  return projection;
}

// What Embed computes, the plain way: the sparse features (tf x idf) times
// the projection, summed in double, then L2-normalised.
std::vector<float> ReferenceEmbed(const TextFeaturizer& f, const std::vector<float>& projection,
                                  std::string_view text) {
  Features sparse;
  f.SparseFeatures(text, &sparse);
  const size_t dim = f.dim();
  std::vector<double> sum(dim, 0.0);
  for (const auto& [b, v] : sparse) {
    for (size_t j = 0; j < dim; ++j) sum[j] += double{v} * projection[b * dim + j];
  }
  double sq = 0;
  for (double x : sum) sq += x * x;
  std::vector<float> out(dim, 0.0f);
  if (sq > 0) {
    for (size_t j = 0; j < dim; ++j) out[j] = static_cast<float>(sum[j] / std::sqrt(sq));
  }
  return out;
}

// Prompts of the topic generator, random-letter words (many distinct
// n-grams: thousands of rows for a long one), punctuation and UTF-8 bytes.
std::vector<std::string> ReferencePrompts(uint64_t seed) {
  Lcg rng(seed);
  std::vector<std::string> texts = {"", "a", "Why does free() crash?", "é ü 北京 ok"};
  for (int i = 0; i < 30; ++i) texts.push_back(Prompt(i % 3, rng));
  for (size_t words : {1, 5, 40, 200}) {
    std::string t;
    for (size_t w = 0; w < words; ++w) {
      const size_t len = 1 + rng.Below(12);
      for (size_t c = 0; c < len; ++c) t += static_cast<char>('a' + rng.Below(26));
      t += rng.Below(8) == 0 ? ", " : " ";
    }
    texts.push_back(t);
  }
  return texts;
}

void CheckAgainstReference(const TextFeaturizer& f, const std::vector<float>& projection) {
  for (const std::string& text : ReferencePrompts(5)) {
    INFO("dim " << f.dim() << ", text \"" << text << "\"");
    const std::vector<float> got = MustEmbed(f, text);
    const std::vector<float> want = ReferenceEmbed(f, projection, text);
    const double want_norm = std::sqrt(Dot(want, want));
    if (want_norm == 0) {
      CHECK(Dot(got, got) == 0);
      continue;
    }
    const double cosine = Dot(got, want) / (std::sqrt(Dot(got, got)) * want_norm);
    CHECK(cosine >= 0.99999);
    double worst = 0;
    for (size_t j = 0; j < got.size(); ++j) {
      worst = std::max(worst, std::abs(double{got[j]} - want[j]));
    }
    CHECK(worst <= 1e-5);
  }
}

std::vector<std::string> RandomWordCorpus(size_t texts, uint64_t seed) {
  Lcg rng(seed);
  std::vector<std::string> corpus;
  for (size_t i = 0; i < texts; ++i) {
    std::string t;
    for (int w = 0; w < 12; ++w) {
      for (size_t c = 0, len = 2 + rng.Below(8); c < len; ++c) {
        t += static_cast<char>('a' + rng.Below(26));
      }
      t += ' ';
    }
    corpus.push_back(t);
  }
  return corpus;
}

TEST_CASE("embed equals the scalar projection of the sparse features, cosine >= 0.99999") {
  // The SIMD projection against the plain sum. A wrong row (stride, bucket
  // offset), a lost or doubled row among those summed a few per pass, or a
  // lost tail of a row shows as a cosine far below 0.99999. dim 256 is the
  // default (whole AVX-512 vectors); 37 and 7 leave tails and exercise a
  // stride that is not a multiple of any vector width.
  for (int dim : {256, 37, 7}) {
    TextFeaturizerOptions o;
    o.dim = dim;
    TextFeaturizer f(o);
    REQUIRE(f.Fit(RandomWordCorpus(300, 11)).ok());
    REQUIRE(f.dim() == dim);
    std::string state;
    CheckAgainstReference(f, ProjectionOf(f, &state));
  }
}

TEST_CASE("embed equals the scalar reference with zeros and denormals in the projection") {
  // A projection the SVD would never produce: random rows, a quarter of them
  // all zero and a quarter denormal, loaded through LoadState. A row fetched
  // from the wrong place now differs from its neighbours by far more than
  // rounding (no smooth SVD structure to hide it), and the denormal rows
  // must pass through without NaN or a trap; their exact sums are checked
  // in simd_test, where they are not drowned out by normal rows.
  TextFeaturizerOptions o;
  o.dim = 37;
  TextFeaturizer f(o);
  REQUIRE(f.Fit(RandomWordCorpus(300, 12)).ok());
  std::string state;
  std::vector<float> projection = ProjectionOf(f, &state);
  Lcg rng(13);
  const size_t dim = f.dim();
  const float tiny = std::numeric_limits<float>::denorm_min() * 1000;
  for (size_t row = 0; row < projection.size() / dim; ++row) {
    const size_t kind = rng.Below(4);
    for (size_t j = 0; j < dim; ++j) {
      const float u = static_cast<float>(rng.Below(2001)) / 1000.0f - 1.0f;
      projection[row * dim + j] = kind == 0 ? 0.0f : kind == 1 ? u * tiny : u;
    }
  }
  std::memcpy(state.data() + state.size() - projection.size() * sizeof(float),
              projection.data(), projection.size() * sizeof(float));
  TextFeaturizer loaded;
  REQUIRE(loaded.LoadState(state).ok());
  CheckAgainstReference(loaded, projection);
}

TEST_CASE("embed gives the same bits on every SIMD target") {
  // The featurizer is deterministic across machines: the kernels round as
  // the scalar loop does on every instruction set (internal/simd.h). Runs
  // Embed under each target this CPU has, through Highway's test mock
  // (shared with the library when both use the same libhwy), and compares
  // bits. A kernel that fused multiply and add on AVX2/AVX-512 only fails.
  TextFeaturizerOptions o;
  o.dim = 37;
  TextFeaturizer f(o);
  REQUIRE(f.Fit(RandomWordCorpus(300, 14)).ok());
  const std::vector<std::string> texts = ReferencePrompts(15);
  std::vector<std::vector<float>> first;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    hwy::GetChosenTarget().Update(hwy::SupportedTargets());
    if (std::string(SimdTargetName()) != hwy::TargetName(target)) {
      WARN("the library's dispatch does not follow the test's Highway mock");
      break;
    }
    INFO("target " << hwy::TargetName(target));
    for (size_t i = 0; i < texts.size(); ++i) {
      const std::vector<float> v = MustEmbed(f, texts[i]);
      if (first.size() <= i) {
        first.push_back(v);
      } else {
        CHECK(std::memcmp(v.data(), first[i].data(), v.size() * sizeof(float)) == 0);
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
}

}  // namespace
}  // namespace router
