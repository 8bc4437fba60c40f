"""Builds the librouter package; pyproject.toml has its metadata.

The version is librouter_c's: ROUTER_C_VERSION_* of the router_c.h beside
this file (build-wheel.sh puts there the header installed with the library it
bundles), else of this source tree's capi/router_c.h.

A wheel that bundles librouter_c (librouter/librouter_c.so.1, as
build-wheel.sh makes it) holds native code for one platform and is tagged so:
py3-none-linux_x86_64 (ctypes needs no particular Python version or ABI).
Without a bundled library the wheel is pure (py3-none-any) and loads
librouter_c from $LIBROUTER_C or the system.
"""
import os
import re

from setuptools import Distribution, setup
from wheel.bdist_wheel import bdist_wheel

HERE = os.path.dirname(os.path.abspath(__file__))


def library_version():
    for header in (os.path.join(HERE, "router_c.h"),
                   os.path.join(HERE, "..", "..", "capi", "router_c.h")):
        if os.path.exists(header):
            with open(header) as f:
                text = f.read()
            parts = [re.search(r"^#define ROUTER_C_VERSION_%s (\d+)$" % part, text, re.M)
                     for part in ("MAJOR", "MINOR", "PATCH")]
            if None in parts:
                raise SystemExit("%s: no ROUTER_C_VERSION_MAJOR/MINOR/PATCH" % header)
            return ".".join(match.group(1) for match in parts)
    raise SystemExit("router_c.h not found beside setup.py or in ../../capi")


def bundles_library():
    return any(name.startswith("librouter_c.")
               for name in os.listdir(os.path.join(HERE, "librouter")))


class NativeDistribution(Distribution):
    """Holds a native library: installed as platform-specific (platlib)."""

    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    def get_tag(self):
        return "py3", "none", super().get_tag()[2]  # any Python 3, this platform


if bundles_library():
    setup(version=library_version(), distclass=NativeDistribution,
          cmdclass={"bdist_wheel": PlatformWheel})
else:
    setup(version=library_version())
