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
# tested. The exit code is cargo's.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Add --workspace unless the caller already chose packages.
scope=(--workspace)
for arg in "$@"; do
    case "$arg" in
        --) break ;;
        -p | -p* | --package | --package=* | --workspace | --all) scope=() ;;
    esac
done

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
set -e
exit "$status"
