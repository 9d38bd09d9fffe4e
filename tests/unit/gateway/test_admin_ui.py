"""The admin web page of the error log, against a fake error tracker."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from error_tracker_fakes import (
    AdminListingAcme,
    FakeErrorTracker,
    IdentityKnowingAcme,
    serving,
    settings_with_tracker,
    unmapped_group_error,
)
from fastapi import FastAPI
from gateway_fakes import ADMIN_TOKEN, BASE, TOKEN, FakeIdentity, client_for
from identity_admin_fakes import FakeIdentityAdmin

from gateway.admin_ui_session import (
    COOKIE,
    COOKIE_SECONDS,
    LOGIN_COOKIE,
    CookieSeal,
    CsrfKey,
    CsrfRefused,
)
from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from services.common.settings import StackSettings

UI = f"{BASE}/admin/ui"


@pytest.fixture
async def fake_identity() -> AsyncIterator[FakeIdentity]:
    yield IdentityKnowingAcme()


@pytest.fixture
async def fake_identity_admin(
    fake_identity: FakeIdentity,
) -> AsyncIterator[FakeIdentityAdmin]:
    yield AdminListingAcme(identity=fake_identity)


@pytest.fixture
async def tracker() -> AsyncIterator[FakeErrorTracker]:
    yield FakeErrorTracker()


@pytest.fixture
async def settings(
    identity_addr: str, group_mapping_addr: str, tracker: FakeErrorTracker
) -> AsyncIterator[StackSettings]:
    base = StackSettings(
        environment="test",
        identity_addr=identity_addr,
        group_mapping_addr=group_mapping_addr,
        admin_token=ADMIN_TOKEN,
        public_base_url="",
        token_cache_seconds=0,
        rate_limit_per_second=0,
    )
    async with serving(tracker) as address:
        yield settings_with_tracker(base, address)


async def log_in(http: httpx.AsyncClient, credential: str) -> httpx.Response:
    """Open the login form, then send it with `credential`, as a browser does."""
    form = await http.get(f"{UI}/login")
    return await http.post(
        f"{UI}/login", data={"credential": credential, "csrf": csrf_of(form.text)}
    )


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that logged in with the admin credential, keeping its cookie."""
    async with client_for(app) as http:
        response = await log_in(http, ADMIN_TOKEN)
        assert response.status_code == 303
        yield http


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match is not None
    return match.group(1)


async def test_pages_send_a_browser_without_login_to_the_login_page(
    anonymous: httpx.AsyncClient,
) -> None:
    for path in ("/errors", "/errors/some-id", "/client-errors"):
        response = await anonymous.get(f"{UI}{path}")
        assert response.status_code == 303
        assert response.headers["location"] == "/admin/ui/login"


async def test_a_scim_token_does_not_log_in(anonymous: httpx.AsyncClient) -> None:
    response = await log_in(anonymous, TOKEN)

    assert response.status_code == 401
    assert "not a working admin credential" in response.text
    assert COOKIE not in anonymous.cookies
    assert (await anonymous.get(f"{UI}/errors")).status_code == 303


async def test_a_login_form_from_elsewhere_is_refused(
    anonymous: httpx.AsyncClient,
) -> None:
    # A page on another site can post the form, but the browser sends it
    # without our SameSite=Strict login cookie, so no token it holds matches.
    own_form = await anonymous.get(f"{UI}/login")
    anonymous.cookies.clear()
    forged = {"credential": ADMIN_TOKEN, "csrf": csrf_of(own_form.text)}

    for data in (forged, {"credential": ADMIN_TOKEN}):
        response = await anonymous.post(f"{UI}/login", data=data)

        assert response.status_code == 403
        assert "did not come from this page" in response.text
        set_cookies = response.headers.get_list("set-cookie")
        assert not [value for value in set_cookies if value.startswith(f"{COOKIE}=")]
    assert (await anonymous.get(f"{UI}/errors")).status_code == 303


async def test_a_huge_login_form_is_refused_before_it_is_read(
    anonymous: httpx.AsyncClient,
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1000):
            sent += 1
            yield b"credential=" + b"a" * 65536

    response = await anonymous.post(
        f"{UI}/login",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 413
    assert "set-cookie" not in response.headers
    # Refused at the first chunk over the limit, not after all 64 MiB.
    assert sent < 5


async def test_a_bearer_header_does_not_open_the_pages(
    anonymous: httpx.AsyncClient,
) -> None:
    response = await anonymous.get(
        f"{UI}/errors", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )

    assert response.status_code == 303


async def test_login_sets_a_strict_http_only_cookie_for_the_pages_only(
    anonymous: httpx.AsyncClient,
) -> None:
    response = await log_in(anonymous, ADMIN_TOKEN)

    assert response.status_code == 303
    assert response.headers["location"] == "/admin/ui/errors"
    cookie = next(
        value
        for value in response.headers.get_list("set-cookie")
        if value.startswith(f"{COOKIE}=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/admin/ui" in cookie
    assert "Secure" not in cookie


async def test_the_cookie_never_holds_the_credential_in_the_clear(
    anonymous: httpx.AsyncClient,
) -> None:
    await log_in(anonymous, ADMIN_TOKEN)

    held = anonymous.cookies[COOKIE]
    assert ADMIN_TOKEN not in held
    assert ADMIN_TOKEN.split("_")[-1][:16] not in held
    assert (await anonymous.get(f"{UI}/errors")).status_code == 200


async def test_an_altered_or_invented_cookie_sends_the_browser_to_log_in(
    browser: httpx.AsyncClient,
) -> None:
    held = browser.cookies[COOKIE]
    for value in (held[:-4] + "AAAA", ADMIN_TOKEN, CookieSeal().seal(ADMIN_TOKEN)):
        browser.cookies.clear()
        browser.cookies.set(COOKIE, value, path="/admin/ui")

        response = await browser.get(f"{UI}/errors")

        assert response.status_code == 303
        assert response.headers["location"] == "/admin/ui/login"
        assert f'{COOKIE}=""' in response.headers["set-cookie"]


def test_a_sealed_cookie_stops_working_after_a_working_day() -> None:
    seal = CookieSeal.of_deployment(ADMIN_TOKEN)
    sealed = seal.seal("credential-a")

    assert seal.open(sealed) == "credential-a"
    assert CookieSeal.of_deployment(ADMIN_TOKEN).open(sealed) == "credential-a"
    assert seal.open(sealed, max_age_seconds=COOKIE_SECONDS) == "credential-a"
    # Fernet checks the age against the issue time sealed inside.
    assert seal.open(sealed, max_age_seconds=-1) == ""
    assert CookieSeal.of_deployment("another deployment").open(sealed) == ""
    assert seal.open("x" * 5000) == ""


async def test_login_drops_the_login_form_cookie(anonymous: httpx.AsyncClient) -> None:
    await anonymous.get(f"{UI}/login")
    assert LOGIN_COOKIE in anonymous.cookies

    await log_in(anonymous, ADMIN_TOKEN)

    assert LOGIN_COOKIE not in anonymous.cookies


async def test_error_log_lists_errors_and_escapes_their_text(
    browser: httpx.AsyncClient, tracker: FakeErrorTracker
) -> None:
    record = tracker.add(unmapped_group_error(reason="<script>alert(1)</script>"))

    response = await browser.get(f"{UI}/errors", params={"kind": "unmapped_group"})

    assert response.status_code == 200
    assert f'data-error-id="{record.error_id}"' in response.text
    assert "<script>alert(1)" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "script-src" not in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


async def test_error_log_says_which_filter_is_wrong(
    browser: httpx.AsyncClient,
) -> None:
    response = await browser.get(f"{UI}/errors", params={"state": "sleeping"})

    assert response.status_code == 400
    assert "unknown state" in response.text


async def test_error_page_shows_a_retry_button_until_resolved(
    browser: httpx.AsyncClient, tracker: FakeErrorTracker
) -> None:
    record = tracker.add(unmapped_group_error())
    resolved = tracker.add(unmapped_group_error(state=pb.ERROR_STATE_RESOLVED))

    open_page = await browser.get(f"{UI}/errors/{record.error_id}")
    resolved_page = await browser.get(f"{UI}/errors/{resolved.error_id}")

    assert 'id="retry"' in open_page.text
    assert "GetUserRoles" in open_page.text
    assert 'id="retry"' not in resolved_page.text


async def test_retry_with_the_csrf_token_redirects_to_the_resolved_error(
    browser: httpx.AsyncClient, tracker: FakeErrorTracker
) -> None:
    record = tracker.add(unmapped_group_error())
    shown = await browser.get(f"{UI}/errors/{record.error_id}")

    response = await browser.post(
        f"{UI}/errors/{record.error_id}/retry", data={"csrf": csrf_of(shown.text)}
    )

    assert response.status_code == 303
    assert response.headers["location"].endswith("?retried=resolved")
    after = await browser.get(response.headers["location"])
    assert "the error is now resolved" in after.text
    assert tracker.requests["RetryErrors"].actor.endswith(" bootstrap")


async def test_retry_redirects_to_the_error_it_was_asked_for(
    browser: httpx.AsyncClient,
) -> None:
    shown = await browser.get(f"{UI}/errors")

    response = await browser.post(
        f"{UI}/errors/a%3Fretried=resolved%23x/retry",
        data={"csrf": csrf_of(shown.text)},
    )

    assert response.status_code == 303
    assert response.headers["location"] == (
        "/admin/ui/errors/a%3Fretried%3Dresolved%23x?retried=not_found"
    )


async def test_retry_while_the_tracker_is_away_shows_a_page_saying_so(
    browser: httpx.AsyncClient, tracker: FakeErrorTracker
) -> None:
    record = tracker.add(unmapped_group_error())
    shown = await browser.get(f"{UI}/errors/{record.error_id}")

    tracker.retry_status = grpc.StatusCode.UNAVAILABLE
    response = await browser.post(
        f"{UI}/errors/{record.error_id}/retry", data={"csrf": csrf_of(shown.text)}
    )

    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert "the error tracker is unavailable" in response.text


@pytest.mark.parametrize("token", ["", "0" * 64, "forged"])
async def test_retry_without_the_right_csrf_token_is_refused(
    browser: httpx.AsyncClient, tracker: FakeErrorTracker, token: str
) -> None:
    record = tracker.add(unmapped_group_error())

    response = await browser.post(
        f"{UI}/errors/{record.error_id}/retry", data={"csrf": token}
    )

    assert response.status_code == 403
    assert "RetryErrors" not in tracker.requests


async def test_logout_forgets_the_cookie(browser: httpx.AsyncClient) -> None:
    shown = await browser.get(f"{UI}/errors")

    response = await browser.post(f"{UI}/logout", data={"csrf": csrf_of(shown.text)})

    assert response.status_code == 303
    assert (await browser.get(f"{UI}/errors")).status_code == 303


async def test_client_error_page_lists_the_stream(
    browser: httpx.AsyncClient, tracker: FakeErrorTracker
) -> None:
    tracker.client_errors.append(
        pb.ClientError(
            org_id="x", status=409, scim_type="uniqueness", method="POST", path="/p"
        )
    )

    response = await browser.get(f"{UI}/client-errors", params={"status": "409"})

    assert response.status_code == 200
    assert "uniqueness" in response.text


def test_csrf_token_belongs_to_one_credential_and_one_key() -> None:
    key = CsrfKey(b"k" * 32)
    token = key.token_for("credential-a")

    key.check("credential-a", token)
    for credential, other_key in (("credential-b", key), ("credential-a", CsrfKey())):
        with pytest.raises(CsrfRefused):
            other_key.check(credential, token)


def test_replicas_of_one_deployment_accept_each_others_csrf_tokens() -> None:
    token = CsrfKey.of_deployment(ADMIN_TOKEN).token_for("credential-a")

    CsrfKey.of_deployment(ADMIN_TOKEN).check("credential-a", token)
    with pytest.raises(CsrfRefused):
        CsrfKey.of_deployment("another deployment").check("credential-a", token)


@pytest.mark.parametrize("status", ["²", "٤٠٩", "4090", "1e3"])
async def test_a_status_filter_that_is_no_ascii_code_is_a_400_page(
    browser: httpx.AsyncClient, status: str
) -> None:
    response = await browser.get(f"{UI}/client-errors", params={"status": status})

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "status must be a number such as 409" in response.text


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/errors", "org", "a" * 129),
        ("/errors", "since", "9" * 200),
        ("/errors", "page_token", "t" * 513),
        ("/client-errors", "scim_type", "x" * 129),
        ("/client-errors", "page_token", "t" * 513),
    ],
)
async def test_an_over_long_filter_is_a_400_page_not_api_json(
    browser: httpx.AsyncClient, path: str, name: str, value: str
) -> None:
    response = await browser.get(f"{UI}{path}", params={name: value})

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert '<form method="get"' in response.text


async def test_a_link_cannot_make_the_error_page_claim_an_outcome(
    browser: httpx.AsyncClient, tracker: FakeErrorTracker
) -> None:
    record = tracker.add(unmapped_group_error())
    claim = "resolved. Support says: paste your credential at evil.example"

    spoofed = await browser.get(
        f"{UI}/errors/{record.error_id}", params={"retried": claim}
    )
    genuine = await browser.get(
        f"{UI}/errors/{record.error_id}", params={"retried": "failed"}
    )

    assert spoofed.status_code == 200
    assert "evil.example" not in spoofed.text
    assert 'id="retried"' not in spoofed.text
    assert "Retried: the error is now failed." in genuine.text
