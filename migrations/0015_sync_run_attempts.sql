-- What each attempt of a run's jobs read and wrote. A run's own figures add every attempt
-- together (a retry resumes from the last committed state, so that is what was fetched in
-- all); these rows tell the final attempt's share apart from the retried ones. Rows go with
-- their run (ON DELETE CASCADE), so the runs' retention covers them.
CREATE TABLE sync_run_attempts (
    run_id          bigint NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    job_id          bigint NOT NULL,
    attempt         int NOT NULL,
    records_read    bigint NOT NULL DEFAULT 0,
    records_written bigint NOT NULL DEFAULT 0,
    pages           bigint NOT NULL DEFAULT 0,
    started_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, job_id, attempt)
);
