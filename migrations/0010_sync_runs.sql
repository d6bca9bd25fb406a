-- One row per stream sync: what the CLI shows as progress and the API as sync history, and
-- where a failure leaves its error (HTTP status, manifest path, attempt).
CREATE TABLE sync_runs (
    id              bigserial PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    connection_id   uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    stream          text NOT NULL,
    job_id          bigint,
    full_refresh    boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    records_read    bigint NOT NULL DEFAULT 0,
    records_written bigint NOT NULL DEFAULT 0,
    records_deleted bigint NOT NULL DEFAULT 0,
    pages           bigint NOT NULL DEFAULT 0,
    error           jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz
);

CREATE INDEX sync_runs_connection ON sync_runs (connection_id, stream, id DESC);
CREATE INDEX sync_runs_job ON sync_runs (job_id);

-- When the scheduler next syncs the connection; NULL: as soon as it is active.
ALTER TABLE connections ADD COLUMN next_sync_at timestamptz;
