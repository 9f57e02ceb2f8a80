-- Deletions the mass-deletion guard holds per cluster (src/server/guard.rs): in the store so
-- any replica confirms them.
CREATE TABLE held_deletions (
    cluster TEXT COLLATE "C" PRIMARY KEY,
    fqns JSONB NOT NULL
);
