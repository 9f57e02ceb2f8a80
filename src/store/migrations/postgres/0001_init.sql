-- tsbridge store, PostgreSQL. FQN columns use COLLATE "C" so ordering and the prefix ranges
-- of list/audit queries are byte-wise whatever the database's default collation; this matches
-- SQLite's BINARY collation and Rust's String ordering.

-- One row: the store's current revision (0 = empty store). Commits lock it (FOR UPDATE),
-- which serializes writers across replicas and keeps revisions gap-free in commit order.
CREATE TABLE meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO meta (id, revision) VALUES (1, 0);

-- The current configuration: one row per object.
CREATE TABLE resources (
    fqn TEXT COLLATE "C" PRIMARY KEY CHECK (fqn <> ''),
    kind TEXT NOT NULL,
    api_version TEXT NOT NULL,
    name TEXT NOT NULL,
    parent_fqn TEXT COLLATE "C",
    namespace TEXT,
    spec JSONB NOT NULL,
    labels JSONB NOT NULL,
    annotations JSONB NOT NULL,
    origin JSONB NOT NULL,
    content_hash TEXT NOT NULL,
    etag TEXT NOT NULL,
    revision BIGINT NOT NULL
);
CREATE INDEX resources_kind ON resources (kind, fqn);

-- The change log: one row per changed object; record is NULL for a delete.
CREATE TABLE revisions (
    revision BIGINT PRIMARY KEY,
    fqn TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    record JSONB
);

-- The append-only audit ledger.
CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time TEXT NOT NULL,
    at_us BIGINT NOT NULL,
    actor TEXT NOT NULL,
    origin JSONB NOT NULL,
    operation TEXT NOT NULL,
    fqn TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    before_hash TEXT NOT NULL,
    after_hash TEXT NOT NULL,
    revision BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    message TEXT NOT NULL,
    forced BOOLEAN NOT NULL,
    dry_run BOOLEAN NOT NULL
);
CREATE INDEX audit_fqn ON audit (fqn);
CREATE INDEX audit_actor ON audit (actor);
CREATE INDEX audit_at ON audit (at_us);

-- Clusters, the scopes they may write in, and their last reported namespaces.
CREATE TABLE clusters (
    name TEXT COLLATE "C" PRIMARY KEY
);
CREATE TABLE grants (
    cluster TEXT COLLATE "C" NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    scope TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (cluster, scope)
);
CREATE TABLE inventories (
    cluster TEXT COLLATE "C" PRIMARY KEY REFERENCES clusters (name) ON DELETE CASCADE,
    namespaces JSONB NOT NULL
);

-- API tokens, by the SHA-256 of their secret.
CREATE TABLE tokens (
    hash TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    role TEXT NOT NULL,
    scope TEXT NOT NULL
);
