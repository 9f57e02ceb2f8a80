-- The delivery ledger (docs/ledger.md): what became of each change in each target cluster.
-- `revisions.at_us` is when a change was committed, filled by its default inside the commit
-- (0 for changes made before this migration); ledger rows copy it, with whether the change
-- restored an earlier content.
ALTER TABLE revisions ADD COLUMN at_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE revisions ALTER COLUMN at_us
    SET DEFAULT (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT;
CREATE INDEX revisions_fqn ON revisions (fqn, revision);
CREATE INDEX revisions_fqn_content ON revisions (fqn, (record ->> 'content_hash'));
CREATE TABLE ledger (
    id BIGSERIAL PRIMARY KEY,
    fqn TEXT NOT NULL,
    cluster TEXT NOT NULL,
    revision BIGINT NOT NULL,
    change BIGINT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'failed', 'ignored', 'pruned', 'reverted')),
    message TEXT NOT NULL,
    rollback BOOLEAN NOT NULL,
    committed_us BIGINT NOT NULL,
    sent_us BIGINT NOT NULL,
    acked_us BIGINT NOT NULL
);
CREATE INDEX ledger_fqn ON ledger (fqn, id);
CREATE INDEX ledger_acked ON ledger (acked_us);
CREATE INDEX ledger_cluster ON ledger (cluster, acked_us);
-- `ctl audit --target-cluster`: the objects delivered to a cluster.
CREATE INDEX ledger_cluster_fqn ON ledger (cluster, fqn);
