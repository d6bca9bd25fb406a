-- API keys `trb_<prefix>_<secret>`: looked up by prefix, the secret stored only as a hash.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    -- NULL for an operator key that manages tenants (scope admin) and belongs to none.
    tenant_id    uuid REFERENCES tenants (id) ON DELETE CASCADE,
    name         text NOT NULL DEFAULT '',
    prefix       text NOT NULL UNIQUE,
    secret_hash  bytea NOT NULL,
    scopes       text[] NOT NULL CHECK (scopes <@ ARRAY['records:read', 'records:read-sensitive',
                     'connections:write', 'connectors:write', 'admin']::text[]),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
