-- Distribution state (src/store/delivery.rs). Every changed row takes the next seq from
-- delivery_meta inside its write transaction, so the change feed is ordered by commit.
-- No foreign key to clusters: a stream may be claimed before its cluster is registered.

-- One row: the last seq handed out (0 = none yet).
CREATE TABLE delivery_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO delivery_meta (id, seq) VALUES (1, 0);

-- Per cluster: the stream that serves it and what its agent acknowledged.
CREATE TABLE delivery_clusters (
    cluster TEXT PRIMARY KEY NOT NULL,
    replica TEXT NOT NULL,
    generation INTEGER NOT NULL,
    connected INTEGER NOT NULL,
    acked_revision INTEGER NOT NULL,
    held_prune TEXT,
    confirm_prune INTEGER NOT NULL,
    updated TEXT NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX delivery_clusters_seq ON delivery_clusters (seq);

-- Per (cluster, source object): the edge state; state NULL is a tombstone.
CREATE TABLE delivery_edges (
    cluster TEXT NOT NULL,
    source TEXT NOT NULL,
    state TEXT,
    revision INTEGER NOT NULL,
    objects TEXT,
    seq INTEGER NOT NULL,
    PRIMARY KEY (cluster, source)
) WITHOUT ROWID;
CREATE INDEX delivery_edges_seq ON delivery_edges (seq);
