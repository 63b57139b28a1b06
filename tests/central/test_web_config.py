"""The [web] keys in central.toml: checked with every other problem, file and key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config.problems import ConfigError
from central.config import load_config
from central.web.settings import web_settings


def write(tmp_path: Path, web: str) -> Path:
    (tmp_path / "trust").mkdir(exist_ok=True)
    config = tmp_path / "central.toml"
    config.write_text(f'[trust]\ndir = "{tmp_path / "trust"}"\n[web]\n{web}\n')
    return config


def test_web_keys_become_the_web_settings(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("x")
    (tmp_path / "key.pem").write_text("x")
    config = load_config(
        write(
            tmp_path,
            'listen = "0.0.0.0:8443"\ntls_cert = "cert.pem"\ntls_key = "key.pem"\n'
            'users_file = "users"\nproxy_user_header = "X-Remote-User"\n'
            'trusted_proxies = ["10.0.0.5"]\nsession_hours = 8',
        )
    )
    settings = web_settings(config)
    assert settings.host_port == ("0.0.0.0", 8443)
    assert settings.tls and settings.tls_cert == tmp_path / "cert.pem"
    assert settings.users_file == tmp_path / "users"
    assert settings.proxy_user_header == "X-Remote-User"
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.5/32"]
    assert settings.session_lifetime.total_seconds() == 8 * 3600


def test_web_defaults_serve_plain_http_on_localhost_without_a_proxy(tmp_path: Path) -> None:
    settings = web_settings(load_config(write(tmp_path, "")))
    assert settings.host_port == ("127.0.0.1", 8080)
    assert not settings.tls and settings.proxy_user_header == ""


def test_every_web_problem_is_reported_at_once_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("x")
    config = write(
        tmp_path,
        'tls_cert = "cert.pem"\nproxy_user_header = "X Remote User"\n'
        'trusted_proxies = ["10.0.0.300"]\nsession_hours = 0\nsesion_hours = 3',
    )
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    text = "\n".join(raised.value.errors)
    for key in (
        "web.tls_cert",
        "web.proxy_user_header",
        "web.trusted_proxies",
        "web.session_hours",
        "web.sesion_hours",
    ):
        assert f"{config}: {key}:" in text, (key, text)
    assert "tls_key together" in text and "did you mean web.session_hours" in text
