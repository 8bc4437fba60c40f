/* route.c: route prompts with librouter's C ABI.
 * Usage: route_c DATASET.jsonl [CONFIG_JSON] [PROMPT...]   (CONFIG_JSON "" = defaults) */
#include <stdio.h>
#include <stdlib.h>

#include "router_c.h"

/* Returns 1 on ROUTER_OK, otherwise prints the status and message and returns 0. */
static int ok(router_status_t status, const char* what) {
  if (status == ROUTER_OK) return 1;
  fprintf(stderr, "%s: %s: %s\n", what, router_status_name(status), router_last_error_message());
  return 0;
}

int main(int argc, char** argv) {
  static const char* const kDefaultPrompts[] = {"Why does my C code segfault on free()?",
                                                "Write a short poem about the sea."};
  const char* const* prompts = argc > 3 ? (const char* const*)(argv + 3) : kDefaultPrompts;
  const int count = argc > 3 ? argc - 3 : 2;
  router_t* router = NULL;
  int good = 1;
  if (argc < 2) {
    fprintf(stderr, "usage: %s DATASET.jsonl [CONFIG_JSON] [PROMPT...]\n", argv[0]);
    return 2;
  }
  if (router_abi_version() != ROUTER_ABI_VERSION) {
    fprintf(stderr, "librouter_c ABI %u, header ABI %d\n", (unsigned)router_abi_version(),
            ROUTER_ABI_VERSION);
    return 1;
  }
  if (!ok(router_create_from_dataset(argv[1], argc > 2 ? argv[2] : NULL, &router), "create")) {
    return 1;
  }
  for (int i = 0; good && i < count; ++i) {
    router_decision_t* decision = NULL;
    const char* model = NULL;
    double quality = 0.0, cost = 0.0;
    size_t size = 0;
    char* explanation = NULL;
    good = ok(router_route_text(router, prompts[i], &decision), "route") &&
           ok(router_decision_model(decision, &model), "model") &&
           ok(router_decision_quality(decision, &quality), "quality") &&
           ok(router_decision_cost_usd(decision, &cost), "cost") &&
           ok(router_decision_explain(decision, NULL, 0, &size), "explain size") &&
           (explanation = malloc(size)) != NULL &&
           ok(router_decision_explain(decision, explanation, size, NULL), "explain");
    if (good) {
      printf("%s\n  -> %s (quality %.3f, cost $%.6f)\n  %s\n", prompts[i], model, quality, cost,
             explanation);
    }
    free(explanation);
    router_decision_free(decision);
  }
  router_free(router);
  return good ? 0 : 1;
}
