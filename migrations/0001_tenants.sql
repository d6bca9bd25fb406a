-- Tenants: the isolation boundary. Every other tenant-owned row carries tenant_id and every
-- query filters by it.
CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- Set when the tenant's data keys are destroyed (crypto-shredding); its rows stay unreadable.
    shredded_at timestamptz
);
