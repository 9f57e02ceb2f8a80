//! `tsbridge.v1.ClusterService`: clusters, grants, inventories and API tokens (admins only).

use tonic::{Request, Response, Status};

use crate::model::Fqn;
use crate::proto::v1;
use crate::proto::v1::cluster_service_server::ClusterService;
use crate::server::auth::{
    Actor, Authenticator, Role, check_token_name, default_token_name, new_token, token_hash,
};
use crate::server::engine::Engine;
use crate::server::error::{Error, to_status};
use crate::server::services::{caller, denied};
use crate::store::{ClusterRecord, TokenRecord};

/// The cluster service.
#[derive(Debug, Clone)]
pub struct ClusterApi {
    /// Store access and audit.
    pub engine: Engine,
    /// Who calls.
    pub auth: Authenticator,
    /// Held mass deletions, released by `confirm_deletions`.
    pub guard: crate::server::guard::DeletionGuard,
    /// Held prunes of agents, released by `confirm_deletions` too.
    pub distributor: crate::server::distribute::Distributor,
}

fn cluster_to_proto(record: ClusterRecord) -> v1::Cluster {
    v1::Cluster {
        delivery: None,
        name: record.name,
        grants: record.grants,
        namespaces: record
            .namespaces
            .into_iter()
            .map(|(name, labels)| v1::Namespace {
                name,
                labels: labels.into_iter().collect(),
            })
            .collect(),
    }
}

/// A token as listed: never its hash, never a secret.
fn token_to_proto(token: TokenRecord) -> v1::Token {
    v1::Token {
        name: token.name,
        subject: token.subject,
        role: token.role,
        scope: token.scope,
        created: token.created,
        revoked: token.revoked.unwrap_or_default(),
    }
}

fn valid_cluster_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "cluster name {name:?} must be a DNS label: lowercase letters, digits and '-', at most 63"
        )))
    }
}

impl ClusterApi {
    async fn admin<T>(&self, request: &Request<T>, operation: &str) -> Result<Actor, Status> {
        let actor = caller(&self.auth, &self.engine, request, operation)
            .await
            .map_err(to_status)?;
        if let Err(error) = actor.require_admin() {
            return Err(to_status(
                denied(&self.engine, &actor, operation, "", error).await,
            ));
        }
        Ok(actor)
    }

    async fn audit(
        &self,
        actor: &Actor,
        operation: &str,
        subject: &str,
        message: String,
    ) -> Result<(), Status> {
        let mut entry = self.engine.audit_entry(actor, operation, subject, "");
        entry.outcome = "ok".into();
        entry.message = message;
        self.engine
            .store()
            .append_audit(entry)
            .await
            .map(|_| ())
            .map_err(|e| to_status(e.into()))
    }

    /// `cluster` with how distribution stands with it.
    fn with_delivery(&self, mut cluster: v1::Cluster) -> v1::Cluster {
        cluster.delivery = self.distributor.delivery(&cluster.name);
        cluster
    }

    async fn cluster(&self, name: &str) -> Result<v1::Cluster, Status> {
        self.engine
            .store()
            .get_cluster(name)
            .await
            .map_err(|e| to_status(e.into()))?
            .map(|record| self.with_delivery(cluster_to_proto(record)))
            .ok_or_else(|| to_status(Error::NotFound(format!("cluster {name}"))))
    }
}

#[tonic::async_trait]
impl ClusterService for ClusterApi {
    async fn create_cluster(
        &self,
        request: Request<v1::CreateClusterRequest>,
    ) -> Result<Response<v1::Cluster>, Status> {
        let actor = self.admin(&request, "cluster-create").await?;
        let name = request.into_inner().name;
        valid_cluster_name(&name).map_err(to_status)?;
        self.engine
            .store()
            .create_cluster(&name)
            .await
            .map_err(|e| to_status(e.into()))?;
        self.audit(&actor, "cluster-create", "", format!("cluster {name}"))
            .await?;
        Ok(Response::new(self.cluster(&name).await?))
    }

    async fn list_clusters(
        &self,
        request: Request<v1::ListClustersRequest>,
    ) -> Result<Response<v1::ListClustersResponse>, Status> {
        self.admin(&request, "cluster-list").await?;
        let clusters = self
            .engine
            .store()
            .list_clusters()
            .await
            .map_err(|e| to_status(e.into()))?;
        Ok(Response::new(v1::ListClustersResponse {
            clusters: clusters
                .into_iter()
                .map(|record| self.with_delivery(cluster_to_proto(record)))
                .collect(),
        }))
    }

    async fn get_cluster(
        &self,
        request: Request<v1::GetClusterRequest>,
    ) -> Result<Response<v1::Cluster>, Status> {
        self.admin(&request, "cluster-get").await?;
        Ok(Response::new(
            self.cluster(&request.into_inner().name).await?,
        ))
    }

    async fn grant(
        &self,
        request: Request<v1::GrantRequest>,
    ) -> Result<Response<v1::Cluster>, Status> {
        let actor = self.admin(&request, "grant").await?;
        let v1::GrantRequest { cluster, scope } = request.into_inner();
        let parsed: Fqn = scope.parse().map_err(|e: crate::model::FqnError| {
            to_status(Error::BadRequest(format!("scope {scope:?}: {e}")))
        })?;
        let allowed = matches!(
            parsed.kind(),
            None | Some(crate::model::Kind::Tenant) | Some(crate::model::Kind::Workspace)
        ) && (parsed.kind().is_some() || parsed.is_organization());
        if !allowed {
            return Err(to_status(Error::BadRequest(format!(
                "scope {scope} must be an organization, tenant or workspace FQN"
            ))));
        }
        self.engine
            .store()
            .grant(&cluster, &scope)
            .await
            .map_err(|e| to_status(e.into()))?;
        self.audit(&actor, "grant", &scope, format!("cluster {cluster}"))
            .await?;
        Ok(Response::new(self.cluster(&cluster).await?))
    }

    async fn revoke(
        &self,
        request: Request<v1::GrantRequest>,
    ) -> Result<Response<v1::Cluster>, Status> {
        let actor = self.admin(&request, "revoke").await?;
        let v1::GrantRequest { cluster, scope } = request.into_inner();
        self.engine
            .store()
            .revoke(&cluster, &scope)
            .await
            .map_err(|e| to_status(e.into()))?;
        self.audit(&actor, "revoke", &scope, format!("cluster {cluster}"))
            .await?;
        Ok(Response::new(self.cluster(&cluster).await?))
    }

    async fn confirm_deletions(
        &self,
        request: Request<v1::ConfirmDeletionsRequest>,
    ) -> Result<Response<v1::ConfirmDeletionsResponse>, Status> {
        let actor = self.admin(&request, "confirm-deletions").await?;
        let cluster = request.into_inner().cluster;
        let record = self.cluster(&cluster).await?;
        let held = self
            .guard
            .take(&cluster)
            .await
            .map_err(|e| to_status(Error::Store(e)))?;
        let prune_confirmed = self
            .distributor
            .confirm_prune(&cluster)
            .await
            .map_err(|e| to_status(Error::Store(e)))?;
        if held.is_none() && prune_confirmed.is_none() {
            return Err(to_status(Error::NotFound(format!(
                "held deletions of cluster {cluster} (none are held; they are reported again \
                 when its agent next sends its inventory or holds a prune)"
            ))));
        }
        let held = held.unwrap_or_default();
        let as_cluster = crate::server::auth::Actor::Cluster {
            name: record.name.clone(),
            grants: record
                .grants
                .iter()
                .filter_map(|g| g.parse().ok())
                .collect(),
        };
        let deleted =
            crate::server::services::sync::delete_all(&self.engine, &as_cluster, &held).await;
        self.audit(
            &actor,
            "confirm-deletions",
            "",
            format!(
                "confirmed {} held deletions and {} held prunes of cluster {cluster}",
                deleted.len(),
                prune_confirmed.unwrap_or_default()
            ),
        )
        .await?;
        Ok(Response::new(v1::ConfirmDeletionsResponse {
            deleted,
            prune_confirmed: prune_confirmed.unwrap_or_default(),
        }))
    }

    async fn create_token(
        &self,
        request: Request<v1::CreateTokenRequest>,
    ) -> Result<Response<v1::CreateTokenResponse>, Status> {
        let actor = self.admin(&request, "token-create").await?;
        let v1::CreateTokenRequest {
            role,
            scope,
            subject,
            name,
        } = request.into_inner();
        let role = Role::parse(&role).map_err(to_status)?;
        if subject.len() > 253 || subject.chars().any(char::is_control) {
            return Err(to_status(Error::BadRequest(
                "subject must be at most 253 characters of text".into(),
            )));
        }
        if !name.is_empty() {
            check_token_name(&name).map_err(to_status)?;
        }
        if scope != "*" {
            scope
                .parse::<Fqn>()
                .map_err(|e| to_status(Error::BadRequest(format!("scope {scope:?}: {e}"))))?;
        }
        if subject.is_empty() {
            return Err(to_status(Error::BadRequest(
                "subject is required: who the token identifies, e.g. alice".into(),
            )));
        }
        let secret = new_token();
        let hash = token_hash(&secret);
        let name = if name.is_empty() {
            default_token_name(&subject, &hash)
        } else {
            name
        };
        self.engine
            .store()
            .create_token(TokenRecord {
                hash,
                name: name.clone(),
                subject: subject.clone(),
                role: role.as_str().to_string(),
                scope: scope.clone(),
                created: crate::server::engine::now(),
                revoked: None,
            })
            .await
            .map_err(|e| to_status(e.into()))?;
        self.audit(
            &actor,
            "token-create",
            if scope == "*" { "" } else { &scope },
            format!("token {name} for user:{subject} ({})", role.as_str()),
        )
        .await?;
        Ok(Response::new(v1::CreateTokenResponse {
            token: secret,
            subject,
            role: role.as_str().to_string(),
            scope,
            name,
        }))
    }

    async fn list_tokens(
        &self,
        request: Request<v1::ListTokensRequest>,
    ) -> Result<Response<v1::ListTokensResponse>, Status> {
        self.admin(&request, "token-list").await?;
        let tokens = self
            .engine
            .store()
            .list_tokens()
            .await
            .map_err(|e| to_status(e.into()))?;
        Ok(Response::new(v1::ListTokensResponse {
            tokens: tokens.into_iter().map(token_to_proto).collect(),
        }))
    }

    async fn revoke_token(
        &self,
        request: Request<v1::RevokeTokenRequest>,
    ) -> Result<Response<v1::Token>, Status> {
        let actor = self.admin(&request, "token-revoke").await?;
        let name = request.into_inner().name;
        let revoked = self
            .engine
            .store()
            .revoke_token(&name, &crate::server::engine::now())
            .await
            .map_err(|e| to_status(e.into()))?;
        self.audit(
            &actor,
            "token-revoke",
            "",
            format!(
                "token {name} of user:{} ({}) revoked",
                revoked.subject, revoked.role
            ),
        )
        .await?;
        Ok(Response::new(token_to_proto(revoked)))
    }
}
