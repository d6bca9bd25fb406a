-- Tenants' keys, wrapped by the key-encryption key (docs/encryption.md). Data keys seal
-- ciphertexts and rotate (the newest active version seals new writes); the single index
-- key computes blind indexes and content hashes and does not rotate.
CREATE TABLE data_keys (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
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
