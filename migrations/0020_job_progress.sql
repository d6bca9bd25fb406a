-- A long job's progress, written in the same fenced transaction as the work it counts: what
-- `jobs show` and GET /v1/jobs/{id} print, and where a retried attempt resumes. NULL for the
-- jobs that report none. Goes with its job (jobs' retention).
ALTER TABLE jobs ADD COLUMN progress jsonb;
