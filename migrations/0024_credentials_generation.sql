-- Which write of a connection's credentials belongs with its current configuration. Config
-- and credentials are written to two databases when a vault is configured (docs/vault.md,
-- rule 3): each write of both stamps the same new generation on the connection and on its
-- credentials, and a sync refuses credentials whose stamp differs, rather than send an old
-- secret to a newly configured host. NULL on both for rows written before this file.
ALTER TABLE connections ADD COLUMN credentials_generation uuid;

-- A split install no longer has the table here: the vault's own 0002 adds the column there.
DO $$
BEGIN
    IF to_regclass('connection_credentials') IS NOT NULL THEN
        ALTER TABLE connection_credentials ADD COLUMN generation uuid;
    END IF;
END
$$;
