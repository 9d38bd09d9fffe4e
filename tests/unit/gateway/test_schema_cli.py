"""`scimctl schema`: the admin API requests its commands make."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from gateway.schema_cli import (
    SchemaFileError,
    add_schema_commands,
    describe,
    schema_call,
)

URN = "urn:acme:scim:schemas:extension:hr:2.0:User"


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_schema_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_schema_add_posts_the_file_to_the_orgs_schemas(tmp_path: Path) -> None:
    document = {"id": URN, "attributes": [{"name": "costCenter", "type": "string"}]}
    path = tmp_path / "hr.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    call = schema_call(
        _parse("schema", "add", str(path), "--org", "acme", "--required")
    )

    assert (call.method, call.path) == (
        "POST",
        "/admin/orgs/acme/schemas?required=true",
    )
    assert call.body == document
    assert call.expect == (200, 201)


def test_schema_add_refuses_a_file_that_is_not_one_object(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(SchemaFileError):
        schema_call(_parse("schema", "add", str(path), "--org", "acme"))


def test_schema_list_prints_one_line_per_schema() -> None:
    args = _parse("schema", "list", "--org", "acme")
    assert schema_call(args).path == "/admin/orgs/acme/schemas"
    answer = {
        "schemas": [
            {"urn": URN, "version": 2, "required": True, "schema": {"attributes": [{}]}}
        ]
    }
    assert describe(args, answer) == f"{URN} version 2, required: 1 attributes"
