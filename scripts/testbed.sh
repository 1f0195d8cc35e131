#!/usr/bin/env bash
# Ferry's test bed: the real parts that the Docker and SSH test suites run against.
#
#   local engine   the machine's own dockerd on /var/run/docker.sock (started here if none answers)
#   remote host    OpenSSH sshd on 127.0.0.1:$FERRY_TESTBED_SSH_PORT whose sessions reach a SECOND
#                  dockerd (own data root, exec root, socket and bridge) through
#                  `SetEnv DOCKER_HOST=unix://...` in its sshd_config
#   registry       Debian's docker-registry on 127.0.0.1:$FERRY_TESTBED_REGISTRY_PORT
#   base image     node:20-bookworm-slim on both engines; built from the host's own node binary
#                  when it is absent (nothing can be pulled from the internet here)
#   npm base image ferry-testbed/node-npm:20 on the local engine: the base image plus the host's npm,
#                  /usr/bin/env, /bin/sh and NODE_EXTRA_CA_CERTS naming the host's CA bundle, so that a build
#                  step can `npm ci` from the registry (only the host's CA is trusted by the proxy)
#   swarm          the local engine as manager and $FERRY_TESTBED_SWARM_WORKERS worker engines, each
#                  in its own network namespace (nsenter --net dockerd) linked to the host bridge
#                  ferryswbr0; a TLS registry on the link's host end that every node trusts
#                  through /etc/docker/certs.d; the base image pushed there (swarm-up, swarm-down)
#
# Where things live (see `usage`):
#   $STATE_DIR  (/var/lib/ferry-testbed)  keys, sshd_config, known_hosts, logs, docker data root of
#                                         the second engine, registry storage, base image build
#   $RUN_DIR    (/run/ferry-testbed)      pid files, the second engine's socket and exec root
#   $JSON_PATH  (<repo>/.testbed/testbed.json)  connection details read by test/support/testbed.ts
# State is machine-wide on purpose: every clone on the machine (a developer's checkout, CI's fresh
# clone) shares one test bed; `up` from another clone finds it running and just writes its JSON.
set -euo pipefail
# No `grep -q` after a pipe here: it exits at the first match, the writer then dies of SIGPIPE, and
# pipefail turns a found line into a failure now and then (`grep … >/dev/null` reads to the end).
umask 022
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"
export LC_ALL=C

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

STATE_DIR="${FERRY_TESTBED_STATE:-/var/lib/ferry-testbed}"
RUN_DIR="${FERRY_TESTBED_RUN:-/run/ferry-testbed}"
JSON_PATH="${FERRY_TESTBED:-$REPO_ROOT/.testbed/testbed.json}"
SSH_PORT="${FERRY_TESTBED_SSH_PORT:-2222}"
REGISTRY_PORT="${FERRY_TESTBED_REGISTRY_PORT:-5000}"
BRIDGE="${FERRY_TESTBED_BRIDGE:-ferrybr0}"
BRIDGE_CIDR="${FERRY_TESTBED_BRIDGE_CIDR:-172.31.0.1/16}"
BASE_IMAGE="${FERRY_TESTBED_BASE_IMAGE:-node:20-bookworm-slim}"
NPM_BASE_IMAGE="${FERRY_TESTBED_NPM_BASE_IMAGE:-ferry-testbed/node-npm:20}"
# chromium (with a font, as recommends are not installed): the browser the UI's tests drive (test/ui).
APT_PACKAGES=(docker.io openssh-server openssh-client docker-registry iproute2 curl ca-certificates openssl util-linux chromium fonts-liberation)

LOCAL_SOCK=/var/run/docker.sock
LOCAL_PIDFILE="$RUN_DIR/local-dockerd.pid" # exists only when this script started the local engine
REMOTE_SOCK="$RUN_DIR/remote-docker.sock"
REMOTE_PIDFILE="$RUN_DIR/remote-dockerd.pid"
REMOTE_EXEC_ROOT="$RUN_DIR/remote-exec"
REMOTE_DATA_ROOT="$STATE_DIR/remote-docker"
# The 20.10 engine derives its ID from a trust key, /etc/docker/key.json by default: the second
# engine gets its own through its own daemon.json ("deprecated-key-path" is a config-file key only).
REMOTE_DAEMON_JSON="$STATE_DIR/remote-daemon.json"
REMOTE_KEY_JSON="$STATE_DIR/remote-docker-key.json"
SSH_DIR="$STATE_DIR/ssh"
SSHD_CONFIG="$SSH_DIR/sshd_config"
SSHD_PIDFILE="$RUN_DIR/sshd.pid"
HOST_KEY="$SSH_DIR/ssh_host_ed25519_key"
CLIENT_KEY="$SSH_DIR/client_ed25519"
AUTHORIZED_KEYS="$SSH_DIR/authorized_keys"
KNOWN_HOSTS="$SSH_DIR/known_hosts"
REGISTRY_DIR="$STATE_DIR/registry"
REGISTRY_CONFIG="$REGISTRY_DIR/config.yml"
REGISTRY_PIDFILE="$RUN_DIR/registry.pid"
REGISTRY_ADDR="127.0.0.1:$REGISTRY_PORT"
BASE_DIR="$STATE_DIR/base-image"
LOG_DIR="$STATE_DIR/logs"
# The swarm: the local engine as manager, worker engines each in its own network namespace, joined
# over a private /24 (a host bridge with one veth per worker), and a registry on the host end
# of that link that every node reaches under one name (TLS, trusted through /etc/docker/certs.d).
SWARM_WORKERS="${FERRY_TESTBED_SWARM_WORKERS:-2}"
SWARM_NET="${FERRY_TESTBED_SWARM_NET:-172.30.213}" # <net>.1 host end, <net>.1<i> worker i
SWARM_BRIDGE="${FERRY_TESTBED_SWARM_BRIDGE:-ferryswbr0}"
SWARM_HOST_ADDR="$SWARM_NET.1"
SWARM_REGISTRY_PORT="${FERRY_TESTBED_SWARM_REGISTRY_PORT:-5443}"
SWARM_REGISTRY_ADDR="$SWARM_HOST_ADDR:$SWARM_REGISTRY_PORT"
SWARM_DIR="$STATE_DIR/swarm"
SWARM_REGISTRY_DIR="$SWARM_DIR/registry"
SWARM_REGISTRY_CONFIG="$SWARM_REGISTRY_DIR/config.yml"
SWARM_REGISTRY_PIDFILE="$RUN_DIR/swarm-registry.pid"
SWARM_CERTS_DIR="/etc/docker/certs.d/$SWARM_REGISTRY_ADDR"
SWARM_BASE_REPO="$SWARM_REGISTRY_ADDR/ferry-testbed/base"
# The engine from Debian's docker.io is 20.10 (API 1.41); /usr/local/bin/docker may be a newer client.
DOCKER_API="${FERRY_TESTBED_DOCKER_API_VERSION:-1.41}"

usage() {
  cat <<EOF
Usage: bash scripts/testbed.sh up|down|status|env|swarm-up|swarm-down

Brings up (or down) the real parts Ferry's Docker and SSH tests run against, on this machine (root).

  up       install what is missing (apt: ${APT_PACKAGES[*]}),
           start the local Docker engine if $LOCAL_SOCK does not answer,
           a second "remote" engine on $REMOTE_SOCK (bridge $BRIDGE $BRIDGE_CIDR),
           sshd on 127.0.0.1:$SSH_PORT whose sessions reach the second engine,
           a registry on $REGISTRY_ADDR, and the base image $BASE_IMAGE on both engines;
           a swarm (the local engine as manager, $SWARM_WORKERS worker engines in network namespaces
           on $SWARM_BRIDGE $SWARM_HOST_ADDR/24, a registry on $SWARM_REGISTRY_ADDR they all reach);
           then write $JSON_PATH.  Idempotent: a second run only checks (a few seconds).
  swarm-up    only the swarm part (the rest must be up)
  swarm-down  only tear the swarm down: workers leave and stop, the local engine leaves,
              docker_gwbridge, namespaces, links, bridge and the swarm registry go
  down     tear the swarm down (as swarm-down), stop sshd, the registry, the second engine (and the local engine if 'up' started it),
           remove the bridge and the JSON file. Images and keys are kept for the next 'up'.
  status   say what is up; exit 1 if anything is down.
  env      print export lines (eval "\$(bash scripts/testbed.sh env)").

Environment (defaults):
  FERRY_TESTBED=$JSON_PATH
  FERRY_TESTBED_STATE=$STATE_DIR   keys, configs, logs, second engine's data root, registry data
  FERRY_TESTBED_RUN=$RUN_DIR       pid files, second engine's socket and exec root
  FERRY_TESTBED_SSH_PORT=$SSH_PORT  FERRY_TESTBED_REGISTRY_PORT=$REGISTRY_PORT
  FERRY_TESTBED_BRIDGE=$BRIDGE  FERRY_TESTBED_BRIDGE_CIDR=$BRIDGE_CIDR
  FERRY_TESTBED_BASE_IMAGE=$BASE_IMAGE
  FERRY_TESTBED_SWARM_WORKERS=$SWARM_WORKERS  FERRY_TESTBED_SWARM_NET=$SWARM_NET (a /24)
  FERRY_TESTBED_SWARM_BRIDGE=$SWARM_BRIDGE  FERRY_TESTBED_SWARM_REGISTRY_PORT=$SWARM_REGISTRY_PORT
Full reset: bash scripts/testbed.sh down && rm -rf $STATE_DIR
EOF
}

# ---------------------------------------------------------------------------------------------
# helpers

log() { printf '[testbed %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# docker CLI against one engine, pinned to the engine's API version.
dk() { DOCKER_HOST="unix://$LOCAL_SOCK" DOCKER_API_VERSION="$DOCKER_API" docker "$@"; }
dr() { DOCKER_HOST="unix://$REMOTE_SOCK" DOCKER_API_VERSION="$DOCKER_API" docker "$@"; }

ping_sock() { [[ -S $1 ]] && curl -fsS --max-time 3 --unix-socket "$1" http://localhost/_ping >/dev/null 2>&1; }
registry_answers() { curl -fsS --max-time 3 "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_of PIDFILE PATTERN: prints the pid when the file names a live process whose command line
# contains PATTERN (guards against stale files and reused pids).
pid_of() {
  local f=$1 pattern=$2 pid
  [[ -s $f ]] || return 1
  pid=$(tr -dc '0-9' <"$f")
  alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -F -- "$pattern" >/dev/null || return 1
  echo "$pid"
}

# wait_until SECONDS WHAT LOGFILE PID -- COMMAND...: poll COMMAND every 0.2 s; fail early, with
# the log's tail, if process PID has exited.
wait_until() {
  local timeout=$1 what=$2 logfile=$3 pid=$4
  shift 5
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      log "$what did not come up within ${timeout}s; last lines of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      exit 1
    fi
    if [[ -n $pid ]] && ! alive "$pid"; then
      sleep 0.5 # let its last words reach the log
      log "$what exited while starting; last lines of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}

# alive PID: the process exists and is not a zombie (state Z/X in /proc/PID/stat, read without
# touching the process's memory, unlike /proc/PID/cmdline).
alive() {
  local stat
  [[ -n $1 ]] && stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != [ZX] ]]
}

# clear_stale_pidfile PIDFILE WHAT: called once the file is known not to name the daemon. dockerd
# refuses to start while its pid file names any process in /proc (a reused pid, or the killed
# daemon lingering as a zombie: PID 1 here is not a quick reaper).
clear_stale_pidfile() {
  local f=$1 what=$2 pid
  [[ -e $f ]] || return 0
  pid=$(tr -dc '0-9' <"$f" 2>/dev/null || true)
  local why="empty"
  if [[ -n $pid ]]; then alive "$pid" && why="pid $pid is another process" || why="pid $pid is gone"; fi
  log "$what: removing stale pid file $f ($why)"
  rm -f "$f"
}

# clear_stale_containerd EXEC_ROOT WHAT: a dockerd killed with SIGKILL leaves its managed containerd's
# pid file behind (and the containerd itself usually dies with it, lingering as a zombie). The next
# dockerd then "reuses" that pid and times out waiting for a socket that never comes.
clear_stale_containerd() {
  local dir="$1/containerd" what=$2 pid
  [[ -e $dir/containerd.pid ]] || return 0
  pid=$(tr -dc '0-9' <"$dir/containerd.pid" 2>/dev/null || true)
  if [[ -n $pid ]] && alive "$pid"; then
    [[ -S $dir/containerd.sock ]] && return 0 # a live orphan with its socket: dockerd reconnects
    log "$what: killing leftover containerd (pid $pid) that has no socket"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  log "$what: removing stale containerd pid file $dir/containerd.pid"
  rm -f "$dir/containerd.pid"
}

# stop_pid PIDFILE PATTERN NAME [TIMEOUT]: SIGTERM, wait, then SIGKILL.
stop_pid() {
  local pidfile=$1 pattern=$2 name=$3 timeout=${4:-30} pid
  if pid=$(pid_of "$pidfile" "$pattern"); then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + timeout))
    while alive "$pid"; do
      if ((SECONDS >= deadline)); then
        log "$name did not stop within ${timeout}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
  else
    log "$name is not running"
  fi
  rm -f "$pidfile"
}

# start_bg PIDFILE LOGFILE COMMAND...: start a long-running server detached from this shell (own
# session, no inherited lock fd); sets STARTED_PID and, when PIDFILE is not empty, writes it there.
# setsid does not fork here (a background job is not a group leader), so $! is the server's pid.
start_bg() {
  local pidfile=$1 logfile=$2
  shift 2
  # Keep logs bounded: one generation of at most ~20 MB is kept aside.
  if [[ -f $logfile ]] && (($(stat -c %s "$logfile") > 20 * 1024 * 1024)); then mv -f "$logfile" "$logfile.1"; fi
  printf '\n===== %s: %s\n' "$(date -Is)" "$*" >>"$logfile"
  setsid "$@" >>"$logfile" 2>&1 </dev/null 9>&- &
  STARTED_PID=$!
  [[ -z $pidfile ]] || echo "$STARTED_PID" >"$pidfile"
}

ssh_remote() {
  ssh -F /dev/null -i "$CLIENT_KEY" -p "$SSH_PORT" \
    -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile="$KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null \
    -o ConnectTimeout=10 -o LogLevel=ERROR root@127.0.0.1 "$@"
}

need_root() { [[ $(id -u) == 0 ]] || die "the test bed needs root (it starts dockerd and sshd)"; }

lock() {
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/testbed.lock"
  if ! flock -n 9; then
    log "another testbed.sh holds $RUN_DIR/testbed.lock; waiting"
    flock -w 600 9 || die "could not take $RUN_DIR/testbed.lock"
  fi
}

# ---------------------------------------------------------------------------------------------
# up: each step checks first and only acts when needed

ensure_packages() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -e 'ok installed' >/dev/null || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    log "packages: all present (${APT_PACKAGES[*]})"
    return
  fi
  log "packages: installing ${missing[*]} (apt-get update first)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >"$LOG_DIR/apt.log" 2>&1 ||
    {
      tail -n 30 "$LOG_DIR/apt.log" >&2
      die "apt-get install failed (log: $LOG_DIR/apt.log)"
    }
  log "packages: installed"
}

ensure_local_engine() {
  if ping_sock "$LOCAL_SOCK"; then
    log "local engine: answers on $LOCAL_SOCK"
    return
  fi
  local logfile="$LOG_DIR/local-dockerd.log" pid
  if pid=$(pid_of "$LOCAL_PIDFILE" dockerd) || pid=$(pid_of /var/run/docker.pid dockerd); then
    log "local engine: a dockerd (pid $pid) is running but not answering yet; waiting"
  else
    rm -f "$LOCAL_PIDFILE"
    clear_stale_pidfile /var/run/docker.pid "local engine"
    clear_stale_containerd /var/run/docker "local engine"
    [[ -e $LOCAL_SOCK ]] && { log "local engine: removing stale socket $LOCAL_SOCK"; rm -f "$LOCAL_SOCK"; }
    log "local engine: starting dockerd (log: $logfile)"
    start_bg "$LOCAL_PIDFILE" "$logfile" dockerd --host "unix://$LOCAL_SOCK"
    pid=$STARTED_PID
  fi
  wait_until 90 "local dockerd" "$logfile" "$pid" -- ping_sock "$LOCAL_SOCK"
  log "local engine: up"
}

ensure_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "bridge: creating $BRIDGE"
    ip link add "$BRIDGE" type bridge
  fi
  if ! ip -4 addr show dev "$BRIDGE" | grep -F "inet $BRIDGE_CIDR " >/dev/null; then
    log "bridge: adding $BRIDGE_CIDR to $BRIDGE"
    ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  log "bridge: $BRIDGE $BRIDGE_CIDR is up"
}

ensure_remote_engine() {
  if ping_sock "$REMOTE_SOCK"; then
    log "remote engine: answers on $REMOTE_SOCK"
    return
  fi
  local logfile="$LOG_DIR/remote-dockerd.log" pid
  if pid=$(pid_of "$REMOTE_PIDFILE" "$REMOTE_SOCK"); then
    log "remote engine: dockerd started earlier (pid $pid) is not answering yet; waiting"
  else
    clear_stale_pidfile "$REMOTE_PIDFILE" "remote engine"
    clear_stale_containerd "$REMOTE_EXEC_ROOT" "remote engine"
    [[ -e $REMOTE_SOCK ]] && { log "remote engine: removing stale socket $REMOTE_SOCK"; rm -f "$REMOTE_SOCK"; }
    mkdir -p "$REMOTE_DATA_ROOT" "$REMOTE_EXEC_ROOT"
    write_if_changed "$REMOTE_DAEMON_JSON" "{ \"deprecated-key-path\": \"$REMOTE_KEY_JSON\" }" || true
    log "remote engine: starting a second dockerd on $REMOTE_SOCK (log: $logfile)"
    # dockerd writes --pidfile itself (and refuses to start if it names a live process).
    start_bg "" "$logfile" dockerd \
      --host "unix://$REMOTE_SOCK" \
      --data-root "$REMOTE_DATA_ROOT" \
      --exec-root "$REMOTE_EXEC_ROOT" \
      --pidfile "$REMOTE_PIDFILE" \
      --bridge "$BRIDGE" \
      --iptables=false \
      --config-file "$REMOTE_DAEMON_JSON"
    pid=$STARTED_PID
  fi
  wait_until 90 "remote dockerd" "$logfile" "$pid" -- ping_sock "$REMOTE_SOCK"
  log "remote engine: up"
}

write_if_changed() { # PATH CONTENT: returns 0 when the file changed
  local path=$1 content=$2
  if [[ -f $path ]] && [[ "$(cat "$path")" == "$content" ]]; then return 1; fi
  printf '%s\n' "$content" >"$path"
  return 0
}

ensure_sshd() {
  mkdir -p "$SSH_DIR"
  chmod 700 "$SSH_DIR"
  if [[ ! -f $HOST_KEY ]]; then
    log "sshd: generating host key $HOST_KEY"
    ssh-keygen -q -t ed25519 -N '' -C ferry-testbed-host -f "$HOST_KEY"
  fi
  if [[ ! -f $CLIENT_KEY ]]; then
    log "sshd: generating client key $CLIENT_KEY"
    ssh-keygen -q -t ed25519 -N '' -C ferry-testbed-client -f "$CLIENT_KEY"
  fi
  write_if_changed "$AUTHORIZED_KEYS" "$(cat "$CLIENT_KEY.pub")" || true
  write_if_changed "$KNOWN_HOSTS" "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$HOST_KEY.pub")" || true
  local config_changed=0
  write_if_changed "$SSHD_CONFIG" "# Written by scripts/testbed.sh: the test bed's \"remote host\".
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $HOST_KEY
AuthorizedKeysFile $AUTHORIZED_KEYS
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $SSHD_PIDFILE
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
StreamLocalBindUnlink yes
MaxSessions 64
MaxStartups 64:30:128
SetEnv DOCKER_HOST=unix://$REMOTE_SOCK DOCKER_API_VERSION=$DOCKER_API
Subsystem sftp internal-sftp" && config_changed=1
  mkdir -p /run/sshd
  chmod 755 /run/sshd
  /usr/sbin/sshd -t -f "$SSHD_CONFIG" || die "sshd -t rejected $SSHD_CONFIG"

  local logfile="$LOG_DIR/sshd.log" pattern="sshd -D -e -f $SSHD_CONFIG" pid=""
  if pid_of "$SSHD_PIDFILE" "$pattern" >/dev/null; then
    if ((config_changed)); then
      log "sshd: config changed; restarting"
      stop_pid "$SSHD_PIDFILE" "$pattern" sshd 10
    elif port_open "$SSH_PORT"; then
      log "sshd: running on 127.0.0.1:$SSH_PORT"
      return
    fi
  fi
  if ! pid=$(pid_of "$SSHD_PIDFILE" "$pattern"); then
    rm -f "$SSHD_PIDFILE"
    port_open "$SSH_PORT" && die "127.0.0.1:$SSH_PORT is taken by another process (set FERRY_TESTBED_SSH_PORT)"
    log "sshd: starting on 127.0.0.1:$SSH_PORT (log: $logfile)"
    # sshd writes its PidFile itself once its socket is bound; $! is the same pid (setsid does not fork).
    start_bg "" "$logfile" /usr/sbin/sshd -D -e -f "$SSHD_CONFIG"
    pid=$STARTED_PID
  fi
  wait_until 30 "sshd" "$logfile" "$pid" -- port_open "$SSH_PORT"
  log "sshd: up"
}

ensure_registry() {
  mkdir -p "$REGISTRY_DIR/data"
  write_if_changed "$REGISTRY_CONFIG" "# Written by scripts/testbed.sh
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR" || true
  local pattern="docker-registry serve $REGISTRY_CONFIG"
  if registry_answers; then
    log "registry: answers on http://$REGISTRY_ADDR/v2/"
    return
  fi
  local logfile="$LOG_DIR/registry.log" pid
  if ! pid=$(pid_of "$REGISTRY_PIDFILE" "$pattern"); then
    rm -f "$REGISTRY_PIDFILE"
    port_open "$REGISTRY_PORT" && die "$REGISTRY_ADDR is taken by something that is not a registry (set FERRY_TESTBED_REGISTRY_PORT)"
    log "registry: starting docker-registry on $REGISTRY_ADDR (log: $logfile)"
    start_bg "$REGISTRY_PIDFILE" "$logfile" docker-registry serve "$REGISTRY_CONFIG"
    pid=$STARTED_PID
  fi
  wait_until 30 "registry" "$logfile" "$pid" -- registry_answers
  log "registry: up"
}

# Build a docker-load archive of an image made of the host's node binary and the libraries it
# links. Hand-written (not `docker import`) so that the image config, and with it the image ID,
# is the same on every rebuild: `docker import` stamps the current time into the config.
build_base_image_archive() {
  local node_bin root img arch node_version
  node_bin=$(readlink -f "$(command -v node)") || die "no node on PATH to build $BASE_IMAGE from"
  node_version=$("$node_bin" -p process.version)
  arch=$(dpkg --print-architecture)
  root="$BASE_DIR/rootfs"
  img="$BASE_DIR/image"
  log "base image: building $BASE_IMAGE from $node_bin ($node_version) and the libraries ldd lists"
  rm -rf "$root" "$img"
  mkdir -p "$root/usr/local/bin" "$root/usr/bin" "$root/etc" "$root/app" "$img"
  install -m 0755 "$node_bin" "$root/usr/local/bin/node"
  ln "$root/usr/local/bin/node" "$root/usr/bin/node" # a hard link: stored once in the layer
  local lib
  while read -r lib; do
    cp -L --parents "$lib" "$root/"
  done < <(ldd "$node_bin" | grep -o '/[^ ]*' | sort -u)
  mkdir -m 1777 "$root/tmp"
  chmod 1777 "$root/tmp"
  mkdir -m 0700 "$root/root"
  echo 'root:x:0:0:root:/root:/usr/sbin/nologin' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  if [[ -d /etc/ssl/certs ]]; then
    mkdir -p "$root/etc/ssl"
    cp -rL /etc/ssl/certs "$root/etc/ssl/certs"
  fi
  # Deterministic layer: sorted names, fixed times and owners.
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
    -C "$root" -cf "$img/layer.tar" .
  local diff_id config config_id
  diff_id=$(sha256sum "$img/layer.tar" | cut -d' ' -f1)
  mkdir -p "$img/$diff_id"
  mv "$img/layer.tar" "$img/$diff_id/layer.tar"
  config=$(printf '{"architecture":"%s","os":"linux","created":"1970-01-01T00:00:00Z","author":"ferry scripts/testbed.sh","config":{"Env":["PATH=/usr/local/bin:/usr/bin:/bin"],"Cmd":["node"],"WorkingDir":"/app","Labels":{"org.ferry.testbed.base-image":"host-node","org.ferry.testbed.node-version":"%s"}},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/testbed.sh: host node %s and the libraries ldd lists"}]}' \
    "$arch" "$node_version" "$diff_id" "$node_version")
  config_id=$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)
  printf '%s' "$config" >"$img/$config_id.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' \
    "$config_id" "$BASE_IMAGE" "$diff_id" >"$img/manifest.json"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
    -C "$img" -cf "$BASE_DIR/base-image.tar" .
  rm -rf "$root" "$img"
  log "base image: archive $BASE_DIR/base-image.tar, image ID sha256:${config_id:0:12} ($(du -m "$BASE_DIR/base-image.tar" | cut -f1) MB)"
}

image_id() { "$1" image inspect -f '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true; }

ensure_base_image() {
  local local_id remote_id
  local_id=$(image_id dk)
  if [[ -z $local_id ]]; then
    log "base image: $BASE_IMAGE is absent on the local engine (it cannot be pulled here)"
    build_base_image_archive
    dk load -q -i "$BASE_DIR/base-image.tar" >/dev/null
    local_id=$(image_id dk)
    [[ -n $local_id ]] || die "loading $BASE_DIR/base-image.tar did not produce $BASE_IMAGE"
    log "base image: loaded into the local engine as ${local_id:0:19}"
  else
    log "base image: $BASE_IMAGE on the local engine is ${local_id:0:19}"
  fi
  remote_id=$(image_id dr)
  if [[ $remote_id != "$local_id" ]]; then
    log "base image: copying $BASE_IMAGE to the remote engine (docker save | docker load)"
    dk save "$BASE_IMAGE" | dr load -q >/dev/null
    remote_id=$(image_id dr)
    [[ $remote_id == "$local_id" ]] || die "the remote engine has $BASE_IMAGE as '$remote_id', expected $local_id"
  fi
  log "base image: same ID on both engines"
  local v_local v_remote
  v_local=$(dk run --rm "$BASE_IMAGE" node -e 'console.log(process.version)') ||
    die "docker run $BASE_IMAGE failed on the local engine"
  v_remote=$(dr run --rm "$BASE_IMAGE" node -e 'console.log(process.version)') ||
    die "docker run $BASE_IMAGE failed on the remote engine"
  log "base image: node $v_local runs on the local engine, $v_remote on the remote engine"
}

# The base image plus the host's npm (and /usr/bin/env, which npm's launcher needs, and /bin/sh,
# which runs install scripts) and the host's
# CA bundle named by NODE_EXTRA_CA_CERTS: builds on it reach the npm registry through this
# machine's proxy. The test bed's business only: Ferry never adds CAs to images.
ensure_npm_base_image() {
  local npm_dir npm_version base_id want have ctx
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")") ||
    die "no npm on PATH to build $NPM_BASE_IMAGE from"
  [[ -f $npm_dir/package.json ]] || die "npm at $npm_dir has no package.json"
  npm_version=$(node -p "require('$npm_dir/package.json').version")
  base_id=$(image_id dk)
  want="$base_id npm-$npm_version sh"
  have=$(dk image inspect -f '{{index .Config.Labels "org.ferry.testbed.npm-base"}}' "$NPM_BASE_IMAGE" 2>/dev/null || true)
  if [[ $have == "$want" ]]; then
    log "npm base image: $NPM_BASE_IMAGE is up to date (npm $npm_version)"
    return
  fi
  log "npm base image: building $NPM_BASE_IMAGE from $BASE_IMAGE, npm $npm_version ($npm_dir) and the host's CA bundle"
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] || die "no /etc/ssl/certs/ca-certificates.crt to give $NPM_BASE_IMAGE"
  ctx="$BASE_DIR/npm-image"
  rm -rf "$ctx"
  mkdir -p "$ctx/root/usr/lib/node_modules" "$ctx/root/usr/local/bin" "$ctx/root/usr/bin" "$ctx/root/etc/ssl/certs"
  cp -a "$npm_dir" "$ctx/root/usr/lib/node_modules/npm"
  ln -s ../../lib/node_modules/npm/bin/npm-cli.js "$ctx/root/usr/local/bin/npm"
  ln -s ../../lib/node_modules/npm/bin/npx-cli.js "$ctx/root/usr/local/bin/npx"
  cp -L /usr/bin/env "$ctx/root/usr/bin/env"
  # npm runs packages' install scripts with sh, as a real node image lets it (dash: links only libc).
  mkdir -p "$ctx/root/bin"
  cp -L /bin/sh "$ctx/root/bin/sh"
  cp -L /etc/ssl/certs/ca-certificates.crt "$ctx/root/etc/ssl/certs/ca-certificates.crt"
  printf 'FROM %s\nCOPY root/ /\nENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt\nLABEL org.ferry.testbed.npm-base="%s"\n' \
    "$BASE_IMAGE" "$want" >"$ctx/Dockerfile"
  local old_id
  old_id=$(dk image inspect -f '{{.Id}}' "$NPM_BASE_IMAGE" 2>/dev/null || true)
  dk build -q -t "$NPM_BASE_IMAGE" "$ctx" >/dev/null || die "building $NPM_BASE_IMAGE failed"
  rm -rf "$ctx"
  # The previous build, now untagged; kept when something still uses it.
  [[ -z $old_id ]] || dk rmi "$old_id" >/dev/null 2>&1 || true
  dk run --rm --entrypoint npm "$NPM_BASE_IMAGE" --version >/dev/null ||
    die "npm does not run in $NPM_BASE_IMAGE"
  log "npm base image: $NPM_BASE_IMAGE built (npm $npm_version)"
}

check_remote_session() {
  local out remote_id local_id
  local_id=$(dk info -f '{{.ID}}')
  remote_id=$(dr info -f '{{.ID}}')
  [[ $local_id != "$remote_id" ]] || die "the two engines report the same ID ($local_id)"
  out=$(ssh_remote 'docker info -f "{{.ID}}"') || die "ssh to root@127.0.0.1:$SSH_PORT failed (log: $LOG_DIR/sshd.log)"
  [[ $out == "$remote_id" ]] || die "an ssh session reaches engine '$out', expected the remote engine $remote_id"
  log "ssh: root@127.0.0.1:$SSH_PORT reaches the remote engine (ID ${remote_id:0:14}…, local ${local_id:0:14}…)"
}

# ---------------------------------------------------------------------------------------------
# the swarm: worker engines in network namespaces, joined to the local engine as manager

# Per worker i (1..N): namespace, veth ends, address, engine files.
w_ns() { echo "ferry-sw$1"; }
w_host_if() { echo "fsw$1h"; }
w_ns_if() { echo "fsw$1n"; }
w_addr() { echo "$SWARM_NET.1$1"; }
w_sock() { echo "$RUN_DIR/swarm-w$1.sock"; }
w_pidfile() { echo "$RUN_DIR/swarm-w$1-dockerd.pid"; }
w_exec_root() { echo "$RUN_DIR/sw$1"; } # short: containerd's socket path lives under it
w_data_root() { echo "$SWARM_DIR/worker$1/docker"; }
w_daemon_json() { echo "$SWARM_DIR/worker$1/daemon.json"; }
w_key_json() { echo "$SWARM_DIR/worker$1/key.json"; }
w_bridge() { echo "fswdocker$1"; } # the worker engine's own bridge, inside its namespace
w_bridge_cidr() { echo "172.29.$1.1/24"; }
dw() { DOCKER_HOST="unix://$(w_sock "$1")" DOCKER_API_VERSION="$DOCKER_API" docker "${@:2}"; }
in_ns() { nsenter --net="/var/run/netns/$1" "${@:2}"; }
swarm_registry_answers() { curl -fsS --max-time 3 --cacert "$SWARM_DIR/registry.crt" "https://$SWARM_REGISTRY_ADDR/v2/" >/dev/null 2>&1; }

ensure_swarm_link() {
  if ! ip link show "$SWARM_BRIDGE" >/dev/null 2>&1; then
    log "swarm: creating bridge $SWARM_BRIDGE $SWARM_HOST_ADDR/24"
    ip link add "$SWARM_BRIDGE" type bridge
  fi
  ip addr show dev "$SWARM_BRIDGE" | grep -F "inet $SWARM_HOST_ADDR/24" >/dev/null || ip addr add "$SWARM_HOST_ADDR/24" dev "$SWARM_BRIDGE"
  ip link set "$SWARM_BRIDGE" up
  local i ns
  for ((i = 1; i <= SWARM_WORKERS; i++)); do
    ns=$(w_ns "$i")
    [[ -e /var/run/netns/$ns ]] || {
      log "swarm: creating network namespace $ns"
      ip netns add "$ns"
    }
    if ! ip link show "$(w_host_if "$i")" >/dev/null 2>&1; then
      log "swarm: linking $ns to $SWARM_BRIDGE ($(w_addr "$i")/24)"
      in_ns "$ns" ip link del "$(w_ns_if "$i")" 2>/dev/null || true
      ip link add "$(w_host_if "$i")" type veth peer name "$(w_ns_if "$i")"
      ip link set "$(w_ns_if "$i")" netns "$ns"
    fi
    ip link set "$(w_host_if "$i")" master "$SWARM_BRIDGE" up
    in_ns "$ns" ip addr show dev "$(w_ns_if "$i")" | grep -F "inet $(w_addr "$i")/24" >/dev/null ||
      in_ns "$ns" ip addr add "$(w_addr "$i")/24" dev "$(w_ns_if "$i")"
    in_ns "$ns" ip link set lo up
    in_ns "$ns" ip link set "$(w_ns_if "$i")" up
    # No default route on purpose: nothing a worker does leaves the machine (no Docker Hub lookups).
    if ! in_ns "$ns" ip link show "$(w_bridge "$i")" >/dev/null 2>&1; then
      in_ns "$ns" ip link add "$(w_bridge "$i")" type bridge
      in_ns "$ns" ip addr add "$(w_bridge_cidr "$i")" dev "$(w_bridge "$i")"
    fi
    in_ns "$ns" ip link set "$(w_bridge "$i")" up
  done
}

# The swarm's registry: a second docker-registry, on the host end of the link, with TLS, so that
# every engine (the local one included, whose flags cannot change while others use it) trusts it
# through /etc/docker/certs.d, read at each pull and push without a restart.
ensure_swarm_registry() {
  mkdir -p "$SWARM_REGISTRY_DIR/data"
  local crt="$SWARM_DIR/registry.crt" key="$SWARM_DIR/registry.key"
  if [[ ! -f $crt ]] || ! openssl x509 -in "$crt" -noout -checkend 86400 >/dev/null 2>&1 ||
    ! openssl x509 -in "$crt" -noout -text | grep -F "IP Address:$SWARM_HOST_ADDR" >/dev/null; then
    log "swarm registry: making a self-signed certificate for $SWARM_HOST_ADDR"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ferry-testbed-swarm-registry" \
      -addext "subjectAltName=IP:$SWARM_HOST_ADDR" -keyout "$key" -out "$crt" >/dev/null 2>&1 ||
      die "openssl could not make $crt"
    stop_pid "$SWARM_REGISTRY_PIDFILE" "docker-registry serve $SWARM_REGISTRY_CONFIG" "swarm registry" 10
  fi
  mkdir -p "$SWARM_CERTS_DIR"
  cmp -s "$crt" "$SWARM_CERTS_DIR/ca.crt" || cp "$crt" "$SWARM_CERTS_DIR/ca.crt"
  write_if_changed "$SWARM_REGISTRY_CONFIG" "# Written by scripts/testbed.sh: the swarm's registry
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $SWARM_REGISTRY_DIR/data
  delete:
    enabled: true
http:
  addr: $SWARM_REGISTRY_ADDR
  tls:
    certificate: $crt
    key: $key" || true
  if swarm_registry_answers; then
    log "swarm registry: answers on https://$SWARM_REGISTRY_ADDR/v2/"
    return
  fi
  local logfile="$LOG_DIR/swarm-registry.log" pid pattern="docker-registry serve $SWARM_REGISTRY_CONFIG"
  if ! pid=$(pid_of "$SWARM_REGISTRY_PIDFILE" "$pattern"); then
    rm -f "$SWARM_REGISTRY_PIDFILE"
    log "swarm registry: starting docker-registry on $SWARM_REGISTRY_ADDR (log: $logfile)"
    start_bg "$SWARM_REGISTRY_PIDFILE" "$logfile" docker-registry serve "$SWARM_REGISTRY_CONFIG"
    pid=$STARTED_PID
  fi
  wait_until 30 "swarm registry" "$logfile" "$pid" -- swarm_registry_answers
  log "swarm registry: up"
}

ensure_swarm_workers() {
  local i ns sock pidfile exec_root logfile pid
  for ((i = 1; i <= SWARM_WORKERS; i++)); do
    ns=$(w_ns "$i") sock=$(w_sock "$i") pidfile=$(w_pidfile "$i") exec_root=$(w_exec_root "$i")
    if ping_sock "$sock"; then
      log "swarm worker $i: engine answers on $sock"
      continue
    fi
    logfile="$LOG_DIR/swarm-w$i-dockerd.log"
    if pid=$(pid_of "$pidfile" "$sock"); then
      log "swarm worker $i: dockerd (pid $pid) is not answering yet; waiting"
    else
      clear_stale_pidfile "$pidfile" "swarm worker $i"
      clear_stale_containerd "$exec_root" "swarm worker $i"
      rm -f "$sock"
      mkdir -p "$(w_data_root "$i")" "$exec_root"
      write_if_changed "$(w_daemon_json "$i")" "{ \"deprecated-key-path\": \"$(w_key_json "$i")\" }" || true
      log "swarm worker $i: starting dockerd in namespace $ns on $sock (log: $logfile)"
      # nsenter --net, not `ip netns exec`: that remounts /sys and hides the cgroup mounts.
      start_bg "" "$logfile" nsenter --net="/var/run/netns/$ns" dockerd \
        --host "unix://$sock" \
        --data-root "$(w_data_root "$i")" \
        --exec-root "$exec_root" \
        --pidfile "$pidfile" \
        --bridge "$(w_bridge "$i")" \
        --iptables=false \
        --insecure-registry "$SWARM_REGISTRY_ADDR" \
        --config-file "$(w_daemon_json "$i")"
      pid=$STARTED_PID
    fi
    wait_until 90 "swarm worker $i dockerd" "$logfile" "$pid" -- ping_sock "$sock"
    log "swarm worker $i: engine up"
  done
}

manager_state() { dk info -f '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeAddr}}'; }

ensure_swarm_manager() {
  local state
  state=$(manager_state)
  case $state in
    "active true $SWARM_HOST_ADDR") log "swarm: the local engine manages the swarm ($SWARM_HOST_ADDR:2377)" ;;
    inactive*)
      log "swarm: the local engine starts a swarm on $SWARM_HOST_ADDR:2377"
      dk swarm init --advertise-addr "$SWARM_HOST_ADDR" --listen-addr "$SWARM_HOST_ADDR:2377" >/dev/null
      ;;
    error* | pending*)
      # Its swarm could not come back (the link's address was missing when dockerd started, after a
      # reboot): start a new one; the workers notice and join it again below.
      log "swarm: the local engine's swarm is in state '$state'; leaving it and starting a new one"
      dk swarm leave --force >/dev/null 2>&1 || true
      dk swarm init --advertise-addr "$SWARM_HOST_ADDR" --listen-addr "$SWARM_HOST_ADDR:2377" >/dev/null
      ;;
    *) die "the local engine is in another swarm ($state); leave it (docker swarm leave --force) or run swarm-down" ;;
  esac
  dk node update --label-add ferry.testbed.node=manager "$(dk info -f '{{.Swarm.NodeID}}')" >/dev/null
}

ensure_swarm_joined() {
  local i token node_id cluster state
  cluster=$(dk info -f '{{.Swarm.Cluster.ID}}')
  token=$(dk swarm join-token -q worker)
  for ((i = 1; i <= SWARM_WORKERS; i++)); do
    state=$(dw "$i" info -f '{{.Swarm.LocalNodeState}} {{.Swarm.Cluster.ID}}' 2>/dev/null || true)
    node_id=$(dw "$i" info -f '{{.Swarm.NodeID}}')
    if [[ $state == active* ]] && [[ -n $node_id ]] &&
      [[ $(dk node inspect -f '{{.Status.State}}' "$node_id" 2>/dev/null) == ready ]]; then
      log "swarm worker $i: node ${node_id:0:12} is ready"
    else
      if [[ $state != inactive* ]]; then
        log "swarm worker $i: in state '$state', not a ready node of swarm ${cluster:0:12}; leaving it"
        dw "$i" swarm leave --force >/dev/null 2>&1 || true
        [[ -z $node_id ]] || dk node rm --force "$node_id" >/dev/null 2>&1 || true
      fi
      log "swarm worker $i: joining $SWARM_HOST_ADDR:2377 as $(w_addr "$i")"
      dw "$i" swarm join --token "$token" --advertise-addr "$(w_addr "$i")" \
        --listen-addr "$(w_addr "$i"):2377" "$SWARM_HOST_ADDR:2377" >/dev/null
      node_id=$(dw "$i" info -f '{{.Swarm.NodeID}}')
      local deadline=$((SECONDS + 60))
      until [[ $(dk node inspect -f '{{.Status.State}}' "$node_id" 2>/dev/null) == ready ]]; do
        ((SECONDS < deadline)) || die "swarm worker $i (node $node_id) is not ready after 60s"
        sleep 0.5
      done
      log "swarm worker $i: node ${node_id:0:12} joined and ready"
    fi
    # Both nodes report the same hostname here: labels tell them apart.
    dk node update --label-add "ferry.testbed.node=worker$i" "$node_id" >/dev/null
  done
  # Nodes of earlier workers (left, then joined again as new nodes) are removed from the listing.
  local down
  for down in $(dk node ls -q --filter role=worker); do
    [[ $(dk node inspect -f '{{.Status.State}}' "$down") == down ]] && dk node rm --force "$down" >/dev/null 2>&1 || true
  done
}

# The base image in the swarm's registry, so that every node can pull it (nothing else can be).
ensure_swarm_base_image() {
  local id ref
  id=$(image_id dk)
  ref="$SWARM_BASE_REPO:${id#sha256:}"
  ref=${ref:0:$((${#SWARM_BASE_REPO} + 13))}
  if [[ -z $(swarm_base_digest) ]] || [[ $(dk image inspect -f '{{.Id}}' "$ref" 2>/dev/null) != "$id" ]]; then
    log "swarm: pushing $BASE_IMAGE to the swarm registry as $ref"
    dk tag "$BASE_IMAGE" "$ref"
    dk push -q "$ref" >/dev/null || die "docker push $ref failed (log: $LOG_DIR/swarm-registry.log)"
    dk tag "$ref" "$SWARM_BASE_REPO:latest"
    dk push -q "$SWARM_BASE_REPO:latest" >/dev/null
  fi
  [[ -n $(swarm_base_digest) ]] || die "the swarm registry has no digest for $ref"
  log "swarm: base image is $SWARM_BASE_REPO@$(swarm_base_digest)"
}

swarm_base_digest() {
  dk image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "$BASE_IMAGE" 2>/dev/null |
    grep -F "$SWARM_BASE_REPO@" | head -n1 | cut -d@ -f2 || true
}

ensure_swarm() {
  ensure_swarm_link
  ensure_swarm_registry
  ensure_swarm_workers
  ensure_swarm_manager
  ensure_swarm_joined
  ensure_swarm_base_image
}

# Prints the swarm's part of the JSON (empty when the local engine manages no swarm).
swarm_json() {
  [[ $(manager_state) == "active true $SWARM_HOST_ADDR" ]] || return 0
  local i workers="" sep=""
  for ((i = 1; i <= SWARM_WORKERS; i++)); do
    ping_sock "$(w_sock "$i")" || continue
    workers+="$sep{\"name\":\"worker$i\",\"netns\":\"$(w_ns "$i")\",\"address\":\"$(w_addr "$i")\",\"socketPath\":\"$(w_sock "$i")\",\"nodeId\":\"$(dw "$i" info -f '{{.Swarm.NodeID}}')\",\"engineId\":\"$(dw "$i" info -f '{{.ID}}')\",\"label\":\"worker$i\"}"
    sep=","
  done
  printf '{"managerSocketPath":"%s","managerNodeId":"%s","managerAddress":"%s","clusterId":"%s","workers":[%s],"nodeLabel":"ferry.testbed.node","registry":{"address":"%s","url":"https://%s","caPath":"%s","storageDir":"%s"},"baseImage":"%s@%s","bridge":{"name":"%s","cidr":"%s/24"}}' \
    "$LOCAL_SOCK" "$(dk info -f '{{.Swarm.NodeID}}')" "$SWARM_HOST_ADDR" "$(dk info -f '{{.Swarm.Cluster.ID}}')" "$workers" \
    "$SWARM_REGISTRY_ADDR" "$SWARM_REGISTRY_ADDR" "$SWARM_DIR/registry.crt" "$SWARM_REGISTRY_DIR/data" \
    "$SWARM_BASE_REPO" "$(swarm_base_digest)" "$SWARM_BRIDGE" "$SWARM_NET.0"
}

cmd_swarm_down() {
  local i ns
  for ((i = 1; i <= SWARM_WORKERS; i++)); do
    if ping_sock "$(w_sock "$i")"; then
      log "swarm worker $i: leaving the swarm"
      dw "$i" swarm leave --force >/dev/null 2>&1 || true
    fi
    stop_pid "$(w_pidfile "$i")" "$(w_sock "$i")" "swarm worker $i dockerd" 60
    rm -f "$(w_sock "$i")"
  done
  if ping_sock "$LOCAL_SOCK" && [[ $(manager_state) == "active true $SWARM_HOST_ADDR" ]]; then
    log "swarm: the local engine leaves the swarm"
    dk swarm leave --force >/dev/null
  fi
  # `swarm leave --force` leaves docker_gwbridge behind on the manager.
  if ping_sock "$LOCAL_SOCK" && dk network inspect docker_gwbridge >/dev/null 2>&1 &&
    [[ $(dk info -f '{{.Swarm.LocalNodeState}}') == inactive ]]; then
    log "swarm: removing the local engine's docker_gwbridge network"
    dk network rm docker_gwbridge >/dev/null || log "swarm: could not remove docker_gwbridge"
  fi
  for ((i = 1; i <= SWARM_WORKERS; i++)); do
    ns=$(w_ns "$i")
    ip link show "$(w_host_if "$i")" >/dev/null 2>&1 && ip link del "$(w_host_if "$i")"
    if [[ -e /var/run/netns/$ns ]]; then
      log "swarm: deleting network namespace $ns"
      ip netns del "$ns"
    fi
  done
  stop_pid "$SWARM_REGISTRY_PIDFILE" "docker-registry serve $SWARM_REGISTRY_CONFIG" "swarm registry" 10
  rm -rf "$SWARM_CERTS_DIR"
  if ip link show "$SWARM_BRIDGE" >/dev/null 2>&1; then
    log "swarm: removing bridge $SWARM_BRIDGE"
    ip link del "$SWARM_BRIDGE"
  fi
  log "swarm is down (kept: $SWARM_DIR)"
}

swarm_status() {
  local ok=0 i
  if [[ $(manager_state 2>/dev/null) == "active true $SWARM_HOST_ADDR" ]]; then say "swarm manager" "up (local engine, $SWARM_HOST_ADDR:2377)"; else
    say "swarm manager" "DOWN (local engine: $(manager_state 2>/dev/null || echo '?'))"
    ok=1
  fi
  for ((i = 1; i <= SWARM_WORKERS; i++)); do
    local id=""
    ping_sock "$(w_sock "$i")" && id=$(dw "$i" info -f '{{.Swarm.NodeID}}')
    if [[ -n $id ]] && [[ $(dk node inspect -f '{{.Status.State}}' "$id" 2>/dev/null) == ready ]]; then
      say "swarm worker $i" "ready (node ${id:0:12}, $(w_addr "$i") in $(w_ns "$i"))"
    else
      say "swarm worker $i" "DOWN ($(w_sock "$i"))"
      ok=1
    fi
  done
  if swarm_registry_answers; then say "swarm registry" "up (https://$SWARM_REGISTRY_ADDR/v2/)"; else
    say "swarm registry" "DOWN ($SWARM_REGISTRY_ADDR)"
    ok=1
  fi
  return $ok
}

write_json() {
  mkdir -p "$(dirname "$JSON_PATH")"
  local fingerprint started_local=false
  fingerprint=$(ssh-keygen -l -E sha256 -f "$HOST_KEY.pub" | awk '{print $2}')
  pid_of "$LOCAL_PIDFILE" dockerd >/dev/null && started_local=true
  TB_LOCAL_SOCK="$LOCAL_SOCK" TB_LOCAL_ID="$(dk info -f '{{.ID}}')" TB_STARTED_LOCAL="$started_local" \
    TB_SSH_PORT="$SSH_PORT" TB_CLIENT_KEY="$CLIENT_KEY" TB_KNOWN_HOSTS="$KNOWN_HOSTS" \
    TB_FINGERPRINT="$fingerprint" TB_HOST_PUB="$(cut -d' ' -f1,2 "$HOST_KEY.pub")" \
    TB_REMOTE_SOCK="$REMOTE_SOCK" TB_REMOTE_ID="$(dr info -f '{{.ID}}')" \
    TB_SSHD_CONFIG="$SSHD_CONFIG" TB_SSHD_PIDFILE="$SSHD_PIDFILE" TB_BRIDGE="$BRIDGE" TB_BRIDGE_CIDR="$BRIDGE_CIDR" \
    TB_REGISTRY="$REGISTRY_ADDR" TB_REGISTRY_DATA="$REGISTRY_DIR/data" \
    TB_BASE_IMAGE="$BASE_IMAGE" TB_BASE_IMAGE_ID="$(image_id dk)" \
    TB_BASE_FROM_HOST="$(dk image inspect -f '{{index .Config.Labels "org.ferry.testbed.base-image"}}' "$BASE_IMAGE")" \
    TB_NPM_BASE_IMAGE="$(dk image inspect -f '{{.Id}}' "$NPM_BASE_IMAGE" >/dev/null 2>&1 && echo "$NPM_BASE_IMAGE")" \
    TB_SWARM="$(swarm_json)" \
    TB_API="$DOCKER_API" TB_STATE="$STATE_DIR" TB_RUN="$RUN_DIR" TB_LOGS="$LOG_DIR" TB_JSON="$JSON_PATH" \
    node -e '
      const e = process.env;
      const json = {
        version: 1,
        generatedAt: new Date().toISOString(),
        stateDir: e.TB_STATE,
        runDir: e.TB_RUN,
        dockerApiVersion: e.TB_API,
        localDocker: { socketPath: e.TB_LOCAL_SOCK, engineId: e.TB_LOCAL_ID, startedByTestbed: e.TB_STARTED_LOCAL === "true" },
        remote: {
          host: "127.0.0.1", port: Number(e.TB_SSH_PORT), username: "root",
          privateKeyPath: e.TB_CLIENT_KEY, knownHostsPath: e.TB_KNOWN_HOSTS,
          hostKeyFingerprint: e.TB_FINGERPRINT, hostPublicKey: e.TB_HOST_PUB,
          dockerSocketPath: e.TB_REMOTE_SOCK, engineId: e.TB_REMOTE_ID,
          sshdConfigPath: e.TB_SSHD_CONFIG, sshdPidFile: e.TB_SSHD_PIDFILE,
          bridge: { name: e.TB_BRIDGE, cidr: e.TB_BRIDGE_CIDR },
        },
        registry: { address: e.TB_REGISTRY, url: "http://" + e.TB_REGISTRY, storageDir: e.TB_REGISTRY_DATA },
        baseImage: e.TB_BASE_IMAGE,
        baseImageId: e.TB_BASE_IMAGE_ID,
        baseImageBuiltFromHostNode: e.TB_BASE_FROM_HOST === "host-node",
        ...(e.TB_NPM_BASE_IMAGE ? { npmBaseImage: e.TB_NPM_BASE_IMAGE } : {}),
        logsDir: e.TB_LOGS,
        ...(e.TB_SWARM ? { swarm: JSON.parse(e.TB_SWARM) } : {}),
      };
      require("node:fs").writeFileSync(e.TB_JSON, JSON.stringify(json, null, 2) + "\n");
    '
  log "wrote $JSON_PATH"
}

cmd_up() {
  need_root
  local t0=$SECONDS
  mkdir -p "$STATE_DIR" "$RUN_DIR" "$LOG_DIR"
  lock
  ensure_packages
  ensure_local_engine
  ensure_bridge
  ensure_remote_engine
  ensure_sshd
  check_remote_session
  ensure_registry
  ensure_base_image
  ensure_npm_base_image
  ensure_swarm
  write_json
  log "test bed is up ($((SECONDS - t0))s); eval \"\$(bash scripts/testbed.sh env)\" exports FERRY_TESTBED"
}

# ---------------------------------------------------------------------------------------------

cmd_swarm_up() {
  need_root
  mkdir -p "$STATE_DIR" "$RUN_DIR" "$LOG_DIR"
  lock
  ping_sock "$LOCAL_SOCK" || die "the local engine does not answer: run 'up' first"
  [[ -n $(image_id dk) ]] || die "$BASE_IMAGE is not on the local engine: run 'up' first"
  ensure_swarm
  write_json
}

cmd_down() {
  need_root
  lock
  cmd_swarm_down
  stop_pid "$SSHD_PIDFILE" "sshd -D -e -f $SSHD_CONFIG" sshd 10
  stop_pid "$REGISTRY_PIDFILE" "docker-registry serve $REGISTRY_CONFIG" registry 10
  stop_pid "$REMOTE_PIDFILE" "$REMOTE_SOCK" "remote dockerd" 60
  rm -f "$REMOTE_SOCK"
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "removing bridge $BRIDGE"
    ip link del "$BRIDGE"
  fi
  if [[ -e $LOCAL_PIDFILE ]]; then
    stop_pid "$LOCAL_PIDFILE" dockerd "local dockerd (started by the test bed)" 60
  else
    log "local engine: not started by the test bed; left alone"
  fi
  rm -f "$JSON_PATH"
  log "test bed is down (kept: $STATE_DIR)"
}

cmd_status() {
  local ok=0 pid
  say() { printf '%-16s %s\n' "$1" "$2"; }
  if ping_sock "$LOCAL_SOCK"; then
    if pid=$(pid_of "$LOCAL_PIDFILE" dockerd); then say "local engine" "up ($LOCAL_SOCK, started by the test bed, pid $pid)"; else say "local engine" "up ($LOCAL_SOCK)"; fi
  else
    say "local engine" "DOWN ($LOCAL_SOCK does not answer)"
    ok=1
  fi
  if ip link show "$BRIDGE" >/dev/null 2>&1; then say bridge "up ($BRIDGE)"; else
    say bridge "DOWN ($BRIDGE missing)"
    ok=1
  fi
  if ping_sock "$REMOTE_SOCK"; then say "remote engine" "up ($REMOTE_SOCK, pid $(pid_of "$REMOTE_PIDFILE" "$REMOTE_SOCK" || echo '?'))"; else
    say "remote engine" "DOWN ($REMOTE_SOCK does not answer)"
    ok=1
  fi
  if pid=$(pid_of "$SSHD_PIDFILE" "sshd -D -e -f $SSHD_CONFIG") && port_open "$SSH_PORT"; then say sshd "up (127.0.0.1:$SSH_PORT, pid $pid)"; else
    say sshd "DOWN (127.0.0.1:$SSH_PORT)"
    ok=1
  fi
  if registry_answers; then say registry "up (http://$REGISTRY_ADDR/v2/)"; else
    say registry "DOWN ($REGISTRY_ADDR)"
    ok=1
  fi
  local li="" ri=""
  ping_sock "$LOCAL_SOCK" && li=$(image_id dk)
  ping_sock "$REMOTE_SOCK" && ri=$(image_id dr)
  if [[ -n $li && $li == "$ri" ]]; then say "base image" "present on both engines ($BASE_IMAGE ${li:0:19})"; else
    say "base image" "MISSING ($BASE_IMAGE local='${li:0:19}' remote='${ri:0:19}')"
    ok=1
  fi
  swarm_status || ok=1
  if [[ -f $JSON_PATH ]]; then say json "$JSON_PATH"; else
    say json "MISSING ($JSON_PATH)"
    ok=1
  fi
  return $ok
}

cmd_env() {
  printf 'export FERRY_TESTBED=%q\n' "$JSON_PATH"
  printf 'export FERRY_TESTBED_REMOTE_DOCKER_HOST=%q\n' "unix://$REMOTE_SOCK"
  printf 'export FERRY_TESTBED_SSH=%q\n' "ssh -F /dev/null -i $CLIENT_KEY -p $SSH_PORT -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$KNOWN_HOSTS root@127.0.0.1"
  printf 'export FERRY_TESTBED_REGISTRY=%q\n' "$REGISTRY_ADDR"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  swarm-up) cmd_swarm_up ;;
  swarm-down)
    need_root
    lock
    cmd_swarm_down
    ;;
  -h | --help | help | "")
    usage
    [[ -n ${1:-} ]] || exit 2
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac
