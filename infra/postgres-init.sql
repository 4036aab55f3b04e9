-- Database roles for Plateaux (PostgreSQL 15 or newer; psql 15 or newer runs it).
--
--   plateaux_owner  owns the schema; `plateaux migrate` connects as it
--                   (PLATEAUX_MIGRATION_DATABASE_URL).
--   plateaux_app    the application's role (PLATEAUX_DATABASE_URL): it owns nothing and
--                   cannot bypass row-level security, so the tenant policies apply to every
--                   query. Its table privileges (SELECT, INSERT, UPDATE, DELETE) are granted
--                   by `plateaux migrate` after each migration, not here.
--
-- Run it once per database, as a superuser or a role with CREATEROLE, connected to the
-- Plateaux database, with the two passwords in the environment:
--
--   PLATEAUX_OWNER_PASSWORD=... PLATEAUX_APP_PASSWORD=... \
--     psql -v ON_ERROR_STOP=1 -d plateaux -f infra/postgres-init.sql
--
-- The postgres container of docker-compose.yml runs it on its first start. Running it again
-- is harmless: it resets the passwords and checks the attributes.

\set ON_ERROR_STOP on

\getenv owner_password PLATEAUX_OWNER_PASSWORD
\getenv app_password PLATEAUX_APP_PASSWORD
\if :{?owner_password}
\else
    \set owner_password ''
\endif
\if :{?app_password}
\else
    \set app_password ''
\endif
SELECT :'owner_password' = '' OR :'app_password' = '' AS passwords_missing \gset
\if :passwords_missing
    DO $$ BEGIN
        RAISE EXCEPTION 'set PLATEAUX_OWNER_PASSWORD and PLATEAUX_APP_PASSWORD in the environment of psql';
    END $$;
\endif

-- Created with their attributes; a later run only updates the login and password, since
-- changing SUPERUSER or BYPASSRLS needs a superuser (managed services have none).
SELECT 'CREATE ROLE plateaux_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'plateaux_owner') \gexec
SELECT 'CREATE ROLE plateaux_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'plateaux_app') \gexec

ALTER ROLE plateaux_owner WITH LOGIN PASSWORD :'owner_password';
ALTER ROLE plateaux_app WITH LOGIN PASSWORD :'app_password';

DO $$
BEGIN
    IF EXISTS (
        SELECT FROM pg_roles
        WHERE rolname IN ('plateaux_owner', 'plateaux_app') AND (rolsuper OR rolbypassrls)
    ) THEN
        RAISE EXCEPTION 'plateaux_owner and plateaux_app must be NOSUPERUSER NOBYPASSRLS, or row-level security does not apply to them';
    END IF;
    IF pg_has_role('plateaux_app', 'plateaux_owner', 'MEMBER') THEN
        RAISE EXCEPTION 'plateaux_app must not be a member of plateaux_owner';
    END IF;
END $$;

-- Only the two roles (and superusers) may connect. The owner may create trusted extensions.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()) \gexec
SELECT format('GRANT CONNECT, TEMPORARY, CREATE ON DATABASE %I TO plateaux_owner', current_database()) \gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO plateaux_app', current_database()) \gexec

-- The tables live in the public schema: the owner creates them, the application only uses it.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO plateaux_owner;
GRANT USAGE ON SCHEMA public TO plateaux_app;
