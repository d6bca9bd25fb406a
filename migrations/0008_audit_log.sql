-- Who read what in clear: every decryption of sensitive record fields on behalf of a caller.
CREATE TABLE audit_log (
    id            bigserial PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    -- The API key id, or `cli:<user>` for operator commands.
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
