#!/usr/bin/env bash
# Runs a command against a live convd: starts dist/src/server.js on a free loopback port,
# waits for /readyz, runs the command with CONVD_URL set, stops the server by PID (also when
# the command fails or the script is interrupted), and exits with the command's status.
#
#   scripts/ci/with-server.sh COMMAND [ARGS...]
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f dist/src/server.js ] || npm run build >/dev/null

PORT=$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
export CONVD_URL="http://127.0.0.1:$PORT"
LOG=$(mktemp /tmp/convd-server.XXXXXX.log)
PORT=$PORT HOST=127.0.0.1 LOG_LEVEL=${LOG_LEVEL:-warn} CONVD_POOL_THREADS=${CONVD_POOL_THREADS:-2} node dist/src/server.js >"$LOG" 2>&1 &
SERVER_PID=$!
stop_server() {
  local status=$?
  if kill "$SERVER_PID" 2>/dev/null; then
    # graceful: SIGTERM drains; bounded by the server's own grace period, then SIGKILL
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ]; then echo '-- server log (tail)'; tail -n 30 "$LOG"; fi
  rm -f "$LOG"
  exit "$status"
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

node -e "
  const deadline = Date.now() + 30000;
  (async () => {
    while (Date.now() < deadline) {
      try { if ((await fetch('$CONVD_URL/readyz')).ok) return; } catch {}
      await new Promise((r) => setTimeout(r, 100));
    }
    console.error('convd did not become ready within 30 s'); process.exit(1);
  })();"
"$@"
