/* Uses the installed C ABI: checks versions, fits a router on a file it
 * writes (argv[1] + "data.jsonl"), routes one prompt. */
#include <stdio.h>
#include <string.h>

#include <router_c.h>

int main(int argc, char** argv) {
  char path[4096];
  FILE* f;
  int row;
  router_t* router = NULL;
  router_decision_t* decision = NULL;
  const char* model = NULL;
  router_status_t status;

  if (argc != 2 || router_abi_version() != ROUTER_ABI_VERSION ||
      router_version_number() != ROUTER_C_VERSION_NUMBER) {
    fprintf(stderr, "usage: %s FILE_PREFIX (or a header/library version mismatch)\n", argv[0]);
    return 1;
  }
  snprintf(path, sizeof(path), "%sdata.jsonl", argv[1]);
  f = fopen(path, "w");
  if (f == NULL) return 1;
  for (row = 0; row < 40; ++row) {
    fprintf(f, "{\"id\": \"r%d\", \"prompt\": \"%s %d\", \"scores\": {\"coder\": %d, \"writer\": %d}}\n",
            row, row % 2 ? "poem rhyme story" : "python bug compile", row % 5, row % 2 == 0,
            row % 2);
  }
  fclose(f);

  status = router_create_from_dataset(path, "{\"knn\": {\"k\": 5}}", &router);
  if (status == ROUTER_OK) status = router_route_text(router, "a poem with rhyme", &decision);
  if (status == ROUTER_OK) status = router_decision_model(decision, &model);
  if (status != ROUTER_OK || strcmp(model, "writer") != 0) {
    fprintf(stderr, "C consumer: %s: %s\n", router_status_name(status),
            router_last_error_message());
    return 1;
  }
  printf("C consumer: librouter_c %s (ABI %u) routed to %s\n", router_version_string(),
         (unsigned)router_abi_version(), model);
  router_decision_free(decision);
  router_free(router);
  return 0;
}
