# Sourced by scripts/s3-server.sh and scripts/azurite.sh (which define say and die).
#
#   stop_server PID PATTERN NAME VAR
#
# Stops the test server PID: refuses unless its command line contains PATTERN (never signal a
# process that is not our server), sends SIGTERM, waits up to 5 s, then SIGKILL. NAME is the
# server in messages, VAR the variable `start` printed the PID in (for the usage message).
stop_server() {
    local pid="$1" pattern="$2" name="$3" var="$4"
    [[ "$pid" =~ ^[0-9]+$ ]] || die "usage: $0 stop PID (the $var that start printed)"
    if ! kill -0 "$pid" 2>/dev/null; then
        say "no process $pid (already stopped)"
        return 0
    fi
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$pattern"; then
        die "process $pid is not $name; not stopping it"
    fi
    kill "$pid"
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || { say "stopped $pid"; return 0; }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    say "killed $pid"
}
