#!/usr/bin/env bash
# Verifies the Dockerfile and docker-compose.yml on a real Docker engine started here, as
# docs/deploy.md describes (no engine runs on these machines and no registry is
# reachable): lint the Dockerfile and the compose file; start a private dockerd whose state
# lives in a scratch folder; make stand-in base images under the official names
# (debian:bookworm-slim from mmdebstrap, node:24-bookworm-slim from the Node.js 24 on PATH,
# nginx from Debian's nginx); `docker-compose up --build`; wait for 3 healthy replicas; check
# the image (non-root, production only); a conv request through nginx returns the right
# numbers; requests are spread over all replicas; a replica killed during a stream of
# requests costs zero failures and is restarted; `docker stop` exits 0 (with and without
# tini); then tear everything down and stop dockerd by PID.
#
#   sudo scripts/verify-deploy.sh        (root; CI runs it as root)
#
# Installs its own Debian packages when missing (docker.io, docker-compose, mmdebstrap and
# the shellcheck linter). Every process it starts is stopped by PID and the scratch folder removed on
# exit, also when a step fails or the time limit (CONVD_VERIFY_TIMEOUT, 1200 s) is reached.
# Traffic goes only to ports published on 127.0.0.1 (and, inside the engine, between the
# containers). CONVD_DEPLOY_CACHE=DIR keeps the debootstrapped base between runs (for
# development; CI makes it fresh).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
LIMIT=${CONVD_VERIFY_TIMEOUT:-1200}
PROJECT=convdverify
STARTED=$SECONDS
STEP_STARTED=$SECONDS
STEP=''
TIMINGS=()

step() {
  if [ -n "$STEP" ]; then TIMINGS+=("$(printf '%5ds  %s' $((SECONDS - STEP_STARTED)) "$STEP")"); fi
  STEP=$1
  STEP_STARTED=$SECONDS
  echo "== [$((SECONDS - STARTED))s] $STEP"
}

if [ "$(id -u)" -ne 0 ]; then
  echo 'verify-deploy: needs root (dockerd, mmdebstrap)' >&2
  exit 1
fi

W=$(mktemp -d /tmp/convd-deploy.XXXXXX)
DOCKERD_PID=''
WATCHDOG_PID=''
STREAM_PID=''
CHILD_PID=''
IP_FORWARD_BEFORE=$(sysctl -n net.ipv4.ip_forward 2>/dev/null || echo '')
HAD_DOCKER0=0
ip link show docker0 >/dev/null 2>&1 && HAD_DOCKER0=1
HAD_DOCKER_CHAINS=0
FORWARD_POLICY_BEFORE=ACCEPT

export DOCKER_HOST="unix://$W/docker.sock"
DOCKER=/usr/bin/docker # Debian's CLI, the engine's version (any other docker on PATH is left alone)
compose() { COMPOSE_PROJECT_NAME=$PROJECT docker-compose -f "$REPO/docker-compose.yml" "$@"; }

cleanup() {
  local status=$?
  set +e
  trap - EXIT INT TERM
  [ -n "$CHILD_PID" ] && kill -TERM "$CHILD_PID" 2>/dev/null && wait "$CHILD_PID" 2>/dev/null
  [ -n "$STREAM_PID" ] && kill "$STREAM_PID" 2>/dev/null && wait "$STREAM_PID" 2>/dev/null
  if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
    if [ "$status" -ne 0 ]; then
      echo '-- failure: containers and their last log lines'
      "$DOCKER" ps -a --format '{{.Names}}  {{.Status}}' 2>/dev/null
      for c in $("$DOCKER" ps -aq 2>/dev/null); do
        echo "-- $("$DOCKER" inspect -f '{{.Name}}' "$c")"
        "$DOCKER" logs --tail 15 "$c" 2>&1 | cut -c1-300
      done
      echo '-- dockerd log (tail)'
      tail -n 20 "$W/dockerd.log"
    fi
    echo '== teardown: compose down, images, engine'
    timeout 120 env COMPOSE_PROJECT_NAME=$PROJECT docker-compose -f "$REPO/docker-compose.yml" down -v --remove-orphans --rmi local >/dev/null 2>&1
    timeout 60 "$DOCKER" rm -f convd-pid1 >/dev/null 2>&1
    kill -TERM "$DOCKERD_PID"
    for _ in $(seq 1 300); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$DOCKERD_PID" 2>/dev/null; then
      echo 'dockerd did not stop in 30 s: SIGKILL'
      kill -KILL "$DOCKERD_PID"
    fi
    wait "$DOCKERD_PID" 2>/dev/null
  fi
  # anything the engine left mounted under the scratch folder, deepest first
  findmnt -rn -o TARGET 2>/dev/null | grep "^$W/" | sort -r | xargs -r -n1 umount -l 2>/dev/null
  # the engine's host networking, when it was this run that made it
  if [ "$HAD_DOCKER0" = 0 ] && ip link show docker0 >/dev/null 2>&1; then ip link delete docker0; fi
  if [ "$HAD_DOCKER_CHAINS" = 0 ] && command -v iptables-save >/dev/null; then
    for table in filter nat; do
      iptables-save -t "$table" 2>/dev/null | grep -E '^-A (FORWARD|PREROUTING|OUTPUT|POSTROUTING) .*(DOCKER|docker0)' | sed 's/^-A /-D /' |
        while read -r -a rule; do iptables -t "$table" "${rule[@]}"; done
      for chain in $(iptables-save -t "$table" 2>/dev/null | sed -n 's/^:\(DOCKER[A-Z0-9-]*\) .*/\1/p'); do iptables -t "$table" -F "$chain"; done
      for chain in $(iptables-save -t "$table" 2>/dev/null | sed -n 's/^:\(DOCKER[A-Z0-9-]*\) .*/\1/p'); do iptables -t "$table" -X "$chain"; done
    done
    iptables -P FORWARD "$FORWARD_POLICY_BEFORE" # dockerd sets DROP
  fi
  [ -n "$IP_FORWARD_BEFORE" ] && sysctl -qw "net.ipv4.ip_forward=$IP_FORWARD_BEFORE"
  [ -n "$WATCHDOG_PID" ] && kill "$WATCHDOG_PID" 2>/dev/null && wait "$WATCHDOG_PID" 2>/dev/null
  rm -rf "$W"
  if [ "$status" -eq 0 ]; then
    step 'done'
    echo '-- timings'
    printf '%s\n' "${TIMINGS[@]}"
    echo "verify-deploy: passed in $((SECONDS - STARTED)) s"
  else
    echo "verify-deploy: FAILED at step '$STEP' after $((SECONDS - STARTED)) s (exit $status)" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# the whole run is bounded: past LIMIT seconds the script is told to stop (and cleans up)
watchdog() {
  sleep "$LIMIT" &
  local sleeper=$!
  trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
  wait "$sleeper"
  echo "verify-deploy: over $LIMIT s, stopping" >&2
  kill -TERM $$
}
watchdog &
WATCHDOG_PID=$!
# long steps run as a waited-for child, so that the watchdog's TERM interrupts them at once
# (cleanup then stops the child: `timeout` passes the signal on to its command)
bounded() {
  "$@" &
  CHILD_PID=$!
  local rc=0
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=''
  return "$rc"
}

step 'Debian packages'
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
[ -x /usr/bin/docker ] || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v shellcheck >/dev/null || missing+=(shellcheck)
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  # no recommends: docker-compose would bring a second engine set-up
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
"$DOCKER" --version
docker-compose --version
if iptables-save 2>/dev/null | grep -q '^:DOCKER'; then HAD_DOCKER_CHAINS=1; fi
FORWARD_POLICY_BEFORE=$(iptables-save -t filter 2>/dev/null | sed -n 's/^:FORWARD \([A-Z]*\) .*/\1/p')
FORWARD_POLICY_BEFORE=${FORWARD_POLICY_BEFORE:-ACCEPT}

step 'static checks: shellcheck, Dockerfile lint, compose config, body limits'
shellcheck -x .ci/run scripts/*.sh scripts/ci/*.sh scripts/reliability/*.sh scripts/deploy/standin/docker-entrypoint.sh
compose config -q
# npm dockerlinter (hadolint-style rules; hadolint is neither in Debian nor on npm) and dclint
# for the compose file, in the scratch folder: not project dependencies. --ignore-scripts:
# dockerlinter's shellcheck dependency would download a binary; Debian's shellcheck serves.
bounded timeout 300 npm install --prefix "$W/tools" --no-save --ignore-scripts --no-audit --no-fund --loglevel=error \
  dockerlinter@2.0.0 dclint@3.1.0 >/dev/null
# -e info: fail on findings of any level
"$W/tools/node_modules/.bin/dockerlinter" -f Dockerfile -e info
# a top-level name: would be rejected by Compose 1.29
"$W/tools/node_modules/.bin/dclint" docker-compose.yml --disable-rule require-project-name-field
echo 'Dockerfile and docker-compose.yml: no lint findings'
# the proxy must not refuse what the service accepts, nor the reverse
nginx_limit=$(sed -n 's/^ *client_max_body_size \([0-9]*\)\([kmgKMG]\?\);.*/\1 \2/p' deploy/nginx.conf)
read -r n unit <<<"$nginx_limit"
case "${unit,,}" in k) n=$((n * 1024)) ;; m) n=$((n * 1024 * 1024)) ;; g) n=$((n * 1024 * 1024 * 1024)) ;; esac
service_limit=$(compose config | sed -n "s/^ *CONVD_MAX_BODY_BYTES: '\?\([0-9]*\)'\?$/\1/p")
if [ -z "$service_limit" ] || [ "$n" != "$service_limit" ]; then
  echo "body limits differ: nginx client_max_body_size = $n bytes, convd CONVD_MAX_BODY_BYTES = ${service_limit:-unset}" >&2
  exit 1
fi
echo "body limit: $n bytes in nginx and convd"

step 'probe script (TypeScript build)'
[ -f dist/scripts/deploy/probe.js ] || npm run build >/dev/null

step 'private dockerd'
mtu=$(ip route show default 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n1 | xargs -r -I{} cat /sys/class/net/{}/mtu)
# the containers' MTU must not exceed the host's (builds fetch from the npm registry and apt)
/usr/sbin/dockerd --data-root "$W/data" --exec-root "$W/exec" --pidfile "$W/dockerd.pid" \
  -H "$DOCKER_HOST" --mtu "${mtu:-1500}" >"$W/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 1 300); do
  "$DOCKER" info >/dev/null 2>&1 && break
  kill -0 "$DOCKERD_PID" 2>/dev/null || { tail -n 30 "$W/dockerd.log"; exit 1; }
  sleep 0.1
done
"$DOCKER" info --format 'engine {{.ServerVersion}}, storage {{.Driver}}, cgroup {{.CgroupVersion}}'

step 'stand-in base images (debian, node, nginx) under the official names'
node_image=$(sed -n 's/^FROM \([^ ]*\) AS build$/\1/p' Dockerfile)
nginx_image=$(compose config | sed -n 's/^ *image: \(nginx:.*\)$/\1/p')
base_tar="${CONVD_DEPLOY_CACHE:-$W}/bookworm-minbase.tar"
if [ ! -s "$base_tar" ]; then
  mkdir -p "$(dirname "$base_tar")"
  bounded timeout 600 mmdebstrap --quiet --variant=minbase bookworm "$base_tar.part.tar"
  mv "$base_tar.part.tar" "$base_tar"
fi
"$DOCKER" import --change 'CMD ["bash"]' "$base_tar" debian:bookworm-slim >/dev/null
ctx="$W/node-context"
mkdir -p "$ctx"
# the stand-in carries the Node.js on PATH (.ci/run puts Node 24 there): its major must be the tag's
node_tag_major=$(printf '%s' "$node_image" | sed -n 's/^node:\([0-9]*\)-.*/\1/p')
[ "$(node -p 'process.versions.node.split(".")[0]')" = "$node_tag_major" ] \
  || { echo "node on PATH is $(node --version), the Dockerfile's base is $node_image" >&2; exit 1; }
cp "$(readlink -f "$(command -v node)")" "$ctx/node"
cp -a "$(dirname "$(readlink -f "$(command -v npm)")")/.." "$ctx/npm"
cp scripts/deploy/standin/docker-entrypoint.sh "$ctx/"
cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
bounded timeout 300 "$DOCKER" build -q -t "$node_image" -f scripts/deploy/standin/node.Dockerfile "$ctx" >/dev/null
bounded timeout 300 "$DOCKER" build -q -t "$nginx_image" -f scripts/deploy/standin/nginx.Dockerfile scripts/deploy/standin >/dev/null
"$DOCKER" images --format '{{.Repository}}:{{.Tag}} {{.Size}}'

step 'docker-compose up --build (3 replicas behind nginx)'
PORT=$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
export CONVD_HTTP_PORT=$PORT
URL="http://127.0.0.1:$PORT"
if ! bounded timeout 600 env COMPOSE_PROJECT_NAME=$PROJECT docker-compose -f docker-compose.yml up -d --build --no-color >"$W/up.log" 2>&1; then
  tail -n 60 "$W/up.log"
  exit 1
fi
grep -E '^Step [0-9]+/|^Successfully (built|tagged)|^Creating' "$W/up.log" | cut -c1-160
replicas() { "$DOCKER" ps -q --filter "label=com.docker.compose.project=$PROJECT" --filter 'label=com.docker.compose.service=convd'; }

step 'wait for 3 healthy replicas and nginx'
healthy=0
for _ in $(seq 1 120); do
  healthy=0
  for c in $(replicas); do
    [ "$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$c")" = healthy ] && healthy=$((healthy + 1))
  done
  nginx_ok=$("$DOCKER" ps -q --filter "label=com.docker.compose.service=nginx" --filter health=healthy)
  [ "$healthy" -eq 3 ] && [ -n "$nginx_ok" ] && break
  sleep 1
done
"$DOCKER" ps --format '{{.Names}}  {{.Status}}'
if [ "$healthy" -ne 3 ] || [ -z "$nginx_ok" ]; then
  echo "only $healthy of 3 replicas healthy (nginx: ${nginx_ok:-not healthy})" >&2
  exit 1
fi

step 'the image: non-root, production only, limits from the environment'
img=$("$DOCKER" inspect -f '{{.Image}}' "$(replicas | head -n1)")
"$DOCKER" image inspect -f 'user={{.Config.User}} env={{.Config.Env}} healthcheck={{.Config.Healthcheck.Test}} exposed={{.Config.ExposedPorts}} size={{.Size}}' "$img"
[ "$("$DOCKER" image inspect -f '{{.Config.User}}' "$img")" = node ] || { echo 'image user is not node' >&2; exit 1; }
"$DOCKER" image inspect -f '{{.Config.Env}}' "$img" | grep -q 'NODE_ENV=production' || { echo 'NODE_ENV is not production' >&2; exit 1; }
c1=$(replicas | head -n1)
[ "$("$DOCKER" exec "$c1" id -u)" = 1000 ] || { echo 'process does not run as uid 1000' >&2; exit 1; }
echo "  PID 1 of $("$DOCKER" inspect -f '{{.Name}}' "$c1"): $("$DOCKER" exec "$c1" cat /proc/1/cmdline | tr '\0' ' ')"
# no dev tooling, tests, sources or benchmarks in the final stage
"$DOCKER" exec "$c1" node -e "
  const fs = require('fs');
  for (const p of ['node_modules/typescript', 'node_modules/assemblyscript', 'node_modules/onnxruntime-node', 'node_modules/fast-check', 'dist/test', 'dist/bench', 'src', 'test'])
    if (fs.existsSync(p)) { console.error('the image has ' + p); process.exit(1); }
  for (const p of ['dist/src/server.js', 'dist/workers/worker.js', 'dist/workers/wasm/kernels.wasm', 'node_modules/fastify'])
    if (!fs.existsSync(p)) { console.error('the image lacks ' + p); process.exit(1); }
  console.log('image contents: compiled service, workers and wasm; production node_modules only');"
limits=$("$DOCKER" inspect -f '{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.HostConfig.Init}} {{.HostConfig.RestartPolicy.Name}}' "$c1")
echo "replica limits: NanoCpus Memory Init RestartPolicy = $limits"
[ "$limits" = '1000000000 1073741824 true unless-stopped' ] || { echo "unexpected replica settings: $limits" >&2; exit 1; }

step 'a conv request through nginx returns the right numbers'
node dist/scripts/deploy/probe.js check "$URL"
node dist/scripts/deploy/probe.js oversize "$URL" $((service_limit + 1))

step 'requests spread over all replicas'
tag="spread$RANDOM"
node dist/scripts/deploy/probe.js spread "$URL" 30 "$tag"
served=0
for c in $(replicas); do
  count=$("$DOCKER" logs "$c" 2>&1 | grep -c "\"reqId\":\"$tag-[0-9]*\".*\"incoming request\"" || true)
  echo "  $("$DOCKER" inspect -f '{{.Name}}' "$c"): $count of 30"
  [ "$count" -gt 0 ] && served=$((served + 1))
done
[ "$served" -eq 3 ] || { echo "only $served of 3 replicas served requests" >&2; exit 1; }

step 'kill one replica during a stream of requests: zero failures, and it is restarted'
victim=$(replicas | head -n1)
victim_name=$("$DOCKER" inspect -f '{{.Name}}' "$victim")
node dist/scripts/deploy/probe.js stream "$URL" 12 4 "$W/streaming" &
STREAM_PID=$!
for _ in $(seq 1 100); do [ -f "$W/streaming" ] && break; sleep 0.1; done
sleep 1
# a crash, not a stop: SIGKILL to the container's PID 1 (tini, which takes node with it)
kill -KILL "$("$DOCKER" inspect -f '{{.State.Pid}}' "$victim")"
echo "  SIGKILL to $victim_name during the stream"
wait "$STREAM_PID"
STREAM_PID=''
for _ in $(seq 1 60); do
  [ "$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$victim")" = healthy ] && break
  sleep 1
done
echo "  $victim_name: restarts $("$DOCKER" inspect -f '{{.RestartCount}}' "$victim"), $("$DOCKER" inspect -f '{{.State.Health.Status}}' "$victim")"
[ "$("$DOCKER" inspect -f '{{.RestartCount}}' "$victim")" -ge 1 ] || { echo 'the killed replica was not restarted' >&2; exit 1; }
[ "$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$victim")" = healthy ] || { echo 'the killed replica is not healthy again' >&2; exit 1; }

step 'docker stop a replica during a stream: exit code 0, zero failures'
victim=$(replicas | tail -n1)
victim_name=$("$DOCKER" inspect -f '{{.Name}}' "$victim")
rm -f "$W/streaming"
node dist/scripts/deploy/probe.js stream "$URL" 8 4 "$W/streaming" &
STREAM_PID=$!
for _ in $(seq 1 100); do [ -f "$W/streaming" ] && break; sleep 0.1; done
sleep 1
stop_started=$SECONDS
"$DOCKER" stop "$victim" >/dev/null
code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$victim")
echo "  docker stop $victim_name: exit code $code after $((SECONDS - stop_started)) s"
"$DOCKER" logs --tail 4 "$victim" 2>&1 | cut -c1-200
wait "$STREAM_PID"
STREAM_PID=''
[ "$code" = 0 ] || { echo "docker stop gave exit code $code" >&2; exit 1; }

step 'the image alone, node as PID 1 (no init): docker stop exits 0'
"$DOCKER" run -d --name convd-pid1 "$img" >/dev/null
for _ in $(seq 1 60); do
  [ "$("$DOCKER" inspect -f '{{.State.Health.Status}}' convd-pid1)" = healthy ] && break
  sleep 1
done
echo "  convd-pid1: PID 1 is $("$DOCKER" exec convd-pid1 cat /proc/1/cmdline | tr '\0' ' '), health $("$DOCKER" inspect -f '{{.State.Health.Status}}' convd-pid1) (the image's HEALTHCHECK on /healthz)"
[ "$("$DOCKER" inspect -f '{{.State.Health.Status}}' convd-pid1)" = healthy ] || { echo 'the image HEALTHCHECK did not report healthy' >&2; exit 1; }
"$DOCKER" stop convd-pid1 >/dev/null
code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' convd-pid1)
echo "  docker stop convd-pid1: exit code $code"
"$DOCKER" rm convd-pid1 >/dev/null
[ "$code" = 0 ] || { echo "docker stop gave exit code $code" >&2; exit 1; }

step 'compose down'
timeout 120 env COMPOSE_PROJECT_NAME=$PROJECT docker-compose -f docker-compose.yml down -v --remove-orphans 2>&1 | tail -n 3
left=$("$DOCKER" ps -aq)
[ -z "$left" ] || { echo "containers left after down: $left" >&2; exit 1; }
