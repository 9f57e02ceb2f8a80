//! `namespaceSelector` grammar, matching, scoping and overlap (tsb-model.md §3).
//!
//! Entries follow `^(\*|[^/*]+)/(\*|[^/*]+\*?)$`, implemented by hand so the model needs no
//! regex crate. Matching works on concrete (cluster, namespace) pairs; overlap works on
//! patterns only, so a namespace created later can never turn a valid state invalid (§3.4).

use std::fmt;
use std::str::FromStr;

/// Cluster part of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClusterPattern {
    /// `*`: every cluster.
    Any,
    /// One cluster by name.
    Exact(String),
}

/// Namespace part of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NamespacePattern {
    /// `*`: every namespace.
    Any,
    /// One namespace by name.
    Exact(String),
    /// `prefix*`: every namespace starting with the prefix (the prefix itself included).
    Prefix(String),
}

/// One parsed entry, e.g. `eu-1/checkout-jobs-*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SelectorEntry {
    /// Which clusters.
    pub cluster: ClusterPattern,
    /// Which namespaces.
    pub namespace: NamespacePattern,
}

/// Why an entry does not match the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryProblem {
    /// No `/` at all (`bookinfo`, `*`).
    NoClusterPart,
    /// `/ns`.
    EmptyCluster,
    /// `c*/ns`: clusters are exact names or `*`.
    WildcardInCluster,
    /// `c1/`.
    EmptyNamespace,
    /// `c1/ns/x`.
    ExtraSegment,
    /// `c1/*ns`.
    LeadingWildcard,
    /// `c1/n*s`, or more than one `*`.
    WildcardInMiddle,
    /// `c1/**`: a prefix needs at least one character.
    EmptyPrefix,
}

impl EntryProblem {
    /// What is wrong, in words.
    pub fn message(self) -> &'static str {
        match self {
            EntryProblem::NoClusterPart => "has no cluster part",
            EntryProblem::EmptyCluster => "has an empty cluster part",
            EntryProblem::WildcardInCluster => {
                "has a wildcard in the cluster part; a cluster is an exact name or *"
            }
            EntryProblem::EmptyNamespace => "has an empty namespace part",
            EntryProblem::ExtraSegment => "has more than two segments",
            EntryProblem::LeadingWildcard => "has a leading wildcard in the namespace part",
            EntryProblem::WildcardInMiddle => {
                "has a wildcard that is not a single trailing * in the namespace part"
            }
            EntryProblem::EmptyPrefix => "has a prefix wildcard without any prefix characters",
        }
    }

    /// How to fix it.
    pub fn fix(self) -> &'static str {
        match self {
            EntryProblem::NoClusterPart | EntryProblem::EmptyCluster => {
                "write <cluster>/<namespace>, e.g. */bookinfo for every cluster"
            }
            EntryProblem::WildcardInCluster => {
                "name one cluster or use * (one entry per cluster), e.g. eu-1/checkout"
            }
            EntryProblem::EmptyNamespace => "name a namespace, a prefix like team-*, or *",
            EntryProblem::ExtraSegment => "use exactly one / between cluster and namespace",
            EntryProblem::LeadingWildcard | EntryProblem::WildcardInMiddle => {
                "only a trailing prefix wildcard is allowed, e.g. c1/team-*"
            }
            EntryProblem::EmptyPrefix => "use * for every namespace or a prefix like team-*",
        }
    }
}

/// An entry that failed the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("namespaceSelector entry {entry:?} {}", .problem.message())]
pub struct EntryError {
    /// The entry as written.
    pub entry: String,
    /// What is wrong.
    pub problem: EntryProblem,
}

/// Why a whole selector is invalid (V6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// `names: []` or missing (`min_items: 1`).
    #[error("namespaceSelector.names must list at least one entry")]
    Empty,
    /// Entries that fail the grammar, with their index.
    #[error("{} invalid namespaceSelector entr{}", .0.len(), if .0.len() == 1 { "y" } else { "ies" })]
    Entries(Vec<(usize, EntryError)>),
}

impl FromStr for SelectorEntry {
    type Err = EntryError;

    fn from_str(entry: &str) -> Result<SelectorEntry, EntryError> {
        let fail = |problem| EntryError {
            entry: entry.to_string(),
            problem,
        };
        let (cluster, namespace) = entry
            .split_once('/')
            .ok_or_else(|| fail(EntryProblem::NoClusterPart))?;
        let cluster = match cluster {
            "" => return Err(fail(EntryProblem::EmptyCluster)),
            "*" => ClusterPattern::Any,
            c if c.contains('*') => return Err(fail(EntryProblem::WildcardInCluster)),
            c => ClusterPattern::Exact(c.to_string()),
        };
        if namespace.contains('/') {
            return Err(fail(EntryProblem::ExtraSegment));
        }
        let namespace = match namespace {
            "" => return Err(fail(EntryProblem::EmptyNamespace)),
            "*" => NamespacePattern::Any,
            n if n.starts_with('*') => {
                return Err(fail(if n.chars().all(|c| c == '*') {
                    EntryProblem::EmptyPrefix
                } else {
                    EntryProblem::LeadingWildcard
                }));
            }
            n => match n.strip_suffix('*') {
                Some(prefix) if prefix.contains('*') => {
                    return Err(fail(EntryProblem::WildcardInMiddle));
                }
                Some(prefix) => NamespacePattern::Prefix(prefix.to_string()),
                None if n.contains('*') => return Err(fail(EntryProblem::WildcardInMiddle)),
                None => NamespacePattern::Exact(n.to_string()),
            },
        };
        Ok(SelectorEntry { cluster, namespace })
    }
}

impl fmt::Display for SelectorEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cluster {
            ClusterPattern::Any => f.write_str("*")?,
            ClusterPattern::Exact(c) => f.write_str(c)?,
        }
        f.write_str("/")?;
        match &self.namespace {
            NamespacePattern::Any => f.write_str("*"),
            NamespacePattern::Exact(n) => f.write_str(n),
            NamespacePattern::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

impl ClusterPattern {
    /// §3.2 `cluster_matches`.
    pub fn matches(&self, cluster: &str) -> bool {
        match self {
            ClusterPattern::Any => true,
            ClusterPattern::Exact(c) => c == cluster,
        }
    }

    /// §3.5 `cl_overlap`.
    pub fn overlaps(&self, other: &ClusterPattern) -> bool {
        match (self, other) {
            (ClusterPattern::Any, _) | (_, ClusterPattern::Any) => true,
            (ClusterPattern::Exact(a), ClusterPattern::Exact(b)) => a == b,
        }
    }
}

impl NamespacePattern {
    /// §3.2 `ns_matches`; a prefix also matches the namespace equal to it.
    pub fn matches(&self, namespace: &str) -> bool {
        match self {
            NamespacePattern::Any => true,
            NamespacePattern::Exact(n) => n == namespace,
            NamespacePattern::Prefix(p) => namespace.starts_with(p.as_str()),
        }
    }

    /// §3.5 `ns_overlap`.
    pub fn overlaps(&self, other: &NamespacePattern) -> bool {
        use NamespacePattern::{Any, Exact, Prefix};
        match (self, other) {
            (Any, _) | (_, Any) => true,
            (Exact(a), Exact(b)) => a == b,
            (Exact(a), Prefix(p)) | (Prefix(p), Exact(a)) => a.starts_with(p.as_str()),
            (Prefix(p), Prefix(q)) => p.starts_with(q.as_str()) || q.starts_with(p.as_str()),
        }
    }
}

impl SelectorEntry {
    /// §3.2 `entry_matches`.
    pub fn matches(&self, cluster: &str, namespace: &str) -> bool {
        self.cluster.matches(cluster) && self.namespace.matches(namespace)
    }

    /// §3.5: could some (cluster, namespace) match both entries?
    ///
    /// ```
    /// use tsbridge::model::SelectorEntry;
    ///
    /// let a: SelectorEntry = "c1/ab*".parse().unwrap();
    /// assert!(a.overlaps(&"c1/a*".parse().unwrap()));
    /// assert!(!a.overlaps(&"c1/ac*".parse().unwrap()));
    /// ```
    pub fn overlaps(&self, other: &SelectorEntry) -> bool {
        self.cluster.overlaps(&other.cluster) && self.namespace.overlaps(&other.namespace)
    }
}

/// A parsed, non-empty selector. Duplicate entries are kept; the selector is their union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceSelector {
    entries: Vec<SelectorEntry>,
}

impl NamespaceSelector {
    /// Parses `names`, reporting every bad entry at once (so one admission denial lists all).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<NamespaceSelector, SelectorError> {
        if names.is_empty() {
            return Err(SelectorError::Empty);
        }
        let mut entries = Vec::with_capacity(names.len());
        let mut errors = Vec::new();
        for (index, name) in names.iter().enumerate() {
            match name.as_ref().parse::<SelectorEntry>() {
                Ok(entry) => entries.push(entry),
                Err(err) => errors.push((index, err)),
            }
        }
        if errors.is_empty() {
            Ok(NamespaceSelector { entries })
        } else {
            Err(SelectorError::Entries(errors))
        }
    }

    /// The entries, in input order.
    pub fn entries(&self) -> &[SelectorEntry] {
        &self.entries
    }

    /// §3.2 `selector_matches`.
    pub fn matches(&self, cluster: &str, namespace: &str) -> bool {
        self.entries.iter().any(|e| e.matches(cluster, namespace))
    }

    /// Every pair `(i, j)` where entry `i` of `self` potentially overlaps entry `j` of `other`
    /// (workspace exclusivity, V11).
    pub fn overlapping_pairs(&self, other: &NamespaceSelector) -> Vec<(usize, usize)> {
        let mut pairs = Vec::new();
        for (i, a) in self.entries.iter().enumerate() {
            for (j, b) in other.entries.iter().enumerate() {
                if a.overlaps(b) {
                    pairs.push((i, j));
                }
            }
        }
        pairs
    }

    /// Indexes of this (group) selector's entries that overlap no entry of `workspace` and so
    /// could never select anything (group-within-workspace check, V10). `*/*` always passes.
    pub fn entries_outside(&self, workspace: &NamespaceSelector) -> Vec<usize> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, g)| !workspace.entries.iter().any(|w| g.overlaps(w)))
            .map(|(i, _)| i)
            .collect()
    }

    /// V12: some group entry `g` and workspace entry `w` overlap and both namespace patterns
    /// match `namespace`. Pattern-level, so it needs no inventory.
    pub fn may_contain_namespace(&self, workspace: &NamespaceSelector, namespace: &str) -> bool {
        self.entries.iter().any(|g| {
            g.namespace.matches(namespace)
                && workspace
                    .entries
                    .iter()
                    .any(|w| g.overlaps(w) && w.namespace.matches(namespace))
        })
    }
}

/// §3.3 `eff_ws(W, C)`: the namespaces of `inventory` (cluster `cluster`) the workspace owns.
pub fn effective_workspace_namespaces<'a>(
    workspace: &NamespaceSelector,
    cluster: &str,
    inventory: &'a [String],
) -> Vec<&'a str> {
    inventory
        .iter()
        .map(String::as_str)
        .filter(|n| workspace.matches(cluster, n))
        .collect()
}

/// §3.3 `eff_grp(G, C)`: the group's namespaces, always within its workspace's effective set,
/// so `*/*` in a group means "everything the workspace owns".
pub fn effective_group_namespaces<'a>(
    group: &NamespaceSelector,
    workspace: &NamespaceSelector,
    cluster: &str,
    inventory: &'a [String],
) -> Vec<&'a str> {
    effective_workspace_namespaces(workspace, cluster, inventory)
        .into_iter()
        .filter(|n| group.matches(cluster, n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(s: &str) -> SelectorEntry {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn selector(names: &[&str]) -> NamespaceSelector {
        NamespaceSelector::parse(names).unwrap()
    }

    #[test]
    fn grammar_valid_entries() {
        use ClusterPattern as C;
        use NamespacePattern as N;
        let table = [
            ("*/*", C::Any, N::Any),
            ("*/bookinfo", C::Any, N::Exact("bookinfo".into())),
            ("c1/*", C::Exact("c1".into()), N::Any),
            (
                "c1/bookinfo",
                C::Exact("c1".into()),
                N::Exact("bookinfo".into()),
            ),
            (
                "c1/team-*",
                C::Exact("c1".into()),
                N::Prefix("team-".into()),
            ),
            ("*/team-*", C::Any, N::Prefix("team-".into())),
            ("c1/n*", C::Exact("c1".into()), N::Prefix("n".into())),
            // The regex accepts names no namespace can have; valid, they just never match.
            (
                "C1/Has Space",
                C::Exact("C1".into()),
                N::Exact("Has Space".into()),
            ),
        ];
        for (text, cluster, namespace) in table {
            let parsed = entry(text);
            assert_eq!(parsed, SelectorEntry { cluster, namespace }, "{text}");
            assert_eq!(parsed.to_string(), text, "round trip");
        }
    }

    #[test]
    fn grammar_invalid_entries_spec_table_and_example_8() {
        use EntryProblem as P;
        let table = [
            ("bookinfo", P::NoClusterPart),
            ("*", P::NoClusterPart),
            ("", P::NoClusterPart),
            ("c*/ns", P::WildcardInCluster),
            ("**/ns", P::WildcardInCluster),
            ("c1/*ns", P::LeadingWildcard),
            ("c1/n*s", P::WildcardInMiddle),
            ("c1/a*b*", P::WildcardInMiddle),
            ("c1/ns/x", P::ExtraSegment),
            ("/ns", P::EmptyCluster),
            ("c1/", P::EmptyNamespace),
            ("*/", P::EmptyNamespace),
            ("c1/**", P::EmptyPrefix),
            // Appendix A, Example 8.
            ("checkout", P::NoClusterPart),
            ("eu-*/checkout", P::WildcardInCluster),
            ("eu-1/*out", P::LeadingWildcard),
            ("eu-1/a/b", P::ExtraSegment),
        ];
        for (text, problem) in table {
            let err = text.parse::<SelectorEntry>().unwrap_err();
            assert_eq!(err.problem, problem, "{text}");
            assert_eq!(err.entry, text);
        }
    }

    #[test]
    fn no_trimming() {
        assert_eq!(entry(" c1/ns").cluster, ClusterPattern::Exact(" c1".into()));
        assert!(!entry("c1/ns ").matches("c1", "ns"));
    }

    #[test]
    fn selector_reports_all_bad_entries_and_empty() {
        assert_eq!(
            NamespaceSelector::parse::<&str>(&[]),
            Err(SelectorError::Empty)
        );
        let example8 = ["checkout", "eu-*/checkout", "eu-1/*out", "eu-1/a/b"];
        match NamespaceSelector::parse(&example8) {
            Err(SelectorError::Entries(errors)) => {
                let indexes: Vec<usize> = errors.iter().map(|(i, _)| *i).collect();
                assert_eq!(indexes, [0, 1, 2, 3]);
            }
            other => panic!("expected entry errors, got {other:?}"),
        }
        // Duplicates are allowed.
        assert_eq!(selector(&["*/a", "*/a"]).entries().len(), 2);
    }

    #[test]
    fn matching() {
        let table = [
            ("*/ns1", "c9", "ns1", true),
            ("*/ns1", "c9", "ns2", false),
            ("c1/ns1", "c1", "ns1", true),
            ("c1/ns1", "c2", "ns1", false),
            ("c1/*", "c1", "anything", true),
            ("c1/*", "c2", "anything", false),
            ("*/*", "any", "thing", true),
            ("c1/ns*", "c1", "ns-a", true),
            ("c1/ns*", "c1", "ns", true),
            ("c1/ns*", "c1", "n", false),
            ("c1/ns*", "c1", "xns", false),
        ];
        for (text, cluster, ns, want) in table {
            assert_eq!(
                entry(text).matches(cluster, ns),
                want,
                "{text} vs {cluster}/{ns}"
            );
        }
    }

    #[test]
    fn overlap_spec_table() {
        let table = [
            ("*/x", "c1/x", true),
            ("c1/x", "c2/x", false),
            ("c1/ab*", "c1/abc", true),
            ("c1/ab*", "c1/a*", true),
            ("c1/ab*", "c1/ac*", false),
            ("*/*", "c7/whatever", true),
            ("*/*", "c1/p*", true),
            ("c1/*", "*/web", true),
            ("*/checkout*", "eu-1/checkout-edge", true),
            ("c1/abc", "c1/abd", false),
            ("c1/ab", "c1/abc*", false),
            ("c2/*", "c1/*", false),
        ];
        for (a, b, want) in table {
            assert_eq!(entry(a).overlaps(&entry(b)), want, "{a} ~ {b}");
            assert_eq!(entry(b).overlaps(&entry(a)), want, "{b} ~ {a} (symmetry)");
        }
    }

    fn example2_workspace() -> NamespaceSelector {
        selector(&[
            "eu-1/checkout",
            "us-1/checkout",
            "*/checkout-edge",
            "eu-1/checkout-jobs-*",
            "*/checkout-legacy",
        ])
    }

    #[test]
    fn workspace_overlap_example_2() {
        let ws = example2_workspace();
        let rival = selector(&["*/checkout*"]);
        let pairs = rival.overlapping_pairs(&ws);
        assert_eq!(
            pairs.len(),
            5,
            "every entry of checkout-ws overlaps */checkout*"
        );
        let disjoint = selector(&["*/billing", "us-1/checkout-jobs-x"]);
        assert!(disjoint.overlapping_pairs(&ws).is_empty());
        // Entries inside one workspace may overlap each other.
        assert!(NamespaceSelector::parse(&["c1/*", "c1/web"]).is_ok());
    }

    #[test]
    fn group_within_workspace() {
        let ws = selector(&["*/bookinfo"]);
        assert_eq!(selector(&["*/payments"]).entries_outside(&ws), [0]);
        assert!(selector(&["*/*"]).entries_outside(&ws).is_empty());
        assert!(selector(&["c1/bookinfo"]).entries_outside(&ws).is_empty());
        assert_eq!(
            selector(&["c1/book*", "c1/other", "*/*"]).entries_outside(&ws),
            [1]
        );
        // Example 3 passes V10.
        let tg = selector(&["eu-1/checkout", "us-1/checkout"]);
        assert!(tg.entries_outside(&example2_workspace()).is_empty());
    }

    #[test]
    fn namespace_in_group_example_7() {
        let ws = example2_workspace();
        let direct = selector(&["*/checkout-legacy"]);
        assert!(direct.may_contain_namespace(&ws, "checkout-legacy"));
        assert!(!direct.may_contain_namespace(&ws, "checkout"));
        // A group */* still only contains what the workspace can own.
        let all = selector(&["*/*"]);
        assert!(all.may_contain_namespace(&ws, "checkout-jobs-nightly"));
        assert!(!all.may_contain_namespace(&ws, "billing"));
    }

    #[test]
    fn effective_sets_example_2_worked_resolution() {
        let ws = example2_workspace();
        let eu: Vec<String> = [
            "checkout",
            "checkout-edge",
            "checkout-jobs-nightly",
            "checkout-legacy",
            "billing",
            "kube-system",
        ]
        .map(String::from)
        .to_vec();
        let us: Vec<String> = [
            "checkout",
            "checkout-edge",
            "checkout-jobs-nightly",
            "checkout-legacy",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            effective_workspace_namespaces(&ws, "eu-1", &eu),
            [
                "checkout",
                "checkout-edge",
                "checkout-jobs-nightly",
                "checkout-legacy"
            ]
        );
        assert_eq!(
            effective_workspace_namespaces(&ws, "us-1", &us),
            ["checkout", "checkout-edge", "checkout-legacy"]
        );
        // Example 3: eff_grp = {eu-1: [checkout], us-1: [checkout]}.
        let tg = selector(&["eu-1/checkout", "us-1/checkout"]);
        assert_eq!(
            effective_group_namespaces(&tg, &ws, "eu-1", &eu),
            ["checkout"]
        );
        assert_eq!(
            effective_group_namespaces(&tg, &ws, "us-1", &us),
            ["checkout"]
        );
        // A gateway group */* is "all of the workspace", never billing or kube-system.
        let gg = selector(&["*/*"]);
        assert_eq!(effective_group_namespaces(&gg, &ws, "eu-1", &eu).len(), 4);
    }
}
