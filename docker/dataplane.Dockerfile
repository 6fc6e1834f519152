# Flock data plane. Build from the repository root:
#   docker build -f docker/dataplane.Dockerfile -t flock-dataplane .
# Run with the relay's certificates mounted (made by `flock create relay`):
#   docker run -p 6000:6000 -v $PWD/certs:/app/certs:ro \
#     -e FLOCK_URL=https://flock.example.workers.dev -e RELAY_NAME=relay-1 flock-dataplane
# Metrics listen on the container's loopback; to scrape them from a network you trust, add
#   -e METRICS_HOST=0.0.0.0 -p 9464:9464
# V8's old generation is held up to 64 MB; another size with -e RELAY_OLD_SPACE_MB=128, V8's
# defaults with -e RELAY_OLD_SPACE_MB=0 (see ENV below).
# The build stage compiles dist/ with the dev dependencies (esbuild); the image holds the
# compiled JavaScript and the runtime dependencies only.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build
# The kernel splice addon (docs/data-plane.md, "Kernel splice (plain-TCP pairs)"). It is optional: should it
# not build, the folder stays empty and the relay uses the JS splice.
RUN apt-get update && apt-get install -y --no-install-recommends g++ make python3 \
  && rm -rf /var/lib/apt/lists/* \
  && node native/splice/install.mjs && mkdir -p native/splice/build/Release

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/native/splice/build/Release ./native/splice/build/Release
COPY package.json ./
COPY bin ./bin
# The relay keeps its last revocation list in .flock/ so a restart does not forget it.
RUN mkdir -p /app/.flock && chown node:node /app/.flock
# The node image's unprivileged user; the relay needs no root (ports above 1024).
USER node
EXPOSE 6000 9464
# RELAY_OLD_SPACE_MB holds V8's old generation up (node --initial-old-space-size): a relay in
# use would otherwise run a mark-compact every 20-50 MB it splices (docs/deploying.md, "V8's
# old generation"); 0 leaves V8's defaults. Node refuses this flag in NODE_OPTIONS, hence the
# command line. `exec` makes node the container's process, so SIGTERM reaches it and drains.
ENV RELAY_NAME=relay-1 RELAY_PORT=6000 METRICS_PORT=9464 METRICS_HOST=127.0.0.1 RELAY_OLD_SPACE_MB=64
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "exec node --initial-old-space-size=\"$RELAY_OLD_SPACE_MB\" bin/flock.js relay start --name \"$RELAY_NAME\" --host 0.0.0.0 --port \"$RELAY_PORT\" --metrics-port \"$METRICS_PORT\" --metrics-host \"$METRICS_HOST\""]
