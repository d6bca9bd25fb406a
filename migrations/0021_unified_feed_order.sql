-- Change sequences are drawn inside transactions that commit in any order: a feed reader
-- holding cursor 105 would never see 104 if 104 committed after it read. Each change now
-- records its transaction, and the feed serves a change only once every transaction older
-- than the oldest still running has ended (pg_snapshot_xmin), so nothing is skipped.
ALTER TABLE unified_entities ADD COLUMN change_xid xid8 NOT NULL DEFAULT pg_current_xact_id();

-- An entity's most recent sources first, without reading all of them (EntityReader reads at
-- most a thousand of an entity's sources).
CREATE INDEX unified_sources_entity_recent ON unified_sources (entity_id, updated_at);
DROP INDEX unified_sources_entity;
