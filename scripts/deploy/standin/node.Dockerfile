# CI-only stand-in for the official node:24-bookworm-slim, made from the local
# debian:bookworm-slim stand-in and the Node.js 24 on PATH (no registry to pull from here).
# Same layout as the official image where the product depends on it: node and npm on PATH,
# user node (uid 1000) with /home/node, docker-entrypoint.sh as the entrypoint.
# The CA bundle is this sandbox's (its egress to the npm registry is intercepted); the product
# Dockerfile never refers to it.
FROM debian:bookworm-slim
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
COPY ca-certificates.crt /usr/local/share/ca-certificates/standin-ca-bundle.crt
RUN groupadd --gid 1000 node \
  && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
  && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
  && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
  && chmod 0755 /usr/local/bin/docker-entrypoint.sh \
  && node --version && npm --version
ENV NODE_VERSION=standin \
    NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/standin-ca-bundle.crt \
    npm_config_cafile=/usr/local/share/ca-certificates/standin-ca-bundle.crt \
    npm_config_update_notifier=false
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["node"]
