#!/usr/bin/env bash
# Same numbers on another kind of CPU, shown on one machine. Runs a grid twice from empty caches:
# on this machine as it is, and with every library held one instruction-set level lower (no
# AVX-512, or no AVX2 where there is none: mnist_bench.core.numerics.lower_machine), as a
# machine of another kind would run it. With the suite's portable numerics (the default) the two
# results.csv must be identical bit for bit (`mnist-bench compare --exact`) and `mnist-bench
# compare` must exit 0. NATIVE=1 first runs the pair without the pins and requires them to differ
# (so the check can fail). The OpenBLAS variables stay as the environment sets them.
#
# Usage: .ci/same-numbers.sh [CONFIG]   (default benchmarks/configs/portable.toml: 6,000 images,
#                                        every CPU-dependent stage, about 3 minutes on 2 cores)
# Environment (optional): MNIST_BENCH  the command (default: mnist-bench on PATH, else .tox/py's)
#                         OUT          keep the runs in this folder (default: a temporary one)
#                         NATIVE=1     also show that without the pins the numbers differ
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
config=${1:-benchmarks/configs/portable.toml}
say() { printf '[same-numbers] %s\n' "$*"; }
die() { printf '[same-numbers] FAIL: %s\n' "$*" >&2; exit 1; }
cd "$repo"
[ -f "$config" ] || die "no grid config $config"

if [ -n "${MNIST_BENCH:-}" ]; then read -r -a bench <<<"$MNIST_BENCH"
elif command -v mnist-bench >/dev/null 2>&1; then bench=(mnist-bench)
elif [ -x "$repo/.tox/py/bin/mnist-bench" ]; then bench=("$repo/.tox/py/bin/mnist-bench")
else die "no mnist-bench: run \`python3 -m tox -e py\` first or set MNIST_BENCH"; fi
python=$(dirname "$(command -v "${bench[0]}")")/python
[ -x "$python" ] || python=python3

if [ -n "${OUT:-}" ]; then work=$OUT; mkdir -p "$work"
else work=$(mktemp -d "${TMPDIR:-/tmp}/same-numbers.XXXXXX"); trap 'rm -rf "$work"' EXIT; fi
mapfile -t lower < <("$python" -c '
from mnist_bench.core.numerics import lower_machine
for name, value in lower_machine().items():
    print(f"{name}={value}")')
say "the lower machine: ${lower[*]}"

# run MODE SIDE: the grid into $work/MODE-SIDE from an empty cache; prints its seconds
run() {
  local mode=$1 side=$2 t0=$SECONDS extra=()
  [ "$side" = lower ] && extra=("${lower[@]}")
  rm -rf "$work/$mode-$side" "$work/cache-$mode-$side"
  env TF_CPP_MIN_LOG_LEVEL=2 MPLBACKEND=Agg "${extra[@]}" "${bench[@]}" run --config "$config" \
    --numerics "$mode" --out "$work/$mode-$side" --cache-dir "$work/cache-$mode-$side" \
    >"$work/$mode-$side.log" 2>&1 || { tail -n 20 "$work/$mode-$side.log" >&2; die "$mode run ($side) failed"; }
  say "$mode, $side: $((SECONDS - t0)) s"
}

if [ "${NATIVE:-0}" = 1 ]; then
  run native here
  run native lower
  if "${bench[@]}" compare --exact "$work/native-here" "$work/native-lower" >"$work/native.md"; then
    die "without the pins the lower machine gave the same numbers: this check cannot tell"
  fi
  say "without the pins the numbers differ: $(grep -m1 'numbers differ' "$work/native.md" | sed 's/^- //')"
fi
run portable here
run portable lower
"${bench[@]}" compare --exact "$work/portable-here" "$work/portable-lower" \
  || die "with the pins the two machines' numbers differ (above)"
"${bench[@]}" compare "$work/portable-here" "$work/portable-lower" >"$work/compare.md" \
  || { cat "$work/compare.md"; die "mnist-bench compare of the two runs says they differ"; }
rows=$(($(wc -l <"$work/portable-here/results.csv") - 1))
say "OK: $rows rows, every number identical bit for bit on this machine and one a level below"
