"""docker-compose.yml: valid Compose, the whole stack, started in order."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.deploy.stack_files import (
    ROOT,
    SECRET_NAME,
    load_compose,
    migrate_commands,
    procfile,
    resource_name,
)

# The Compose Specification's schema, vendored unchanged (see README.md here).
SCHEMA = Path(__file__).with_name("compose-spec.json")
INFRASTRUCTURE = {"postgres", "redis", "kafka", "otel-collector", "jaeger"}
# Its image holds no shell or client to probe itself with.
UNPROBED = {"otel-collector"}
# A value taken from the env file, refusing to start when it is missing.
REQUIRED_VARIABLE = re.compile(r"\$\{[A-Z0-9_]+:\?[^}]*\}")
URL_PASSWORD = re.compile(r"://[^:/@\s]+:([^@\s]+)@")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """Return docker-compose.yml, anchors resolved."""
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    """Return the compose services by name."""
    services: dict[str, Any] = compose["services"]
    return services


def _one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no"


def test_compose_file_matches_the_compose_spec(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    errors = sorted(
        Draft202012Validator(schema).iter_errors(compose), key=lambda e: e.path
    )
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_every_process_and_infrastructure_part_is_a_service(
    services: dict[str, Any],
) -> None:
    expected = {resource_name(process) for process in procfile()} | INFRASTRUCTURE
    assert expected <= services.keys()


def test_services_run_the_procfile_commands(services: dict[str, Any]) -> None:
    for process, argv in procfile().items():
        assert services[resource_name(process)]["command"] == argv, process


def test_migrations_run_like_stack_sh_before_the_services(
    services: dict[str, Any],
) -> None:
    migrations = {n: s for n, s in services.items() if _is_migration(s)}
    assert all(_one_shot(s) for s in migrations.values())

    # Follow the chain of depends_on from the migration that waits for none.
    (name,) = [n for n, s in migrations.items() if not migrations.keys() & _needs(s)]
    order = [name]
    while followers := [n for n, s in migrations.items() if order[-1] in _needs(s)]:
        (name,) = followers
        order.append(name)
    assert [migrations[n]["command"] for n in order] == migrate_commands()

    for process in procfile():
        waits_for = _needs_all(services, resource_name(process))
        assert migrations.keys() <= waits_for, process


def _is_migration(service: dict[str, Any]) -> bool:
    return str(service.get("command", [""])[-1]).endswith(".migrate")


def _needs(service: dict[str, Any]) -> set[str]:
    return set(service.get("depends_on", {}))


def _needs_all(services: dict[str, Any], name: str) -> set[str]:
    found: set[str] = set()
    pending = [name]
    while pending:
        for dependency in _needs(services[pending.pop()]) - found:
            found.add(dependency)
            pending.append(dependency)
    return found


def test_long_running_services_have_health_checks(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if _one_shot(service) or name in UNPROBED:
            continue
        assert service["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name


def test_start_order_waits_for_health_or_completion(
    services: dict[str, Any],
) -> None:
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            target = services[dependency]
            if _one_shot(target):
                wanted = "service_completed_successfully"
            elif dependency in UNPROBED:
                wanted = "service_started"
            else:
                wanted = "service_healthy"
            assert rule["condition"] == wanted, f"{name} -> {dependency}"


def test_processes_are_probed_as_the_platform_probes_them(
    services: dict[str, Any],
) -> None:
    for process in procfile():
        test = " ".join(services[resource_name(process)]["healthcheck"]["test"])
        marker = "/healthz" if process == "gateway" else "grpc_health.v1"
        assert marker in test, process


def test_no_credential_is_written_into_the_compose_file(
    services: dict[str, Any],
) -> None:
    for name, service in services.items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: use a mapping"
        for variable, value in environment.items():
            text = str(value)
            if SECRET_NAME.search(variable) and "://" not in text:
                assert REQUIRED_VARIABLE.fullmatch(text), f"{name} {variable}"
            for password in URL_PASSWORD.findall(text):
                assert REQUIRED_VARIABLE.fullmatch(password), f"{name} {variable}"


def test_env_example_holds_placeholders_only() -> None:
    example = ROOT / "deploy" / "compose.env.example"
    for line in example.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        variable, value = line.split("=", 1)
        if SECRET_NAME.search(variable):
            assert value == "change-me", variable
