#!/usr/bin/env bash
# CI step: the bounded reliability runs (loopback only; each stops by itself, and `timeout`
# bounds it again). The fuzz, exhaustion, fault and SIGTERM-under-load tests run in `npm test`
# (test/fuzz/, test/reliability/); this adds, against live servers:
#   load      autocannon at 1, 8 and 32 connections, S1 + tiny mix, 4 s each   (~30 s)
#   soak      1 minute of mixed requests, RSS and heap slope                    (~65 s)
#   admission 16 / 64 / 256 stalled 60 MiB uploads (RSS, /healthz, refusals); 4 x 55 MiB JSON at once (~60 s)
#   replicas  3 replicas behind nginx, one SIGKILLed and one drained under load (~30 s, + nginx install once)
# Fails on any 5xx other than 503/504, a 503 without Retry-After, a wrong answer, a socket
# error, a growing heap, a missed admission goal (RSS growth, /healthz latency), or a client-visible
# failure during failover. About 3.5 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

[ -f dist/scripts/reliability/load.js ] || npm run build

PID=
OUT=$(mktemp -d)
cleanup() {
  # each step stops its own servers (and nginx) on exit or SIGTERM; this stops the step itself
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() {
  local limit=$1
  shift
  timeout --signal=TERM --kill-after=10 "$limit" "$@" &
  PID=$!
  wait "$PID"
  PID=
}

echo '== reliability: load (autocannon, loopback)'
step 120 node dist/scripts/reliability/load.js --ci --out "$OUT/load.json"

echo '== reliability: soak (1 minute)'
step 120 node dist/scripts/reliability/soak.js --minutes 1 --out "$OUT/soak.json"

echo '== reliability: admission: stalled uploads at 16, 64, 256 connections; 4 large JSON bodies at once'
step 240 node dist/scripts/reliability/admission.js --ci --out-dir "$OUT"

echo '== reliability: replicas behind nginx, failover under load'
step 240 bash scripts/reliability/replicas.sh --duration 20 --out "$OUT/failover.json"

echo '== reliability: ok'
