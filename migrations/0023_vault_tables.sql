-- The tables the vault database holds (docs/vault.md), in the shape of migrations-vault/.
-- With TRIBUTARY_VAULT_DATABASE_URL unset they live here, beside the records; with it set,
-- `tributary migrate` drops these copies while they are empty, and `migrate --split-vault`
-- moves their rows across first. No later file of migrations/ may touch data_keys,
-- audit_log, connection_credentials or vault_tenants: a split install no longer has them.

-- Credentials leave `connections`, so that the main database can be dumped without them.
CREATE TABLE connection_credentials (
    connection_id uuid PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    tenant_id     uuid NOT NULL,
    -- AEAD ciphertext (docs/encryption.md) bound to tenant, table `connections`, column
    -- `credentials` and the connection's id: the binding predates the move and is kept.
    sealed        bytea NOT NULL,
    key_version   integer NOT NULL CHECK (key_version > 0),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connection_credentials_tenant ON connection_credentials (tenant_id, key_version);

INSERT INTO connection_credentials (connection_id, tenant_id, sealed, key_version)
SELECT id, tenant_id, credentials, credentials_key_version FROM connections
WHERE credentials IS NOT NULL AND credentials_key_version IS NOT NULL;

ALTER TABLE connections DROP COLUMN credentials, DROP COLUMN credentials_key_version;

-- The vault's own record of a tenant: the row a new key and a shred both lock, so that no
-- key is ever stored for a tenant after it was shredded (the vault cannot see `tenants`).
CREATE TABLE vault_tenants (
    tenant_id   uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    shredded_at timestamptz
);
INSERT INTO vault_tenants (tenant_id, shredded_at)
SELECT DISTINCT t.id, t.shredded_at FROM tenants t JOIN data_keys k ON k.tenant_id = t.id;
