-- The change feed of unified entities (GET /v1/unified/{model}/changes) lists merged and
-- emptied entities too, so that a client mirroring them learns which ids went where: the feed
-- index covers every row, not only the live ones. The live list filters the same index.
CREATE INDEX unified_entities_changes ON unified_entities (tenant_id, model, change_seq);
DROP INDEX unified_entities_feed;
