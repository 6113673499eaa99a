#!/usr/bin/env bash
# podman-down.sh - undo podman-up.sh. Run by `cargo xtask engines down` before down.sh (which
# then unmounts what is left under /run/$NAME and /var/lib/$NAME and deletes both).
#   1. remove every container and pod of the service (the harness's own)
#   2. stop the service: only the pid podman-up.sh recorded
#   3. kill leftover conmon processes whose command line names our dirs; delete our CNI bridge
set -uo pipefail
export PATH=$PATH:/usr/sbin:/sbin

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=${ENGINES_NAME:-anyctr-engines}
RUN=/run/$NAME
LIB=/var/lib/$NAME
SOCK=$RUN/podman.sock
# shellcheck source=net.sh
. "$HERE/net.sh"
BRIDGE=$PODMAN_BRIDGE
ACTION=down
. "$HERE/lib.sh"

[ -d "$RUN" ] || exit 0
[ "$(id -u)" = 0 ] || {
  echo "run as root" >&2
  exit 1
}
exec 9>"/run/$NAME.lock"
flock -w 300 9 || {
  log "another engines up/down of $NAME held /run/$NAME.lock for 300s" >&2
  exit 1
}

if alive "$RUN/podman.pid" podman; then
  PODMAN="podman --url unix://$SOCK"
  # -t 0: the containers are the harness's; their stop timeout is not worth waiting out
  timeout 120 $PODMAN pod rm -af -t 0 >/dev/null 2>&1 || warn "podman pod rm -af failed"
  timeout 120 $PODMAN rm -af -t 0 >/dev/null 2>&1 || warn "podman rm -af failed"
  left=$(timeout 30 $PODMAN ps -aq 2>/dev/null)
  if [ -n "$left" ]; then warn "podman containers left: $(echo $left)"; fi
fi
stop_pid "$RUN/podman.pid" podman
rm -f "$SOCK"
for p in /proc/[0-9]*; do
  [ "$(cat "$p/comm" 2>/dev/null)" = conmon ] || continue
  grep -q '^State:[[:space:]]*Z' "$p/status" 2>/dev/null && continue # exited, awaiting its reaper
  cmdline=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)
  if [[ "$cmdline" == *"$RUN/"* || "$cmdline" == *"$LIB/"* ]]; then
    log "killing leftover conmon ${p#/proc/}"
    kill -KILL "${p#/proc/}" 2>/dev/null
  fi
done
if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE" && log "deleted bridge $BRIDGE"; fi
exit $FAILED
