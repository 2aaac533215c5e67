# Shutter: the two commands a newcomer needs are `make dev` and `make test`.
# Both install what is missing first (npm packages, generated contracts, system packages).

SHELL := /bin/bash
NPM_STAMP := node_modules/.install-stamp
PROTO_STAMP := packages/proto/src/gen/.stamp
PROTOS := $(shell find proto -name '*.proto')

.PHONY: dev test test-fast install proto openapi typecheck lint format jest system-deps validate-deploy smoke backup restore backup-check bench chaos fuzz clean help

help:
	@echo "make dev      install what is missing, start the whole stack (API on http://127.0.0.1:8080)"
	@echo "make test     install what is missing, type-check, lint and run every test"
	@echo "make test-fast  only the unit tests and the gateway's in-process tier (seconds; Redis only)"
	@echo "make format   rewrite files the formatter (prettier) would change"
	@echo "make proto    regenerate TypeScript from proto/"
	@echo "make openapi  regenerate docs/openapi.json and the client's types from the route schemas"
	@echo "make bench    run the benchmarks"
	@echo "make chaos    kill each process and restart Redis and Postgres under load; report what survived"
	@echo "make fuzz     send 10 000 generated requests to the stack; fails on any 5xx or contract break"

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

$(PROTO_STAMP): $(PROTOS) buf.gen.yaml $(NPM_STAMP)
	node scripts/gen-proto.js
	@touch $@

install: $(NPM_STAMP) $(PROTO_STAMP)

proto: $(PROTO_STAMP)

# The committed OpenAPI document and the client's types generated from it (tests fail when either is stale).
openapi: install
	node_modules/.bin/tsx scripts/openapi.ts
	node_modules/.bin/openapi-typescript docs/openapi.json -o packages/client/src/schema.d.ts

system-deps:
	@bash scripts/install-system-deps.sh

# `make dev` reports how long it took from here to the first answered request (ms since the epoch;
# empty where `date` lacks %N, and then scripts/dev.ts counts from its own start).
ifneq ($(filter dev,$(MAKECMDGOALS)),)
DEV_T0 := $(shell date +%s%3N 2>/dev/null)
endif

# node --require tsx/cjs: TypeScript without the tsx CLI wrapper process or an ESM loader thread.
dev: install
	@SHUTTER_DEV_T0=$(DEV_T0) node --require tsx/cjs scripts/dev.ts

typecheck: install
	node_modules/.bin/tsc -b

# Formatting (prettier, .prettierrc.json) is checked here; `make format` rewrites what differs.
# --cache: a file prettier saw unchanged under the same config is not formatted again.
lint: install
	node_modules/.bin/prettier --check --cache --log-level warn .
	node_modules/.bin/eslint --max-warnings 0 .

format: install
	node_modules/.bin/prettier --write --cache --log-level warn .

# Jest writes its totals to .test-results/jest.json (.ci/run prints them).
jest: install system-deps
	@mkdir -p .test-results
	node_modules/.bin/jest --json --outputFile=.test-results/jest.json $(JEST_ARGS)

test: typecheck lint jest

# Unit tests and the gateway's in-process tier (jest.fast.config.js): no database, S3 or services.
test-fast: install system-deps
	node_modules/.bin/jest -c jest.fast.config.js $(JEST_ARGS)

# Shutter at scale through nginx beside same-run baselines (bench/run.ts: BENCH_QUICK=1 smoke run,
# BENCH_SCALE=n, BENCH_REBUILD=1, BENCH_PROFILE=1); results in bench/results/.
bench: install system-deps
	node --require tsx/cjs bench/run.ts

# Faults under load (SIGKILL each process, restart Redis and Postgres) on a private stack: scripts/chaos.ts.
chaos: install system-deps
	@node --require tsx/cjs scripts/chaos.ts

# Generated hostile requests from the served OpenAPI document (fuzz/README.md); FUZZ_URL, FUZZ_REQUESTS, FUZZ_SEED.
fuzz: install
	node_modules/.bin/tsx fuzz/run.ts

validate-deploy: install
	bash scripts/validate-deploy.sh

# Database (one snapshot, every schema) + bucket objects; docs/deploy.md *Backups* (scripts/backup.ts).
backup: install
	node --require tsx/cjs scripts/backup.ts backup $(BACKUP_DIR)

restore: install
	@test -n "$(BACKUP_DIR)" || { echo "make restore BACKUP_DIR=<a backup directory>"; exit 2; }
	node --require tsx/cjs scripts/backup.ts restore $(BACKUP_DIR)

backup-check: install
	node --require tsx/cjs scripts/backup.ts check

# The Dockerfile's bundles, plain node, behind real nginx: one user journey (scripts/smoke.ts).
smoke: install system-deps
	node --require tsx/cjs scripts/smoke.ts

clean:
	rm -rf node_modules packages/proto/src/gen .test-results $(shell find . -name .tsbuild -not -path './node_modules/*')
