-- Deletions the mass-deletion guard holds per cluster (src/server/guard.rs): in the store so
-- any replica confirms them. `fqns` is a JSON array of FQNs.
CREATE TABLE held_deletions (
    cluster TEXT PRIMARY KEY NOT NULL,
    fqns TEXT NOT NULL
);
