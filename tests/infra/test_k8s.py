"""infra/k8s: every manifest validates (strictly: unknown fields are errors) against the Kubernetes
schemas of the oldest and newest versions kubernetes-validate ships, offline; and the manifests
keep their promises — probes, limits, stable worker ids, secrets as files, a closed network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from tests.infra.processes import ROOT
from triage.config import parse_config

MANIFESTS = sorted((ROOT / "infra" / "k8s").glob("*.yaml"))
VERSIONS = ("1.29.0", kubernetes_validate.latest_version())


def _resources() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def _one(kind: str, name: str) -> dict[str, Any]:
    return next(r for r in _resources() if r["kind"] == kind and r["metadata"]["name"] == name)


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates_against_the_kubernetes_schema(path: Path, version: str) -> None:
    for resource in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(resource, version, strict=True)


def test_an_unknown_field_is_refused() -> None:
    deployment = _one("Deployment", "triage-api")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="livenesProbe"):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def test_everything_is_in_one_namespace() -> None:
    resources = _resources()
    assert {r["metadata"].get("namespace") for r in resources if r["kind"] != "Namespace"} == {
        "triage"}
    assert {r["kind"] for r in resources} >= {"Namespace", "ConfigMap", "Deployment", "StatefulSet",
                                              "Service", "NetworkPolicy"}


def test_api_probes_liveness_and_readiness_and_runs_no_worker() -> None:
    api = _container(_one("Deployment", "triage-api"))
    assert api["args"][:2] == ["serve", "--no-worker"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["startupProbe"]["httpGet"]["path"] == "/healthz"
    service = _one("Service", "triage-api")
    assert service["spec"]["selector"] == _one("Deployment", "triage-api")["spec"]["selector"][
        "matchLabels"]


def test_workers_scale_horizontally_with_stable_ids() -> None:
    workers = _one("StatefulSet", "triage-worker")
    assert workers["spec"]["replicas"] >= 2
    worker = _container(workers)
    assert worker["args"] == ["worker"]
    env = {e["name"]: e for e in worker["env"]}
    # The pod name (triage-worker-0, -1, ...): unique, and the same for a replacement pod.
    assert env["TRIAGE_WORKER_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert worker["image"] == _container(_one("Deployment", "triage-api"))["image"]


@pytest.mark.parametrize(("kind", "name"), [("Deployment", "triage-api"),
                                            ("StatefulSet", "triage-worker")])
def test_pods_are_limited_unprivileged_and_read_secrets_and_config_as_files(kind: str,
                                                                           name: str) -> None:
    workload = _one(kind, name)
    pod = workload["spec"]["template"]["spec"]
    container = _container(workload)
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's user
    assert pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "secretName" in volumes[mounts["/run/secrets"]]["secret"]
    assert volumes[mounts["/etc/triage"]]["configMap"]["name"] == "triage-config"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TRIAGE_CONFIG"] == "/etc/triage/triage.yaml"
    assert not any("SECRET" in n or "TOKEN" in n or "DATABASE_URL" in n for n in env)


def test_the_configmap_holds_a_valid_triage_yaml() -> None:
    text = _one("ConfigMap", "triage-config")["data"]["triage.yaml"]
    config = parse_config(yaml.safe_load(text), Path("/etc/triage"), "configmap triage.yaml")
    assert config.services and config.connectors


def test_network_is_closed_except_for_listed_destinations() -> None:
    deny = _one("NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    worker = _one("NetworkPolicy", "triage-worker")["spec"]
    assert worker["ingress"] == []  # nothing connects to a worker
    assert worker["policyTypes"] == ["Ingress", "Egress"]
    for policy in ("triage-worker", "triage-api", "allow-dns"):
        for rule in _one("NetworkPolicy", policy)["spec"]["egress"]:
            assert rule["to"] and rule["ports"], (policy, rule)  # a destination and its ports
    # Public HTTPS (the SaaS APIs) excludes private, link-local (cloud metadata) and CGNAT ranges.
    public = [peer["ipBlock"] for rule in worker["egress"] for peer in rule["to"]
              if peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"]
    assert len(public) == 1
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(
        public[0]["except"])
    api_egress = _one("NetworkPolicy", "triage-api")["spec"]["egress"]
    assert [p["port"] for rule in api_egress for p in rule["ports"]] == [5432]  # the store only
