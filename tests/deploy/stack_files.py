"""Read what the deployment files must agree with: Procfile and scripts/stack.sh."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
K8S_DIR = ROOT / "deploy" / "k8s"

# `make run` starts the Procfile's commands from the project's venv; an image
# has its venv on PATH instead.
_VENV_PREFIX = ".venv/bin/"
_MIGRATE = re.compile(r'"\$VENV/bin/(python)" -m (services\.\w+\.migrate)\b')
# Names that hold a credential, in any spelling of an environment variable.
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|SECRET|SIGNING_KEY$|DATABASE_URL", re.I)


def procfile() -> dict[str, list[str]]:
    """Return each Procfile process with its command as an argument list."""
    processes: dict[str, list[str]] = {}
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, command = line.split(":", 1)
        argv = command.split()
        argv[0] = argv[0].removeprefix(_VENV_PREFIX)
        processes[name.strip()] = argv
    return processes


def migrate_commands() -> list[list[str]]:
    """Return the migrate commands of scripts/stack.sh, in the order it runs them."""
    script = (ROOT / "scripts" / "stack.sh").read_text(encoding="utf-8")
    return [[python, "-m", module] for python, module in _MIGRATE.findall(script)]


def resource_name(process: str) -> str:
    """Return the compose or Kubernetes name of a Procfile process."""
    return process.replace("_", "-")


def load_compose() -> dict[str, Any]:
    """Return docker-compose.yml with its anchors and merge keys resolved."""
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return document
