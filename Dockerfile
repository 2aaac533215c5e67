# syntax=docker/dockerfile:1.7
# One image per Shutter process, chosen by SERVICE (= compose service = Kubernetes name):
#   gateway | identity | social-graph | content | notification
#
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg SERVICE=identity \
#     -t ghcr.io/OWNER/identity:TAG --push .
#
# The build stages run on the builder's own platform (--platform=$BUILDPLATFORM): their output is
# plain JavaScript plus argon2 (its npm package carries prebuilt binaries for linux x64 and arm64)
# and sharp (its libvips packages for the target are fetched in the build stage). The runtime stage only copies files, so an arm64 image builds on an amd64 machine
# without emulating a single command. docs/deploy.md has the details.

ARG NODE_IMAGE=node:22-bookworm-slim

# Only the package manifests, so the `npm ci` layer is reused until a dependency changes.
FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN mkdir /manifests \
 && find . -name node_modules -prune -o \( -name package.json -o -name package-lock.json \) -print \
    | xargs -I{} cp --parents {} /manifests

FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS build
WORKDIR /app
COPY --from=manifests /manifests/ ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY . .
RUN npm run proto
# The bundle and its runtime tree under /out (/out/app, /out/proto): scripts/build-bundle.sh is the
# one recipe, also run by the artifact smoke test (scripts/smoke.ts) on the same sources.
# sharp's native packages for the target (npm ci installed the builder's only): fetched apart,
# so the builder's own native tools (esbuild) stay as they are.
ARG TARGETARCH
RUN cpu=$(case "$TARGETARCH" in arm64) echo arm64 ;; *) echo x64 ;; esac) \
 && if [ ! -d "node_modules/@img/sharp-linux-$cpu" ]; then \
      mkdir -p /tmp/sharp && cd /tmp/sharp \
      && npm install --no-save --no-audit --no-fund --os=linux --cpu="$cpu" --libc=glibc \
           "sharp@$(node -p "require('/app/node_modules/sharp/package.json').version")" \
      && cp -r /tmp/sharp/node_modules/@img/sharp-linux-$cpu /tmp/sharp/node_modules/@img/sharp-libvips-linux-$cpu /app/node_modules/@img/; \
    fi
ARG SERVICE
RUN BUNDLE_CHECK_PLATFORM="linux-$(case "$TARGETARCH" in arm64) echo arm64 ;; *) echo x64 ;; esac)" \
    bash scripts/build-bundle.sh "$SERVICE" /out

FROM ${NODE_IMAGE} AS runtime
ARG SERVICE
ARG IMAGE_SOURCE=""
LABEL org.opencontainers.image.title="shutter-${SERVICE}" \
      org.opencontainers.image.description="Shutter ${SERVICE} (photo-sharing backend)" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="${IMAGE_SOURCE}"
WORKDIR /app
COPY --from=build /out/ /
# pino writes JSON even on a terminal (pino-pretty is not in the image).
ENV SHUTTER_SERVICE=${SERVICE} \
    LOG_FORMAT=json
USER node
# Exec form cannot expand a build argument: sh expands it and `exec` hands PID 1 to node, which
# receives SIGTERM itself and shuts down in order. /run/shutter/env, when mounted (compose: the
# generated secrets of this process), is read first; variables already set are overridden by it.
CMD ["sh", "-c", "if [ -r /run/shutter/env ]; then set -a; . /run/shutter/env; set +a; fi; exec node dist/${SHUTTER_SERVICE}.js"]
