"""Tests of the Python binding against a built librouter_c (set LIBROUTER_C).

Run: LIBROUTER_C=<dir or file> python3 -m unittest discover -s bindings/python/tests
These test the package of this source tree; with LIBROUTER_TEST_INSTALLED=1
they test the one the running Python has installed (from a wheel) instead.
"""
import ctypes
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import unittest
from unittest import mock

import numpy as np

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
if os.environ.get("LIBROUTER_TEST_INSTALLED") != "1":
    sys.path.insert(0, SOURCE)
import librouter  # noqa: E402
from librouter import RouterError, Status, _lib  # noqa: E402

CODE_WORDS = "python function code bug compile segfault debug pointer".split()
POEM_WORDS = "poem story rhyme novel verse stanza sonnet haiku".split()
CODE_PROMPT = "fix this python bug, it will not compile"
POEM_PROMPT = "a sonnet with rhyme, verse and a story"
HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "capi",
                      "router_c.h")


def write_dataset(path, best_on_code="coder", sources=False):
    """160 prompts of two topics; `best_on_code` scores 1 on code, the other
    model on poems. With `sources`, each row names its topic ("code",
    "poems") as its source."""
    other = "writer" if best_on_code == "coder" else "coder"
    with open(path, "w") as f:
        for row in range(160):
            words = CODE_WORDS if row % 2 == 0 else POEM_WORDS
            prompt = " ".join(words[i % 8] for i in (row, row * 3 + 1, row * 5 + 2))
            best = best_on_code if row % 2 == 0 else other
            line = {"id": "r%d" % row, "prompt": prompt,
                    "scores": {"coder": float(best == "coder"), "writer": float(best == "writer")},
                    "costs": {"coder": 0.001, "writer": 0.001}}
            if sources:
                line["source"] = "code" if row % 2 == 0 else "poems"
            f.write(json.dumps(line) + "\n")


class RouterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="librouter_py_")
        cls.data = os.path.join(cls.dir, "data.jsonl")
        write_dataset(cls.data)
        cls.router = librouter.Router.from_dataset(cls.data, {"knn": {"k": 10}})

    @classmethod
    def tearDownClass(cls):
        cls.router.close()
        shutil.rmtree(cls.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def test_versions(self):
        self.assertEqual(librouter.abi_version(), 1)
        self.assertRegex(librouter.version(), r"^\d+\.\d+\.\d+$")

    def test_simd_target(self):
        """A Highway target name (hwy/targets.h TargetName: 1.0.3's, plus the
        ones later releases added), the same on every call."""
        known = {"AVX3", "AVX3_DL", "AVX3_ZEN4", "AVX3_SPR", "AVX10_2", "AVX10_2_512",
                 "AVX2", "SSE4", "SSSE3", "SSE2", "NEON", "NEON_WITHOUT_AES", "NEON_BF16",
                 "SVE", "SVE2", "SVE_256", "SVE2_128", "PPC8", "PPC9", "PPC10", "Z14", "Z15",
                 "WASM", "WASM_EMU256", "RVV", "LSX", "LASX", "EMU128", "SCALAR"}
        target = librouter.simd_target()
        self.assertIsInstance(target, str)
        self.assertIn(target, known)
        self.assertEqual(librouter.simd_target(), target)

    def test_routes_text_by_topic(self):
        code = self.router.route(CODE_PROMPT)
        poem = self.router.route(POEM_PROMPT)
        self.assertEqual(code.model, "coder")
        self.assertEqual(poem.model, "writer")
        self.assertEqual(self.router.models[code.model_index], "coder")
        self.assertEqual(code.fallbacks, ("writer",))
        # The coder scores 1 on every code prompt of the data.
        self.assertGreater(code.quality, 0.95)
        self.assertLessEqual(code.quality, 1.0)
        self.assertGreater(code.cost_usd, 0.0)
        self.assertEqual(code.id, 0)  # kNN does not learn online
        self.assertIn("coder", code.explanation)
        self.assertEqual(json.loads(code.json)["chosen"]["model"], "coder")

    def test_models_and_dim(self):
        self.assertEqual(sorted(self.router.models), ["coder", "writer"])
        self.assertGreater(self.router.dim, 0)

    def test_route_vector_matches_text(self):
        vector = self.router.embed(CODE_PROMPT)
        self.assertEqual(vector.shape, (self.router.dim,))
        self.assertEqual(vector.dtype, np.float32)
        self.assertEqual(self.router.route(vector).model, "coder")
        self.assertEqual(self.router.route(vector.tolist()).model, "coder")  # any sequence
        with self.assertRaises(ValueError):
            self.router.route(np.stack([vector, vector]))
        with self.assertRaises(ValueError):
            self.router.route("fix\0 this")  # C would see "fix"

    def test_route_batch_matches_single_routes(self):
        prompts = [CODE_PROMPT, POEM_PROMPT, "debug a pointer", "a haiku", "compile", "verse"]
        vectors = np.stack([self.router.embed(p) for p in prompts])
        tokens = np.arange(1, len(prompts) + 1)
        result = self.router.route_batch(vectors, input_tokens=tokens)
        self.assertEqual(result.model_index.dtype, np.int32)
        models = [self.router.models[i] for i in result.model_index]
        self.assertEqual(models, ["coder", "writer", "coder", "writer", "coder", "writer"])
        for i, vector in enumerate(vectors):
            single = self.router.route(vector, input_tokens=int(tokens[i]))
            self.assertEqual(result.model_index[i], single.model_index)
            self.assertEqual(result.quality[i], single.quality)
            self.assertEqual(result.cost_usd[i], single.cost_usd)

        # A column slice of a wider matrix is read in place (strided rows);
        # float64 input is converted; both give the same answers.
        wide = np.hstack([vectors, np.full((len(prompts), 7), np.nan, dtype=np.float32)])
        sliced = self.router.route_batch(wide[:, :self.router.dim], input_tokens=tokens)
        np.testing.assert_array_equal(sliced.model_index, result.model_index)
        as_double = self.router.route_batch(vectors.astype(np.float64), input_tokens=tokens)
        np.testing.assert_array_equal(as_double.quality, result.quality)
        empty = self.router.route_batch(np.empty((0, self.router.dim), dtype=np.float32))
        self.assertEqual(empty.model_index.shape, (0,))

    def test_route_batch_reads_float32_rows_in_place(self):
        """Rows of float32 in native byte order reach the C call as the
        caller's own memory (no copy); anything else is converted once, with
        the same results."""
        prompts = [CODE_PROMPT, POEM_PROMPT, "debug a pointer", "a haiku", "compile", "verse"]
        vectors = np.stack([self.router.embed(p) for p in prompts])
        expected = self.router.route_batch(vectors)
        dim = self.router.dim
        passed = []  # (address of the vectors the C call got, stride_floats)
        real = _lib.router_route_batch

        def spy(handle, pointer, count, dim, stride, *rest):
            passed.append((ctypes.cast(pointer, ctypes.c_void_p).value, stride))
            return real(handle, pointer, count, dim, stride, *rest)

        def route(matrix):
            passed.clear()
            with mock.patch.object(_lib, "router_route_batch", spy):
                result = self.router.route_batch(matrix)
            np.testing.assert_array_equal(result.model_index, expected.model_index)
            np.testing.assert_array_equal(result.quality, expected.quality)
            np.testing.assert_array_equal(result.cost_usd, expected.cost_usd)
            self.assertEqual(len(passed), 1)
            return passed[0]

        def address(array):
            return array.__array_interface__["data"][0]

        # In place: C-contiguous, read-only (a bytes buffer), a column slice.
        self.assertEqual(route(vectors), (address(vectors), dim))
        frozen = np.frombuffer(vectors.tobytes(), dtype=np.float32).reshape(vectors.shape)
        self.assertFalse(frozen.flags.writeable)
        self.assertEqual(route(frozen), (address(frozen), dim))
        wide = np.hstack([vectors, np.full((len(prompts), 7), np.nan, dtype=np.float32)])
        self.assertEqual(route(wide[:, :dim]), (address(wide), dim + 7))
        # Converted to a fresh C-contiguous float32 array: Fortran order,
        # every other column, float64, big-endian, misaligned floats, a list.
        raw = np.zeros(vectors.nbytes + 1, dtype=np.uint8)
        misaligned = raw[1:].view(np.float32).reshape(vectors.shape)
        misaligned[...] = vectors
        self.assertFalse(misaligned.flags.aligned)
        spread = np.zeros((len(prompts), 2 * dim), dtype=np.float32)
        spread[:, ::2] = vectors
        for other in (np.asfortranarray(vectors), spread[:, ::2], vectors.astype(np.float64),
                      vectors.astype(">f4"), misaligned, vectors.tolist()):
            pointer, stride = route(other)
            self.assertEqual(stride, dim)
            if isinstance(other, np.ndarray):
                self.assertNotEqual(pointer, address(other))
        # Rows in reverse (a negative stride) are copied too, in their order.
        backwards = self.router.route_batch(vectors[::-1])
        np.testing.assert_array_equal(backwards.model_index, expected.model_index[::-1])

    def test_route_batch_errors(self):
        with self.assertRaises(RouterError) as raised:
            self.router.route_batch(np.zeros((3, self.router.dim + 1), dtype=np.float32))
        self.assertEqual(raised.exception.status, Status.INVALID_ARGUMENT)
        self.assertIn("expects %d" % self.router.dim, raised.exception.message)
        bad = np.zeros((3, self.router.dim), dtype=np.float32)
        bad[2, 0] = np.nan
        with self.assertRaises(RouterError) as raised:
            self.router.route_batch(bad)
        self.assertTrue(raised.exception.message.startswith("query 2: "), raised.exception)
        with self.assertRaises(ValueError):
            self.router.route_batch(np.zeros(self.router.dim, dtype=np.float32))
        with self.assertRaises(ValueError):
            self.router.route_batch(bad, input_tokens=[1, 2])
        with self.assertRaises(ValueError):
            self.router.route_batch(np.zeros((2, 3, self.router.dim), dtype=np.float32))
        with self.assertRaises(TypeError):  # complex values are not silently cut to reals
            self.router.route_batch(np.zeros((3, self.router.dim), dtype=np.complex64))
        with self.assertRaises(TypeError):
            self.router.route_batch(np.full((3, self.router.dim), "x"))

    def test_errors_carry_status_and_message(self):
        with self.assertRaises(RouterError) as raised:
            librouter.Router.from_dataset(self.path("missing.jsonl"))
        self.assertEqual(raised.exception.status, Status.NOT_FOUND)
        self.assertIn("missing.jsonl", raised.exception.message)
        self.assertIn("ROUTER_NOT_FOUND", str(raised.exception))

        with self.assertRaises(RouterError) as raised:
            librouter.Router.from_dataset(self.data, {"no_such_key": 1})
        self.assertEqual(raised.exception.status, Status.INVALID_ARGUMENT)
        self.assertIn("no_such_key", raised.exception.message)

        garbage = self.path("garbage.router")
        with open(garbage, "wb") as f:
            f.write(b"not a router file at all")
        with self.assertRaises(RouterError) as raised:
            librouter.Router.load(garbage)
        self.assertEqual(raised.exception.status, Status.DATA_LOSS)

        with self.assertRaises(RouterError) as raised:
            self.router.remove_model("no-such-model")
        self.assertEqual(raised.exception.status, Status.NOT_FOUND)
        with self.assertRaises(RouterError) as raised:
            self.router.set_model_price("coder", -1.0, 1.0)
        self.assertEqual(raised.exception.status, Status.INVALID_ARGUMENT)

    def test_save_load_reload(self):
        saved = self.path("router.bin")
        self.router.save(saved)
        with librouter.Router.load(saved) as loaded:
            self.assertEqual(loaded.route(CODE_PROMPT), self.router.route(CODE_PROMPT))

        # A router fitted on data where the models swap roles, swapped in.
        flipped_data = self.path("flipped.jsonl")
        write_dataset(flipped_data, best_on_code="writer")
        flipped = self.path("flipped.bin")
        with librouter.Router.from_dataset(flipped_data, {"knn": {"k": 10}}) as other:
            other.save(flipped)
        with librouter.Router.load(saved) as live:
            live.reload(flipped)
            self.assertEqual(live.route(CODE_PROMPT).model, "writer")
            with self.assertRaises(RouterError) as raised:
                live.reload(self.path("missing.bin"))
            self.assertEqual(raised.exception.status, Status.NOT_FOUND)
            self.assertEqual(live.route(CODE_PROMPT).model, "writer")  # still serving

    def test_task(self):
        """A request naming its task gets that task's cluster where the text
        cannot tell; an unknown task leaves the text to decide."""
        data = self.path("tasks.jsonl")
        write_dataset(data, sources=True)
        with librouter.Router.from_dataset(data, {"router": "cluster"}) as router:
            vague = "please help me with this"
            inferred = router.route(vague, lam=0.0)
            for task, model in (("code", "coder"), ("poems", "writer")):
                decision = router.route(vague, lam=0.0, task=task)
                self.assertEqual(decision.model, model)
                self.assertIn("task=" + task, decision.explanation)
            self.assertEqual(router.route(vague, lam=0.0, task="limericks").model, inferred.model)

    def test_overrides_availability_and_policies(self):
        with librouter.Router.from_dataset(self.data, {"knn": {"k": 10}}) as router:
            self.assertEqual(router.route(CODE_PROMPT).model, "coder")
            # A request allow-list and a huge lambda each change the choice.
            self.assertEqual(router.route(CODE_PROMPT, allowed_models=["writer"]).model,
                             "writer")
            with self.assertRaises(RouterError) as raised:
                router.route(CODE_PROMPT, allowed_models=["no-such-model"])
            self.assertEqual(raised.exception.status, Status.INVALID_ARGUMENT)
            self.assertIn("no-such-model", raised.exception.message)
            with self.assertRaises(RouterError):
                router.route(CODE_PROMPT, lam=float("nan"))
            # An outage: the model is skipped until it is marked up.
            router.set_model_available("coder", False)
            self.assertEqual(router.route(CODE_PROMPT).model, "writer")
            router.set_model_available("coder", True)
            self.assertEqual(router.route(CODE_PROMPT).model, "coder")
            # A budget class carries a request's allow-list by name; the
            # request's own allow-list wins; an unknown class is NOT_FOUND.
            router.set_policy({"budget_classes": {"poets": {"allowed_models": ["writer"]}}})
            self.assertEqual(router.route(CODE_PROMPT, budget_class="poets").model, "writer")
            self.assertEqual(router.route(CODE_PROMPT, budget_class="poets",
                                          allowed_models=["coder"]).model, "coder")
            with self.assertRaises(RouterError) as raised:
                router.route(CODE_PROMPT, budget_class="platinum")
            self.assertEqual(raised.exception.status, Status.NOT_FOUND)
            # A budget policy set from a dict shows its pacing state.
            router.set_policy({"kind": "budget", "target_cost_usd": 0.001})
            router.route(CODE_PROMPT)
            state = router.policy_state()
            self.assertEqual(state["kind"], "budget")
            self.assertEqual(state["requests"], 1)
            with self.assertRaises(RouterError):
                router.set_policy("{not json")
            self.assertEqual(router.policy_state()["kind"], "budget")
            # Calibrating needs a threshold policy.
            vectors = np.stack([router.embed(CODE_PROMPT), router.embed(POEM_PROMPT)])
            with self.assertRaises(RouterError) as raised:
                router.calibrate_threshold(vectors, 0.5)
            self.assertEqual(raised.exception.status, Status.FAILED_PRECONDITION)
            router.set_policy({"kind": "threshold", "strong": "coder", "weak": "writer"})
            threshold = router.calibrate_threshold(vectors, 0.5)
            # Code scores about +1 (coder minus writer), poems about -1: half
            # of the sample goes strong when the threshold lies between.
            self.assertTrue(-0.9 < threshold < 0.9)
            self.assertEqual(router.policy_state()["threshold"], threshold)
            self.assertEqual(router.route(CODE_PROMPT).model, "coder")
            self.assertEqual(router.route(POEM_PROMPT).model, "writer")

    def test_remove_model_and_price(self):
        with librouter.Router.from_dataset(self.data, {"knn": {"k": 10}}) as router:
            router.set_model_price("writer", 0.5, 1.5)
            self.assertEqual(router.model_price("writer"), (0.5, 1.5))  # in their order
            with self.assertRaises(RouterError) as raised:
                router.model_price("nobody")
            self.assertEqual(raised.exception.status, Status.NOT_FOUND)
            # A budget policy's spend moves by realised - expected.
            router.set_policy({"kind": "budget", "target_cost_usd": 1})
            router.record_cost(1e-3, 4e-3)
            self.assertAlmostEqual(router.policy_state()["spend_usd"], 3e-3, places=15)
            with self.assertRaises(RouterError) as raised:
                router.record_cost(-1.0, 0.0)
            self.assertEqual(raised.exception.status, Status.INVALID_ARGUMENT)
            router.remove_model("writer")
            self.assertEqual(router.models, ("coder",))
            self.assertEqual(router.route(POEM_PROMPT).model, "coder")
            with self.assertRaises(RouterError) as raised:
                router.remove_model("coder")  # the last model stays
            self.assertEqual(raised.exception.status, Status.FAILED_PRECONDITION)

    def test_add_model(self):
        # A cluster router learns a cheaper poet from embedded examples (good
        # on poems, bad on code) and, under a quality floor, sends poems to
        # it and code still to the coder.
        config = {"router": "cluster", "policy": {"kind": "quality_floor", "tau": 0.7}}
        with librouter.Router.from_dataset(self.data, config) as router:
            prompts = [POEM_PROMPT, CODE_PROMPT] * 20
            vectors = np.stack([router.embed(p) for p in prompts])
            scores = [1.0, 0.0] * 20
            poet = {"name": "poet", "input_usd_per_mtok": 0.01, "output_usd_per_mtok": 0.02}
            with self.assertRaises(RouterError) as raised:
                router.add_model(poet, vectors[:, :-1], scores)  # wrong dim
            self.assertEqual(raised.exception.status, Status.INVALID_ARGUMENT)
            with self.assertRaises(ValueError):
                router.add_model(poet, vectors, scores[:-1])
            self.assertEqual(router.models, ("coder", "writer"))
            router.add_model(poet, vectors, scores, [0.0001] * 40)
            self.assertEqual(router.models, ("coder", "writer", "poet"))
            self.assertEqual(router.route(POEM_PROMPT).model, "poet")
            self.assertEqual(router.route(CODE_PROMPT).model, "coder")
            with self.assertRaises(RouterError) as raised:
                router.add_model(json.dumps(poet), vectors, scores)
            self.assertEqual(raised.exception.status, Status.ALREADY_EXISTS)
        with librouter.Router.from_dataset(self.data, {"router": "linucb"}) as router:
            router.add_model({"name": "fresh"})  # no examples: starts at the prior
            self.assertIn("fresh", router.models)

    def test_feedback_on_an_online_router(self):
        with librouter.Router.from_dataset(self.data, {"router": "linucb"}) as router:
            decision = router.route(CODE_PROMPT)
            self.assertNotEqual(decision.id, 0)
            with self.assertRaises(RouterError) as raised:
                router.feedback(decision, 1.5, 0.001)
            self.assertEqual(raised.exception.status, Status.INVALID_ARGUMENT)
            router.feedback(decision, 1.0, 0.001)
            with self.assertRaises(RouterError) as raised:
                router.feedback(decision.id, 1.0, 0.001)  # reported already
            self.assertEqual(raised.exception.status, Status.NOT_FOUND)
            vector = router.embed(POEM_PROMPT)
            router.feedback_vector(vector, "writer", 1.0, 0.001)
            with self.assertRaises(RouterError) as raised:
                router.feedback_vector(vector, "nobody", 1.0, 0.001)
            self.assertEqual(raised.exception.status, Status.NOT_FOUND)

    def test_close(self):
        router = librouter.Router.from_dataset(self.data)
        with router:
            self.assertEqual(router.route(CODE_PROMPT).model, "coder")
        with self.assertRaises(ValueError):
            router.route(CODE_PROMPT)
        router.close()  # twice is fine

    def test_concurrent_routing(self):
        expected = {CODE_PROMPT: "coder", POEM_PROMPT: "writer"}
        failures = []

        def work():
            try:
                for i in range(50):
                    prompt = CODE_PROMPT if i % 2 == 0 else POEM_PROMPT
                    if self.router.route(prompt).model != expected[prompt]:
                        failures.append(prompt)
                    try:
                        self.router.remove_model("no-such-model")
                    except RouterError as e:
                        # Each thread sees its own call's message.
                        if "no-such-model" not in e.message:
                            failures.append(e.message)
            except Exception as e:  # pragma: no cover - reported below
                failures.append(repr(e))

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])


class SyncTest(unittest.TestCase):
    """Two replicas loaded from one saved LinUCB router, each getting half of
    the feedback, sync through a memory store and then estimate every model
    as a router that got all of it does."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="librouter_py_sync_")
        data = os.path.join(cls.dir, "data.jsonl")
        # Scores short of 0 and 1, so that estimates move with feedback
        # rather than sit at the ends of [0, 1].
        with open(data, "w") as f:
            for row in range(160):
                words = CODE_WORDS if row % 2 == 0 else POEM_WORDS
                prompt = " ".join(words[i % 8] for i in (row, row * 3 + 1, row * 5 + 2))
                coder = 0.7 if row % 2 == 0 else 0.3
                f.write(json.dumps({"id": "r%d" % row, "prompt": prompt,
                                    "scores": {"coder": coder, "writer": 1.0 - coder},
                                    "costs": {"coder": 0.001, "writer": 0.001}}) + "\n")
        cls.saved = os.path.join(cls.dir, "linucb.router")
        with librouter.Router.from_dataset(data, {"router": "linucb"}) as router:
            router.save(cls.saved)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def store(self, name):
        # Memory stores are process-wide: one name per test and process.
        return "memory:py-%d-%s" % (os.getpid(), name)

    def load(self):
        router = librouter.Router.load(self.saved)
        self.addCleanup(router.close)
        return router

    def max_difference(self, a, b):
        worst = 0.0
        for prompt in (CODE_PROMPT, POEM_PROMPT, "debug a pointer", "a haiku, a novel"):
            for model in a.models:
                x = a.route(prompt, allowed_models=[model]).quality
                y = b.route(prompt, allowed_models=[model]).quality
                worst = max(worst, abs(x - y))
        return worst

    def test_two_replicas_converge(self):
        a, b, reference = self.load(), self.load(), self.load()
        store = self.store("converge")
        with a.start_sync({"replica_id": "a", "store": store, "interval_ms": 0}) as sync_a, \
                b.start_sync(json.dumps({"replica_id": "b", "store": store,
                                         "interval_ms": 0})) as sync_b:
            words = CODE_WORDS + POEM_WORDS
            for i in range(20):
                prompt = " ".join(words[(i * k) % 16] for k in (1, 3, 7))
                vector = reference.embed(prompt)
                model = ("coder", "writer")[i % 2]
                score = (1.0, 0.25, 0.0)[i % 3]
                (a if i % 2 == 0 else b).feedback_vector(vector, model, score, 0.001)
                reference.feedback_vector(vector, model, score, 0.001)
            self.assertGreater(self.max_difference(a, reference), 1e-6)
            sync_a.now()
            sync_b.now()
            sync_a.now()
            self.assertLessEqual(self.max_difference(a, reference), 1e-9)
            self.assertLessEqual(self.max_difference(b, reference), 1e-9)
            status = sync_a.status()
            self.assertEqual(status["replica_id"], "a")
            self.assertEqual(status["store"], store)
            self.assertIs(status["connected"], True)
            self.assertEqual((status["rounds"], status["failed_rounds"]), (3, 0))
            self.assertEqual((status["published"], status["applied"]), (2, 2))
            self.assertEqual((status["rejected"], status["replicas"]), (0, 2))
            self.assertGreaterEqual(status["lag_ms"], 0)
            self.assertEqual(status["last_error"], "")
            self.assertEqual(sync_b.status()["applied"], 2)
        with self.assertRaises(ValueError):
            sync_a.now()  # stopped by the `with` block
        sync_a.stop()  # twice is fine
        # The routers keep what they learned.
        self.assertLessEqual(self.max_difference(a, reference), 1e-9)

    def test_a_retired_replica_stays_counted(self):
        a, b, reference = self.load(), self.load(), self.load()
        store = self.store("retire")
        with a.start_sync({"replica_id": "a", "store": store, "interval_ms": 0}) as sync_a, \
                b.start_sync({"replica_id": "b", "store": store, "interval_ms": 0}) as sync_b:
            for i in range(12):
                prompt = " ".join((CODE_WORDS + POEM_WORDS)[(i * k) % 16] for k in (1, 5))
                vector = reference.embed(prompt)
                model = ("coder", "writer")[i % 2]
                (a if i < 6 else b).feedback_vector(vector, model, (1.0, 0.0)[i % 2], 0.001)
                reference.feedback_vector(vector, model, (1.0, 0.0)[i % 2], 0.001)
            sync_a.now()
            sync_b.retire()  # publishes b's feedback, then folds its row
            with self.assertRaises(librouter.RouterError) as raised:
                sync_b.now()
            self.assertEqual(raised.exception.status, librouter.Status.FAILED_PRECONDITION)
            sync_a.now()
            self.assertEqual(sync_a.status()["replicas"], 1)  # b's row is gone
            self.assertLessEqual(self.max_difference(a, reference), 1e-9)

    def test_the_row_of_a_replica_gone_is_folded(self):
        a, c, reference = self.load(), self.load(), self.load()
        store = self.store("fold")
        with a.start_sync({"replica_id": "a", "store": store, "interval_ms": 0}) as sync_a:
            with c.start_sync({"replica_id": "c", "store": store, "interval_ms": 0}):
                for i in range(8):
                    prompt = " ".join((CODE_WORDS + POEM_WORDS)[(i * k) % 16] for k in (1, 3))
                    vector = reference.embed(prompt)
                    model = ("coder", "writer")[i % 2]
                    c.feedback_vector(vector, model, (1.0, 0.0)[i % 2], 0.001)
                    reference.feedback_vector(vector, model, (1.0, 0.0)[i % 2], 0.001)
            # c stopped without retiring: its row stays and counts.
            sync_a.now()
            self.assertEqual(sync_a.status()["replicas"], 2)
            self.assertEqual([row["replica"] for row in sync_a.status()["rows"]], ["c"])
            self.assertGreaterEqual(sync_a.status()["rows"][0]["unchanged_ms"], 0)
            with self.assertRaises(librouter.RouterError) as raised:
                sync_a.fold("nobody")
            self.assertEqual(raised.exception.status, librouter.Status.NOT_FOUND)
            with self.assertRaises(librouter.RouterError) as raised:
                sync_a.fold("a")
            self.assertEqual(raised.exception.status, librouter.Status.INVALID_ARGUMENT)
            sync_a.fold("c")
            sync_a.now()
            self.assertEqual(sync_a.status()["replicas"], 1)  # c's row is gone
            self.assertEqual(sync_a.status()["rows"], [])
            self.assertLessEqual(self.max_difference(a, reference), 1e-9)

    def test_refused_options(self):
        router = self.load()
        store = self.store("refused")
        for options, named in (({"store": store}, "replica_id"),
                               ({"replica_id": "a"}, "store"),
                               ({"replica_id": "a", "store": store, "intervall_ms": 5},
                                "intervall_ms"),
                               ({"replica_id": "a b", "store": store}, "replica_id"),
                               ({"replica_id": "a", "store": "memory:"}, "store"),
                               ({"replica_id": "a", "store": store, "interval_ms": -1},
                                "interval_ms"),
                               ("{", "JSON")):
            with self.assertRaises(RouterError) as raised:
                router.start_sync(options)
            self.assertEqual(raised.exception.status, Status.INVALID_ARGUMENT, options)
            self.assertIn(named, raised.exception.message)
        with self.assertRaises(RouterError) as raised:
            router.start_sync({"replica_id": "a", "store": "redis",
                               "redis": {"password": "hunter2-secret", "prot": 1}})
        self.assertNotIn("hunter2-secret", raised.exception.message)
        # One sync per router.
        with router.start_sync({"replica_id": "a", "store": store, "interval_ms": 0}):
            with self.assertRaises(RouterError) as raised:
                router.start_sync({"replica_id": "a2", "store": store})
            self.assertEqual(raised.exception.status, Status.FAILED_PRECONDITION)
        # A router syncs once.
        with self.assertRaises(RouterError) as raised:
            router.start_sync({"replica_id": "a", "store": store})
        self.assertEqual(raised.exception.status, Status.FAILED_PRECONDITION)
        self.assertIn("synced before", raised.exception.message)

    def test_closing_the_router_first_stops_the_sync(self):
        router = librouter.Router.load(self.saved)
        sync = router.start_sync({"replica_id": "a", "store": self.store("close")})
        router.close()
        with self.assertRaises(RouterError) as raised:
            sync.now()
        self.assertEqual(raised.exception.status, Status.FAILED_PRECONDITION)
        sync.stop()


class DeclarationsTest(unittest.TestCase):
    def test_every_header_function_is_declared(self):
        """_lib.py declares every ROUTER_API function of router_c.h, with the
        header's parameter count."""
        with open(HEADER) as f:
            code = re.sub(r"/\*.*?\*/", " ", f.read(), flags=re.S)
        declared = re.findall(r"\bROUTER_API\b[^;(]*?\b(router_\w+)\s*\(([^)]*)\)", code)
        self.assertGreater(len(declared), 20)
        for name, params in declared:
            arity = 0 if params.strip() in ("", "void") else params.count(",") + 1
            self.assertTrue(hasattr(_lib, name), "%s is not declared in _lib.py" % name)
            self.assertEqual(len(getattr(_lib, name).argtypes), arity, name)


if __name__ == "__main__":
    unittest.main()
