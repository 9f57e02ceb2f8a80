//! Security kinds: SecuritySetting (as a spec, a default and a service's settings), ServiceSecuritySetting.

use super::*;

/// `SecuritySetting` as the spec of its own kind: every namespace of the group.
pub(super) const SECURITY_SETTING: Message = Message {
    name: "SecuritySetting",
    fields: &[
        Field {
            path: "displayName",
            fate: DISPLAY,
        },
        Field {
            path: "description",
            fate: DISPLAY,
        },
        Field {
            path: "authenticationSettings",
            fate: CONTAINER,
        },
        Field {
            path: "authenticationSettings.trafficMode",
            fate: Translated(
                "PeerAuthentication mtls.mode (REQUIRED: STRICT, OPTIONAL: PERMISSIVE)",
            ),
        },
        Field {
            path: "authenticationSettings.http",
            fate: Translated(
                "RequestAuthentication jwtRules (issuer, audiences, jwksUri or jwks, fromHeaders, \
                 outputPayloadToHeader, outputClaimToHeaders) in every namespace of the group; a \
                 request without a token is not rejected by it, as TSB documents (authorization \
                 decides: with authorization.http.local, every ALLOW rule also asks for a \
                 request principal, so it is rejected)",
            ),
        },
        Field {
            path: "authentication",
            fate: Translated(
                "PeerAuthentication mtls.mode (deprecated; authenticationSettings.trafficMode \
                 wins)",
            ),
        },
        Field {
            path: "authorization",
            fate: CONTAINER,
        },
        Field {
            path: "authorization.mode",
            fate: Translated(
                "ALLOW AuthorizationPolicy rules[].from.source (namespaces or principals)",
            ),
        },
        Field {
            path: "authorization.serviceAccounts",
            fate: Translated(
                "ALLOW AuthorizationPolicy rules[].from.source.principals \
                 (*/ns/<namespace>/sa/<account>) / namespaces (<namespace>/*; ./* is the \
                 policy's own namespace), CUSTOM mode",
            ),
        },
        Field {
            path: "authorization.rules",
            fate: CONTAINER,
        },
        Field {
            path: "authorization.rules.allow",
            fate: Translated(
                "ALLOW AuthorizationPolicy rules[].from.source.namespaces (RULES mode): from/to \
                 fqn → the namespaces of that tenant, workspace or group here; none listed: \
                 source.principals [*] (any authenticated peer); a security domain selects \
                 nothing (warning)",
            ),
        },
        Field {
            path: "authorization.rules.deny",
            fate: Translated(
                "DENY AuthorizationPolicy rules[].from.source.namespaces (RULES mode), from/to \
                 fqn as for allow",
            ),
        },
        Field {
            path: "authorization.rules.denyAll",
            fate: Translated("DENY AuthorizationPolicy rules [{}], matching every request"),
        },
        Field {
            path: "authorization.http",
            fate: CONTAINER,
        },
        Field {
            path: "authorization.http.external",
            fate: CONTAINER,
        },
        Field {
            path: "authorization.http.external.uri",
            fate: EXTERNAL_URI,
        },
        Field {
            path: "authorization.http.external.includeRequestHeaders",
            fate: EXTERNAL_HEADERS,
        },
        Field {
            path: "authorization.http.external.tls",
            fate: EXTERNAL_TLS,
        },
        Field {
            path: "authorization.http.local",
            fate: Translated(
                "ALLOW AuthorizationPolicy rules[]: from.source.requestPrincipals (<iss>/<sub>), \
                 when request.auth.claims[<claim>] (other claims), to.operation.paths / methods; \
                 ANDed with the mode's sources (merged into each rule)",
            ),
        },
        Field {
            path: "propagationStrategy",
            fate: Model(
                "STRICTER: ServiceSecuritySettings below that are looser are reported DIRTY \
                 (V15); in Istio a service setting can only narrow the group's policies anyway",
            ),
        },
        Field {
            path: "extension",
            fate: WASM_EXTENSION,
        },
        Field {
            path: "waf",
            fate: WAF,
        },
        Field {
            path: "configGenerationMetadata",
            fate: Translated(
                "metadata.labels and metadata.annotations of the generated PeerAuthentication, \
                 RequestAuthentication and AuthorizationPolicies",
            ),
        },
    ],
};

/// `authorization.http.external.uri`, wherever a SecuritySetting's fields are translated.
const EXTERNAL_URI: Fate = Translated(
    "AuthorizationPolicy action CUSTOM, rules [{}], provider.name \
     tsbridge-ext-authz-<scheme>-<host>-<port>[-<path>] in every namespace of the group; Istio's \
     meshConfig.extensionProviders must declare that provider (envoyExtAuthzHttp or \
     envoyExtAuthzGrpc): warning TSB1107 gives the entry",
);

/// `authorization.http.external.includeRequestHeaders`.
const EXTERNAL_HEADERS: Fate = Model(
    "tsbridge does not write Istio's mesh config: warning TSB1107 puts them in the \
     envoyExtAuthzHttp.includeRequestHeadersInCheck of the extension provider entry to declare",
);

/// `authorization.http.external.tls`.
const EXTERNAL_TLS: Fate = NotEnforced(
    "TLS towards the authorization server is not generated: an Istio extension provider has no \
     TLS settings (originate TLS with a DestinationRule for the server's host; TSB1107 says so \
     for https://)",
);

/// `SecuritySetting` as `defaultSecuritySetting` of the organization, tenant and workspace
/// settings: overlaid under the group's SecuritySetting and ServiceSecuritySettings
/// (`translate::security::effective`).
pub(super) const DEFAULT_SECURITY_SETTING: Message = Message {
    name: "SecuritySetting (defaultSecuritySetting)",
    fields: &[
        Field {
            path: "displayName",
            fate: DISPLAY,
        },
        Field {
            path: "description",
            fate: DISPLAY,
        },
        Field {
            path: "authenticationSettings",
            fate: CONTAINER,
        },
        Field {
            path: "authenticationSettings.trafficMode",
            fate: Translated(
                "inherited by the SecuritySettings below: their PeerAuthentication mtls.mode (a \
                 group without a SecuritySetting gets none)",
            ),
        },
        Field {
            path: "authenticationSettings.http",
            fate: Translated(
                "inherited (REPLACE: the nearest level that sets it wins) by the SecuritySettings \
                 below: their RequestAuthentication jwtRules (a group without a SecuritySetting \
                 gets none)",
            ),
        },
        Field {
            path: "authentication",
            fate: Translated(
                "inherited by the SecuritySettings below: their PeerAuthentication mtls.mode \
                 (deprecated; authenticationSettings.trafficMode wins)",
            ),
        },
        Field {
            path: "authorization",
            fate: CONTAINER,
        },
        Field {
            path: "authorization.mode",
            fate: Translated(
                "inherited by the SecuritySettings (ALLOW AuthorizationPolicy) and \
                 ServiceSecuritySettings (their ALLOW and DENY AuthorizationPolicies) below that \
                 leave it unset",
            ),
        },
        Field {
            path: "authorization.serviceAccounts",
            fate: Translated(
                "inherited with authorization.mode CUSTOM: AuthorizationPolicy source principals \
                 / namespaces below",
            ),
        },
        Field {
            path: "authorization.rules",
            fate: Translated(
                "inherited with authorization.mode RULES: ALLOW / DENY AuthorizationPolicy rules \
                 below (from/to fqn → namespaces here; security domains select nothing)",
            ),
        },
        Field {
            path: "authorization.http",
            fate: CONTAINER,
        },
        Field {
            path: "authorization.http.external",
            fate: CONTAINER,
        },
        Field {
            path: "authorization.http.external.uri",
            fate: Translated(
                "inherited (REPLACE, whatever the modes) by the SecuritySettings below: their \
                 CUSTOM AuthorizationPolicy provider.name tsbridge-ext-authz-…; Istio's \
                 meshConfig.extensionProviders must declare it (warning TSB1107 gives the entry)",
            ),
        },
        Field {
            path: "authorization.http.external.includeRequestHeaders",
            fate: EXTERNAL_HEADERS,
        },
        Field {
            path: "authorization.http.external.tls",
            fate: EXTERNAL_TLS,
        },
        Field {
            path: "authorization.http.local",
            fate: Translated(
                "inherited (REPLACE, whatever the modes) by the SecuritySettings below: their \
                 ALLOW AuthorizationPolicy rules (requestPrincipals, request.auth.claims, \
                 to.operation)",
            ),
        },
        Field {
            path: "propagationStrategy",
            fate: Model(
                "STRICTER: lower levels may only tighten trafficMode and authorization.mode; \
                 looser ones are raised in translation and reported DIRTY (V15)",
            ),
        },
        Field {
            path: "extension",
            fate: WASM_EXTENSION,
        },
        Field {
            path: "waf",
            fate: WAF,
        },
        Field {
            path: "configGenerationMetadata",
            fate: NotEnforced(
                "defaults do not carry labels or annotations: set them on the tenant, \
                 workspace, group or object instead",
            ),
        },
    ],
};

/// `SecuritySetting` as a ServiceSecuritySetting's `settings` and each subset's `settings`
/// (`translate::service_security`): a subset's policies select the Service's selector plus
/// the subset's ServiceRoute labels.
pub(super) const SERVICE_SECURITY_SETTINGS: Message = Message {
    name: "SecuritySetting (ServiceSecuritySetting settings)",
    fields: &[
        Field {
            path: "displayName",
            fate: DISPLAY,
        },
        Field {
            path: "description",
            fate: DISPLAY,
        },
        Field {
            path: "authenticationSettings",
            fate: CONTAINER,
        },
        Field {
            path: "authenticationSettings.trafficMode",
            fate: Translated(
                "PeerAuthentication mtls.mode (REQUIRED: STRICT, OPTIONAL: PERMISSIVE) with \
                 selector.matchLabels = the Service's selector, in each cluster whose agent \
                 reports the Service",
            ),
        },
        Field {
            path: "authenticationSettings.http",
            fate: Translated(
                "RequestAuthentication jwtRules (as a SecuritySetting's) with \
                 selector.matchLabels = the Service's selector",
            ),
        },
        Field {
            path: "authentication",
            fate: Translated(
                "PeerAuthentication mtls.mode with the Service's selector (deprecated; \
                 authenticationSettings.trafficMode wins)",
            ),
        },
        Field {
            path: "authorization",
            fate: CONTAINER,
        },
        Field {
            path: "authorization.mode",
            fate: Translated(
                "AuthorizationPolicy pair with selector.matchLabels = the Service's selector: \
                 ALLOW from the callers the mode allows (rules[].from.source namespaces / \
                 principals), DENY from every other caller (notNamespaces / notPrincipals)",
            ),
        },
        Field {
            path: "authorization.serviceAccounts",
            fate: Translated(
                "ALLOW principals / namespaces and DENY notPrincipals / notNamespaces of the \
                 Service's AuthorizationPolicies (CUSTOM mode)",
            ),
        },
        Field {
            path: "authorization.rules",
            fate: Translated(
                "the Service's AuthorizationPolicies (RULES mode): ALLOW the allow[] namespaces, \
                 DENY all but them plus the deny[] namespaces (security domains select nothing)",
            ),
        },
        // authorization.http and .external: containers, covered by `authorization`.
        Field {
            path: "authorization.http.external.uri",
            fate: Translated(
                "AuthorizationPolicy action CUSTOM, rules [{}], provider.name \
                 tsbridge-ext-authz-<scheme>-<host>-<port>[-<path>] (the same provider as a \
                 SecuritySetting's) with selector.matchLabels = the Service's selector; Istio's \
                 meshConfig.extensionProviders must declare that provider: warning TSB1107 gives \
                 the entry. A subset keeps the service's server when the service sets another \
                 one (Istio allows one provider per workload; a warning says so)",
            ),
        },
        Field {
            path: "authorization.http.external.includeRequestHeaders",
            fate: EXTERNAL_HEADERS,
        },
        Field {
            path: "authorization.http.external.tls",
            fate: EXTERNAL_TLS,
        },
        Field {
            path: "authorization.http.local",
            fate: Translated(
                "rules[] of the Service's ALLOW AuthorizationPolicy (as a SecuritySetting's: \
                 requestPrincipals, request.auth.claims conditions, to.operation, ANDed with the \
                 mode's sources); ALLOW policies add up, so they cannot narrow what a wider ALLOW \
                 policy on the same pods admits (the group's namespace-wide one, or for a \
                 subset the service's: a warning says so)",
            ),
        },
        Field {
            path: "propagationStrategy",
            fate: Translated(
                "STRICTER: a subset's trafficMode and authorization.mode may only tighten the \
                 service's (a looser one is ignored: the subset's PeerAuthentication and \
                 AuthorizationPolicies keep the service's); REPLACE: a subset's settings \
                 replace the service's field by field",
            ),
        },
        Field {
            path: "extension",
            fate: WASM_EXTENSION,
        },
        Field {
            path: "waf",
            fate: WAF,
        },
        Field {
            path: "configGenerationMetadata",
            fate: SETTINGS_METADATA,
        },
    ],
};

pub(super) const SERVICE_SECURITY_SETTING: Message = Message {
    name: "ServiceSecuritySetting",
    fields: &[
        Field {
            path: "displayName",
            fate: DISPLAY,
        },
        Field {
            path: "description",
            fate: DISPLAY,
        },
        Field {
            path: "service",
            fate: Translated(
                "namespace <namespace> and selector.matchLabels (the selector of that Service as \
                 the cluster's agent reports it) of the generated policies; where a cluster has \
                 no such Service (or it has no selector), nothing is generated there and a \
                 TSB1106 warning names the service and the cluster",
            ),
        },
        Field {
            path: "settings",
            fate: CONTAINER,
        },
        Field {
            path: "subsets",
            fate: CONTAINER,
        },
        Field {
            path: "subsets[].name",
            fate: Translated(
                "selector.matchLabels of the subset's policies: the Service's selector plus the \
                 labels of the subset of that name in the service's ServiceRoute (none there: \
                 nothing is generated for it and a warning names it)",
            ),
        },
        Field {
            path: "subsets[].settings.propagationStrategy",
            fate: NotEnforced(
                "nothing inherits from a subset's settings, so the strategy constrains nothing",
            ),
        },
        Field {
            path: "configGenerationMetadata",
            fate: Translated("metadata.labels and metadata.annotations of the generated policies"),
        },
    ],
};
