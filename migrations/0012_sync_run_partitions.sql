-- The partitions of a stream sync that runs one job per partition (an incremental stream with
-- a partition router). The run stays open until the last of them is settled, which the
-- finishing job decides while holding the run's row lock, so exactly one job closes it.
CREATE TABLE sync_run_partitions (
    run_id      bigint NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    partition   text NOT NULL,
    job_id      bigint NOT NULL,
    status      text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'succeeded', 'failed')),
    finished_at timestamptz,
    PRIMARY KEY (run_id, partition)
);
