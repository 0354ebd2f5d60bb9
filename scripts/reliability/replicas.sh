#!/usr/bin/env bash
# 3 convd replicas on loopback ports behind Debian's nginx; one is killed (SIGKILL) and another
# drained (SIGTERM) during a load run through nginx, then both are restarted: the client must
# see no failure. Installs nginx (Debian package nginx-light, else nginx) when missing. Needs a
# build (dist/); `npm run replicas` builds first. Loopback only, bounded: about 40 s.
#   scripts/reliability/replicas.sh [--duration 24] [--connections 6] [--out docs/reliability/failover.json]
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo '== installing nginx (Debian)'
  # keep the package from starting a system nginx on port 80: only our own instance runs
  POLICY=/usr/sbin/policy-rc.d
  if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY" && chmod +x "$POLICY"
    trap 'rm -f "$POLICY"' EXIT
  fi
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx
  rm -f "$POLICY"
  trap - EXIT
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

[ -f dist/scripts/reliability/failover.js ] || { echo 'dist/ is missing: run npm run build first' >&2; exit 1; }

# failover.js stops its replicas and nginx itself, also on failure; this trap covers a kill of the script
node dist/scripts/reliability/failover.js --nginx "$NGINX" "$@" &
PID=$!
trap 'kill "$PID" 2>/dev/null || true' INT TERM
wait "$PID"
