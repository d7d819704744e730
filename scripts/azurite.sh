#!/usr/bin/env bash
# A local Azure Blob Storage emulator for Firn's tests: Azurite's blob service (the npm package,
# version pinned in scripts/azurite/package-lock.json) on a free loopback port, in memory.
#
#   scripts/azurite.sh start        install Azurite into .azurite/ if missing, start its blob
#                                   service, create the test container and print `export` lines
#   scripts/azurite.sh stop PID     stop a service started by `start`
#
# Typical use:   eval "$(scripts/azurite.sh start)"   ...   scripts/azurite.sh stop "$FIRN_AZURITE_PID"
#
# Only `export` lines go to standard output; progress and errors go to standard error. The
# service keeps its blobs in memory: stopping it discards the container. Credentials are
# Azurite's well-known development account (devstoreaccount1), which is public. Its log is
# target/azurite.log. Needs only node and npm (and access to the npm registry on first use).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PIN="$ROOT/scripts/azurite"
DIR="$ROOT/.azurite"
CONTAINER="${FIRN_TEST_AZBLOB_CONTAINER:-firn-test}"
LOG="$ROOT/target/azurite.log"
START_TIMEOUT_SECS=60
# Azurite's documented development account and key (not a secret).
ACCOUNT="devstoreaccount1"
KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

say() { printf 'azurite: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
# shellcheck source=lib/stop-server.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/stop-server.sh"

usage() {
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Installs the pinned Azurite into .azurite/ (npm ci from the committed lock file) unless the
# same lock file is installed there already.
ensure_azurite() {
    command -v node >/dev/null || die "node is needed to run Azurite (install Node.js 20 or newer)"
    if [[ -x "$DIR/node_modules/.bin/azurite-blob" ]] &&
        cmp -s "$PIN/package-lock.json" "$DIR/package-lock.json"; then
        return 0
    fi
    command -v npm >/dev/null || die "npm is needed to install Azurite"
    local version
    version="$(node -p 'require(process.argv[1]).dependencies.azurite' "$PIN/package.json")"
    say "installing azurite@$version into $DIR (first use only)"
    mkdir -p "$DIR"
    cp "$PIN/package.json" "$PIN/package-lock.json" "$DIR/"
    # --ignore-scripts: Azurite needs no install scripts (one dependency's only checks versions).
    (cd "$DIR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2) ||
        die "npm could not install azurite@$version (is the npm registry reachable?)"
}

free_port() {
    node -e 'const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

start() {
    ensure_azurite
    mkdir -p "$(dirname "$LOG")"
    local port endpoint pid
    port="$(free_port)"
    endpoint="http://127.0.0.1:$port/$ACCOUNT"
    say "starting azurite-blob on $endpoint (log: $LOG)"
    # Detached from our stdout so that `$(scripts/azurite.sh start)` returns at once.
    # In memory: nothing is written to disk (its working folder is .azurite/ all the same).
    # --skipApiVersionCheck: OpenDAL may send a newer x-ms-version than this Azurite knows.
    # --loose: ignore headers Azurite does not implement instead of refusing the request.
    cd "$DIR"
    nohup "$DIR/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port" \
        --inMemoryPersistence --skipApiVersionCheck --loose --disableProductStyleUrl \
        --disableTelemetry --extentMemoryLimit 4096 </dev/null >>"$LOG" 2>&1 &
    pid=$!
    cd "$ROOT"
    if ! node "$PIN/ready.js" "$endpoint" "$ACCOUNT" "$KEY" "$CONTAINER" "$START_TIMEOUT_SECS" \
        "$pid" >&2; then
        kill "$pid" 2>/dev/null || true
        tail -n 20 "$LOG" >&2 || true
        die "Azurite did not come up"
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        tail -n 20 "$LOG" >&2 || true
        die "azurite-blob exited (port $port taken?)"
    fi
    say "ready: container $CONTAINER at $endpoint (pid $pid)"
    cat <<OUT
export AZURE_STORAGE_CONNECTION_STRING='DefaultEndpointsProtocol=http;AccountName=$ACCOUNT;AccountKey=$KEY;BlobEndpoint=$endpoint;'
export FIRN_TEST_AZBLOB_CONTAINER=$CONTAINER
export FIRN_AZURITE_PID=$pid
OUT
}

stop() {
    stop_server "${1:-}" azurite-blob "azurite-blob" FIRN_AZURITE_PID
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *) usage ;;
esac
