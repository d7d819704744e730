#!/usr/bin/env bash
# A local S3-compatible server for Firn's tests: moto's server on a free loopback port, with
# conditional writes made atomic (scripts/moto_server_atomic.py).
#
#   scripts/s3-server.sh start        install moto into .venv/ if missing, start the server,
#                                     create the test bucket and print `export` lines
#   scripts/s3-server.sh stop PID     stop a server started by `start`
#
# Typical use:   eval "$(scripts/s3-server.sh start)"   ...   scripts/s3-server.sh stop "$FIRN_S3_SERVER_PID"
#
# Only `export` lines go to standard output; progress and errors go to standard error. The
# server keeps its objects in memory: stopping it discards the bucket. Its log is
# target/s3-server.log. Needs only python3 (with venv and pip) and access to PyPI on first use.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
MOTO_VERSION="5.2.5"
BUCKET="${FIRN_TEST_S3_BUCKET:-firn-test}"
LOG="$ROOT/target/s3-server.log"
START_TIMEOUT_SECS=60

say() { printf 's3-server: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
# shellcheck source=lib/stop-server.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/stop-server.sh"

usage() {
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Creates .venv/ and installs the pinned moto[server] into it unless it is there already.
ensure_moto() {
    local py="$VENV/bin/python"
    if [[ -x "$py" && -x "$VENV/bin/moto_server" ]] &&
        [[ "$("$py" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null)" == "$MOTO_VERSION" ]]; then
        return 0
    fi
    command -v python3 >/dev/null || die "python3 is needed to run the local S3 server (moto)"
    if [[ ! -x "$py" ]]; then
        say "creating virtualenv $VENV"
        python3 -m venv "$VENV" >&2 ||
            die "python3 -m venv failed; install the venv module (Debian: apt-get install python3-venv)"
    fi
    say "installing moto[server]==$MOTO_VERSION into $VENV (first use only)"
    "$py" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2 ||
        die "pip could not install moto[server]==$MOTO_VERSION (is PyPI reachable?)"
}

free_port() {
    "$VENV/bin/python" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Waits until the server answers, then creates the bucket. Exits non-zero on failure.
wait_and_create_bucket() {
    local endpoint="$1"
    "$VENV/bin/python" - "$endpoint" "$BUCKET" "$START_TIMEOUT_SECS" <<'PY'
import sys, time, urllib.request, urllib.error
endpoint, bucket, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
deadline = time.monotonic() + timeout
while True:
    try:
        urllib.request.urlopen(endpoint + "/", timeout=2).read()
        break
    except urllib.error.HTTPError:
        break  # any HTTP answer means the server is up
    except Exception as e:
        if time.monotonic() > deadline:
            sys.exit(f"the server at {endpoint} did not answer within {timeout:.0f}s: {e}")
        time.sleep(0.2)
import boto3
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
try:
    s3.create_bucket(Bucket=bucket)
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass
PY
}

start() {
    ensure_moto
    mkdir -p "$(dirname "$LOG")"
    local port endpoint pid
    port="$(free_port)"
    endpoint="http://127.0.0.1:$port"
    say "starting moto_server on $endpoint (log: $LOG)"
    # Detached from our stdout so that `$(scripts/s3-server.sh start)` returns at once.
    # moto_server_atomic.py runs moto's server with conditional writes decided atomically
    # (moto alone checks If-None-Match and stores in two steps: racing creates can both win).
    nohup "$VENV/bin/python" "$ROOT/scripts/moto_server_atomic.py" -H 127.0.0.1 -p "$port" \
        </dev/null >>"$LOG" 2>&1 &
    pid=$!
    if ! wait_and_create_bucket "$endpoint" >&2; then
        kill "$pid" 2>/dev/null || true
        tail -n 20 "$LOG" >&2 || true
        die "the S3 server did not come up"
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        tail -n 20 "$LOG" >&2 || true
        die "moto_server exited (port $port taken?)"
    fi
    say "ready: bucket $BUCKET at $endpoint (pid $pid)"
    cat <<OUT
export FIRN_TEST_S3_ENDPOINT=$endpoint
export FIRN_TEST_S3_BUCKET=$BUCKET
export AWS_ENDPOINT_URL=$endpoint
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export FIRN_S3_SERVER_PID=$pid
OUT
}

stop() {
    stop_server "${1:-}" moto_server "a moto_server" FIRN_S3_SERVER_PID
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *) usage ;;
esac
