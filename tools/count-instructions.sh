#!/usr/bin/env bash
# Instructions per frame of the C engine alone (bench/profile_engine.c under valgrind's
# callgrind), on this machine: the figures of docs/PERFORMANCE.md's "Instruction counts by
# architecture". tools/cross-test.sh ARCH count CAPTURE runs it inside the emulated ARM
# root filesystem.
#
#   tools/count-instructions.sh CAPTURE [MAX_DEVICES]
#
# The engine is built as setup.py builds the module (every native/*.c but the CPython
# binding, same optimization flags). Prints one line:
#   <arch> <instructions> instructions, <frames> frames, <per frame> per frame
set -euo pipefail
cd "$(dirname "$0")/.."

CAPTURE=${1:?usage: tools/count-instructions.sh CAPTURE [MAX_DEVICES]}
DEVICES=${2:-4096}
OUT=build/count
mkdir -p "$OUT"
SOURCES=()
for src in native/*.c; do
    [[ "$src" = native/module*.c ]] || SOURCES+=("$src")
done
gcc -std=c11 -O3 -flto -fvisibility=hidden -Wall -Wextra -Werror \
    -Wno-missing-field-initializers -D_GNU_SOURCE -Inative bench/profile_engine.c \
    "${SOURCES[@]}" -lpcap -o "$OUT/profile_engine"
rm -f "$OUT/callgrind.out"
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" \
    "$OUT/profile_engine" "$CAPTURE" "$DEVICES" >"$OUT/profile.txt" 2>"$OUT/valgrind.txt" ||
    { cat "$OUT/valgrind.txt" >&2; exit 1; }
instructions=$(awk '/^summary:/ {print $2}' "$OUT/callgrind.out")
frames=$(awk '{for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1)}' "$OUT/profile.txt")
echo "$(uname -m) $instructions instructions, $frames frames, $((instructions / frames)) per frame"
