-- The webhook inbox: every verified event, stored before it is acknowledged and processed
-- from the queue. The provider's event id is unique per connection, so a replay is noticed
-- and not processed twice. Rejected (unverified) requests are never stored.
CREATE TABLE webhook_events (
    id                bigserial PRIMARY KEY,
    tenant_id         uuid NOT NULL,
    connection_id     uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    provider_event_id text NOT NULL,
    event_type        text NOT NULL,
    -- The raw body, sealed with the tenant's data key (it may carry personal data).
    payload           bytea NOT NULL,
    key_version       integer NOT NULL,
    -- The signature scheme that verified it (stripe, github, hmac).
    verified_by       text NOT NULL,
    status            text NOT NULL DEFAULT 'received'
                      CHECK (status IN ('received', 'processed', 'ignored', 'failed')),
    error             text,
    received_at       timestamptz NOT NULL DEFAULT now(),
    processed_at      timestamptz,
    UNIQUE (connection_id, provider_event_id)
);

CREATE INDEX webhook_events_tenant ON webhook_events (tenant_id, id DESC);
