"""Signing keys: made safely, never overwritten, refused when others can read them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agent.cose import Signer
from agent.errors import UsageError
from agent.keys import TrustStore, generate_key_pair, kid_for, load_private_key, load_public_key
from tests.support.agent_setup import run_agent


def test_keygen_writes_a_private_key_only_its_owner_can_read(tmp_path: Path) -> None:
    made = generate_key_pair(tmp_path / "keys")
    assert stat.S_IMODE(made.private_path.stat().st_mode) == 0o600
    assert made.trust_path.name == f"{made.kid.hex()}.pub"
    assert made.public_path.read_bytes() == made.trust_path.read_bytes()
    private = load_private_key(made.private_path)
    assert kid_for(private.public_key()) == made.kid == kid_for(load_public_key(made.trust_path))


def test_keygen_command_prints_the_kid_and_never_overwrites(tmp_path: Path) -> None:
    first = run_agent("keygen", "--out", str(tmp_path))
    assert first.returncode == 0, first.stderr
    kid = first.stdout.strip()
    assert len(kid) == 16 and (tmp_path / f"{kid}.pub").exists()
    before = (tmp_path / "sensor.key").read_bytes()
    again = run_agent("keygen", "--out", str(tmp_path))
    assert again.returncode == 2
    assert "already exists" in again.stderr and "Traceback" not in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert (tmp_path / "sensor.key").read_bytes() == before


def test_keygen_site_secret_makes_a_private_secret_the_config_accepts(tmp_path: Path) -> None:
    from agent.config.host import hash_secret_problem

    secret = tmp_path / "site.secret"
    made = run_agent("keygen", "--site-secret", str(secret))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert hash_secret_problem(secret) is None
    assert "every sensor of this site" in made.stderr
    before = secret.read_bytes()
    again = run_agent("keygen", "--site-secret", str(secret))
    assert again.returncode == 2 and "never overwritten" in again.stderr
    assert secret.read_bytes() == before
    assert run_agent("keygen").returncode == 2  # one of --out or --site-secret


def test_key_readable_by_group_is_refused_naming_file_and_fix(tmp_path: Path) -> None:
    made = generate_key_pair(tmp_path)
    os.chmod(made.private_path, 0o640)
    with pytest.raises(UsageError) as caught:
        Signer.from_file(made.private_path)
    message = str(caught.value)
    assert str(made.private_path) in message and f"chmod 600 {made.private_path}" in message
    os.chmod(made.private_path, 0o604)
    with pytest.raises(UsageError, match="chmod 600"):
        load_private_key(made.private_path)
    os.chmod(made.private_path, 0o400)  # read-only for the owner is fine
    assert Signer.from_file(made.private_path).kid == made.kid


def test_a_public_key_is_not_a_signing_key(tmp_path: Path) -> None:
    made = generate_key_pair(tmp_path)
    os.chmod(made.public_path, 0o600)
    with pytest.raises(UsageError, match="not an unencrypted PEM private key"):
        load_private_key(made.public_path)
    with pytest.raises(UsageError, match="cannot read"):
        load_private_key(tmp_path / "missing.key")


def test_trust_dir_holds_several_keys_selected_by_kid(tmp_path: Path) -> None:
    trust = tmp_path / "trust"
    trust.mkdir()
    kids = []
    for name in ("a", "b", "c"):
        made = generate_key_pair(tmp_path / name)
        (trust / made.trust_path.name).write_bytes(made.trust_path.read_bytes())
        kids.append(made.kid)
    # The same key under a second name is harmless; a renamed file keeps its real kid.
    (trust / "renamed.pub").write_bytes((trust / f"{kids[0].hex()}.pub").read_bytes())
    store = TrustStore.from_dir(trust)
    assert store.kids() == sorted(kids)
    assert store.get(b"\x00" * 8) is None


def test_bad_trust_dirs_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        TrustStore.from_dir(tmp_path / "nope")
    with pytest.raises(UsageError, match=r"no \*\.pub"):
        TrustStore.from_dir(tmp_path)
    (tmp_path / "junk.pub").write_text("not a key\n")
    with pytest.raises(UsageError, match=r"junk\.pub"):
        TrustStore.from_dir(tmp_path)


def test_key_dropped_into_trust_dir_is_picked_up_without_restart(tmp_path: Path) -> None:
    trust = tmp_path / "trust"
    trust.mkdir()
    old = generate_key_pair(tmp_path / "old")
    (trust / old.trust_path.name).write_bytes(old.trust_path.read_bytes())
    store = TrustStore.from_dir(trust)
    store.RESCAN_INTERVAL_S = 0.0  # no waiting in a test
    (trust / "half-copied.pub").write_text("-----BEGIN PUBLIC KEY-----\nMCow")
    new = generate_key_pair(tmp_path / "new")
    (trust / new.trust_path.name).write_bytes(new.trust_path.read_bytes())
    # The new key is found despite the bad file beside it, and the old one is kept.
    assert store.get(new.kid) is not None and store.get(old.kid) is not None
    assert store.get(b"\x01" * 8) is None
