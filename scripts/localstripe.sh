#!/usr/bin/env bash
# Ensures a localstripe 1.15.10 (a stateful Stripe stand-in, PyPI) answers on 127.0.0.1 for the
# Stripe connector's end-to-end tests, or stops the one this script started.
#
#   scripts/localstripe.sh          # start (or reuse whatever already answers on the port)
#   scripts/localstripe.sh stop     # stop the instance this script started on the port
#
# Environment:
#   LOCALSTRIPE_PORT  port on 127.0.0.1 (default 8420)
#   LOCALSTRIPE_VENV  virtualenv to install into / reuse
#                     (default $HOME/.cache/kassa/localstripe-venv)
#   TMPDIR            where the log (kassa-localstripe.log) and pid file go (default /tmp)
#
# localstripe is started through its aiohttp app object so that it listens on loopback only (its
# own entry point binds every interface). It keeps its store in memory and also dumps it after
# every write to a fixed file, /tmp/localstripe.pickle (hard-coded in localstripe/resources.py,
# independent of TMPDIR); the app object never loads that file, but it is removed before each
# start anyway so no run can see another run's data. Webhook endpoints (POST
# /_config/webhooks/{name}) live only in memory and are lost when the process stops.
set -euo pipefail

LOCALSTRIPE_VERSION=1.15.10
# What pip resolved for localstripe 1.15.10 on CPython 3.11 (December 2025), pinned so every run
# installs the same set. localstripe itself only asks for aiohttp>=2.3.2 and python-dateutil>=2.6.1.
PINS=(
  "localstripe==${LOCALSTRIPE_VERSION}"
  "aiohttp==3.14.5"
  "aiohappyeyeballs==2.7.1"
  "aiosignal==1.4.0"
  "attrs==26.1.0"
  "frozenlist==1.8.0"
  "idna==3.20"
  "multidict==7.2.1"
  "propcache==0.5.4"
  "python-dateutil==4.0.0"
  "typing_extensions==4.16.0"
  "tzdata==2026.6"
  "yarl==1.25.1"
)

port="${LOCALSTRIPE_PORT:-8420}"
venv="${LOCALSTRIPE_VENV:-$HOME/.cache/kassa/localstripe-venv}"
tmp="${TMPDIR:-/tmp}"
log="$tmp/kassa-localstripe.log"
pidfile="$tmp/kassa-localstripe.$port.pid"
store_file=/tmp/localstripe.pickle
base="http://127.0.0.1:$port"

die() { echo "localstripe.sh: $*" >&2; exit 1; }

# True when any HTTP server answers on the port (whatever the status code).
answers() { curl -s --noproxy "*" -o /dev/null --max-time 2 "$base/"; }

# True when the answer looks like localstripe: an authenticated list with no side effects.
is_localstripe() {
  curl -s --noproxy "*" --max-time 2 -H 'Authorization: Bearer sk_test_kassa' "$base/v1/events?limit=1" \
    | grep -q '"url": "/v1/events"'
}

venv_ok() {
  [ -x "$venv/bin/python" ] || return 1
  [ "$(cat "$venv/.kassa-pins" 2>/dev/null)" = "${PINS[*]}" ] || return 1
  [ "$("$venv/bin/python" -c \
    'import importlib.metadata as m; print(m.version("localstripe"))' 2>/dev/null)" \
    = "$LOCALSTRIPE_VERSION" ]
}

install_venv() {
  echo "localstripe.sh: installing localstripe $LOCALSTRIPE_VERSION into $venv"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv" || die "python3 -m venv failed (is the venv module installed?)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}" \
    || die "pip could not install ${PINS[*]}"
  printf '%s' "${PINS[*]}" > "$venv/.kassa-pins"
}

start() {
  if answers; then
    if ! is_localstripe; then
      echo "localstripe.sh: warning: something that does not look like localstripe answers" \
        "on $base; leaving it alone" >&2
    fi
    exit 0
  fi

  venv_ok || install_venv
  venv_ok || die "virtualenv $venv does not hold localstripe $LOCALSTRIPE_VERSION after install"

  rm -f "$store_file"
  mkdir -p "$tmp"
  # Appended, not truncated: another instance on another port may be logging here too.
  echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) localstripe.sh: starting localstripe on $base" >> "$log"
  # The access log and localstripe's webhook delivery lines go to the log at INFO.
  nohup "$venv/bin/python" -u -c "
import logging
logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s %(message)s')
from aiohttp import web
from localstripe.server import app
web.run_app(app, host='127.0.0.1', port=$port)
" >> "$log" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid" > "$pidfile"

  for _ in $(seq 1 60); do
    if is_localstripe; then
      echo "localstripe.sh: localstripe $LOCALSTRIPE_VERSION answers on $base (pid $pid, log $log)"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pidfile"
      echo "localstripe.sh: localstripe exited during start-up; last lines of $log:" >&2
      tail -n 40 "$log" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  kill "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  echo "localstripe.sh: localstripe did not answer on $base within 30 s; last lines of $log:" >&2
  tail -n 40 "$log" >&2 || true
  exit 1
}

stop() {
  if [ ! -f "$pidfile" ]; then
    echo "localstripe.sh: no pid file $pidfile; nothing started by this script on port $port"
    return 0
  fi
  local pid
  pid="$(cat "$pidfile")"
  # Only signal the process if it still is the localstripe we started (pids get reused).
  if kill -0 "$pid" 2>/dev/null \
    && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q 'localstripe.server'; then
    kill "$pid"
    for _ in $(seq 1 20); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
    fi
    echo "localstripe.sh: stopped localstripe (pid $pid)"
  else
    echo "localstripe.sh: pid $pid from $pidfile is not running localstripe; removing the pid file"
  fi
  rm -f "$pidfile"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 [start|stop]" ;;
esac
