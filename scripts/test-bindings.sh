#!/usr/bin/env bash
# Tests librouter as its users get it: installs a build into a temporary
# prefix, then, against that prefix only,
#   - checks librouter_c's exports and what it needs at run time;
#   - builds and runs the C example (pkg-config router_c), a C++ consumer
#     (find_package(router)), the Python tests and example, the Python wheel
#     (bundling librouter_c; installed into a fresh virtual environment and
#     tested there with no LIBROUTER_C or LD_LIBRARY_PATH), the Rust crates'
#     tests and example, the Go package's tests and example, and the
#     OpenAI-compatible gateway's tests (examples/gateway: end to end over
#     fake backends, curl and Python clients, SIGHUP reload, a 10 s load test);
#   - checks that all five route the same prompts to the same models with the
#     same predicted quality and cost, on a dataset this script writes.
#
# Usage: scripts/test-bindings.sh [BUILD_DIR]
#   BUILD_DIR  a configured and built tree (scripts/test.sh passes its release
#              build). Without it, the library is built in build/bindings.
# Needs what scripts/install-deps.sh installs, plus go and cargo (Debian
# packages golang-go and cargo). Nothing is downloaded: the bindings have no
# dependencies outside this tree.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
python=${PYTHON:-/usr/bin/python3}   # the system Python, which has numpy

build=${1:-}
if [ -z "$build" ]; then
  build=build/bindings
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DROUTER_BUILD_TESTS=OFF \
    -DROUTER_BUILD_BENCHMARKS=OFF -DROUTER_BUILD_EXAMPLES=OFF
  cmake --build "$build" -j "$(nproc)"
fi
build=$(cd "$build" && pwd)
work=$build/bindings-test
prefix=$work/prefix
out=$work/decisions
rm -rf "$work"
mkdir -p "$out"

step() { echo "== bindings: $*"; }

step "install into $prefix"
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
libdir=$prefix/$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$build/CMakeCache.txt")
library=$libdir/librouter_c.so
header=$prefix/include/router_c.h

# Everything below finds librouter through these only.
export PKG_CONFIG_PATH=$libdir/pkgconfig
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LIBROUTER_C=$libdir          # Python
export ROUTER_C_LIB_DIR=$libdir     # Rust (router-sys/build.rs)
export ROUTER_C_HEADER=$header      # Rust: declarations checked against the installed header
export CARGO_TARGET_DIR=$build/cargo-target
# Go caches under the build directory (works as root on a fresh machine), never
# downloads (no modules outside this tree), never switches toolchains.
export GOCACHE=$build/go-cache GOPATH=$build/go-path GOPROXY=off GOTOOLCHAIN=local GOFLAGS=

step "librouter_c exports only router_* and needs neither librouter nor fmt"
"$python" tests/capi/check_exports.py nm "$library" "$header"
needed=$(readelf -d "$library" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if grep -E '^(librouter\.so|libfmt)' <<< "$needed"; then
  echo "librouter_c must not need the libraries above" >&2
  exit 1
fi
echo "needs: $(tr '\n' ' ' <<< "$needed")"

step "write the dataset and prompts"
data=$work/data.jsonl
prompts=$work/prompts.jsonl
config='{"knn": {"k": 10}, "policy": {"lambda": 100}}'
"$python" - "$data" "$prompts" <<'EOF'
import json, sys
# Three topics, three models: "coder" and "writer" are the best on their own
# topic and expensive; "small" is cheap, good enough for chat.
topics = {
    "code": ("python function code bug compile segfault debug pointer".split(),
             {"coder": 1.0, "writer": 0.2, "small": 0.5}),
    "poem": ("poem story rhyme novel verse stanza sonnet haiku".split(),
             {"coder": 0.3, "writer": 1.0, "small": 0.6}),
    "chat": ("hello weather lunch weekend movie coffee friends holiday".split(),
             {"coder": 0.9, "writer": 0.9, "small": 0.85}),
}
costs = {"coder": 0.004, "writer": 0.003, "small": 0.0002}
with open(sys.argv[1], "w") as f:
    for row in range(240):
        words, scores = list(topics.values())[row % 3]
        prompt = " ".join(words[i % 8] for i in (row, row * 3 + 1, row * 5 + 2))
        noise = (row * 7 % 10) / 100
        f.write(json.dumps({"id": "q%d" % row, "prompt": prompt,
                            "scores": {m: round(max(0.0, s - noise), 2) for m, s in scores.items()},
                            "costs": costs}) + "\n")
with open(sys.argv[2], "w") as f:
    for prompt in ["fix this python bug, it will not compile",
                   "a sonnet with rhyme, verse and a story",
                   "any plans for the weekend? coffee or a movie",
                   "debug the \u201csegfault\u201d in my pointer code",
                   'write a haiku that says "hello"',
                   "lunch"]:
        f.write(json.dumps({"prompt": prompt}) + "\n")
EOF
mapfile -t prompt_args < <("$python" -c '
import json, sys
for line in open(sys.argv[1]):
    print(json.loads(line)["prompt"])' "$prompts")

step "C: examples/c/route.c through pkg-config router_c"
# shellcheck disable=SC2046  # pkg-config's flags are meant to be split
cc -std=c99 -Wall -Wextra -pedantic -Werror examples/c/route.c \
  $(pkg-config --cflags --libs router_c) -o "$work/route_c"
"$work/route_c" "$data" "$config" "${prompt_args[@]}" > "$out/c.txt"

step "C++: tests/package/consumer through find_package(router)"
cmake -S tests/package/consumer -B "$work/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" > "$work/consumer.log"
cmake --build "$work/consumer" >> "$work/consumer.log"
"$work/consumer/cpp_consumer"
"$work/consumer/c_consumer" "$work/c_consumer_"
"$work/consumer/route_cpp" "$data" "$config" "${prompt_args[@]}" > "$out/cpp.txt"

step "Python: bindings/python tests, examples/python/route.py"
PYTHONPATH=$root/bindings/python "$python" -m unittest discover -s bindings/python/tests
PYTHONPATH=$root/bindings/python "$python" examples/python/route.py "$data" "$prompts" "$config" \
  > "$out/python.txt"

step "Python: a wheel bundling librouter_c, tested in a fresh virtual environment"
wheel=$(bindings/python/build-wheel.sh "$prefix" "$work/wheel" 2> "$work/wheel.log") ||
  { cat "$work/wheel.log" >&2; exit 1; }
echo "built $wheel"
venv=$work/venv
"$python" -m venv --system-site-packages "$venv"   # numpy comes from the system
"$venv/bin/python" -m pip install --quiet --no-index --disable-pip-version-check "$wheel"
# Outside the source tree, with nothing in the environment leading to librouter_c.
(cd "$work" && env -u LIBROUTER_C -u LD_LIBRARY_PATH -u PYTHONPATH LIBROUTER_TEST_INSTALLED=1 \
  "$venv/bin/python" -m unittest discover -s "$root/bindings/python/tests")
(cd "$work" && env -u LIBROUTER_C -u LD_LIBRARY_PATH -u PYTHONPATH "$venv/bin/python" -c '
import os, sys
import librouter
venv, path = os.path.realpath(sys.prefix), os.path.realpath(librouter._lib.path)
assert path.startswith(venv + os.sep), "librouter_c loaded from %s, outside %s" % (path, venv)
print("import librouter: version %s, librouter_c from %s" % (librouter.version(), path))')

step "Rust: bindings/rust tests, examples/rust"
cargo test --offline --locked --manifest-path bindings/rust/Cargo.toml
cargo run --offline --locked --quiet --manifest-path examples/rust/Cargo.toml -- \
  "$data" "$prompts" "$config" > "$out/rust.txt"

step "Go: bindings/go tests, examples/go"
(cd bindings/go && go vet ./... && go test -count=1 ./...)
(cd examples/go && go run . "$data" "$prompts" "$config") > "$out/go.txt"

step "Go: examples/gateway tests (end to end, curl and Python clients, SIGHUP, 10 s load)"
(cd examples/gateway && go vet ./... &&
  GATEWAY_LOAD_REPORT="$work/gateway-load.json" go test -count=1 ./...)
cat "$work/gateway-load.json"

step "the same decisions in all five"
# route.c also prints an explanation line per prompt; keep prompts and decisions.
for language in c cpp python rust go; do
  awk '!/^  / || /^  -> /' "$out/$language.txt" > "$out/$language.decisions"
done
cat "$out/c.decisions"
if [ "$(grep -c '^  -> ' "$out/c.decisions")" -ne "${#prompt_args[@]}" ]; then
  echo "the C example made $(grep -c '^  -> ' "$out/c.decisions") decisions, not ${#prompt_args[@]}" >&2
  exit 1
fi
# The dataset makes each topic's specialist (or the cheap model) the answer.
for expected in "-> coder" "-> writer" "-> small"; do
  grep -q -- "$expected " "$out/c.decisions" || { echo "no decision '$expected'" >&2; exit 1; }
done
for language in cpp python rust go; do
  if ! diff -u "$out/c.decisions" "$out/$language.decisions"; then
    echo "$language decides differently from C (above)" >&2
    exit 1
  fi
done
echo "== bindings: all passed (C, C++, Python, Rust and Go agree on ${#prompt_args[@]} prompts)"
