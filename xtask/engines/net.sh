# net.sh - sourced by up.sh and down.sh: the network names of the instance $NAME.
# The default instance keeps its historical names; any other name gets bridges and
# subnets derived from a checksum of the name, so a second instance (ENGINES_NAME=x)
# runs beside the first with no knobs. The ENGINES_* variables still override.
# shellcheck shell=bash
if [ "$NAME" = anyctr-engines ]; then
  _bridge=engines0 _bridge_cidr=172.31.250.1/24 _cri_bridge=engines-cri0 _cri_subnet=172.31.251.0/24
  _pod_bridge=engines-pod0 _pod_subnet=172.31.252.0/24
  _registry_port=5390
else
  # 0..119 -> two /24s in 172.30.0.0/16 (bridge names stay under IFNAMSIZ: 15 chars)
  _n=$(($(printf '%s' "$NAME" | cksum | cut -d' ' -f1) % 120))
  _bridge="eng$_n" _bridge_cidr="172.30.$((_n * 2)).1/24"
  _cri_bridge="engcri$_n" _cri_subnet="172.30.$((_n * 2 + 1)).0/24"
  _pod_bridge="engpod$_n" _pod_subnet="172.29.$_n.0/24"
  _registry_port=$((20000 + $(printf '%s' "$NAME" | cksum | cut -d' ' -f1) % 10000))
fi
BRIDGE=${ENGINES_BRIDGE:-$_bridge}
BRIDGE_CIDR=${ENGINES_BRIDGE_CIDR:-$_bridge_cidr}
CRI_BRIDGE=${ENGINES_CRI_BRIDGE:-$_cri_bridge}
CRI_SUBNET=${ENGINES_CRI_SUBNET:-$_cri_subnet}
PODMAN_BRIDGE=${ENGINES_PODMAN_BRIDGE:-$_pod_bridge}
PODMAN_SUBNET=${ENGINES_PODMAN_SUBNET:-$_pod_subnet}
# the loopback registry (docker-registry): dockerd takes 127.0.0.1:PORT as insecure on its own,
# containerd's CRI and podman are told it is plain HTTP
REGISTRY_ADDR=127.0.0.1:${ENGINES_REGISTRY_PORT:-$_registry_port}
