/* capi_test.c: the whole C ABI, from plain C99.
 *
 * Usage: capi_test FILE_PREFIX
 * Writes its datasets to FILE_PREFIX*.jsonl / *.npy, fits routers on them and
 * checks every function, good input and bad. Prints "N passed, M failed" and
 * exits non-zero if anything failed. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router_c.h"

#include "c_check.h"

/* ---- Test data ---------------------------------------------------------- */

static const char* const kCodeWords[] = {
    "python", "function", "code",  "bug",   "compile", "compiler", "variable", "loop",
    "segfault", "debug",  "syntax", "error", "class",  "method",   "pointer",  "stack"};
static const char* const kPoemWords[] = {
    "poem",  "story",  "rhyme",     "novel",   "verse",   "stanza",   "sonnet", "metaphor",
    "character", "plot", "haiku", "ballad", "narrative", "chapter", "lyric", "prose"};
#define WORDS 16
#define ROWS 200 /* even rows are about code, odd rows about poems */
#define VDIM 4   /* dimension of the host vectors in the .npy test */

static void WriteText(const char* path, const char* text) {
  FILE* f = fopen(path, "wb");
  if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(2);
  }
}

/* `split` is NULL (no split field) or a split name for every row. */
/* Rows alternate code and poems; with `sources`, each row names its task
 * ("code" or "poems") as its source. */
static void WriteDatasetWith(const char* path, const char* split, int sources) {
  FILE* f = fopen(path, "wb");
  int row, j;
  if (f == NULL) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(2);
  }
  for (row = 0; row < ROWS; ++row) {
    const int code = row % 2 == 0;
    const char* const* words = code ? kCodeWords : kPoemWords;
    const char* row_split = split;
    if (row_split == NULL) row_split = row % 10 == 9 ? "test" : row % 3 == 0 ? NULL : "train";
    fprintf(f, "{\"id\": \"q%d\", \"prompt\": \"please help:", row);
    for (j = 0; j < 6; ++j) fprintf(f, " %s", words[(row / 2 * 3 + j * 5) % WORDS]);
    fprintf(f, "\", ");
    if (row_split != NULL) fprintf(f, "\"split\": \"%s\", ", row_split);
    if (sources) fprintf(f, "\"source\": \"%s\", ", code ? "code" : "poems");
    fprintf(f,
            "\"scores\": {\"coder\": %d, \"writer\": %d, \"generalist\": 0.5}, "
            "\"costs\": {\"coder\": 0.0010, \"writer\": 0.0011, \"generalist\": 0.0004}}\n",
            code, !code);
  }
  if (fclose(f) != 0) exit(2);
}

static void WriteDataset(const char* path, const char* split) {
  WriteDatasetWith(path, split, 0);
}

/* The host vector of row `row`: near axis 0 for code, near axis 2 for poems. */
static void HostVector(int row, float* v) {
  const int code = row % 2 == 0;
  v[0] = code ? 1.0f : 0.0f;
  v[1] = 0.1f * (float)(row % 3);
  v[2] = code ? 0.0f : 1.0f;
  v[3] = 0.05f * (float)(row % 5);
}

/* A float32 .npy file (format 1.0) of shape (rows, VDIM). */
static void WriteNpy(const char* path, int rows) {
  char header[128];
  unsigned char prefix[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
  FILE* f = fopen(path, "wb");
  size_t len;
  int row, j;
  if (f == NULL) exit(2);
  snprintf(header, sizeof(header), "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }",
           rows, VDIM);
  len = strlen(header);
  while ((10 + len + 1) % 64 != 0) header[len++] = ' ';
  header[len++] = '\n';
  header[len] = '\0';
  prefix[8] = (unsigned char)(len & 0xFF);
  prefix[9] = (unsigned char)(len >> 8);
  fwrite(prefix, 1, sizeof(prefix), f);
  fwrite(header, 1, len, f);
  for (row = 0; row < rows; ++row) {
    float v[VDIM];
    HostVector(row, v);
    for (j = 0; j < VDIM; ++j) {
      unsigned char bytes[4];
      unsigned long bits = 0;
      unsigned int u;
      memcpy(&u, &v[j], 4);
      bits = u;
      bytes[0] = (unsigned char)(bits & 0xFF);
      bytes[1] = (unsigned char)((bits >> 8) & 0xFF);
      bytes[2] = (unsigned char)((bits >> 16) & 0xFF);
      bytes[3] = (unsigned char)((bits >> 24) & 0xFF);
      fwrite(bytes, 1, 4, f);
    }
  }
  if (fclose(f) != 0) exit(2);
}

/* ---- Tests -------------------------------------------------------------- */

static void TestVersionsAndStatusNames(void) {
  char expected[64];
  static const char* const kNames[] = {
      "ROUTER_OK", "ROUTER_CANCELLED", "ROUTER_UNKNOWN", "ROUTER_INVALID_ARGUMENT",
      "ROUTER_DEADLINE_EXCEEDED", "ROUTER_NOT_FOUND", "ROUTER_ALREADY_EXISTS",
      "ROUTER_PERMISSION_DENIED", "ROUTER_RESOURCE_EXHAUSTED", "ROUTER_FAILED_PRECONDITION",
      "ROUTER_ABORTED", "ROUTER_OUT_OF_RANGE", "ROUTER_UNIMPLEMENTED", "ROUTER_INTERNAL",
      "ROUTER_UNAVAILABLE", "ROUTER_DATA_LOSS", "ROUTER_UNAUTHENTICATED"};
  const router_status_t codes[] = {
      ROUTER_OK, ROUTER_CANCELLED, ROUTER_UNKNOWN, ROUTER_INVALID_ARGUMENT,
      ROUTER_DEADLINE_EXCEEDED, ROUTER_NOT_FOUND, ROUTER_ALREADY_EXISTS,
      ROUTER_PERMISSION_DENIED, ROUTER_RESOURCE_EXHAUSTED, ROUTER_FAILED_PRECONDITION,
      ROUTER_ABORTED, ROUTER_OUT_OF_RANGE, ROUTER_UNIMPLEMENTED, ROUTER_INTERNAL,
      ROUTER_UNAVAILABLE, ROUTER_DATA_LOSS, ROUTER_UNAUTHENTICATED};
  int i;

  CHECK(router_abi_version() == ROUTER_ABI_VERSION);
  CHECK(ROUTER_ABI_VERSION == 1);
  CHECK(router_version_number() == ROUTER_C_VERSION_NUMBER);
  CHECK(ROUTER_C_VERSION_NUMBER ==
        ROUTER_C_VERSION_MAJOR * 10000 + ROUTER_C_VERSION_MINOR * 100 + ROUTER_C_VERSION_PATCH);
  snprintf(expected, sizeof(expected), "%d.%d.%d", ROUTER_C_VERSION_MAJOR,
           ROUTER_C_VERSION_MINOR, ROUTER_C_VERSION_PATCH);
  CHECK(router_version_string() != NULL);
  CHECK(strcmp(router_version_string(), expected) == 0);
  /* The SIMD target: a static, non-empty name, the same on every call
     (capi_abi_test compares it with the C++ library's). */
  CHECK(router_simd_target() != NULL);
  CHECK(router_simd_target()[0] != '\0');
  CHECK(router_simd_target() == router_simd_target());

  /* Frozen values: code i is absl::StatusCode i, named kNames[i]. */
  for (i = 0; i < 17; ++i) {
    CHECK(codes[i] == i);
    CHECK(strcmp(router_status_name(codes[i]), kNames[i]) == 0);
  }
  CHECK(strcmp(router_status_name(17), "ROUTER_UNKNOWN_STATUS") == 0);
  CHECK(strcmp(router_status_name(-1), "ROUTER_UNKNOWN_STATUS") == 0);
  CHECK(strcmp(router_status_name(1000000), "ROUTER_UNKNOWN_STATUS") == 0);

  /* Before any failure on a thread the message is empty, never NULL. */
  CHECK(router_last_error_message() != NULL);
}

static void TestCreateErrors(void) {
  char path[1200], npy[1200];
  router_t* router = NULL;
  router_t* const sentinel = (router_t*)&router;
  const char* message;

  router_free(NULL); /* no-op */
  router_decision_free(NULL);

  PathOf("train.jsonl", path, sizeof(path));
  EXPECT(router_create_from_dataset(NULL, NULL, &router), ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "dataset_jsonl_path") != NULL);
  EXPECT(router_create_from_dataset(path, NULL, NULL), ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "out is NULL") != NULL);

  router = sentinel;
  EXPECT(router_create_from_dataset(PathOf("does-not-exist.jsonl", npy, sizeof(npy)), NULL,
                                    &router),
         ROUTER_NOT_FOUND);
  CHECK(router == NULL); /* a failed create sets *out to NULL */

  router = sentinel;
  EXPECT(router_create_from_dataset(path, "{\"policy\": ", &router), ROUTER_INVALID_ARGUMENT);
  message = router_last_error_message();
  CHECK(message != NULL && message[0] != '\0');
  CHECK(router == NULL);
  EXPECT(router_create_from_dataset(path, "[1, 2]", &router), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_create_from_dataset(path, "{\"no_such_key\": 1}", &router),
         ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "no_such_key") != NULL);
  EXPECT(router_create_from_dataset(path, "{\"policy\": {\"kind\": \"no-such-policy\"}}",
                                    &router),
         ROUTER_INVALID_ARGUMENT);

  WriteText(PathOf("empty.jsonl", npy, sizeof(npy)), "");
  EXPECT(router_create_from_dataset(npy, NULL, &router), ROUTER_INVALID_ARGUMENT);
  CHECK(router == NULL);
  WriteText(PathOf("malformed.jsonl", npy, sizeof(npy)), "{\"id\": \"q1\", \"prompt\": \n");
  EXPECT(router_create_from_dataset(npy, NULL, &router), ROUTER_INVALID_ARGUMENT);
  CHECK(router == NULL);
  /* Every row is a test row: nothing to fit on. */
  WriteDataset(PathOf("all-test.jsonl", npy, sizeof(npy)), "test");
  EXPECT(router_create_from_dataset(npy, NULL, &router), ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "split") != NULL);
  CHECK(router == NULL);

  /* With vectors: missing arguments, a missing file, a row-count mismatch. */
  EXPECT(router_create_from_dataset_with_vectors(NULL, "x.npy", NULL, &router),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_create_from_dataset_with_vectors(path, NULL, NULL, &router),
         ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "vectors_npy_path") != NULL);
  EXPECT(router_create_from_dataset_with_vectors(path, "x.npy", NULL, NULL),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_create_from_dataset_with_vectors(
             path, PathOf("does-not-exist.npy", npy, sizeof(npy)), NULL, &router),
         ROUTER_NOT_FOUND);
  WriteNpy(PathOf("short.npy", npy, sizeof(npy)), ROWS - 1);
  EXPECT(router_create_from_dataset_with_vectors(path, npy, NULL, &router),
         ROUTER_INVALID_ARGUMENT);
  CHECK(router == NULL);
}

/* Routes `text` and returns the chosen model's name in `name` (copied). */
/* Copies the chosen model of a route that returned `status` into name ("" on
 * failure) and frees the decision. */
static router_status_t TakeModel(router_status_t status, router_decision_t* decision,
                                 char* name, size_t size) {
  const char* model = NULL;
  name[0] = '\0';
  if (status == ROUTER_OK) status = router_decision_model(decision, &model);
  if (status == ROUTER_OK) snprintf(name, size, "%s", model);
  router_decision_free(decision);
  return status;
}

static router_status_t RouteTo(const router_t* router, const char* text, char* name,
                               size_t size) {
  router_decision_t* decision = NULL;
  const router_status_t status = router_route_text(router, text, &decision);
  return TakeModel(status, decision, name, size);
}

static void TestDecision(const router_t* router) {
  router_decision_t* decision = NULL;
  const char* name = NULL;
  const char* fallback0 = NULL;
  const char* fallback1 = NULL;
  const char* borrowed = NULL;
  int32_t index = -1, count = -1, i32 = 0;
  double quality = -1.0, cost = -1.0;
  size_t needed = 0, needed2 = 0, len;
  char* full;
  char small[8];
  char tiny[1] = {'x'};

  EXPECT(router_route_text(router, "my python function has a bug and will not compile",
                           &decision),
         ROUTER_OK);
  if (decision == NULL) return;
  EXPECT(router_decision_model(decision, &name), ROUTER_OK);
  CHECK(name != NULL && strcmp(name, "coder") == 0);
  EXPECT(router_decision_model_index(decision, &index), ROUTER_OK);
  EXPECT(router_model_name(router, index, &borrowed), ROUTER_OK);
  CHECK(borrowed != NULL && name != NULL && strcmp(borrowed, name) == 0);
  EXPECT(router_decision_quality(decision, &quality), ROUTER_OK);
  CHECK(quality > 0.9 && quality <= 1.0);
  EXPECT(router_decision_cost_usd(decision, &cost), ROUTER_OK);
  CHECK(cost > 0.0009 && cost < 0.0011);

  EXPECT(router_decision_fallback_count(decision, &count), ROUTER_OK);
  CHECK(count == 2);
  EXPECT(router_decision_fallback(decision, 0, &fallback0), ROUTER_OK);
  EXPECT(router_decision_fallback(decision, 1, &fallback1), ROUTER_OK);
  CHECK(fallback0 != NULL && strcmp(fallback0, "generalist") == 0); /* 0.5 beats 0 */
  CHECK(fallback1 != NULL && strcmp(fallback1, "writer") == 0);
  borrowed = "untouched";
  EXPECT(router_decision_fallback(decision, 2, &borrowed), ROUTER_OUT_OF_RANGE);
  CHECK(borrowed != NULL && strcmp(borrowed, "untouched") == 0); /* outputs kept on failure */
  EXPECT(router_decision_fallback(decision, -1, &borrowed), ROUTER_OUT_OF_RANGE);
  EXPECT(router_decision_fallback(decision, 0, NULL), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_decision_fallback(NULL, 0, &borrowed), ROUTER_INVALID_ARGUMENT);

  /* Explanation: size query, full copy, truncation. */
  EXPECT(router_decision_explain(decision, NULL, 0, &needed), ROUTER_OK);
  CHECK(needed > 20);
  full = (char*)malloc(needed);
  CHECK(full != NULL);
  if (full != NULL) {
    EXPECT(router_decision_explain(decision, full, needed, &needed2), ROUTER_OK);
    CHECK(needed2 == needed);
    CHECK(strlen(full) == needed - 1);
    CHECK(strstr(full, "coder") != NULL);
    memset(small, 'x', sizeof(small));
    EXPECT(router_decision_explain(decision, small, sizeof(small), &needed2), ROUTER_OK);
    CHECK(needed2 == needed); /* still the full size: the caller sees the truncation */
    len = strlen(small);      /* NUL-terminated within the buffer */
    CHECK(len < sizeof(small));
    CHECK(len >= sizeof(small) - 4); /* at most a partial UTF-8 character dropped */
    CHECK(strncmp(small, full, len) == 0);
    EXPECT(router_decision_explain(decision, tiny, 1, NULL), ROUTER_OK);
    CHECK(tiny[0] == '\0');
    free(full);
  }
  EXPECT(router_decision_explain(decision, NULL, 16, &needed2), ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "buf") != NULL);
  EXPECT(router_decision_explain(NULL, small, sizeof(small), &needed2),
         ROUTER_INVALID_ARGUMENT);

  /* JSON: same buffer rules. */
  EXPECT(router_decision_json(decision, NULL, 0, &needed), ROUTER_OK);
  full = (char*)malloc(needed);
  CHECK(full != NULL);
  if (full != NULL) {
    EXPECT(router_decision_json(decision, full, needed, NULL), ROUTER_OK);
    CHECK(strlen(full) == needed - 1);
    CHECK(full[0] == '{' && full[needed - 2] == '}');
    CHECK(strstr(full, "\"coder\"") != NULL);
    free(full);
  }
  EXPECT(router_decision_json(decision, NULL, 1, NULL), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_decision_json(NULL, NULL, 0, &needed), ROUTER_INVALID_ARGUMENT);

  /* Every accessor: NULL decision, NULL output. */
  EXPECT(router_decision_model(NULL, &name), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_decision_model(decision, NULL), ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "out_name") != NULL);
  EXPECT(router_decision_model_index(NULL, &i32), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_decision_model_index(decision, NULL), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_decision_quality(NULL, &quality), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_decision_quality(decision, NULL), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_decision_cost_usd(NULL, &cost), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_decision_cost_usd(decision, NULL), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_decision_fallback_count(NULL, &count), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_decision_fallback_count(decision, NULL), ROUTER_INVALID_ARGUMENT);
  /* A successful call clears the message of the failed one before it. */
  EXPECT(router_decision_fallback_count(decision, &count), ROUTER_OK);
  CHECK(router_last_error_message()[0] == '\0');
  router_decision_free(decision);
}

static void TestTextRouter(const router_t* router) {
  char model[64];
  int32_t dim = 0, count = 0, i;
  const char* name = NULL;
  router_decision_t* decision = NULL;
  int seen_coder = 0, seen_writer = 0;

  EXPECT(router_dim(router, &dim), ROUTER_OK);
  CHECK(dim > 0);
  EXPECT(router_model_count(router, &count), ROUTER_OK);
  CHECK(count == 3);
  for (i = 0; i < count; ++i) {
    EXPECT(router_model_name(router, i, &name), ROUTER_OK);
    if (name != NULL && strcmp(name, "coder") == 0) ++seen_coder;
    if (name != NULL && strcmp(name, "writer") == 0) ++seen_writer;
  }
  CHECK(seen_coder == 1 && seen_writer == 1);
  name = "untouched";
  EXPECT(router_model_name(router, count, &name), ROUTER_OUT_OF_RANGE);
  CHECK(strcmp(name, "untouched") == 0);
  EXPECT(router_model_name(router, -1, &name), ROUTER_OUT_OF_RANGE);
  EXPECT(router_model_name(router, 0, NULL), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_model_name(NULL, 0, &name), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_dim(NULL, &dim), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_dim(router, NULL), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_model_count(NULL, &count), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_model_count(router, NULL), ROUTER_INVALID_ARGUMENT);

  EXPECT(RouteTo(router, "my python function has a bug and will not compile", model,
                 sizeof(model)),
         ROUTER_OK);
  CHECK(strcmp(model, "coder") == 0);
  EXPECT(RouteTo(router, "a segfault in the compiler: debug the loop variable", model,
                 sizeof(model)),
         ROUTER_OK);
  CHECK(strcmp(model, "coder") == 0);
  EXPECT(RouteTo(router, "write a poem that tells a story, with rhyme, like a novel", model,
                 sizeof(model)),
         ROUTER_OK);
  CHECK(strcmp(model, "writer") == 0);
  EXPECT(RouteTo(router, "a sonnet: each stanza a metaphor, a haiku and a ballad", model,
                 sizeof(model)),
         ROUTER_OK);
  CHECK(strcmp(model, "writer") == 0);
  /* Empty text and text with no known word still route somewhere. */
  EXPECT(RouteTo(router, "", model, sizeof(model)), ROUTER_OK);
  CHECK(model[0] != '\0');
  EXPECT(RouteTo(router, "zzzz qqqq", model, sizeof(model)), ROUTER_OK);
  CHECK(model[0] != '\0');

  decision = (router_decision_t*)&decision;
  EXPECT(router_route_text(NULL, "x", &decision), ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "router") != NULL);
  EXPECT(router_route_text(router, NULL, &decision), ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "text") != NULL);
  EXPECT(router_route_text(router, "x", NULL), ROUTER_INVALID_ARGUMENT);
  CHECK(decision == (router_decision_t*)&decision); /* untouched on failure */

  TestDecision(router);
}

/* Embeds texts into a padded matrix and checks route_batch == route_vector ==
 * route_text, row by row. */
static void TestBatch(const router_t* router) {
  static const char* const kTexts[] = {
      "python function bug", "rhyme and verse for a poem", "compile error in my class",
      "a novel with a plot",  "stack trace of a segfault", "haiku"};
  enum { kCount = 6, kPad = 3 };
  int32_t dim = 0;
  size_t stride, i, j;
  float* matrix;
  int32_t models[kCount], models2[kCount];
  double qualities[kCount], costs[kCount], costs2[kCount];
  int64_t tokens[kCount];

  EXPECT(router_dim(router, &dim), ROUTER_OK);
  if (dim <= 0) return;
  stride = (size_t)dim + kPad;
  matrix = (float*)malloc(sizeof(float) * stride * kCount);
  if (matrix == NULL) return;
  for (i = 0; i < kCount; ++i) {
    /* Padding is NaN: reading it would fail the batch. */
    for (j = 0; j < stride; ++j) matrix[i * stride + j] = NAN;
    EXPECT(router_embed_text(router, kTexts[i], matrix + i * stride, (size_t)dim), ROUTER_OK);
    tokens[i] = (int64_t)(1000 * (i + 1));
  }
  EXPECT(router_route_batch(router, matrix, kCount, (size_t)dim, stride, NULL, models, qualities,
                            costs),
         ROUTER_OK);
  for (i = 0; i < kCount; ++i) {
    router_decision_t* by_vector = NULL;
    router_decision_t* by_text = NULL;
    int32_t index = -1, text_index = -2;
    double quality = -1.0, cost = -1.0;
    EXPECT(router_route_vector(router, matrix + i * stride, (size_t)dim, 0, &by_vector),
           ROUTER_OK);
    EXPECT(router_route_text(router, kTexts[i], &by_text), ROUTER_OK);
    if (by_vector == NULL || by_text == NULL) {
      router_decision_free(by_vector);
      router_decision_free(by_text);
      continue;
    }
    EXPECT(router_decision_model_index(by_vector, &index), ROUTER_OK);
    EXPECT(router_decision_model_index(by_text, &text_index), ROUTER_OK);
    EXPECT(router_decision_quality(by_vector, &quality), ROUTER_OK);
    EXPECT(router_decision_cost_usd(by_vector, &cost), ROUTER_OK);
    CHECK(models[i] == index);
    CHECK(index == text_index);
    CHECK(qualities[i] == quality);
    CHECK(costs[i] == cost);
    router_decision_free(by_vector);
    router_decision_free(by_text);
  }
  CHECK(models[0] != models[1]); /* code and poem differ */

  /* Token counts, and NULL optional outputs. */
  EXPECT(router_route_batch(router, matrix, kCount, (size_t)dim, stride, tokens, models2, NULL,
                            costs2),
         ROUTER_OK);
  for (i = 0; i < kCount; ++i) {
    router_decision_t* d = NULL;
    double cost = -1.0;
    CHECK(models2[i] == models[i]);
    EXPECT(router_route_vector(router, matrix + i * stride, (size_t)dim, tokens[i], &d),
           ROUTER_OK);
    EXPECT(router_decision_cost_usd(d, &cost), ROUTER_OK);
    CHECK(costs2[i] == cost);
    router_decision_free(d);
  }
  EXPECT(router_route_batch(router, matrix, kCount, (size_t)dim, stride, NULL, models2, NULL,
                            NULL),
         ROUTER_OK);

  /* Bad batches. */
  EXPECT(router_route_batch(router, NULL, 0, (size_t)dim, (size_t)dim, NULL, NULL, NULL, NULL),
         ROUTER_OK);
  EXPECT(router_route_batch(NULL, matrix, kCount, (size_t)dim, stride, NULL, models2, NULL, NULL),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_route_batch(router, NULL, kCount, (size_t)dim, stride, NULL, models2, NULL, NULL),
         ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "vectors") != NULL);
  EXPECT(router_route_batch(router, matrix, kCount, (size_t)dim, stride, NULL, NULL, NULL, NULL),
         ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "out_model_index") != NULL);
  EXPECT(router_route_batch(router, matrix, kCount, (size_t)dim + 1, stride, NULL, models2, NULL,
                            NULL),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_route_batch(router, matrix, kCount, (size_t)dim, (size_t)dim - 1, NULL, models2,
                            NULL, NULL),
         ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "stride") != NULL);
  /* stride == dim reads the padding NaNs as data: row 1 fails. */
  EXPECT(router_route_batch(router, matrix, kCount, (size_t)dim, (size_t)dim, NULL, models2, NULL,
                            NULL),
         ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "query 1") != NULL);
  matrix[2 * stride + 1] = NAN;
  EXPECT(router_route_batch(router, matrix, kCount, (size_t)dim, stride, NULL, models2, NULL,
                            NULL),
         ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "query 2") != NULL);
  matrix[2 * stride + 1] = 0.0f;
  tokens[3] = -5;
  EXPECT(router_route_batch(router, matrix, kCount, (size_t)dim, stride, tokens, models2, NULL,
                            NULL),
         ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "query 3") != NULL);

  /* Embedding: bad arguments. */
  EXPECT(router_embed_text(router, "x", matrix, (size_t)dim - 1), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_embed_text(router, NULL, matrix, (size_t)dim), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_embed_text(router, "x", NULL, (size_t)dim), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_embed_text(NULL, "x", matrix, (size_t)dim), ROUTER_INVALID_ARGUMENT);
  free(matrix);
}

static void TestRouteVectorErrors(const router_t* router) {
  int32_t dim = 0;
  float* v;
  router_decision_t* decision = NULL;
  router_decision_t* const sentinel = (router_decision_t*)&dim;

  EXPECT(router_dim(router, &dim), ROUTER_OK);
  if (dim <= 0) return;
  v = (float*)calloc((size_t)dim + 1, sizeof(float));
  if (v == NULL) return;
  v[0] = 1.0f;
  EXPECT(router_route_vector(router, v, (size_t)dim, 0, &decision), ROUTER_OK);
  router_decision_free(decision);

  decision = sentinel;
  EXPECT(router_route_vector(NULL, v, (size_t)dim, 0, &decision), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_route_vector(router, NULL, (size_t)dim, 0, &decision), ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "vector") != NULL);
  EXPECT(router_route_vector(router, v, (size_t)dim, 0, NULL), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_route_vector(router, v, (size_t)dim + 1, 0, &decision), ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "dimension") != NULL);
  EXPECT(router_route_vector(router, v, (size_t)dim - 1, 0, &decision), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_route_vector(router, v, 0, 0, &decision), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_route_vector(router, v, (size_t)dim, -1, &decision), ROUTER_INVALID_ARGUMENT);
  v[dim - 1] = NAN;
  EXPECT(router_route_vector(router, v, (size_t)dim, 0, &decision), ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "finite") != NULL);
  v[dim - 1] = INFINITY;
  EXPECT(router_route_vector(router, v, (size_t)dim, 0, &decision), ROUTER_INVALID_ARGUMENT);
  CHECK(decision == sentinel);
  free(v);
}

static void TestConfigs(const char* path) {
  router_t* router = NULL;
  char model[64];

  /* "" means the defaults, like NULL. */
  EXPECT(router_create_from_dataset(path, "", &router), ROUTER_OK);
  router_free(router);
  router = NULL;

  /* A valid config: constraints exclude "coder", so code goes elsewhere. */
  EXPECT(router_create_from_dataset(
             path,
             "{\"knn\": {\"k\": 10}, \"policy\": {\"kind\": \"max_utility\", \"lambda\": 0, "
             "\"constraints\": {\"denied_models\": [\"coder\"]}}}",
             &router),
         ROUTER_OK);
  if (router != NULL) {
    EXPECT(RouteTo(router, "my python function has a bug and will not compile", model,
                   sizeof(model)),
           ROUTER_OK);
    CHECK(strcmp(model, "generalist") == 0);
  }
  router_free(router);
  router = NULL;

  /* Every model denied: routing fails with FAILED_PRECONDITION. */
  EXPECT(router_create_from_dataset(
             path,
             "{\"policy\": {\"constraints\": {\"denied_models\": "
             "[\"coder\", \"writer\", \"generalist\"]}}}",
             &router),
         ROUTER_OK);
  if (router != NULL) {
    EXPECT(RouteTo(router, "python bug", model, sizeof(model)), ROUTER_FAILED_PRECONDITION);
  }
  router_free(router);
}

static router_status_t RouteWithTo(const router_t* router, const char* text,
                                   const router_route_options_t* options, char* name,
                                   size_t size) {
  router_decision_t* decision = NULL;
  const router_status_t status = router_route_text_with(router, text, options, &decision);
  return TakeModel(status, decision, name, size);
}

/* Per-request overrides: an allow-list, a budget class by name, and bad
 * options refused. */
static void TestRouteWith(const char* path) {
  static const char kCode[] = "my python function has a bug and will not compile";
  const char* writer_only[] = {"writer"};
  router_t* router = NULL;
  router_route_options_t options;
  char model[64];

  EXPECT(router_create_from_dataset(
             path,
             "{\"knn\": {\"k\": 10}, \"policy\": {\"budget_classes\": "
             "{\"frugal\": {\"allowed_models\": [\"generalist\"]}}}}",
             &router),
         ROUTER_OK);
  if (router == NULL) return;
  EXPECT(RouteWithTo(router, kCode, NULL, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "coder") == 0);

  memset(&options, 0, sizeof(options));
  options.struct_size = sizeof(options);
  options.allowed_models = writer_only;
  options.allowed_model_count = 1;
  EXPECT(RouteWithTo(router, kCode, &options, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "writer") == 0);

  memset(&options, 0, sizeof(options));
  options.struct_size = sizeof(options);
  options.budget_class = "frugal";
  EXPECT(RouteWithTo(router, kCode, &options, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "generalist") == 0);
  options.budget_class = "platinum";
  EXPECT(RouteWithTo(router, kCode, &options, model, sizeof(model)), ROUTER_NOT_FOUND);
  CHECK(strstr(router_last_error_message(), "frugal") != NULL);
  options.budget_class = "";  /* none */
  EXPECT(RouteWithTo(router, kCode, &options, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "coder") == 0);

  /* The first layout, without `task`, is still read; other sizes are not. */
  options.struct_size = offsetof(router_route_options_t, task);
  EXPECT(RouteWithTo(router, kCode, &options, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "coder") == 0);
  options.struct_size = sizeof(options) - 4;
  EXPECT(RouteWithTo(router, kCode, &options, model, sizeof(model)), ROUTER_INVALID_ARGUMENT);
  options.struct_size = sizeof(options) + 8;
  EXPECT(RouteWithTo(router, kCode, &options, model, sizeof(model)), ROUTER_INVALID_ARGUMENT);
  options.struct_size = sizeof(options);
  options.flags = 64u;
  EXPECT(RouteWithTo(router, kCode, &options, model, sizeof(model)), ROUTER_INVALID_ARGUMENT);
  options.flags = ROUTER_OVERRIDE_LAMBDA;
  options.lambda = NAN;
  EXPECT(RouteWithTo(router, kCode, &options, model, sizeof(model)), ROUTER_INVALID_ARGUMENT);
  router_free(router);
}

/* A request naming its task: a cluster router fitted on rows that name their
 * source routes a prompt of no task's words to that task's best model; an
 * unknown task, or options of the first layout, leave the text to decide. */
static void TestRouteWithTask(void) {
  static const char kVague[] = "please help: thank you";
  char path[1200], model[64], inferred[64];
  router_t* router = NULL;
  router_route_options_t options;

  WriteDatasetWith(PathOf("tasks.jsonl", path, sizeof(path)), NULL, 1);
  EXPECT(router_create_from_dataset(path, "{\"router\": \"cluster\"}", &router), ROUTER_OK);
  if (router == NULL) return;
  memset(&options, 0, sizeof(options));
  options.struct_size = sizeof(options);
  options.flags = ROUTER_OVERRIDE_LAMBDA;
  options.lambda = 0.0; /* quality alone */
  EXPECT(RouteWithTo(router, kVague, &options, inferred, sizeof(inferred)), ROUTER_OK);
  options.task = "poems";
  EXPECT(RouteWithTo(router, kVague, &options, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "writer") == 0);
  options.task = "code";
  EXPECT(RouteWithTo(router, kVague, &options, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "coder") == 0);
  options.task = "limericks";
  EXPECT(RouteWithTo(router, kVague, &options, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, inferred) == 0);
  /* The first layout has no task field: it is not read. */
  options.task = strcmp(inferred, "coder") == 0 ? "poems" : "code";
  options.struct_size = offsetof(router_route_options_t, task);
  EXPECT(RouteWithTo(router, kVague, &options, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, inferred) == 0);
  router_free(router);
}

static void TestHostVectors(const char* path) {
  char npy[1200];
  router_t* router = NULL;
  router_decision_t* decision = NULL;
  int32_t dim = 0;
  const char* name = NULL;
  float code[VDIM], poem[VDIM], padded[2 * (VDIM + 2)];
  int32_t models[2];
  int i;

  WriteNpy(PathOf("vectors.npy", npy, sizeof(npy)), ROWS);
  EXPECT(router_create_from_dataset_with_vectors(path, npy, NULL, &router), ROUTER_OK);
  if (router == NULL) return;
  EXPECT(router_dim(router, &dim), ROUTER_OK);
  CHECK(dim == VDIM);
  /* No text featurizer: text routing is a failed precondition. */
  EXPECT(router_route_text(router, "python bug", &decision), ROUTER_FAILED_PRECONDITION);
  EXPECT(router_embed_text(router, "python bug", code, VDIM), ROUTER_FAILED_PRECONDITION);

  HostVector(10, code);
  HostVector(11, poem);
  EXPECT(router_route_vector(router, code, VDIM, 0, &decision), ROUTER_OK);
  EXPECT(router_decision_model(decision, &name), ROUTER_OK);
  CHECK(name != NULL && strcmp(name, "coder") == 0);
  router_decision_free(decision);
  decision = NULL;
  EXPECT(router_route_vector(router, poem, VDIM, 0, &decision), ROUTER_OK);
  EXPECT(router_decision_model(decision, &name), ROUTER_OK);
  CHECK(name != NULL && strcmp(name, "writer") == 0);
  router_decision_free(decision);

  for (i = 0; i < VDIM; ++i) {
    padded[i] = code[i];
    padded[VDIM + 2 + i] = poem[i];
  }
  padded[VDIM] = padded[VDIM + 1] = NAN;
  padded[2 * VDIM + 2] = padded[2 * VDIM + 3] = NAN;
  EXPECT(router_route_batch(router, padded, 2, VDIM, VDIM + 2, NULL, models, NULL, NULL),
         ROUTER_OK);
  EXPECT(router_model_name(router, models[0], &name), ROUTER_OK);
  CHECK(name != NULL && strcmp(name, "coder") == 0);
  EXPECT(router_model_name(router, models[1], &name), ROUTER_OK);
  CHECK(name != NULL && strcmp(name, "writer") == 0);
  router_free(router);
}

static void ExpectRoutesTo(const router_t* router, const float* vector, const char* want) {
  router_decision_t* decision = NULL;
  const char* name = NULL;
  EXPECT(router_route_vector(router, vector, VDIM, 0, &decision), ROUTER_OK);
  EXPECT(router_decision_model(decision, &name), ROUTER_OK);
  CHECK(name != NULL && strcmp(name, want) == 0);
  if (name != NULL && strcmp(name, want) != 0) {
    fprintf(stderr, "  routed to %s, not %s\n", name, want);
  }
  router_decision_free(decision);
}

/* router_add_model: a cluster router learns a cheaper poet from examples
 * (poems it answers well, code it does not) and sends poems to it under a
 * quality floor; bad
 * input changes nothing; kNN cannot onboard; LinUCB starts at its prior. */
static void TestAddModel(const char* path) {
  static const char kPoet[] = "{\"name\": \"poet\", \"input_usd_per_mtok\": 0.1, "
                              "\"output_usd_per_mtok\": 0.2}";
  enum { kExamples = 40 };
  char npy[1200];
  router_t* router = NULL;
  float vectors[kExamples * VDIM], code[VDIM], poem[VDIM];
  double scores[kExamples], costs[kExamples];
  int32_t count = 0;
  int i;

  for (i = 0; i < kExamples; ++i) {
    HostVector(i, vectors + i * VDIM);
    scores[i] = i % 2 == 0 ? 0.0 : 1.0; /* even rows are code */
    costs[i] = 0.0001;
  }
  HostVector(10, code);
  HostVector(11, poem);
  WriteNpy(PathOf("vectors.npy", npy, sizeof(npy)), ROWS);
  /* The cheapest model predicted to score at least 0.7. */
  EXPECT(router_create_from_dataset_with_vectors(
             path, npy,
             "{\"router\": \"cluster\", \"policy\": {\"kind\": \"quality_floor\", "
             "\"tau\": 0.7}}",
             &router),
         ROUTER_OK);
  if (router == NULL) return;
  ExpectRoutesTo(router, poem, "writer");

  /* Bad input: nothing changes. */
  EXPECT(router_add_model(NULL, kPoet, vectors, kExamples, VDIM, scores, costs),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_add_model(router, NULL, vectors, kExamples, VDIM, scores, costs),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_add_model(router, "{\"name\": ", vectors, kExamples, VDIM, scores, costs),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_add_model(router, "{\"name\": \"poet\", \"price\": 1}", vectors, kExamples,
                          VDIM, scores, costs),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_add_model(router, kPoet, vectors, kExamples, VDIM - 1, scores, costs),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_add_model(router, kPoet, NULL, kExamples, VDIM, scores, costs),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_add_model(router, kPoet, vectors, kExamples, VDIM, NULL, costs),
         ROUTER_INVALID_ARGUMENT);
  scores[3] = NAN;
  EXPECT(router_add_model(router, kPoet, vectors, kExamples, VDIM, scores, costs),
         ROUTER_INVALID_ARGUMENT);
  scores[3] = 1.5;
  EXPECT(router_add_model(router, kPoet, vectors, kExamples, VDIM, scores, costs),
         ROUTER_INVALID_ARGUMENT);
  scores[3] = 1.0;
  vectors[5] = NAN;
  EXPECT(router_add_model(router, kPoet, vectors, kExamples, VDIM, scores, costs),
         ROUTER_INVALID_ARGUMENT);
  HostVector(1, vectors + VDIM);
  EXPECT(router_add_model(router, "{\"name\": \"coder\"}", vectors, kExamples, VDIM, scores,
                          costs),
         ROUTER_ALREADY_EXISTS);
  EXPECT(router_model_count(router, &count), ROUTER_OK);
  CHECK(count == 3);

  EXPECT(router_add_model(router, kPoet, vectors, kExamples, VDIM, scores, costs), ROUTER_OK);
  EXPECT(router_model_count(router, &count), ROUTER_OK);
  CHECK(count == 4);
  ExpectRoutesTo(router, poem, "poet");
  ExpectRoutesTo(router, code, "coder");
  router_free(router);
  router = NULL;

  /* kNN needs the model's score on every reference prompt. */
  EXPECT(router_create_from_dataset_with_vectors(path, npy, "{\"router\": \"knn\"}", &router),
         ROUTER_OK);
  if (router != NULL) {
    EXPECT(router_add_model(router, kPoet, vectors, kExamples, VDIM, scores, costs),
           ROUTER_UNIMPLEMENTED);
    router_free(router);
    router = NULL;
  }
  /* LinUCB: no examples is fine (the arm starts at its prior). */
  EXPECT(router_create_from_dataset_with_vectors(path, npy, "{\"router\": \"linucb\"}",
                                                 &router),
         ROUTER_OK);
  if (router != NULL) {
    EXPECT(router_add_model(router, kPoet, NULL, 0, 0, NULL, NULL), ROUTER_OK);
    EXPECT(router_model_count(router, &count), ROUTER_OK);
    CHECK(count == 4);
    router_free(router);
  }
}

/* Save, load and reload: the same decisions after a round trip; a reload
 * swaps the pipeline, and a refused reload keeps the old one serving. */
static void TestSaveLoadReload(const router_t* fitted, const char* dataset) {
  static const char* const kPrompts[] = {
      "my python function has a bug and will not compile",
      "write a poem that tells a story, with rhyme, like a novel", "", "zzzz qqqq"};
  char saved[1200], generalist_only[1200], garbage[1200], a[64], b[64];
  router_t* loaded = NULL;
  router_t* other = NULL;
  size_t i;
  int32_t count = 0;

  PathOf("model.router", saved, sizeof(saved));
  PathOf("generalist.router", generalist_only, sizeof(generalist_only));
  PathOf("garbage.router", garbage, sizeof(garbage));
  WriteText(garbage, "this is not a router file");

  EXPECT(router_save(fitted, saved), ROUTER_OK);
  EXPECT(router_load(saved, &loaded), ROUTER_OK);
  CHECK(loaded != NULL);
  if (loaded == NULL) return;
  for (i = 0; i < sizeof(kPrompts) / sizeof(kPrompts[0]); ++i) {
    EXPECT(RouteTo(fitted, kPrompts[i], a, sizeof(a)), ROUTER_OK);
    EXPECT(RouteTo(loaded, kPrompts[i], b, sizeof(b)), ROUTER_OK);
    CHECK(strcmp(a, b) == 0);
  }

  EXPECT(router_save(NULL, saved), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_save(fitted, NULL), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_save(fitted, "/nonexistent-dir/x.router"), ROUTER_UNAVAILABLE);
  CHECK(strstr(router_last_error_message(), "/nonexistent-dir/x.router") != NULL);
  other = (router_t*)&other;
  EXPECT(router_load("/nonexistent-dir/x.router", &other), ROUTER_NOT_FOUND);
  CHECK(other == NULL);
  EXPECT(router_load(garbage, &other), ROUTER_DATA_LOSS);
  CHECK(strstr(router_last_error_message(), "garbage.router") != NULL);
  CHECK(other == NULL);
  EXPECT(router_load(NULL, &other), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_load(saved, NULL), ROUTER_INVALID_ARGUMENT);

  /* A second pipeline that never picks the specialists. */
  EXPECT(router_create_from_dataset(
             dataset, "{\"policy\": {\"constraints\": {\"allowed_models\": [\"generalist\"]}}}",
             &other),
         ROUTER_OK);
  if (other == NULL) {
    router_free(loaded);
    return;
  }
  EXPECT(router_save(other, generalist_only), ROUTER_OK);
  router_free(other);

  EXPECT(router_reload(loaded, generalist_only), ROUTER_OK);
  EXPECT(RouteTo(loaded, kPrompts[0], a, sizeof(a)), ROUTER_OK);
  CHECK(strcmp(a, "generalist") == 0);
  EXPECT(router_reload(loaded, garbage), ROUTER_DATA_LOSS);
  EXPECT(RouteTo(loaded, kPrompts[0], a, sizeof(a)), ROUTER_OK);
  CHECK(strcmp(a, "generalist") == 0); /* the refused file changed nothing */
  EXPECT(router_reload(loaded, saved), ROUTER_OK);
  EXPECT(RouteTo(loaded, kPrompts[0], a, sizeof(a)), ROUTER_OK);
  CHECK(strcmp(a, "coder") == 0);
  EXPECT(router_reload(NULL, saved), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_reload(loaded, NULL), ROUTER_INVALID_ARGUMENT);

  /* Run-time changes: remove the coder, then it is never chosen. */
  EXPECT(router_remove_model(loaded, "coder"), ROUTER_OK);
  EXPECT(RouteTo(loaded, kPrompts[0], a, sizeof(a)), ROUTER_OK);
  CHECK(strcmp(a, "coder") != 0);
  EXPECT(router_model_count(loaded, &count), ROUTER_OK);
  CHECK(count == 2);
  EXPECT(router_remove_model(loaded, "coder"), ROUTER_NOT_FOUND);
  EXPECT(router_remove_model(loaded, NULL), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_set_model_price(loaded, "writer", 1.0, 2.0), ROUTER_OK);
  {
    /* The data's models had no prices, so the writer's cost is now its list
     * price: one input token per four bytes at $1/M plus 200 expected output
     * tokens at $2/M. Swapped prices would give another figure. */
    const char* const only_writer[] = {"writer"};
    const double tokens = (double)((strlen(kPrompts[1]) + 3) / 4);
    router_route_options_t options;
    router_decision_t* priced = NULL;
    double cost = 0.0;
    memset(&options, 0, sizeof(options));
    options.struct_size = sizeof(options);
    options.allowed_models = only_writer;
    options.allowed_model_count = 1;
    EXPECT(router_route_text_with(loaded, kPrompts[1], &options, &priced), ROUTER_OK);
    EXPECT(router_decision_cost_usd(priced, &cost), ROUTER_OK);
    CHECK(fabs(cost - (tokens * 1.0 + 200.0 * 2.0) * 1e-6) < 1e-15);
    router_decision_free(priced);
  }
  EXPECT(router_set_model_price(loaded, "writer", -1.0, 2.0), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_set_model_price(loaded, "nobody", 1.0, 2.0), ROUTER_NOT_FOUND);
  EXPECT(router_set_model_price(NULL, "writer", 1.0, 2.0), ROUTER_INVALID_ARGUMENT);
  {
    /* The prices read back as set, in their order; a refused change left
     * them; the removed coder and unknown names are not found. */
    double input = -1.0, output = -1.0;
    EXPECT(router_model_price(loaded, "writer", &input, &output), ROUTER_OK);
    CHECK(input == 1.0 && output == 2.0);
    EXPECT(router_model_price(loaded, "generalist", &input, &output), ROUTER_OK);
    CHECK(input == 0.0 && output == 0.0);
    EXPECT(router_model_price(loaded, "coder", &input, &output), ROUTER_NOT_FOUND);
    EXPECT(router_model_price(loaded, "nobody", &input, &output), ROUTER_NOT_FOUND);
    EXPECT(router_model_price(loaded, "writer", NULL, &output), ROUTER_INVALID_ARGUMENT);
    EXPECT(router_model_price(loaded, "writer", &input, NULL), ROUTER_INVALID_ARGUMENT);
    EXPECT(router_model_price(loaded, NULL, &input, &output), ROUTER_INVALID_ARGUMENT);
    EXPECT(router_model_price(NULL, "writer", &input, &output), ROUTER_INVALID_ARGUMENT);
  }
  /* Changes are saved. */
  EXPECT(router_save(loaded, saved), ROUTER_OK);
  router_free(loaded);
  loaded = NULL;
  EXPECT(router_load(saved, &loaded), ROUTER_OK);
  EXPECT(router_model_count(loaded, &count), ROUTER_OK);
  CHECK(count == 2);
  router_free(loaded);
}

/* Feedback: an offline router issues no ids; an online one (LinUCB) does,
 * and each id is reported once. */
static void TestFeedback(const router_t* offline, const char* dataset) {
  router_decision_t* decision = NULL;
  router_t* online = NULL;
  uint64_t id = 99;
  float vector[512];
  int32_t dim = 0;

  EXPECT(router_route_text(offline, "fix my python bug", &decision), ROUTER_OK);
  EXPECT(router_decision_id(decision, &id), ROUTER_OK);
  CHECK(id == 0);
  EXPECT(router_decision_id(decision, NULL), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_decision_id(NULL, &id), ROUTER_INVALID_ARGUMENT);
  router_decision_free(decision);
  decision = NULL;
  EXPECT(router_feedback(offline, 12345, 0.5, 0.001), ROUTER_NOT_FOUND);
  EXPECT(router_feedback(offline, 1, NAN, 0.001), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_feedback(NULL, 1, 0.5, 0.001), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_dim(offline, &dim), ROUTER_OK);
  if (dim <= 0 || dim > 512) return;
  memset(vector, 0, sizeof(vector));
  vector[0] = 1.0f;
  EXPECT(router_feedback_vector(offline, vector, (size_t)dim, "coder", 1.0, 0.001), ROUTER_OK);
  EXPECT(router_feedback_vector(offline, vector, (size_t)dim, "nobody", 1.0, 0.001),
         ROUTER_NOT_FOUND);
  EXPECT(router_feedback_vector(offline, vector, (size_t)dim - 1, "coder", 1.0, 0.001),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_feedback_vector(offline, NULL, (size_t)dim, "coder", 1.0, 0.001),
         ROUTER_INVALID_ARGUMENT);

  EXPECT(router_create_from_dataset(dataset, "{\"router\": \"linucb\"}", &online), ROUTER_OK);
  if (online == NULL) return;
  EXPECT(router_route_text(online, "fix my python bug", &decision), ROUTER_OK);
  EXPECT(router_decision_id(decision, &id), ROUTER_OK);
  CHECK(id != 0);
  EXPECT(router_feedback(online, id, 2.0, 0.001), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_feedback(online, id, 1.0, 0.001), ROUTER_OK); /* the id was still usable */
  EXPECT(router_feedback(online, id, 1.0, 0.001), ROUTER_NOT_FOUND); /* once only */
  router_decision_free(decision);
  router_free(online);
}

/* The policy calls, each checked by its effect on decisions: set_policy,
 * policy_state_json, set_model_available, calibrate_threshold and
 * route_vector_with. The data: coder scores 1 on code, writer on poems,
 * generalist 0.5 on both and costs least. */
static void TestPolicyCalls(const char* path) {
  static const char kCode[] = "my python function has a bug and will not compile";
  static const char kPoem[] = "write a poem that tells a story, with rhyme, like a novel";
  const char* writer_only[] = {"writer"};
  router_t* router = NULL;
  router_route_options_t options;
  router_decision_t* decision = NULL;
  char model[64], state[512];
  size_t needed = 0;
  float code[512], poem[512], sample[20 * 512];
  int32_t dim = 0;
  double threshold = 99.0;
  int i;

  EXPECT(router_create_from_dataset(path, "{\"knn\": {\"k\": 10}}", &router), ROUTER_OK);
  if (router == NULL) return;
  EXPECT(RouteTo(router, kCode, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "coder") == 0); /* lambda 0: the best quality */

  /* A floor the generalist (0.5) clears picks it, the cheapest; one it does
   * not clear picks the coder. */
  EXPECT(router_set_policy(router, "{\"kind\": \"quality_floor\", \"tau\": 0.45}"), ROUTER_OK);
  EXPECT(RouteTo(router, kCode, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "generalist") == 0);
  EXPECT(router_set_policy(router, "{\"kind\": \"quality_floor\", \"tau\": 0.6}"), ROUTER_OK);
  EXPECT(RouteTo(router, kCode, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "coder") == 0);
  /* Refused policies change nothing. */
  EXPECT(router_set_policy(router, "{\"kind\": \"quality_floor\", \"tau\": 0.45"),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_set_policy(router, "{\"kind\": \"quality_floor\", \"tua\": 0.45}"),
         ROUTER_INVALID_ARGUMENT);
  CHECK(strstr(router_last_error_message(), "tua") != NULL);
  EXPECT(router_set_policy(router, "{\"constraints\": {\"denied_models\": [\"nobody\"]}}"),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_set_policy(router, NULL), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_set_policy(NULL, "{}"), ROUTER_INVALID_ARGUMENT);
  EXPECT(RouteTo(router, kCode, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "coder") == 0);

  /* The live state names the kind and its floor; a short buffer is cut and
   * NUL-terminated, and the size needed is reported either way. */
  EXPECT(router_policy_state_json(router, state, sizeof(state), &needed), ROUTER_OK);
  CHECK(strstr(state, "\"kind\":\"quality_floor\"") != NULL);
  CHECK(strstr(state, "\"tau\":0.6") != NULL);
  CHECK(needed == strlen(state) + 1);
  EXPECT(router_policy_state_json(router, state, 5, &needed), ROUTER_OK);
  CHECK(strlen(state) == 4);
  CHECK(needed > 5);
  EXPECT(router_policy_state_json(router, NULL, 0, &needed), ROUTER_OK);
  EXPECT(router_policy_state_json(NULL, state, sizeof(state), &needed), ROUTER_INVALID_ARGUMENT);

  /* Realised costs reach a budget policy's spend (realised - expected); the
   * other kinds accept and ignore them; bad costs change nothing. */
  EXPECT(router_record_cost(router, 1e-3, 4e-3), ROUTER_OK); /* quality_floor: ignored */
  EXPECT(router_set_policy(router, "{\"kind\": \"budget\", \"target_cost_usd\": 1}"),
         ROUTER_OK);
  EXPECT(router_record_cost(router, 1e-3, 4e-3), ROUTER_OK);
  EXPECT(router_record_cost(router, -1.0, 4e-3), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_record_cost(router, 1e-3, NAN), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_record_cost(router, 1e-3, INFINITY), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_record_cost(NULL, 1e-3, 4e-3), ROUTER_INVALID_ARGUMENT);
  EXPECT(router_policy_state_json(router, state, sizeof(state), &needed), ROUTER_OK);
  CHECK(strstr(state, "\"spend_usd\":0.003,") != NULL);
  CHECK(strstr(state, "\"requests\":0,") != NULL);
  EXPECT(router_set_policy(router, "{\"kind\": \"quality_floor\", \"tau\": 0.6}"), ROUTER_OK);

  /* A model marked down is skipped until marked up. */
  EXPECT(router_set_model_available(router, "coder", 0), ROUTER_OK);
  EXPECT(RouteTo(router, kCode, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "coder") != 0);
  EXPECT(router_set_model_available(router, "coder", 7), ROUTER_OK); /* any non-zero: up */
  EXPECT(RouteTo(router, kCode, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "coder") == 0);
  EXPECT(router_set_model_available(router, "nobody", 0), ROUTER_NOT_FOUND);
  EXPECT(router_set_model_available(router, NULL, 0), ROUTER_INVALID_ARGUMENT);

  /* Calibration needs a threshold policy; on a sample of half code, half
   * poems, a 0.5 share puts the threshold between their scores (code: coder
   * minus generalist about +0.5, poems about -0.5), so code goes strong. */
  EXPECT(router_dim(router, &dim), ROUTER_OK);
  CHECK(dim > 0 && dim <= 512);
  if (dim <= 0 || dim > 512) {
    router_free(router);
    return;
  }
  EXPECT(router_embed_text(router, kCode, code, 512), ROUTER_OK);
  EXPECT(router_embed_text(router, kPoem, poem, 512), ROUTER_OK);
  for (i = 0; i < 20; ++i) memcpy(sample + i * dim, i % 2 == 0 ? code : poem, dim * sizeof(float));
  EXPECT(router_calibrate_threshold(router, sample, 20, (size_t)dim, 0.5, &threshold),
         ROUTER_FAILED_PRECONDITION);
  EXPECT(router_set_policy(router, "{\"kind\": \"threshold\", \"strong\": \"coder\", "
                                   "\"weak\": \"generalist\", \"threshold\": 0.9}"),
         ROUTER_OK);
  EXPECT(RouteTo(router, kCode, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "generalist") == 0); /* 0.5 is not above 0.9 */
  EXPECT(router_calibrate_threshold(router, sample, 20, (size_t)dim, 0.5, &threshold), ROUTER_OK);
  CHECK(threshold > -0.4 && threshold < 0.4);
  EXPECT(RouteTo(router, kCode, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "coder") == 0);
  EXPECT(RouteTo(router, kPoem, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "generalist") == 0);
  EXPECT(router_calibrate_threshold(router, sample, 20, (size_t)dim + 1, 0.5, NULL),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_calibrate_threshold(router, sample, 20, (size_t)dim, 1.5, NULL),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_calibrate_threshold(router, sample, 0, (size_t)dim, 0.5, NULL),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_calibrate_threshold(router, NULL, 20, (size_t)dim, 0.5, NULL),
         ROUTER_INVALID_ARGUMENT);
  EXPECT(router_policy_state_json(router, state, sizeof(state), &needed), ROUTER_OK);
  CHECK(strstr(state, "\"kind\":\"threshold\"") != NULL);

  /* A vector routed with options: the allow-list wins; without options the
   * policy (back to max utility at lambda 0) decides. */
  EXPECT(router_set_policy(router, "{}"), ROUTER_OK);
  memset(&options, 0, sizeof(options));
  options.struct_size = sizeof(options);
  options.allowed_models = writer_only;
  options.allowed_model_count = 1;
  EXPECT(router_route_vector_with(router, code, (size_t)dim, 12, &options, &decision), ROUTER_OK);
  EXPECT(TakeModel(ROUTER_OK, decision, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "writer") == 0);
  decision = NULL;
  EXPECT(router_route_vector_with(router, code, (size_t)dim, 12, NULL, &decision), ROUTER_OK);
  EXPECT(TakeModel(ROUTER_OK, decision, model, sizeof(model)), ROUTER_OK);
  CHECK(strcmp(model, "coder") == 0);
  decision = NULL;
  EXPECT(router_route_vector_with(router, code, (size_t)dim - 1, 12, NULL, &decision),
         ROUTER_INVALID_ARGUMENT);
  CHECK(decision == NULL);
  router_free(router);
}

int main(int argc, char** argv) {
  char path[1200];
  router_t* router = NULL;

  if (!SetPrefix(argc, argv)) return 2;
  PathOf("train.jsonl", path, sizeof(path));
  WriteDataset(path, NULL);

  TestVersionsAndStatusNames();
  TestCreateErrors();

  EXPECT(router_create_from_dataset(path, NULL, &router), ROUTER_OK);
  if (router != NULL) {
    TestTextRouter(router);
    TestBatch(router);
    TestRouteVectorErrors(router);
    TestSaveLoadReload(router, path);
    TestFeedback(router, path);
    router_free(router);
  }
  TestConfigs(path);
  TestHostVectors(path);
  TestAddModel(path);
  TestRouteWith(path);
  TestRouteWithTask();
  TestPolicyCalls(path);

  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
