//! Environment-specific values (`--mapping FILE`): what differs between environments by
//! design, so that `diff` does not report it and `promote` keeps the target's values.
//!
//! The file names each environment's values under shared logical names:
//!
//! ```yaml
//! environments:
//!   staging:
//!     clusters: {east: stg-east-1}            # cluster names
//!     hosts: {shop: shop.staging.acme.example} # hostnames (and their subdomains)
//!     values: {tier: bronze}                   # any other whole string
//!   production:
//!     clusters: {east: prod-east-1}
//!     hosts: {shop: shop.acme.example}
//!     values: {tier: gold}
//! ```
//!
//! [`MappingFile::rewrite`] turns two environments into a [`Rewrite`] that writes the first
//! one's values as the second one's: `stg-east-1/checkout` becomes `prod-east-1/checkout`,
//! `*.shop.staging.acme.example` becomes `*.shop.acme.example`. Comparing (or promoting) the
//! rewritten FROM side with the TO side then shows only what is not environment-specific.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::model::metadata::HierarchyKey;

/// The mapping file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingFile {
    /// Each environment's values, by environment name.
    pub environments: BTreeMap<String, Environment>,
}

/// One environment's values, each under a logical name shared by every environment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Environment {
    /// Cluster names: a whole string, or the cluster part of `cluster/namespace`.
    pub clusters: BTreeMap<String, String>,
    /// Hostnames: a whole host, the host of `namespace/host`, or its suffix after a `.`.
    pub hosts: BTreeMap<String, String>,
    /// Any other string, matched whole.
    pub values: BTreeMap<String, String>,
}

/// The three kinds of values a mapping names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// `clusters`.
    Clusters,
    /// `hosts`.
    Hosts,
    /// `values`.
    Values,
}

impl Category {
    const ALL: [Category; 3] = [Category::Clusters, Category::Hosts, Category::Values];

    fn of(self, environment: &Environment) -> &BTreeMap<String, String> {
        match self {
            Category::Clusters => &environment.clusters,
            Category::Hosts => &environment.hosts,
            Category::Values => &environment.values,
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Category::Clusters => "clusters",
            Category::Hosts => "hosts",
            Category::Values => "values",
        })
    }
}

/// Why two environments of a mapping cannot be rewritten into each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The environment is not in the file.
    #[error("environment {name:?} is not in the mapping (it has: {known})")]
    UnknownEnvironment {
        /// The name asked for.
        name: String,
        /// The names the file has, comma-separated.
        known: String,
    },
    /// A logical name is given for one environment but not for the other.
    #[error(
        "{category}.{key} is set for environment {present:?} but not for {missing:?}; give it \
         in every environment"
    )]
    Missing {
        /// The category.
        category: Category,
        /// The logical name.
        key: String,
        /// The environment that has it.
        present: String,
        /// The environment that lacks it.
        missing: String,
    },
    /// Two logical names share one value in an environment, so it is unclear what it becomes.
    #[error(
        "{category}.{first} and {category}.{second} are both {value:?} in environment \
         {environment:?}; give each logical name its own value"
    )]
    Ambiguous {
        /// The category.
        category: Category,
        /// The environment.
        environment: String,
        /// The shared value.
        value: String,
        /// One logical name.
        first: String,
        /// The other.
        second: String,
    },
}

impl MappingFile {
    /// The rewrite from environment `from`'s values to environment `to`'s.
    pub fn rewrite(&self, from: &str, to: &str) -> Result<Rewrite, MappingError> {
        let environment = |name: &str| {
            self.environments
                .get(name)
                .ok_or_else(|| MappingError::UnknownEnvironment {
                    name: name.to_string(),
                    known: self
                        .environments
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        };
        let (source, target) = (environment(from)?, environment(to)?);
        let mut rewrite = Rewrite::default();
        for category in Category::ALL {
            let (a, b) = (category.of(source), category.of(target));
            for (env, map, other) in [(from, a, to), (to, b, from)] {
                let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
                for (key, value) in map {
                    if let Some(first) = seen.insert(value, key) {
                        return Err(MappingError::Ambiguous {
                            category,
                            environment: env.to_string(),
                            value: value.clone(),
                            first: first.to_string(),
                            second: key.clone(),
                        });
                    }
                }
                let lacking = if env == from { b } else { a };
                if let Some(key) = map.keys().find(|k| !lacking.contains_key(*k)) {
                    return Err(MappingError::Missing {
                        category,
                        key: key.clone(),
                        present: env.to_string(),
                        missing: other.to_string(),
                    });
                }
            }
            let pairs: Vec<(String, String)> = a
                .iter()
                .map(|(key, value)| (value.clone(), b[key].clone()))
                .filter(|(x, y)| x != y)
                .collect();
            match category {
                Category::Clusters => rewrite.clusters = pairs,
                Category::Hosts => rewrite.hosts = pairs,
                Category::Values => rewrite.values = pairs,
            }
        }
        // Longest first, so `shop.staging.acme.example` wins over `staging.acme.example`.
        rewrite
            .hosts
            .sort_by(|(x, _), (y, _)| y.len().cmp(&x.len()).then(x.cmp(y)));
        Ok(rewrite)
    }
}

/// Rewrites one environment's values into another's (see the module docs). The default
/// rewrites nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rewrite {
    clusters: Vec<(String, String)>,
    hosts: Vec<(String, String)>,
    values: Vec<(String, String)>,
}

impl Rewrite {
    /// True when it changes nothing (no mapping, or two environments with the same values).
    pub fn is_identity(&self) -> bool {
        self.clusters.is_empty() && self.hosts.is_empty() && self.values.is_empty()
    }

    /// The rewritten string, or `None` when no mapped value matches. The first rule that
    /// matches wins: a whole value, a cluster (whole, or before the first `/`), a host (whole
    /// or as a `.`-suffix, after the last `/`).
    pub fn string(&self, s: &str) -> Option<String> {
        if let Some((_, to)) = self.values.iter().find(|(from, _)| from == s) {
            return Some(to.clone());
        }
        for (from, to) in &self.clusters {
            if s == from {
                return Some(to.clone());
            }
            if let Some(rest) = s.strip_prefix(from.as_str())
                && rest.starts_with('/')
            {
                return Some(format!("{to}{rest}"));
            }
        }
        let (prefix, host) = match s.rfind('/') {
            Some(at) => s.split_at(at + 1),
            None => ("", s),
        };
        for (from, to) in &self.hosts {
            if host == from {
                return Some(format!("{prefix}{to}"));
            }
            if let Some(head) = host.strip_suffix(from.as_str())
                && head.ends_with('.')
            {
                return Some(format!("{prefix}{head}{to}"));
            }
        }
        None
    }

    /// Rewrites every string in `value` (not mapping keys); returns how many it changed.
    pub fn value(&self, value: &mut Value) -> usize {
        match value {
            Value::String(s) => match self.string(s) {
                Some(new) => {
                    *s = new;
                    1
                }
                None => 0,
            },
            Value::Array(items) => items.iter_mut().map(|v| self.value(v)).sum(),
            Value::Object(map) => map.values_mut().map(|v| self.value(v)).sum(),
            _ => 0,
        }
    }

    /// Rewrites the values of a label or annotation map; hierarchy annotations are never
    /// rewritten (they place the object, so changing them would make it another object).
    pub fn metadata(&self, map: &mut BTreeMap<String, String>) {
        for (key, value) in map.iter_mut() {
            if is_hierarchy(key) {
                continue;
            }
            if let Some(new) = self.string(value) {
                *value = new;
            }
        }
    }

    /// Rewrites a Kubernetes object (as JSON): its `spec`, and the values of its labels and
    /// annotations except hierarchy annotations. Name and namespace stay.
    pub fn object(&self, object: &mut Value) {
        if let Some(spec) = object.get_mut("spec") {
            self.value(spec);
        }
        for map in ["labels", "annotations"] {
            let Some(Value::Object(entries)) =
                object.get_mut("metadata").and_then(|m| m.get_mut(map))
            else {
                continue;
            };
            for (key, value) in entries.iter_mut() {
                if !is_hierarchy(key) {
                    self.value(value);
                }
            }
        }
    }

    /// Rewrites the mapped values in YAML text, where each occurrence stands alone: not
    /// preceded by a letter, digit, `-` or `_`, nor followed by one of those or a `.` (hosts
    /// may follow a `.`, so subdomains are rewritten). Used to keep a document's own text
    /// (and comments) when promoting it; the caller checks that the result parses to the
    /// rewritten object, since text has no notion of where a value is.
    pub fn text(&self, text: &str) -> String {
        let mut pairs: Vec<&(String, String)> = self
            .values
            .iter()
            .chain(&self.clusters)
            .chain(&self.hosts)
            .collect();
        pairs.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        let word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        'scan: while let Some(c) = rest.chars().next() {
            let before = out.chars().next_back();
            if !before.is_some_and(word) {
                for (from, to) in &pairs {
                    if let Some(after) = rest.strip_prefix(from.as_str())
                        && !after.starts_with(|c: char| word(c) || c == '.')
                        && !from.is_empty()
                    {
                        out.push_str(to);
                        rest = after;
                        continue 'scan;
                    }
                }
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }
}

fn is_hierarchy(key: &str) -> bool {
    HierarchyKey::ALL.iter().any(|k| k.annotation() == key) || key == "tsb.tetrate.io/fqn"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping() -> MappingFile {
        let env = |east: &str, shop: &str, tier: &str| Environment {
            clusters: [("east".to_string(), east.to_string())].into(),
            hosts: [("shop".to_string(), shop.to_string())].into(),
            values: [("tier".to_string(), tier.to_string())].into(),
        };
        MappingFile {
            environments: [
                (
                    "staging".to_string(),
                    env("stg-east", "shop.staging.acme.example", "bronze"),
                ),
                (
                    "production".to_string(),
                    env("prod-east", "shop.acme.example", "gold"),
                ),
            ]
            .into(),
        }
    }

    #[test]
    fn strings_are_rewritten_where_a_value_stands() {
        let r = mapping().rewrite("staging", "production").unwrap();
        let cases = [
            ("stg-east", Some("prod-east")),
            ("stg-east/checkout", Some("prod-east/checkout")),
            ("stg-east-2/checkout", None),
            ("shop.staging.acme.example", Some("shop.acme.example")),
            ("*.shop.staging.acme.example", Some("*.shop.acme.example")),
            (
                "edge/shop.staging.acme.example",
                Some("edge/shop.acme.example"),
            ),
            ("xshop.staging.acme.example", None),
            ("bronze", Some("gold")),
            ("bronze-ish", None),
            ("*/checkout", None),
        ];
        for (input, expected) in cases {
            assert_eq!(r.string(input).as_deref(), expected, "{input}");
        }
    }

    #[test]
    fn objects_keep_hierarchy_annotations_and_names() {
        let r = mapping().rewrite("staging", "production").unwrap();
        let mut object = json!({
            "metadata": {"name": "bronze", "annotations": {
                "tsb.tetrate.io/workspace": "bronze", "team": "bronze"}},
            "spec": {"namespaceSelector": {"names": ["stg-east/a", "*/b"]}, "bronze": 1}
        });
        r.object(&mut object);
        assert_eq!(
            object,
            json!({
                "metadata": {"name": "bronze", "annotations": {
                    "tsb.tetrate.io/workspace": "bronze", "team": "gold"}},
                "spec": {"namespaceSelector": {"names": ["prod-east/a", "*/b"]}, "bronze": 1}
            })
        );
    }

    #[test]
    fn text_is_rewritten_at_word_boundaries() {
        let r = mapping().rewrite("staging", "production").unwrap();
        let text = "names: [\"stg-east/a\", stg-east-2/b]\nhost: api.shop.staging.acme.example\n\
                    # stg-east is the staging cluster\nx: stg-east.local\n";
        assert_eq!(
            r.text(text),
            "names: [\"prod-east/a\", stg-east-2/b]\nhost: api.shop.acme.example\n\
             # prod-east is the staging cluster\nx: stg-east.local\n"
        );
    }

    #[test]
    fn the_same_environment_rewrites_nothing() {
        let r = mapping().rewrite("staging", "staging").unwrap();
        assert!(r.is_identity());
        assert_eq!(r.string("stg-east"), None);
    }

    #[test]
    fn bad_mappings_are_named() {
        let mut m = mapping();
        assert!(matches!(
            m.rewrite("staging", "prod"),
            Err(MappingError::UnknownEnvironment { .. })
        ));
        m.environments
            .get_mut("staging")
            .unwrap()
            .clusters
            .insert("west".into(), "stg-west".into());
        let err = m.rewrite("staging", "production").unwrap_err();
        assert_eq!(
            err.to_string(),
            "clusters.west is set for environment \"staging\" but not for \"production\"; give \
             it in every environment"
        );
        let mut m = mapping();
        m.environments
            .get_mut("production")
            .unwrap()
            .clusters
            .insert("west".into(), "prod-east".into());
        m.environments
            .get_mut("staging")
            .unwrap()
            .clusters
            .insert("west".into(), "stg-west".into());
        assert!(matches!(
            m.rewrite("staging", "production"),
            Err(MappingError::Ambiguous { .. })
        ));
    }
}
