// internal::HnswSearch against FAISS's own IndexHNSW::search on the same
// graph: the same walk, so the same neighbours in the same order, except
// where two similarities tie to within the kernels' rounding.
#include "internal/hnsw_search.h"

#include <cmath>
#include <cstring>
#include <array>
#include <functional>
#include <string>
#include <string_view>
#include <memory>
#include <utility>
#include <random>
#include <vector>

#include <catch2/catch.hpp>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <omp.h>

namespace router::internal {
namespace {

// `rows` unit vectors around 20 centres: HNSW needs structure to navigate
// (isotropic random vectors make it near-exhaustive, docs/performance.md).
std::vector<float> Clustered(int rows, int dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss;
  std::mt19937 centre_rng(1);  // the same centres for every call
  std::vector<float> centres(20 * dim);
  for (float& x : centres) x = gauss(centre_rng);
  std::vector<float> out(static_cast<size_t>(rows) * dim);
  for (int r = 0; r < rows; ++r) {
    const float* centre = centres.data() + (rng() % 20) * dim;
    float norm = 0.0f;
    for (int j = 0; j < dim; ++j) {
      out[r * dim + j] = centre[j] + 0.7f * gauss(rng);
      norm += out[r * dim + j] * out[r * dim + j];
    }
    for (int j = 0; j < dim; ++j) out[r * dim + j] /= std::sqrt(norm);
  }
  return out;
}

struct Comparison {
  double same_rank = 0.0;       // share of (query, rank) with the same label
  double max_difference = 0.0;  // of similarities at the same rank
  int missing = 0;              // labels -1 (in either)
};

Comparison Compare(const faiss::IndexHNSW& index, const std::vector<float>& queries, int k) {
  const int dim = index.d;
  const int count = static_cast<int>(queries.size()) / dim;
  std::vector<float> theirs_sim(k), ours_sim(k);
  std::vector<faiss::Index::idx_t> theirs(k), ours(k);
  Comparison c;
  int same = 0;
  const int previous_threads = omp_get_max_threads();
  omp_set_num_threads(1);
  for (int q = 0; q < count; ++q) {
    const float* query = queries.data() + q * dim;
    index.search(1, query, k, theirs_sim.data(), theirs.data());
    HnswSearch(index, query, k, ours_sim.data(), ours.data());
    for (int i = 0; i < k; ++i) {
      same += theirs[i] == ours[i];
      c.missing += (theirs[i] < 0) + (ours[i] < 0);
      if (theirs[i] >= 0 && ours[i] >= 0) {
        c.max_difference = std::max<double>(c.max_difference, std::abs(theirs_sim[i] - ours_sim[i]));
      }
    }
  }
  omp_set_num_threads(previous_threads);
  c.same_rank = static_cast<double>(same) / (count * k);
  return c;
}

TEST_CASE("HnswSearch walks FAISS's graph as FAISS does", "[hnsw]") {
  const int dim = 48;
  faiss::IndexHNSWFlat index(dim, 16, faiss::METRIC_INNER_PRODUCT);
  index.hnsw.efConstruction = 80;
  const std::vector<float> rows = Clustered(4000, dim, 2);
  index.add(4000, rows.data());
  REQUIRE(HnswSearchSupports(index));
  REQUIRE(index.hnsw.max_level >= 1);  // the upper-level descent is exercised
  const std::vector<float> queries = Clustered(100, dim, 3);

  SECTION("the default walk") {
    index.hnsw.efSearch = 64;
    const Comparison c = Compare(index, queries, 20);
    CHECK(c.same_rank >= 0.99);
    CHECK(c.max_difference < 1e-5);
    CHECK(c.missing == 0);
  }
  SECTION("efSearch below k: the beam widens to k") {
    index.hnsw.efSearch = 5;
    const Comparison c = Compare(index, queries, 30);
    CHECK(c.same_rank >= 0.99);
    CHECK(c.missing == 0);
  }
  SECTION("without the relative-distance rule: efSearch expansions") {
    index.hnsw.efSearch = 16;
    index.hnsw.check_relative_distance = false;
    const Comparison c = Compare(index, queries, 10);
    CHECK(c.same_rank >= 0.99);
  }
}

TEST_CASE("HnswSearch walks a graph over fp16 and 8-bit rows as FAISS does", "[hnsw]") {
  // Catches a misread code layout (a wrong half conversion, a code read
  // without its dimension's range, the 0.5 offset of FAISS's 8-bit codec
  // dropped from the constant): the similarities would no longer be those of
  // the decoded rows, and the walk would go elsewhere than FAISS's.
  const int dim = 40;
  const auto type = GENERATE(faiss::ScalarQuantizer::QT_fp16, faiss::ScalarQuantizer::QT_8bit);
  INFO((type == faiss::ScalarQuantizer::QT_fp16 ? "fp16" : "8-bit"));
  faiss::IndexHNSWSQ index(dim, type, 16, faiss::METRIC_INNER_PRODUCT);
  index.hnsw.efConstruction = 80;
  index.hnsw.efSearch = 64;
  const std::vector<float> rows = Clustered(3000, dim, 6);
  index.train(3000, rows.data());
  index.add(3000, rows.data());
  REQUIRE(HnswSearchSupports(index));
  const std::vector<float> queries = Clustered(80, dim, 7);
  const Comparison c = Compare(index, queries, 20);
  CHECK(c.same_rank >= 0.99);
  CHECK(c.max_difference < 1e-4);
  CHECK(c.missing == 0);

  // Each similarity is the query's with the row as its codes decode.
  std::vector<float> similarities(20), decoded(dim);
  std::vector<faiss::Index::idx_t> labels(20);
  HnswSearch(index, queries.data(), 20, similarities.data(), labels.data());
  for (int i = 0; i < 20; ++i) {
    REQUIRE(labels[i] >= 0);
    index.storage->reconstruct(labels[i], decoded.data());
    double dot = 0.0;
    for (int j = 0; j < dim; ++j) dot += double{queries[j]} * decoded[j];
    CHECK(similarities[i] == Approx(dot).margin(1e-5));
  }
}

TEST_CASE("HnswSearchSupports takes fp16 and per-dimension 8-bit storage only", "[hnsw]") {
  using SQ = faiss::ScalarQuantizer;
  CHECK(HnswSearchSupports(faiss::IndexHNSWSQ(8, SQ::QT_fp16, 4, faiss::METRIC_INNER_PRODUCT)));
  faiss::IndexHNSWSQ bytes(8, SQ::QT_8bit, 4, faiss::METRIC_INNER_PRODUCT);
  CHECK_FALSE(HnswSearchSupports(bytes));  // untrained: no ranges to decode with
  const std::vector<float> rows = Clustered(50, 8, 8);
  bytes.train(50, rows.data());
  CHECK(HnswSearchSupports(bytes));
  // Codes of another layout go through FAISS.
  CHECK_FALSE(HnswSearchSupports(
      faiss::IndexHNSWSQ(8, SQ::QT_8bit_uniform, 4, faiss::METRIC_INNER_PRODUCT)));
  CHECK_FALSE(
      HnswSearchSupports(faiss::IndexHNSWSQ(8, SQ::QT_4bit, 4, faiss::METRIC_INNER_PRODUCT)));
}

TEST_CASE("HnswIndexSound refuses graphs and rows the walk would read out of bounds",
          "[hnsw]") {
  // A saved file's index comes from FAISS's reader, which checks none of
  // this; each corruption below would make a search read outside the index.
  const int dim = 8, rows = 600;
  const std::vector<float> data = Clustered(rows, dim, 9);
  auto fresh = [&] {
    auto index = std::make_unique<faiss::IndexHNSWFlat>(dim, 4, faiss::METRIC_INNER_PRODUCT);
    index->add(rows, data.data());
    return index;
  };
  const char* problem = nullptr;
  REQUIRE(HnswIndexSound(*fresh(), &problem));
  faiss::IndexHNSWFlat empty(dim, 4, faiss::METRIC_INNER_PRODUCT);
  CHECK(HnswIndexSound(empty, &problem));

  const std::unique_ptr<faiss::IndexHNSWFlat> probe = fresh();
  REQUIRE(probe->hnsw.max_level >= 1);
  int upper = -1, ground = -1;  // a node with an upper level, one without
  for (int i = 0; i < rows; ++i) {
    if (probe->hnsw.levels[i] >= 2 && upper < 0) upper = i;
    if (probe->hnsw.levels[i] == 1 && ground < 0) ground = i;
  }
  REQUIRE(upper >= 0);
  REQUIRE(ground >= 0);
  using Corruption = std::pair<const char*, std::function<void(faiss::IndexHNSWFlat&)>>;
  const std::vector<Corruption> corruptions = {
      {"a neighbour past the last row", [&](auto& x) { x.hnsw.neighbors[3] = rows + 5; }},
      {"a neighbour below -1", [&](auto& x) { x.hnsw.neighbors[3] = -2; }},
      {"a level-1 neighbour that has level 0 only",
       [&](auto& x) {
         size_t begin = 0, end = 0;
         x.hnsw.neighbor_range(upper, 1, &begin, &end);
         x.hnsw.neighbors[begin] = ground;
       }},
      {"offsets one short", [&](auto& x) { x.hnsw.offsets.pop_back(); }},
      {"a level of 0", [&](auto& x) { x.hnsw.levels[ground] = 0; }},
      {"a level above the table", [&](auto& x) {
         x.hnsw.levels[ground] = static_cast<int>(x.hnsw.cum_nneighbor_per_level.size());
       }},
      {"the entry point past the last row", [&](auto& x) { x.hnsw.entry_point = rows; }},
      {"max_level above the entry point's", [&](auto& x) { ++x.hnsw.max_level; }},
      {"a NaN in a row", [&](auto& x) {
         reinterpret_cast<float*>(static_cast<faiss::IndexFlat*>(x.storage)->codes.data())[5] =
             std::nanf("");
       }},
  };
  for (const auto& [what, corrupt] : corruptions) {
    INFO(what);
    const std::unique_ptr<faiss::IndexHNSWFlat> index = fresh();
    corrupt(*index);
    problem = nullptr;
    CHECK_FALSE(HnswIndexSound(*index, &problem));
    CHECK(problem != nullptr);
  }

  // Compressed rows: an fp16 infinity.
  faiss::IndexHNSWSQ half(dim, faiss::ScalarQuantizer::QT_fp16, 4, faiss::METRIC_INNER_PRODUCT);
  half.train(rows, data.data());
  half.add(rows, data.data());
  CHECK(HnswIndexSound(half, &problem));
  auto& codes = static_cast<faiss::IndexScalarQuantizer*>(half.storage)->codes;
  codes[7 * 2] = 0x00;
  codes[7 * 2 + 1] = 0x7c;  // +inf, little-endian
  CHECK_FALSE(HnswIndexSound(half, &problem));
}

TEST_CASE("HnswSearch returns every row when k exceeds them, then -1", "[hnsw]") {
  const int dim = 8;
  faiss::IndexHNSWFlat index(dim, 4, faiss::METRIC_INNER_PRODUCT);
  const std::vector<float> rows = Clustered(12, dim, 4);
  index.add(12, rows.data());
  const std::vector<float> query = Clustered(1, dim, 5);
  std::vector<float> similarities(20);
  std::vector<faiss::Index::idx_t> labels(20);
  HnswSearch(index, query.data(), 20, similarities.data(), labels.data());
  std::vector<bool> seen(12, false);
  for (int i = 0; i < 12; ++i) {
    REQUIRE(labels[i] >= 0);
    REQUIRE(labels[i] < 12);
    CHECK_FALSE(seen[labels[i]]);
    seen[labels[i]] = true;
    if (i > 0) CHECK(similarities[i] <= similarities[i - 1]);  // nearest first
    float dot = 0.0f;
    for (int j = 0; j < dim; ++j) dot += query[j] * rows[labels[i] * dim + j];
    CHECK(similarities[i] == Approx(dot).margin(1e-5));
  }
  for (int i = 12; i < 20; ++i) CHECK(labels[i] == -1);
}

TEST_CASE("HnswSearch on an empty graph finds nothing", "[hnsw]") {
  faiss::IndexHNSWFlat index(4, 4, faiss::METRIC_INNER_PRODUCT);
  const float query[4] = {1, 0, 0, 0};
  float similarities[3];
  faiss::Index::idx_t labels[3];
  HnswSearch(index, query, 3, similarities, labels);
  for (auto label : labels) CHECK(label == -1);
}

TEST_CASE("HnswSearchSupports refuses what it does not search", "[hnsw]") {
  faiss::IndexHNSWFlat l2(4, 4);  // squared L2, not inner products
  CHECK_FALSE(HnswSearchSupports(l2));
  faiss::IndexHNSWFlat ip(4, 4, faiss::METRIC_INNER_PRODUCT);
  CHECK(HnswSearchSupports(ip));
  ip.hnsw.upper_beam = 2;
  CHECK_FALSE(HnswSearchSupports(ip));
}

std::string Serialised(const faiss::Index& index) {
  faiss::VectorIOWriter writer;
  faiss::write_index(&index, &writer);
  return std::string(writer.data.begin(), writer.data.end());
}

// Where a blob's graph tables start their counts: after the fourcc and the
// index header (37 bytes), each table's count, then its entries.
std::vector<size_t> TableCounts(const std::string& blob) {
  const size_t entry_bytes[] = {sizeof(double), sizeof(int), sizeof(int), sizeof(size_t),
                                sizeof(int)};
  std::vector<size_t> at;
  size_t offset = 4 + 4 + 8 + 8 + 8 + 1 + 4;
  for (size_t bytes : entry_bytes) {
    at.push_back(offset);
    uint64_t count = 0;
    std::memcpy(&count, blob.data() + offset, sizeof count);
    offset += sizeof count + count * bytes;
  }
  return at;
}

TEST_CASE("HnswBlobShaped takes what the library saves and refuses what FAISS would misread",
          "[hnsw]") {
  const int dim = 8, rows = 300;
  const std::vector<float> data = Clustered(rows, dim, 11);
  faiss::IndexHNSWFlat flat(dim, 4, faiss::METRIC_INNER_PRODUCT);
  flat.add(rows, data.data());
  faiss::IndexHNSWSQ half(dim, faiss::ScalarQuantizer::QT_fp16, 4, faiss::METRIC_INNER_PRODUCT);
  faiss::IndexHNSWSQ bytes(dim, faiss::ScalarQuantizer::QT_8bit, 4, faiss::METRIC_INNER_PRODUCT);
  for (faiss::IndexHNSWSQ* sq : {&half, &bytes}) {
    sq->train(rows, data.data());
    sq->add(rows, data.data());
  }
  const char* problem = nullptr;
  const std::string saved = Serialised(flat);
  CHECK(HnswBlobShaped(saved, dim, rows, &problem));
  CHECK(HnswBlobShaped(Serialised(half), dim, rows, &problem));
  CHECK(HnswBlobShaped(Serialised(bytes), dim, rows, &problem));
  // Another dimension or row count than the state's.
  CHECK_FALSE(HnswBlobShaped(saved, dim + 1, rows, &problem));
  CHECK_FALSE(HnswBlobShaped(saved, dim, rows - 1, &problem));
  // Every truncation, and one byte more.
  for (size_t size = 0; size < saved.size(); ++size) {
    INFO("cut to " << size << " bytes");
    REQUIRE_FALSE(HnswBlobShaped(std::string_view(saved).substr(0, size), dim, rows, &problem));
  }
  CHECK_FALSE(HnswBlobShaped(saved + '\0', dim, rows, &problem));

  auto corrupted = [&](size_t at, const auto& value) {
    std::string blob = saved;
    std::memcpy(blob.data() + at, &value, sizeof value);
    problem = nullptr;
    const bool shaped = HnswBlobShaped(blob, dim, rows, &problem);
    CHECK((shaped || problem != nullptr));
    return shaped;
  };
  // A table count FAISS would zero-fill before reading (2^39 neighbours: 2 TB).
  for (size_t at : TableCounts(saved)) {
    INFO("the table count at byte " << at);
    CHECK_FALSE(corrupted(at, uint64_t{1} << 39));
  }
  // An index nested in the index, as a stack-overflowing chain would begin.
  const size_t storage_at = saved.size() - (4 + 33 + 8 + sizeof(float) * rows * dim);
  REQUIRE(saved.compare(storage_at, 4, "IxFI") == 0);
  CHECK_FALSE(corrupted(storage_at, std::array<char, 4>{'I', 'H', 'N', 'f'}));
  CHECK_FALSE(corrupted(0, std::array<char, 4>{'I', 'x', 'F', 'I'}));  // not HNSW at all
  {  // rows one short of the header's count, the table's count agreeing
    std::string short_rows = saved.substr(0, saved.size() - sizeof(float) * dim);
    const uint64_t floats = static_cast<uint64_t>(rows - 1) * dim;
    std::memcpy(short_rows.data() + storage_at + 4 + 33, &floats, sizeof floats);
    CHECK_FALSE(HnswBlobShaped(short_rows, dim, rows, &problem));
  }
  CHECK_FALSE(corrupted(4 + 4 + 8 + 8 + 8, uint8_t{2}));                // is_trained, a bool
  CHECK_FALSE(corrupted(4 + 4 + 8 + 8 + 8 + 1, int32_t{1}));            // squared L2

  // 8-bit rows without their per-dimension ranges: FAISS would decode past
  // the end of `trained`.
  static_cast<faiss::IndexScalarQuantizer*>(bytes.storage)->sq.trained.resize(dim);
  CHECK_FALSE(HnswBlobShaped(Serialised(bytes), dim, rows, &problem));
  // Another quantiser (4-bit rows).
  faiss::IndexHNSWSQ four(dim, faiss::ScalarQuantizer::QT_4bit, 4, faiss::METRIC_INNER_PRODUCT);
  four.train(rows, data.data());
  four.add(rows, data.data());
  CHECK_FALSE(HnswBlobShaped(Serialised(four), dim, rows, &problem));
}

}  // namespace
}  // namespace router::internal
