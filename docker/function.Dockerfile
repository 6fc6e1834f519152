# Example function image: a party that connects to its peer through Flock and echoes
# what it receives (the role a Lambda / Cloud Run / Azure Functions container plays).
#   docker build -f docker/function.Dockerfile -t flock-function .
#   docker run -e FLOCK_PARTY="$(flock env --user alice --party p0 --dest p1 --bundle --value)" flock-function
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
USER node
# FLOCK_PARTY (or FLOCK_URL, RELAY_CA, RELAY_CERT, RELAY_KEY, USER_CA, PARTY_CERT, PARTY_KEY)
# and DEST come from the platform's secret store, never from the image. The floor under V8's
# old generation keeps a receiver out of a mark-compact per scavenge (docs/sdk.md, "Bulk
# transfers and V8's heap"); NODE_OPTIONS does not take it.
CMD ["node", "--initial-old-space-size=64", "bin/flock.js", "connect"]
