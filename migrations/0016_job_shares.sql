-- Each tenant's share of a grouped queue's slots (HubQueue). Claims take turns between the
-- tenants with jobs waiting (a job's args->>'tenant'); a tenant's weight is how many turns it
-- takes for one of a weight-1 tenant, and max_running caps how many of its jobs run at once
-- across every worker. The row whose share is '*' is the default for tenants without one (and
-- for jobs without a tenant); a NULL column inherits the default's. No row at all: weight 1,
-- no cap. One row per tenant an operator set, removed when its tenant is shredded, so the
-- table stays as small as the tenant list.
CREATE TABLE job_shares (
    queue       text NOT NULL,
    share       text NOT NULL,
    weight      integer CHECK (weight BETWEEN 1 AND 100),
    max_running integer CHECK (max_running BETWEEN 1 AND 10000),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (queue, share)
);
