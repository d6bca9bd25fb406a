-- One connection per (tenant, connector, end user or account).
CREATE TABLE connections (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connector_name    text NOT NULL,
    connector_version integer NOT NULL,
    -- The end user or account this connection pulls data for, in the application's terms.
    external_account  text NOT NULL DEFAULT '',
    -- Non-secret configuration only; credentials live encrypted beside it.
    config            jsonb NOT NULL DEFAULT '{}',
    -- AEAD ciphertext (docs/encryption.md) bound to tenant, table, column and this row's id.
    credentials       bytea,
    credentials_key_version integer,
    -- Seconds between scheduled syncs; NULL takes the connector's default.
    schedule_seconds  integer CHECK (schedule_seconds > 0),
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'error')),
    last_error        jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (connector_name, connector_version) REFERENCES connectors (name, version)
);

CREATE INDEX connections_tenant ON connections (tenant_id, created_at);
