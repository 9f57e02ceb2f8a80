//! Registering a test's validating webhook with a real apiserver, scoped to one namespace.

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

/// A `ValidatingWebhookConfiguration` named `name` with one webhook `webhook` calling `url`
/// (trusting `ca`) for `rules`, limited to namespace `ns` so a leftover never blocks other
/// tests. `sideEffects: None`, `failurePolicy: Fail`, `timeoutSeconds: 5`, as the chart ships.
pub async fn register_webhook(
    client: &Client,
    name: &str,
    webhook: &str,
    url: &str,
    ca: Vec<u8>,
    rules: Value,
    ns: &str,
) -> Registered {
    super::assert_loopback(url);
    let mut config: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": { "name": name },
        "webhooks": [{
            "name": webhook,
            "clientConfig": { "url": url },
            "rules": rules,
            "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": ns } },
            "matchPolicy": "Equivalent",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "failurePolicy": "Fail",
            "timeoutSeconds": 5
        }]
    }))
    .expect("webhook configuration literal");
    config.webhooks.as_mut().expect("one webhook")[0]
        .client_config
        .ca_bundle = Some(ByteString(ca));
    let configs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    configs
        .create(&PostParams::default(), &config)
        .await
        .expect("webhook configuration is created");
    Registered {
        configs,
        name: name.to_string(),
    }
}

/// A registered configuration; [`Registered::delete`] removes it.
pub struct Registered {
    configs: Api<ValidatingWebhookConfiguration>,
    name: String,
}

impl Registered {
    /// Deletes the configuration (reports, never panics: it runs on cleanup paths).
    pub async fn delete(self) {
        if let Err(e) = self
            .configs
            .delete(&self.name, &DeleteParams::default())
            .await
        {
            eprintln!("deleting webhook configuration {}: {e}", self.name);
        }
    }
}
