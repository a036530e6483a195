# ferkit server image: the browser app, the /v1 API (server-side ONNX Runtime), the class dashboard; models inside.
# Debian bookworm, Node 20, runs as the unprivileged user "ferkit". Not built in ferkit's CI (no Docker there).
#
#   docker build -t ferkit .
#   docker run --rm -p 8080:8080 -e FERKIT_TOKEN=$(openssl rand -hex 24) -v ferkit-data:/data ferkit
#
# Inside the container the server listens on 0.0.0.0, so a token is required (FERKIT_TOKEN, 16+ characters):
# API clients send "Authorization: Bearer <token>". Sessions and video jobs are kept in /data (a volume).
# A .dockerignore with node_modules, dist, .git, training/runs and results keeps the build context small.
# Analyses run in --workers threads (default: the CPUs Node sees, i.e. the host's unless --cpuset-cpus limits them);
# under a --cpus quota pass --workers to match it, e.g. `docker run … ferkit --host 0.0.0.0 --db /data/ferkit.db --workers 2`.

# ---- build: compile TypeScript, build the web app, then drop the dev dependencies --------------------------------
FROM node:20-bookworm-slim AS build
# better-sqlite3 and sharp ship prebuilt binaries; the toolchain is only the fallback when a prebuilt one is missing.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no install script downloads anything (onnxruntime-node's CUDA fetch included; its CPU binaries are
# in the package). better-sqlite3 then fetches its prebuilt binary or, failing that, compiles with the toolchain above.
RUN npm ci --ignore-scripts \
 && npm rebuild better-sqlite3
COPY tsconfig.json ./
COPY src ./src
COPY bench ./bench
COPY bin ./bin
COPY models ./models
COPY web ./web
RUN npm run build && npm run build:web \
 && npm prune --omit=dev

# ---- run ----------------------------------------------------------------------------------------------------------
FROM node:20-bookworm-slim
# ffmpeg: video jobs (POST /v1/videos) decode through it; tini: signals reach node (graceful shutdown, WAL checkpoint).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system ferkit && useradd --system --gid ferkit --home-dir /app --shell /usr/sbin/nologin ferkit \
 && mkdir -p /data && chown ferkit:ferkit /data
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build --chown=root:root /app/package.json ./
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --from=build --chown=root:root /app/bin ./bin
COPY --from=build --chown=root:root /app/models ./models
USER ferkit
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/ferkit.js", "serve"]
CMD ["--host", "0.0.0.0", "--port", "8080", "--db", "/data/ferkit.db"]
