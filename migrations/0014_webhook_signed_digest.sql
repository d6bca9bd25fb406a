-- Replays are recognised by what the signature covers, not by the event id alone: with schemes
-- that sign only the body (GitHub's, plain HMAC), the id may come from an unsigned header that
-- a replayer can change. The digest is an HMAC under the tenant's index key, never a plain
-- hash of a payload that may hold personal data. Rows from before it stay NULL (not unique).
ALTER TABLE webhook_events ADD COLUMN signed_digest bytea;
CREATE UNIQUE INDEX webhook_events_signed_digest ON webhook_events (connection_id, signed_digest);
