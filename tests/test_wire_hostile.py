"""What a stranger sends costs at most its own size: the review's 311-byte message that
expanded to gigabytes (CBOR shared references) and its relatives are rejected with a
reason, within a bounded memory, by the library, `verify` and `consume`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.consumer import Consumer
from agent.cose import Signer
from agent.keys import TrustStore
from agent.wire import BatchInfo, SensorIdentity, encode_flow_batch, topic_for
from agent.wire.samples import synthetic_flows
from tests.support.agent_setup import agent_command, signer_and_trust

IDENTITY = SensorIdentity("wing4b-01", "st-mary", "4b", os.urandom(16))
TOPIC = topic_for("iomt", "st-mary", "4b", "wing4b-01", "flows")
MEMORY_LIMIT_KB = 100 * 1024


def review_bomb() -> bytes:
    """`[28([0]*10), 28([29(0)]*10), ..., 28([29(8)]*10)]`: each level refers to the
    previous one ten times, so a decoder that expands shared references builds 10^10
    items. Written byte by byte, as the review sent it."""
    out = bytearray([0x8A])  # array of 10
    out += bytes([0xD8, 28, 0x8A]) + bytes(10)  # 28([0, 0, ... 0])
    for level in range(9):
        out += bytes([0xD8, 28, 0x8A]) + bytes([0xD8, 29, level]) * 10
    return bytes(out)


def string_reference_bomb() -> bytes:
    """256([ "xxxx...", 25(0), 25(0), ... ]): string references (tags 256/25)."""
    body = [cbor2.CBORTag(25, 0)] * 200
    return cbor2.dumps(cbor2.CBORTag(256, ["x" * 64, *body]))


def signed_raw(signer: Signer, payload: bytes, unprotected: bytes = b"\xa0") -> bytes:
    """A COSE_Sign1 around any payload bytes, correctly signed (so only the payload's
    own content can make it fail)."""
    from agent.cose import _sig_structure  # the exact bytes the signature covers

    signed = signer._key.sign(_sig_structure(signer._protected, TOPIC, payload))
    protected = cbor2.dumps(signer._protected)
    return b"\xd2\x84" + protected + unprotected + cbor2.dumps(payload) + cbor2.dumps(signed)


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


@pytest.fixture()
def consumer(signer: Signer) -> Consumer:
    return Consumer(TrustStore({signer.kid: signer.public_key()}), max_message_bytes=1 << 20)


def only_rejection(records: list[dict]) -> dict:
    assert len(records) == 1 and records[0]["type"] == "rejected", records
    return records[0]


def test_the_review_message_is_311_bytes() -> None:
    assert len(review_bomb()) == 311


def test_shared_references_are_refused_unsigned_in_a_moment(consumer: Consumer) -> None:
    started = time.monotonic()
    rejection = only_rejection(consumer.handle(review_bomb(), TOPIC))
    assert rejection["reason"] == "unsupported_tag"
    assert "tag 28" in rejection["detail"]
    assert time.monotonic() - started < 0.5


def test_shared_references_inside_a_signed_payload_are_refused(
    consumer: Consumer, signer: Signer
) -> None:
    rejection = only_rejection(consumer.handle(signed_raw(signer, review_bomb()), TOPIC))
    assert rejection["reason"] == "unsupported_tag"


def test_shared_references_in_the_unprotected_header_are_refused(
    consumer: Consumer, signer: Signer
) -> None:
    payload = encode_flow_batch(synthetic_flows(2), IDENTITY, BatchInfo(0, 0, 1))
    header = b"\xa1\x01" + review_bomb()  # {1: the bomb}
    rejection = only_rejection(consumer.handle(signed_raw(signer, payload, header), TOPIC))
    assert rejection["reason"] == "unsupported_tag"


def test_string_references_are_refused(consumer: Consumer, signer: Signer) -> None:
    assert only_rejection(consumer.handle(string_reference_bomb(), TOPIC))["reason"] == (
        "unsupported_tag"
    )
    signed = signed_raw(signer, string_reference_bomb())
    assert only_rejection(consumer.handle(signed, TOPIC))["reason"] == "unsupported_tag"


@pytest.mark.parametrize("tag", [0, 1, 2, 24, 25, 28, 29, 55799, 256, 258])
def test_no_tag_is_allowed_inside_a_payload(consumer: Consumer, signer: Signer, tag: int) -> None:
    payload = cbor2.dumps({0: cbor2.CBORTag(tag, 1)})
    assert only_rejection(consumer.handle(signed_raw(signer, payload), TOPIC))["reason"] == (
        "unsupported_tag"
    )


def test_deep_nesting_is_too_complex_not_a_crash(consumer: Consumer, signer: Signer) -> None:
    deep = b"\x81" * 100_000 + b"\x00"
    assert only_rejection(consumer.handle(deep, TOPIC))["reason"] == "too_complex"
    assert only_rejection(consumer.handle(signed_raw(signer, deep), TOPIC))["reason"] == (
        "too_complex"
    )


def test_a_payload_that_would_expand_in_memory_is_too_complex(
    consumer: Consumer, signer: Signer
) -> None:
    # 1 MiB of empty arrays: ~64 bytes of Python objects per input byte.
    count = (1 << 20) - 1024
    payload = b"\x9a" + count.to_bytes(4, "big") + b"\x80" * count
    assert only_rejection(consumer.handle(signed_raw(signer, payload), TOPIC))["reason"] == (
        "too_complex"
    )


def test_a_bad_message_does_not_stop_the_next_one(consumer: Consumer, signer: Signer) -> None:
    good = signer.sign(encode_flow_batch(synthetic_flows(3), IDENTITY, BatchInfo(0, 0, 1)), TOPIC)
    only_rejection(consumer.handle(review_bomb(), TOPIC))
    assert [r["type"] for r in consumer.handle(good, TOPIC)].count("flow") == 3


# Runs the command and reports its peak RSS. A child forked from pytest itself would be
# charged pytest's own ~70 MB (Linux keeps the high-water mark across fork + exec), so a
# small interpreter forks it instead: its ~10 MB is the most the figure overstates.
_MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stderr=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code, file=sys.stderr)
"""


def _run_measured(command: list[str], timeout_s: float = 60) -> tuple[int, int, str]:
    """(exit code, peak RSS in KiB as the kernel counted it, stdout) of one command."""
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    peak_kb, code = (int(x) for x in result.stderr.split())
    return code, peak_kb, result.stdout


@pytest.mark.parametrize(
    "name", ["review_bomb", "string_reference_bomb", "deep", "expanding_signed"]
)
def test_verify_stays_under_100_mb_for_hostile_files(tmp_path: Path, name: str) -> None:
    signer, trust = signer_and_trust(tmp_path)
    count = (1 << 20) - 1024
    data = {
        "review_bomb": review_bomb,
        "string_reference_bomb": string_reference_bomb,
        "deep": lambda: b"\x81" * 500_000 + b"\x00",
        "expanding_signed": lambda: signed_raw(
            signer, b"\x9a" + count.to_bytes(4, "big") + b"\x80" * count
        ),
    }[name]()
    path = tmp_path / "hostile.cbor"
    path.write_bytes(data)
    code, peak_kb, stdout = _run_measured(
        agent_command(
            "verify",
            "--trust",
            str(trust),
            "--topic",
            TOPIC,
            "--max-message-bytes",
            str(1 << 20),
            str(path),
        )
    )
    records = [json.loads(line) for line in stdout.splitlines()]
    assert code == 1
    assert [r["type"] for r in records] == ["rejected"]
    assert peak_kb < MEMORY_LIMIT_KB, f"verify peaked at {peak_kb / 1024:.0f} MB on {name}"


def test_the_review_message_costs_verify_little_memory(tmp_path: Path) -> None:
    """The figure the review measured (272 MB, 28 s for a 245-byte version): now one
    ordinary process's worth."""
    _signer, trust = signer_and_trust(tmp_path)
    path = tmp_path / "bomb.cbor"
    path.write_bytes(review_bomb())
    started = time.monotonic()
    code, peak_kb, stdout = _run_measured(
        agent_command("verify", "--trust", str(trust), "--topic", TOPIC, str(path))
    )
    assert code == 1 and json.loads(stdout)["reason"] == "unsupported_tag"
    assert peak_kb < MEMORY_LIMIT_KB
    assert time.monotonic() - started < 20
    print(f"verify on the 311-byte message: peak RSS {peak_kb / 1024:.1f} MB")
