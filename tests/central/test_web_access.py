"""Access: sign-in, roles, sessions, CSRF, the proxy's header, the users file, HTTPS."""

from __future__ import annotations

import re
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from central.web.auth.users import UserStore, parse_users, remove_user, set_user
from tests.support.certs import make_pki
from tests.support.web_inventory import WebEnv, by_category, make_web_env, served


@pytest.fixture
def web(tmp_path: Path, sqlite_url: str, clock: Any) -> WebEnv:
    from central.db import open_database

    return make_web_env(tmp_path, open_database(sqlite_url), clock)


def sign_in(client: TestClient, name: str, password: str) -> httpx.Response:
    form = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    return client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": csrf.group(1), "next": "/"},
        follow_redirects=False,
    )


def page_csrf(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found is not None, path
    return found.group(1)


def test_pages_send_the_anonymous_to_the_login_form(web: WebEnv) -> None:
    client = TestClient(web.app)
    for path in ("/", "/devices/x", "/overview", "/sensors", "/audit"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")


def test_wrong_password_signs_nobody_in_and_is_audited(web: WebEnv) -> None:
    client = TestClient(web.app)
    response = sign_in(client, "alice", "not-her-password")
    assert response.status_code == 303 and "error=1" in response.headers["location"]
    assert "iomt_session" not in client.cookies
    assert client.get("/", follow_redirects=False).status_code == 303
    audit = web.app.state.backend.audit_entries()
    assert (audit[0]["actor"], audit[0]["action"]) == ("alice", "login.failed")


def test_login_without_the_forms_csrf_token_is_refused(web: WebEnv) -> None:
    client = TestClient(web.app)
    client.get("/login")
    response = client.post(
        "/login", data={"username": "alice", "password": "alice-editor-pw"}, follow_redirects=False
    )
    assert response.status_code == 403


def test_session_cookie_is_httponly_and_samesite(web: WebEnv) -> None:
    client = TestClient(web.app)
    response = sign_in(client, *web.editor)
    assert response.status_code == 303
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith("iomt_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain HTTP here; the HTTPS test checks Secure
    assert client.get("/").status_code == 200


def test_viewer_reads_but_cannot_write_a_label(web: WebEnv) -> None:
    client = TestClient(web.app)
    sign_in(client, *web.viewer)
    pump = by_category("infusion_pump")[0]
    page = client.get(f"/devices/{pump.id}")
    assert page.status_code == 200 and "Alaris" in page.text
    assert 'id="label-form"' not in page.text  # no form offered to a viewer
    csrf = page_csrf(client, "/")
    form = client.post(
        f"/devices/{pump.id}/label",
        data={"csrf_token": csrf, "category": "server", "note": "x"},
        follow_redirects=False,
    )
    assert form.status_code == 403
    api = client.put(
        f"/api/devices/{pump.id}/label", json={"category": "server"}, headers={"X-CSRF-Token": csrf}
    )
    assert api.status_code == 403
    after = client.get(f"/api/devices/{pump.id}").json()
    assert after["category"] == "infusion_pump"


def test_editor_sets_a_label_from_the_page_and_the_audit_log_shows_it(web: WebEnv) -> None:
    client = TestClient(web.app)
    sign_in(client, *web.editor)
    unknown = by_category("unknown")[0]
    csrf = page_csrf(client, f"/devices/{unknown.id}")
    response = client.post(
        f"/devices/{unknown.id}/label",
        data={
            "csrf_token": csrf,
            "category": "ip_camera",
            "vendor": "Axis",
            "model": "",
            "note": "checked on the ward",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    device = client.get(f"/api/devices/{unknown.id}").json()
    assert (device["category"], device["labelled_by"]) == ("ip_camera", "alice")
    audit_page = client.get("/audit").text
    assert (
        "label.set" in audit_page and "alice" in audit_page and "checked on the ward" in audit_page
    )


def test_editor_form_post_without_csrf_token_is_refused(web: WebEnv) -> None:
    client = TestClient(web.app)
    sign_in(client, *web.editor)
    unknown = by_category("unknown")[0]
    response = client.post(
        f"/devices/{unknown.id}/label",
        data={"category": "ip_camera", "note": "x"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert client.get(f"/api/devices/{unknown.id}").json()["category"] == "unknown"


def test_editor_session_writes_through_the_api_only_with_its_csrf_header(web: WebEnv) -> None:
    client = TestClient(web.app)
    sign_in(client, *web.editor)
    unknown = by_category("unknown")[0]
    refused = client.put(f"/api/devices/{unknown.id}/label", json={"category": "server"})
    assert refused.status_code == 403
    csrf = page_csrf(client, "/")
    accepted = client.put(
        f"/api/devices/{unknown.id}/label",
        json={"category": "server"},
        headers={"X-CSRF-Token": csrf},
    )
    assert accepted.status_code == 200 and accepted.json()["category"] == "server"


def test_a_removed_user_loses_an_open_session(web: WebEnv) -> None:
    client = TestClient(web.app)
    sign_in(client, *web.viewer)
    assert client.get("/", follow_redirects=False).status_code == 200
    assert remove_user(web.users_file, "bob")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_sessions_expire_on_the_central_clock(web: WebEnv, clock: Any) -> None:
    client = TestClient(web.app)
    sign_in(client, *web.viewer)
    clock.advance(hours=13)  # the default lifetime is 12 hours
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_forged_session_cookie_is_ignored(web: WebEnv) -> None:
    client = TestClient(web.app)
    sign_in(client, *web.viewer)
    payload, mac = client.cookies["iomt_session"].rsplit(".", 1)
    client.cookies.set(
        "iomt_session", payload + "." + mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB")
    )
    assert client.get("/", follow_redirects=False).status_code == 303


def test_proxy_header_is_ignored_when_not_configured_or_from_an_untrusted_address(
    tmp_path: Path, sqlite_url: str, clock: Any
) -> None:
    from central.db import open_database

    engine = open_database(sqlite_url)
    plain = make_web_env(tmp_path / "a", engine, clock)
    header = {"X-Remote-User": "alice"}
    assert TestClient(plain.app).get("/api/devices", headers=header).status_code == 401
    # Configured, but the proxy must be 10.0.0.5: the test client is not.
    guarded = make_web_env(
        tmp_path / "b",
        engine,
        clock,
        seed=False,
        proxy_user_header="X-Remote-User",
        trusted_proxies=(__import__("ipaddress").ip_network("10.0.0.5/32"),),
    )
    assert TestClient(guarded.app).get("/api/devices", headers=header).status_code == 401


def test_proxy_header_from_a_trusted_address_signs_the_user_in_with_their_role(
    tmp_path: Path, sqlite_url: str, clock: Any
) -> None:
    from central.db import open_database

    web = make_web_env(
        tmp_path, open_database(sqlite_url), clock, proxy_user_header="X-Remote-User"
    )  # default trust: 127.0.0.1, ::1
    with served(web.app) as base:
        as_carol = httpx.get(f"{base}/api/devices", headers={"X-Remote-User": "carol"})
        assert as_carol.status_code == 200  # unlisted: a viewer
        page = httpx.get(f"{base}/", headers={"X-Remote-User": "carol"})
        assert 'id="who">carol<' in page.text and ">viewer<" in page.text
        unknown = by_category("unknown")[0]
        viewer_write = httpx.put(
            f"{base}/api/devices/{unknown.id}/label",
            json={"category": "server"},
            headers={"X-Remote-User": "carol"},
        )
        assert viewer_write.status_code == 403
        editor_page = httpx.get(f"{base}/", headers={"X-Remote-User": "alice"})
        assert ">editor<" in editor_page.text


def test_https_serves_with_the_configured_certificate_and_secure_cookies(
    tmp_path: Path, sqlite_url: str, clock: Any
) -> None:
    from central.db import open_database

    pki = make_pki(tmp_path / "pki")
    web = make_web_env(
        tmp_path, open_database(sqlite_url), clock, tls_cert=pki.server_cert, tls_key=pki.server_key
    )
    with served(web.app) as base:
        assert base.startswith("https://")
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        with httpx.Client(verify=context, base_url=base) as client:
            login = client.get("/login")
            assert login.status_code == 200
            assert login.headers["strict-transport-security"].startswith("max-age=")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
            assert csrf is not None
            signed = client.post(
                "/login",
                data={"username": "bob", "password": "bob-viewer-pw", "csrf_token": csrf.group(1)},
            )
            assert signed.status_code == 303
            cookie = next(
                h for h in signed.headers.get_list("set-cookie") if h.startswith("iomt_session=")
            )
            assert "Secure" in cookie
            assert client.get("/api/devices").status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/login")  # not trusted without the test CA
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(base.replace("https://", "http://") + "/login")


def test_users_file_rejects_a_bad_role_naming_the_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"users:2: role must be viewer or editor"):
        parse_users("# header\nmallory:admin:-\n", tmp_path / "users")


def test_user_add_command_writes_a_hashed_password_that_signs_in(tmp_path: Path) -> None:
    users = tmp_path / "users"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "central.web.usercli",
            "add",
            "dana",
            "--role",
            "editor",
            "--users-file",
            str(users),
            "--password-stdin",
        ],
        input="dana-long-password\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    text = users.read_text()
    assert "dana:editor:scrypt$" in text and "dana-long-password" not in text
    assert users.stat().st_mode & 0o777 == 0o600
    store = UserStore(users)
    assert store.authenticate("dana", "dana-long-password") is not None
    assert store.authenticate("dana", "wrong") is None
    set_user(users, "dana", "viewer", None)  # demoted, proxy-only
    assert store.get("dana").role == "viewer"  # type: ignore[union-attr]
    assert store.authenticate("dana", "dana-long-password") is None


def test_user_command_on_a_bad_or_unwritable_users_file_is_one_error_line(tmp_path: Path) -> None:
    bad = tmp_path / "users"
    bad.write_text("not a users line\n")
    directory = tmp_path / "a-directory"
    directory.mkdir()
    for argv, exit_code, reason in (
        (["list", "--users-file", str(bad)], 2, f"{bad}:1: expected name:role:hash"),
        (["remove", "bob", "--users-file", str(directory)], 1, f"{directory}: Is a directory"),
        (["add", "bob", "--no-password", "--users-file", str(bad / "users")], 1,
         f"{bad / 'users'}: "),
    ):  # fmt: skip
        result = subprocess.run(
            [sys.executable, "-m", "central.web.usercli", *argv],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == exit_code, result.stderr
        assert result.stderr.count("\n") == 1 and reason in result.stderr, result.stderr


def test_signing_out_ends_the_session_even_for_a_copy_of_its_cookie(web: WebEnv) -> None:
    client = TestClient(web.app)
    sign_in(client, *web.editor)
    stolen = client.cookies["iomt_session"]
    csrf = page_csrf(client, "/")
    assert (
        client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    )
    copy = TestClient(web.app)
    copy.cookies.set("iomt_session", stolen)
    assert copy.get("/", follow_redirects=False).status_code == 303
    assert copy.get("/api/devices").status_code == 401


def test_inventory_page_pages_its_rows(web: WebEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    import central.web.pages

    monkeypatch.setattr(central.web.pages, "PAGE_ROWS", 4)  # 9 devices: pages of 4, 4, 1
    client = TestClient(web.app)
    sign_in(client, *web.viewer)
    shown = []
    for page in (1, 2, 3):
        text = client.get(f"/?sort=name&page={page}").text
        rows = re.findall(r'<tr data-device="([^"]+)"', text)
        assert len(rows) == (4 if page < 3 else 1)
        assert f"page {page} of 3" in text
        assert ('id="next-page"' in text) == (page < 3)
        shown += rows
    assert len(set(shown)) == 9
