"""The Kustomize base and overlay: valid, complete, and running what `make run` runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy import kustomize
from tests.deploy.stack_files import (
    K8S_DIR,
    SECRET_NAME,
    migrate_commands,
    procfile,
    resource_name,
)

# The oldest Kubernetes the manifests promise to work on; native gRPC probes
# need 1.27 at least.
KUBERNETES_VERSION = "1.32.0"

BASE = K8S_DIR / "base"
OVERLAY = K8S_DIR / "overlays" / "example"
TREES = {"base": BASE, "overlay": OVERLAY}


@pytest.fixture(scope="module", params=sorted(TREES))
def rendered(request: pytest.FixtureRequest) -> list[kustomize.Manifest]:
    """Return the manifests of the base, then of the example overlay."""
    return kustomize.render(TREES[request.param])


def _of_kind(manifests: list[kustomize.Manifest], kind: str) -> dict[str, Any]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def _files() -> list[Path]:
    return sorted(K8S_DIR.rglob("*.yaml"))


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(K8S_DIR)))
def test_every_committed_manifest_is_valid(path: Path) -> None:
    for manifest in kustomize.load_yaml(path):
        if manifest["kind"] == "Kustomization":
            continue
        # A patch is a fragment; it is checked once rendered, below.
        if path.parent == OVERLAY:
            continue
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_no_secret_manifest_is_committed_anywhere_under_deploy() -> None:
    for path in sorted((K8S_DIR.parent).rglob("*.y*ml")):
        for document in kustomize.load_yaml(path):
            assert document.get("kind") != "Secret", path


def test_rendered_manifests_are_valid(rendered: list[kustomize.Manifest]) -> None:
    for manifest in rendered:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_hand_renderer_agrees_with_kubectl() -> None:
    if kustomize.kubectl() is None:
        pytest.skip("kubectl is not installed; the hand renderer stands alone")
    for tree in TREES.values():

        def key(manifest: kustomize.Manifest) -> tuple[str, str]:
            return manifest["kind"], manifest["metadata"]["name"]

        by_hand = sorted(kustomize.render_by_hand(tree), key=key)
        assert by_hand == sorted(kustomize.render_with_kubectl(tree), key=key)


def test_every_process_has_deployment_service_and_pdb(
    rendered: list[kustomize.Manifest],
) -> None:
    expected = {resource_name(process) for process in procfile()}
    for kind in ("Deployment", "Service", "PodDisruptionBudget"):
        assert set(_of_kind(rendered, kind)) == expected, kind


def test_deployments_run_the_procfile_commands(
    rendered: list[kustomize.Manifest],
) -> None:
    deployments = _of_kind(rendered, "Deployment")
    for process, argv in procfile().items():
        (container,) = kustomize.containers(deployments[resource_name(process)])
        assert container["command"] == argv, process
        assert "args" not in container, process


def test_migrations_job_runs_stack_sh_migrations_in_order(
    rendered: list[kustomize.Manifest],
) -> None:
    (job,) = _of_kind(rendered, "Job").values()
    commands = [c["command"] for c in kustomize.containers(job)]
    assert commands == migrate_commands()
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_pdbs_select_their_deployment(rendered: list[kustomize.Manifest]) -> None:
    deployments = _of_kind(rendered, "Deployment")
    for name, pdb in _of_kind(rendered, "PodDisruptionBudget").items():
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod_labels.items(), name


def test_deployments_probe_health_and_run_unprivileged(
    rendered: list[kustomize.Manifest],
) -> None:
    for name, deployment in _of_kind(rendered, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        (container,) = pod["containers"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert {"requests", "limits"} <= container["resources"].keys(), name

        # The gateway answers HTTP /healthz; services answer grpc.health.v1.
        kind = "httpGet" if name == "gateway" else "grpc"
        for probe in ("readinessProbe", "livenessProbe"):
            assert kind in container[probe], f"{name} {probe}"
        if kind == "httpGet":
            assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"


def test_gateway_scales_on_cpu(rendered: list[kustomize.Manifest]) -> None:
    hpa = _of_kind(rendered, "HorizontalPodAutoscaler")["gateway"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "gateway"
    assert hpa["spec"]["minReplicas"] >= 2


def test_overlay_runs_two_replicas_of_each_service() -> None:
    deployments = _of_kind(kustomize.render(OVERLAY), "Deployment")
    for name, deployment in deployments.items():
        if name != "gateway":
            assert deployment["spec"]["replicas"] == 2, name


def test_ingress_is_denied_by_default(rendered: list[kustomize.Manifest]) -> None:
    policies = _of_kind(rendered, "NetworkPolicy").values()
    assert any(
        p["spec"]["podSelector"] == {} and "ingress" not in p["spec"] for p in policies
    )


def test_no_secret_is_committed(rendered: list[kustomize.Manifest]) -> None:
    for manifest in rendered:
        assert manifest["kind"] != "Secret", manifest["metadata"]["name"]
        if manifest["kind"] == "ConfigMap":
            leaked = [k for k in manifest["data"] if SECRET_NAME.search(k)]
            assert not leaked, f"secret settings in a ConfigMap: {leaked}"
        if "template" not in manifest.get("spec", {}):
            continue
        for container in kustomize.containers(manifest):
            for variable in container.get("env", []):
                if SECRET_NAME.search(variable["name"]):
                    assert "secretKeyRef" in variable.get("valueFrom", {}), variable
