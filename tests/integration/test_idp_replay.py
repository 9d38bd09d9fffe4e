"""Replay the Okta, Entra ID and protocol cases in `idp_cases/` against the stack."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.replay import Case, load_cases, run_case
from tests.integration.stack import Stack

CASES_DIR = Path(__file__).parent / "idp_cases"


@pytest.mark.parametrize(
    "case", [pytest.param(case, id=case.id) for case in load_cases(CASES_DIR)]
)
def test_idp_case_gets_correct_answers(
    case: Case, stack: Stack, org_token: str
) -> None:
    with httpx.Client(base_url=stack.scim_url, timeout=30) as client:
        run_case(client, case, token=org_token)
