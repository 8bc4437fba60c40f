#include "router/decision.h"

#include <string>

#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace router {
namespace {

nlohmann::json CandidateJson(const Candidate& candidate) {
  return {{"model", candidate.model},
          {"model_index", candidate.model_index},
          {"predicted_quality", candidate.predicted_quality},
          {"uncertainty", candidate.uncertainty},
          {"expected_cost_usd", candidate.expected_cost_usd},
          {"utility", candidate.utility}};
}

}  // namespace

std::string Decision::Explain() const {
  const Trace& t = trace;
  std::string text = fmt::format(
      "Chose {} (predicted quality {:.3f}, expected cost ${:.3g}) with the {} policy ({})",
      chosen.model, chosen.predicted_quality, chosen.expected_cost_usd, t.policy,
      t.policy_parameters);
  if (!t.router_kind.empty()) {
    text += fmt::format(" over {} estimates", t.router_kind);
    if (!t.evidence.empty()) {
      text += fmt::format(" from {} reference queries (nearest similarity {:.3f})",
                          t.evidence.size(), t.evidence.front().similarity);
    }
  }
  text += ".";
  if (ranked.size() > 1) {
    text += " Fallbacks in order:";
    for (size_t i = 1; i < ranked.size(); ++i) {
      text += fmt::format("{} {} (q {:.3f}, ${:.3g})", i == 1 ? "" : ",",
                          ranked[i].model, ranked[i].predicted_quality,
                          ranked[i].expected_cost_usd);
    }
    text += ".";
  }
  if (!t.excluded.empty()) {
    text += " Excluded:";
    for (size_t i = 0; i < t.excluded.size(); ++i) {
      text += fmt::format("{} {} ({})", i == 0 ? "" : ",", t.excluded[i].model,
                          t.excluded[i].reason);
    }
    text += ".";
  }
  if (!t.note.empty()) text += fmt::format(" Note: {}.", t.note);
  return text;
}

std::string Decision::ToJson() const {
  nlohmann::json ranked_json = nlohmann::json::array();
  for (const Candidate& candidate : ranked) ranked_json.push_back(CandidateJson(candidate));
  nlohmann::json excluded_json = nlohmann::json::array();
  for (const Exclusion& exclusion : trace.excluded) {
    excluded_json.push_back({{"model", exclusion.model}, {"reason", exclusion.reason}});
  }
  nlohmann::json evidence_json = nlohmann::json::array();
  for (const Evidence& evidence : trace.evidence) {
    evidence_json.push_back({{"id", evidence.id}, {"similarity", evidence.similarity}});
  }
  nlohmann::json json = {
      {"id", id},
      {"chosen", CandidateJson(chosen)},
      {"ranked", std::move(ranked_json)},
      {"trace",
       {{"router_kind", trace.router_kind},
        {"policy", trace.policy},
        {"policy_parameters", trace.policy_parameters},
        {"excluded", std::move(excluded_json)},
        {"evidence", std::move(evidence_json)},
        {"note", trace.note}}}};
  // Model names come from user data: replace invalid UTF-8 instead of throwing.
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace router
