-- Which vault database this main database's secrets live in (docs/vault.md): the id the vault
-- was given when it was made (migrations-vault/0003), recorded by `tributary migrate`. Every
-- process refuses a vault whose id differs, so a main database never runs against another
-- environment's vault, or another restore's, where orphan collection would destroy
-- credentials and keys would be missing. No row: no vault is configured (one database).
CREATE TABLE vault_pairing (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    vault_id  uuid NOT NULL,
    paired_at timestamptz NOT NULL DEFAULT now()
);
