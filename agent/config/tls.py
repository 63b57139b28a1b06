"""The broker TLS files hold what their keys say: certificates, a private key, and a key
that belongs to the client certificate. Checked before the first connection fails."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization

from agent.config.problems import Problems
from agent.config.values import Settings

if TYPE_CHECKING:
    from cryptography import x509


def _certificates(path: Path) -> list[x509.Certificate] | None:
    # Imported on use: cryptography's x509 module costs about 5 MB of resident memory,
    # which a configuration without TLS files need not pay.
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except (ValueError, OSError):
        return None


def check_tls_files(settings: Settings, problems: Problems) -> None:
    """Run after the files were found readable and private; `problems` gets one line each."""
    failed = {problem.key for problem in problems.errors}
    ca = settings.get(("mqtt", "ca_file"))
    cert = settings.get(("mqtt", "cert_file"))
    key = settings.get(("mqtt", "key_file"))
    if ca and ca.value and "mqtt.ca_file" not in failed and _certificates(ca.value) is None:
        problems.error(
            ca.path,
            "mqtt.ca_file",
            f"{ca.value} holds no PEM certificate; name the CA certificate file "
            "(-----BEGIN CERTIFICATE-----)",
        )
    client_cert = None
    if cert and cert.value and "mqtt.cert_file" not in failed:
        chain = _certificates(cert.value)
        if chain is None:
            problems.error(
                cert.path,
                "mqtt.cert_file",
                f"{cert.value} holds no PEM certificate; name the client certificate file",
            )
        else:
            client_cert = chain[0]
            _warn_about_validity(client_cert, cert.value, cert.path, problems)
    if not (key and key.value) or "mqtt.key_file" in failed:
        return
    try:
        private_key = serialization.load_pem_private_key(key.value.read_bytes(), password=None)
    except (ValueError, TypeError, OSError):
        problems.error(
            key.path,
            "mqtt.key_file",
            f"{key.value} is not an unencrypted PEM private key; name the client "
            "certificate's key file",
        )
        return
    if client_cert is not None and private_key.public_key() != client_cert.public_key():
        problems.error(
            key.path,
            "mqtt.key_file",
            f"{key.value} does not belong to the certificate in {cert.value if cert else ''}; "
            "name the key the certificate was issued for",
        )


def _warn_about_validity(
    cert: x509.Certificate, cert_path: Path, origin: Path, problems: Problems
) -> None:
    # A warning, not an error: a box without a real-time clock may simply not know the
    # date yet, and the broker, not this box, decides.
    now = datetime.datetime.now(datetime.UTC)
    if now > cert.not_valid_after_utc:
        problems.warning(
            origin,
            "mqtt.cert_file",
            f"{cert_path} expired on {cert.not_valid_after_utc:%Y-%m-%d} (if this box's "
            "clock is right); the broker will refuse it: install a renewed certificate",
        )
    elif now < cert.not_valid_before_utc:
        problems.warning(
            origin,
            "mqtt.cert_file",
            f"{cert_path} is valid only from {cert.not_valid_before_utc:%Y-%m-%d}: this "
            "box's clock or the certificate is wrong; check `timedatectl`",
        )
