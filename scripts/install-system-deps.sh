#!/usr/bin/env bash
# Installs the system packages Shutter's tests and tools use, only those missing (Debian/Ubuntu):
#   nginx, chromium, redis-server, prometheus (for promtool, which checks the alert rules).
#   --deploy also installs docker-compose (v1, enough for `docker-compose config` without an engine),
#   which scripts/validate-deploy.sh uses.
# Idempotent and quiet; uses sudo only when not root. Safe to run on every CI start.
set -euo pipefail

want_deploy=0
for arg in "$@"; do
  case "$arg" in
    --deploy) want_deploy=1 ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-system-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ "$want_deploy" = 1 ]; then
  command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: no apt-get here; install these yourself: ${missing[*]}" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-system-deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
policy_rc=/usr/sbin/policy-rc.d
made_policy=0
trap 'rm -f "$log"; [ "$made_policy" = 0 ] || "${sudo[@]}" rm -f "$policy_rc"' EXIT
# Quiet unless something fails: then apt's whole output is shown.
run_apt() { "${sudo[@]}" apt-get "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "install-system-deps: apt-get $* failed" >&2; exit 1; }; }

run_apt update -qq
pkgs=()
for p in "${missing[@]}"; do
  case "$p" in
    # Debian calls it chromium, Ubuntu chromium-browser.
    chromium) if apt-cache show chromium >/dev/null 2>&1; then pkgs+=(chromium); else pkgs+=(chromium-browser); fi ;;
    *) pkgs+=("$p") ;;
  esac
done

echo "install-system-deps: installing ${pkgs[*]}"
# Packaged daemons must not start on install (containers and CI have no init; tests start their own).
if [ ! -e "$policy_rc" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy_rc" >/dev/null
  "${sudo[@]}" chmod +x "$policy_rc"
  made_policy=1
fi
run_apt install -y -qq --no-install-recommends "${pkgs[@]}"
