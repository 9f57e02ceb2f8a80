-- tsbridge store, SQLite. JSON columns hold JSON text; times are also kept as microseconds
-- since the epoch (at_us) so audit filters compare instants. fqn ordering is byte-wise
-- (SQLite's default BINARY collation), the same as PostgreSQL's COLLATE "C" columns.

-- One row: the store's current revision (0 = empty store).
CREATE TABLE meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
);
INSERT INTO meta (id, revision) VALUES (1, 0);

-- The current configuration: one row per object.
CREATE TABLE resources (
    fqn TEXT PRIMARY KEY NOT NULL CHECK (fqn <> ''),
    kind TEXT NOT NULL,
    api_version TEXT NOT NULL,
    name TEXT NOT NULL,
    parent_fqn TEXT,
    namespace TEXT,
    spec TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    origin TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    etag TEXT NOT NULL,
    revision INTEGER NOT NULL
);
CREATE INDEX resources_kind ON resources (kind, fqn);

-- The change log: one row per changed object; record is NULL for a delete.
CREATE TABLE revisions (
    revision INTEGER PRIMARY KEY NOT NULL,
    fqn TEXT NOT NULL,
    kind TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    record TEXT
);

-- The append-only audit ledger.
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    at_us INTEGER NOT NULL,
    actor TEXT NOT NULL,
    origin TEXT NOT NULL,
    operation TEXT NOT NULL,
    fqn TEXT NOT NULL,
    kind TEXT NOT NULL,
    before_hash TEXT NOT NULL,
    after_hash TEXT NOT NULL,
    revision INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    message TEXT NOT NULL,
    forced INTEGER NOT NULL,
    dry_run INTEGER NOT NULL
);
CREATE INDEX audit_fqn ON audit (fqn);
CREATE INDEX audit_actor ON audit (actor);
CREATE INDEX audit_at ON audit (at_us);

-- Clusters, the scopes they may write in, and their last reported namespaces.
CREATE TABLE clusters (
    name TEXT PRIMARY KEY NOT NULL
);
CREATE TABLE grants (
    cluster TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    PRIMARY KEY (cluster, scope)
);
CREATE TABLE inventories (
    cluster TEXT PRIMARY KEY NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    namespaces TEXT NOT NULL
);

-- API tokens, by the SHA-256 of their secret.
CREATE TABLE tokens (
    hash TEXT PRIMARY KEY NOT NULL,
    subject TEXT NOT NULL,
    role TEXT NOT NULL,
    scope TEXT NOT NULL
);
