# CI-only stand-in for the official nginx image: Debian's nginx (1.22) on the local
# debian:bookworm-slim stand-in. Like the official image it logs to stdout/stderr, stops on
# SIGQUIT and runs in the foreground; it has no /docker-entrypoint.d templates (the product
# mounts a plain deploy/nginx.conf).
FROM debian:bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends nginx-light \
  && rm -rf /var/lib/apt/lists/* \
  && rm -f /etc/nginx/sites-enabled/default \
  && ln -sf /dev/stdout /var/log/nginx/access.log \
  && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
