// libFuzzer driver for the C ABI (router_c.h), used the way a careless host
// would: the input picks a sequence of calls and their arguments, including
// NULL handles and pointers, dimensions and capacities that do not match,
// unknown model names, NaN and infinite numbers, bad files and paths. Each
// input starts from a freshly loaded tiny router (its first byte picks the
// kind: knn, cluster, mf or linucb).
//
// Beyond "no crash, no leak, no sanitizer report" it checks the ABI's
// conventions on every call: the status is a known code; the last-error
// message is "" after success and non-empty after failure; out-parameters
// are left alone on failure; figures are finite and in range on success.
// Built with -DROUTER_FUZZ=ON (clang); run by scripts/fuzz.sh and, briefly, scripts/test.sh.
#include <fuzzer/FuzzedDataProvider.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "router_c.h"

namespace {

constexpr int kKinds = 4;
const char* const kKindNames[kKinds] = {"knn", "cluster", "mf", "linucb"};

struct Files {
  std::string dir;
  std::string dataset;            // a tiny JSONL dataset
  std::string saved[kKinds];      // a fitted router of each kind
  std::string garbage;            // not a router file
  std::string truncated;          // the first half of a router file
  std::string scratch;            // where save writes
};

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "capi_fuzz: %s (last error: '%s')\n", what, router_last_error_message());
  std::abort();
}

void WriteText(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(text.data(), 1, text.size(), f) != text.size()) Die("write");
  std::fclose(f);
}

std::string ReadText(const std::string& path) {
  std::string text;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) Die("read");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
  std::fclose(f);
  return text;
}

// Three topics with their own words; each of three models is right on one.
// Each row names its topic as its source, 10 rows each, so the cluster router
// classifies the sources and a request's task can name one.
std::string TinyDataset() {
  const char* words[3][4] = {{"python", "segfault", "compile", "pointer"},
                             {"poem", "sonnet", "rhyme", "verse"},
                             {"integral", "matrix", "prove", "theorem"}};
  const char* models[3] = {"coder", "writer", "mathematician"};
  const char* sources[3] = {"code", "poems", "math"};
  std::string text;
  for (int row = 0; row < 30; ++row) {
    const int topic = row % 3;
    std::string prompt;
    for (int w = 0; w < 5; ++w) {
      prompt += words[topic][(row + w) % 4];
      prompt += w % 2 ? " the " : " ";
    }
    text += "{\"id\": \"q" + std::to_string(row) + "\", \"prompt\": \"" + prompt +
            "\", \"source\": \"" + sources[topic] + "\", \"scores\": {";
    for (int m = 0; m < 3; ++m) {
      text += std::string(m ? ", " : "") + "\"" + models[m] + "\": " + (m == topic ? "1" : "0");
    }
    text += "}, \"costs\": {\"coder\": 0.001, \"writer\": 0.002, \"mathematician\": 0.004}}\n";
  }
  return text;
}

std::string TinyConfig(const char* kind) {
  return std::string("{\"router\": \"") + kind +
         "\", \"featurizer\": {\"word_buckets\": 32, \"char_buckets\": 32, \"dim\": 8},"
         " \"knn\": {\"k\": 5}, \"cluster\": {\"num_clusters\": 2},"
         " \"mf\": {\"hidden_dim\": 4, \"epochs\": 5, \"batch_size\": 8},"
         " \"linucb\": {\"context_dim\": 4}, \"policy\": {\"lambda\": 100}}";
}

const Files& TheFiles() {
  static const Files* files = [] {
    auto* f = new Files;
    char dir[] = "/tmp/router_capi_fuzz.XXXXXX";
    if (mkdtemp(dir) == nullptr) Die("mkdtemp");
    f->dir = dir;
    f->dataset = f->dir + "/tiny.jsonl";
    WriteText(f->dataset, TinyDataset());
    for (int k = 0; k < kKinds; ++k) {
      router_t* router = nullptr;
      f->saved[k] = f->dir + "/" + kKindNames[k] + ".router";
      if (router_create_from_dataset(f->dataset.c_str(), TinyConfig(kKindNames[k]).c_str(),
                                     &router) != ROUTER_OK ||
          router_save(router, f->saved[k].c_str()) != ROUTER_OK) {
        Die("cannot fit the tiny routers");
      }
      router_free(router);
    }
    f->garbage = f->dir + "/garbage.router";
    WriteText(f->garbage, "LROUTER\0 but not really a router file");
    f->truncated = f->dir + "/truncated.router";
    const std::string whole = ReadText(f->saved[0]);
    WriteText(f->truncated, whole.substr(0, whole.size() / 2));
    f->scratch = f->dir + "/scratch.router";
    return f;
  }();
  return *files;
}

// Checks the conventions every status-returning call keeps.
router_status_t Check(router_status_t status) {
  if (status < ROUTER_OK || status > ROUTER_UNAUTHENTICATED) Die("unknown status code");
  if (std::strcmp(router_status_name(status), "ROUTER_UNKNOWN_STATUS") == 0) Die("unnamed code");
  const char* message = router_last_error_message();
  if (message == nullptr) Die("NULL last error");
  if (status == ROUTER_OK && message[0] != '\0') Die("a message after success");
  if (status != ROUTER_OK && message[0] == '\0') Die("no message after a failure");
  // A failure from bad input is never a library bug.
  if (status == ROUTER_INTERNAL || status == ROUTER_UNKNOWN) Die("internal error");
  return status;
}

double PickDouble(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange(0, 11)) {
    case 0: return 0.0;
    case 1: return 1.0;
    case 2: return 0.5;
    case 3: return -1.0;
    case 4: return 2.0;
    case 5: return std::numeric_limits<double>::quiet_NaN();
    case 6: return std::numeric_limits<double>::infinity();
    case 7: return -std::numeric_limits<double>::infinity();
    case 8: return std::numeric_limits<double>::max();
    case 9: return std::numeric_limits<double>::denorm_min();
    case 10: return -0.0;
    default: return in.ConsumeFloatingPoint<double>();
  }
}

float PickFloat(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange(0, 5)) {
    case 0: return 0.0f;
    case 1: return in.ConsumeFloatingPointInRange(-1.0f, 1.0f);
    case 2: return std::numeric_limits<float>::quiet_NaN();
    case 3: return std::numeric_limits<float>::infinity();
    case 4: return std::numeric_limits<float>::max();
    default: return in.ConsumeFloatingPoint<float>();
  }
}

// A size near the router's: dim, dim +- 1, 0, or anything.
size_t PickSize(FuzzedDataProvider& in, size_t dim) {
  switch (in.ConsumeIntegralInRange(0, 5)) {
    case 0:
    case 1: return dim;
    case 2: return dim + 1;
    case 3: return dim > 0 ? dim - 1 : 0;
    case 4: return 0;
    default: return in.ConsumeIntegralInRange<size_t>(0, 4 * dim + 4);
  }
}

class Driver {
 public:
  Driver(FuzzedDataProvider& in, const Files& files) : in_(in), files_(files) {}
  ~Driver() {
    for (router_decision_t* d : decisions_) router_decision_free(d);
    if (sync_ != nullptr && free_router_first_) {
      // router_free stops a sync still attached; its handle then refuses.
      router_free(router_);
      if (Check(router_sync_now(sync_)) != ROUTER_FAILED_PRECONDITION) Die("sync after free");
      router_sync_stop(sync_);
      return;
    }
    router_sync_stop(sync_);
    router_free(router_);
  }

  void Run() {
    const int kind = in_.ConsumeIntegralInRange(0, kKinds - 1);
    if (Check(router_load(files_.saved[kind].c_str(), &router_)) != ROUTER_OK) Die("load");
    for (int step = 0; step < 64 && in_.remaining_bytes() > 0; ++step) Step();
  }

 private:
  // The router handle for a call: usually the live one, sometimes NULL.
  router_t* Router() { return in_.ConsumeIntegralInRange(0, 15) == 0 ? nullptr : router_; }
  int32_t Dim() {
    int32_t dim = 0;
    if (router_dim(router_, &dim) != ROUTER_OK || dim <= 0) Die("router_dim");
    return dim;
  }
  router_decision_t* Decision() {
    if (decisions_.empty() || in_.ConsumeIntegralInRange(0, 15) == 0) return nullptr;
    return decisions_[in_.ConsumeIntegralInRange<size_t>(0, decisions_.size() - 1)];
  }
  // A model name: one of the router's, unknown, empty, NULL or fuzz bytes.
  std::string name_;
  const char* ModelName() {
    switch (in_.ConsumeIntegralInRange(0, 5)) {
      case 0:
      case 1: {
        int32_t count = 0;
        if (router_model_count(router_, &count) != ROUTER_OK) Die("model_count");
        const char* name = nullptr;
        if (Check(router_model_name(router_, in_.ConsumeIntegralInRange(0, count - 1),
                                    &name)) != ROUTER_OK) {
          Die("model_name");
        }
        return name;
      }
      case 2: return "no-such-model";
      case 3: return "";
      case 4: return nullptr;
      default: name_ = in_.ConsumeRandomLengthString(32); return name_.c_str();
    }
  }
  const char* LoadPath() {
    switch (in_.ConsumeIntegralInRange(0, 8)) {
      case 0: return files_.saved[in_.ConsumeIntegralInRange(0, kKinds - 1)].c_str();
      case 1: return files_.garbage.c_str();
      case 2: return files_.truncated.c_str();
      case 3: return files_.scratch.c_str();  // present once a save succeeded
      case 4: return files_.dir.c_str();      // a directory
      case 5: return "/nonexistent/dir/x.router";
      case 6: return "";
      case 7: return nullptr;
      default: return "/proc/self/status";  // readable, not a router file
    }
  }
  void Keep(router_decision_t* decision) {
    if (decisions_.size() >= 8) {
      router_decision_free(decisions_.front());
      decisions_.erase(decisions_.begin());
    }
    decisions_.push_back(decision);
  }
  void CheckFigures(double quality, double cost) {
    if (!std::isfinite(quality) || quality < 0.0 || quality > 1.0) Die("quality out of range");
    if (!std::isfinite(cost) || cost < 0.0) Die("cost out of range");
  }

  void Step() {
    switch (in_.ConsumeIntegralInRange(0, 17)) {
      case 0: RouteText(); break;
      case 1: RouteVector(); break;
      case 2: RouteBatch(); break;
      case 3: EmbedText(); break;
      case 4: Models(); break;
      case 5: ReadDecision(); break;
      case 6: Buffers(); break;
      case 7:
        if (!decisions_.empty()) {
          router_decision_free(decisions_.back());
          decisions_.pop_back();
        }
        router_decision_free(nullptr);
        break;
      case 8: Feedback(); break;
      case 9: FeedbackVector(); break;
      case 10: Check(router_remove_model(Router(), ModelName())); break;
      case 11: SetPrice(); break;
      case 12: Save(); break;
      case 13: Check(router_reload(Router(), LoadPath())); break;
      case 14: Load(); break;
      case 15: Change(); break;
      case 16: RouteWith(); break;
      default: Create(); break;
    }
  }

  void RouteText() {
    const std::string text = in_.ConsumeRandomLengthString(512);
    router_decision_t* out = nullptr;
    const bool null_out = in_.ConsumeIntegralInRange(0, 15) == 0;
    const bool null_text = in_.ConsumeIntegralInRange(0, 15) == 0;
    if (Check(router_route_text(Router(), null_text ? nullptr : text.c_str(),
                                null_out ? nullptr : &out)) == ROUTER_OK) {
      if (out == nullptr) Die("route_text gave no decision");
      Keep(out);
    } else if (out != nullptr) {
      Die("route_text wrote its output on failure");
    }
  }

  void RouteVector() {
    const size_t dim = PickSize(in_, Dim());
    std::vector<float> vector(dim + 1);
    for (float& v : vector) v = PickFloat(in_);
    const int64_t tokens = in_.ConsumeIntegralInRange<int64_t>(-2, 1 << 20);
    router_decision_t* out = nullptr;
    const bool null_vector = in_.ConsumeIntegralInRange(0, 15) == 0;
    if (Check(router_route_vector(Router(), null_vector ? nullptr : vector.data(), dim, tokens,
                                  &out)) == ROUTER_OK) {
      Keep(out);
    } else if (out != nullptr) {
      Die("route_vector wrote its output on failure");
    }
  }

  void RouteBatch() {
    const size_t router_dim = Dim();
    const size_t dim = PickSize(in_, router_dim);
    const size_t stride = dim + in_.ConsumeIntegralInRange<size_t>(0, 2) -
                          (in_.ConsumeIntegralInRange(0, 7) == 0 && dim > 0 ? 1 : 0);
    const size_t count = in_.ConsumeIntegralInRange<size_t>(0, 6);
    // Room for `count` rows at the claimed stride: the ABI cannot check that.
    std::vector<float> vectors(count * std::max(stride, dim) + 1);
    for (float& v : vectors) v = in_.ConsumeBool() ? PickFloat(in_) : 0.25f;
    std::vector<int64_t> tokens(count);
    for (int64_t& t : tokens) t = in_.ConsumeIntegralInRange<int64_t>(-1, 100);
    std::vector<int32_t> index(count, -7);
    std::vector<double> quality(count, -7.0), cost(count, -7.0);
    const bool with_tokens = in_.ConsumeBool();
    const bool with_quality = in_.ConsumeBool();
    const bool with_cost = in_.ConsumeBool();
    const bool null_index = in_.ConsumeIntegralInRange(0, 15) == 0;
    if (Check(router_route_batch(Router(), in_.ConsumeIntegralInRange(0, 15) ? vectors.data()
                                                                              : nullptr,
                                 count, dim, stride, with_tokens ? tokens.data() : nullptr,
                                 null_index ? nullptr : index.data(),
                                 with_quality ? quality.data() : nullptr,
                                 with_cost ? cost.data() : nullptr)) != ROUTER_OK) {
      return;
    }
    int32_t models = 0;
    if (router_model_count(router_, &models) != ROUTER_OK) Die("model_count");
    for (size_t i = 0; i < count; ++i) {
      if (index[i] < 0 || index[i] >= models) Die("batch: model index out of range");
      CheckFigures(with_quality ? quality[i] : 0.5, with_cost ? cost[i] : 0.0);
    }
  }

  void EmbedText() {
    const std::string text = in_.ConsumeRandomLengthString(512);
    const size_t capacity = PickSize(in_, Dim());
    std::vector<float> out(capacity + 1, -7.0f);
    const bool null_out = in_.ConsumeIntegralInRange(0, 15) == 0;
    const router_status_t status =
        Check(router_embed_text(Router(), text.c_str(), null_out ? nullptr : out.data(),
                                capacity));
    if (status != ROUTER_OK) {
      for (float v : out) {
        if (v != -7.0f) Die("embed_text wrote its output on failure");
      }
      return;
    }
    for (int32_t i = 0; i < Dim(); ++i) {
      if (!std::isfinite(out[i])) Die("embed_text: non-finite element");
    }
  }

  void Models() {
    int32_t count = -7;
    if (Check(router_model_count(Router(), in_.ConsumeBool() ? &count : nullptr)) != ROUTER_OK) {
      if (count != -7) Die("model_count wrote its output on failure");
      return;
    }
    const char* name = "sentinel";
    const int32_t index = in_.ConsumeIntegralInRange<int32_t>(-2, count + 1);
    if (Check(router_model_name(Router(), index, in_.ConsumeBool() ? &name : nullptr)) ==
        ROUTER_OK) {
      if (name == nullptr || std::strlen(name) == 0) Die("model_name: empty");
    } else if (std::strcmp(name, "sentinel") != 0) {
      Die("model_name wrote its output on failure");
    }
  }

  void ReadDecision() {
    router_decision_t* d = Decision();
    const char* name = nullptr;
    int32_t index = 0, count = 0;
    double quality = 0.0, cost = 0.0;
    uint64_t id = 0;
    const bool ok = Check(router_decision_model(d, &name)) == ROUTER_OK &&
                    Check(router_decision_model_index(d, &index)) == ROUTER_OK &&
                    Check(router_decision_quality(d, &quality)) == ROUTER_OK &&
                    Check(router_decision_cost_usd(d, &cost)) == ROUTER_OK &&
                    Check(router_decision_fallback_count(d, &count)) == ROUTER_OK &&
                    Check(router_decision_id(d, &id)) == ROUTER_OK;
    if (!ok) {
      if (d != nullptr) Die("a decision accessor failed on a decision");
      return;
    }
    if (name == nullptr || index < 0 || count < 0) Die("bad decision");
    CheckFigures(quality, cost);
    const int32_t fallback = in_.ConsumeIntegralInRange<int32_t>(-1, count);
    const char* fallback_name = nullptr;
    const router_status_t status = Check(router_decision_fallback(d, fallback, &fallback_name));
    if ((status == ROUTER_OK) != (fallback >= 0 && fallback < count)) Die("fallback index");
    Check(router_decision_model(d, nullptr));
  }

  // explain / json with a fuzzer-chosen capacity: NUL-terminated, never
  // more than capacity bytes, a truncated text never splits a character.
  void Buffers() {
    router_decision_t* d = Decision();
    const bool json = in_.ConsumeBool();
    CheckTextBuffer([&](char* b, size_t capacity, size_t* needed) {
      return json ? router_decision_json(d, b, capacity, needed)
                  : router_decision_explain(d, b, capacity, needed);
    });
  }

  // Calls a function that writes text into a caller buffer, with a fuzzed
  // capacity, and checks the buffer contract.
  void CheckTextBuffer(const std::function<router_status_t(char*, size_t, size_t*)>& call) {
    const size_t capacity = in_.ConsumeIntegralInRange<size_t>(0, 300);
    std::vector<char> buf(capacity + 16, '\x7f');
    size_t needed = 0;
    const bool null_buf = in_.ConsumeIntegralInRange(0, 7) == 0;
    char* b = null_buf ? nullptr : buf.data();
    const router_status_t status = Check(call(b, capacity, &needed));
    if (status != ROUTER_OK) return;
    if (needed == 0) Die("needed is 0");
    for (size_t i = capacity; i < buf.size(); ++i) {
      if (buf[i] != '\x7f') Die("wrote past the capacity");
    }
    if (capacity == 0 || b == nullptr) return;
    const size_t length = std::strlen(buf.data());
    if (length >= capacity || length + 1 > needed) Die("bad length");
    if (length + 1 < needed) {
      // Truncated: the cut must not leave a partial UTF-8 sequence.
      size_t i = length;
      int continuation = 0;
      while (i > 0 && (static_cast<unsigned char>(buf[i - 1]) & 0xC0) == 0x80) {
        --i;
        ++continuation;
      }
      if (i > 0) {
        const unsigned char lead = static_cast<unsigned char>(buf[i - 1]);
        const int expected = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
        if (continuation != expected) Die("truncation split a character");
      }
    }
  }

  void Feedback() {
    uint64_t id = in_.ConsumeIntegral<uint64_t>();
    if (in_.ConsumeBool()) {
      if (router_decision_t* d = Decision()) router_decision_id(d, &id);
    }
    Check(router_feedback(Router(), id, PickDouble(in_), PickDouble(in_)));
  }

  void FeedbackVector() {
    const size_t dim = PickSize(in_, Dim());
    std::vector<float> vector(dim + 1);
    for (float& v : vector) v = PickFloat(in_);
    const bool null_vector = in_.ConsumeIntegralInRange(0, 15) == 0;
    const char* model = ModelName();
    Check(router_feedback_vector(Router(), null_vector ? nullptr : vector.data(), dim, model,
                                 PickDouble(in_), PickDouble(in_)));
  }

  // The run-time changes beside removal and prices, the policy state, and
  // state sync.
  void Change() {
    switch (in_.ConsumeIntegralInRange(0, 5)) {
      case 0: AddModel(); break;
      case 1:
        Check(router_set_model_available(Router(), ModelName(), in_.ConsumeIntegral<int32_t>()));
        break;
      case 2: Check(router_set_policy(Router(), PolicyJson())); break;
      case 3: Calibrate(); break;
      case 4: Sync(); break;
      default:
        CheckTextBuffer([&](char* b, size_t capacity, size_t* needed) {
          return router_policy_state_json(Router(), b, capacity, needed);
        });
        break;
    }
  }

  // The sync handle for a call: usually the live one (maybe none), sometimes NULL.
  router_sync_t* SyncHandle() { return in_.ConsumeIntegralInRange(0, 15) == 0 ? nullptr : sync_; }

  // State sync through an in-process store (or an unreachable Redis): start
  // with good and bad options, rounds, the status, folding another
  // replica's row, stop.
  std::string sync_options_;
  std::string fold_id_;
  void Sync() {
    switch (in_.ConsumeIntegralInRange(0, 4)) {
      case 0: {
        switch (in_.ConsumeIntegralInRange(0, 6)) {
          case 0:
          case 1:
            sync_options_ = R"({"replica_id": "r)" +
                            std::to_string(in_.ConsumeIntegralInRange(0, 2)) +
                            R"(", "store": "memory:fuzz", "interval_ms": 0})";
            break;
          case 2: sync_options_ = R"({"replica_id": "t", "store": "memory:fuzz"})"; break;
          case 3:
            sync_options_ = R"({"replica_id": "r", "store": "redis", "interval_ms": 0,
                                "redis": {"port": 1, "timeout_ms": 50,
                                          "password": "fuzz-secret-pw"}})";
            break;
          case 4: sync_options_ = R"({"replica_id": "r", "store": "memory:fuzz", "x": 1})"; break;
          default: sync_options_ = in_.ConsumeRandomLengthString(128); break;
        }
        router_sync_t* started = reinterpret_cast<router_sync_t*>(0x1);
        const bool null_options = in_.ConsumeIntegralInRange(0, 15) == 0;
        const router_status_t status = Check(router_sync_start(
            Router(), null_options ? nullptr : sync_options_.c_str(), &started));
        if (status != ROUTER_OK) {
          if (started != nullptr) Die("a failed sync start left a handle");
          if (std::strstr(router_last_error_message(), "fuzz-secret-pw") != nullptr) {
            Die("echoed a password");
          }
          if (status == ROUTER_FAILED_PRECONDITION && !synced_) Die("the router never synced");
          return;
        }
        if (synced_) Die("a second sync started on one router");
        sync_ = started;
        synced_ = true;
        free_router_first_ = in_.ConsumeBool();
        break;
      }
      case 1: {
        const router_status_t status = Check(router_sync_now(SyncHandle()));
        if (status != ROUTER_OK && status != ROUTER_UNAVAILABLE &&
            status != ROUTER_INVALID_ARGUMENT) {
          Die("sync_now: an unexpected status");
        }
        break;
      }
      case 2:
        CheckTextBuffer([&](char* b, size_t capacity, size_t* needed) {
          return router_sync_status_json(SyncHandle(), b, capacity, needed);
        });
        break;
      case 3: {
        // A replica of the shared store ("r0".."r2", "t"), or fuzz bytes.
        const int pick = in_.ConsumeIntegralInRange(0, 5);
        fold_id_ = pick < 3 ? "r" + std::to_string(pick)
                   : pick == 3 ? std::string("t")
                               : in_.ConsumeRandomLengthString(140);
        const bool null_id = in_.ConsumeIntegralInRange(0, 15) == 0;
        const router_status_t status =
            Check(router_sync_fold(SyncHandle(), null_id ? nullptr : fold_id_.c_str()));
        if (status != ROUTER_OK && status != ROUTER_INVALID_ARGUMENT &&
            status != ROUTER_NOT_FOUND && status != ROUTER_FAILED_PRECONDITION &&
            status != ROUTER_UNAVAILABLE && status != ROUTER_ABORTED &&
            status != ROUTER_DATA_LOSS) {
          Die("sync_fold: an unexpected status");
        }
        break;
      }
      default:
        router_sync_stop(sync_);
        sync_ = nullptr;
        break;
    }
  }

  // A policy: valid ones of each kind (naming the router's models or not),
  // or fuzz bytes.
  std::string policy_;
  const char* PolicyJson() {
    switch (in_.ConsumeIntegralInRange(0, 6)) {
      case 0:
        return R"({"kind": "max_utility", "lambda": 500,
                   "budget_classes": {"a": {"lambda": 1e6}}})";
      case 1: return R"({"kind": "quality_floor", "tau": 0.6})";
      case 2: return R"({"kind": "budget", "target_cost_usd": 0.0005})";
      case 3: {
        const char* strong = ModelName();
        const std::string strong_name = strong == nullptr ? "" : strong;
        const char* weak = ModelName();
        policy_ = std::string(R"({"kind": "threshold", "strong": ")") + strong_name +
                  R"(", "weak": ")" + (weak == nullptr ? "" : weak) + R"(", "threshold": 0.5})";
        return policy_.c_str();
      }
      case 4: return nullptr;
      default: policy_ = in_.ConsumeRandomLengthString(128); return policy_.c_str();
    }
  }

  void AddModel() {
    const size_t router_dim = Dim();
    const size_t dim = PickSize(in_, router_dim);
    const size_t count = in_.ConsumeIntegralInRange<size_t>(0, 6);
    std::vector<float> vectors(count * dim + 1);
    for (float& v : vectors) v = in_.ConsumeBool() ? PickFloat(in_) : 0.25f;
    std::vector<double> scores(count + 1), costs(count + 1);
    for (double& s : scores) s = in_.ConsumeBool() ? PickDouble(in_) : 0.5;
    for (double& c : costs) c = in_.ConsumeBool() ? PickDouble(in_) : 0.001;
    std::string profile;
    if (in_.ConsumeBool()) {
      profile = R"({"name": "added-)" + std::to_string(in_.ConsumeIntegralInRange(0, 3)) +
                R"(", "input_usd_per_mtok": 0.1, "output_usd_per_mtok": 0.2})";
    } else {
      profile = in_.ConsumeRandomLengthString(96);
    }
    Check(router_add_model(Router(), in_.ConsumeIntegralInRange(0, 15) ? profile.c_str() : nullptr,
                           in_.ConsumeIntegralInRange(0, 15) ? vectors.data() : nullptr, count,
                           dim, in_.ConsumeIntegralInRange(0, 15) ? scores.data() : nullptr,
                           in_.ConsumeBool() ? costs.data() : nullptr));
  }

  void Calibrate() {
    const size_t dim = PickSize(in_, Dim());
    const size_t count = in_.ConsumeIntegralInRange<size_t>(0, 6);
    std::vector<float> vectors(count * dim + 1);
    for (float& v : vectors) v = in_.ConsumeBool() ? PickFloat(in_) : 0.25f;
    double threshold = -7.0;
    if (Check(router_calibrate_threshold(Router(), vectors.data(), count, dim, PickDouble(in_),
                                         in_.ConsumeBool() ? &threshold : nullptr)) ==
            ROUTER_OK &&
        !std::isfinite(threshold) && threshold != -7.0) {
      Die("calibrated a non-finite threshold");
    }
  }

  // Routes a text or a vector with per-request overrides.
  void RouteWith() {
    router_route_options_t options;
    std::memset(&options, 0, sizeof(options));
    switch (in_.ConsumeIntegralInRange(0, 7)) {
      case 0: options.struct_size = in_.ConsumeIntegral<uint32_t>(); break;
      case 1:  // the first layout, without `task`
        options.struct_size = static_cast<uint32_t>(offsetof(router_route_options_t, task));
        break;
      default: options.struct_size = static_cast<uint32_t>(sizeof(options)); break;
    }
    options.flags = in_.ConsumeIntegral<uint32_t>() & 7u;
    options.lambda = PickDouble(in_);
    options.tau = PickDouble(in_);
    const char* allowed[3] = {ModelName(), ModelName(), ModelName()};
    if (in_.ConsumeBool()) {
      options.allowed_models = allowed;
      options.allowed_model_count = in_.ConsumeIntegralInRange<size_t>(0, 3);
    }
    std::string budget_class;
    switch (in_.ConsumeIntegralInRange(0, 3)) {
      case 0: options.budget_class = "no-such-class"; break;
      case 1:
        budget_class = in_.ConsumeRandomLengthString(16);
        options.budget_class = budget_class.c_str();
        break;
      default: break;
    }
    std::string task;
    switch (in_.ConsumeIntegralInRange(0, 3)) {
      case 0: options.task = "poems"; break;
      case 1:
        task = in_.ConsumeRandomLengthString(16);
        options.task = task.c_str();
        break;
      default: break;
    }
    const router_route_options_t* with = in_.ConsumeIntegralInRange(0, 15) ? &options : nullptr;
    router_decision_t* out = nullptr;
    router_status_t status;
    if (in_.ConsumeBool()) {
      const std::string text = in_.ConsumeRandomLengthString(256);
      status = Check(router_route_text_with(Router(), text.c_str(), with, &out));
    } else {
      const size_t dim = PickSize(in_, Dim());
      std::vector<float> vector(dim + 1);
      for (float& v : vector) v = in_.ConsumeBool() ? PickFloat(in_) : 0.25f;
      status = Check(router_route_vector_with(Router(), vector.data(), dim,
                                              in_.ConsumeIntegralInRange<int64_t>(-1, 1000), with,
                                              &out));
    }
    if (status == ROUTER_OK) {
      if (out == nullptr) Die("route_with gave no decision");
      Keep(out);
    } else if (out != nullptr) {
      Die("route_with wrote its output on failure");
    }
  }

  // Prices set and read back, and realised costs reported.
  void SetPrice() {
    const char* model = ModelName();
    switch (in_.ConsumeIntegralInRange(0, 2)) {
      case 0:
        Check(router_set_model_price(Router(), model, PickDouble(in_), PickDouble(in_)));
        break;
      case 1: {
        double input = -1.0, output = -1.0;
        const bool null_out = in_.ConsumeIntegralInRange(0, 7) == 0;
        if (Check(router_model_price(Router(), model, null_out ? nullptr : &input, &output)) ==
                ROUTER_OK &&
            !(input >= 0.0 && output >= 0.0 && std::isfinite(input) && std::isfinite(output))) {
          Die("model_price gave a price that cannot be");
        }
        break;
      }
      default:
        Check(router_record_cost(Router(), PickDouble(in_), PickDouble(in_)));
        break;
    }
  }

  void Save() {
    const char* path = nullptr;
    switch (in_.ConsumeIntegralInRange(0, 5)) {
      case 0:
      case 1: path = files_.scratch.c_str(); break;
      case 2: path = "/nonexistent/dir/x.router"; break;
      case 3: path = "/proc/self/x.router"; break;
      case 4: path = files_.dir.c_str(); break;  // a directory
      default: path = nullptr; break;
    }
    if (Check(router_save(Router(), path)) == ROUTER_OK) {
      router_t* copy = nullptr;
      if (Check(router_load(path, &copy)) != ROUTER_OK) Die("a saved router does not load");
      router_free(copy);
    }
  }

  void Load() {
    router_t* loaded = reinterpret_cast<router_t*>(0x1);
    const bool null_out = in_.ConsumeIntegralInRange(0, 7) == 0;
    const router_status_t status = Check(router_load(LoadPath(), null_out ? nullptr : &loaded));
    if (null_out) return;
    if (status != ROUTER_OK && loaded != nullptr) Die("a failed load left a handle");
    router_free(loaded);
  }

  // Fitting is slow next to everything else, so only on the tiny dataset
  // and with a few configs, some of them bad.
  void Create() {
    std::string config;
    const char* config_json = nullptr;
    switch (in_.ConsumeIntegralInRange(0, 6)) {
      case 0: config = TinyConfig(kKindNames[in_.ConsumeIntegralInRange(0, kKinds - 1)]); break;
      case 1: config = "{"; break;
      case 2: config = "{\"routr\": \"knn\"}"; break;
      case 3: config = "{\"router\": \"nope\"}"; break;
      case 4: config = "[]"; break;
      case 5: config = ""; break;
      default: config = "\"\\ud800\""; break;
    }
    config_json = in_.ConsumeIntegralInRange(0, 7) == 0 ? nullptr : config.c_str();
    const char* dataset = nullptr;
    switch (in_.ConsumeIntegralInRange(0, 3)) {
      case 0: dataset = files_.dataset.c_str(); break;
      case 1: dataset = files_.garbage.c_str(); break;
      case 2: dataset = "/nonexistent.jsonl"; break;
      default: dataset = nullptr; break;
    }
    // The default config fits a 256-d featurizer with k = 40: fine on 24
    // rows, just slower; keep it to the tiny config when the dataset is real.
    if (dataset == files_.dataset.c_str() && (config_json == nullptr || config.empty())) return;
    router_t* created = reinterpret_cast<router_t*>(0x1);
    const router_status_t status =
        in_.ConsumeBool() ? Check(router_create_from_dataset(dataset, config_json, &created))
                          : Check(router_create_from_dataset_with_vectors(
                                dataset, "/nonexistent.npy", config_json, &created));
    if (status != ROUTER_OK && created != nullptr) Die("a failed create left a handle");
    router_free(created);
  }

  FuzzedDataProvider& in_;
  const Files& files_;
  router_t* router_ = nullptr;
  std::vector<router_decision_t*> decisions_;
  router_sync_t* sync_ = nullptr;
  bool synced_ = false;             // router_ has had a sync (a router syncs once)
  bool free_router_first_ = false;  // the destructor frees the router before its sync
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Files& files = TheFiles();
  ::unlink(files.scratch.c_str());  // each input starts without a saved copy
  FuzzedDataProvider in(data, size);
  Driver driver(in, files);
  driver.Run();
  // Functions that cannot fail.
  if (router_abi_version() != ROUTER_ABI_VERSION) Die("abi version");
  if (router_version_number() != ROUTER_C_VERSION_NUMBER) Die("version number");
  if (router_version_string() == nullptr) Die("version string");
  return 0;
}
