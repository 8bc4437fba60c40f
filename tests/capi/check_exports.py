#!/usr/bin/env python3
"""Checks librouter_c's exported symbols against router_c.h.

Usage: check_exports.py NM LIBRARY HEADER

  * every defined dynamic symbol of LIBRARY starts with router_;
  * every function the header declares with ROUTER_API is exported as code;
  * every exported router_ symbol is declared in the header;
  * the ROUTER_* status codes in the header have unique values.
"""
import re
import subprocess
import sys


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    nm, library, header = sys.argv[1:]
    text = open(header, encoding="utf-8").read()
    # Drop comments, then find "ROUTER_API <return type> router_x(".
    code = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    code = re.sub(r"//[^\n]*", " ", code)
    declared = set(re.findall(r"\bROUTER_API\b[^;(]*?\b(router_\w+)\s*\(", code))
    if not declared:
        print(f"FAIL: no ROUTER_API functions found in {header}")
        return 1

    out = subprocess.run([nm, "-D", "--defined-only", library], check=True,
                         capture_output=True, text=True).stdout
    exported = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            exported[parts[2].split("@")[0]] = parts[1]

    failures = []
    for name, kind in sorted(exported.items()):
        if not name.startswith("router_"):
            failures.append(f"exported symbol {name} ({kind}) does not start with router_")
        elif name not in declared:
            failures.append(f"exported symbol {name} is not declared ROUTER_API in the header")
    for name in sorted(declared):
        if name not in exported:
            failures.append(f"{name} is declared in the header but not exported")
        elif exported[name] not in ("T", "W", "i"):
            failures.append(f"{name} is exported as '{exported[name]}', not as code")

    # Status codes: "#define ROUTER_<NAME> <int>" after the router_status_t typedef.
    statuses = code[code.index("typedef int32_t router_status_t;"):]
    codes = re.findall(r"#define (ROUTER_[A-Z_]+) (-?\d+)\b", statuses)
    by_value = {}
    for name, value in codes:
        by_value.setdefault(int(value), []).append(name)
    for value, names in sorted(by_value.items()):
        if len(names) > 1:
            failures.append(f"status value {value} is shared by {', '.join(names)}")
    if len(codes) < 17:
        failures.append(f"found only {len(codes)} status codes in the header")

    for failure in failures:
        print("FAIL:", failure)
    print(f"{len(declared)} functions declared, {len(exported)} symbols exported, "
          f"{len(codes)} status codes, {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
