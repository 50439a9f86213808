#!/usr/bin/env bash
# Checks every Swift target's imports against the dependencies Package.swift declares for it (issue #22):
#   - each `import X` of one of the package's modules (a target, or a product of a package dependency) is a declared
#     dependency of the importing target (SwiftPM builds an undeclared one only by luck of the build order);
#   - each declared dependency is imported somewhere in the target (an unused one only costs build time and links).
# Executables are exempt from the second rule: a test target declares `earshotd` so that the binary it runs is built.
# System modules (Foundation, Glibc, Testing…) are not the manifest's business and are ignored.
#
#   scripts/check-imports.sh        (make test runs it first; about a second)
#
# The manifest is read through `swift package dump-package`, which evaluates Package.swift (helpers such as
# `daemonProduct` included) without resolving or building anything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"${SWIFT:-swift}" package dump-package | python3 -c '
import json, pathlib, re, sys

manifest = json.load(sys.stdin)
targets = [t for t in manifest["targets"] if t["type"] in ("regular", "executable", "test")]
executables = {t["name"] for t in manifest["targets"] if t["type"] == "executable"}

def dependency_name(dependency):
    # {"byName": [name, condition]}, {"target": [name, condition]} or {"product": [name, package, …]}
    for kind in ("byName", "target", "product"):
        if kind in dependency:
            return dependency[kind][0]
    raise SystemExit(f"check-imports: a dependency of an unknown kind: {dependency}")

declared = {t["name"]: {dependency_name(d) for d in t["dependencies"]} for t in targets}
package_modules = {t["name"] for t in manifest["targets"] if t["type"] != "plugin"}
package_modules |= set().union(*declared.values())

# `import X`, `@testable import X`, `@_spi(S) public import X`, `import struct X.Y`: X is the module.
import_line = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|package|internal|fileprivate|private)\s+)?"
                         r"import\s+(?:(?:struct|class|enum|protocol|typealias|func|var|let)\s+)?(\w+)", re.M)

problems = []
for target in targets:
    name = target["name"]
    folder = pathlib.Path(target.get("path") or ("Tests" if target["type"] == "test" else "Sources") + "/" + name)
    imported = {}  # module -> the first file that imports it
    for source in sorted(folder.rglob("*.swift")):
        for module in import_line.findall(source.read_text()):
            imported.setdefault(module, source)
    for module in sorted(set(imported) & package_modules - declared[name] - {name}):
        problems.append(f"{name}: {imported[module]} imports {module}, which Package.swift does not declare for {name}")
    for module in sorted(declared[name] - set(imported) - executables):
        problems.append(f"{name}: declares {module} in Package.swift but no file in {folder} imports it")

for problem in problems:
    print(problem, file=sys.stderr)
if problems:
    sys.exit(f"check-imports: {len(problems)} problem(s); fix Package.swift or the imports")
print(f"check-imports: {len(targets)} targets, every package import declared and every dependency used")
'
