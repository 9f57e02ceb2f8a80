//! The planner: a fresh translation against what a cluster was sent gives the delta to send
//! and the edge states that change. Pure (no I/O, no lock): the hub sends what it returns.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::model::fqn::Fqn;
use crate::model::status::EdgeState;
use crate::model::translate::{Generated, MAX_GENERATED_BYTES, ObjectKey, Translation};
use crate::server::distribute::link::{InFlight, Interner, Link, Sent, Source, TargetRef};
use crate::server::distribute::queue::{Chunk, Upsert};

/// Objects per delta message: far below gRPC's 4 MiB default even for large objects.
pub(super) const CHUNK: usize = 100;

/// A fresh translation of a whole cluster, or of some changed sources only.
pub(super) enum Generation<'a> {
    Whole(Translation),
    Some(Translation, &'a BTreeSet<String>),
}

/// What one recomputation decided.
#[derive(Debug, Default)]
pub(super) struct Planned {
    /// The revision's chunks, in order (none when nothing changed).
    pub chunks: Vec<Chunk>,
    /// Sources whose status must be reported (counts, warnings).
    pub reported: BTreeSet<String>,
}

/// One desired entry's share of a cluster's checksum. The checksum is the wrapping sum of
/// these, so it is kept up to date by adding and subtracting changed entries, never by walking
/// the whole set. (Byte-compatible with the hex content hashes agents hold.)
pub(super) fn entry_hash(key: &ObjectKey, content_hash: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |byte: u8| {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    };
    for part in [&key.group, &key.kind, &key.namespace, &key.name] {
        part.bytes().for_each(&mut feed);
        feed(0);
    }
    for shift in (0..16).rev() {
        let digit = u8::try_from((content_hash >> (shift * 4)) & 0xf).unwrap_or_default();
        feed(if digit < 10 {
            b'0' + digit
        } else {
            b'a' + digit - 10
        });
    }
    hash
}

/// A generated object's content hash as a number (the model gives 16 hex digits).
pub(super) fn content_hash(generated: &Generated) -> u64 {
    parse_hash(&generated.content_hash())
}

/// A hex content hash as a number; anything else hashed, so it still compares.
pub(super) fn parse_hash(hex: &str) -> u64 {
    u64::from_str_radix(hex, 16).unwrap_or_else(|_| crate::model::object::fnv1a(hex.as_bytes()))
}

/// The FQNs of `changed` and of every stored object at or below one of `roots`.
pub(super) fn within<V>(
    resources: &BTreeMap<String, V>,
    changed: &BTreeSet<String>,
    roots: &BTreeSet<Fqn>,
) -> BTreeSet<String> {
    let mut affected = changed.clone();
    for root in roots {
        let root = root.to_string();
        if resources.contains_key(&root) {
            affected.insert(root.clone());
        }
        // Descendants share the prefix `root/`, so they form one contiguous range.
        let below = format!("{root}/");
        affected.extend(
            resources
                .range(below.clone()..)
                .map(|(fqn, _)| fqn)
                .take_while(|fqn| fqn.starts_with(&below))
                .cloned(),
        );
    }
    affected
}

/// For a cluster whose agent is away: every source whose output there now differs from what
/// the agent was last sent is no longer applied there (its edge goes UNKNOWN until the agent
/// is back and acknowledges), and one that no longer targets the cluster loses its edge.
/// Nothing is sent and the sent set is kept: the reconnect re-translates the cluster whole.
/// Returns the sources whose edge changed.
pub(super) fn mark_unsent(
    link: &mut Link,
    generation: &Generation<'_>,
    is_self: &dyn Fn(&str, &ObjectKey) -> bool,
    interner: &mut Interner,
) -> BTreeSet<String> {
    let (translation, sources): (&Translation, BTreeSet<String>) = match generation {
        Generation::Whole(translation) => (
            translation,
            translation
                .sources
                .keys()
                .cloned()
                .chain(link.by_source.keys().map(|s| s.to_string()))
                .collect(),
        ),
        Generation::Some(translation, changed) => (translation, (*changed).clone()),
    };
    let mut marked = BTreeSet::new();
    for fqn in sources {
        let now: BTreeMap<&ObjectKey, u64> = translation
            .sources
            .get(&fqn)
            .into_iter()
            .flatten()
            .filter(|key| !is_self(&fqn, key))
            .filter_map(|key| translation.objects.get(key).map(|g| (key, content_hash(g))))
            .collect();
        let sent: BTreeMap<&ObjectKey, u64> = link
            .by_source
            .get(fqn.as_str())
            .into_iter()
            .flatten()
            .filter_map(|target| link.objects.get(target).map(|s| (&target.key, s.hash)))
            .collect();
        if now == sent {
            continue;
        }
        let edge_changed = if now.is_empty() && !translation.sources.contains_key(&fqn) {
            link.drop_edge(&fqn)
        } else {
            let source = interner.source(&fqn);
            link.set_edge(&source, EdgeState::Unknown)
        };
        if edge_changed {
            marked.insert(fqn);
        }
    }
    marked
}

/// Keeps the translation's warnings of the re-translated sources (all of them for a whole
/// translation); returns the sources whose warnings changed (their status must say so).
pub(super) fn record_warnings(
    cluster: &str,
    link: &mut Link,
    translation: &Translation,
    scope: Option<&BTreeSet<String>>,
) -> BTreeSet<String> {
    let mut fresh: BTreeMap<String, Vec<crate::model::Diagnostic>> = BTreeMap::new();
    for (fqn, warning) in &translation.warnings {
        fresh.entry(fqn.clone()).or_default().push(warning.clone());
    }
    let old = match scope {
        None => std::mem::take(&mut link.warnings),
        Some(changed) => changed
            .iter()
            .filter_map(|fqn| link.warnings.remove(fqn).map(|w| (fqn.clone(), w)))
            .collect(),
    };
    let mut moved = BTreeSet::new();
    for (fqn, warnings) in &fresh {
        if old.get(fqn) != Some(warnings) {
            for warning in warnings {
                tracing::warn!(%cluster, %fqn, %warning, "translation left something out");
            }
            moved.insert(fqn.clone());
        }
    }
    moved.extend(old.into_keys().filter(|fqn| !fresh.contains_key(fqn)));
    link.warnings.extend(fresh);
    moved
}

/// One freshly generated object.
struct Fresh<'t> {
    source: Source,
    hash: u64,
    generated: &'t Generated,
}

/// Turns a translation into the cluster's desired objects, diffs them against what the
/// cluster was sent, updates the link, and returns the revision's chunks (sent by the caller)
/// and the sources whose status must be reported. A full resync (`link.needs_full`) needs a
/// whole translation: the link keeps no object's JSON, so it cannot list what a partial one
/// did not translate.
pub(super) fn recompute(
    cluster: &str,
    link: &mut Link,
    generation: Generation<'_>,
    revision: u64,
    is_self: &dyn Fn(&str, &ObjectKey) -> bool,
    change_of: &dyn Fn(&str) -> i64,
    interner: &mut Interner,
) -> Planned {
    let (translation, scope) = match &generation {
        Generation::Whole(translation) => (translation, None),
        Generation::Some(translation, changed) => (translation, Some(*changed)),
    };
    debug_assert!(
        !(link.needs_full && scope.is_some()),
        "a full resync translates whole"
    );
    let full = link.needs_full;
    let mut touched: BTreeSet<Source> = BTreeSet::new();
    let mut failed: BTreeSet<Source> = BTreeSet::new();
    for (fqn, diagnostic) in &translation.errors {
        tracing::warn!(%cluster, %fqn, %diagnostic, "translation failed");
        failed.insert(interner.source(fqn));
    }
    let warned = record_warnings(cluster, link, translation, scope);
    // Sources whose only output here is their own CR: already in place, nothing to send.
    let mut in_place: BTreeSet<Source> = BTreeSet::new();
    let mut fresh: BTreeMap<TargetRef, Fresh<'_>> = BTreeMap::new();
    for (fqn, keys) in &translation.sources {
        let source = interner.source(fqn);
        for key in keys {
            let Some(generated) = translation.objects.get(key) else {
                continue;
            };
            if is_self(fqn, key) {
                in_place.insert(source.clone());
                continue;
            }
            let hash = content_hash(generated);
            let target = interner.target(key, &generated.api_version);
            let known = link
                .objects
                .get(&target)
                .is_some_and(|s| s.hash == hash && s.source == source);
            // Checked once per content: what was sent before passed.
            if !known {
                let json = interner.json(&target, hash, || generated.to_object().to_string());
                if json.len() > MAX_GENERATED_BYTES {
                    tracing::warn!(%cluster, source = %fqn, object = %key, bytes = json.len(), "generated object over the size limit; not sent");
                    failed.insert(source.clone());
                    continue;
                }
            }
            fresh.insert(
                target,
                Fresh {
                    source: source.clone(),
                    hash,
                    generated,
                },
            );
        }
    }
    // `previous`: what the re-translated scope had; `link.objects` becomes the whole new set.
    let mut previous: HashMap<TargetRef, Sent> = HashMap::new();
    match scope {
        None => {
            previous = std::mem::take(&mut link.objects);
            link.by_source.clear();
            link.sum = 0;
        }
        Some(changed) => {
            for fqn in changed {
                for target in link.by_source.remove(fqn.as_str()).unwrap_or_default() {
                    if let Some(old) = link.objects.remove(&target) {
                        link.sum = link.sum.wrapping_sub(entry_hash(&target.key, old.hash));
                        previous.insert(target, old);
                    }
                }
            }
        }
    }
    let mut accepted: HashSet<TargetRef> = HashSet::new();
    for (target, object) in &fresh {
        if let Some(owner) = link.objects.get(target) {
            failed.insert(object.source.clone());
            tracing::warn!(%cluster, object = %target.key, owner = %owner.source, source = %object.source, "two sources generate one object");
            continue;
        }
        link.objects.insert(
            target.clone(),
            Sent {
                source: object.source.clone(),
                hash: object.hash,
            },
        );
        link.by_source
            .entry(object.source.clone())
            .or_default()
            .push(target.clone());
        link.sum = link.sum.wrapping_add(entry_hash(&target.key, object.hash));
        accepted.insert(target.clone());
    }
    let mut render = |target: &TargetRef, object: &Fresh<'_>| Upsert {
        target: target.clone(),
        hash: object.hash,
        json: interner.json(target, object.hash, || {
            object.generated.to_object().to_string()
        }),
        source: object.source.clone(),
    };
    let mut upserts: Vec<Upsert> = Vec::new();
    // Sources whose output here changed (a full resync also resends unchanged ones).
    let mut moved: BTreeSet<Source> = BTreeSet::new();
    for (target, object) in &fresh {
        if !accepted.contains(target) {
            continue;
        }
        let changed = previous
            .get(target)
            .is_none_or(|old| old.hash != object.hash);
        if full || changed {
            touched.insert(object.source.clone());
            if changed {
                moved.insert(object.source.clone());
            }
            upserts.push(render(target, object));
        }
    }
    // Sources sent again because their acknowledgement was lost: a delivery all the same.
    let mut resent: BTreeSet<Source> = BTreeSet::new();
    if !full && scope.is_none() {
        // Sources whose edge is UNKNOWN with no revision in flight for them: their
        // acknowledgement was lost with a stream, or they changed while the agent was away
        // (and may have changed back). Sending them again costs a few idempotent applies and
        // gives them a fresh acknowledgement, errors included.
        let in_flight: HashSet<&Source> = link.pending.values().flat_map(|f| &f.sources).collect();
        let resend: BTreeSet<Source> = link
            .edges
            .iter()
            .filter(|(source, edge)| {
                **edge == EdgeState::Unknown
                    && !touched.contains(*source)
                    && !in_flight.contains(source)
            })
            .map(|(source, _)| source.clone())
            .collect();
        if !resend.is_empty() {
            for (target, object) in &fresh {
                if accepted.contains(target) && resend.contains(&object.source) {
                    upserts.push(render(target, object));
                }
            }
            resent.extend(resend.iter().cloned());
            touched.extend(resend);
        }
    }
    let mut removals: Vec<TargetRef> = Vec::new();
    for (target, old) in &previous {
        if !link.objects.contains_key(target) {
            touched.insert(old.source.clone());
            moved.insert(old.source.clone());
            removals.push(target.clone());
        }
    }
    removals.sort();
    // Sources no longer targeting this cluster lose their edge.
    let gone: Vec<Source> = match scope {
        None => link.edges.keys().cloned().collect(),
        Some(changed) => changed.iter().map(|fqn| interner.source(fqn)).collect(),
    };
    for source in gone {
        if !link.by_source.contains_key(&source)
            && !failed.contains(&source)
            && !in_place.contains(&source)
        {
            link.drop_edge(&source);
        }
    }
    for source in &failed {
        link.set_edge(source, EdgeState::Errored);
    }
    // Reported without waiting for an acknowledgement: failures, and in-place sources whose
    // edge just became APPLIED.
    let mut settled: BTreeSet<Source> = failed.clone();
    for source in &in_place {
        link.by_source.entry(source.clone()).or_default();
        if !failed.contains(source) && link.set_edge(source, EdgeState::Applied) {
            settled.insert(source.clone());
        }
    }
    let names = |set: &BTreeSet<Source>| -> BTreeSet<String> {
        set.iter().map(|s| s.to_string()).collect()
    };
    if (upserts.is_empty() && removals.is_empty() && !full) || link.outbox.is_none() {
        let mut reported = names(&settled);
        reported.extend(warned);
        return Planned {
            chunks: Vec::new(),
            reported,
        };
    }
    let revision = revision.max(link.revision + 1);
    let checksum = format!("{:016x}", link.sum);
    let mut chunks = Vec::new();
    let mut upserts = upserts.into_iter().peekable();
    let mut removals = removals.into_iter().peekable();
    loop {
        let chunk_upserts: Vec<_> = upserts.by_ref().take(CHUNK).collect();
        let chunk_removals: Vec<_> = removals.by_ref().take(CHUNK).collect();
        let last = upserts.peek().is_none() && removals.peek().is_none();
        chunks.push(Chunk {
            revision,
            full,
            confirm_prune: full && link.confirm_prune,
            upserts: chunk_upserts,
            removals: chunk_removals,
            last,
            checksum: if last {
                checksum.clone()
            } else {
                String::new()
            },
        });
        if last {
            break;
        }
    }
    // Reported: sources whose output changed, and those whose edge changes now. A source the
    // full resync of a reconnect only resends unchanged keeps its edge until the
    // acknowledgement (a restart with nothing changed moves no count).
    let mut reported = names(&moved);
    for source in &touched {
        if settled.contains(source)
            || in_place.contains(source)
            || !link.by_source.contains_key(source)
            || (!moved.contains(source) && link.edges.contains_key(source))
        {
            continue;
        }
        if link.set_edge(source, EdgeState::Unknown) {
            reported.insert(source.to_string());
        }
    }
    let sources: Vec<Source> = touched
        .iter()
        .filter(|s| !settled.contains(*s) && !in_place.contains(*s))
        .cloned()
        .collect();
    // The object's own change caused this delivery only when it is newer than the revision
    // this cluster was last sent; otherwise (namespaces, Services, a resend) it is none.
    let delivered = sources
        .iter()
        .filter(|s| moved.contains(*s) || resent.contains(*s))
        .map(|s| {
            let change = change_of(s);
            let caused = u64::try_from(change).is_ok_and(|c| c > link.revision);
            (s.clone(), if caused { change } else { 0 })
        })
        .collect();
    link.pending.insert(
        revision,
        InFlight {
            sources,
            delivered,
            sent_us: jiff::Timestamp::now().as_microsecond(),
        },
    );
    link.revision = revision;
    link.checksum = checksum;
    if full {
        link.last_full = revision;
        link.confirm_prune = false;
    }
    link.needs_full = false;
    reported.extend(names(&settled));
    reported.extend(warned);
    Planned { chunks, reported }
}
