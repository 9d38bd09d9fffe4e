"""The generated gRPC code in the repository matches what `make protos` makes now."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ("*_pb2.py", "*_pb2.pyi", "*_pb2_grpc.py", "*_pb2_grpc.pyi")


def _generated_files(base: Path) -> dict[str, bytes]:
    protos = base / "protos"
    return {
        str(path.relative_to(base)): path.read_bytes()
        for pattern in GENERATED
        for path in protos.rglob(pattern)
    }


def test_generated_code_matches_protos(tmp_path: Path) -> None:
    # The same script as `make protos`, writing into a folder of its own.
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "protos.sh"), str(tmp_path)],
        check=True,
        cwd=ROOT,
    )
    fresh = _generated_files(tmp_path)
    committed = _generated_files(ROOT)
    assert fresh, "protoc generated nothing"

    stale = sorted(
        name
        for name in fresh.keys() | committed.keys()
        if fresh.get(name) != committed.get(name)
    )
    assert not stale, (
        "generated gRPC code is out of date with protos/ in: "
        + ", ".join(stale)
        + ". Run `make protos` and commit the result."
    )
