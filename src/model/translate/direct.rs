//! Direct-mode Istio objects: passed through into their own namespace (§7.2, §7.3).

use serde_json::Value;

use crate::model::object::Resource;
use crate::model::translate::{Context, Generated, Output};

/// The object itself, with its own apiVersion, name and spec, in its own namespace when that
/// namespace is a target here. Its source name is kept because other direct-mode objects refer
/// to it by name (a VirtualService's `gateways`, §7.3).
pub(crate) fn pass_through(
    resource: &Resource,
    spec: &Value,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Vec<Generated> {
    let Some(namespace) = resource
        .namespace
        .as_deref()
        .filter(|ns| context.namespaces.contains(*ns))
    else {
        return Vec::new();
    };
    vec![out.named(
        resource.api_version.clone(),
        resource.kind.name(),
        namespace,
        resource.name.clone(),
        spec.clone(),
    )]
}
