-- This vault's id, made once with it: `tributary migrate` records it in the main database it
-- serves (migrations/0025), and every process compares the two before it starts.
CREATE TABLE vault_identity (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    vault_id   uuid NOT NULL DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO vault_identity DEFAULT VALUES;
