-- The roles the engine and the product log in as (scripts/services makes
-- the same): sentinel_projector for the engine, sentinel_app for tenants.
CREATE ROLE sentinel_projector LOGIN NOSUPERUSER BYPASSRLS;
CREATE ROLE sentinel_app LOGIN NOSUPERUSER NOBYPASSRLS;
