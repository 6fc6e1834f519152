# The control plane for a local cluster: the Cloudflare worker run in workerd (from the
# npm package) with a persisted D1, exactly what `npm start` runs on a laptop. Production
# runs the same worker on Cloudflare with `wrangler deploy` instead.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# Dev dependencies are needed here: wrangler bundles the worker and miniflare runs workerd.
# Scripts wait for the sources: the build (prepare) compiles them.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build
ENV WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_HIDE_BANNER=true
EXPOSE 8787
CMD ["node", "bin/flock.js", "dev", "--host", "0.0.0.0", "--no-relay"]
