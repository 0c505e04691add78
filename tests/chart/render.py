"""Renders and lints charts/kompliance with Helm 4's engine (PyPI helm-python-sdk), for tests/chart.rs.

Usage: render.py CHART_DIR OUT_DIR VALUES.yaml...   (one rendered set per values file; defaults.yaml
may be empty). A values file named invalid-*.yaml must be rejected by values.schema.json: its
error goes to OUT_DIR/<name>.rejected.txt (accepted: exit 1). Writes OUT_DIR/<name>.yaml (every rendered manifest, as one multi-document stream
in template order) and OUT_DIR/<name>.lint.json (Helm's lint report, strict). Also:
render.py --package CHART_DIR DEST_DIR   packages the chart (.tgz) and prints its path.
"""

import json
import os
import sys

import helm_python as helm

NAMESPACE = "kompliance-system"
RELEASE = "kompliance"


def render_set(chart, chart_dir, values_file, out_dir):
    name = os.path.splitext(os.path.basename(values_file))[0]
    with open(values_file, encoding="utf-8") as f:
        values = helm.values_from_yaml(f.read()) or {}
    if name.startswith("invalid-"):
        try:
            chart.validate_schema(values)
        except helm.HelmValuesError as e:
            with open(os.path.join(out_dir, name + ".rejected.txt"), "w", encoding="utf-8") as f:
                f.write(str(e))
            return
        raise SystemExit(f"{values_file}: accepted by values.schema.json, expected a rejection")
    chart.validate_schema(values)
    manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs = []
    for path in sorted(manifests):
        text = manifests[path]
        if path.endswith("NOTES.txt") or not text.strip():
            continue
        docs.append(f"# Source: {path}\n{text.strip()}\n")
    with open(os.path.join(out_dir, name + ".yaml"), "w", encoding="utf-8") as f:
        f.write("---\n".join(docs))
    report = helm.lint(chart_dir, values, strict=True, namespace=NAMESPACE)
    with open(os.path.join(out_dir, name + ".lint.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, sort_keys=True)


def main(argv):
    if len(argv) >= 3 and argv[1] == "--package":
        os.makedirs(argv[3], exist_ok=True)
        print(helm.package(argv[2], destination=argv[3]))
        return 0
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    chart_dir, out_dir = argv[1], argv[2]
    os.makedirs(out_dir, exist_ok=True)
    with helm.Chart.load(chart_dir) as chart:
        for values_file in argv[3:]:
            try:
                render_set(chart, chart_dir, values_file, out_dir)
            except helm.HelmError as e:
                print(f"{values_file}: {e}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
