# convd image. Build stage: compile the TypeScript service and its workers (tsc), the
# WebAssembly kernels (AssemblyScript) and the native engine's addon (g++ against OpenBLAS and
# oneDNN). Runtime stage: the two libraries, production dependencies and the compiled output
# only, as the non-root node user; CONVD_KERNEL=native, so the image runs the native engine
# (start-up fails if its addon cannot load).
#
#   docker build -t convd .
#   docker run --rm --init -p 127.0.0.1:8080:8080 convd

# The native engine's libraries, pinned to Debian bookworm's versions (OpenBLAS 0.3.21,
# oneDNN 2.6.3): the compiler and headers here, the shared libraries in the runtime stage.
FROM node:24-bookworm-slim AS build
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
     g++=4:12.2.0-3 libopenblas-dev=0.3.21+ds-4 libdnnl-dev=2.6.3-1 \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# Of the devDependencies only the toolchain is installed: typescript, assemblyscript,
# @types/node and node-api-headers. The others are for tests and benchmarks (onnxruntime-node,
# @tensorflow/*, vega: hundreds of MB) and are not needed to compile src/ and workers/. npm ci still installs
# exactly the lockfile's versions: it accepts a manifest with fewer dependencies than the lock.
# No install scripts run (none is needed to compile).
RUN node -e " \
      const fs = require('fs'); \
      const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')); \
      const keep = ['typescript', 'assemblyscript', '@types/node', 'node-api-headers']; \
      pkg.devDependencies = Object.fromEntries(Object.entries(pkg.devDependencies).filter(([name]) => keep.includes(name))); \
      fs.writeFileSync('package.json', JSON.stringify(pkg, null, 2));" \
  && npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
COPY native ./native
COPY scripts/build-native.sh ./scripts/
RUN npx tsc -p tsconfig.build.json && npm run build:wasm && bash scripts/build-native.sh \
  && test -f dist/workers/native/convd_native.node

FROM node:24-bookworm-slim
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
     libopenblas0-pthread=0.3.21+ds-4 libdnnl2=2.6.3-1 \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    CONVD_KERNEL=native
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
