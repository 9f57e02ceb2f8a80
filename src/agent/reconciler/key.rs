//! The reconciler's keys: which watched object, by kind and place.

use kube::api::DynamicObject;

/// One watched object: the index of its kind in the watched kinds, its namespace ("" when
/// cluster-scoped) and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// Index into the watched kinds.
    pub kind: usize,
    /// Namespace, "" when cluster-scoped.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// The key of `name` in `namespace`, of watched kind `kind`.
    pub fn new(kind: usize, namespace: &str, name: &str) -> ObjectKey {
        ObjectKey {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// The key of `object`, of watched kind `kind`.
    pub fn of(kind: usize, object: &DynamicObject) -> ObjectKey {
        ObjectKey {
            kind,
            namespace: object.metadata.namespace.clone().unwrap_or_default(),
            name: object.metadata.name.clone().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}
