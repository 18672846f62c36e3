#!/usr/bin/env bash
# Container smoke test (issue 4): build the image from this checkout with buildah (no Docker
# engine needed), check it runs as a non-root user, run the smoke grid inside it and outside it
# (with the host's installed project), and require every number of every row of the two
# results.csv to agree bit for bit (`mnist-bench compare --exact`: both runs pin their numerics
# the same way, and the host's OPENBLAS_* variables are passed into the container). Prints the
# build and run times and the image size, and removes the image at the end. Exits non-zero,
# loudly, on any difference.
#
# Usage: .ci/container-smoke.sh     (from anywhere; as root on a fresh machine with python and pip:
#                                    ../shared/container/build.sh installs buildah itself)
# Environment (all optional):
#   MNIST_BENCH  the command for the outside run (default: `mnist-bench` on PATH, else the one
#                `tox -e py` installed in .tox/py)
#   SHARED_DIR   the folder holding container/build.sh and run.sh (default: ../shared beside the repo)
#   IMAGE        the tag to build (default: localhost/mnist-bench:ci)
#   CONFIG       the grid to run (default: benchmarks/configs/smoke.toml)
#   KEEP_IMAGE=1 keep the image afterwards
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${SHARED_DIR:-$(dirname "$repo")/shared}
image=${IMAGE:-localhost/mnist-bench:ci}
config=${CONFIG:-benchmarks/configs/smoke.toml}
build_sh=$shared/container/build.sh
run_sh=$shared/container/run.sh

say() { printf '[container-smoke] %s\n' "$*"; }
die() { printf '[container-smoke] FAIL: %s\n' "$*" >&2; exit 1; }

[ -x "$build_sh" ] && [ -x "$run_sh" ] || die "no $build_sh / $run_sh (set SHARED_DIR)"
cd "$repo"
[ -f "$config" ] || die "no grid config $config in $repo"

if [ -n "${MNIST_BENCH:-}" ]; then
  read -r -a outside <<<"$MNIST_BENCH"
elif command -v mnist-bench >/dev/null 2>&1; then
  outside=(mnist-bench)
elif [ -x "$repo/.tox/py/bin/mnist-bench" ]; then
  outside=("$repo/.tox/py/bin/mnist-bench")
else
  die "no mnist-bench installed outside the container: run \`python3 -m tox -e py\` first or set MNIST_BENCH"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/container-smoke.XXXXXX")
built=0
cleanup() {
  rc=$?
  if [ "$built" = 1 ] && [ "${KEEP_IMAGE:-0}" != 1 ]; then
    buildah --storage-driver vfs rmi -f "$image" >/dev/null 2>&1 && say "removed image $image"
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

# 1. Build. build.sh makes the local stand-in for python:3.11-slim-bookworm on first use.
say "building $image from $repo"
t0=$SECONDS
commit=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$commit" = unknown ]; then dirty=unknown
elif [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then dirty=true
else dirty=false; fi
"$build_sh" . "$image" --build-arg "GIT_COMMIT=$commit" --build-arg "GIT_DIRTY=$dirty" \
  || die "image build failed (see above)"
built=1
build_s=$((SECONDS - t0))
size=$(buildah --storage-driver vfs images --format '{{.Size}}' "$image" | head -n1)

# 2. The image's user must not be root.
user=$(buildah --storage-driver vfs inspect --type image --format '{{.OCIv1.Config.User}}' "$image")
case "${user%%:*}" in
  "" | 0 | root) die "the image runs as root (USER is '${user:-unset}'); it must set a non-root USER" ;;
esac
say "image user: $user"

# 3. The smoke grid inside the container, writing to a mounted folder the container uid can write.
mkdir -p "$work/inside"
chown "$user" "$work/inside" 2>/dev/null || chmod a+rwx "$work/inside"
say "running the smoke grid inside the container"
t0=$SECONDS
# the host's OpenBLAS variables go in as they are (some machines need them; never changed)
passed=()
for var in OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; do
  if [ -n "${!var:-}" ]; then passed+=("$var=${!var}"); fi
done
"$run_sh" "$image" -v "$work/inside:/reports" -- \
  env "${passed[@]}" mnist-bench run --config "$config" --out /reports/smoke \
  || die "the smoke grid failed inside the container"
inside_s=$((SECONDS - t0))
if [ "$commit" != unknown ]; then
  grep -q "\"commit\": \"$commit\"" "$work/inside/smoke/environment.json" \
    || die "the run inside the image does not name commit $commit in environment.json"
  grep -q "commit ${commit:0:12}" "$work/inside/smoke/REPORT.md" \
    || die "the run inside the image does not name commit ${commit:0:12} in REPORT.md"
  say "the run inside the image names its commit ${commit:0:12}"
fi

# 4. The same grid outside, with the host's installed project and an empty cache.
say "running the smoke grid outside: ${outside[*]}"
t0=$SECONDS
TF_CPP_MIN_LOG_LEVEL=2 MPLBACKEND=Agg MNIST_BENCH_CACHE="$work/outside-cache" \
  "${outside[@]}" run --config "$config" --out "$work/outside/smoke" \
  || die "the smoke grid failed outside the container"
outside_s=$((SECONDS - t0))

# 5. Compare the two results, row by row.
for side in inside outside; do
  for f in REPORT.md results.csv; do
    [ -s "$work/$side/smoke/$f" ] || die "$side: no $f was written"
  done
done
"${outside[@]}" compare --exact "$work/inside/smoke" "$work/outside/smoke" \
  || die "the results inside and outside the container differ (above)"

say "OK: the image builds, runs as $user, and its smoke grid equals the run outside bit for bit"
say "timings: build ${build_s}s, smoke run inside ${inside_s}s, outside ${outside_s}s; image size $size"
