// `router route`: loads a model file and routes prompts given as arguments
// or read from stdin, writing one JSON object per prompt.
#include <cstdio>
#include <iostream>
#include <string>

#include "args.h"
#include "cli.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "router/max_utility_policy.h"
#include "router/pipeline.h"
#include "router/quality_floor_policy.h"

namespace router::cli {
namespace {

using Json = nlohmann::ordered_json;
constexpr const char* kCommand = "route";

const std::vector<FlagSpec>& Flags() {
  static const std::vector<FlagSpec> flags = {
      {"model", "m", "FILE", "model file written by 'router fit' (required)"},
      {"stdin", "", "", "read prompts from stdin, one per line: JSON objects\n"
                        "{\"prompt\": ...} (or {\"vector\": [...]}, and an optional \"id\"\n"
                        "echoed back), or plain text lines"},
      {"lambda", "", "X", "use the max_utility policy with this lambda (quality per USD)"},
      {"tau", "", "X", "use the quality_floor policy with this floor in [0, 1]"},
      {"explain", "", "", "add a readable explanation of each decision"},
  };
  return flags;
}

// One input: text to embed, or a vector; `id` is echoed when not null.
struct Request {
  Json id;
  std::string prompt;
  std::vector<float> vector;
  bool has_vector = false;
};

// Parses one stdin line; `error` is set when the line is JSON we cannot use.
Request ParseLine(const std::string& line, std::string* error) {
  Request request;
  const size_t first = line.find_first_not_of(" \t");
  if (first == std::string::npos || line[first] != '{') {
    request.prompt = line;
    if (!request.prompt.empty() && request.prompt.back() == '\r') request.prompt.pop_back();
    return request;
  }
  const Json json = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    *error = "not valid JSON";
    return request;
  }
  if (json.contains("id")) request.id = json["id"];
  if (json.contains("vector")) {
    if (!json["vector"].is_array()) {
      *error = "'vector' must be an array of numbers";
      return request;
    }
    for (const Json& v : json["vector"]) {
      if (!v.is_number()) {
        *error = "'vector' must be an array of numbers";
        return request;
      }
      request.vector.push_back(v.get<float>());
    }
    request.has_vector = true;
  } else if (json.contains("prompt") && json["prompt"].is_string()) {
    request.prompt = json["prompt"].get<std::string>();
  } else {
    *error = "needs a string field 'prompt' (or an array 'vector')";
  }
  return request;
}

// Routes one request and prints its JSON line; false when routing failed.
bool RouteOne(const Pipeline& pipeline, const Request& request, const std::string& where,
              bool explain) {
  Decision decision;
  absl::Status status;
  if (request.has_vector) {
    Query query;
    query.vector = request.vector;
    status = pipeline.Route(query, &decision);
  } else {
    status = pipeline.RouteText(request.prompt, &decision);
  }
  Json out;
  if (!request.id.is_null()) out["id"] = request.id;
  if (!status.ok()) {
    out["error"] = fmt::format("{}: {}", where, std::string(status.message()));
    std::fprintf(stderr, "router route: %s: %s\n", where.c_str(),
                 std::string(status.message()).c_str());
  } else {
    out["model"] = decision.chosen.model;
    out["predicted_quality"] = decision.chosen.predicted_quality;
    out["expected_cost_usd"] = decision.chosen.expected_cost_usd;
    Json fallbacks = Json::array();
    for (const Candidate& c : decision.Fallbacks()) fallbacks.push_back(c.model);
    out["fallbacks"] = std::move(fallbacks);
    if (explain) out["explanation"] = decision.Explain();
    out["decision"] = Json::parse(decision.ToJson());
  }
  std::puts(out.dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
  std::fflush(stdout);  // one line per prompt, as it is routed
  return status.ok();
}

std::string Help() {
  return FormatHelp(
      "router route -m MODEL [options] \"prompt\" ...  |  --stdin",
      "Routes each prompt with a saved model and prints one JSON object\n"
      "per prompt: the chosen model, its predicted quality and cost, the\n"
      "fallbacks in order, and the full decision with its trace.",
      Flags());
}

}  // namespace

int RunRoute(int argc, char** argv) {
  Args args;
  if (auto done = ParseCommandArgs(kCommand, argc, argv, Flags(), Help(), &args)) {
    return *done;
  }
  if (!args.Has("model")) return Fail(kCommand, kExitUsage, "-m/--model FILE is required");
  const bool from_stdin = args.Has("stdin");
  if (from_stdin == !args.positional().empty()) {
    return Fail(kCommand, kExitUsage, "give prompts as arguments or --stdin (one of the two)");
  }
  if (args.Has("lambda") && args.Has("tau")) {
    return Fail(kCommand, kExitUsage, "--lambda and --tau choose different policies; give one");
  }
  auto lambda = args.GetDouble("lambda", 0.0);
  auto tau = args.GetDouble("tau", 0.0);
  if (!lambda.ok()) return Fail(kCommand, kExitUsage, lambda.status());
  if (!tau.ok()) return Fail(kCommand, kExitUsage, tau.status());

  auto loaded = Pipeline::Load(args.Get("model"));
  if (!loaded.ok()) return Fail(kCommand, InputOrInternal(loaded.status()), loaded.status());
  if (args.Has("lambda") || args.Has("tau")) {
    // The file's policy with another kind: its constraints, optimism and
    // budget classes stay.
    PolicyConfig policy = (*loaded)->config().policy;
    if (args.Has("lambda")) {
      policy.Set(MaxUtilityOptions{.lambda = *lambda});
    } else {
      policy.Set(QualityFloorOptions{.tau = *tau});
    }
    auto changed = (*loaded)->WithPolicy(policy);
    if (!changed.ok()) return Fail(kCommand, kExitUsage, changed.status());
    loaded = *std::move(changed);
  }
  const Pipeline& pipeline = **loaded;
  const bool explain = args.Has("explain");

  bool all_ok = true;
  if (!from_stdin) {
    for (size_t i = 0; i < args.positional().size(); ++i) {
      Request request;
      request.prompt = args.positional()[i];
      all_ok &= RouteOne(pipeline, request, fmt::format("argument {}", i + 1), explain);
    }
  } else {
    std::string line;
    for (int64_t number = 1; std::getline(std::cin, line); ++number) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      std::string error;
      Request request = ParseLine(line, &error);
      const std::string where = fmt::format("<stdin>:{}", number);
      if (!error.empty()) {
        std::fprintf(stderr, "router route: %s: %s\n", where.c_str(), error.c_str());
        Json out = {{"error", fmt::format("{}: {}", where, error)}};
        std::puts(out.dump().c_str());
        all_ok = false;
        continue;
      }
      all_ok &= RouteOne(pipeline, request, where, explain);
    }
  }
  return all_ok ? kExitOk : kExitInput;
}

}  // namespace router::cli
