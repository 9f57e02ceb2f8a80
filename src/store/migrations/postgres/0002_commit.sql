-- One commit (Store::commit) as one statement: the caller runs
--   SELECT * FROM tsbridge_commit(expected, upserts, deletes, audit, channel)
-- outside an explicit transaction, so the whole batch is one implicit transaction and one
-- round trip, and the meta row lock that serializes writers is held only while this runs on
-- the server, never across a network round trip. Each statement below takes a fresh snapshot
-- (READ COMMITTED), after the lock: it sees every earlier commit.
--
--   p_expected  fail (moved = true, nothing written) unless meta.revision is this; NULL = no check
--   p_upserts   JSON array of Record (serde form); revision and etag are assigned here
--   p_deletes   FQNs to delete in order; a missing FQN is a no-op
--   p_audit     JSON array of AuditEntry (serde form) plus at_us (the time in microseconds)
--   p_channel   NOTIFY channel for the new revision
--
-- Returns one row: whether the expected revision moved, the revision before the batch
-- (upsert i got start_revision + 1 + i), the revision after it, and the upserts' etags.
CREATE FUNCTION tsbridge_commit(
    p_expected BIGINT,
    p_upserts JSONB,
    p_deletes TEXT[],
    p_audit JSONB,
    p_channel TEXT
) RETURNS TABLE (moved BOOLEAN, start_revision BIGINT, final_revision BIGINT, etags TEXT[])
LANGUAGE plpgsql AS $$
DECLARE
    v_base BIGINT;
    v_rev BIGINT;
    v_item JSONB;
    v_fqn TEXT;
    v_kind TEXT;
    v_tag TEXT;
    v_tags TEXT[] := '{}';
    v_changed JSONB := '{}';
BEGIN
    SELECT m.revision INTO v_base FROM meta m WHERE m.id = 1 FOR UPDATE;
    IF p_expected IS NOT NULL AND p_expected <> v_base THEN
        RETURN QUERY SELECT true, v_base, v_base, '{}'::TEXT[];
        RETURN;
    END IF;
    v_rev := v_base;

    FOR v_item IN SELECT e.value FROM jsonb_array_elements(p_upserts) WITH ORDINALITY e ORDER BY e.ordinality LOOP
        v_rev := v_rev + 1;
        v_fqn := v_item ->> 'fqn';
        -- Opaque and new on every change: revisions are unique per change.
        v_tag := '"' || left(encode(sha256(convert_to(
            v_fqn || ' ' || v_rev::TEXT || ' ' || (v_item ->> 'content_hash'), 'UTF8')), 'hex'), 16) || '"';
        v_item := v_item || jsonb_build_object('revision', v_rev, 'etag', v_tag);
        INSERT INTO resources AS r (fqn, kind, api_version, name, parent_fqn, namespace, spec,
            labels, annotations, origin, content_hash, etag, revision)
        VALUES (v_fqn, v_item ->> 'kind', v_item ->> 'api_version', v_item ->> 'name',
            v_item ->> 'parent_fqn', v_item ->> 'namespace', v_item -> 'spec',
            v_item -> 'labels', v_item -> 'annotations', v_item -> 'origin',
            v_item ->> 'content_hash', v_tag, v_rev)
        ON CONFLICT (fqn) DO UPDATE SET kind = EXCLUDED.kind,
            api_version = EXCLUDED.api_version, name = EXCLUDED.name,
            parent_fqn = EXCLUDED.parent_fqn, namespace = EXCLUDED.namespace,
            spec = EXCLUDED.spec, labels = EXCLUDED.labels, annotations = EXCLUDED.annotations,
            origin = EXCLUDED.origin, content_hash = EXCLUDED.content_hash,
            etag = EXCLUDED.etag, revision = EXCLUDED.revision;
        INSERT INTO revisions (revision, fqn, kind, op, record)
        VALUES (v_rev, v_fqn, v_item ->> 'kind', 'upsert', v_item);
        v_changed := v_changed || jsonb_build_object(v_fqn, v_rev);
        v_tags := v_tags || v_tag;
    END LOOP;

    FOREACH v_fqn IN ARRAY coalesce(p_deletes, '{}') LOOP
        DELETE FROM resources r WHERE r.fqn = v_fqn RETURNING r.kind INTO v_kind;
        IF FOUND THEN
            v_rev := v_rev + 1;
            INSERT INTO revisions (revision, fqn, kind, op, record)
            VALUES (v_rev, v_fqn, v_kind, 'delete', NULL);
            v_changed := v_changed || jsonb_build_object(v_fqn, v_rev);
        END IF;
    END LOOP;

    -- Audit rows take the revision of the last change to their FQN, else the batch's last
    -- revision; without changes they keep the revision they came with.
    FOR v_item IN SELECT e.value FROM jsonb_array_elements(p_audit) WITH ORDINALITY e ORDER BY e.ordinality LOOP
        INSERT INTO audit (time, at_us, actor, origin, operation, fqn, kind, before_hash,
            after_hash, revision, outcome, message, forced, dry_run)
        VALUES (v_item ->> 'time', (v_item ->> 'at_us')::BIGINT, v_item ->> 'actor',
            v_item -> 'origin', v_item ->> 'operation', v_item ->> 'fqn', v_item ->> 'kind',
            v_item ->> 'before_hash', v_item ->> 'after_hash',
            CASE WHEN v_rev = v_base THEN (v_item ->> 'revision')::BIGINT
                 ELSE coalesce((v_changed ->> (v_item ->> 'fqn'))::BIGINT, v_rev) END,
            v_item ->> 'outcome', v_item ->> 'message', (v_item ->> 'forced')::BOOLEAN,
            (v_item ->> 'dry_run')::BOOLEAN);
    END LOOP;

    IF v_rev <> v_base THEN
        UPDATE meta SET revision = v_rev WHERE id = 1;
        -- Delivered when, and only if, the transaction commits.
        PERFORM pg_notify(p_channel, v_rev::TEXT);
    END IF;
    RETURN QUERY SELECT false, v_base, v_rev, v_tags;
END
$$;
