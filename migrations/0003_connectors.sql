-- Connector definitions, versioned: a new version never changes what running syncs of an
-- older one read.
CREATE TABLE connectors (
    name       text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,99}$'),
    version    integer NOT NULL CHECK (version > 0),
    manifest   text NOT NULL,
    sidecar    text NOT NULL,
    -- SHA-256 of manifest and sidecar: registering identical content again is a no-op.
    checksum   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);
