# syntax=docker/dockerfile:1
# One image for every pidguard command: the Deployment and DaemonSet choose the command with args
# (serve, agent, audit). A release job builds it:
#   docker build -t ghcr.io/pidguard/pidguard:0.1.0 .
# The e2e suite builds it as it is with buildah, on a locally assembled base (test/e2e/cluster/image.sh).
# For reproducible builds, pin both FROM lines by digest (node:24-bookworm-slim@sha256:...).

# Build stage: the full dependency tree, TypeScript compiled to dist/.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied; the build runs below.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies, the compiled code and the launcher, nothing else.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY bin ./bin
# Numeric, so the kubelet can verify runAsNonRoot. 65532 is the conventional "nonroot" uid; the
# node agent overrides it with runAsUser: 0 in its securityContext (it writes host cgroup files).
USER 65532:65532
ENTRYPOINT ["node", "/app/bin/pidguard.js"]
