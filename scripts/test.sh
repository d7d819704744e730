#!/usr/bin/env bash
# Runs Firn's tests, including the S3 suites, against a real S3-compatible server.
#
#   scripts/test.sh [cargo test arguments...]
#
# - If FIRN_TEST_S3_ENDPOINT is set (your own MinIO or an AWS bucket; set FIRN_TEST_S3_BUCKET,
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION too), the tests use it as is.
# - Otherwise a local moto server is started on a free loopback port (installed into .venv/
#   on first use, see scripts/s3-server.sh), the bucket is created, and the server is stopped
#   when the tests end.
#
# Either way FIRN_REQUIRE_S3=1 is exported, so S3 tests fail instead of skipping when the
# server is not configured. Without -p/--package/--workspace arguments the whole workspace is
# tested.
#
# After `cargo test`, when the Python package is in scope (the whole workspace, or
# -p firn-python; `--exclude firn-python` leaves it out), scripts/python-test.sh builds it
# into .venv/ and runs its pytest suite against the embedded default and the same S3 server.
# The exit code is non-zero when cargo's or pytest's is.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Add --workspace unless the caller already chose packages. The Python package is tested
# with the whole workspace, or when it is one of the packages chosen, unless excluded.
scope=(--workspace)
packages=()
excluded=()
whole=0
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    arg="${args[i]}"
    next="${args[i + 1]:-}"
    case "$arg" in
        --) break ;;
        -p | --package) scope=(); packages+=("$next") ;;
        --package=*) scope=(); packages+=("${arg#--package=}") ;;
        -p*) scope=(); packages+=("${arg#-p}") ;;
        --workspace | --all) scope=(); whole=1 ;;
        --exclude) excluded+=("$next") ;;
        --exclude=*) excluded+=("${arg#--exclude=}") ;;
    esac
done
python=0
if [[ ${#scope[@]} -gt 0 || $whole == 1 ]] || [[ " ${packages[*]} " == *" firn-python "* ]]; then
    python=1
fi
if [[ " ${excluded[*]} " == *" firn-python "* ]]; then
    python=0
fi

export FIRN_REQUIRE_S3="${FIRN_REQUIRE_S3:-1}"

if [[ -n "${FIRN_TEST_S3_ENDPOINT:-}" ]]; then
    echo "test.sh: using the S3 server at $FIRN_TEST_S3_ENDPOINT (bucket ${FIRN_TEST_S3_BUCKET:-<unset>})" >&2
else
    server_env="$("$ROOT/scripts/s3-server.sh" start)"
    eval "$server_env"
    cleanup() { "$ROOT/scripts/s3-server.sh" stop "$FIRN_S3_SERVER_PID" || true; }
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
fi

set +e
cargo test "${scope[@]}" "$@"
status=$?
if [[ $python == 1 ]]; then
    "$ROOT/scripts/python-test.sh"
    python_status=$?
    if [[ $status == 0 ]]; then
        status=$python_status
    fi
fi
set -e
exit "$status"
