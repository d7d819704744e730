#!/usr/bin/env bash
# Runs Firn's tests, including the S3 suites against a real S3-compatible server and the Azure
# Blob suites against Azurite.
#
#   scripts/test.sh [cargo test arguments...]
#
# - If FIRN_TEST_S3_ENDPOINT is set (your own MinIO or an AWS bucket; set FIRN_TEST_S3_BUCKET,
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION too), the tests use it as is.
# - Otherwise a local moto server is started on a free loopback port (installed into .venv/
#   on first use, see scripts/s3-server.sh), the bucket is created, and the server is stopped
#   when the tests end.
#
# - If FIRN_TEST_AZBLOB_CONTAINER and AZURE_STORAGE_CONNECTION_STRING are set (an Azure
#   container, or an Azurite of your own), the Azure tests use them as they are.
# - Otherwise Azurite's blob service is started on a free loopback port (installed into
#   .azurite/ with npm on first use, see scripts/azurite.sh), the container is created, and the
#   service is stopped when the tests end.
#
# Either way FIRN_REQUIRE_S3=1 and FIRN_REQUIRE_AZBLOB=1 are exported, so S3 and Azure tests
# fail instead of skipping when their server is not configured. Without -p/--package/--workspace arguments the whole workspace is
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
export FIRN_REQUIRE_AZBLOB="${FIRN_REQUIRE_AZBLOB:-1}"

# Stops what this script started, whatever happens next.
started_s3=""
started_azurite=""
cleanup() {
    if [[ -n "$started_s3" ]]; then
        "$ROOT/scripts/s3-server.sh" stop "$started_s3" || true
    fi
    if [[ -n "$started_azurite" ]]; then
        "$ROOT/scripts/azurite.sh" stop "$started_azurite" || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n "${FIRN_TEST_S3_ENDPOINT:-}" ]]; then
    echo "test.sh: using the S3 server at $FIRN_TEST_S3_ENDPOINT (bucket ${FIRN_TEST_S3_BUCKET:-<unset>})" >&2
else
    server_env="$("$ROOT/scripts/s3-server.sh" start)"
    eval "$server_env"
    started_s3="$FIRN_S3_SERVER_PID"
fi

if [[ -n "${FIRN_TEST_AZBLOB_CONTAINER:-}" && -n "${AZURE_STORAGE_CONNECTION_STRING:-}" ]]; then
    echo "test.sh: using the Azure container $FIRN_TEST_AZBLOB_CONTAINER of AZURE_STORAGE_CONNECTION_STRING" >&2
else
    azurite_env="$("$ROOT/scripts/azurite.sh" start)"
    eval "$azurite_env"
    started_azurite="$FIRN_AZURITE_PID"
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
