#!/usr/bin/env bash
# Builds one Shutter process into a runtime tree: the recipe the Dockerfile runs (its build stage
# calls this script) and the artifact smoke test runs (scripts/smoke.ts), so both ship the same.
#
#   scripts/build-bundle.sh <gateway|identity|social-graph|content|notification> <out dir>
#
# Needs `npm ci` and the generated contracts (`npm run proto`). Writes:
#   <out>/app/dist/<service>.js   the esbuild bundle (node22), started as `node dist/<service>.js`
#   <out>/app/node_modules/       argon2 (native, prebuilt for linux x64 + arm64) and what it requires
#   <out>/proto/                  grpc-health-check's .proto, read at run time from ../../proto
#   <out>/app/static, dist/static the gateway's Swagger UI assets
set -euo pipefail
service=${1:-}
out=${2:-}
case "$service" in
  gateway) entry=gateway/src/server.ts ;;
  identity|social-graph|content|notification) entry="services/$service/src/main.ts" ;;
  *) echo "usage: scripts/build-bundle.sh gateway|identity|social-graph|content|notification <out dir> (got '$service')" >&2; exit 2 ;;
esac
[ -n "$out" ] || { echo "scripts/build-bundle.sh: no output directory" >&2; exit 2; }
cd "$(dirname "$0")/.."
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Native or optional modules stay outside the bundle: argon2 (native, copied below), pg-native and
# pino-pretty (never loaded here), and the SQL drivers knex could load but Shutter does not use.
node_modules/.bin/esbuild "$entry" --bundle --platform=node --target=node22 --outfile="$out/app/dist/$service.js" \
  --log-level=warning \
  --external:argon2 --external:pg-native --external:pino-pretty \
  --external:better-sqlite3 --external:sqlite3 --external:mysql --external:mysql2 --external:mariadb \
  --external:oracledb --external:tedious --external:pg-query-stream
node --check "$out/app/dist/$service.js"

# The files bundled libraries read next to their code at run time: grpc-health-check loads
# ${__dirname}/../../proto/health/v1/health.proto (app/dist → proto), and @fastify/swagger-ui
# serves ${__dirname}/../static and reads ${__dirname}/static/logo.svg.
mkdir -p "$out/app/node_modules/@phc" "$out/proto"
cp -r node_modules/argon2 node_modules/node-gyp-build "$out/app/node_modules/"
cp -r node_modules/@phc/format "$out/app/node_modules/@phc/"
find "$out/app/node_modules/argon2/prebuilds" -mindepth 1 -maxdepth 1 ! -name 'linux-x64' ! -name 'linux-arm64' -exec rm -rf {} +
rm -rf "$out/app/node_modules/argon2/argon2" "$out/app/node_modules/argon2/argon2.cpp" "$out/app/node_modules/argon2/binding.gyp"
cp -r node_modules/grpc-health-check/proto/. "$out/proto/"
if [ "$service" = gateway ]; then
  cp -r node_modules/@fastify/swagger-ui/static "$out/app/static"
  cp -r node_modules/@fastify/swagger-ui/static "$out/app/dist/static"
fi
(cd "$out/app" && node -e "require('argon2')")
