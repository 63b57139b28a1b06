"""The engine's C unit tests that need no Python: compiled with the build's compiler and run.

native/tests/test_siphash.c checks native/siphash.h (the keyed hash of the flow,
fragment and device tables) against the SipHash reference vectors;
native/tests/test_hash_flooding.c feeds the fragment memory the review's colliding set;
native/tests/test_capture_stop.c checks that capture_stop() never touches a source.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

NATIVE = Path(__file__).resolve().parent.parent / "native"
WARNINGS = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers"]


def compile_and_run(
    source: Path, binary: Path, others: tuple[Path, ...] = (), libs: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler on the PATH (build.sh installs gcc)")
    command = [compiler, *WARNINGS, "-D_GNU_SOURCE", "-O2", f"-I{NATIVE}", str(source)]
    subprocess.run(
        [*command, *map(str, others), *libs, "-o", str(binary)],
        check=True,
        capture_output=True,
        text=True,
    )
    return subprocess.run([str(binary)], capture_output=True, text=True, timeout=60)


def test_siphash_matches_the_reference_vectors(tmp_path: Path) -> None:
    run = compile_and_run(NATIVE / "tests" / "test_siphash.c", tmp_path / "test_siphash")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "250 passed, 0 failed"


def test_the_reviews_colliding_ipv6_first_fragments_spread_over_the_fragment_buckets(
    tmp_path: Path,
) -> None:
    # 4,096 first fragments that share one bucket under the old hash whatever its seed
    # (checked in the C file) land in >= 2,400 buckets under SipHash, chains <= 16.
    run = compile_and_run(
        NATIVE / "tests" / "test_hash_flooding.c", tmp_path / "test_hash_flooding"
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "20 passed, 0 failed"


def test_capture_stop_never_touches_a_source(tmp_path: Path) -> None:
    # A source's pcap_t is NULL while stop() runs (as mid-close): the old stop crashed.
    engine_sources = tuple(
        path
        for path in sorted(NATIVE.glob("*.c"))
        if not path.name.startswith("module") and path.name != "capture.c"
    )
    run = compile_and_run(
        NATIVE / "tests" / "test_capture_stop.c",
        tmp_path / "test_capture_stop",
        engine_sources,
        ("-lpcap",),
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "6 passed, 0 failed"
