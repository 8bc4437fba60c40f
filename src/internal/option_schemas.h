// The schemas of the options structs (internal/options_schema.h), one per
// struct, declared once in option_schemas.cc. They drive the JSON config in
// and out (pipeline_config.cc), range validation, and the reference table of
// docs/configuration.md (ConfigReferenceMarkdown, checked by a test).
//
// This header does not pull in nlohmann/json: components that only validate
// include it and call CheckRanges.
#ifndef ROUTER_INTERNAL_OPTION_SCHEMAS_H_
#define ROUTER_INTERNAL_OPTION_SCHEMAS_H_

#include "absl/status/status.h"
#include "router/budget_pacing_policy.h"
#include "router/cluster_router.h"
#include "router/constraints.h"
#include "router/knn_router.h"
#include "router/limits.h"
#include "router/linucb_router.h"
#include "router/max_utility_policy.h"
#include "router/mf_options.h"
#include "router/pipeline_config.h"
#include "router/profile.h"
#include "router/quality_floor_policy.h"
#include "router/stacked_router.h"
#include "router/text_featurizer.h"
#include "router/threshold_policy.h"

namespace router::internal {

template <typename Options>
class OptionsSchema;
class ByteReader;
class ByteWriter;

const OptionsSchema<KnnOptions>& KnnOptionsSchema();
const OptionsSchema<ClusterOptions>& ClusterOptionsSchema();
const OptionsSchema<MfOptions>& MfOptionsSchema();
const OptionsSchema<LinUcbOptions>& LinUcbOptionsSchema();
const OptionsSchema<StackedOptions>& StackedOptionsSchema();
const OptionsSchema<TextFeaturizerOptions>& TextFeaturizerOptionsSchema();
const OptionsSchema<Limits>& LimitsSchema();
const OptionsSchema<CalibrationConfig>& CalibrationConfigSchema();
const OptionsSchema<Constraints>& ConstraintsSchema();
const OptionsSchema<Profile>& ProfileSchema();
const OptionsSchema<PacingState>& PacingStateSchema();
// The policy kinds' own options (their keys sit in the "policy" object).
const OptionsSchema<MaxUtilityOptions>& MaxUtilityOptionsSchema();
const OptionsSchema<QualityFloorOptions>& QualityFloorOptionsSchema();
const OptionsSchema<BudgetPacingOptions>& BudgetPacingOptionsSchema();
const OptionsSchema<ThresholdOptions>& ThresholdOptionsSchema();

// InvalidArgument naming the first field outside its declared range
// ("linucb.ridge must be > 0, got -1").
absl::Status CheckRanges(const KnnOptions& options);
absl::Status CheckRanges(const ClusterOptions& options);
absl::Status CheckRanges(const MfOptions& options);
absl::Status CheckRanges(const LinUcbOptions& options);
absl::Status CheckRanges(const StackedOptions& options);
absl::Status CheckRanges(const TextFeaturizerOptions& options);
absl::Status CheckRanges(const Limits& limits);

// A router's options in its binary state (state version 2 on): the
// schema's JSON object, as a length-prefixed string, so an option added to
// the schema needs no state code. GetOptions reads the saved keys over
// `*out` (a key added since the state was written keeps its value there),
// refuses unknown keys and values out of range through `r`'s sticky error,
// and leaves `*out` unchanged on failure.
void PutOptions(const KnnOptions& options, ByteWriter* w);
void PutOptions(const ClusterOptions& options, ByteWriter* w);
void PutOptions(const MfOptions& options, ByteWriter* w);
void PutOptions(const LinUcbOptions& options, ByteWriter* w);
void PutOptions(const StackedOptions& options, ByteWriter* w);
bool GetOptions(ByteReader* r, KnnOptions* out);
bool GetOptions(ByteReader* r, ClusterOptions* out);
bool GetOptions(ByteReader* r, MfOptions* out);
bool GetOptions(ByteReader* r, LinUcbOptions* out);
bool GetOptions(ByteReader* r, StackedOptions* out);

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_OPTION_SCHEMAS_H_
