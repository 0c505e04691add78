"""Writes charts/kompliance/values.schema.json: the chart's values, and under `config:` the
ComplianceConfig where JSON Schema can say it (keys, types, recommendation ids and their parameter
names from the catalogue). The operator's own check (`kompliance config check`) stays the full one:
regexes, quantities, dates and ranges are checked there. tests/chart.rs fails when the schema's
recommendations or parameters differ from `kompliance catalog -o json`.

Usage: kompliance catalog -o json | python3 tests/chart/schema.py > charts/kompliance/values.schema.json
(`make chart-sync` runs it).
"""

import json
import sys

STR = {"type": "string"}
STRS = {"type": "array", "items": STR}
SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": {"type": "object", "additionalProperties": STR},
        "matchExpressions": {"type": "array", "items": {"type": "object"}},
    },
}
COMMON = {
    "namespaces": STRS,
    "excludedNamespaces": STRS,
    "labelSelector": SELECTOR,
    "excludedContainers": STRS,
    "excludedImages": STRS,
}
RANGES = {
    "type": "object",
    "properties": {"ranges": {"type": "array", "items": {"type": "object", "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}}}}},
}
KINDS = {
    "Regex": STR,
    "PortList": {"type": "array", "items": {"type": ["string", "integer"]}},
    "StringList": STRS,
    "Bool": {"type": "boolean"},
    "Int": {"type": "integer"},
    "Quantity": {"type": ["string", "number"]},
    "Version": STR,
    "Rule": STR,
    "Ranges": RANGES,
    "HostPaths": {"type": "object", "properties": {"paths": {"type": "array", "items": {"type": "object"}}}},
}
ANY_CASE_EFFECT = "^(?i)(audit|auditifnotexists|disabled|deny)$"


def wrapped(schema):
    """A parameter as Azure Policy pastes it: the value, or {"value": ...}."""
    return {"anyOf": [schema, {"type": "object", "required": ["value"], "additionalProperties": False, "properties": {"value": schema}}]}


def recommendation(rec):
    params = {p["name"]: wrapped(KINDS.get(p["kind"], {})) for p in rec["parameters"]}
    params.update({k: wrapped(v) for k, v in COMMON.items()})
    props = {
        "effect": {"type": "string", "pattern": ANY_CASE_EFFECT},
        "severity": {"type": "string", "enum": ["High", "Medium", "Low"]},
        "parameters": {"type": "object", "additionalProperties": False, "properties": params},
    }
    props.update(COMMON)
    return {"type": "object", "additionalProperties": False, "properties": props}


def config_schema(catalog):
    return {
        "type": "object",
        "description": "The ComplianceConfig (deploy/kompliance-config.yaml, example-config.yaml).",
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "kompliance.dev/v1alpha1"},
            "kind": {"const": "ComplianceConfig"},
            "metadata": {"type": "object"},
            "excludedNamespaces": STRS,
            "allowAnnotationExemptions": {"type": "boolean"},
            "language": {"enum": ["en", "ko"]},
            "recommendations": {
                "type": "object",
                "additionalProperties": False,
                "properties": {rec["id"]: recommendation(rec) for rec in catalog},
            },
            "exemptions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["reason"],
                    "properties": {
                        "recommendations": STRS,
                        "namespaces": STRS,
                        "kinds": STRS,
                        "names": STRS,
                        "labelSelector": SELECTOR,
                        "reason": {"type": "string", "minLength": 1},
                        "expires": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
                    },
                },
            },
            "azure": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "subscriptionId": STR,
                    "resourceGroups": STRS,
                    "clusterResourceGroup": STR,
                    "clusterName": STR,
                    "cloud": STR,
                    "endpoints": {"type": "object", "additionalProperties": STR},
                },
            },
        },
    }


def obj(props, extra=False):
    return {"type": "object", "additionalProperties": extra, "properties": props}


BOOL = {"type": "boolean"}
LABELS = {"type": "object", "additionalProperties": STR}
ANYOBJ = {"type": "object"}
DURATION = {"type": "string", "pattern": "^([0-9]+(ms|s|m|h))*$"}


def values_schema(catalog):
    return {
        "$schema": "https://json-schema.org/draft-07/schema#",
        "title": "kompliance chart values",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "fullnameOverride": STR,
            "namespace": obj({"create": BOOL}),
            "crds": obj({"install": BOOL, "keep": BOOL}),
            "image": obj({
                "repository": {"type": "string", "minLength": 1},
                "tag": STR,
                "digest": {"type": "string", "pattern": "^(sha256:[0-9a-f]{64})?$"},
                "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
                "pullSecrets": STRS,
            }),
            "replicas": {"type": "integer", "minimum": 0},
            "podDisruptionBudget": obj({"enabled": BOOL, "minAvailable": {"type": ["integer", "string"]}}),
            "operator": obj({
                "leaderElection": BOOL,
                "debounce": DURATION,
                "maxDelay": DURATION,
                "resyncInterval": DURATION,
                "probeInterval": DURATION,
                "logFormat": {"enum": ["json", "text"]},
                "lang": {"enum": ["", "en", "ko"]},
                "metrics": obj({
                    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "secure": BOOL,
                    "namespaceLabel": BOOL,
                    "certSecret": STR,
                }),
                "namespaces": STRS,
                "extraArgs": STRS,
            }),
            "resources": ANYOBJ,
            "nodeSelector": LABELS,
            "tolerations": {"type": "array"},
            "affinity": ANYOBJ,
            "topologySpreadConstraints": {"type": "array"},
            "priorityClassName": STR,
            "podAnnotations": LABELS,
            "podLabels": LABELS,
            "terminationGracePeriodSeconds": {"type": "integer", "minimum": 1},
            "podSecurityContext": ANYOBJ,
            "securityContext": ANYOBJ,
            "serviceAccount": obj({"create": BOOL, "name": STR, "annotations": LABELS}),
            "networkPolicy": obj({"enabled": BOOL}),
            "openreports": obj({
                "enabled": BOOL,
                "results": {"type": "string", "pattern": "^([a-z-]+(,[a-z-]+)*)?$"},
                "recheck": DURATION,
            }),
            "azure": obj({
                "enabled": BOOL,
                "clientId": STR,
                "tenantId": STR,
                "subscriptionId": STR,
                "clusterResourceGroup": STR,
                "clusterName": STR,
                "registries": STRS,
            }),
            "monitoring": obj({
                "serviceMonitor": obj({"enabled": BOOL, "interval": STR, "labels": LABELS}),
                "prometheusRule": obj({"enabled": BOOL, "labels": LABELS, "docsBaseUrl": {"type": "string", "pattern": "^https?://"}}),
                "grafanaDashboard": obj({
                    "enabled": BOOL,
                    "labels": LABELS,
                    "folder": STR,
                    "folderAnnotation": STR,
                    "namespace": STR,
                }),
            }),
            "config": config_schema(catalog),
            "global": ANYOBJ,
        },
    }


if __name__ == "__main__":
    json.dump(values_schema(json.load(sys.stdin)), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
