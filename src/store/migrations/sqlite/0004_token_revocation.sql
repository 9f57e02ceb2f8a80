-- Tokens get a name (what `ctl token list` shows and `ctl token revoke` takes), a creation
-- time, and a revocation time. Revoked tokens stay, so their hash can never be created again.
-- `token_meta.epoch` counts revocations: replicas drop their cached tokens when it moves.
ALTER TABLE tokens ADD COLUMN name TEXT;
ALTER TABLE tokens ADD COLUMN created TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN revoked TEXT;
UPDATE tokens SET name = subject || '-' || substr(hash, 1, 8);
CREATE UNIQUE INDEX tokens_name ON tokens (name);
CREATE TABLE token_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL
);
INSERT INTO token_meta (id, epoch) VALUES (1, 0);
