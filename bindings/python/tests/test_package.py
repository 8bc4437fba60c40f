"""Tests of the package itself: where it finds librouter_c, its type hints,
and (LIBROUTER_TEST_INSTALLED=1, as scripts/test-bindings.sh runs it in a
fresh virtual environment) the installed wheel with its bundled library.

Run: LIBROUTER_C=<dir or file> python3 -m unittest discover -s bindings/python/tests
"""
import enum
import importlib.metadata
import inspect
import os
import shutil
import sys
import tempfile
import typing
import unittest

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
INSTALLED = os.environ.get("LIBROUTER_TEST_INSTALLED") == "1"
if not INSTALLED:
    sys.path.insert(0, SOURCE)
import librouter  # noqa: E402
from librouter import _lib  # noqa: E402


def mapped_librouter_c():
    """The real paths of the librouter_c files mapped into this process."""
    with open("/proc/self/maps") as maps:
        return {os.path.realpath(line.split(None, 5)[5].strip()) for line in maps
                if line.count(" ") >= 5 and "/librouter_c" in line}


class FakeLoader:
    """Stands in for ctypes.CDLL: loads only the names in `loadable`."""

    def __init__(self, *loadable):
        self.loadable = loadable
        self.calls = []

    def __call__(self, name):
        self.calls.append(name)
        if name not in self.loadable:
            raise OSError("%s: cannot open shared object file" % name)
        return "handle of %s" % name


class LoadLibraryTest(unittest.TestCase):
    """_lib.load_library's order: $LIBROUTER_C, the bundled copy, the system."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="librouter_load_")
        self.addCleanup(shutil.rmtree, self.dir)
        self.bundled_dir = os.path.join(self.dir, "package")
        self.other_dir = os.path.join(self.dir, "other")
        os.mkdir(self.bundled_dir)
        os.mkdir(self.other_dir)
        self.bundled = os.path.join(self.bundled_dir, _lib.LIBRARY_NAME)
        self.other = os.path.join(self.other_dir, _lib.LIBRARY_NAME)
        for path in (self.bundled, self.other):
            open(path, "w").close()

    def load(self, environ, loader):
        return _lib.load_library(environ, self.bundled_dir, loader)

    def test_the_environment_variable_comes_first(self):
        loader = FakeLoader(self.other, self.bundled, _lib.LIBRARY_NAME)
        self.assertEqual(self.load({"LIBROUTER_C": self.other}, loader),
                         ("handle of " + self.other, self.other))
        self.assertEqual(self.load({"LIBROUTER_C": self.other_dir}, loader),  # a directory
                         ("handle of " + self.other, self.other))
        self.assertEqual(loader.calls, [self.other, self.other])

    def test_a_bad_environment_variable_is_an_error_not_a_fallback(self):
        loader = FakeLoader(self.bundled, _lib.LIBRARY_NAME)
        empty = os.path.join(self.dir, "empty")
        os.mkdir(empty)
        with self.assertRaisesRegex(OSError, "LIBROUTER_C=%s: no %s in that directory"
                                    % (empty, _lib.LIBRARY_NAME)):
            self.load({"LIBROUTER_C": empty}, loader)
        with self.assertRaisesRegex(OSError, "LIBROUTER_C=%s does not load: .*cannot open"
                                    % self.other):
            self.load({"LIBROUTER_C": self.other}, loader)
        self.assertEqual(loader.calls, [self.other])

    def test_then_the_bundled_copy(self):
        loader = FakeLoader(self.bundled, _lib.LIBRARY_NAME)
        self.assertEqual(self.load({}, loader), ("handle of " + self.bundled, self.bundled))
        self.assertEqual(self.load({"LIBROUTER_C": ""}, loader)[1], self.bundled)
        # A bundled copy that does not load is reported, not replaced.
        broken = FakeLoader(_lib.LIBRARY_NAME)
        with self.assertRaisesRegex(OSError, "bundled in the package does not load"):
            self.load({}, broken)
        self.assertEqual(broken.calls, [self.bundled])

    def test_then_the_system_loader(self):
        os.remove(self.bundled)
        loader = FakeLoader(_lib.LIBRARY_NAME)
        self.assertEqual(self.load({}, loader),
                         ("handle of " + _lib.LIBRARY_NAME, _lib.LIBRARY_NAME))
        with self.assertRaises(OSError) as raised:
            self.load({}, FakeLoader())
        message = str(raised.exception)
        for where in ("$LIBROUTER_C (not set)", self.bundled, "the system loader",
                      _lib.LIBRARY_NAME + ": cannot open shared object file"):
            self.assertIn(where, message)

    @unittest.skipUnless(sys.platform.startswith("linux"), "reads /proc/self/maps")
    def test_a_real_bundled_copy_loads(self):
        mapped = mapped_librouter_c()
        self.assertEqual(len(mapped), 1, mapped)  # the package loaded one librouter_c
        os.remove(self.bundled)
        os.symlink(mapped.pop(), self.bundled)
        lib, path = _lib.load_library({}, self.bundled_dir)
        self.assertEqual(path, self.bundled)
        self.assertEqual(lib.router_abi_version(), _lib.ABI_VERSION)


class TypeHintsTest(unittest.TestCase):
    def test_the_package_is_marked_typed(self):
        self.assertTrue(os.path.isfile(os.path.join(os.path.dirname(librouter.__file__),
                                                    "py.typed")))

    def test_the_public_api_is_annotated(self):
        """Every parameter and return of the public functions and methods has
        an annotation, and each resolves (typing.get_type_hints)."""
        functions = []
        for name in librouter.__all__:
            item = getattr(librouter, name)
            if not inspect.isclass(item):
                functions.append((name, item))
                continue
            typing.get_type_hints(item)  # fields of Decision, BatchResult
            if issubclass(item, enum.Enum):
                continue
            for attribute, value in vars(item).items():
                if attribute.startswith("_") and attribute not in (
                        "__init__", "__enter__", "__exit__"):
                    continue
                if isinstance(value, property):
                    functions.append((name + "." + attribute, value.fget))
                elif callable(value) or isinstance(value, classmethod):
                    functions.append((name + "." + attribute, getattr(item, attribute)))
        names = [name for name, _ in functions]
        for expected in ("version", "Router.route", "Router.route_batch", "Router.dim",
                         "Router.from_dataset", "RouterError.__init__"):
            self.assertIn(expected, names)
        for name, function in functions:
            hints = typing.get_type_hints(function)
            parameters = [p for p in inspect.signature(function).parameters
                          if p not in ("self", "cls")]
            for parameter in parameters + ["return"]:
                self.assertIn(parameter, hints, "%s: %s is not annotated" % (name, parameter))


@unittest.skipUnless(INSTALLED, "tests an installed wheel (LIBROUTER_TEST_INSTALLED=1)")
class InstalledWheelTest(unittest.TestCase):
    def test_imports_from_the_environment_with_its_bundled_library(self):
        package = os.path.dirname(os.path.realpath(librouter.__file__))
        self.assertFalse(package.startswith(os.path.realpath(SOURCE) + os.sep), package)
        self.assertNotEqual(sys.prefix, sys.base_prefix, "not in a virtual environment")
        self.assertTrue(package.startswith(os.path.realpath(sys.prefix) + os.sep), package)
        # Found with no help from the environment.
        self.assertNotIn("LIBROUTER_C", os.environ)
        self.assertNotIn("LD_LIBRARY_PATH", os.environ)
        bundled = os.path.join(os.path.dirname(librouter.__file__), _lib.LIBRARY_NAME)
        self.assertEqual(_lib.path, bundled)
        if sys.platform.startswith("linux"):
            self.assertEqual(mapped_librouter_c(), {os.path.realpath(bundled)})

    def test_the_wheel_metadata(self):
        self.assertEqual(importlib.metadata.version("librouter"), librouter.version())
        files = {str(f) for f in importlib.metadata.files("librouter")}
        for name in ("__init__.py", "_lib.py", "py.typed", _lib.LIBRARY_NAME):
            self.assertIn("librouter/" + name, files)


if __name__ == "__main__":
    unittest.main()
