-- The vault database (docs/vault.md): what is more sensitive than records. The shapes are
-- those of migrations/0007, 0008 and 0023 without their foreign keys to the main database's
-- tables, which live in another database; the write order of docs/vault.md takes their place.

-- Tenants' keys, wrapped by the key-encryption key.
CREATE TABLE data_keys (
    tenant_id   uuid NOT NULL,
    purpose     text NOT NULL CHECK (purpose IN ('data', 'index')),
    version     integer NOT NULL CHECK (version > 0),
    -- NULL once retired or shredded: the key material is gone for good.
    wrapped_key bytea,
    kek_id      text NOT NULL,
    state       text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retired', 'shredded')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz,
    PRIMARY KEY (tenant_id, purpose, version),
    CHECK ((state = 'active') = (wrapped_key IS NOT NULL))
);

-- Sealed connection credentials, one row per connection of the main database.
CREATE TABLE connection_credentials (
    connection_id uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    sealed        bytea NOT NULL,
    key_version   integer NOT NULL CHECK (key_version > 0),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connection_credentials_tenant ON connection_credentials (tenant_id, key_version);

-- Who read what in clear.
CREATE TABLE audit_log (
    id            bigserial PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    actor         text NOT NULL,
    action        text NOT NULL CHECK (action IN ('decrypt')),
    connection_id uuid,
    stream        text,
    external_id   text,
    fields        text[] NOT NULL DEFAULT '{}',
    request_id    text,
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, at);

-- The row a new key and a shred both lock.
CREATE TABLE vault_tenants (
    tenant_id   uuid PRIMARY KEY,
    shredded_at timestamptz
);
