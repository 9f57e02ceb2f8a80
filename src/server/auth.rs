//! Who is calling, and what they may do.
//!
//! Agents present a client certificate whose URI SAN is `spiffe://<trust-domain>/cluster/<name>`;
//! API users send `authorization: Bearer <token>`, looked up by its SHA-256 (tokens are stored
//! only hashed) and bound to a role on an FQN scope.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::model::Fqn;
use crate::server::error::Error;
use crate::server::limits::{RateLimiter, Refusal};
use crate::store::{Store, TokenRecord};

/// API roles, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read.
    Viewer,
    /// Read and write config.
    Editor,
    /// Everything, clusters and tokens included.
    Admin,
}

impl Role {
    /// Parses `admin`, `editor` or `viewer`.
    pub fn parse(text: &str) -> Result<Role, Error> {
        match text {
            "admin" => Ok(Role::Admin),
            "editor" => Ok(Role::Editor),
            "viewer" => Ok(Role::Viewer),
            other => Err(Error::BadRequest(format!(
                "role {other:?} is not one of admin, editor, viewer"
            ))),
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Actor {
    /// An API user with a bearer token.
    User {
        /// Who (audited as `user:<subject>`).
        subject: String,
        /// What they may do.
        role: Role,
        /// Where; `None` = everywhere.
        scope: Option<Fqn>,
    },
    /// An agent, identified by its client certificate.
    Cluster {
        /// Cluster name.
        name: String,
        /// Scopes it may write in.
        grants: Vec<Fqn>,
    },
}

impl Actor {
    /// True for API users.
    pub fn is_user(&self) -> bool {
        matches!(self, Actor::User { .. })
    }

    /// The subject or cluster name.
    pub fn name(&self) -> &str {
        match self {
            Actor::User { subject, .. } => subject,
            Actor::Cluster { name, .. } => name,
        }
    }

    /// `user:<subject>` or `cluster:<name>`.
    pub fn audit_name(&self) -> String {
        match self {
            Actor::User { subject, .. } => format!("user:{subject}"),
            Actor::Cluster { name, .. } => format!("cluster:{name}"),
        }
    }

    fn covers(&self, fqn: &Fqn) -> bool {
        match self {
            Actor::User { scope, .. } => scope.as_ref().is_none_or(|s| s.covers(fqn)),
            Actor::Cluster { grants, .. } => grants.iter().any(|g| g.covers(fqn)),
        }
    }

    /// May this caller read `fqn`? ([`Actor::authorize_read`] without the error.)
    pub fn may_read(&self, fqn: &Fqn) -> bool {
        self.covers(fqn)
    }

    /// The FQN a user's token is bound to; `None` for everywhere. Clusters have grants, not
    /// a scope, and `None` here: only token users reach the web console, its one caller.
    pub fn scope(&self) -> Option<&Fqn> {
        match self {
            Actor::User { scope, .. } => scope.as_ref(),
            Actor::Cluster { .. } => None,
        }
    }

    /// May this caller read `fqn`?
    pub fn authorize_read(&self, fqn: &Fqn) -> Result<(), Error> {
        if self.covers(fqn) {
            return Ok(());
        }
        Err(Error::PermissionDenied(format!(
            "{} may not read {fqn}: outside its scope",
            self.audit_name()
        )))
    }

    /// May this caller write `fqn`?
    pub fn authorize_write(&self, fqn: &Fqn) -> Result<(), Error> {
        match self {
            Actor::User { role, .. } if *role < Role::Editor => {
                Err(Error::PermissionDenied(format!(
                    "{} is a viewer and may not write {fqn}; use an editor or admin token",
                    self.audit_name()
                )))
            }
            Actor::Cluster { name, grants } if !self.covers(fqn) => {
                let granted: Vec<String> = grants.iter().map(ToString::to_string).collect();
                Err(Error::PermissionDenied(format!(
                    "{fqn} is not granted to cluster {name} (grants: {}); an admin can run \
                     `tsbridge ctl cluster grant {name} --organization …`",
                    if granted.is_empty() {
                        "none".to_string()
                    } else {
                        granted.join(", ")
                    }
                )))
            }
            Actor::User { .. } if !self.covers(fqn) => Err(Error::PermissionDenied(format!(
                "{} may not write {fqn}: outside its scope",
                self.audit_name()
            ))),
            _ => Ok(()),
        }
    }

    /// Admin-only operations (clusters, grants, tokens).
    pub fn require_admin(&self) -> Result<(), Error> {
        match self {
            Actor::User {
                role: Role::Admin,
                scope: None,
                ..
            } => Ok(()),
            _ => Err(Error::PermissionDenied(format!(
                "{} may not manage clusters or tokens; use an admin token scoped to '*'",
                self.audit_name()
            ))),
        }
    }
}

/// Hex SHA-256 of a token secret: the only form tokens are stored in.
pub fn token_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The default name of a token: its subject made name-safe, and the first 8 hex digits of its
/// hash (which tell nothing about the secret).
pub fn default_token_name(subject: &str, hash: &str) -> String {
    let mut stem: String = subject
        .chars()
        .map(|c| if valid_name_char(c) { c } else { '-' })
        .take(40)
        .collect();
    stem = stem.trim_matches('-').to_string();
    if stem.is_empty() {
        stem = "token".into();
    }
    format!("{stem}-{}", &hash[..8.min(hash.len())])
}

fn valid_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@')
}

/// A token name a user chose: 1 to 100 letters, digits, `-`, `_`, `.` and `@`.
pub fn check_token_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() > 100 || !name.chars().all(valid_name_char) {
        return Err(Error::BadRequest(format!(
            "token name {name:?} must be 1 to 100 letters, digits, '-', '_', '.' and '@'"
        )));
    }
    Ok(())
}

/// A new random token secret (256 bits, URL-safe).
pub fn new_token() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let body: String = (0..43)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("tsb_{body}")
}

/// Authenticates requests against the store's tokens and clusters, and rate-limits the
/// callers.
#[derive(Debug, Clone)]
pub struct Authenticator {
    store: Store,
    trust_domain: String,
    limiter: Option<Arc<RateLimiter>>,
    /// Valid tokens found recently: saves a store read per request.
    tokens: Arc<Mutex<TokenCache>>,
    /// The store's revocation epoch: the cache is emptied whenever it moves, so a revocation
    /// holds on this replica as soon as the store tells it (at once for its own revocations).
    revocations: tokio::sync::watch::Receiver<i64>,
}

/// Valid tokens by hash, as of one revocation epoch.
#[derive(Debug, Default)]
struct TokenCache {
    epoch: i64,
    found: HashMap<String, (TokenRecord, Instant)>,
}

/// How long a found token is trusted without reading the store again (revocations empty the
/// cache before that; the TTL is a backstop).
const TOKEN_TTL: Duration = Duration::from_secs(10);

/// Most cached tokens (the cache is emptied when full).
const MAX_CACHED_TOKENS: usize = 10_000;

impl Authenticator {
    /// For `spiffe://<trust_domain>/cluster/<name>` identities; no rate limit.
    pub fn new(store: Store, trust_domain: String) -> Authenticator {
        Authenticator {
            revocations: store.subscribe_tokens(),
            store,
            trust_domain,
            limiter: None,
            tokens: Arc::default(),
        }
    }

    /// With a per-identity rate limit (`None` = none).
    pub fn with_rate_limit(self, limiter: Option<Arc<RateLimiter>>) -> Authenticator {
        Authenticator { limiter, ..self }
    }

    /// Takes one request of `actor`'s rate.
    pub fn admit(&self, actor: &Actor) -> Result<(), Refusal> {
        match &self.limiter {
            Some(limiter) => limiter.admit(&actor.audit_name()),
            None => Ok(()),
        }
    }

    /// Takes one stream message of `actor`'s rate, waiting (not refusing) when it is spent;
    /// `Some` says how long.
    pub fn pace(&self, actor: &Actor) -> Option<crate::server::limits::Pacing> {
        self.limiter
            .as_ref()
            .and_then(|limiter| limiter.pace(&actor.audit_name()))
    }

    /// The per-identity limit in requests per second, when there is one.
    pub fn rate_limit(&self) -> Option<u32> {
        self.limiter.as_ref().map(|limiter| limiter.rate())
    }

    /// The caller of `request`.
    pub async fn authenticate<T>(&self, request: &tonic::Request<T>) -> Result<Actor, Error> {
        if let Some(certs) = request.peer_certs()
            && let Some(leaf) = certs.first()
        {
            let name = cluster_from_cert(leaf.as_ref(), &self.trust_domain)?;
            check_validity(leaf.as_ref(), &name)?;
            let cluster = self
                .store
                .get_cluster(&name)
                .await?
                .ok_or_else(|| Error::NotRegistered(name.clone()))?;
            let grants = cluster
                .grants
                .iter()
                .filter_map(|g| g.parse().ok())
                .collect();
            return Ok(Actor::Cluster { name, grants });
        }
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| {
                Error::Unauthenticated(
                    "no credentials: send `authorization: Bearer <token>` (tsbridge ctl --token-file)"
                        .into(),
                )
            })?
            .to_str()
            .map_err(|_| Error::Unauthenticated("the authorization header is not text".into()))?;
        let secret = header.strip_prefix("Bearer ").ok_or_else(|| {
            Error::Unauthenticated("the authorization header is not `Bearer <token>`".into())
        })?;
        self.authenticate_token(secret).await
    }

    /// The API user a bearer token secret identifies (the web console's session cookie
    /// carries the same secret as `authorization: Bearer`).
    pub async fn authenticate_token(&self, secret: &str) -> Result<Actor, Error> {
        let token = self.find_token(&token_hash(secret.trim())).await?;
        let scope = if token.scope == "*" {
            None
        } else {
            Some(token.scope.parse().map_err(|e| {
                Error::Internal(format!("stored token scope {:?}: {e}", token.scope))
            })?)
        };
        Ok(Actor::User {
            subject: token.subject,
            role: Role::parse(&token.role)?,
            scope,
        })
    }
}

// === impl Authenticator ===

impl Authenticator {
    /// The stored token with this hash, from the cache when it was found recently and nothing
    /// was revoked since. Unknown and revoked hashes are never cached, so a new token works at
    /// once on every replica, and a revoked one is refused with its name and time.
    async fn find_token(&self, hash: &str) -> Result<TokenRecord, Error> {
        let now = Instant::now();
        let epoch = *self.revocations.borrow();
        {
            let mut cache = self.cached_tokens();
            if cache.epoch != epoch {
                cache.found.clear();
                cache.epoch = epoch;
            }
            if let Some((token, found)) = cache.found.get(hash)
                && now.duration_since(*found) < TOKEN_TTL
            {
                return Ok(token.clone());
            }
        }
        let token = self
            .store
            .find_token(hash)
            .await?
            .ok_or_else(|| Error::Unauthenticated("the token is not valid".into()))?;
        if let Some(revoked) = &token.revoked {
            return Err(Error::Unauthenticated(format!(
                "token {:?} (user:{}) was revoked at {revoked}; ask an admin for a new token \
                 (`tsbridge ctl token create`)",
                token.name, token.subject
            )));
        }
        let mut cache = self.cached_tokens();
        // A revocation seen while the store was read may concern this very token: keep it out.
        if cache.epoch == epoch && *self.revocations.borrow() == epoch {
            if cache.found.len() >= MAX_CACHED_TOKENS {
                cache.found.clear();
            }
            cache.found.insert(hash.to_string(), (token.clone(), now));
        }
        Ok(token)
    }

    fn cached_tokens(&self) -> std::sync::MutexGuard<'_, TokenCache> {
        self.tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes one failed authentication from `peer` (`None` when unknown); false when the peer
    /// is over the rate and this failure is one of a burst not worth its own audit row.
    pub fn audit_failure(&self, peer: Option<std::net::SocketAddr>) -> bool {
        let Some(limiter) = &self.limiter else {
            return true;
        };
        let who = peer.map_or_else(|| "unknown".to_string(), |p| p.ip().to_string());
        match limiter.admit(&format!("unauthenticated:{who}")) {
            Ok(()) => true,
            Err(refusal) => refusal.first,
        }
    }
}

/// Refuses a client certificate outside its validity period (the handshake let it through so
/// that this refusal can name it; see `runtime::tls`).
fn check_validity(der: &[u8], cluster: &str) -> Result<(), Error> {
    let Some((not_before, not_after)) = crate::runtime::tls::validity(der) else {
        return Err(Error::Unauthenticated(
            "unreadable client certificate validity".into(),
        ));
    };
    let now = jiff::Timestamp::now().as_second();
    let time = |secs: u64| {
        i64::try_from(secs)
            .ok()
            .and_then(|s| jiff::Timestamp::from_second(s).ok())
            .map_or_else(|| secs.to_string(), |t| t.to_string())
    };
    let renew = "renew it: the agent re-reads --tls-cert and --tls-key when the files change";
    if u64::try_from(now).unwrap_or(0) > not_after {
        return Err(Error::Unauthenticated(format!(
            "the client certificate of cluster {cluster} expired at {}; {renew}",
            time(not_after)
        )));
    }
    if u64::try_from(now).unwrap_or(0) < not_before {
        return Err(Error::Unauthenticated(format!(
            "the client certificate of cluster {cluster} is not valid before {} (is a clock \
             wrong?); {renew}",
            time(not_before)
        )));
    }
    Ok(())
}

/// The cluster name in a client certificate's `spiffe://<trust-domain>/cluster/<name>` URI SAN.
pub fn cluster_from_cert(der: &[u8], trust_domain: &str) -> Result<String, Error> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| Error::Unauthenticated(format!("unreadable client certificate: {e}")))?;
    let prefix = format!("spiffe://{trust_domain}/cluster/");
    let sans = cert
        .subject_alternative_name()
        .map_err(|e| Error::Unauthenticated(format!("client certificate SANs: {e}")))?;
    sans.into_iter()
        .flat_map(|san| san.value.general_names.iter())
        .find_map(|name| match name {
            GeneralName::URI(uri) => uri.strip_prefix(&prefix).map(str::to_string),
            _ => None,
        })
        .filter(|name| !name.is_empty() && !name.contains('/'))
        .ok_or_else(|| {
            Error::Unauthenticated(format!(
                "the client certificate has no URI SAN {prefix}<cluster>"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fqn(text: &str) -> Fqn {
        text.parse().expect("valid FQN")
    }

    #[test]
    fn roles_and_scopes_gate_writes() {
        let viewer = Actor::User {
            subject: "v".into(),
            role: Role::Viewer,
            scope: None,
        };
        let editor = Actor::User {
            subject: "e".into(),
            role: Role::Editor,
            scope: Some(fqn("organizations/acme/tenants/a")),
        };
        let cluster = Actor::Cluster {
            name: "east".into(),
            grants: vec![fqn("organizations/acme/tenants/a")],
        };
        let inside = fqn("organizations/acme/tenants/a/workspaces/w");
        let other_tenant = fqn("organizations/acme/tenants/b");
        assert!(viewer.authorize_read(&inside).is_ok());
        assert!(viewer.authorize_write(&inside).is_err());
        assert!(editor.authorize_write(&inside).is_ok());
        assert!(editor.authorize_write(&other_tenant).is_err());
        assert!(editor.authorize_read(&other_tenant).is_err());
        assert!(cluster.authorize_write(&inside).is_ok());
        let denied = cluster
            .authorize_write(&other_tenant)
            .expect_err("outside grant");
        assert!(denied.to_string().contains("not granted"), "{denied}");
        assert!(editor.require_admin().is_err());
    }

    #[test]
    fn token_names_default_to_the_subject_and_a_hash_prefix() {
        let hash = token_hash("secret");
        assert_eq!(
            default_token_name("alice", &hash),
            format!("alice-{}", &hash[..8])
        );
        assert_eq!(
            default_token_name("Bob Smith/ops", &hash),
            format!("Bob-Smith-ops-{}", &hash[..8])
        );
        assert_eq!(default_token_name("//", "ab"), "token-ab");
        assert!(check_token_name("ci_deploy@prod.1").is_ok());
        assert!(check_token_name("").is_err());
        assert!(check_token_name("a b").is_err());
        assert!(check_token_name(&"x".repeat(101)).is_err());
    }

    #[test]
    fn tokens_hash_stably_and_are_random() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(new_token(), new_token());
        assert!(new_token().starts_with("tsb_"));
    }

    #[test]
    fn the_cluster_comes_from_the_spiffe_uri() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.subject_alt_names = vec![rcgen::SanType::URI(
            "spiffe://tsbridge.local/cluster/east"
                .try_into()
                .expect("URI"),
        )];
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        assert_eq!(
            cluster_from_cert(cert.der(), "tsbridge.local").expect("identity"),
            "east"
        );
        assert!(cluster_from_cert(cert.der(), "other.domain").is_err());
    }
}
