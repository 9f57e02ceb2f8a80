-- Each management-plane replica says it is alive every few seconds: a cluster row naming a
-- replica that stopped (kill -9, a lost node) is shown disconnected instead of connected for
-- good (docs/distribution.md, "Replicas").
CREATE TABLE replicas (
    id TEXT PRIMARY KEY NOT NULL,
    seen_us INTEGER NOT NULL
);
