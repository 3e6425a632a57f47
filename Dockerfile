# Pro-rata refund service: one image for the API (default), the Temporal
# worker and the CLI.
#
#   docker build -t prorata-refund-service .
#   docker run -p 5000:5000 --env-file prod.env prorata-refund-service                                   # API
#   docker run --env-file prod.env --no-healthcheck prorata-refund-service \
#     env MALLOC_ARENA_MAX=2 MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=2 dist/src/temporal/worker-main.js   # worker (run several)
#   docker run --env-file prod.env prorata-refund-service node dist/src/cli/main.js migrate              # indexes, once per deploy
#
# Configuration is environment only (see .env.example); nothing secret is baked
# into the image. The HEALTHCHECK below is the API's: worker containers replace
# it (docker-compose.yml checks the worker's metrics port instead).

# ---- build: all dependencies, compile TypeScript to dist/ --------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app

# Dependencies first, so source edits do not invalidate this layer. No package
# needs its install script: Temporal's core bridge and swc ship prebuilt binaries.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

COPY . .
RUN npm run build

# ---- runtime: production dependencies and the compiled code only -------------
FROM node:20-bookworm-slim AS runtime

# tini as PID 1 forwards SIGTERM to node and reaps children, so the worker's
# graceful shutdown runs on `docker stop`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps \
    PORT=5000
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

COPY --from=build /app/dist ./dist

# The files stay owned by root (read-only for the process); it runs as `node`.
USER node

EXPOSE 5000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 5000) + '/api/status', { signal: AbortSignal.timeout(4000) }).then((res) => process.exit(res.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/api/main.js"]
