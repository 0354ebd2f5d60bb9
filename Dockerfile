# convd image. Build stage: compile the TypeScript service and its workers (tsc) and the
# WebAssembly kernels (AssemblyScript). Runtime stage: production dependencies and the compiled
# output only, as the non-root node user.
#
#   docker build -t convd .
#   docker run --rm --init -p 127.0.0.1:8080:8080 convd

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# Of the devDependencies only the toolchain is installed: typescript, assemblyscript and
# @types/node. The others are for tests and benchmarks (onnxruntime-node, @tensorflow/*,
# vega: hundreds of MB) and are not needed to compile src/ and workers/. npm ci still installs
# exactly the lockfile's versions: it accepts a manifest with fewer dependencies than the lock.
# No install scripts run (none is needed to compile).
RUN node -e " \
      const fs = require('fs'); \
      const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')); \
      const keep = ['typescript', 'assemblyscript', '@types/node']; \
      pkg.devDependencies = Object.fromEntries(Object.entries(pkg.devDependencies).filter(([name]) => keep.includes(name))); \
      fs.writeFileSync('package.json', JSON.stringify(pkg, null, 2));" \
  && npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
RUN npx tsc -p tsconfig.build.json && npm run build:wasm

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# msgpackr-extract's install script only checks for its prebuilt binary, which the linux-x64
# optional package ships; nothing else in the production tree has one.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/workers ./dist/workers
USER node
EXPOSE 8080
# Liveness from node itself (the image has no curl). Compose's healthcheck asks /readyz instead.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node is PID 1 (the base image's entrypoint execs it): it handles SIGTERM itself (drains,
# exits 0) and starts no child processes, only worker threads. `docker run --init` or compose's
# `init: true` add tini in front of it for zombie reaping and signal forwarding.
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/server.js"]
