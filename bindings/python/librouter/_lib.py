"""ctypes declarations of router_c.h, one typed stub per C function.

Each stub has its C prototype above it, so this file can be read side by side
with the header. Only this module touches ctypes; librouter/__init__.py builds
the Python API on it.
"""
import ctypes
import os
import sys
from ctypes import (POINTER, c_char, c_char_p, c_double, c_float, c_int32, c_int64, c_size_t,
                    c_uint32, c_uint64)
from typing import Any, Callable, Mapping, Tuple

ABI_VERSION = 1  # the ROUTER_ABI_VERSION these declarations follow

# librouter_c's file name on this platform (on ELF systems, its SONAME).
if sys.platform == "darwin":
    LIBRARY_NAME = "librouter_c.%d.dylib" % ABI_VERSION
elif sys.platform == "win32":
    LIBRARY_NAME = "router_c.dll"
else:
    LIBRARY_NAME = "librouter_c.so.%d" % ABI_VERSION
# Where a wheel bundles its copy: in this package, librouter/librouter_c.so.1.
BUNDLED_DIR = os.path.dirname(os.path.abspath(__file__))

Loader = Callable[[str], ctypes.CDLL]


def load_library(environ: Mapping[str, str] = os.environ, bundled_dir: str = BUNDLED_DIR,
                 loader: Loader = ctypes.CDLL) -> Tuple[ctypes.CDLL, str]:
    """Loads librouter_c; returns it and the path (from the system loader:
    the name) it was loaded by. Looks, in order, at:

    1. $LIBROUTER_C: the library file, or the directory holding it;
    2. the copy a wheel bundles in this package (librouter/librouter_c.so.1);
    3. the system's dynamic loader, by name (LD_LIBRARY_PATH, ldconfig).

    The first of 1 and 2 that is there is the one: if it does not load (a
    library it needs is missing, say), that error is raised rather than
    another copy loaded. Found nowhere: OSError naming each place looked at.
    """
    configured = environ.get("LIBROUTER_C")
    if configured:
        origin = "LIBROUTER_C=%s" % configured
        if not os.path.isdir(configured):
            return _load(loader, configured, origin)
        for name in (LIBRARY_NAME, "librouter_c.so"):
            path = os.path.join(configured, name)
            if os.path.exists(path):
                return _load(loader, path, origin)
        raise OSError("%s: no %s in that directory" % (origin, LIBRARY_NAME))
    bundled = os.path.join(bundled_dir, LIBRARY_NAME)
    if os.path.exists(bundled):
        return _load(loader, bundled, "the copy bundled in the package")
    try:
        return loader(LIBRARY_NAME), LIBRARY_NAME
    except OSError as error:
        raise OSError(
            "librouter_c not found. Looked at: $LIBROUTER_C (not set); %s (no bundled "
            "copy: the package was not installed from a wheel); the system loader (%s). "
            "Install a librouter wheel or librouter itself, or set LIBROUTER_C to the "
            "library or its directory." % (bundled, error)) from error


def _load(loader: Loader, path: str, origin: str) -> Tuple[ctypes.CDLL, str]:
    try:
        return loader(path), path
    except OSError as error:
        raise OSError("librouter_c from %s does not load: %s" % (origin, error)) from error


lib, path = load_library()  # path: the file loaded, or the name the system loader found


class router_t(ctypes.Structure):
    """Opaque: struct router_s."""


class router_decision_t(ctypes.Structure):
    """Opaque: struct router_decision_s."""


class router_sync_t(ctypes.Structure):
    """Opaque: struct router_sync_s."""


class router_route_options_t(ctypes.Structure):
    """router_route_options_t: per-request parameters (size-prefixed)."""
    _fields_ = [("struct_size", ctypes.c_uint32),
                ("flags", ctypes.c_uint32),
                ("lambda_", ctypes.c_double),
                ("tau", ctypes.c_double),
                ("allowed_models", POINTER(c_char_p)),
                ("allowed_model_count", c_size_t),
                ("budget_class", c_char_p),
                ("task", c_char_p)]


ROUTER_OVERRIDE_LAMBDA = 1
ROUTER_OVERRIDE_TAU = 2

router_status_t = c_int32
router_p = POINTER(router_t)
decision_p = POINTER(router_decision_t)
sync_p = POINTER(router_sync_t)


def _bind(name: str, restype: Any, *argtypes: Any) -> Any:
    function = getattr(lib, name)
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


# uint32_t router_abi_version(void);
router_abi_version = _bind("router_abi_version", c_uint32)
# uint32_t router_version_number(void);
router_version_number = _bind("router_version_number", c_uint32)
# const char* router_version_string(void);
router_version_string = _bind("router_version_string", c_char_p)
# const char* router_simd_target(void);
router_simd_target = _bind("router_simd_target", c_char_p)
# const char* router_status_name(router_status_t status);
router_status_name = _bind("router_status_name", c_char_p, router_status_t)
# const char* router_last_error_message(void);
router_last_error_message = _bind("router_last_error_message", c_char_p)

# router_status_t router_create_from_dataset(const char* dataset_jsonl_path,
#                                            const char* config_json, router_t** out);
router_create_from_dataset = _bind("router_create_from_dataset", router_status_t,
                                   c_char_p, c_char_p, POINTER(router_p))
# router_status_t router_create_from_dataset_with_vectors(
#     const char* dataset_jsonl_path, const char* vectors_npy_path, const char* config_json,
#     router_t** out);
router_create_from_dataset_with_vectors = _bind(
    "router_create_from_dataset_with_vectors", router_status_t,
    c_char_p, c_char_p, c_char_p, POINTER(router_p))
# router_status_t router_save(const router_t* router, const char* path);
router_save = _bind("router_save", router_status_t, router_p, c_char_p)
# router_status_t router_load(const char* path, router_t** out);
router_load = _bind("router_load", router_status_t, c_char_p, POINTER(router_p))
# router_status_t router_reload(router_t* router, const char* path);
router_reload = _bind("router_reload", router_status_t, router_p, c_char_p)
# router_status_t router_decision_id(const router_decision_t* decision, uint64_t* out_id);
router_decision_id = _bind("router_decision_id", router_status_t, decision_p, POINTER(c_uint64))
# router_status_t router_feedback(const router_t* router, uint64_t decision_id, double score,
#                                 double cost_usd);
router_feedback = _bind("router_feedback", router_status_t, router_p, c_uint64, c_double,
                        c_double)
# router_status_t router_feedback_vector(const router_t* router, const float* vector,
#                                        size_t dim, const char* model, double score,
#                                        double cost_usd);
router_feedback_vector = _bind("router_feedback_vector", router_status_t,
                               router_p, POINTER(c_float), c_size_t, c_char_p, c_double,
                               c_double)
# router_status_t router_add_model(router_t* router, const char* profile_json,
#                                  const float* vectors, size_t count, size_t dim,
#                                  const double* scores, const double* costs_usd);
router_add_model = _bind("router_add_model", router_status_t, router_p, c_char_p,
                         POINTER(c_float), c_size_t, c_size_t, POINTER(c_double),
                         POINTER(c_double))
# router_status_t router_remove_model(router_t* router, const char* model);
router_remove_model = _bind("router_remove_model", router_status_t, router_p, c_char_p)
# router_status_t router_set_model_price(router_t* router, const char* model,
#                                        double input_usd_per_mtok, double output_usd_per_mtok);
router_set_model_price = _bind("router_set_model_price", router_status_t,
                               router_p, c_char_p, c_double, c_double)
# router_status_t router_model_price(const router_t* router, const char* model,
#                                    double* out_input_usd_per_mtok,
#                                    double* out_output_usd_per_mtok);
router_model_price = _bind("router_model_price", router_status_t, router_p, c_char_p,
                           POINTER(c_double), POINTER(c_double))
# router_status_t router_record_cost(router_t* router, double expected_cost_usd,
#                                    double realised_cost_usd);
router_record_cost = _bind("router_record_cost", router_status_t, router_p, c_double, c_double)
# router_status_t router_set_model_available(router_t* router, const char* model,
#                                            int32_t available);
router_set_model_available = _bind("router_set_model_available", router_status_t,
                                   router_p, c_char_p, c_int32)
# router_status_t router_set_policy(router_t* router, const char* policy_json);
router_set_policy = _bind("router_set_policy", router_status_t, router_p, c_char_p)
# router_status_t router_calibrate_threshold(router_t* router, const float* vectors,
#                                            size_t count, size_t dim, double strong_share,
#                                            double* out_threshold);
router_calibrate_threshold = _bind("router_calibrate_threshold", router_status_t,
                                   router_p, POINTER(c_float), c_size_t, c_size_t, c_double,
                                   POINTER(c_double))
# router_status_t router_policy_state_json(const router_t* router, char* buf,
#                                          size_t capacity, size_t* out_needed);
router_policy_state_json = _bind("router_policy_state_json", router_status_t,
                                 router_p, POINTER(c_char), c_size_t, POINTER(c_size_t))
# void router_free(router_t* router);
router_free = _bind("router_free", None, router_p)

# router_status_t router_dim(const router_t* router, int32_t* out_dim);
router_dim = _bind("router_dim", router_status_t, router_p, POINTER(c_int32))
# router_status_t router_model_count(const router_t* router, int32_t* out_count);
router_model_count = _bind("router_model_count", router_status_t, router_p, POINTER(c_int32))
# router_status_t router_model_name(const router_t* router, int32_t index,
#                                   const char** out_name);
router_model_name = _bind("router_model_name", router_status_t,
                          router_p, c_int32, POINTER(c_char_p))
# router_status_t router_embed_text(const router_t* router, const char* text,
#                                   float* out_vector, size_t capacity);
router_embed_text = _bind("router_embed_text", router_status_t,
                          router_p, c_char_p, POINTER(c_float), c_size_t)
# router_status_t router_route_text(const router_t* router, const char* text,
#                                   router_decision_t** out);
router_route_text = _bind("router_route_text", router_status_t,
                          router_p, c_char_p, POINTER(decision_p))
# router_status_t router_route_vector(const router_t* router, const float* vector,
#                                     size_t dim, int64_t input_tokens, router_decision_t** out);
router_route_vector = _bind("router_route_vector", router_status_t,
                            router_p, POINTER(c_float), c_size_t, c_int64, POINTER(decision_p))
# router_status_t router_route_text_with(const router_t* router, const char* text,
#                                        const router_route_options_t* options,
#                                        router_decision_t** out);
router_route_text_with = _bind("router_route_text_with", router_status_t,
                               router_p, c_char_p, POINTER(router_route_options_t),
                               POINTER(decision_p))
# router_status_t router_route_vector_with(const router_t* router, const float* vector,
#                                          size_t dim, int64_t input_tokens,
#                                          const router_route_options_t* options,
#                                          router_decision_t** out);
router_route_vector_with = _bind("router_route_vector_with", router_status_t,
                                 router_p, POINTER(c_float), c_size_t, c_int64,
                                 POINTER(router_route_options_t), POINTER(decision_p))
# router_status_t router_route_batch(const router_t* router, const float* vectors,
#                                    size_t count, size_t dim, size_t stride_floats,
#                                    const int64_t* input_tokens, int32_t* out_model_index,
#                                    double* out_quality, double* out_cost_usd);
router_route_batch = _bind("router_route_batch", router_status_t,
                           router_p, POINTER(c_float), c_size_t, c_size_t, c_size_t,
                           POINTER(c_int64), POINTER(c_int32), POINTER(c_double),
                           POINTER(c_double))

# router_status_t router_decision_model(const router_decision_t* decision,
#                                       const char** out_name);
router_decision_model = _bind("router_decision_model", router_status_t,
                              decision_p, POINTER(c_char_p))
# router_status_t router_decision_model_index(const router_decision_t* decision,
#                                             int32_t* out_index);
router_decision_model_index = _bind("router_decision_model_index", router_status_t,
                                    decision_p, POINTER(c_int32))
# router_status_t router_decision_quality(const router_decision_t* decision,
#                                         double* out_quality);
router_decision_quality = _bind("router_decision_quality", router_status_t,
                                decision_p, POINTER(c_double))
# router_status_t router_decision_cost_usd(const router_decision_t* decision,
#                                          double* out_cost_usd);
router_decision_cost_usd = _bind("router_decision_cost_usd", router_status_t,
                                 decision_p, POINTER(c_double))
# router_status_t router_decision_fallback_count(const router_decision_t* decision,
#                                                int32_t* out_count);
router_decision_fallback_count = _bind("router_decision_fallback_count", router_status_t,
                                       decision_p, POINTER(c_int32))
# router_status_t router_decision_fallback(const router_decision_t* decision, int32_t index,
#                                          const char** out_name);
router_decision_fallback = _bind("router_decision_fallback", router_status_t,
                                 decision_p, c_int32, POINTER(c_char_p))
# router_status_t router_decision_explain(const router_decision_t* decision, char* buf,
#                                         size_t capacity, size_t* out_needed);
router_decision_explain = _bind("router_decision_explain", router_status_t,
                                decision_p, POINTER(c_char), c_size_t, POINTER(c_size_t))
# router_status_t router_decision_json(const router_decision_t* decision, char* buf,
#                                      size_t capacity, size_t* out_needed);
router_decision_json = _bind("router_decision_json", router_status_t,
                             decision_p, POINTER(c_char), c_size_t, POINTER(c_size_t))
# void router_decision_free(router_decision_t* decision);
router_decision_free = _bind("router_decision_free", None, decision_p)

# router_status_t router_sync_start(router_t* router, const char* options_json,
#                                   router_sync_t** out);
router_sync_start = _bind("router_sync_start", router_status_t, router_p, c_char_p,
                          POINTER(sync_p))
# router_status_t router_sync_now(router_sync_t* sync);
router_sync_now = _bind("router_sync_now", router_status_t, sync_p)
# router_status_t router_sync_retire(router_sync_t* sync);
router_sync_retire = _bind("router_sync_retire", router_status_t, sync_p)
# router_status_t router_sync_fold(router_sync_t* sync, const char* replica_id);
router_sync_fold = _bind("router_sync_fold", router_status_t, sync_p, c_char_p)
# router_status_t router_sync_status_json(const router_sync_t* sync, char* buf,
#                                         size_t capacity, size_t* out_needed);
router_sync_status_json = _bind("router_sync_status_json", router_status_t,
                                sync_p, POINTER(c_char), c_size_t, POINTER(c_size_t))
# void router_sync_stop(router_sync_t* sync);
router_sync_stop = _bind("router_sync_stop", None, sync_p)
