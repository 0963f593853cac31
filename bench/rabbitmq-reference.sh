#!/usr/bin/env bash
# A throwaway RabbitMQ node on loopback, the reference `holdfast-load amqp compare` measures Holdfast against.
#
#   bench/rabbitmq-reference.sh start [PORT]    # default port 5680; prints the URI and the node's pid
#   bench/rabbitmq-reference.sh stop  [PORT]    # stops that node only (and the epmd this script started)
#   bench/rabbitmq-reference.sh status [PORT]
#
# The node is Debian's rabbitmq-server (installed with apt-get if missing), run as the calling user with
# everything under /tmp/rabbitmq-ref-PORT: its own node name, mnesia and log directories, no plugins, an
# empty config (defaults), its own Erlang cookie. It listens on 127.0.0.1:PORT only (user guest/guest),
# Erlang distribution on 127.0.0.1:PORT+20000. Started with the real rabbitmq-server script and -detached,
# not the Debian wrapper, which would su to the rabbitmq user and use /var/lib/rabbitmq.
set -euo pipefail

command=${1:-}
port=${2:-5680}
case "$port" in
  ''|*[!0-9]*) echo "port must be a number: $port" >&2; exit 2 ;;
esac

base="/tmp/rabbitmq-ref-${port}"
node="holdfast-ref-${port}@localhost"
bin=/usr/lib/rabbitmq/bin

export RABBITMQ_NODENAME="$node"
export RABBITMQ_NODE_PORT="$port"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_DIST_PORT=$((port + 20000))
export RABBITMQ_MNESIA_BASE="$base/mnesia"
export RABBITMQ_LOG_BASE="$base/log"
export RABBITMQ_ENABLED_PLUGINS_FILE="$base/enabled_plugins"
export RABBITMQ_CONFIG_FILE="$base/rabbitmq.conf"
export RABBITMQ_PID_FILE="$base/rabbitmq.pid"
export HOME="$base"                  # the Erlang cookie lives here, not in root's home
export ERL_EPMD_ADDRESS=127.0.0.1
# Erlang distribution on loopback too (it would listen on every interface otherwise).
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"

ctl() { "$bin/rabbitmqctl" -n "$node" "$@"; }

install_if_missing() {
  if [ -x "$bin/rabbitmq-server" ]; then
    return
  fi
  echo "rabbitmq-server not installed: installing Debian's package" >&2
  # Keep the package's own service (a node on 5672 as the rabbitmq user) from starting during the install.
  local policy=/usr/sbin/policy-rc.d placed=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    placed=1
  fi
  # `if`, not `[ … ] && rm`: as a function's last command a false test would end the script under `set -e`.
  if ! (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y rabbitmq-server); then
    if [ "$placed" = 1 ]; then rm -f "$policy"; fi
    exit 1
  fi
  if [ "$placed" = 1 ]; then rm -f "$policy"; fi
}

running() { ctl status >/dev/null 2>&1; }

start() {
  install_if_missing
  mkdir -p "$base/mnesia" "$base/log"
  # Our own epmd on loopback, unless one is already up; remembered so that stop ends only what start began.
  # Checked before any rabbitmqctl call, since the CLI's own Erlang node would start one itself.
  if ! epmd -names >/dev/null 2>&1; then
    epmd -address 127.0.0.1 -daemon
    touch "$base/epmd-started"
  fi
  if running; then
    echo "$node already running on 127.0.0.1:$port (pid $(cat "$RABBITMQ_PID_FILE" 2>/dev/null || echo '?'))"
    exit 0
  fi
  printf '[].\n' > "$RABBITMQ_ENABLED_PLUGINS_FILE"
  : > "$RABBITMQ_CONFIG_FILE"
  "$bin/rabbitmq-server" -detached
  # await_startup fails at once while the node has not registered with epmd yet: retry for up to two minutes.
  local tries=0
  until ctl await_startup >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
      echo "$node did not start; see $RABBITMQ_LOG_BASE" >&2
      exit 1
    fi
    sleep 2
  done
  echo "started $node: amqp://guest:guest@127.0.0.1:$port/ pid $(cat "$RABBITMQ_PID_FILE") data $base"
}

stop() {
  if running; then
    ctl stop "$RABBITMQ_PID_FILE"   # with the pid file, waits until the node's process has exited
    echo "stopped $node"
  else
    echo "$node not running"
  fi
  if [ -f "$base/epmd-started" ]; then
    # Only if no other node registered with it meanwhile: killing it would cut that node off.
    if ! epmd -names 2>/dev/null | grep -q '^name '; then
      epmd -kill >/dev/null 2>&1 || true
      rm -f "$base/epmd-started"
      echo "stopped the epmd this script started"
    else
      echo "left the epmd this script started running: other nodes use it ($(epmd -names | grep '^name ' | cut -d' ' -f2 | tr '\n' ' '))"
    fi
  fi
  rm -rf "$base/mnesia"
}

case "$command" in
  start) start ;;
  stop) stop ;;
  status) ctl status ;;
  *) echo "usage: $0 start|stop|status [port]" >&2; exit 2 ;;
esac
