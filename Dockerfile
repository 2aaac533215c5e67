# syntax=docker/dockerfile:1.7
# One image per Shutter process, chosen by SERVICE (= compose service = Kubernetes name):
#   gateway | identity | social-graph | content | notification
#
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg SERVICE=identity \
#     -t ghcr.io/OWNER/identity:TAG --push .
#
# The build stages run on the builder's own platform (--platform=$BUILDPLATFORM): their output is
# plain JavaScript plus argon2, whose npm package carries prebuilt binaries for linux x64 and
# arm64 (glibc). The runtime stage only copies files, so an arm64 image builds on an amd64 machine
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
ARG SERVICE
RUN case "$SERVICE" in \
      gateway) echo gateway/src/server.ts ;; \
      identity|social-graph|content|notification) echo "services/$SERVICE/src/main.ts" ;; \
      *) echo "build with --build-arg SERVICE=gateway|identity|social-graph|content|notification (got '$SERVICE')" >&2; exit 1 ;; \
    esac > /tmp/entry
RUN npm run proto
# Native or optional modules stay outside the bundle: argon2 (native, copied below), pg-native and
# pino-pretty (never loaded here), and the SQL drivers knex could load but Shutter does not use.
RUN npx esbuild "$(cat /tmp/entry)" --bundle --platform=node --target=node22 --outfile="dist/$SERVICE.js" \
      --log-level=warning \
      --external:argon2 --external:sharp --external:pg-native --external:pino-pretty \
      --external:better-sqlite3 --external:sqlite3 --external:mysql --external:mysql2 --external:mariadb \
      --external:oracledb --external:tedious --external:pg-query-stream \
 && node --check "dist/$SERVICE.js"
# The runtime tree under /out: the bundle, argon2 and what it requires (its own prebuilt binaries for
# linux only), and the files bundled libraries read next to their code at run time:
# grpc-health-check loads ${__dirname}/../../proto/health/v1/health.proto (/app/dist → /proto), and
# @fastify/swagger-ui serves ${__dirname}/../static and reads ${__dirname}/static/logo.svg.
RUN mkdir -p /out/app/dist /out/app/node_modules/@phc /out/proto \
 && cp "dist/$SERVICE.js" /out/app/dist/ \
 && cp -r node_modules/argon2 node_modules/node-gyp-build /out/app/node_modules/ \
 && cp -r node_modules/@phc/format /out/app/node_modules/@phc/ \
 && find /out/app/node_modules/argon2/prebuilds -mindepth 1 -maxdepth 1 ! -name 'linux-x64' ! -name 'linux-arm64' -exec rm -rf {} + \
 && rm -rf /out/app/node_modules/argon2/argon2 /out/app/node_modules/argon2/argon2.cpp /out/app/node_modules/argon2/binding.gyp \
 && cp -r node_modules/grpc-health-check/proto/. /out/proto/ \
 && if [ "$SERVICE" = gateway ]; then \
      cp -r node_modules/@fastify/swagger-ui/static /out/app/static \
      && cp -r node_modules/@fastify/swagger-ui/static /out/app/dist/static; \
    fi \
 && cd /out/app && node -e "require('argon2')"
# content's photo pipeline: sharp and libvips' prebuilt binaries for the image's own platform
# (npm packages per platform, so installed for TARGETARCH however this stage runs).
ARG TARGETARCH
RUN if [ "$SERVICE" = content ]; then \
      v=$(node -p "require('./node_modules/sharp/package.json').version") \
      && cpu=$(if [ "$TARGETARCH" = arm64 ]; then echo arm64; else echo x64; fi) \
      && mkdir -p /tmp/sharp && cd /tmp/sharp && echo '{"private":true}' > package.json \
      && npm install --no-audit --no-fund --os=linux --cpu="$cpu" --libc=glibc "sharp@$v" \
      && cp -r node_modules/. /out/app/node_modules/; \
    fi

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
# receives SIGTERM itself and shuts down in order.
CMD ["sh", "-c", "exec node dist/${SHUTTER_SERVICE}.js"]
