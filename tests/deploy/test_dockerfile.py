"""The Dockerfile: hash-checked dependencies, no root, no baked-in secret."""

from __future__ import annotations

import re

from tests.deploy.stack_files import ROOT, SECRET_NAME

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
INSTRUCTIONS = [
    line.strip()
    for line in DOCKERFILE.replace("\\\n", " ").splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]


def test_images_start_from_python_311_slim() -> None:
    bases = [line.split()[1] for line in INSTRUCTIONS if line.startswith("FROM ")]
    assert bases and all(base == "python:3.11-slim" for base in bases)


def test_dependencies_install_from_the_lock_with_hashes() -> None:
    installs = [line for line in INSTRUCTIONS if "pip install" in line]
    assert any(
        "--require-hashes" in line and "requirements.lock" in line for line in installs
    )
    # The project itself may not pull anything the lock does not pin.
    assert all("--no-deps" in line for line in installs)


def test_final_stage_runs_as_a_numeric_non_root_user() -> None:
    users = [line.split()[1] for line in INSTRUCTIONS if line.startswith("USER ")]
    assert users, "no USER"
    uid = users[-1].split(":", 1)[0]
    assert uid.isdigit() and int(uid) != 0


def test_no_secret_has_a_default_in_the_image() -> None:
    for line in INSTRUCTIONS:
        if line.startswith(("ENV ", "ARG ")):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", line)
            assert not [n for n in names if SECRET_NAME.search(n)], line


def test_build_context_leaves_local_state_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert {".git", ".venv", ".data", ".cache", "tests"} <= set(ignored)
