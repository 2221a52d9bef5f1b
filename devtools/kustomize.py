"""Render a kustomization offline, for the tests: neither kubectl nor kustomize
can be installed here, and the manifests must be checked in CI all the same.

Only the few features deploy/kubernetes uses are supported (resources,
namespace, commonLabels, images with newName/newTag); anything else in a
kustomization.yaml is refused with an error naming it, so a manifest never
relies on a feature this renderer would silently skip. The output follows
kustomize's own rules for those features, so `kubectl apply -k` applies the
same objects.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Document = dict[str, Any]

KUSTOMIZATION = "kustomization.yaml"
SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "commonLabels", "images"}
IMAGE_KEYS = {"name", "newName", "newTag"}
# Objects without a namespace: kustomize's `namespace` leaves them alone.
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume",
                  "StorageClass", "CustomResourceDefinition", "PriorityClass"}
# Kinds whose pod template and label selector commonLabels also reach, as kustomize does.
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}


class KustomizeError(ValueError):
    """A kustomization this renderer cannot render faithfully."""


def render(directory: Path | str) -> list[Document]:
    """The documents `kustomize build directory` prints, in resource order."""
    directory = Path(directory)
    path = directory / KUSTOMIZATION
    if not path.is_file():
        raise KustomizeError(f"{directory}: no {KUSTOMIZATION}")
    spec = yaml.safe_load(path.read_text()) or {}
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise KustomizeError(f"{path}: unsupported field(s) {sorted(unknown)}; "
                             f"devtools/kustomize.py renders only {sorted(SUPPORTED)}")
    if spec.get("kind", "Kustomization") != "Kustomization":
        raise KustomizeError(f"{path}: kind {spec['kind']!r} is not Kustomization")
    documents: list[Document] = []
    for entry in spec.get("resources", []):
        documents.extend(_load(directory, entry))
    for document in documents:
        if "namespace" in spec and document["kind"] not in CLUSTER_SCOPED:
            document.setdefault("metadata", {})["namespace"] = spec["namespace"]
        _add_labels(document, spec.get("commonLabels") or {})
        for image in spec.get("images", []):
            _set_image(document, image, path)
    return documents


def _load(directory: Path, entry: str) -> list[Document]:
    target = (directory / entry).resolve()
    if "://" in entry or not target.exists():
        raise KustomizeError(f"{directory / KUSTOMIZATION}: resource {entry!r} is not a local "
                             "file or directory")
    if target.is_dir():
        return render(target)
    documents = [d for d in yaml.safe_load_all(target.read_text()) if d is not None]
    for document in documents:
        if not isinstance(document, dict) or "kind" not in document:
            raise KustomizeError(f"{target}: a document without a kind")
    return copy.deepcopy(documents)


def _add_labels(document: Document, labels: dict[str, str]) -> None:
    """commonLabels: on every object, and where kustomize puts them too: the pod
    template, the workload's, service's, PDB's and network policy's selectors."""
    if not labels:
        return
    document.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    spec = document.get("spec") or {}
    kind = document["kind"]
    if kind in WORKLOADS or kind == "Job":
        spec["template"].setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    if kind in WORKLOADS or kind == "PodDisruptionBudget":
        spec.setdefault("selector", {}).setdefault("matchLabels", {}).update(labels)
    elif kind == "Service":
        spec.setdefault("selector", {}).update(labels)
    elif kind == "NetworkPolicy":
        spec.setdefault("podSelector", {}).setdefault("matchLabels", {}).update(labels)
        for rule in spec.get("ingress", []):
            for peer in rule.get("from", []):
                if "podSelector" in peer:
                    peer["podSelector"].setdefault("matchLabels", {}).update(labels)


def _set_image(document: Document, image: dict[str, str], path: Path) -> None:
    unknown = set(image) - IMAGE_KEYS
    if unknown or "name" not in image:
        raise KustomizeError(f"{path}: images entry {image} needs a name and may hold only "
                             f"{sorted(IMAGE_KEYS)}")
    pod = ((document.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        name, tag = _split(container["image"])
        if name != image["name"]:
            continue
        name = image.get("newName", name)
        tag = image.get("newTag", tag)
        container["image"] = f"{name}:{tag}" if tag else name


def _split(reference: str) -> tuple[str, str | None]:
    """An image reference's name and tag; a registry's port is not a tag."""
    if "@" in reference:
        raise KustomizeError(f"image {reference!r}: digests are not supported")
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        return reference, None
    return name, tag
