-- Unified model definitions (models/*.yaml), versioned as connectors are: a new version of
-- a model never changes what was derived under an older one until it is re-derived. Shared by
-- every tenant and published only by operators. Rows are a few kilobytes each and kept: a
-- version may be named by derived data (retention: none needed, like connectors).
CREATE TABLE unified_models (
    name       text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,99}$'),
    version    integer NOT NULL CHECK (version > 0),
    definition text NOT NULL,
    -- SHA-256 of the definition: registering identical content again is a no-op.
    checksum   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);
