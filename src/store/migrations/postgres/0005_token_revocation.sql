-- Tokens get a name (what `ctl token list` shows and `ctl token revoke` takes), a creation
-- time, and a revocation time. Revoked tokens stay, so their hash can never be created again.
-- `token_meta.epoch` counts revocations; a revocation announces it on `tsbridge_tokens`, and
-- replicas drop their cached tokens when it moves.
ALTER TABLE tokens
    ADD COLUMN name TEXT COLLATE "C",
    ADD COLUMN created TEXT NOT NULL DEFAULT '',
    ADD COLUMN revoked TEXT;
UPDATE tokens SET name = subject || '-' || substr(hash, 1, 8);
ALTER TABLE tokens ALTER COLUMN name SET NOT NULL;
CREATE UNIQUE INDEX tokens_name ON tokens (name);
CREATE TABLE token_meta (
    id INT PRIMARY KEY CHECK (id = 1),
    epoch BIGINT NOT NULL
);
INSERT INTO token_meta (id, epoch) VALUES (1, 0);
