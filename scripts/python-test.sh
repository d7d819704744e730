#!/usr/bin/env bash
# Builds the Python package (python/) into the virtualenv .venv/ and runs its pytest suite.
#
#   scripts/python-test.sh [pytest arguments...]
#
# - Creates .venv/ if missing (the virtualenv scripts/s3-server.sh installs moto into),
#   installs the pinned maturin, pytest and prometheus_client into it, and builds and
#   installs the package with `pip install ./python` (no build isolation: the pinned maturin
#   builds it, and cargo reuses the workspace's target/ folder). Builds the `firn` command
#   line too and names it in FIRN_CLI (the suite runs `firn stats --prometheus`).
# - Runs `pytest python/tests`: each test against the embedded default (a temporary folder)
#   and against the S3 server named by FIRN_TEST_S3_ENDPOINT and FIRN_TEST_S3_BUCKET
#   (scripts/test.sh starts one and sets them). Without them the S3 variants skip, unless
#   FIRN_REQUIRE_S3=1: then they fail.
#
# The extension is built with cargo's dev profile (dependencies optimized, see Cargo.toml),
# which shares most compiled dependencies with `cargo test`; FIRN_PYTHON_PROFILE=release
# builds it as `pip install ./python` does for users. The exit code is pytest's (or the
# failing step's). Needs python3 (with venv and pip) and access to PyPI on first use.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
MATURIN_VERSION="1.16.0"
PYTEST_VERSION="9.2.0"
PROMETHEUS_CLIENT_VERSION="0.26.0"
PROFILE="${FIRN_PYTHON_PROFILE:-dev}"

say() { printf 'python-test: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

pip_install() {
    "$PY" -m pip install --quiet --disable-pip-version-check "$@" >&2
}

installed_version() {
    "$PY" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$1" 2>/dev/null || true
}

if [[ ! -x "$PY" ]]; then
    command -v python3 >/dev/null || die "python3 is needed to build and test the Python package"
    say "creating virtualenv $VENV"
    python3 -m venv "$VENV" >&2 ||
        die "python3 -m venv failed; install the venv module (Debian: apt-get install python3-venv)"
fi
if [[ "$(installed_version maturin)" != "$MATURIN_VERSION" || "$(installed_version pytest)" != "$PYTEST_VERSION" ||
    "$(installed_version prometheus_client)" != "$PROMETHEUS_CLIENT_VERSION" ]]; then
    say "installing maturin==$MATURIN_VERSION, pytest==$PYTEST_VERSION and prometheus_client==$PROMETHEUS_CLIENT_VERSION into $VENV"
    pip_install "maturin==$MATURIN_VERSION" "pytest==$PYTEST_VERSION" \
        "prometheus_client==$PROMETHEUS_CLIENT_VERSION" ||
        die "pip could not install maturin, pytest and prometheus_client (is PyPI reachable?)"
fi

say "building and installing ./python (cargo profile $PROFILE)"
started=$SECONDS
# maturin (run by pip) finds cargo on PATH; its own copy in the venv's bin is what pip runs.
PATH="$VENV/bin:$PATH" MATURIN_PEP517_ARGS="--profile $PROFILE" \
    pip_install --no-build-isolation --force-reinstall --no-deps ./python ||
    die "building the Python package failed (see the cargo output above)"
say "built and installed in $((SECONDS - started))s"

# The command line too: the suite checks `firn stats --prometheus` with prometheus_client's
# parser (cargo test has usually built it already).
say "building the firn command line"
cargo build --quiet -p firn-tools --bin firn >&2 || die "building the firn command line failed"
FIRN_CLI="$(cargo metadata --format-version 1 --no-deps |
    "$PY" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/debug/firn"
[[ -x "$FIRN_CLI" ]] || die "no firn binary at $FIRN_CLI after cargo build"
export FIRN_CLI

exec "$PY" -m pytest python/tests "$@"
