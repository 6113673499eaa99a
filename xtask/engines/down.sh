#!/usr/bin/env bash
# down.sh - undo up.sh. Run by `cargo xtask engines down`.
#   1. remove every container in the engines up.sh started (they are dedicated to the harness)
#   2. stop those daemons: only the pids up.sh recorded in /run/$NAME/*.pid
#   3. kill leftover shims/sandboxes that belong to THEM (their command line names
#      /run/$NAME/), by pid; remove the CRI pod netns and bridges up.sh's config made
#   4. unmount what is left under /run/$NAME and /var/lib/$NAME, delete both dirs
# Daemons xtask did not start (e.g. on the default sockets) are never touched.
# Installed Debian packages stay.
set -uo pipefail # no -e: keep cleaning up after a failed step, report at the end
export PATH=$PATH:/usr/sbin:/sbin

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=${ENGINES_NAME:-anyctr-engines}
RUN=/run/$NAME
LIB=/var/lib/$NAME
CTD_SOCK=$RUN/containerd/containerd.sock
DOCKER_SOCK=$RUN/docker.sock
# shellcheck source=net.sh
. "$HERE/net.sh" # the bridge names up.sh used for this instance name
ACTION=down
# shellcheck source=lib.sh
. "$HERE/lib.sh"
ours() { # pids of shims and gVisor processes whose command line names our run dir
  local p comm
  for p in /proc/[0-9]*; do
    comm=$(cat "$p/comm" 2>/dev/null) || continue
    case "$comm" in containerd-shim* | runsc* | exe) ;; *) continue ;; esac
    [[ "$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" == *"$RUN/"* ]] && echo "${p#/proc/}"
  done
}

if [ ! -d "$RUN" ] && [ ! -d "$LIB" ]; then
  log "nothing to do ($RUN and $LIB absent)"
  exit 0
fi
[ "$(id -u)" = 0 ] || {
  echo "run as root" >&2
  exit 1
}
exec 9>"/run/$NAME.lock" # the lock up.sh takes; the file stays (a waiter may hold it open)
flock -w 300 9 || {
  log "another engines up/down of $NAME held /run/$NAME.lock for 300s" >&2
  exit 1
}

# 1. containers in our engines
if alive "$RUN/dockerd.pid" dockerd; then
  ids=$(timeout 30 docker -H "unix://$DOCKER_SOCK" ps -aq 2>/dev/null)
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086 # one id per word
    timeout 120 docker -H "unix://$DOCKER_SOCK" rm -f $ids >/dev/null 2>&1 || warn "docker rm -f failed"
  fi
  log "docker containers removed: $(echo $ids | wc -w)"
fi
NETNS=()
if alive "$RUN/containerd.pid" containerd; then
  CTR="ctr --address $CTD_SOCK"
  # There is no CRI client here to stop pods the CRI way (which would also run the
  # CNI teardown), so remember the pod netns to delete them once the pods are gone.
  for c in $(timeout 30 $CTR -n k8s.io c ls -q 2>/dev/null); do
    while read -r ns; do NETNS+=("$ns"); done < <(timeout 20 $CTR -n k8s.io c info "$c" 2>/dev/null |
      grep -o '"/var/run/netns/[A-Za-z0-9_.-]*"\|"/run/netns/[A-Za-z0-9_.-]*"' | tr -d '"' | sort -u)
  done
  # Errors of single removals are not reported: CRI deletes the tasks of killed
  # containers itself, racing with us. What still exists afterwards is.
  for ns in $(timeout 30 $CTR ns ls -q 2>/dev/null); do
    for t in $(timeout 30 $CTR -n "$ns" t ls -q 2>/dev/null); do
      timeout 20 $CTR -n "$ns" t kill -s KILL "$t" >/dev/null 2>&1
      sleep 0.2
      timeout 20 $CTR -n "$ns" t rm -f "$t" >/dev/null 2>&1
    done
    for c in $(timeout 30 $CTR -n "$ns" c ls -q 2>/dev/null); do
      timeout 20 $CTR -n "$ns" c rm "$c" >/dev/null 2>&1
    done
    left=$(timeout 30 $CTR -n "$ns" c ls -q 2>/dev/null)
    if [ -n "$left" ]; then warn "containers left in namespace $ns: $(echo $left)"; fi
  done
  log "containerd tasks and containers removed"
fi

# 2. daemons, the client (dockerd) before the server (containerd)
stop_pid "$RUN/dockerd.pid" dockerd
stop_pid "$RUN/containerd.pid" containerd
stop_pid "$RUN/registry.pid" docker-registry

# 3. leftovers that belong to our daemons only; their children (gVisor sandboxes,
# container processes) name the run dir too, or die with the shim
left=$(ours)
if [ -n "$left" ]; then
  log "killing leftover shims/sandboxes: $(echo $left)"
  for p in $left; do kill -KILL "$p" 2>/dev/null; done
  sleep 0.2
fi
for ns in "${NETNS[@]}"; do
  umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null
  rm -f "$ns" && log "removed pod netns $ns"
done
if [ -e "$RUN/bridge.created" ]; then
  created=$(head -n1 "$RUN/bridge.created")
  created=${created:-$BRIDGE} # an empty marker is from an up.sh that did not record the name
  ip link del "$created" 2>/dev/null && log "deleted bridge $created"
fi
# the CNI bridge plugin created it on the first pod with a pod network; its name is ours (up.sh's conflist)
if ip link show "$CRI_BRIDGE" >/dev/null 2>&1; then ip link del "$CRI_BRIDGE" && log "deleted bridge $CRI_BRIDGE"; fi

# 4. mounts under our dirs (deepest first), then the dirs themselves
awk -v r="$RUN/" -v l="$LIB/" '{ if (index($5, r) == 1 || index($5, l) == 1) print $5 }' /proc/self/mountinfo |
  sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
# --one-file-system: should a mount have survived, never delete through it
rm -rf --one-file-system "$RUN" "$LIB" || warn "could not remove all of $RUN $LIB"
if [ "$FAILED" = 1 ]; then
  log "down, with warnings"
  exit 1
fi
log "down"
