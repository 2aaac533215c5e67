#!/usr/bin/env bash
# Validates the deployment files statically: no Docker engine, no cluster.
#   1. docker-compose.yml   `docker compose config -q` (v2), else `docker-compose config -q` (v1)
#   2. k8s/, compose, .env  node infra/check-deploy.js: every YAML document parses, names and
#                           references resolve, probes/resources/securityContext, env names
#   3. k8s/overlays/*       kubectl kustomize | node infra/validate-k8s.mjs (schemas from npm)
#   4. prometheus.yml       promtool check config, when promtool is installed
#   5. nginx                the real config rendered into a temp dir, then `nginx -t`
# Missing tools: scripts/install-system-deps.sh --deploy (nginx, docker-compose).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

failed=()
step() { printf '== %s\n' "$1"; }
ok() { printf '   ok\n'; }
fail() { printf '   FAILED: %s\n' "$1"; failed+=("$1"); }

step "docker-compose.yml"
# Checked against .env.example, so the result does not depend on a local .env.
if docker compose version >/dev/null 2>&1; then
  if docker compose --env-file .env.example -f docker-compose.yml config -q; then ok; else fail "docker compose config"; fi
elif command -v docker-compose >/dev/null 2>&1; then
  # Compose v1 predates the top-level `name:` key; everything else is checked as written.
  tmp=$(mktemp -d)
  grep -v '^name: ' docker-compose.yml > "$tmp/docker-compose.yml"
  if docker-compose --env-file .env.example --project-directory . -f "$tmp/docker-compose.yml" config -q; then ok; else fail "docker-compose config"; fi
  rm -rf "$tmp"
else
  fail "no docker compose / docker-compose: run scripts/install-system-deps.sh --deploy"
fi

step "k8s/, docker-compose.yml, .env.example (infra/check-deploy.js)"
if report=$(node infra/check-deploy.js 2>&1); then ok; else printf '%s\n' "$report" | sed 's/^/   /'; fail "infra/check-deploy.js"; fi

step "k8s/overlays/* rendered, against the Kubernetes schemas (infra/validate-k8s.mjs)"
if command -v kubectl >/dev/null 2>&1; then
  for overlay in k8s/overlays/*/; do
    name=$(basename "$overlay")
    if out=$(kubectl kustomize "$overlay" 2>&1) && report=$(printf '%s\n' "$out" | node infra/validate-k8s.mjs 2>&1); then
      printf '   %s: %s\n' "$name" "$report"
    else
      printf '%s\n' "$out" "$report" | tail -20 | sed 's/^/   /'; fail "k8s/overlays/$name"
    fi
  done
else
  fail "kubectl is missing (kubectl kustomize renders the overlays)"
fi

step "infra/prometheus/prometheus.yml"
if command -v promtool >/dev/null 2>&1; then
  if promtool check config --syntax-only infra/prometheus/prometheus.yml >/dev/null; then ok; else fail "promtool check config"; fi
else
  printf '   skipped: needs promtool (Debian package prometheus)\n'
fi

step "nginx -t on the rendered config"
nginx_bin=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
if [ -n "$nginx_bin" ]; then
  out=$(mktemp -d)
  # The container resolves `gateway`; here an address stands in for it (nginx -t resolves names).
  if args=$(node -e "const {render}=require('./nginx/render');process.stdout.write(render({gateway:'127.0.0.1:8080',listen:8080,outDir:process.argv[1]}).args.join(' '))" "$out") \
     && "$nginx_bin" -t -q $args; then ok; else fail "nginx -t"; fi
  rm -rf "$out"
else
  fail "nginx is not installed: run scripts/install-system-deps.sh"
fi

if [ ${#failed[@]} -gt 0 ]; then
  printf '\nvalidate-deploy: %d check(s) failed: %s\n' "${#failed[@]}" "${failed[*]}"
  exit 1
fi
printf '\nvalidate-deploy: all checks passed\n'
