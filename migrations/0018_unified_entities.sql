-- Unified entities (HubStore's EntityStore): what several sources know about one person or
-- company, linked on identity keys' blind indexes. An entity is a row of its own and its
-- sources are the mapped records; its fields are derived from the sources when read, by the
-- model's survivorship rules, so nothing sealed is copied or re-sealed.
CREATE SEQUENCE unified_change_seq;

CREATE TABLE unified_entities (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    model       text NOT NULL,
    -- Set when the entity was merged into another: the row stays as a pointer, so an id a
    -- client holds still answers.
    merged_into uuid REFERENCES unified_entities (id),
    -- Bumped whenever a source changes, joins, leaves, or the entity is merged or split.
    change_seq  bigint NOT NULL DEFAULT nextval('unified_change_seq'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE unified_change_seq OWNED BY unified_entities.change_seq;
CREATE INDEX unified_entities_feed ON unified_entities (tenant_id, model, change_seq) WHERE merged_into IS NULL;

-- One row per source record mapped into a model: its mapped fields (plain as JSON, sensitive
-- sealed under the tenant's key, AAD-bound to this table) and the blind indexes of its
-- identity keys. Rows go with their connection; retention follows the records'.
CREATE TABLE unified_sources (
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    model             text NOT NULL,
    connection_id     uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    stream            text NOT NULL,
    external_id       text NOT NULL,
    connector         text NOT NULL,
    entity_id         uuid NOT NULL REFERENCES unified_entities (id),
    data              jsonb NOT NULL,
    sensitive         bytea,
    key_version       integer NOT NULL,
    identity          bytea[] NOT NULL,
    source_updated_at timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, stream, external_id, model)
);
-- fastupdate off: with GIN's pending list on, every lookup during a sync scans the entries
-- inserted since the last vacuum (a batch's lookup took 168 ms after 150,000 inserts, 2.5 ms
-- once vacuumed); linking looks up on every batch it writes, so entries go straight in.
CREATE INDEX unified_sources_identity ON unified_sources USING gin (identity) WITH (fastupdate = off);
CREATE INDEX unified_sources_entity ON unified_sources (entity_id);
