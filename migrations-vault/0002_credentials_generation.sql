-- The generation of the connection's configuration these credentials were written with
-- (migrations/0024_credentials_generation.sql explains it).
ALTER TABLE connection_credentials ADD COLUMN generation uuid;
