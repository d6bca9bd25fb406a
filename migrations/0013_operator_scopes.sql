-- Connector definitions are shared by every tenant, so publishing one is an operator's right:
-- a tenant's key may not hold `connectors:write` or `admin` (issue 14, finding 1). Keys made
-- before this rule lose those scopes; the constraint keeps any path from granting them again.
UPDATE api_keys
SET scopes = array_remove(array_remove(scopes, 'connectors:write'), 'admin')
WHERE tenant_id IS NOT NULL AND scopes && ARRAY['connectors:write', 'admin']::text[];

-- A tenant key left with no scope at all can do nothing; revoke it so lists say so.
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
WHERE tenant_id IS NOT NULL AND cardinality(scopes) = 0;

ALTER TABLE api_keys ADD CONSTRAINT api_keys_operator_scopes CHECK (
    (tenant_id IS NULL AND scopes <@ ARRAY['connectors:write', 'admin']::text[] AND cardinality(scopes) > 0)
    OR (tenant_id IS NOT NULL AND NOT scopes && ARRAY['connectors:write', 'admin']::text[])
);
