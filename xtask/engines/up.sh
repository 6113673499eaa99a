#!/usr/bin/env bash
# up.sh - start the real engines the tests run against, on a Debian 12 machine
# (root, no systemd, cgroup v1, no container registry). Run by `cargo xtask engines up`,
# which installs the Debian packages first and writes the env file afterwards.
#
#   containerd 1.6  CRI on (restrict_oom_score_adj); CRI runtime handlers runc, crun
#                   (the runc shim with BinaryName crun), runsc (gVisor) and rund
#                   (runtime_type io.containerd.rund.v2: a RunD stand-in that is gVisor
#                   with the rootfs overlaid in sandbox memory)
#   dockerd 20.10   on that containerd (namespace moby); runtimes runc, crun, runsc, rund
#   registry        Debian's docker-registry 2.8 on 127.0.0.1:PORT (net.sh), plain HTTP,
#                   seeded with $REGISTRY_ADDR/anyctr/busybox:local (busybox:local plus a
#                   label, so removing the pulled image never takes the test image with it);
#                   its address is written to $RUN/registry.addr for the env file
#
# Everything lives on dedicated paths (/run/$NAME, /var/lib/$NAME) so it never
# collides with daemons on the default sockets; down.sh stops only the daemons
# whose pids this script recorded. Idempotent: a live daemon from an earlier run
# is adopted, never restarted, and files it may be reading are only replaced
# (atomically) when their content changes.
# Images: busybox:local and localhost/pause:local, built by mkimage.py from
# Debian's busybox-static (nothing is pulled from the internet).
#
# Knobs: ENGINES_NAME (anyctr-engines)  ENGINES_SMOKE (1)
#        ENGINES_BRIDGE (engines0) ENGINES_BRIDGE_CIDR (172.31.250.1/24)          dockerd's bridge
#        ENGINES_CRI_BRIDGE (engines-cri0) ENGINES_CRI_SUBNET (172.31.251.0/24)   CNI bridge for CRI pod networks
#        (defaults for the default name; any other name gets its own, see net.sh)
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin   # ip, and daemons that land in sbin, even under a minimal PATH

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=${ENGINES_NAME:-anyctr-engines}
RUN=/run/$NAME
LIB=/var/lib/$NAME
LOGD=$RUN/log
BIN=$LIB/bin
PY=/usr/bin/python3 # Debian's python: pyenv's python3 on PATH may be anything
IMAGE=busybox:local
PAUSE=localhost/pause:local
CTD_SOCK=$RUN/containerd/containerd.sock
DOCKER_SOCK=$RUN/docker.sock
# shellcheck source=net.sh
. "$HERE/net.sh" # BRIDGE BRIDGE_CIDR CRI_BRIDGE CRI_SUBNET, distinct per instance name
SMOKE=${ENGINES_SMOKE:-1}

ACTION=up
. "$HERE/lib.sh"

begin_up containerd ctr containerd-shim-runc-v2 dockerd docker docker-registry runsc crun unshare busybox curl ip \
  setsid timeout flock $PY
mkdir -p "$RUN" "$LOGD" "$LIB" "$BIN/rund-bin" "$LIB/images" "$RUN/containerd" "$RUN/docker" "$LIB/cni/net.d" \
  "$RUN/registry" "$LIB/registry"

# daemons on the default sockets are someone else's: mention them, never touch them
for s in /run/containerd/containerd.sock /var/run/docker.sock /var/run/pouchd.sock; do
  if [ -S "$s" ]; then log "note: a daemon not started by xtask listens on $s (left alone)"; fi
done

# ---------------------------------------------------------------- images
if [ ! -s "$LIB/images/busybox.tar" ]; then $PY "$HERE/mkimage.py" "$LIB/images/busybox.tar" "$IMAGE" >/dev/null; fi
if [ ! -s "$LIB/images/pause.tar" ]; then
  # the CRI sandbox process: a shell that sleeps until told to stop
  $PY "$HERE/mkimage.py" "$LIB/images/pause.tar" "$PAUSE" --cmd '[]' \
    --entrypoint '["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $!; done"]' >/dev/null
fi

# ---------------------------------------------------------------- gVisor wrappers
# runsc behind containerd's runc shim (BinaryName): Debian ships no
# containerd-shim-runsc-v1, and through the runc shim runsc would put a CRI
# container into its pod's sandbox and StartContainer would hang; so the CRI
# sandbox annotations are dropped and every CRI container gets its own sandbox.
# --network=host: use the netns it is started in (runsc's netstack refuses the root netns).
put "$BIN/runsc-cri" 755 <<'EOF'
#!/bin/sh
bundle=""; prev=""; create=0; kill=0
for a in "$@"; do
  case "$prev" in --bundle|-b) bundle="$a";; esac
  case "$a" in create) create=1;; kill) kill=1;; --bundle=*) bundle="${a#--bundle=}";; esac
  prev="$a"
done
if [ "$kill" = 1 ]; then
  # the runc shim takes "container not running" for already-exited; runsc says
  # "sandbox is not running", which makes CRI's exit handling fail and retry
  # (StopPodSandbox then takes ~60s and the container stays RUNNING in CRI)
  out=$(/usr/bin/runsc --network=host "$@" 2>&1); rc=$?
  if [ $rc != 0 ] && printf '%s' "$out" | grep -q 'is not running'; then
    echo "container not running: $out" >&2; exit $rc
  fi
  [ -n "$out" ] && printf '%s\n' "$out" >&2
  exit $rc
fi
if [ "$create" = 1 ] && [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
  /usr/bin/python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p)); a = c.get("annotations") or {}
for k in ("io.kubernetes.cri.container-type", "io.kubernetes.cri.sandbox-id"):
    a.pop(k, None)
json.dump(c, open(p, "w"))
PY
fi
exec /usr/bin/runsc --network=host "$@"
EOF
# rund stand-in: runtime_type io.containerd.rund.v2 makes containerd run
# containerd-shim-rund-v2 from its PATH; that is the runc shim whose "runc" is
# gVisor with the rootfs overlaid in sandbox memory (the host cannot see the
# container's writes, as with a VM-isolated runtime).
put "$BIN/rund-bin/runc" 755 <<EOF
#!/bin/sh
exec $BIN/runsc-cri --overlay2=root:memory "\$@"
EOF
put "$BIN/containerd-shim-rund-v2" 755 <<EOF
#!/bin/sh
PATH=$BIN/rund-bin:\$PATH exec $(command -v containerd-shim-runc-v2) "\$@"
EOF

# crun (runc-class): crun 1.8 refuses a hybrid cgroup layout whose v2 tree has any
# controller ("cgroups in hybrid mode not supported"); on this kind of host hugetlb is
# not mounted as v1 and so shows up in /sys/fs/cgroup/unified. The wrapper runs crun
# in a private mount namespace without that (unused) v2 mount, so crun sees plain v1;
# the host's mounts are not touched. Where the v2 tree is empty crun runs as is.
put "$BIN/crun" 755 <<EOF
#!/bin/sh
if grep -q . /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then
  exec unshare --mount --propagation private sh -c 'umount -l /sys/fs/cgroup/unified && exec $(command -v crun) "\$@"' crun "\$@"
fi
exec $(command -v crun) "\$@"
EOF

# ---------------------------------------------------------------- containerd
CTR="ctr --address $CTD_SOCK"
put "$LIB/cni/net.d/10-$NAME.conflist" 644 <<EOF
{"cniVersion": "0.4.0", "name": "$NAME-cri",
 "plugins": [{"type": "bridge", "bridge": "$CRI_BRIDGE", "isGateway": true, "ipMasq": false,
              "ipam": {"type": "host-local", "ranges": [[{"subnet": "$CRI_SUBNET"}]],
                       "dataDir": "$LIB/cni/ipam"}}]}
EOF
# The rund handler has no options table: CRI would pass generic options the runc shim cannot decode.
put "$RUN/containerd/config.toml" 644 <<EOF
version = 2
root = "$LIB/containerd"
state = "$RUN/containerd"
[grpc]
  address = "$CTD_SOCK"
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$PAUSE"
    # root here lacks CAP_SYS_RESOURCE: the sandbox's oom_score_adj -998 fails otherwise
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "$LIB/cni/net.d"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
      # crun is runc-class: the runc shim drives it like runc
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun.options]
          BinaryName = "$BIN/crun"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc.options]
          BinaryName = "$BIN/runsc-cri"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.rund]
        runtime_type = "io.containerd.rund.v2"
    # the harness's registry speaks plain HTTP
    [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$REGISTRY_ADDR"]
      endpoint = ["http://$REGISTRY_ADDR"]
EOF
if alive "$RUN/containerd.pid" containerd; then
  log "containerd already running (pid $(cat "$RUN/containerd.pid")), adopted"
  if [ "$PUT_CHANGED" = 1 ]; then log "note: containerd config changed; it applies after \`cargo xtask engines down\` + up"; fi
else
  if [ -S "$CTD_SOCK" ] && timeout 5 $CTR version >/dev/null 2>&1; then
    die "a containerd not started by xtask serves $CTD_SOCK"
  fi
  rm -f "$CTD_SOCK"
  # 9>&-: a daemon that inherited the lock's fd would hold the lock for as long as it runs
  PATH="$BIN:$PATH" setsid containerd --config "$RUN/containerd/config.toml" </dev/null >>"$LOGD/containerd.log" 2>&1 9>&- &
  echo $! >"$RUN/containerd.pid"
  wait_for containerd 30 "$RUN/containerd.pid" containerd timeout 5 $CTR version
  log "containerd started (pid $(cat "$RUN/containerd.pid"))"
fi
grep -q 'io.containerd.grpc.v1 *cri .* ok' <<<"$(timeout 10 $CTR plugins ls 2>/dev/null)" ||
  die "containerd's CRI plugin is not ok (see $LOGD/containerd.log)"
for ns in k8s.io default; do
  grep -qx "docker.io/library/$IMAGE" <<<"$(timeout 30 $CTR -n $ns images ls -q)" ||
    timeout 60 $CTR -n $ns images import "$LIB/images/busybox.tar" >/dev/null
done
grep -qx "$PAUSE" <<<"$(timeout 30 $CTR -n k8s.io images ls -q)" ||
  timeout 60 $CTR -n k8s.io images import "$LIB/images/pause.tar" >/dev/null
log "containerd ready: CRI ok; images $IMAGE (k8s.io, default), $PAUSE (k8s.io)"

# ---------------------------------------------------------------- dockerd
if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
  # its own bridge, not docker0: another dockerd may own that one
  ip link add "$BRIDGE" type bridge
  # down.sh deletes exactly the bridge named here, never one it merely computes
  printf '%s\n' "$BRIDGE" >"$RUN/bridge.created"
  ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
  ip link set "$BRIDGE" up
fi
# "runc" is built in: dockerd exits at once if daemon.json redefines it
put "$RUN/docker/daemon.json" 644 <<EOF
{
  "hosts": ["unix://$DOCKER_SOCK"],
  "data-root": "$LIB/docker",
  "exec-root": "$RUN/docker/exec",
  "pidfile": "$RUN/docker/docker.pid",
  "containerd": "$CTD_SOCK",
  "bridge": "$BRIDGE",
  "iptables": false,
  "runtimes": {
    "crun": {"path": "$BIN/crun"},
    "runsc": {"path": "$BIN/runsc-cri"},
    "rund": {"path": "$BIN/runsc-cri", "runtimeArgs": ["--overlay2=root:memory"]}
  }
}
EOF
if alive "$RUN/dockerd.pid" dockerd; then
  log "dockerd already running (pid $(cat "$RUN/dockerd.pid")), adopted"
  if [ "$PUT_CHANGED" = 1 ]; then
    kill -HUP "$(cat "$RUN/dockerd.pid")" # reloads runtimes without a restart
    log "daemon.json changed: dockerd reloaded (SIGHUP)"
  fi
else
  if ping_sock "$DOCKER_SOCK"; then die "a dockerd not started by xtask serves $DOCKER_SOCK"; fi
  rm -f "$DOCKER_SOCK"
  setsid dockerd --config-file "$RUN/docker/daemon.json" </dev/null >>"$LOGD/dockerd.log" 2>&1 9>&- &
  echo $! >"$RUN/dockerd.pid"
  wait_for dockerd 60 "$RUN/dockerd.pid" dockerd ping_sock "$DOCKER_SOCK"
  log "dockerd started (pid $(cat "$RUN/dockerd.pid"))"
fi
DOCKER="docker -H unix://$DOCKER_SOCK"
timeout 30 $DOCKER image inspect "$IMAGE" >/dev/null 2>&1 || timeout 60 $DOCKER load -i "$LIB/images/busybox.tar" >/dev/null
log "dockerd ready: image $IMAGE"

# ---------------------------------------------------------------- registry
put "$RUN/registry/config.yml" 644 <<EOF
version: 0.1
storage:
  filesystem:
    rootdirectory: $LIB/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
registry_up() { curl -sf --max-time 2 "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; }
if alive "$RUN/registry.pid" docker-registry; then
  log "registry already running (pid $(cat "$RUN/registry.pid")), adopted"
else
  if registry_up; then die "a registry not started by xtask serves $REGISTRY_ADDR"; fi
  setsid docker-registry serve "$RUN/registry/config.yml" </dev/null >>"$LOGD/docker-registry.log" 2>&1 9>&- &
  echo $! >"$RUN/registry.pid"
  wait_for registry 30 "$RUN/registry.pid" docker-registry registry_up
  log "registry started (pid $(cat "$RUN/registry.pid")) on $REGISTRY_ADDR"
fi
SEED=$REGISTRY_ADDR/anyctr/busybox:local
if ! curl -sf --max-time 5 -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
  "http://$REGISTRY_ADDR/v2/anyctr/busybox/manifests/local"; then
  # the classic builder, no context: FROM and a label only
  printf 'FROM %s\nLABEL io.anyctr.registry-seed=1\n' "$IMAGE" |
    DOCKER_BUILDKIT=0 timeout 60 $DOCKER build -q -t "$SEED" - >/dev/null
  timeout 60 $DOCKER push "$SEED" >/dev/null
  # pulling it is the test: dockerd must not hold it already
  timeout 30 $DOCKER rmi "$SEED" >/dev/null
  log "registry seeded: $SEED"
fi
printf '%s\n' "$REGISTRY_ADDR" >"$RUN/registry.addr"

# ---------------------------------------------------------------- smoke
# One real container per runtime that matters: a broken runtime shows up here,
# with its name, instead of as a puzzling test failure later.
if [ "$SMOKE" = 1 ]; then
  for r in runc crun rund; do
    out=$(timeout 60 $DOCKER run --rm --label anyctr.test=xtask-smoke --runtime "$r" "$IMAGE" echo ok 2>&1) ||
      die "smoke: docker run --runtime $r failed: $out"
    [ "$out" = ok ] || die "smoke: docker run --runtime $r printed '$out', expected 'ok'"
  done
  log "smoke: docker run (runc, crun, rund) ok"
fi
log "ready"
