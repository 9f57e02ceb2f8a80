//! EgressGateway `authorization[] {from, to[]}` → an ALLOW `AuthorizationPolicy` on the
//! gateway pods; with no entry it has no rule, so it denies everything, as TSB documents.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::model::kind::Kind;
use crate::model::spec::AuthorizationMode;
use crate::model::spec::gateway::EgressAuthorization;
use crate::model::translate::{Context, Output};

pub(super) fn authorization(
    entries: &[EgressAuthorization],
    labels: &BTreeMap<String, String>,
    namespace: &str,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Value {
    let rules: Vec<Value> = entries
        .iter()
        .filter_map(|entry| {
            let mut rule = json!({});
            if let Some(from) = &entry.from {
                rule["from"] = sources(from, namespace, context, out)?;
            }
            let hosts: Vec<String> = entry
                .to
                .iter()
                .flat_map(|h| [h.to_string(), format!("{h}:*")])
                .collect();
            if !hosts.is_empty() {
                rule["to"] = json!([{"operation": {"hosts": hosts}}]);
            }
            Some(rule)
        })
        .collect();
    let mut policy = json!({"selector": {"matchLabels": labels}, "action": "ALLOW"});
    if !rules.is_empty() {
        policy["rules"] = Value::Array(rules);
    }
    policy
}

/// `from.mode` (with `serviceAccounts` for CUSTOM) → Istio sources; `None` (entry dropped)
/// when it selects nobody here, since an empty source would match everybody.
fn sources(
    from: &crate::model::spec::AuthorizationSettings,
    namespace: &str,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Option<Value> {
    let namespaces: BTreeSet<String> = match from.mode? {
        AuthorizationMode::Cluster => return Some(json!([{"source": {"principals": ["*"]}}])),
        AuthorizationMode::Namespace => BTreeSet::from([namespace.to_string()]),
        AuthorizationMode::Group => context.namespaces.clone(),
        AuthorizationMode::Workspace => context
            .resolution
            .namespaces_of(&out.resource.fqn.ancestor(Kind::Workspace)?),
        AuthorizationMode::Custom => {
            let principals: BTreeSet<String> = from
                .service_accounts
                .iter()
                .filter_map(|sa| {
                    let (ns, name) = sa.split_once('/')?;
                    Some(format!("*/ns/{ns}/sa/{name}"))
                })
                .collect();
            return (!principals.is_empty())
                .then(|| json!([{"source": {"principals": principals}}]));
        }
        AuthorizationMode::Unset | AuthorizationMode::Disabled | AuthorizationMode::Rules => {
            return None;
        }
    };
    (!namespaces.is_empty()).then(|| json!([{"source": {"namespaces": namespaces}}]))
}
