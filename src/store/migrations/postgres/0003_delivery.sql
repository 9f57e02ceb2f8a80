-- Distribution state (src/store/delivery.rs), shared by every replica.
--
-- The change feed: every changed row takes the next seq from the one delivery_meta row, which
-- each writing function locks first (FOR UPDATE) and holds until it commits. Delivery writers
-- from every replica therefore run one at a time and seq N commits before seq N+1 is assigned,
-- so a reader at `seq > after` never skips a row that commits later with a smaller seq (a
-- SEQUENCE would not give that). Lock order everywhere: delivery_meta, then rows.
--
-- No foreign key to clusters: a stream may be claimed before its cluster is registered.

CREATE TABLE delivery_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO delivery_meta (id, seq) VALUES (1, 0);

CREATE TABLE delivery_clusters (
    cluster TEXT COLLATE "C" PRIMARY KEY,
    replica TEXT NOT NULL,
    generation BIGINT NOT NULL,
    connected BOOLEAN NOT NULL,
    acked_revision BIGINT NOT NULL,
    held_prune JSONB,
    confirm_prune BOOLEAN NOT NULL,
    updated TEXT NOT NULL,
    seq BIGINT NOT NULL
);
CREATE INDEX delivery_clusters_seq ON delivery_clusters (seq);

-- state NULL is a tombstone.
CREATE TABLE delivery_edges (
    cluster TEXT COLLATE "C" NOT NULL,
    source TEXT COLLATE "C" NOT NULL,
    state TEXT,
    revision BIGINT NOT NULL,
    objects JSONB,
    seq BIGINT NOT NULL,
    PRIMARY KEY (cluster, source)
);
CREATE INDEX delivery_edges_seq ON delivery_edges (seq);

-- Store::claim_cluster: a new stream generation for p_cluster, served by p_replica.
CREATE FUNCTION tsbridge_claim(p_cluster TEXT, p_replica TEXT, p_now TEXT, p_channel TEXT)
RETURNS SETOF delivery_clusters
LANGUAGE plpgsql AS $$
DECLARE
    v_seq BIGINT;
BEGIN
    UPDATE delivery_meta m SET seq = m.seq + 1 WHERE m.id = 1 RETURNING m.seq INTO v_seq;
    RETURN QUERY WITH claimed AS (
        INSERT INTO delivery_clusters AS d (cluster, replica, generation, connected,
            acked_revision, held_prune, confirm_prune, updated, seq)
        VALUES (p_cluster, p_replica, 1, true, 0, NULL, false, p_now, v_seq)
        ON CONFLICT (cluster) DO UPDATE SET replica = EXCLUDED.replica,
            generation = d.generation + 1, connected = true, updated = EXCLUDED.updated,
            seq = EXCLUDED.seq
        RETURNING d.*
    ) SELECT * FROM claimed;
    PERFORM pg_notify(p_channel, v_seq::TEXT);
END
$$;

-- Store::confirm_prune: marks a held prune confirmed; returns it (no row when none is held).
CREATE FUNCTION tsbridge_confirm_prune(p_cluster TEXT, p_now TEXT, p_channel TEXT)
RETURNS TABLE (held JSONB)
LANGUAGE plpgsql AS $$
DECLARE
    v_seq BIGINT;
    v_held JSONB;
BEGIN
    SELECT m.seq + 1 INTO v_seq FROM delivery_meta m WHERE m.id = 1 FOR UPDATE;
    UPDATE delivery_clusters d SET confirm_prune = true, updated = p_now, seq = v_seq
    WHERE d.cluster = p_cluster AND d.held_prune IS NOT NULL
    RETURNING d.held_prune INTO v_held;
    IF FOUND THEN
        UPDATE delivery_meta m SET seq = v_seq WHERE m.id = 1;
        PERFORM pg_notify(p_channel, v_seq::TEXT);
        RETURN QUERY SELECT v_held;
    END IF;
END
$$;

-- Store::write_deliveries as one statement (one round trip, one implicit transaction).
-- p_writes is a JSON array of merged writes (MergedWrite in src/store/delivery.rs): each
-- (cluster, generation) once and each source once within it, so the applied writes touch every
-- row at most once. Returns, per write, whether its generation matched, and the last seq.
CREATE FUNCTION tsbridge_deliver(p_writes JSONB, p_now TEXT, p_channel TEXT)
RETURNS TABLE (applied BOOLEAN[], last_seq BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_base BIGINT;
    v_seq BIGINT;
    v_rows BIGINT;
    v_applied BOOLEAN[];
BEGIN
    SELECT m.seq INTO v_base FROM delivery_meta m WHERE m.id = 1 FOR UPDATE;
    -- Generations only change under the delivery_meta lock: they hold for the whole function.
    SELECT coalesce(array_agg(coalesce(c.generation, 0) = (w.value ->> 'generation')::BIGINT
        ORDER BY w.i), '{}')
    INTO v_applied
    FROM jsonb_array_elements(p_writes) WITH ORDINALITY w(value, i)
    LEFT JOIN delivery_clusters c ON c.cluster = w.value ->> 'cluster';

    INSERT INTO delivery_edges AS d (cluster, source, state, revision, objects, seq)
    SELECT w.value ->> 'cluster', e.value ->> 'source', e.value ->> 'state',
        (e.value ->> 'revision')::BIGINT, nullif(e.value -> 'objects', 'null'::JSONB),
        v_base + row_number() OVER (ORDER BY w.i, e.j)
    FROM jsonb_array_elements(p_writes) WITH ORDINALITY w(value, i)
    CROSS JOIN LATERAL jsonb_array_elements(w.value -> 'edges') WITH ORDINALITY e(value, j)
    WHERE v_applied[w.i::INT]
    ON CONFLICT (cluster, source) DO UPDATE SET state = EXCLUDED.state,
        revision = EXCLUDED.revision, objects = coalesce(EXCLUDED.objects, d.objects),
        seq = EXCLUDED.seq;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    v_seq := v_base + v_rows;

    -- A cluster without a row matched generation 0: give it one, then update every touched row.
    INSERT INTO delivery_clusters (cluster, replica, generation, connected, acked_revision,
        held_prune, confirm_prune, updated, seq)
    SELECT w.value ->> 'cluster', '', 0, false, 0, NULL, false, p_now, 0
    FROM jsonb_array_elements(p_writes) WITH ORDINALITY w(value, i)
    WHERE v_applied[w.i::INT] AND (w.value ->> 'touches')::BOOLEAN
    ON CONFLICT (cluster) DO NOTHING;
    UPDATE delivery_clusters d SET
        acked_revision = coalesce((c.value ->> 'acked_revision')::BIGINT, d.acked_revision),
        held_prune = CASE WHEN (c.value ->> 'set_held')::BOOLEAN
            THEN (c.value ->> 'held_prune')::JSONB ELSE d.held_prune END,
        confirm_prune = coalesce((c.value ->> 'confirm_prune')::BOOLEAN, d.confirm_prune),
        connected = coalesce((c.value ->> 'connected')::BOOLEAN, d.connected),
        updated = p_now,
        seq = v_seq + c.n
    FROM (
        SELECT w.value, row_number() OVER (ORDER BY w.i) AS n
        FROM jsonb_array_elements(p_writes) WITH ORDINALITY w(value, i)
        WHERE v_applied[w.i::INT] AND (w.value ->> 'touches')::BOOLEAN
    ) c
    WHERE d.cluster = c.value ->> 'cluster';
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    v_seq := v_seq + v_rows;

    IF v_seq <> v_base THEN
        UPDATE delivery_meta m SET seq = v_seq WHERE m.id = 1;
        -- Delivered when, and only if, the transaction commits.
        PERFORM pg_notify(p_channel, v_seq::TEXT);
    END IF;
    RETURN QUERY SELECT v_applied, v_seq;
END
$$;
