-- Shutter's Postgres, first start only: the official image runs this file (mounted in
-- /docker-entrypoint-initdb.d/) once, when the data volume is empty, as the superuser, connected to
-- POSTGRES_DB. It gives each service a login role that owns the schema of the same name, so a
-- service can use its own schema and no other (docs/architecture.md *Data*: no service reads another's).
-- Each service still runs `CREATE SCHEMA IF NOT EXISTS <schema>` and its migrations itself at
-- start; this file only decides who owns what. The roles' passwords come from the environment
-- (below); to change one later, use ALTER ROLE: this file never runs again.
--
--   service       role / schema
--   identity      identity
--   social-graph  graph
--   content       content
--   notification  notification

\set ON_ERROR_STOP on
-- Each role's password: SHUTTER_DB_PASSWORD_<ROLE> (docker-compose.yml generates one per role),
-- else SHUTTER_DB_PASSWORD for all four. No default: a missing password stops here.
\getenv db_password SHUTTER_DB_PASSWORD
\getenv identity_password SHUTTER_DB_PASSWORD_IDENTITY
\getenv graph_password SHUTTER_DB_PASSWORD_GRAPH
\getenv content_password SHUTTER_DB_PASSWORD_CONTENT
\getenv notification_password SHUTTER_DB_PASSWORD_NOTIFICATION
\if :{?db_password}
  \if :{?identity_password} \else \set identity_password :db_password \endif
  \if :{?graph_password} \else \set graph_password :db_password \endif
  \if :{?content_password} \else \set content_password :db_password \endif
  \if :{?notification_password} \else \set notification_password :db_password \endif
\endif
\if :{?identity_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'set SHUTTER_DB_PASSWORD (or SHUTTER_DB_PASSWORD_<ROLE> for each role) for init.sql'; END $$;
\endif
\if :{?graph_password} \else DO $$ BEGIN RAISE EXCEPTION 'SHUTTER_DB_PASSWORD_GRAPH is not set'; END $$; \endif
\if :{?content_password} \else DO $$ BEGIN RAISE EXCEPTION 'SHUTTER_DB_PASSWORD_CONTENT is not set'; END $$; \endif
\if :{?notification_password} \else DO $$ BEGIN RAISE EXCEPTION 'SHUTTER_DB_PASSWORD_NOTIFICATION is not set'; END $$; \endif

CREATE ROLE identity LOGIN PASSWORD :'identity_password';
CREATE ROLE graph LOGIN PASSWORD :'graph_password';
CREATE ROLE content LOGIN PASSWORD :'content_password';
CREATE ROLE notification LOGIN PASSWORD :'notification_password';

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
