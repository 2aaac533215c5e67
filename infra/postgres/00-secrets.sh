# Sourced by the postgres image's entrypoint before 10-shutter.sql (first start of the volume
# only): the per-service role passwords that docker-compose.yml's `secrets` one-shot generated.
set -a
. /run/shutter/roles.env
set +a
