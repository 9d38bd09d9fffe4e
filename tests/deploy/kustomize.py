"""Render a Kustomize directory, with kubectl when present, else by hand.

The hand renderer knows only what deploy/k8s uses: resources, namespace,
labels, images, replicas and strategic-merge patches whose lists are keyed by
`name`. A test compares it with kubectl's output wherever kubectl is found.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

_CLUSTER_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
_KUSTOMIZATION = "kustomization.yaml"


def kubectl() -> str | None:
    """Return the path of kubectl, or None where it is not installed."""
    return shutil.which("kubectl")


def render_with_kubectl(directory: Path) -> list[Manifest]:
    """Return the manifests `kubectl kustomize` builds from `directory`."""
    binary = kubectl()
    assert binary is not None, "kubectl is not installed"
    built = subprocess.run(
        [binary, "kustomize", str(directory)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def render_by_hand(directory: Path) -> list[Manifest]:
    """Return the manifests the kustomization in `directory` builds."""
    config = load_yaml(directory / _KUSTOMIZATION)[0]
    manifests: list[Manifest] = []
    for entry in config.get("resources", []):
        path = directory / entry
        if path.is_dir():
            manifests += render_by_hand(path)
        else:
            manifests += load_yaml(path)

    for patch in config.get("patches", []):
        for change in load_yaml(directory / patch["path"]):
            target = _find(manifests, change["kind"], change["metadata"]["name"])
            _merge(target, change)
    for replicas in config.get("replicas", []):
        _find(manifests, "Deployment", replicas["name"])["spec"]["replicas"] = replicas[
            "count"
        ]
    for image in config.get("images", []):
        _retag(manifests, image)
    for labels in config.get("labels", []):
        for manifest in manifests:
            manifest["metadata"].setdefault("labels", {}).update(labels["pairs"])
    if "namespace" in config:
        for manifest in manifests:
            if manifest["kind"] not in _CLUSTER_KINDS:
                manifest["metadata"]["namespace"] = config["namespace"]
    return manifests


def render(directory: Path) -> list[Manifest]:
    """Render `directory` with kubectl where it is installed, else by hand."""
    return render_with_kubectl(directory) if kubectl() else render_by_hand(directory)


def load_yaml(path: Path) -> list[Manifest]:
    """Return every non-empty YAML document of `path`."""
    with path.open(encoding="utf-8") as file:
        return [doc for doc in yaml.safe_load_all(file) if doc]


def containers(manifest: Manifest) -> list[Manifest]:
    """Return the init and main containers of a workload's pod template."""
    pod = manifest["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def _find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    for manifest in manifests:
        if manifest["kind"] == kind and manifest["metadata"]["name"] == name:
            return manifest
    raise LookupError(f"no {kind} named {name}")


def _retag(manifests: list[Manifest], image: dict[str, str]) -> None:
    new = f"{image.get('newName', image['name'])}:{image['newTag']}"
    for manifest in manifests:
        if "template" not in manifest.get("spec", {}):
            continue
        for container in containers(manifest):
            if container["image"].split(":", 1)[0] == image["name"]:
                container["image"] = new


def _merge(target: Any, change: Any) -> Any:
    # Maps merge key by key; lists of named maps merge by name; the rest is
    # replaced, as a strategic-merge patch does for these fields.
    if isinstance(target, dict) and isinstance(change, dict):
        for key, value in change.items():
            target[key] = _merge(target[key], value) if key in target else value
        return target
    if _named(target) and _named(change):
        by_name = {item["name"]: item for item in target}
        for item in change:
            if item["name"] in by_name:
                _merge(by_name[item["name"]], item)
            else:
                target.append(copy.deepcopy(item))
        return target
    return copy.deepcopy(change)


def _named(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, dict) and "name" in item for item in value
    )
