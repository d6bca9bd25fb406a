-- Three foreign keys of the unified tables cost a third of every linked batch's inserts (a
-- trigger query per row and a share lock on the referenced row, measured on the ingest
-- benchmark's tables: 1,000 sources 35 ms with their two, 27 without; 1,000 entities 13 ms
-- with the tenant's, 7 without), and protect nothing the schema does not already:
-- - unified_sources.tenant_id: a source goes with its connection (connection_id's cascade),
--   as records do (records have no tenant key either);
-- - unified_sources.entity_id: EntityStore owns both tables, inserts an entity before any
--   source names it in the same transaction, and never deletes one (a merged entity stays as
--   a pointer);
-- - unified_entities.tenant_id: tenants are never deleted, only shredded (their keys go, the
--   rows stay unreadable), exactly like the records those entities are derived from.
ALTER TABLE unified_sources DROP CONSTRAINT unified_sources_tenant_id_fkey;
ALTER TABLE unified_sources DROP CONSTRAINT unified_sources_entity_id_fkey;
ALTER TABLE unified_entities DROP CONSTRAINT unified_entities_tenant_id_fkey;
