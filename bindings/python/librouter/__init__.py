"""librouter: send each prompt to the LLM that should answer it.

A thin layer over librouter's C ABI (router_c.h) through ctypes, so installing
it needs no compiler, only librouter_c, found as _lib.load_library describes:
$LIBROUTER_C (the library or its directory), else the copy a wheel bundles in
this package, else the system's loader.

    import librouter

    with librouter.Router.from_dataset("queries.jsonl", {"policy": {"lambda": 100}}) as router:
        decision = router.route("Why does free() crash?")
        print(decision.model, decision.quality, decision.cost_usd)
        batch = router.route_batch(vectors)          # numpy (n, dim) float32, not copied
        names = router.models                        # batch.model_index indexes these
        router.feedback(decision, 1.0, 0.002)        # outcome, for routers that learn online

Replicas of one service share what their routers learn through a store:

    with router.start_sync({"replica_id": "pod-3", "store": "redis",
                            "redis": {"host": "redis.internal"}}) as sync:
        ...                                          # route and report feedback as usual
        print(sync.status()["lag_ms"])

Threads: one Router may be used from many threads at once; the C calls
release the GIL. close() must not overlap other calls on the same router.
Errors raise RouterError, carrying the C status code and message.
The API is typed (the package ships py.typed).
"""
from __future__ import annotations

import ctypes
import enum
import json
import os
from ctypes import byref, c_char_p, c_double, c_float, c_int32, c_int64, c_size_t, c_uint64
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _lib

__all__ = ["Router", "Sync", "Decision", "BatchResult", "RouterError", "Status",
           "abi_version", "version", "simd_target"]

# A file path: text, bytes or a path object (os.fsencode's input).
PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
# A JSON object: a dict, or its text.
JsonObject = Union[str, Mapping[str, Any]]


class Status(enum.IntEnum):
    """The C ABI's status codes (router_c.h); the values are frozen."""
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class RouterError(Exception):
    """A failed librouter call: `status` (a Status, or the int for a code newer
    than this module) and the library's `message`."""

    status: Union[Status, int]
    message: str

    def __init__(self, status: int, message: str) -> None:
        try:
            status = Status(status)
        except ValueError:
            pass
        self.status = status
        self.message = message
        super().__init__("%s: %s" % (_lib.router_status_name(status).decode(), message))


def _check(status: int) -> None:
    # The message is thread-local in the library: read it right away, on the
    # thread that made the call.
    if status != Status.OK:
        raise RouterError(status, _lib.router_last_error_message().decode("utf-8", "replace"))


def abi_version() -> int:
    """The ABI version of the loaded librouter_c (1)."""
    return int(_lib.router_abi_version())


def version() -> str:
    """The version of the loaded librouter_c, "MAJOR.MINOR.PATCH"."""
    return _text(_lib.router_version_string())


def simd_target() -> str:
    """The instruction set the loaded librouter_c's SIMD kernels chose at run
    time for this CPU, as Highway names it: "AVX3" (AVX-512), "AVX2", "SSE4",
    "NEON", ..., or "EMU128" / "SCALAR" (no SIMD beyond the baseline). What
    to quote in a performance report."""
    return _text(_lib.router_simd_target())


if abi_version() != _lib.ABI_VERSION:
    raise ImportError("librouter_c has ABI version %d, this module needs %d"
                      % (abi_version(), _lib.ABI_VERSION))


@dataclass(frozen=True)
class Decision:
    """One routing decision, copied out of the C decision (which is freed)."""
    model: str
    model_index: int
    quality: float        # predicted quality of the chosen model, in [0, 1]
    cost_usd: float       # its expected cost for this prompt
    fallbacks: Tuple[str, ...]  # the other eligible models, in retry order
    explanation: str      # a readable paragraph: why this model
    json: str             # the whole decision and its trace as a JSON object
    id: int               # for Router.feedback; 0 unless the router learns online


class BatchResult(NamedTuple):
    """route_batch's results, one entry per query row."""
    model_index: npt.NDArray[np.int32]  # indexes Router.models
    quality: npt.NDArray[np.float64]
    cost_usd: npt.NDArray[np.float64]


def _text(value: Optional[bytes]) -> str:
    """A C string the library returned or filled in: on success never NULL."""
    if value is None:
        raise RouterError(Status.INTERNAL, "librouter_c returned NULL for a string")
    return value.decode()


def _read_text(function: Callable[..., int], handle: Any) -> str:
    # snprintf-style: ask for the size, then fill a buffer of that size. The
    # text of a live router (its policy state) can grow in between when other
    # threads route: then fill again with the size the fill reported.
    needed = c_size_t()
    _check(function(handle, None, 0, byref(needed)))
    while True:
        capacity = needed.value
        buffer = ctypes.create_string_buffer(capacity)
        _check(function(handle, buffer, capacity, byref(needed)))
        if needed.value <= capacity:
            return buffer.value.decode("utf-8")


def _copy_decision(handle: Any) -> Decision:
    try:
        name = c_char_p()
        index = c_int32()
        quality = c_double()
        cost = c_double()
        count = c_int32()
        decision_id = c_uint64()
        _check(_lib.router_decision_model(handle, byref(name)))
        _check(_lib.router_decision_model_index(handle, byref(index)))
        _check(_lib.router_decision_quality(handle, byref(quality)))
        _check(_lib.router_decision_cost_usd(handle, byref(cost)))
        _check(_lib.router_decision_fallback_count(handle, byref(count)))
        _check(_lib.router_decision_id(handle, byref(decision_id)))
        fallbacks = []
        fallback = c_char_p()
        for i in range(count.value):
            _check(_lib.router_decision_fallback(handle, i, byref(fallback)))
            fallbacks.append(_text(fallback.value))
        return Decision(model=_text(name.value), model_index=index.value,
                        quality=quality.value, cost_usd=cost.value, fallbacks=tuple(fallbacks),
                        explanation=_read_text(_lib.router_decision_explain, handle),
                        json=_read_text(_lib.router_decision_json, handle),
                        id=decision_id.value)
    finally:
        _lib.router_decision_free(handle)


def _c_string(text: PathLike) -> bytes:
    """Bytes for a C string (text, bytes or a path; UTF-8 on POSIX). A NUL
    would silently cut the string short in C, so it is refused."""
    data = os.fsencode(text)
    if b"\0" in data:
        raise ValueError("%r contains a NUL character" % (text,))
    return data


def _config_json(config: Optional[JsonObject]) -> Optional[bytes]:
    if config is None:
        return None
    return _c_string(config if isinstance(config, str) else json.dumps(config))


class Router:
    """A fitted router (C router_t). Make one with Router.from_dataset or
    Router.load; free it with close() or a `with` block."""

    def __init__(self, handle: Any) -> None:
        """Takes ownership of a router_t* (a ctypes pointer); use the
        constructors below."""
        self._raw = handle

    @classmethod
    def from_dataset(cls, dataset: PathLike, config: Optional[JsonObject] = None, *,
                     vectors: Optional[PathLike] = None) -> Router:
        """Fits a router on a JSONL dataset (rows with split "train" or none).

        config: a dict or a JSON string (docs/configuration.md), None for the
        defaults. vectors: optional path of a .npy matrix with the host's query
        vector for each line; the router then routes vectors of that size.
        """
        handle = _lib.router_p()
        if vectors is None:
            _check(_lib.router_create_from_dataset(_c_string(dataset), _config_json(config),
                                                   byref(handle)))
        else:
            _check(_lib.router_create_from_dataset_with_vectors(
                _c_string(dataset), _c_string(vectors), _config_json(config),
                byref(handle)))
        return cls(handle)

    @classmethod
    def load(cls, path: PathLike) -> Router:
        """Loads a router saved with save(); a damaged file raises DATA_LOSS."""
        handle = _lib.router_p()
        _check(_lib.router_load(_c_string(path), byref(handle)))
        return cls(handle)

    def close(self) -> None:
        """Frees the router; later calls raise ValueError. Idempotent."""
        handle, self._raw = self._raw, None
        if handle:
            _lib.router_free(handle)

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_raw", None) and _lib is not None:
            self.close()

    @property
    def _handle(self) -> Any:
        if not self._raw:
            raise ValueError("the router is closed")
        return self._raw

    def save(self, path: PathLike) -> None:
        """Writes the router to one file, atomically."""
        _check(_lib.router_save(self._handle, _c_string(path)))

    def reload(self, path: PathLike) -> None:
        """Swaps in the router saved at path while other threads keep routing;
        on error the current one keeps serving."""
        _check(_lib.router_reload(self._handle, _c_string(path)))

    def feedback(self, decision: Union[Decision, int], score: float, cost_usd: float) -> None:
        """Reports a routed request's outcome (a Decision, or its id): the
        observed quality in [0, 1] and cost. Routers that learn online
        (LinUCB) learn from it; each decision is reported at most once."""
        decision_id = decision.id if isinstance(decision, Decision) else decision
        _check(_lib.router_feedback(self._handle, decision_id, score, cost_usd))

    def feedback_vector(self, vector: npt.ArrayLike, model: str, score: float,
                        cost_usd: float) -> None:
        """Reports an outcome by the query's vector and the model that answered."""
        vector = np.ascontiguousarray(vector, dtype=np.float32)
        if vector.ndim != 1:
            raise ValueError("a query vector must be 1-D, got shape %s" % (vector.shape,))
        _check(_lib.router_feedback_vector(self._handle,
                                           vector.ctypes.data_as(ctypes.POINTER(c_float)),
                                           vector.size, _c_string(model), score, cost_usd))

    def add_model(self, profile: JsonObject, vectors: Optional[npt.ArrayLike] = None,
                  scores: Optional[npt.ArrayLike] = None,
                  costs_usd: Optional[npt.ArrayLike] = None) -> None:
        """Adds a model at run time, learned from labelled examples.

        profile: a dict or JSON text of a config "models" entry ({"name": ...,
        "input_usd_per_mtok": ..., "output_usd_per_mtok": ...}). vectors: the
        examples' query vectors (2-D, router.dim columns); scores: the new
        model's score on each, in [0, 1]; costs_usd: its observed cost on each,
        or None to use the profile's prices. Without examples only a linucb
        router can add a model (its arm starts at the prior)."""
        text = profile if isinstance(profile, str) else json.dumps(profile)
        if vectors is None:
            if scores is not None or costs_usd is not None:
                raise ValueError("scores and costs_usd need vectors")
            _check(_lib.router_add_model(self._handle, _c_string(text), None, 0, 0, None,
                                         None))
            return
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        if matrix.ndim != 2:
            raise ValueError("vectors must be 2-D, got shape %s" % (matrix.shape,))
        rows = matrix.shape[0]
        score_array = np.ascontiguousarray(scores, dtype=np.float64)
        if score_array.shape != (rows,):
            raise ValueError("scores must have one value per row of vectors")
        cost_pointer = None
        if costs_usd is not None:
            cost_array = np.ascontiguousarray(costs_usd, dtype=np.float64)
            if cost_array.shape != (rows,):
                raise ValueError("costs_usd must have one value per row of vectors")
            cost_pointer = cost_array.ctypes.data_as(ctypes.POINTER(c_double))
        _check(_lib.router_add_model(self._handle, _c_string(text),
                                     matrix.ctypes.data_as(ctypes.POINTER(c_float)), rows,
                                     matrix.shape[1],
                                     score_array.ctypes.data_as(ctypes.POINTER(c_double)),
                                     cost_pointer))

    def remove_model(self, model: str) -> None:
        """Takes a model out of service (model indexes after it shift down)."""
        _check(_lib.router_remove_model(self._handle, _c_string(model)))

    def set_model_price(self, model: str, input_usd_per_mtok: float,
                        output_usd_per_mtok: float) -> None:
        """Changes a model's prices, in USD per million tokens."""
        _check(_lib.router_set_model_price(self._handle, _c_string(model),
                                           input_usd_per_mtok, output_usd_per_mtok))

    def model_price(self, model: str) -> Tuple[float, float]:
        """A model's current (input, output) prices, in USD per million tokens."""
        input_price, output_price = c_double(), c_double()
        _check(_lib.router_model_price(self._handle, _c_string(model),
                                       byref(input_price), byref(output_price)))
        return input_price.value, output_price.value

    def record_cost(self, expected_usd: float, realised_usd: float) -> None:
        """Reports what a decision really cost (expected: its cost_usd). A
        budget policy paces on the difference; other policies ignore it."""
        _check(_lib.router_record_cost(self._handle, expected_usd, realised_usd))

    @property
    def dim(self) -> int:
        """The size of the query vectors the router takes."""
        dim = c_int32()
        _check(_lib.router_dim(self._handle, byref(dim)))
        return dim.value

    @property
    def models(self) -> Tuple[str, ...]:
        """The candidate models, in index order."""
        count = c_int32()
        _check(_lib.router_model_count(self._handle, byref(count)))
        names = []
        name = c_char_p()
        for i in range(count.value):
            _check(_lib.router_model_name(self._handle, i, byref(name)))
            names.append(_text(name.value))
        return tuple(names)

    def embed(self, text: str) -> npt.NDArray[np.float32]:
        """The float32 vector the router routes `text` by (built-in featurizer)."""
        vector = np.empty(self.dim, dtype=np.float32)
        _check(_lib.router_embed_text(self._handle, _c_string(text),
                                      vector.ctypes.data_as(ctypes.POINTER(c_float)),
                                      vector.size))
        return vector

    def route(self, query: Union[str, npt.ArrayLike], input_tokens: int = 0, *,
              lam: Optional[float] = None, tau: Optional[float] = None,
              allowed_models: Optional[Sequence[str]] = None,
              budget_class: Optional[str] = None, task: Optional[str] = None) -> Decision:
        """Routes a prompt (str) or a query vector (1-D, router.dim floats).

        input_tokens is the prompt's length in tokens for vectors (0 =
        unknown); text is measured by the library. lam, tau, allowed_models
        and budget_class (the name of one of the policy's budget classes),
        when given, are this request's own policy parameters
        (docs/policies.md, "Per-request overrides"). task names the task or
        application the request comes from, as the training rows' "source"
        did: a cluster router then uses that task's estimates (a task it did
        not learn is ignored).
        """
        options = None
        if lam is not None or tau is not None or allowed_models or budget_class or task:
            options = _lib.router_route_options_t()
            options.struct_size = ctypes.sizeof(_lib.router_route_options_t)
            if lam is not None:
                options.flags |= _lib.ROUTER_OVERRIDE_LAMBDA
                options.lambda_ = float(lam)
            if tau is not None:
                options.flags |= _lib.ROUTER_OVERRIDE_TAU
                options.tau = float(tau)
            if allowed_models:
                names = (c_char_p * len(allowed_models))(
                    *[_c_string(name) for name in allowed_models])
                options.allowed_models = ctypes.cast(names, ctypes.POINTER(c_char_p))
                options.allowed_model_count = len(allowed_models)
            if budget_class:
                options.budget_class = _c_string(budget_class)
            if task:
                options.task = _c_string(task)
        options_p = byref(options) if options is not None else None
        handle = _lib.decision_p()
        if isinstance(query, str):
            _check(_lib.router_route_text_with(self._handle, _c_string(query), options_p,
                                               byref(handle)))
        else:
            vector = np.ascontiguousarray(query, dtype=np.float32)
            if vector.ndim != 1:
                raise ValueError("a query vector must be 1-D, got shape %s" % (vector.shape,))
            _check(_lib.router_route_vector_with(self._handle,
                                                 vector.ctypes.data_as(ctypes.POINTER(c_float)),
                                                 vector.size, input_tokens, options_p,
                                                 byref(handle)))
        return _copy_decision(handle)

    def set_model_available(self, model: str, available: bool) -> None:
        """Marks a model down (every policy skips it) or up again."""
        _check(_lib.router_set_model_available(self._handle, _c_string(model),
                                               1 if available else 0))

    def set_policy(self, policy: JsonObject) -> None:
        """Replaces the policy: a dict or JSON text of the config's "policy" object."""
        text = policy if isinstance(policy, str) else json.dumps(policy)
        _check(_lib.router_set_policy(self._handle, _c_string(text)))

    def calibrate_threshold(self, vectors: npt.ArrayLike, strong_share: float) -> float:
        """Sets a threshold policy's threshold so that strong_share of the rows
        of `vectors` (2-D, router.dim columns) go to the strong model; returns it."""
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        if matrix.ndim != 2:
            raise ValueError("vectors must be 2-D, got shape %s" % (matrix.shape,))
        threshold = c_double()
        _check(_lib.router_calibrate_threshold(self._handle,
                                               matrix.ctypes.data_as(ctypes.POINTER(c_float)),
                                               matrix.shape[0], matrix.shape[1], strong_share,
                                               byref(threshold)))
        return threshold.value

    def policy_state(self) -> Dict[str, Any]:
        """The policy's live state (kind, parameters, budget spend, strong share)."""
        state: Dict[str, Any] = json.loads(_read_text(_lib.router_policy_state_json,
                                                      self._handle))
        return state

    def start_sync(self, options: JsonObject) -> Sync:
        """Starts sharing this router's learning and policy counters with the
        other replicas using the same store (docs/scale-out.md).

        options: a dict or JSON text: {"replica_id": "pod-3", "store":
        "redis" or "memory:NAME", "interval_ms": 200, "redis": {"host",
        "port", "key_prefix", "timeout_ms", "password_env", "password"}}
        (router_c.h, router_sync_start). "memory:NAME" is a store in this
        process, shared by the routers started with the same NAME. When the
        router's config has a "sync" block, every key is optional: {} starts
        the sync the block describes, and keys given override it (without a
        block, {} is RouterError INVALID_ARGUMENT: replica_id is required).
        A router syncs once (RouterError FAILED_PRECONDITION after that): to
        sync anew, Router.load the file again and start under the same
        replica_id. Stop the sync (Sync.stop or a `with` block) before
        closing the router.
        """
        handle = _lib.sync_p()
        _check(_lib.router_sync_start(self._handle, _config_json(options), byref(handle)))
        return Sync(handle, self)

    def route_batch(self, vectors: npt.ArrayLike,
                    input_tokens: Optional[npt.ArrayLike] = None) -> BatchResult:
        """Routes each row of a 2-D array of query vectors (n x router.dim) in
        one C call.

        A float32 array (native byte order, aligned) whose rows are each
        contiguous is read in place, never copied: any C-contiguous array,
        also a read-only one, or a column slice of a wider matrix. Anything
        else (another dtype, Fortran order, strided columns, reversed rows, a
        list) is first copied into a C-contiguous float32 array; complex or
        non-numeric data raises TypeError. A wrong number of columns raises
        RouterError (INVALID_ARGUMENT).
        input_tokens: None, or one token count per row (0 = unknown).
        """
        matrix = np.asarray(vectors)
        if matrix.ndim != 2:
            raise ValueError("vectors must be 2-D (rows x dim), got shape %s" % (matrix.shape,))
        count, dim = matrix.shape
        if not _rows_in_place(matrix):
            matrix = matrix.astype(np.float32, order="C", casting="same_kind")
        stride = matrix.strides[0] // matrix.itemsize if count > 1 else dim
        tokens = None
        if input_tokens is not None:
            tokens = np.ascontiguousarray(input_tokens, dtype=np.int64)
            if tokens.shape != (count,):
                raise ValueError("input_tokens must have one value per row (%d), got shape %s"
                                 % (count, tokens.shape))
        result = BatchResult(np.empty(count, dtype=np.int32), np.empty(count, dtype=np.float64),
                             np.empty(count, dtype=np.float64))
        # `matrix` and `tokens` stay referenced until the call returns.
        _check(_lib.router_route_batch(
            self._handle, matrix.ctypes.data_as(ctypes.POINTER(c_float)), count, dim, stride,
            None if tokens is None else tokens.ctypes.data_as(ctypes.POINTER(c_int64)),
            result.model_index.ctypes.data_as(ctypes.POINTER(c_int32)),
            result.quality.ctypes.data_as(ctypes.POINTER(c_double)),
            result.cost_usd.ctypes.data_as(ctypes.POINTER(c_double))))
        return result


class Sync:
    """A router's state sync with the other replicas (C router_sync_t), from
    Router.start_sync. Stop it with stop() or a `with` block; a background
    thread runs a round every interval_ms until then."""

    def __init__(self, handle: Any, router: Router) -> None:
        """Takes ownership of a router_sync_t* (a ctypes pointer); use
        Router.start_sync."""
        self._raw = handle
        self._router = router  # the C sync points into the router: keep it alive

    def now(self) -> None:
        """Runs one round now: adds what the other replicas published and
        publishes this one's. RouterError UNAVAILABLE when the store cannot
        be reached (routing goes on; nothing is lost)."""
        _check(_lib.router_sync_now(self._handle))

    def retire(self) -> None:
        """For a replica leaving for good (call it on SIGTERM, then stop()):
        a last round, then this replica's row folded into the store's
        archive row, atomically. The sync runs no more rounds (now() then
        raises FAILED_PRECONDITION). On a RouterError (UNAVAILABLE: the
        store cannot be reached; ABORTED; FAILED_PRECONDITION) nothing was
        folded: the row stays and counts."""
        _check(_lib.router_sync_retire(self._handle))

    def fold(self, replica_id: str) -> None:
        """Folds the row of another replica, known to be gone for good (killed,
        its node lost, no restart under that id), into the store's archive
        row, as its own retire() would have, and deletes the row. A replica
        folded while alive stops syncing. On a RouterError (NOT_FOUND: no
        such row; INVALID_ARGUMENT: not another replica's id;
        FAILED_PRECONDITION: a row of another fitted file; ABORTED: the row
        kept changing; UNAVAILABLE) nothing changed."""
        _check(_lib.router_sync_fold(self._handle, replica_id.encode("utf-8")))

    def status(self) -> Dict[str, Any]:
        """connected, rounds, failed_rounds, published, applied, rejected,
        replicas, lag_ms, last_error, rows (each {"replica", "unchanged_ms"}:
        the other replicas' rows, and how long each has not changed, where to
        look for replicas that are gone) and replica_id, store."""
        status: Dict[str, Any] = json.loads(_read_text(_lib.router_sync_status_json,
                                                       self._handle))
        return status

    def stop(self) -> None:
        """Stops the sync after one last round and frees it; later calls
        raise ValueError. Idempotent. The router keeps what it learned."""
        handle, self._raw = self._raw, None
        if handle:
            _lib.router_sync_stop(handle)

    def __enter__(self) -> Sync:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __del__(self) -> None:
        if getattr(self, "_raw", None) and _lib is not None:
            self.stop()

    @property
    def _handle(self) -> Any:
        if not self._raw:
            raise ValueError("the sync is stopped")
        return self._raw


def _rows_in_place(matrix: npt.NDArray[Any]) -> bool:
    """Whether router_route_batch can read `matrix` (2-D) as it is: float32
    in native byte order, aligned (so rows are whole floats apart), each
    row's floats adjacent, rows forward and not overlapping (the C call's
    stride_floats >= dim)."""
    count, dim = matrix.shape
    item = matrix.itemsize
    row_step, column_step = matrix.strides
    return (matrix.dtype == np.dtype(np.float32)  # == compares the byte order too
            and matrix.flags.aligned and (dim <= 1 or column_step == item)
            and (count <= 1 or row_step >= dim * item))
