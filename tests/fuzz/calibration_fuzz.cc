// libFuzzer target for QualityCalibrator::LoadState, the per-model maps
// (isotonic or Platt) a pipeline file's "calibration" section carries. No input may crash it. An input it
// accepts must map every prediction to a finite value, non-decreasing in the
// prediction, and save to bytes of the same size that load and save again to
// themselves; an input it refuses must leave the calibrator as it was.
// Built with -DROUTER_FUZZ=ON (clang); run by scripts/test.sh --full.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "router/calibration.h"

namespace {

// A calibrator fitted once, whose saved bytes must survive every refused
// input unchanged.
const std::string& KnownState() {
  static const std::string* state = [] {
    router::QualityCalibrator calibrator;
    const std::vector<double> predicted = {0.1, 0.4, 0.5, 0.8};
    const std::vector<double> realised = {0.0, 1.0, 0.0, 1.0};
    if (!calibrator.FitModel("model-a", predicted, realised).ok()) std::abort();
    auto* saved = new std::string;
    if (!calibrator.SaveState(saved).ok()) std::abort();
    return saved;
  }();
  return *state;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  router::QualityCalibrator calibrator;
  if (!calibrator.LoadState(KnownState()).ok()) std::abort();
  if (!calibrator.LoadState(input).ok()) {
    std::string after;
    if (!calibrator.SaveState(&after).ok() || after != KnownState()) std::abort();
    return 0;
  }
  // Saving gives the canonical bytes (models in name order), which load and
  // save again to themselves.
  std::string saved, again;
  router::QualityCalibrator reloaded;
  if (!calibrator.SaveState(&saved).ok() || saved.size() != input.size() ||
      !reloaded.LoadState(saved).ok() || !reloaded.SaveState(&again).ok() || again != saved) {
    std::abort();
  }
  // The first model's name: after the u32 version and the u64 model count,
  // a u64 length and the bytes (router/internal/byte_stream.h).
  std::string first;
  if (calibrator.size() > 0) {
    uint64_t length = 0;
    std::memcpy(&length, input.data() + 12, sizeof(length));
    first = std::string(input.substr(20, length));
  }
  for (const std::string& model : {std::string("model-a"), first}) {
    const router::MonotoneCalibrator* map = calibrator.Find(model);
    if (map == nullptr) continue;
    double previous = -INFINITY;
    for (double p = -0.25; p <= 1.25; p += 0.125) {
      const double value = map->Apply(p);
      if (!std::isfinite(value) || value < previous) std::abort();
      previous = value;
    }
  }
  return 0;
}
