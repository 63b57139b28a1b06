#!/usr/bin/env bash
# The C engine under AddressSanitizer + UBSan, and a short fuzz run.
#
#   tools/sanitize.sh PYTHON        (./build.sh test calls it with .venv/bin/python)
#
# 1. native/tests/test_parse.c, built with ASan+UBSan (and again with MSan), run;
#    native/tests/test_siphash.c (the keyed hash against the reference vectors), test_digests.c
#    (SHA-1 and BLAKE2b known answers),
#    test_hash_flooding.c (the review's colliding fragments) and test_capture_stop.c too.
# 2. The extension built with ASan+UBSan into build/sanitized/ (same sources and
#    warnings as setup.py), and the C-facing pytest files run against it
#    (IOMT_ENGINE_SO points agent.engine at it; the sanitizer runtimes are preloaded
#    into the Python process).
# 3. native/fuzz/fuzz_engine.c (libFuzzer) for FUZZ_SECONDS over seeds made from
#    ../shared/pcaps (skipped with a message when that directory is absent), then
#    native/fuzz/fuzz_extract.c (each extractor alone) for FUZZ_SECONDS.
# Any sanitizer report, failed test or fuzz crash exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${1:?usage: tools/sanitize.sh PYTHON}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
OUT=build/sanitized
CAPTURES=../shared/pcaps
SAN_FLAGS=(-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all)
C_FLAGS=(-std=c11 -Wall -Wextra -Werror -Wno-missing-field-initializers -D_GNU_SOURCE)

say() { printf '==> sanitize: %s\n' "$*"; }
die() { printf 'sanitize: FAILED: %s\n' "$*" >&2; exit 1; }

mkdir -p "$OUT"
# Sanitizer reports abort the process (non-zero exit) instead of scrolling by.
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# ---- 1. parser unit test ----
say "native/tests/test_parse.c (gcc, ASan+UBSan)"
gcc "${C_FLAGS[@]}" "${SAN_FLAGS[@]}" -Inative native/parse.c native/tests/test_parse.c \
    -o "$OUT/test_parse"
"$OUT/test_parse" || die "C parser unit test"
say "native/tests/test_siphash.c (gcc, ASan+UBSan: the keyed hash against its reference vectors)"
gcc "${C_FLAGS[@]}" "${SAN_FLAGS[@]}" -Inative native/tests/test_siphash.c -o "$OUT/test_siphash"
"$OUT/test_siphash" || die "SipHash reference vectors"
say "native/tests/test_digests.c (gcc, ASan+UBSan: SHA-1 and BLAKE2b against their known answers)"
gcc "${C_FLAGS[@]}" "${SAN_FLAGS[@]}" -Inative native/tests/test_digests.c native/sha1.c \
    native/blake2b.c -o "$OUT/test_digests"
"$OUT/test_digests" || die "SHA-1 and BLAKE2b known answers"
say "native/tests/test_hash_flooding.c (gcc, ASan+UBSan: the review's colliding fragments)"
gcc "${C_FLAGS[@]}" "${SAN_FLAGS[@]}" -Inative native/tests/test_hash_flooding.c \
    -o "$OUT/test_hash_flooding"
"$OUT/test_hash_flooding" || die "colliding fragments"
say "native/tests/test_capture_stop.c (gcc, ASan+UBSan: stop never touches a source)"
mapfile -t STOP_TEST_SOURCES < <(ls native/*.c | grep -v -e '^native/module' -e '^native/capture.c$')
# shellcheck disable=SC2046
gcc "${C_FLAGS[@]}" "${SAN_FLAGS[@]}" -Inative native/tests/test_capture_stop.c \
    "${STOP_TEST_SOURCES[@]}" $(pkg-config --libs libpcap 2>/dev/null || echo -lpcap) \
    -o "$OUT/test_capture_stop"
"$OUT/test_capture_stop" || die "capture_stop"
# MemorySanitizer needs every byte the parser reads instrumented: the test's frames are.
say "native/tests/test_parse.c (clang, MemorySanitizer: no uninitialized byte decides)"
clang "${C_FLAGS[@]}" -g -O1 -fno-omit-frame-pointer -fsanitize=memory \
    -fsanitize-memory-track-origins -Inative native/parse.c native/tests/test_parse.c \
    -o "$OUT/test_parse_msan"
"$OUT/test_parse_msan" || die "C parser unit test under MemorySanitizer"

# ---- 2. the extension under ASan+UBSan, C-facing tests against it ----
# Same sources as setup.py: every native/*.c.
mapfile -t SOURCES < <(ls native/*.c | sort)
PY_INCLUDE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
EXT_SUFFIX=$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
SO="$OUT/_engine$EXT_SUFFIX"
say "building $SO (gcc, ASan+UBSan) from ${SOURCES[*]}"
# shellcheck disable=SC2046  # pkg-config output is a list of flags
gcc "${C_FLAGS[@]}" "${SAN_FLAGS[@]}" -shared -fPIC -I"$PY_INCLUDE" -Inative \
    $(pkg-config --cflags libpcap 2>/dev/null) "${SOURCES[@]}" \
    $(pkg-config --libs libpcap 2>/dev/null || echo -lpcap) -o "$SO"

TESTS=()
for t in tests/test_robustness.py tests/test_engine_api.py tests/test_golden*.py \
         tests/test_differential*.py tests/test_flows_cli.py tests/test_extract_*.py \
         tests/test_devices_table.py tests/test_flow_batch*.py tests/test_pcapng_reader.py \
         tests/test_json_lines.py; do
    [ -f "$t" ] && TESTS+=("$t")
done
if [ ${#TESTS[@]} -eq 0 ]; then
    say "no C-facing test files yet: skipping the sanitized pytest run"
else
    PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
    say "pytest ${TESTS[*]} against $SO"
    # The Python process is not instrumented: only the engine is. Leak checking is off
    # because CPython does not free everything at exit.
    IOMT_ENGINE_SO="$PWD/$SO" LD_PRELOAD="$PRELOAD" \
        "$PY" -m pytest -q -p no:cacheprovider "${TESTS[@]}" || die "sanitized pytest"
fi

# ---- 3. fuzzing ----
FUZZ_SOURCES=()
for src in "${SOURCES[@]}"; do
    [[ "$src" = native/module*.c ]] || FUZZ_SOURCES+=("$src") # the binding needs CPython
done
FUZZ_DIR=build/fuzz
mkdir -p "$FUZZ_DIR/corpus" "$FUZZ_DIR/seeds"
if [ -f native/flowtable.c ]; then
    FUZZ_DEFS=()
else
    say "native/flowtable.c absent: fuzzing the parser alone"
    FUZZ_DEFS=(-DFUZZ_PARSE_ONLY)
    FUZZ_SOURCES=(native/parse.c)
fi
say "building the fuzz harness (clang, libFuzzer+ASan+UBSan)"
# shellcheck disable=SC2046
clang "${C_FLAGS[@]}" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    "${FUZZ_DEFS[@]}" -Inative native/fuzz/fuzz_engine.c "${FUZZ_SOURCES[@]}" \
    $(pkg-config --libs libpcap 2>/dev/null || echo -lpcap) -o "$FUZZ_DIR/fuzz_engine"

if [ -d "$CAPTURES" ]; then
    rm -rf "$FUZZ_DIR/seeds" && mkdir -p "$FUZZ_DIR/seeds"
    PYTHONPATH=. "$PY" native/fuzz/make_seeds.py "$CAPTURES" "$FUZZ_DIR/seeds"
else
    say "$CAPTURES absent: fuzzing from an empty corpus"
fi
# Medical and discovery payloads (tests/support/medical.py): seeds inside every extractor.
PYTHONPATH=. "$PY" -m tests.support.medical "$FUZZ_DIR/medical" >/dev/null
PYTHONPATH=. "$PY" native/fuzz/make_seeds.py "$FUZZ_DIR/medical" "$FUZZ_DIR/seeds"
say "fuzzing for ${FUZZ_SECONDS}s"
# New inputs go to corpus/ (kept between runs under build/), seeds are read only.
"$FUZZ_DIR/fuzz_engine" -max_total_time="$FUZZ_SECONDS" -max_len=32768 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$FUZZ_DIR/" \
    "$FUZZ_DIR/corpus" "$FUZZ_DIR/seeds" >"$FUZZ_DIR/fuzz.log" 2>&1 ||
    { tail -60 "$FUZZ_DIR/fuzz.log" >&2; die "fuzzer found a crash (input saved in $FUZZ_DIR/)"; }
grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::new_units_added)' \
    "$FUZZ_DIR/fuzz.log" || true

# The extractors alone (native/fuzz/fuzz_extract.c): any bytes straight into each one.
if [ -f native/fuzz/fuzz_extract.c ]; then
    say "building the extractor fuzz harness (clang, libFuzzer+ASan+UBSan)"
    clang "${C_FLAGS[@]}" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -Inative native/fuzz/fuzz_extract.c native/fingerprint.c native/extract_*.c \
        -o "$FUZZ_DIR/fuzz_extract"
    rm -rf "$FUZZ_DIR/extract_seeds"
    PYTHONPATH=. "$PY" native/fuzz/make_extract_seeds.py "$FUZZ_DIR/extract_seeds"
    mkdir -p "$FUZZ_DIR/extract_corpus"
    say "fuzzing the extractors for ${FUZZ_SECONDS}s"
    "$FUZZ_DIR/fuzz_extract" -max_total_time="$FUZZ_SECONDS" -max_len=4096 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$FUZZ_DIR/extract-" \
        "$FUZZ_DIR/extract_corpus" "$FUZZ_DIR/extract_seeds" >"$FUZZ_DIR/fuzz_extract.log" 2>&1 ||
        { tail -60 "$FUZZ_DIR/fuzz_extract.log" >&2; die "extractor fuzzer found a crash"; }
    grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::new_units_added)' \
        "$FUZZ_DIR/fuzz_extract.log" || true
fi
say "all clean"
