"""Ed25519 signing keys: make a pair, load the sensor's private key, load a trust dir.

Files:
- `sensor.key`: the private key, PKCS#8 PEM, unencrypted, mode 0600. Loading refuses
  a key file that group or others can read (the fix is in the error).
- `sensor.pub` and `<kid>.pub`: the public key, SubjectPublicKeyInfo PEM (the same
  bytes twice: `<kid>.pub` is the name to drop into a consumer's trust directory,
  where several sensors' keys live side by side).

The key id (kid) is the first 8 bytes of SHA-256 over the raw 32-byte public key,
written as 16 hex digits. A consumer computes it from the key file's content, so a
renamed file cannot claim another kid.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.errors import UsageError

KID_BYTES = 8
PRIVATE_KEY_NAME = "sensor.key"
PUBLIC_KEY_NAME = "sensor.pub"


def kid_for(public_key: Ed25519PublicKey) -> bytes:
    """The key id of a public key: SHA-256 of its raw bytes, first KID_BYTES bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:KID_BYTES]


@dataclass(frozen=True)
class GeneratedKey:
    """What `generate_key_pair` wrote."""

    kid: bytes
    private_path: Path
    public_path: Path
    trust_path: Path


def generate_key_pair(out_dir: Path) -> GeneratedKey:
    """Write a new pair into `out_dir` (created if missing, mode 0700 when new).

    Raises UsageError when any of the files exists (never overwrites) or the directory
    cannot be written.
    """
    key = Ed25519PrivateKey.generate()
    kid = kid_for(key.public_key())
    private_path = out_dir / PRIVATE_KEY_NAME
    public_path = out_dir / PUBLIC_KEY_NAME
    trust_path = out_dir / f"{kid.hex()}.pub"
    for path in (private_path, public_path, trust_path):
        if path.exists():
            raise UsageError(
                f"{path} already exists; refusing to overwrite a key "
                "(choose another --out directory, or move the old key away first)"
            )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_new(private_path, private_pem, 0o600)
        _write_new(public_path, public_pem, 0o644)
        _write_new(trust_path, public_pem, 0o644)
    except OSError as exc:
        raise UsageError(f"cannot write keys into {out_dir}: {exc.strerror or exc}") from None
    return GeneratedKey(kid, private_path, public_path, trust_path)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL: a file appearing between the check and the write is still never replaced;
    # the mode is set at creation, so the private key is never readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)  # the umask may have removed bits we asked for; never added


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The sensor's private key from a PKCS#8 PEM file.

    Raises UsageError when the file is missing, readable by group or others (naming the
    `chmod 600` fix), or not an unencrypted Ed25519 key.
    """
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read signing key {path}: {exc.strerror or exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsageError(
            f"signing key {path} is accessible by group or others (mode "
            f"{stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise UsageError(
            f"{path} is not an unencrypted PEM private key (make one with iomt-agent keygen)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file. Raises UsageError naming the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read public key {path}: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise UsageError(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


class TrustStore:
    """The public keys a consumer accepts, by kid, and the sensors each may sign for.

    In a trust directory, a key file in a directory named after a sensor id
    (`DIR/<sensor id>/<kid>.pub`) signs for that sensor only, so a key taken from one box
    cannot speak for the others; a key in several such directories signs for each of
    them. A key file at the top (`DIR/<kid>.pub`) signs for no sensor with `bound_only`
    (the default of `from_dir`), for every sensor without it (a single-sensor setup).

    Loaded from a directory, it re-reads the directory (at most every
    RESCAN_INTERVAL_S) when asked for a kid it does not know, so a key dropped in
    during a rotation is picked up without restarting the consumer.
    """

    RESCAN_INTERVAL_S = 5.0

    def __init__(
        self,
        keys: dict[bytes, Ed25519PublicKey],
        directory: Path | None = None,
        sensors: dict[bytes, frozenset[str]] | None = None,
        unbound: frozenset[bytes] | None = None,
        bound_only: bool = False,
    ) -> None:
        """`sensors`: the sensor ids each kid is bound to; `unbound`: the kids trusted for
        every sensor (None: all of `keys`, as for keys given without a directory)."""
        self._keys = dict(keys)
        self._sensors = dict(sensors or {})
        self._unbound = frozenset(keys) if unbound is None else unbound
        self._bound_only = bound_only
        self._directory = directory
        self._scanned_at = time.monotonic()

    def get(self, kid: bytes) -> Ed25519PublicKey | None:
        """The key with this kid, or None."""
        key = self._keys.get(kid)
        if key is None and self._directory is not None:
            now = time.monotonic()
            if now - self._scanned_at >= self.RESCAN_INTERVAL_S:
                self._scanned_at = now
                # A half-copied file must not cost the keys we have: skip bad files.
                with contextlib.suppress(UsageError):
                    self._keys, self._sensors, self._unbound = _read_trust_dir(
                        self._directory, skip_bad_files=True
                    )
                key = self._keys.get(kid)
        return key

    def may_sign_for(self, kid: bytes, sensor_id: str) -> bool:
        """Whether the trusted key `kid` may sign for the sensor `sensor_id`."""
        if sensor_id in self._sensors.get(kid, ()):
            return True
        return kid in self._unbound and not self._bound_only

    def kids(self) -> list[bytes]:
        """The key ids trusted so far, sorted."""
        return sorted(self._keys)

    @classmethod
    def from_dir(cls, directory: Path, bound_only: bool = True) -> TrustStore:
        """Every `*.pub` file in `directory` and in its sensor directories (the same key
        under two names is fine). By default (`bound_only`) a key at the top signs for no
        sensor: a key must sit in the directory of each sensor it speaks for.

        Raises UsageError when the directory is missing, holds no `*.pub`, or a file is
        not an Ed25519 public key.
        """
        keys, sensors, unbound = _read_trust_dir(directory)
        return cls(keys, directory, sensors, unbound, bound_only)


def _read_trust_dir(
    directory: Path, skip_bad_files: bool = False
) -> tuple[dict[bytes, Ed25519PublicKey], dict[bytes, frozenset[str]], frozenset[bytes]]:
    """(every key by kid, the sensor ids each kid is bound to, the kids at the top)."""
    if not directory.is_dir():
        raise UsageError(f"trust directory {directory} does not exist or is not a directory")
    keys: dict[bytes, Ed25519PublicKey] = {}
    unbound: set[bytes] = set()
    bound: dict[bytes, set[str]] = {}
    for path in sorted([*directory.glob("*.pub"), *directory.glob("*/*.pub")]):
        try:
            key = load_public_key(path)
        except UsageError:
            if skip_bad_files:
                continue
            raise
        kid = kid_for(key)
        keys[kid] = key
        if path.parent == directory:
            unbound.add(kid)
        else:
            bound.setdefault(kid, set()).add(path.parent.name)
    if not keys:
        raise UsageError(
            f"trust directory {directory} holds no *.pub key files "
            "(copy each sensor's <kid>.pub from iomt-agent keygen into DIR/<sensor id>/)"
        )
    return keys, {kid: frozenset(ids) for kid, ids in bound.items()}, frozenset(unbound)
