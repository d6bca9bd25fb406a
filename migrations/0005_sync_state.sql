-- Cursor state per (connection, stream, partition), written in the same transaction as the
-- records it covers, so a crash resumes exactly where the last commit left off.
CREATE TABLE sync_state (
    tenant_id     uuid NOT NULL,
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    stream        text NOT NULL,
    partition     text NOT NULL DEFAULT '',
    state         jsonb NOT NULL DEFAULT '{}',
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, stream, partition)
);
