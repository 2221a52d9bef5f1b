"""The Kubernetes manifests (deploy/kubernetes) render, pass schema validation
offline, and scale the agents on the queues routing.py names.

Core objects are checked with kubernetes-validate's bundled schemas of a pinned
Kubernetes release, strictly (unknown fields refused, as `kubectl apply
--validate=strict` does); KEDA's objects against the CRD schemas vendored in
deploy/kubernetes/schemas/keda, made strict the same way.
"""

from __future__ import annotations

import copy
import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from aima_tasks.kernel.routing import GPU_CLASSES, Scope, gpu_queue
from devtools import kustomize

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
KEDA = KUBERNETES / "schemas" / "keda"
KUBERNETES_VERSION = "1.30.0"
KEDA_CRDS = {"ScaledObject": "keda.sh_scaledobjects.yaml",
             "TriggerAuthentication": "keda.sh_triggerauthentications.yaml"}
CLASS_LABEL = "aima.example.org/gpu-class"
LAYOUTS = ["base", "overlays/example"]

Document = dict[str, Any]


class Invalid(Exception):
    """A document the cluster would refuse."""


def _strict(schema: Any) -> Any:
    """A CRD schema that refuses unknown fields: the API server prunes them
    silently, so a typo'd field would otherwise pass unnoticed."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@cache
def keda_schema(kind: str, version: str) -> Document:
    crd = yaml.safe_load((KEDA / KEDA_CRDS[kind]).read_text())
    for served in crd["spec"]["versions"]:
        if served["name"] == version:
            return _strict(served["schema"]["openAPIV3Schema"])
    raise Invalid(f"KEDA's {kind} has no version {version}")


def validate(document: Document) -> None:
    """Raise Invalid unless the cluster would accept the document as it stands."""
    group, _, version = document.get("apiVersion", "").rpartition("/")
    try:
        if group == "keda.sh":
            kind = document.get("kind")
            if kind not in KEDA_CRDS:
                raise Invalid(f"no vendored KEDA schema for {kind}")
            jsonschema.validate(document, keda_schema(kind, version))
        else:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except (jsonschema.ValidationError, kubernetes_validate.ValidationError,
            kubernetes_validate.SchemaNotFoundError) as exc:
        raise Invalid(f"{document.get('kind')} {document['metadata'].get('name')}: "
                      f"{exc}") from exc


@cache
def _rendered(layout: str) -> tuple[Document, ...]:
    return tuple(kustomize.render(KUBERNETES / layout))


def rendered(layout: str) -> list[Document]:
    return copy.deepcopy(list(_rendered(layout)))


def of_kind(documents: list[Document], kind: str) -> dict[str, Document]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= labels.items()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_document_validates(layout: str) -> None:
    documents = rendered(layout)
    assert len(documents) > 20
    for document in documents:
        validate(document)
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == "aima", document["metadata"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_agents_scale_on_the_queues_routing_names(layout: str) -> None:
    documents = rendered(layout)
    deployments = of_kind(documents, "Deployment")
    auths = of_kind(documents, "TriggerAuthentication")
    expected = {gpu_queue(Scope.LOCAL, c) for c in GPU_CLASSES}
    queues = set()
    for scaled in of_kind(documents, "ScaledObject").values():
        spec = scaled["spec"]
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "rabbitmq"
        meta = trigger["metadata"]
        assert (meta["protocol"], meta["mode"], meta["value"]) == ("amqp", "QueueLength", "1")
        auth = auths[trigger["authenticationRef"]["name"]]
        assert {"parameter": "host", "name": "aima-keda-rabbitmq", "key": "host"} in \
            auth["spec"]["secretTargetRef"]
        assert spec["minReplicaCount"] == 0 and spec["maxReplicaCount"] >= 1
        queues.add(meta["queueName"])
        # Its target is the Deployment of the very class whose queue it watches.
        target = deployments[spec["scaleTargetRef"]["name"]]
        pod = target["spec"]["template"]["spec"]
        gpu_class = int(pod["nodeSelector"][CLASS_LABEL])
        assert gpu_queue(Scope.LOCAL, gpu_class) == meta["queueName"]
        assert target["spec"]["template"]["metadata"]["labels"][CLASS_LABEL] == str(gpu_class)
        (agent,) = pod["containers"]
        assert agent["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert agent["command"] == ["python", "-m", "agents", "run"]
        assert "replicas" not in target["spec"], "KEDA owns the agents' replica count"
    assert queues == expected
    agent_deployments = {n for n in deployments if n.startswith("aima-agent-")}
    assert agent_deployments == {f"aima-agent-{c}" for c in GPU_CLASSES}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_exactly_one_beat(layout: str) -> None:
    deployments = of_kind(rendered(layout), "Deployment")
    beats = [d for d in deployments.values()
             for c in d["spec"]["template"]["spec"]["containers"]
             if c.get("command", [])[:1] == ["celery"] and "beat" in c["command"]]
    assert [b["metadata"]["name"] for b in beats] == ["aima-beat"]
    assert beats[0]["spec"]["replicas"] == 1
    assert beats[0]["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_selectors_match_and_every_deployment_has_a_pdb(layout: str) -> None:
    documents = rendered(layout)
    pdbs = of_kind(documents, "PodDisruptionBudget").values()
    for name, deployment in of_kind(documents, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selects(deployment["spec"]["selector"]["matchLabels"], labels), name
        covering = [p for p in pdbs if selects(p["spec"]["selector"]["matchLabels"], labels)]
        assert len(covering) == 1, f"{name}: {len(covering)} PodDisruptionBudgets"
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
    for budget in ("aima-web", "aima-worker"):
        assert of_kind(documents, "PodDisruptionBudget")[budget]["spec"]["minAvailable"] == 1
    pod_labels = [d["spec"]["template"]["metadata"]["labels"]
                  for d in of_kind(documents, "Deployment").values()]
    for name, service in of_kind(documents, "Service").items():
        assert any(selects(service["spec"]["selector"], labels) for labels in pod_labels), name


def test_web_probes_healthz_as_if_through_the_tls_proxy() -> None:
    web = of_kind(rendered("base"), "Deployment")["aima-web"]
    container = {c["name"]: c for c in web["spec"]["template"]["spec"]["containers"]}["web"]
    assert web["spec"]["replicas"] == 2
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert (get["path"], get["port"]) == ("/healthz", 8000)
        assert {"name": "X-Forwarded-Proto", "value": "https"} in get["httpHeaders"]


def test_vendored_crds_match_the_readme_checksums() -> None:
    listed = dict(
        (name, digest) for digest, name in
        re.findall(r"^([0-9a-f]{64})  (\S+)$", (KEDA / "README.md").read_text(), re.M))
    assert set(listed) == set(KEDA_CRDS.values())
    for name, digest in listed.items():
        assert hashlib.sha256((KEDA / name).read_bytes()).hexdigest() == digest, name


def _web(documents: list[Document]) -> Document:
    return of_kind(documents, "Deployment")["aima-web"]


def _scaled(documents: list[Document]) -> Document:
    return next(iter(of_kind(documents, "ScaledObject").values()))


@pytest.mark.parametrize("spoil", [
    lambda docs: _web(docs)["spec"].update(replicas="two"),
    lambda docs: _web(docs)["spec"].update(replica=2),
    lambda docs: _web(docs)["spec"]["template"]["spec"]["containers"][0].update(comand=["x"]),
    lambda docs: _scaled(docs)["spec"].update(minReplicaCount="zero"),
    lambda docs: _scaled(docs)["spec"].update(cooldownPerod=60),
    lambda docs: _scaled(docs)["spec"]["triggers"][0].pop("metadata"),
], ids=["replicas-string", "unknown-field", "unknown-container-field", "keda-type",
        "keda-unknown-field", "keda-missing-required"])
def test_a_spoiled_document_is_refused(spoil) -> None:
    documents = rendered("base")
    spoil(documents)
    with pytest.raises(Invalid):
        for document in documents:
            validate(document)


def test_kustomize_refuses_what_it_cannot_render(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [../base]\npatches:\n  - path: web.yaml\n")
    with pytest.raises(kustomize.KustomizeError, match="patches"):
        kustomize.render(tmp_path)
