// libFuzzer target for TextFeaturizer::Embed: arbitrary bytes (invalid UTF-8,
// NULs, huge words) must embed to a finite vector of norm 1 or 0, or be
// rejected with a status.
// Built with -DROUTER_FUZZ=ON (clang); run by scripts/fuzz.sh and, briefly, scripts/test.sh.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "router/synthetic.h"
#include "router/text_featurizer.h"

namespace {

const router::TextFeaturizer& Featurizer() {
  static const router::TextFeaturizer* featurizer = [] {
    auto* f = new router::TextFeaturizer(router::TextFeaturizerOptions{.dim = 32});
    router::SyntheticData data = router::GenerateSynthetic({.rows = 300});
    if (!f->Fit(data.dataset.prompts).ok()) std::abort();
    return f;
  }();
  return *featurizer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const router::TextFeaturizer& featurizer = Featurizer();
  std::vector<float> out(featurizer.dim());
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!featurizer.Embed(text, absl::MakeSpan(out)).ok()) return 0;
  double norm_sq = 0.0;
  for (float v : out) {
    if (!std::isfinite(v)) std::abort();
    norm_sq += static_cast<double>(v) * v;
  }
  if (norm_sq != 0.0 && std::abs(norm_sq - 1.0) > 1e-3) std::abort();
  return 0;
}
