#!/usr/bin/env bash
# podman-up.sh - start the Podman API service the tests run against, beside up.sh's engines.
# Run by `cargo xtask engines up` after up.sh (and alone by `engines up --only podman`).
#
#   podman 4.3      `podman system service` on $RUN/podman.sock: the Docker-compatible and libpod
#                   APIs. Its own storage (--root $LIB/podman/storage, --runroot $RUN/podman/runroot)
#                   and its own config files under $RUN/podman, named by CONTAINERS_CONF,
#                   CONTAINERS_STORAGE_CONF and CONTAINERS_REGISTRIES_CONF (no system defaults):
#                   cgroupfs, file events, OCI runtime runc (Debian's crun 1.8 refuses this host's
#                   hybrid cgroups), CNI network $NAME-podman on its own bridge.
#
# Idempotent like up.sh: a live service from an earlier run (its pid file names a `podman`
# process) is adopted, never restarted. podman-down.sh stops only that pid.
# Images: busybox:local and localhost/pause:local from up.sh's tarballs (built here if absent).
#
# Knobs: ENGINES_NAME (anyctr-engines)  ENGINES_SMOKE (1)
#        ENGINES_PODMAN_BRIDGE (engines-pod0) ENGINES_PODMAN_SUBNET (172.31.252.0/24)   its CNI bridge
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=${ENGINES_NAME:-anyctr-engines}
RUN=/run/$NAME
LIB=/var/lib/$NAME
LOGD=$RUN/log
PY=/usr/bin/python3
IMAGE=busybox:local
PAUSE=localhost/pause:local
SOCK=$RUN/podman.sock
CONF=$RUN/podman
# shellcheck source=net.sh
. "$HERE/net.sh" # PODMAN_BRIDGE PODMAN_SUBNET, distinct per instance name
BRIDGE=$PODMAN_BRIDGE
SUBNET=$PODMAN_SUBNET
SMOKE=${ENGINES_SMOKE:-1}

ACTION=up
. "$HERE/lib.sh"

begin_up podman conmon runc curl setsid timeout flock $PY
mkdir -p "$RUN" "$LOGD" "$LIB/images" "$CONF/net.d" "$CONF/tmp" "$LIB/podman"
if [ -S /run/podman/podman.sock ]; then log "note: a podman not started by xtask listens on /run/podman/podman.sock (left alone)"; fi

if [ ! -s "$LIB/images/busybox.tar" ]; then $PY "$HERE/mkimage.py" "$LIB/images/busybox.tar" "$IMAGE" >/dev/null; fi
if [ ! -s "$LIB/images/pause.tar" ]; then
  $PY "$HERE/mkimage.py" "$LIB/images/pause.tar" "$PAUSE" --cmd '[]' \
    --entrypoint '["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $!; done"]' >/dev/null
fi

# root here lacks CAP_SYS_RESOURCE: podman's default nofile/nproc (1048576) cannot be set in
# containers, so the limits are the hard ones this process has (podman caps nproc at 32768).
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
nproc=$(ulimit -Hu)
{ [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; } && nproc=32768
put "$CONF/containers.conf" 644 <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$CONF/events.log"
tmp_dir = "$CONF/tmp"
runtime = "runc"
infra_image = "$PAUSE"
[network]
network_backend = "cni"
cni_plugin_dirs = ["/usr/lib/cni"]
network_config_dir = "$CONF/net.d"
default_network = "$NAME-podman"
EOF
put "$CONF/storage.conf" 644 <<EOF
[storage]
driver = "overlay"
graphroot = "$LIB/podman/storage"
runroot = "$CONF/runroot"
EOF
# No registry is reachable here; short names resolve to docker.io/library, as docker's do.
# the harness's registry (up.sh) speaks plain HTTP
put "$CONF/registries.conf" 644 <<EOF
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
[[registry]]
location = "$REGISTRY_ADDR"
insecure = true
EOF
put "$CONF/net.d/$NAME-podman.conflist" 644 <<EOF
{"cniVersion": "0.4.0", "name": "$NAME-podman",
 "plugins": [{"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false,
              "ipam": {"type": "host-local", "ranges": [[{"subnet": "$SUBNET"}]], "routes": [{"dst": "0.0.0.0/0"}],
                       "dataDir": "$LIB/podman/cni-ipam"}}]}
EOF
export CONTAINERS_CONF=$CONF/containers.conf CONTAINERS_STORAGE_CONF=$CONF/storage.conf
export CONTAINERS_REGISTRIES_CONF=$CONF/registries.conf

if alive "$RUN/podman.pid" podman; then
  log "podman service already running (pid $(cat "$RUN/podman.pid")), adopted"
else
  if ping_sock "$SOCK"; then die "a podman not started by xtask serves $SOCK"; fi
  rm -f "$SOCK"
  # 9>&-: a daemon that inherited the lock's fd would hold the lock for as long as it runs
  setsid podman --root "$LIB/podman/storage" --runroot "$CONF/runroot" --cgroup-manager cgroupfs \
    --events-backend file system service --time=0 "unix://$SOCK" </dev/null >>"$LOGD/podman.log" 2>&1 9>&- &
  echo $! >"$RUN/podman.pid"
  wait_for "podman service" 30 "$RUN/podman.pid" podman ping_sock "$SOCK"
  log "podman service started (pid $(cat "$RUN/podman.pid"))"
fi
PODMAN="podman --url unix://$SOCK"
timeout 30 $PODMAN image exists "docker.io/library/$IMAGE" || timeout 60 $PODMAN load -i "$LIB/images/busybox.tar" >/dev/null
timeout 30 $PODMAN image exists "$PAUSE" || timeout 60 $PODMAN load -i "$LIB/images/pause.tar" >/dev/null
log "podman ready: images $IMAGE, $PAUSE"

if [ "$SMOKE" = 1 ]; then
  out=$(timeout 60 $PODMAN run --rm --label anyctr.test=xtask-smoke "$IMAGE" echo ok 2>&1) ||
    die "smoke: podman run failed: $out"
  [ "$out" = ok ] || die "smoke: podman run printed '$out', expected 'ok'"
  log "smoke: podman run ok"
fi
