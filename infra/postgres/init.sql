-- Shutter's Postgres, first start only: the official image runs this file (mounted in
-- /docker-entrypoint-initdb.d/) once, when the data volume is empty, as the superuser, connected to
-- POSTGRES_DB. It gives each service a login role that owns the schema of the same name, so a
-- service can use its own schema and no other (ARCHITECTURE.md: no service reads another's).
-- Each service still runs `CREATE SCHEMA IF NOT EXISTS <schema>` and its migrations itself at
-- start; this file only decides who owns what. The roles' password comes from the environment
-- (SHUTTER_DB_PASSWORD); to change it later, use ALTER ROLE: this file never runs again.
--
--   service       role / schema
--   identity      identity
--   social-graph  graph
--   content       content
--   notification  notification

\set ON_ERROR_STOP on
\getenv db_password SHUTTER_DB_PASSWORD
\if :{?db_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'SHUTTER_DB_PASSWORD is not set for the postgres container'; END $$;
\endif

CREATE ROLE identity LOGIN PASSWORD :'db_password';
CREATE ROLE graph LOGIN PASSWORD :'db_password';
CREATE ROLE content LOGIN PASSWORD :'db_password';
CREATE ROLE notification LOGIN PASSWORD :'db_password';

-- Connect, and create schemas and trusted extensions (a service's CREATE SCHEMA IF NOT EXISTS
-- needs the privilege even when the schema exists). Nobody else connects.
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
GRANT CONNECT, CREATE, TEMPORARY ON DATABASE :"DBNAME" TO identity, graph, content, notification;

CREATE SCHEMA IF NOT EXISTS identity AUTHORIZATION identity;
CREATE SCHEMA IF NOT EXISTS graph AUTHORIZATION graph;
CREATE SCHEMA IF NOT EXISTS content AUTHORIZATION content;
CREATE SCHEMA IF NOT EXISTS notification AUTHORIZATION notification;

-- For psql sessions as a service role; the services set search_path themselves (<schema>, public).
ALTER ROLE identity SET search_path = identity, public;
ALTER ROLE graph SET search_path = graph, public;
ALTER ROLE content SET search_path = content, public;
ALTER ROLE notification SET search_path = notification, public;

-- Trigram indexes for case-insensitive substring search (users, post content). Created once in
-- public, which every service has on its search_path, so no service creates it in its own schema.
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
