-- The job queue (HubQueue). `attempt` is the fencing token: it only ever grows, every
-- write a job makes checks it, so a worker that stalls past its lease can never commit over
-- the worker that took the job after it.
CREATE TABLE jobs (
    id               bigserial PRIMARY KEY,
    kind             text NOT NULL,
    queue            text NOT NULL DEFAULT 'default',
    -- IDs and parameters only, never credentials.
    args             jsonb NOT NULL DEFAULT '{}',
    -- Lower runs first.
    priority         smallint NOT NULL DEFAULT 0,
    state            text NOT NULL DEFAULT 'available'
                     CHECK (state IN ('available', 'scheduled', 'running', 'retryable', 'completed', 'discarded', 'cancelled')),
    attempt          integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 20 CHECK (max_attempts > 0),
    run_at           timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    unique_key       text,
    -- Jobs sharing a group key (one third-party account, say) run at most group_limit at once,
    -- across every worker process.
    group_key        text,
    group_limit      integer CHECK (group_limit > 0),
    cancel_requested boolean NOT NULL DEFAULT false,
    -- One entry per failed attempt: {"attempt", "at", "error"}.
    errors           jsonb NOT NULL DEFAULT '[]',
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempted_at     timestamptz,
    finalized_at     timestamptz
);

-- What claims scan: only jobs that may run, in the order they run.
CREATE INDEX jobs_claimable ON jobs (queue, priority, run_at, id)
    WHERE state IN ('available', 'scheduled', 'retryable');
CREATE INDEX jobs_running ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_group_running ON jobs (group_key) WHERE state = 'running' AND group_key IS NOT NULL;
CREATE INDEX jobs_finalized ON jobs (finalized_at) WHERE finalized_at IS NOT NULL;
-- Enqueueing a duplicate of an active job is a no-op that returns the existing job.
CREATE UNIQUE INDEX jobs_unique_active ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable');

CREATE TABLE job_queues (
    name       text PRIMARY KEY,
    paused     boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per period a periodic schedule enqueued, written in the same transaction as the
-- job: a period is never enqueued twice, whichever scheduler leads.
CREATE TABLE periodic_runs (
    schedule     text NOT NULL,
    period_start timestamptz NOT NULL,
    job_id       bigint NOT NULL,
    PRIMARY KEY (schedule, period_start)
);
