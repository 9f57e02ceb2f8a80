-- The delivery ledger (docs/ledger.md): what became of each change in each target cluster.
-- `revisions.at_us` is when a change was committed (0 for changes made before this
-- migration); ledger rows copy it, with whether the change restored an earlier content.
ALTER TABLE revisions ADD COLUMN at_us INTEGER NOT NULL DEFAULT 0;
CREATE INDEX revisions_fqn ON revisions (fqn, revision);
CREATE INDEX revisions_fqn_content ON revisions (fqn, json_extract(record, '$.content_hash'));
CREATE TABLE ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fqn TEXT NOT NULL,
    cluster TEXT NOT NULL,
    -- The revision of the delta that carried it to the cluster.
    revision INTEGER NOT NULL,
    -- The object's own change it delivered (0: a re-delivery not caused by one).
    change INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'failed', 'ignored', 'pruned', 'reverted')),
    message TEXT NOT NULL,
    rollback INTEGER NOT NULL,
    committed_us INTEGER NOT NULL,
    sent_us INTEGER NOT NULL,
    acked_us INTEGER NOT NULL
);
CREATE INDEX ledger_fqn ON ledger (fqn, id);
CREATE INDEX ledger_acked ON ledger (acked_us);
CREATE INDEX ledger_cluster ON ledger (cluster, acked_us);
-- `ctl audit --target-cluster`: the objects delivered to a cluster.
CREATE INDEX ledger_cluster_fqn ON ledger (cluster, fqn);
