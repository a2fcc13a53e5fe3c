# syntax=docker/dockerfile:1
# The session broker as a container: `docker build -t session-broker .`
# Configuration comes from the environment only (see .env.example and docs/configuration.md).

# ── build: full install (dev dependencies included), compile src/ and the web demo ──
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

# ── runtime: production dependencies, compiled output and the built SPA only ──
# STATIC_DIR serves the bundled web demo; point it at your own SPA's build, or set it
# empty to serve no files.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    STATIC_DIR=/app/web-demo/dist
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/web-demo/dist ./web-demo/dist
# Files stay owned by root: the process can read its code but not change it.
USER node
EXPOSE 3000
# Liveness only (/healthz); /readyz also checks the store and the provider.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and receives SIGTERM directly; the server drains for SHUTDOWN_GRACE_SECONDS.
CMD ["node", "dist/server.js"]
