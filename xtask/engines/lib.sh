# lib.sh - the helpers up.sh, down.sh, podman-up.sh and podman-down.sh share. Sourced first, with
# ACTION (`up` or `down`) set for the log lines; wait_for also needs LOGD.

T0=$(date +%s%N)
log() { printf '[engines %s %6sms] %s\n' "$ACTION" "$((($(date +%s%N) - T0) / 1000000))" "$*"; }
die() {
  log "ERROR: $*" >&2
  exit 1
}
# warn: report and go on; the script exits 1 at its end (down cleans up as much as it can)
FAILED=0
warn() {
  log "WARNING: $*" >&2
  FAILED=1
}

# alive PIDFILE COMM: the recorded pid still runs and is that daemon (not a reused pid, no zombie)
alive() {
  [ -s "$1" ] && [ "$(cat "/proc/$(cat "$1")/comm" 2>/dev/null)" = "$2" ] &&
    ! grep -q '^State:[[:space:]]*Z' "/proc/$(cat "$1")/status" 2>/dev/null
}
# running PIDFILE: the recorded process exists and is no zombie. Right after `setsid daemon &` its
# comm may still be the shell's or setsid's (the exec has not happened yet), so a daemon that is
# starting is judged by this, not by `alive`.
running() {
  [ -s "$1" ] && [ -e "/proc/$(cat "$1")" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$(cat "$1")/status" 2>/dev/null
}
wait_for() { # wait_for WHAT SECONDS PIDFILE COMM CMD...  (gives up at once if the daemon died)
  local what=$1 secs=$2 pf=$3 comm=$4 end
  shift 4
  end=$(($(date +%s) + secs))
  while [ "$(date +%s)" -lt "$end" ]; do
    "$@" >/dev/null 2>&1 && return 0
    running "$pf" || die "$what exited at start; last log lines:$(printf '\n'; tail -15 "$LOGD/$comm.log")"
    sleep 0.05
  done
  die "timed out after ${secs}s waiting for $what (see $LOGD/$comm.log)"
}
# begin_up TOOL...: as root, one up or down at a time per instance (several `cargo xtask test` may
# start together; the lock file sits beside the run dir, which down deletes), every tool present.
begin_up() {
  [ "$(id -u)" = 0 ] || die "run as root"
  exec 9>"/run/$NAME.lock"
  flock -w 300 9 || die "another engines up/down of $NAME held /run/$NAME.lock for 300s"
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null || die "$c not found: run \`cargo xtask engines up\` (it installs the Debian packages)"
  done
}
ping_sock() { curl -sf --max-time 2 --unix-socket "$1" http://d/_ping >/dev/null 2>&1; }
# put DEST MODE <CONTENT: replace DEST atomically and only when CONTENT differs.
# A running shim may be reading a wrapper script right now; rewriting it in place
# (truncate + write) would let that shell read a half-written file.
put() {
  local dest=$1 mode=$2 tmp
  tmp=$(mktemp "$dest.XXXXXX")
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if cmp -s "$tmp" "$dest"; then
    rm -f "$tmp"
    PUT_CHANGED=0
  else
    mv -f "$tmp" "$dest"
    PUT_CHANGED=1
  fi
}

stop_pid() { # stop_pid PIDFILE COMM: TERM, then KILL after 30 s
  local pf=$1 comm=$2 pid i
  if ! alive "$pf" "$comm"; then
    rm -f "$pf"
    return 0
  fi
  pid=$(cat "$pf")
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$comm did not stop in 30s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$pf"
  log "$comm stopped (pid $pid)"
}
