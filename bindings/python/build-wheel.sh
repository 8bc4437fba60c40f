#!/usr/bin/env bash
# Builds a librouter wheel that bundles librouter_c, from an install prefix
# (cmake --install BUILD --prefix PREFIX), with Debian's python3-build and
# offline: no build isolation, nothing downloaded. Prints the wheel's path.
#
# Usage: bindings/python/build-wheel.sh PREFIX [OUT_DIR]   (OUT_DIR: ./dist)
#
# The wheel (librouter-VERSION-py3-none-linux_x86_64.whl) holds the package,
# py.typed and librouter/librouter_c.so.1, which needs only system
# libraries (listed on stderr: Abseil, BLAS/LAPACK, OpenMP, zlib, ...), as the
# host that built it has them: it is for this distribution, not a manylinux
# wheel.
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  sed -n '2,/^set /{/^#/s/^# \{0,1\}//p}' "$0" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
prefix=$(cd "$1" && pwd)
mkdir -p "${2:-dist}"
out=$(cd "${2:-dist}" && pwd)
python=${PYTHON:-/usr/bin/python3}

mapfile -t found < <(find "$prefix"/lib* -maxdepth 2 -name librouter_c.so)
if [ "${#found[@]}" -ne 1 ]; then
  echo "build-wheel.sh: expected one librouter_c.so under $prefix/lib*, found ${#found[@]}" >&2
  exit 1
fi
libdir=$(dirname "${found[0]}")
soname=$(readelf -d "${found[0]}" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
needed=$(readelf -d "${found[0]}" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if grep -q '^librouter\.so' <<< "$needed"; then
  echo "build-wheel.sh: $libdir/$soname needs librouter.so, which the wheel lacks" >&2
  exit 1
fi
echo "bundling $libdir/$soname, which needs: $(tr '\n' ' ' <<< "$needed")" >&2

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -R "$here/librouter" "$here/pyproject.toml" "$here/setup.py" "$here/README.md" "$stage/"
rm -rf "$stage/librouter/__pycache__" "$stage"/librouter/librouter_c.*
cp -L "$libdir/$soname" "$stage/librouter/$soname"   # the file, not a symlink
cp "$prefix/include/router_c.h" "$stage/router_c.h"  # its version (setup.py)
(cd "$stage" && "$python" -m build --wheel --no-isolation --outdir "$stage/dist" >&2)
wheel=$(cd "$stage/dist" && ls ./*.whl)
mv "$stage/dist/$wheel" "$out/"
echo "$out/${wheel#./}"
