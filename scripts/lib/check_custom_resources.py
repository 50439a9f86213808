"""Validates Prometheus Operator objects (ServiceMonitor, PrometheusRule) in YAML files against the operator's CRD
schemas, as the pydantic models of the PyPI package cloudcoil.models.prometheus-operator (generated from the CRDs of
prometheus-operator v0.80.1). pydantic ignores unknown fields, so every field given must also come back out of the
validated model: a misspelt or misplaced key fails, as it would under `kubectl apply --validate=strict`.

Run by scripts/check-manifests.sh in its tools venv: python check_custom_resources.py FILE...
Exit status 1 if any object fails, or if no such object was found.
"""
import sys, yaml
from cloudcoil.models.prometheus_operator import v1
KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"): v1.ServiceMonitor,
         ("monitoring.coreos.com/v1", "PrometheusRule"): v1.PrometheusRule}
def unknown(given, dumped, path):
    if isinstance(given, dict):
        if not isinstance(dumped, dict):
            return [path]
        out = []
        for k, v in given.items():
            out += [f"{path}.{k}"] if k not in dumped else unknown(v, dumped[k], f"{path}.{k}")
        return out
    if isinstance(given, list) and isinstance(dumped, list):
        return [p for i, (a, b) in enumerate(zip(given, dumped)) for p in unknown(a, b, f"{path}[{i}]")]
    return []
failed = checked = 0
for name in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(name)):
        if not doc: continue
        model = KINDS.get((doc.get("apiVersion"), doc.get("kind")))
        if model is None: continue
        what = f"{name}: {doc['kind']}/{doc['metadata']['name']}"
        checked += 1
        try:
            obj = model.model_validate(doc)
        except Exception as e:
            failed += 1; print(f"ERROR {what}: {e}"); continue
        extra = unknown(doc, obj.model_dump(by_alias=True, exclude_unset=True, mode="json"), "")
        if extra:
            failed += 1; print(f"ERROR {what}: fields the CRD does not define: {', '.join(extra)}"); continue
        print(f"INFO {what} passed against prometheus-operator v0.80.1's CRD models")
print(f"{checked} custom resources checked, {failed} failed")
sys.exit(1 if failed or not checked else 0)
