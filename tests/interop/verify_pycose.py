"""A second independent check: pycose (the reference Python COSE library) verifies our
messages. Runs in its own venv (pycose 1.1.0 needs cbor2 < 6), never imports agent.

    python verify_pycose.py TRUST_DIR TOPIC FILE...

Prints one JSON line per file: {"file", "ok", "kid"} or {"file", "ok": false, "error"}.
"""

import hashlib
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from pycose.headers import KID, Algorithm
from pycose.keys import OKPKey
from pycose.keys.curves import Ed25519
from pycose.messages import Sign1Message


def trusted_keys(directory: Path) -> dict[bytes, bytes]:
    keys = {}
    for path in directory.glob("*.pub"):
        public = serialization.load_pem_public_key(path.read_bytes())
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        keys[hashlib.sha256(raw).digest()[:8]] = raw
    return keys


def check(keys: dict[bytes, bytes], topic: str, data: bytes) -> dict:
    message = Sign1Message.decode(data)
    if message.phdr.get(Algorithm).identifier != -8:
        raise ValueError("not EdDSA")
    kid = message.phdr[KID]
    message.key = OKPKey(crv=Ed25519, x=keys[kid])
    message.external_aad = topic.encode("utf-8")
    if not message.verify_signature():
        raise ValueError("bad signature")
    return {"ok": True, "kid": kid.hex(), "payload_bytes": len(message.payload)}


def main() -> None:
    trust, topic, *files = sys.argv[1:]
    keys = trusted_keys(Path(trust))
    for name in files:
        try:
            result = check(keys, topic, Path(name).read_bytes())
        except Exception as exc:  # report, don't stop: the test reads every line
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps({"file": name, **result}))


if __name__ == "__main__":
    main()
