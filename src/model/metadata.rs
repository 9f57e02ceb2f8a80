//! Hierarchy annotations, names, and the metadata that is (not) forwarded
//! (tsb-model.md §2.1, §2.4, §2.5, §2.6; gitops-contract.md R-C3).

use std::collections::BTreeMap;

/// Prefix of every TSB annotation; all of them are consumed, never propagated (§2.6).
pub const TSB_PREFIX: &str = "tsb.tetrate.io/";
/// Label that marks a direct-mode Istio object as GitOps input (§8.9).
pub const ISTIO_REV_LABEL: &str = "istio.io/rev";
/// The only accepted value of [`ISTIO_REV_LABEL`] on direct-mode objects.
pub const DIRECT_MODE_REVISION: &str = "tsb";

/// The hierarchy annotation keys (§2.1). Keys are matched exactly and case-sensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HierarchyKey {
    /// `tsb.tetrate.io/organization`
    Organization,
    /// `tsb.tetrate.io/tenant`
    Tenant,
    /// `tsb.tetrate.io/workspace`
    Workspace,
    /// `tsb.tetrate.io/trafficGroup`
    TrafficGroup,
    /// `tsb.tetrate.io/securityGroup`
    SecurityGroup,
    /// `tsb.tetrate.io/gatewayGroup`
    GatewayGroup,
    /// `tsb.tetrate.io/istioInternalGroup`
    IstioInternalGroup,
    /// `tsb.tetrate.io/application`
    Application,
    /// `tsb.tetrate.io/fqn` (target of `AccessBindings`)
    Fqn,
}

impl HierarchyKey {
    /// All keys, in hierarchy order.
    pub const ALL: [HierarchyKey; 9] = [
        HierarchyKey::Organization,
        HierarchyKey::Tenant,
        HierarchyKey::Workspace,
        HierarchyKey::TrafficGroup,
        HierarchyKey::SecurityGroup,
        HierarchyKey::GatewayGroup,
        HierarchyKey::IstioInternalGroup,
        HierarchyKey::Application,
        HierarchyKey::Fqn,
    ];

    /// The keys that are immutable after create (gitops-contract.md G-11).
    pub const IMMUTABLE: [HierarchyKey; 8] = [
        HierarchyKey::Organization,
        HierarchyKey::Tenant,
        HierarchyKey::Workspace,
        HierarchyKey::TrafficGroup,
        HierarchyKey::SecurityGroup,
        HierarchyKey::GatewayGroup,
        HierarchyKey::IstioInternalGroup,
        HierarchyKey::Application,
    ];

    /// The four group keys; a direct-mode object carries exactly one (§2.2 rule 2).
    pub const GROUPS: [HierarchyKey; 4] = [
        HierarchyKey::TrafficGroup,
        HierarchyKey::SecurityGroup,
        HierarchyKey::GatewayGroup,
        HierarchyKey::IstioInternalGroup,
    ];

    /// The full annotation key.
    pub fn annotation(self) -> &'static str {
        match self {
            HierarchyKey::Organization => "tsb.tetrate.io/organization",
            HierarchyKey::Tenant => "tsb.tetrate.io/tenant",
            HierarchyKey::Workspace => "tsb.tetrate.io/workspace",
            HierarchyKey::TrafficGroup => "tsb.tetrate.io/trafficGroup",
            HierarchyKey::SecurityGroup => "tsb.tetrate.io/securityGroup",
            HierarchyKey::GatewayGroup => "tsb.tetrate.io/gatewayGroup",
            HierarchyKey::IstioInternalGroup => "tsb.tetrate.io/istioInternalGroup",
            HierarchyKey::Application => "tsb.tetrate.io/application",
            HierarchyKey::Fqn => "tsb.tetrate.io/fqn",
        }
    }

    /// Exact lookup of an annotation key.
    pub fn from_annotation(key: &str) -> Option<HierarchyKey> {
        HierarchyKey::ALL
            .into_iter()
            .find(|k| k.annotation() == key)
    }

    /// A key that differs only in case (e.g. `tsb.tetrate.io/trafficgroup`), for fix hints.
    pub fn case_insensitive_match(key: &str) -> Option<HierarchyKey> {
        HierarchyKey::ALL
            .into_iter()
            .find(|k| k.annotation().eq_ignore_ascii_case(key) && k.annotation() != key)
    }

    /// True for the four group keys.
    pub fn is_group(self) -> bool {
        HierarchyKey::GROUPS.contains(&self)
    }
}

/// Kubernetes DNS-1123 subdomain (§2.4): lower-case alphanumerics, `-` and `.`, each
/// dot-separated label starting and ending alphanumeric, at most 253 characters.
pub fn is_dns1123_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            let bytes = label.as_bytes();
            let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
            !bytes.is_empty()
                && alnum(&bytes[0])
                && alnum(&bytes[bytes.len() - 1])
                && bytes.iter().all(|b| alnum(b) || *b == b'-')
        })
}

/// Which metadata map a strip rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataMap {
    /// `metadata.labels`
    Labels,
    /// `metadata.annotations`
    Annotations,
    /// Both maps.
    Both,
}

/// One entry of the strip list: an exact key or a prefix (written with a trailing `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripRule {
    /// The key, or the prefix when `prefix` is true.
    pub pattern: String,
    /// Match `pattern` as a prefix.
    pub prefix: bool,
    /// Where the rule applies.
    pub on: MetadataMap,
}

impl StripRule {
    /// Parses `key` or `prefix*` (e.g. `argocd.argoproj.io/*`).
    pub fn parse(pattern: &str, on: MetadataMap) -> StripRule {
        match pattern.strip_suffix('*') {
            Some(prefix) => StripRule {
                pattern: prefix.to_string(),
                prefix: true,
                on,
            },
            None => StripRule {
                pattern: pattern.to_string(),
                prefix: false,
                on,
            },
        }
    }

    fn matches(&self, key: &str, map: MetadataMap) -> bool {
        let applies = self.on == MetadataMap::Both || self.on == map;
        applies
            && if self.prefix {
                key.starts_with(&self.pattern)
            } else {
                key == self.pattern
            }
    }
}

/// The delivery-system and hierarchy metadata that is never forwarded or copied onto generated
/// Istio objects (§2.6, R-C3). [`StripRules::default`] is tsbridge's built-in list; operators
/// extend it (e.g. with a differently configured Argo CD instance label) through [`StripRules::add`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripRules {
    rules: Vec<StripRule>,
}

impl Default for StripRules {
    fn default() -> Self {
        use MetadataMap::{Annotations, Both, Labels};
        let rules = [
            // Consumed for placement; our own domain, never propagated from either map.
            ("tsb.tetrate.io/*", Both),
            // tsbridge's own control annotations and ownership label (gitops-contract.md).
            ("tsbridge.io/*", Both),
            // Consumed; copying it would make the local istiod skip the generated object.
            (ISTIO_REV_LABEL, Labels),
            ("kubectl.kubernetes.io/*", Annotations),
            ("argocd.argoproj.io/*", Both),
            // Agent-written Argo CD deep links (gitops-contract.md R-C1).
            ("link.argocd.argoproj.io/*", Annotations),
            ("app.kubernetes.io/instance", Both),
            ("kustomize.toolkit.fluxcd.io/*", Both),
            ("helm.toolkit.fluxcd.io/*", Both),
            ("app.kubernetes.io/managed-by", Both),
            ("helm.sh/*", Both),
            ("meta.helm.sh/release-name", Annotations),
            ("meta.helm.sh/release-namespace", Annotations),
        ];
        StripRules {
            rules: rules
                .into_iter()
                .map(|(pattern, on)| StripRule::parse(pattern, on))
                .collect(),
        }
    }
}

impl StripRules {
    /// Adds a rule (`key` or `prefix*`).
    pub fn add(&mut self, pattern: &str, on: MetadataMap) -> &mut Self {
        self.rules.push(StripRule::parse(pattern, on));
        self
    }

    /// The rules in order.
    pub fn rules(&self) -> &[StripRule] {
        &self.rules
    }

    /// True if `key` in `map` must not be forwarded.
    pub fn strips(&self, key: &str, map: MetadataMap) -> bool {
        self.rules.iter().any(|rule| rule.matches(key, map))
    }

    /// The entries of `input` that are forwarded as config-generation metadata (§2.5).
    pub fn forwarded(
        &self,
        input: &BTreeMap<String, String>,
        map: MetadataMap,
    ) -> BTreeMap<String, String> {
        input
            .iter()
            .filter(|(key, _)| !self.strips(key, map))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1123_subdomain_rule() {
        for good in [
            "a",
            "bookinfo",
            "checkout-ws",
            "a.b-c.d",
            "0abc",
            &"a".repeat(253),
        ] {
            assert!(is_dns1123_subdomain(good), "{good}");
        }
        for bad in [
            "",
            "INVALID",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a_b",
            "a b",
            "ä",
            &"a".repeat(254),
        ] {
            assert!(!is_dns1123_subdomain(bad), "{bad}");
        }
    }

    #[test]
    fn hierarchy_keys_are_exact_and_case_sensitive() {
        assert_eq!(
            HierarchyKey::from_annotation("tsb.tetrate.io/trafficGroup"),
            Some(HierarchyKey::TrafficGroup)
        );
        assert_eq!(
            HierarchyKey::from_annotation("tsb.tetrate.io/trafficgroup"),
            None
        );
        assert_eq!(
            HierarchyKey::case_insensitive_match("tsb.tetrate.io/trafficgroup"),
            Some(HierarchyKey::TrafficGroup)
        );
        assert_eq!(
            HierarchyKey::case_insensitive_match("tsb.tetrate.io/trafficGroup"),
            None
        );
    }

    #[test]
    fn default_strip_list_covers_delivery_bookkeeping() {
        let rules = StripRules::default();
        let annotations: BTreeMap<String, String> = [
            ("tsb.tetrate.io/organization", "acme"),
            ("tsb.tetrate.io/anything", "x"),
            ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
            ("argocd.argoproj.io/sync-wave", "30"),
            ("argocd.argoproj.io/tracking-id", "app:/ns/x"),
            ("link.argocd.argoproj.io/mp", "https://mp"),
            ("kustomize.toolkit.fluxcd.io/prune", "disabled"),
            ("meta.helm.sh/release-name", "r"),
            ("meta.helm.sh/release-namespace", "n"),
            ("helm.sh/hook", "pre-install"),
            ("tsbridge.io/deletion-policy", "Orphan"),
            ("team.acme.io/owner", "checkout"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let kept = rules.forwarded(&annotations, MetadataMap::Annotations);
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["team.acme.io/owner"]);

        let labels: BTreeMap<String, String> = [
            ("istio.io/rev", "tsb"),
            ("app.kubernetes.io/instance", "my-app"),
            ("app.kubernetes.io/managed-by", "Helm"),
            ("helm.sh/chart", "c-1.0"),
            ("kustomize.toolkit.fluxcd.io/name", "apps"),
            ("app", "cart"),
            ("version", "v1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let kept = rules.forwarded(&labels, MetadataMap::Labels);
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["app", "version"]);
    }

    #[test]
    fn strip_list_is_extensible_and_map_specific() {
        let mut rules = StripRules::default();
        assert!(!rules.strips("argocd.example.com/instance", MetadataMap::Labels));
        rules.add("argocd.example.com/instance", MetadataMap::Labels);
        assert!(rules.strips("argocd.example.com/instance", MetadataMap::Labels));
        assert!(!rules.strips("argocd.example.com/instance", MetadataMap::Annotations));
        rules.add("corp.example/*", MetadataMap::Both);
        assert!(rules.strips("corp.example/x", MetadataMap::Annotations));
        // istio.io/rev is a label rule only.
        assert!(!rules.strips(ISTIO_REV_LABEL, MetadataMap::Annotations));
    }
}
