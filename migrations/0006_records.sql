-- The normalized store. The key (connection_id, stream, external_id) makes upserts
-- idempotent; it also leads with connection_id so the table can later be hash-partitioned
-- by connection without changing the key.
CREATE SEQUENCE records_change_seq;

CREATE TABLE records (
    tenant_id         uuid NOT NULL,
    connection_id     uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    stream            text NOT NULL,
    external_id       text NOT NULL,
    -- Non-sensitive fields.
    data              jsonb NOT NULL,
    -- All sensitive fields of the record sealed as one AEAD ciphertext (docs/encryption.md).
    sensitive         bytea,
    key_version       integer,
    -- Truncated HMACs of normalized field values, for equality lookup without decryption.
    blind_index       bytea[] NOT NULL DEFAULT '{}',
    -- Keyed hash of the whole record: an unchanged record is not rewritten.
    content_hash      bytea NOT NULL,
    source_updated_at timestamptz,
    synced_at         timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz,
    -- Monotonic change sequence for `updated_after` feeds and keyset pagination.
    change_seq        bigint NOT NULL DEFAULT nextval('records_change_seq'),
    PRIMARY KEY (connection_id, stream, external_id)
);

ALTER SEQUENCE records_change_seq OWNED BY records.change_seq;

CREATE INDEX records_feed ON records (connection_id, stream, change_seq);
CREATE INDEX records_tenant_feed ON records (tenant_id, change_seq);
CREATE INDEX records_key_version ON records (tenant_id, key_version) WHERE sensitive IS NOT NULL;
CREATE INDEX records_blind_index ON records USING gin (blind_index);
