/* capi_sync_test.c: replica state sync through the C ABI (router_sync_*),
 * from plain C99.
 *
 * Usage: capi_sync_test FILE_PREFIX
 * Two replicas loaded from one saved LinUCB router sync through a memory
 * store, each getting half of the feedback; after their rounds each
 * estimates every model of every prompt as a third router that got all the
 * feedback does (to 1e-9). Also: the status JSON, refused options that
 * change nothing, NULLs, one sync per router, an unreachable Redis (or a
 * build without it), a password never echoed, and router_free with a sync
 * still attached. Prints "N passed, M failed"; non-zero exit on failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router_c.h"

#include "c_check.h"

/* ---- Data ---------------------------------------------------------------- */

static const char* const kCodeWords[] = {"python", "function", "code",    "bug",
                                         "compile", "segfault", "debug",  "pointer"};
static const char* const kPoemWords[] = {"poem",  "story",  "rhyme",  "novel",
                                         "verse", "stanza", "sonnet", "haiku"};
static const char* const kModels[] = {"coder", "writer", "generalist"};
#define MODELS 3
#define MAX_DIM 1024
#define FEEDBACK 24
#define SECRET "hunter2-do-not-echo"

static void WriteDataset(const char* path) {
  FILE* f = fopen(path, "wb");
  int row, j;
  if (f == NULL) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(2);
  }
  for (row = 0; row < 120; ++row) {
    const int code = row % 2 == 0;
    const char* const* words = code ? kCodeWords : kPoemWords;
    fprintf(f, "{\"id\": \"q%d\", \"prompt\": \"", row);
    for (j = 0; j < 5; ++j) fprintf(f, "%s%s", j ? " " : "", words[(row / 2 + j * 3) % 8]);
    fprintf(f,
            "\", \"scores\": {\"coder\": %d, \"writer\": %d, \"generalist\": 0.5}, "
            "\"costs\": {\"coder\": 0.0010, \"writer\": 0.0011, \"generalist\": 0.0004}}\n",
            code, !code);
  }
  if (fclose(f) != 0) exit(2);
}

/* Prompt i of the feedback and of the comparison. */
static void Prompt(int i, char* buf, size_t size) {
  const char* const* words = i % 2 == 0 ? kCodeWords : kPoemWords;
  snprintf(buf, size, "please %s the %s and %s", words[i % 8], words[(i * 3 + 1) % 8],
           words[(i * 5 + 2) % 8]);
}

/* The chosen model's predicted quality when only `model` is allowed: the
 * router's estimate of that model for the prompt. -1 on failure. */
static double Estimate(const router_t* router, const char* prompt, const char* model) {
  router_route_options_t options;
  router_decision_t* decision = NULL;
  double quality = -1.0;
  memset(&options, 0, sizeof(options));
  options.struct_size = sizeof(options);
  options.allowed_models = &model;
  options.allowed_model_count = 1;
  if (router_route_text_with(router, prompt, &options, &decision) != ROUTER_OK) return -1.0;
  if (router_decision_quality(decision, &quality) != ROUTER_OK) quality = -1.0;
  router_decision_free(decision);
  return quality;
}

/* The largest difference between two routers' estimates over every model
 * of 12 prompts (1.0 if a route fails). */
static double MaxDifference(const router_t* a, const router_t* b) {
  double worst = 0.0;
  char prompt[256];
  int i, m;
  for (i = 0; i < 12; ++i) {
    Prompt(i + 100, prompt, sizeof(prompt));
    for (m = 0; m < MODELS; ++m) {
      const double x = Estimate(a, prompt, kModels[m]);
      const double y = Estimate(b, prompt, kModels[m]);
      const double d = (x < 0.0 || y < 0.0) ? 1.0 : fabs(x - y);
      if (!(d <= worst)) worst = d;
    }
  }
  return worst;
}

/* The status JSON of a sync, or "" on failure. */
static const char* Status(const router_sync_t* sync) {
  static char text[2048];
  size_t needed = 0;
  text[0] = '\0';
  if (router_sync_status_json(sync, text, sizeof(text), &needed) != ROUTER_OK) text[0] = '\0';
  return text;
}

/* Whether the status JSON has `"key":value` exactly (value as printed). */
static int Has(const char* status, const char* key, const char* value) {
  char field[256];
  snprintf(field, sizeof(field), "\"%s\":%s", key, value);
  return strstr(status, field) != NULL;
}

/* ---- Tests --------------------------------------------------------------- */

/* Replica a gets even feedback, replica b odd, the reference all of it. Half
 * goes by decision id (router_feedback), half by vector. */
static void GiveFeedback(router_t* a, router_t* b, router_t* reference) {
  char prompt[256];
  float vector[MAX_DIM];
  int32_t dim = 0;
  int i;
  EXPECT(router_dim(reference, &dim), ROUTER_OK);
  if (dim <= 0 || dim > MAX_DIM) {
    CHECK(!"dim out of range");
    return;
  }
  for (i = 0; i < FEEDBACK; ++i) {
    router_t* replica = i % 2 == 0 ? a : b;
    const double score = (i % 3 == 0) ? 1.0 : (i % 3 == 1 ? 0.25 : 0.0);
    const double cost = 0.001 * (1 + i % 4);
    Prompt(i, prompt, sizeof(prompt));
    EXPECT(router_embed_text(reference, prompt, vector, MAX_DIM), ROUTER_OK);
    if (i % 4 < 2) {
      /* By id: the replica picks the model; the reference learns the same. */
      router_decision_t* decision = NULL;
      const char* model = NULL;
      uint64_t id = 0;
      EXPECT(router_route_text(replica, prompt, &decision), ROUTER_OK);
      if (decision == NULL) continue;
      EXPECT(router_decision_id(decision, &id), ROUTER_OK);
      EXPECT(router_decision_model(decision, &model), ROUTER_OK);
      CHECK(id != 0);
      EXPECT(router_feedback(replica, id, score, cost), ROUTER_OK);
      EXPECT(router_feedback_vector(reference, vector, (size_t)dim, model, score, cost),
             ROUTER_OK);
      router_decision_free(decision);
    } else {
      const char* model = kModels[i % MODELS];
      EXPECT(router_feedback_vector(replica, vector, (size_t)dim, model, score, cost), ROUTER_OK);
      EXPECT(router_feedback_vector(reference, vector, (size_t)dim, model, score, cost),
             ROUTER_OK);
    }
  }
}

/* Options router_sync_start refuses, each with INVALID_ARGUMENT, *out set to
 * NULL and a message naming what is wrong. */
static void TestRefusedOptions(router_t* router) {
  static const struct {
    const char* options;
    const char* named; /* in the message */
  } kBad[] = {
      {"", "JSON"},
      {"{", "JSON"},
      {"[]", "object"},
      {"{\"store\": \"memory:t1\"}", "replica_id"},
      {"{\"replica_id\": \"c\"}", "store"},
      {"{\"replica_id\": \"c\", \"store\": \"memory:t1\", \"bogus\": 1}", "bogus"},
      {"{\"replica_id\": 7, \"store\": \"memory:t1\"}", "replica_id"},
      {"{\"replica_id\": \"\", \"store\": \"memory:t1\"}", "replica_id"},
      {"{\"replica_id\": \"bad id!\", \"store\": \"memory:t1\"}", "replica_id"},
      {"{\"replica_id\": \"c\", \"store\": \"memory:\"}", "store"},
      {"{\"replica_id\": \"c\", \"store\": \"memory:a b\"}", "store"},
      {"{\"replica_id\": \"c\", \"store\": \"postgres\"}", "store"},
      {"{\"replica_id\": \"c\", \"store\": \"memory:t1\", \"interval_ms\": -1}", "interval_ms"},
      {"{\"replica_id\": \"c\", \"store\": \"memory:t1\", \"interval_ms\": 1.5}", "interval_ms"},
      {"{\"replica_id\": \"c\", \"store\": \"memory:t1\", \"interval_ms\": \"200\"}",
       "interval_ms"},
      {"{\"replica_id\": \"c\", \"store\": \"memory:t1\", \"interval_ms\": 99999999999}",
       "interval_ms"},
      {"{\"replica_id\": \"c\", \"store\": \"memory:t1\", \"redis\": {}}", "redis"},
      {"{\"replica_id\": \"c\", \"store\": \"redis\", \"redis\": []}", "redis"},
      {"{\"replica_id\": \"c\", \"store\": \"redis\", \"redis\": {\"prot\": 6379}}", "prot"},
      {"{\"replica_id\": \"c\", \"store\": \"redis\", \"redis\": {\"port\": \"6379\"}}", "port"},
      {"{\"replica_id\": \"c\", \"store\": \"redis\", \"redis\": {\"port\": 0}}", "port"},
      {"{\"replica_id\": \"c\", \"store\": \"redis\", \"redis\": {\"key_prefix\": \"a b\"}}",
       "key_prefix"},
      {"{\"replica_id\": \"c\", \"store\": \"redis\", \"redis\": {\"timeout_ms\": 0}}",
       "timeout_ms"},
  };
  size_t i;
  for (i = 0; i < sizeof(kBad) / sizeof(kBad[0]); ++i) {
    router_sync_t* sync = (router_sync_t*)&i; /* must come back NULL */
    const router_status_t status = router_sync_start(router, kBad[i].options, &sync);
    const char* message = router_last_error_message();
    if (status != ROUTER_INVALID_ARGUMENT || sync != NULL ||
        strstr(message, kBad[i].named) == NULL) {
      ++g_failed;
      fprintf(stderr, "FAILED: options %s: %s, message \"%s\" (expected one naming '%s')\n",
              kBad[i].options, router_status_name(status), message, kBad[i].named);
      if (status == ROUTER_OK) router_sync_stop(sync);
    } else {
      ++g_passed;
    }
  }
}

/* A password is never echoed: not for bad JSON, not for an unknown key, not
 * by an unreachable Redis (status and last_error included). */
static void TestPasswordNotEchoed(const char* saved) {
  router_t* router = NULL;
  router_sync_t* sync = NULL;
  router_status_t status;
  EXPECT(router_load(saved, &router), ROUTER_OK);
  if (router == NULL) return;
  EXPECT(router_sync_start(router,
                           "{\"replica_id\": \"c\", \"store\": \"redis\", "
                           "\"redis\": {\"password\": \"" SECRET "\"",
                           &sync),
         ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), SECRET) == NULL);
  EXPECT(router_sync_start(router,
                           "{\"replica_id\": \"c\", \"store\": \"redis\", "
                           "\"redis\": {\"password\": \"" SECRET "\", \"pasword\": \"" SECRET
                           "\"}}",
                           &sync),
         ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "pasword") != NULL);
  CHECK(strstr(router_last_error_message(), SECRET) == NULL);
  EXPECT(router_sync_start(router,
                           "{\"replica_id\": \"c\", \"store\": \"redis\", "
                           "\"redis\": {\"password\": 12345}}",
                           &sync),
         ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "12345") == NULL);

  /* Nothing listens on port 1: Redis is unreachable, routing goes on. In a
   * build without hiredis, Redis is UNIMPLEMENTED. */
  status = router_sync_start(router,
                             "{\"replica_id\": \"c\", \"store\": \"redis\", \"interval_ms\": 0, "
                             "\"redis\": {\"host\": \"127.0.0.1\", \"port\": 1, "
                             "\"timeout_ms\": 200, \"password\": \"" SECRET "\"}}",
                             &sync);
  CHECK(status == ROUTER_OK || status == ROUTER_UNIMPLEMENTED);
  CHECK(strstr(router_last_error_message(), SECRET) == NULL);
  if (status == ROUTER_UNIMPLEMENTED) {
    printf("(no Redis in this build: router_sync_start gave ROUTER_UNIMPLEMENTED)\n");
    CHECK(sync == NULL);
    router_free(router);
    return;
  }
  EXPECT(router_sync_now(sync), ROUTER_UNAVAILABLE);
  CHECK(strstr(router_last_error_message(), SECRET) == NULL);
  {
    const char* s = Status(sync);
    CHECK(Has(s, "connected", "false"));
    CHECK(Has(s, "rounds", "0"));
    CHECK(Has(s, "lag_ms", "-1"));
    CHECK(Has(s, "store", "\"redis\""));
    CHECK(strstr(s, "\"failed_rounds\":0") == NULL); /* the start's round and ours */
    CHECK(strstr(s, "\"last_error\":\"\"") == NULL);
    CHECK(strstr(s, SECRET) == NULL);
  }
  router_sync_stop(sync); /* its last round fails too: no matter */
  router_free(router);
}

/* router_free stops a sync still attached; the handle's calls then fail
 * until router_sync_stop frees it, and its memory store place is free. */
static void TestFreeWithSyncAttached(const char* saved) {
  router_t* router = NULL;
  router_sync_t* sync = NULL;
  router_sync_t* again = NULL;
  char status[256];
  size_t needed = 0;
  EXPECT(router_load(saved, &router), ROUTER_OK);
  EXPECT(router_sync_start(router, "{\"replica_id\": \"x\", \"store\": \"memory:t2\"}", &sync),
         ROUTER_OK); /* interval_ms 200: a thread too */
  router_free(router);
  EXPECT(router_sync_now(sync), ROUTER_FAILED_PRECONDITION);
  CHECK(strstr(router_last_error_message(), "freed") != NULL);
  EXPECT(router_sync_status_json(sync, status, sizeof(status), &needed),
         ROUTER_FAILED_PRECONDITION);
  router_sync_stop(sync);

  router = NULL;
  EXPECT(router_load(saved, &router), ROUTER_OK);
  EXPECT(router_sync_start(router, "{\"replica_id\": \"x\", \"store\": \"memory:t2\"}", &again),
         ROUTER_OK);
  router_sync_stop(again);
  router_free(router);
}

static void TestTwoReplicasConverge(const char* saved) {
  router_t* a = NULL;
  router_t* b = NULL;
  router_t* reference = NULL;
  router_sync_t* sync_a = NULL;
  router_sync_t* sync_b = NULL;
  router_sync_t* other = NULL;
  const char* s;
  char text[512];
  size_t needed = 0;

  EXPECT(router_load(saved, &a), ROUTER_OK);
  EXPECT(router_load(saved, &b), ROUTER_OK);
  EXPECT(router_load(saved, &reference), ROUTER_OK);
  if (a == NULL || b == NULL || reference == NULL) return;

  EXPECT(router_sync_start(a, "{\"replica_id\": \"a\", \"store\": \"memory:t1\", "
                              "\"interval_ms\": 0}",
                           &sync_a),
         ROUTER_OK);
  EXPECT(router_sync_start(b, "{\"replica_id\": \"b\", \"store\": \"memory:t1\", "
                              "\"interval_ms\": 0}",
                           &sync_b),
         ROUTER_OK);
  if (sync_a == NULL || sync_b == NULL) return;
  CHECK(MaxDifference(a, reference) == 0.0); /* nothing learned yet */

  GiveFeedback(a, b, reference);
  CHECK(MaxDifference(a, reference) > 1e-6); /* each replica saw half */
  CHECK(MaxDifference(b, reference) > 1e-6);

  /* a publishes its half, b takes it and publishes its own, a takes b's. */
  EXPECT(router_sync_now(sync_a), ROUTER_OK);
  EXPECT(router_sync_now(sync_b), ROUTER_OK);
  EXPECT(router_sync_now(sync_a), ROUTER_OK);
  CHECK(MaxDifference(a, reference) <= 1e-9);
  CHECK(MaxDifference(b, reference) <= 1e-9);
  CHECK(MaxDifference(a, b) <= 1e-9);

  /* a: its start (nothing there yet; published) and two rounds (b's row
   * twice: its start's and the one with its feedback). b: its start (a's
   * first row) and one round (a's feedback). */
  s = Status(sync_a);
  CHECK(Has(s, "replica_id", "\"a\""));
  CHECK(Has(s, "store", "\"memory:t1\""));
  CHECK(Has(s, "connected", "true"));
  CHECK(Has(s, "rounds", "3"));
  CHECK(Has(s, "failed_rounds", "0"));
  CHECK(Has(s, "published", "2"));
  CHECK(Has(s, "applied", "2"));
  CHECK(Has(s, "rejected", "0"));
  CHECK(Has(s, "replicas", "2"));
  CHECK(Has(s, "last_error", "\"\""));
  CHECK(strstr(s, "\"lag_ms\":-") == NULL && strstr(s, "\"lag_ms\":") != NULL);
  s = Status(sync_b);
  CHECK(Has(s, "rounds", "2"));
  CHECK(Has(s, "published", "2"));
  CHECK(Has(s, "applied", "2"));
  CHECK(Has(s, "replicas", "2"));

  /* Buffer rules as router_policy_state_json. */
  EXPECT(router_sync_status_json(sync_a, text, sizeof(text), &needed), ROUTER_OK);
  CHECK(needed == strlen(text) + 1);
  EXPECT(router_sync_status_json(sync_a, text, 5, &needed), ROUTER_OK);
  CHECK(strlen(text) == 4 && needed > 5);
  EXPECT(router_sync_status_json(sync_a, NULL, 0, &needed), ROUTER_OK);
  EXPECT(router_sync_status_json(sync_a, text, sizeof(text), NULL), ROUTER_OK);

  /* Refused: options, a second sync on a router, a replica id another
   * router of this process holds in the same memory store, NULLs. None of
   * them changes anything: no row is written, estimates stay. */
  TestRefusedOptions(reference);
  other = (router_sync_t*)&needed;
  EXPECT(router_sync_start(a, "{\"replica_id\": \"a2\", \"store\": \"memory:t1\"}", &other),
         ROUTER_FAILED_PRECONDITION);
  CHECK(other == NULL);
  EXPECT(router_sync_start(reference, "{\"replica_id\": \"b\", \"store\": \"memory:t1\"}", &other),
         ROUTER_ALREADY_EXISTS);
  CHECK(other == NULL);
  EXPECT(router_sync_start(NULL, "{\"replica_id\": \"c\", \"store\": \"memory:t1\"}", &other),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_sync_start(reference, NULL, &other), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_sync_start(reference, "{\"replica_id\": \"c\", \"store\": \"memory:t1\"}", NULL),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_sync_now(NULL), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_sync_status_json(NULL, text, sizeof(text), &needed), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_sync_status_json(sync_a, NULL, 10, &needed), ROUTER_INVALID_ARGUMENT);
  router_sync_stop(NULL);

  EXPECT(router_sync_now(sync_a), ROUTER_OK);
  EXPECT(router_sync_now(sync_b), ROUTER_OK);
  s = Status(sync_a);
  CHECK(Has(s, "replicas", "2"));
  CHECK(Has(s, "rejected", "0"));
  CHECK(Has(s, "published", "2")); /* nothing new to publish */
  CHECK(MaxDifference(a, reference) <= 1e-9);
  CHECK(MaxDifference(b, reference) <= 1e-9);

  /* The refused starts left the reference free to start one. */
  EXPECT(router_sync_start(reference, "{\"replica_id\": \"r\", \"store\": \"memory:t3\", "
                                      "\"interval_ms\": 0}",
                           &other),
         ROUTER_OK);
  router_sync_stop(other);

  /* A stopped sync: the router keeps what it learned, and syncs no more (a
   * second sync would count its learning twice). */
  router_sync_stop(sync_a);
  CHECK(MaxDifference(a, reference) <= 1e-9);
  other = (router_sync_t*)&needed;
  EXPECT(router_sync_start(a, "{\"replica_id\": \"a\", \"store\": \"memory:t1\"}", &other),
         ROUTER_FAILED_PRECONDITION);
  CHECK(strstr(router_last_error_message(), "synced before") != NULL);
  CHECK(other == NULL);

  /* Restarted as a replica restarts: loaded again, under the same id, it
   * takes its row back and applies b's: nothing lost, nothing twice. */
  router_free(a);
  a = NULL;
  EXPECT(router_load(saved, &a), ROUTER_OK);
  if (a != NULL) {
    CHECK(MaxDifference(a, reference) > 1e-6);
    EXPECT(router_sync_start(a, "{\"replica_id\": \"a\", \"store\": \"memory:t1\", "
                                "\"interval_ms\": 0}",
                             &sync_a),
           ROUTER_OK);
    CHECK(MaxDifference(a, reference) <= 1e-9);
    EXPECT(router_sync_now(sync_b), ROUTER_OK);
    EXPECT(router_sync_now(sync_a), ROUTER_OK);
    CHECK(MaxDifference(a, reference) <= 1e-9);
    CHECK(MaxDifference(b, reference) <= 1e-9);
    s = Status(sync_a);
    CHECK(Has(s, "replicas", "2"));
    CHECK(Has(s, "rejected", "0"));
    router_sync_stop(sync_a);
  }
  router_sync_stop(sync_b);
  router_free(a);
  router_free(b);
  router_free(reference);
}

/* Rounds on the library's threads (every millisecond) while this thread
 * routes and reports feedback; then one round each way, and the replicas
 * agree with the reference. */
static void TestBackgroundRounds(const char* saved) {
  router_t* a = NULL;
  router_t* b = NULL;
  router_t* reference = NULL;
  router_sync_t* sync_a = NULL;
  router_sync_t* sync_b = NULL;
  EXPECT(router_load(saved, &a), ROUTER_OK);
  EXPECT(router_load(saved, &b), ROUTER_OK);
  EXPECT(router_load(saved, &reference), ROUTER_OK);
  EXPECT(router_sync_start(a, "{\"replica_id\": \"a\", \"store\": \"memory:t4\", "
                              "\"interval_ms\": 1}",
                           &sync_a),
         ROUTER_OK);
  EXPECT(router_sync_start(b, "{\"replica_id\": \"b\", \"store\": \"memory:t4\", "
                              "\"interval_ms\": 1}",
                           &sync_b),
         ROUTER_OK);
  if (a != NULL && b != NULL && reference != NULL && sync_a != NULL && sync_b != NULL) {
    GiveFeedback(a, b, reference);
    EXPECT(router_sync_now(sync_a), ROUTER_OK);
    EXPECT(router_sync_now(sync_b), ROUTER_OK);
    EXPECT(router_sync_now(sync_a), ROUTER_OK);
    CHECK(MaxDifference(a, reference) <= 1e-9);
    CHECK(MaxDifference(b, reference) <= 1e-9);
    CHECK(Has(Status(sync_a), "connected", "true"));
    CHECK(Has(Status(sync_b), "rejected", "0"));
  }
  router_sync_stop(sync_a);
  router_sync_stop(sync_b);
  router_free(a);
  router_free(b);
  router_free(reference);
}

int main(int argc, char** argv) {
  char data[1200], saved[1200];
  router_t* fitted = NULL;

  if (!SetPrefix(argc, argv)) return 2;
  PathOf("train.jsonl", data, sizeof(data));
  PathOf("linucb.router", saved, sizeof(saved));
  WriteDataset(data);
  EXPECT(router_create_from_dataset(data, "{\"router\": \"linucb\"}", &fitted), ROUTER_OK);
  if (fitted == NULL) return 1;
  EXPECT(router_save(fitted, saved), ROUTER_OK);
  router_free(fitted);

  TestTwoReplicasConverge(saved);
  TestPasswordNotEchoed(saved);
  TestBackgroundRounds(saved);
  TestFreeWithSyncAttached(saved);

  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
