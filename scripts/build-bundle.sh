#!/usr/bin/env bash
# Builds one Shutter process into a runtime tree: the recipe the Dockerfile runs (its build stage
# calls this script) and the artifact smoke test runs (scripts/smoke.ts), so both ship the same.
#
#   scripts/build-bundle.sh <gateway|identity|social-graph|content|notification> <out dir>
#
# Needs `npm ci` and the generated contracts (`npm run proto`). Writes:
#   <out>/app/dist/<service>.js   the esbuild bundle (node22), started as `node dist/<service>.js`
#   <out>/app/node_modules/       the native modules (argon2, sharp with its libvips binaries for linux)
#                                 and what they require, nothing else
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

# Native modules stay outside the bundle (copied below with what they require): argon2, sharp.
# pg-native and pino-pretty are never loaded here; nor are the SQL drivers knex could load.
NATIVE=(argon2 sharp)
node_modules/.bin/esbuild "$entry" --bundle --platform=node --target=node22 --outfile="$out/app/dist/$service.js" \
  --log-level=warning \
  --external:argon2 --external:sharp --external:pg-native --external:pino-pretty \
  --external:better-sqlite3 --external:sqlite3 --external:mysql --external:mysql2 --external:mariadb \
  --external:oracledb --external:tedious --external:pg-query-stream
node --check "$out/app/dist/$service.js"

# The files bundled libraries read next to their code at run time: grpc-health-check loads
# ${__dirname}/../../proto/health/v1/health.proto (app/dist → proto), and @fastify/swagger-ui
# serves ${__dirname}/../static and reads ${__dirname}/static/logo.svg.
mkdir -p "$out/proto"
# Each native module the bundle requires, with its dependency closure (dependencies and the
# optional ones installed: sharp's @img/sharp-<os>-<cpu> and libvips packages for this target).
node - "$out/app/dist/$service.js" "$out/app/node_modules" "${NATIVE[@]}" <<'NODE'
const fs = require('node:fs');
const path = require('node:path');
const [bundle, dest, ...natives] = process.argv.slice(2);
const code = fs.readFileSync(bundle, 'utf8');
const wanted = natives.filter((m) => code.includes(`require("${m}")`));
const seen = new Set();
const visit = (name) => {
  if (seen.has(name)) return;
  const dir = path.join('node_modules', name);
  if (!fs.existsSync(dir)) return; // an optional dependency for another platform
  seen.add(name);
  fs.cpSync(dir, path.join(dest, name), { recursive: true, dereference: true });
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  for (const dep of [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})]) visit(dep);
};
wanted.forEach(visit);
fs.mkdirSync(dest, { recursive: true });
console.log(`build-bundle: ${[...seen].sort().join(' ') || 'no native module'}`);
NODE
if [ -d "$out/app/node_modules/argon2" ]; then
  find "$out/app/node_modules/argon2/prebuilds" -mindepth 1 -maxdepth 1 ! -name 'linux-x64' ! -name 'linux-arm64' -exec rm -rf {} +
  rm -rf "$out/app/node_modules/argon2/argon2" "$out/app/node_modules/argon2/argon2.cpp" "$out/app/node_modules/argon2/binding.gyp"
fi
cp -r node_modules/grpc-health-check/proto/. "$out/proto/"
if [ "$service" = gateway ]; then
  cp -r node_modules/@fastify/swagger-ui/static "$out/app/static"
  cp -r node_modules/@fastify/swagger-ui/static "$out/app/dist/static"
fi
# Every native module loads from the runtime tree alone (for this machine's platform).
for m in "${NATIVE[@]}"; do
  if [ -d "$out/app/node_modules/$m" ] && [ "$(node -p "process.platform+'-'+process.arch")" = "${BUNDLE_CHECK_PLATFORM:-$(node -p "process.platform+'-'+process.arch")}" ]; then
    (cd "$out/app" && node -e "require('$m')")
  fi
done
