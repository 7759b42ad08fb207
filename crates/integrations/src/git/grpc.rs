//! gRPC adapters of `GitProviderService`, `GitConnectionService` and
//! `RepositoryService`: parse into the domain's input, one domain call, map.

use loopback_proto::integrations::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, opt_timestamp, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::tx::WriteOptions;
use tonic::{Request, Response, Status};

use super::{
    AuthorizationStart, BeginConnection, CompleteConnection, ConfigureProvider, Connection,
    ConnectionState, DeleteConnection, GitConnectionName, LinkRepository, ListInOrg, ListProviders,
    ProviderConfig, ProviderKind, Repository, RepositoryName, UnlinkRepository,
};
use crate::Integrations;

/// Serves GitProviderService.
#[derive(Debug, Clone)]
pub struct GitProviderGrpc(pub Integrations);
/// Serves GitConnectionService.
#[derive(Debug, Clone)]
pub struct GitConnectionGrpc(pub Integrations);
/// Serves RepositoryService.
#[derive(Debug, Clone)]
pub struct RepositoryGrpc(pub Integrations);

fn kind_to_pb(kind: ProviderKind) -> pb::GitProviderKind {
    match kind {
        ProviderKind::GitHub => pb::GitProviderKind::Github,
        ProviderKind::GitLab => pb::GitProviderKind::Gitlab,
    }
}

fn kind(f: &mut Fields, field: &str, value: i32) -> Option<ProviderKind> {
    let parsed = match pb::GitProviderKind::try_from(value) {
        Ok(pb::GitProviderKind::Github) => Ok(ProviderKind::GitHub),
        Ok(pb::GitProviderKind::Gitlab) => Ok(ProviderKind::GitLab),
        _ => Err("must be GIT_PROVIDER_KIND_GITHUB or GIT_PROVIDER_KIND_GITLAB"),
    };
    f.take(field, parsed)
}

fn url(f: &mut Fields, field: &str, value: &str) -> Option<url::Url> {
    let parsed = url::Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some())
        .ok_or("must be an absolute https URL");
    f.take(field, parsed)
}

fn token_text(value: &str, max: usize) -> bool {
    !value.is_empty() && value.len() <= max && value.chars().all(|c| c.is_ascii_graphic())
}

fn provider_to_pb(p: ProviderConfig) -> pb::GitProvider {
    pb::GitProvider {
        name: format!("gitProviders/{}", p.kind.key()),
        kind: kind_to_pb(p.kind).into(),
        client_id: p.client_id,
        client_secret: String::new(),
        client_secret_set: p.secret.is_some(),
        base_url: p.base_url,
        api_url: p.api_url,
        redirect_uri: p.redirect_uri,
        scopes: p.scopes,
        update_time: Some(timestamp(p.update_time)),
    }
}

fn connection_to_pb(c: Connection) -> pb::GitConnection {
    pb::GitConnection {
        name: c.name().to_string(),
        provider: kind_to_pb(c.provider).into(),
        allowed_actions: c.allowed_actions().into_iter().map(String::from).collect(),
        account_login: c.account_login,
        account_id: c.account_id,
        state: match c.state {
            ConnectionState::Active => pb::GitConnectionState::Active,
            ConnectionState::AuthorizationRequired => pb::GitConnectionState::AuthorizationRequired,
        }
        .into(),
        state_reason: c.state_reason,
        token_expire_time: opt_timestamp(c.token_expire_time),
        create_time: Some(timestamp(c.create_time)),
        update_time: Some(timestamp(c.update_time)),
    }
}

fn repository_to_pb(r: Repository) -> pb::Repository {
    pb::Repository {
        name: r.name().to_string(),
        git_connection: format!(
            "organizations/{}/gitConnections/{}",
            r.organization, r.connection
        ),
        full_name: r.full_name,
        default_branch: r.default_branch,
        create_time: Some(timestamp(r.create_time)),
    }
}

/// A repository path at a provider: 2 to 20 segments of letters, digits,
/// `.`, `_`, `-` (GitLab nests groups), at most 255 bytes.
fn full_name(value: &str) -> Result<String, &'static str> {
    let segments: Vec<&str> = value.split('/').collect();
    let ok = value.len() <= 255
        && (2..=20).contains(&segments.len())
        && segments.iter().all(|s| {
            !s.is_empty()
                && *s != "."
                && *s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        });
    ok.then(|| value.to_string())
        .ok_or("must be owner/repository (segments of letters, digits, '.', '_', '-')")
}

/// A branch name (Git's ref rules, simplified): at most 255 bytes, no
/// spaces, control characters, `..`, `~^:?*[\`, no leading `-` or `/`.
fn branch(value: &str) -> Result<String, &'static str> {
    if value.is_empty() {
        return Ok("main".into());
    }
    let ok = value.len() <= 255
        && !value.starts_with(['-', '/'])
        && !value.ends_with(['/', '.'])
        && !value.contains("..")
        && !value.contains("//")
        && value
            .chars()
            .all(|c| c.is_ascii_graphic() && !"~^:?*[\\".contains(c));
    ok.then(|| value.to_string())
        .ok_or("is not a valid branch name")
}

impl TryFrom<pb::ConfigureGitProviderRequest> for ConfigureProvider {
    type Error = FieldViolations;
    fn try_from(req: pb::ConfigureGitProviderRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let p = f.message("git_provider", req.git_provider);
        let kind = kind(&mut f, "git_provider.kind", p.kind);
        let client_id = f.take(
            "git_provider.client_id",
            Some(p.client_id.clone())
                .filter(|c| token_text(c, 255))
                .ok_or("is required: 1 to 255 printable characters"),
        );
        let secret_ok = p.client_secret.is_empty() || token_text(&p.client_secret, 1024);
        f.take(
            "git_provider.client_secret",
            secret_ok
                .then_some(())
                .ok_or("must be 1 to 1024 printable characters"),
        );
        let base_url = url(&mut f, "git_provider.base_url", &p.base_url);
        let api_url = url(&mut f, "git_provider.api_url", &p.api_url);
        let redirect_uri = url(&mut f, "git_provider.redirect_uri", &p.redirect_uri);
        let scopes_ok = p.scopes.len() <= 20 && p.scopes.iter().all(|s| token_text(s, 100));
        f.take(
            "git_provider.scopes",
            scopes_ok
                .then_some(())
                .ok_or("at most 20 scopes of 1 to 100 printable characters"),
        );
        let (kind, client_id, base_url, api_url, redirect_uri) =
            f.finish((kind, client_id, base_url, api_url, redirect_uri))?;
        Ok(Self {
            kind,
            client_id,
            client_secret: Some(p.client_secret).filter(|s| !s.is_empty()),
            base_url,
            api_url,
            redirect_uri,
            scopes: p.scopes,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::ListGitProvidersRequest> for ListProviders {
    type Error = FieldViolations;
    fn try_from(_: pb::ListGitProvidersRequest) -> Result<Self, FieldViolations> {
        Ok(Self)
    }
}

impl TryFrom<pb::BeginGitConnectionRequest> for BeginConnection {
    type Error = FieldViolations;
    fn try_from(req: pb::BeginGitConnectionRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let provider = kind(&mut f, "provider", req.provider);
        let reconnect = if req.git_connection.is_empty() {
            Some(None)
        } else {
            f.name::<GitConnectionName>("git_connection", &req.git_connection)
                .map(Some)
        };
        let (organization, provider, reconnect) = f.finish((organization, provider, reconnect))?;
        if reconnect.is_some_and(|r| r.organization != organization) {
            return Err(FieldViolations::single(
                "git_connection",
                "must be a connection of the parent organization",
            ));
        }
        Ok(Self {
            organization,
            provider,
            reconnect,
        })
    }
}

impl TryFrom<pb::CompleteGitConnectionRequest> for CompleteConnection {
    type Error = FieldViolations;
    fn try_from(req: pb::CompleteGitConnectionRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let state = f.take(
            "state",
            Some(req.state)
                .filter(|s| token_text(s, 200))
                .ok_or("is required: the state the provider sent back"),
        );
        let code = f.take(
            "code",
            Some(req.code)
                .filter(|c| token_text(c, 2048))
                .ok_or("is required: the code the provider sent back"),
        );
        let (organization, state, code) = f.finish((organization, state, code))?;
        Ok(Self {
            organization,
            state,
            code,
        })
    }
}

macro_rules! name_request {
    ($req:ty, $out:ty) => {
        impl TryFrom<$req> for $out {
            type Error = FieldViolations;
            fn try_from(req: $req) -> Result<Self, FieldViolations> {
                let mut f = Fields::new();
                let name = f.name("name", &req.name);
                f.finish(name)
            }
        }
    };
}

name_request!(pb::GetGitConnectionRequest, GitConnectionName);
name_request!(pb::RefreshGitConnectionRequest, GitConnectionName);
name_request!(pb::GetRepositoryRequest, RepositoryName);

fn list_in_org(
    parent: &str,
    page_size: i32,
    page_token: &str,
    collection: &str,
) -> Result<ListInOrg, FieldViolations> {
    let mut f = Fields::new();
    let organization = f.organization("parent", parent);
    let page = f.page(page_size, page_token, &format!("{collection}|{parent}"));
    let (organization, page) = f.finish((organization, page))?;
    Ok(ListInOrg { organization, page })
}

impl TryFrom<pb::DeleteGitConnectionRequest> for DeleteConnection {
    type Error = FieldViolations;
    fn try_from(req: pb::DeleteGitConnectionRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        Ok(Self {
            name: f.finish(name)?,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::LinkRepositoryRequest> for LinkRepository {
    type Error = FieldViolations;
    fn try_from(req: pb::LinkRepositoryRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let r = f.message("repository", req.repository);
        let connection =
            f.name::<GitConnectionName>("repository.git_connection", &r.git_connection);
        let full_name = f.take("repository.full_name", full_name(&r.full_name));
        let default_branch = f.take("repository.default_branch", branch(&r.default_branch));
        let request_id = f.request_id("request_id", &req.request_id);
        let (organization, connection, full_name, default_branch, request_id) = f.finish((
            organization,
            connection,
            full_name,
            default_branch,
            request_id,
        ))?;
        Ok(Self {
            organization,
            connection,
            full_name,
            default_branch,
            write: WriteOptions {
                request_id,
                validate_only: req.validate_only,
            },
        })
    }
}

impl TryFrom<pb::UnlinkRepositoryRequest> for UnlinkRepository {
    type Error = FieldViolations;
    fn try_from(req: pb::UnlinkRepositoryRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        Ok(Self {
            name: f.finish(name)?,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::ListGitConnectionsRequest> for ListInOrg {
    type Error = FieldViolations;
    fn try_from(req: pb::ListGitConnectionsRequest) -> Result<Self, FieldViolations> {
        list_in_org(
            &req.parent,
            req.page_size,
            &req.page_token,
            "gitConnections",
        )
    }
}

impl TryFrom<pb::ListRepositoriesRequest> for ListInOrg {
    type Error = FieldViolations;
    fn try_from(req: pb::ListRepositoriesRequest) -> Result<Self, FieldViolations> {
        list_in_org(&req.parent, req.page_size, &req.page_token, "repositories")
    }
}

#[tonic::async_trait]
impl pb::git_provider_service_server::GitProviderService for GitProviderGrpc {
    async fn configure_git_provider(
        &self,
        request: Request<pb::ConfigureGitProviderRequest>,
    ) -> Result<Response<pb::ConfigureGitProviderResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::configure_git_provider,
            |p| pb::ConfigureGitProviderResponse {
                git_provider: Some(provider_to_pb(p)),
            },
        )
        .await
    }

    async fn list_git_providers(
        &self,
        request: Request<pb::ListGitProvidersRequest>,
    ) -> Result<Response<pb::ListGitProvidersResponse>, Status> {
        unary(&self.0, request, Integrations::list_git_providers, |all| {
            pb::ListGitProvidersResponse {
                git_providers: all.into_iter().map(provider_to_pb).collect(),
            }
        })
        .await
    }
}

#[tonic::async_trait]
impl pb::git_connection_service_server::GitConnectionService for GitConnectionGrpc {
    async fn begin_git_connection(
        &self,
        request: Request<pb::BeginGitConnectionRequest>,
    ) -> Result<Response<pb::BeginGitConnectionResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::begin_git_connection,
            |s: AuthorizationStart| pb::BeginGitConnectionResponse {
                authorize_url: s.authorize_url,
                state: s.state,
                expire_time: Some(timestamp(s.expire_time)),
            },
        )
        .await
    }

    async fn complete_git_connection(
        &self,
        request: Request<pb::CompleteGitConnectionRequest>,
    ) -> Result<Response<pb::CompleteGitConnectionResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::complete_git_connection,
            |c| pb::CompleteGitConnectionResponse {
                git_connection: Some(connection_to_pb(c)),
            },
        )
        .await
    }

    async fn get_git_connection(
        &self,
        request: Request<pb::GetGitConnectionRequest>,
    ) -> Result<Response<pb::GetGitConnectionResponse>, Status> {
        unary(&self.0, request, Integrations::get_git_connection, |c| {
            pb::GetGitConnectionResponse {
                git_connection: Some(connection_to_pb(c)),
            }
        })
        .await
    }

    async fn list_git_connections(
        &self,
        request: Request<pb::ListGitConnectionsRequest>,
    ) -> Result<Response<pb::ListGitConnectionsResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::list_git_connections,
            |page| {
                let page = page.map(connection_to_pb);
                pb::ListGitConnectionsResponse {
                    git_connections: page.items,
                    next_page_token: page.next_page_token,
                }
            },
        )
        .await
    }

    async fn refresh_git_connection(
        &self,
        request: Request<pb::RefreshGitConnectionRequest>,
    ) -> Result<Response<pb::RefreshGitConnectionResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::refresh_git_connection,
            |c| pb::RefreshGitConnectionResponse {
                git_connection: Some(connection_to_pb(c)),
            },
        )
        .await
    }

    async fn delete_git_connection(
        &self,
        request: Request<pb::DeleteGitConnectionRequest>,
    ) -> Result<Response<pb::DeleteGitConnectionResponse>, Status> {
        unary(&self.0, request, Integrations::delete_git_connection, |c| {
            pb::DeleteGitConnectionResponse {
                git_connection: Some(connection_to_pb(c)),
            }
        })
        .await
    }
}

#[tonic::async_trait]
impl pb::repository_service_server::RepositoryService for RepositoryGrpc {
    async fn link_repository(
        &self,
        request: Request<pb::LinkRepositoryRequest>,
    ) -> Result<Response<pb::LinkRepositoryResponse>, Status> {
        unary(&self.0, request, Integrations::link_repository, |r| {
            pb::LinkRepositoryResponse {
                repository: Some(repository_to_pb(r)),
            }
        })
        .await
    }

    async fn get_repository(
        &self,
        request: Request<pb::GetRepositoryRequest>,
    ) -> Result<Response<pb::GetRepositoryResponse>, Status> {
        unary(&self.0, request, Integrations::get_repository, |r| {
            pb::GetRepositoryResponse {
                repository: Some(repository_to_pb(r)),
            }
        })
        .await
    }

    async fn list_repositories(
        &self,
        request: Request<pb::ListRepositoriesRequest>,
    ) -> Result<Response<pb::ListRepositoriesResponse>, Status> {
        unary(&self.0, request, Integrations::list_repositories, |page| {
            let page = page.map(repository_to_pb);
            pb::ListRepositoriesResponse {
                repositories: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn unlink_repository(
        &self,
        request: Request<pb::UnlinkRepositoryRequest>,
    ) -> Result<Response<pb::UnlinkRepositoryResponse>, Status> {
        unary(&self.0, request, Integrations::unlink_repository, |r| {
            pb::UnlinkRepositoryResponse {
                repository: Some(repository_to_pb(r)),
            }
        })
        .await
    }
}
