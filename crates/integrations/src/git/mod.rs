//! Git: the OAuth applications operators configure per provider, an
//! organization's connections to provider accounts (authorization code
//! with PKCE, single-use `state` bound to organization and caller, tokens
//! sealed, refresh), and the repositories linked through them.

pub mod grpc;
pub mod provider;
pub mod store;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use loopback_runtime::auth::Principal;
use loopback_runtime::authz::Rpc;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::Refusal;
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::secrets::Sealed;
use loopback_runtime::tx::WriteOptions;
use rand::TryRngCore as _;
use serde_json::json;
use sha2_hmac::{Digest as _, Sha256};
use uuid::Uuid;

use self::provider::{ProviderError, Tokens};
use crate::error::{
    Error, GIT_CONNECTION_AUTHORIZATION_REQUIRED, GIT_PROVIDER_ERROR, GIT_PROVIDER_NOT_CONFIGURED,
    IN_USE, OAUTH_STATE_INVALID, Result,
};
use crate::notifications::{EventType, NewEvent};
use crate::{DEPLOYMENT_SCOPE, Integrations, rpcs};

/// A Git provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// GitHub or GitHub Enterprise Server.
    GitHub,
    /// GitLab or self-managed GitLab.
    GitLab,
}

impl ProviderKind {
    /// Stored spelling, also its deployment feature.
    pub fn key(self) -> &'static str {
        match self {
            Self::GitHub => "github",
            Self::GitLab => "gitlab",
        }
    }

    /// From the stored spelling.
    pub fn parse(key: &str) -> Option<Self> {
        match key {
            "github" => Some(Self::GitHub),
            "gitlab" => Some(Self::GitLab),
            _ => None,
        }
    }
}

/// Associated data of a provider's sealed client secret.
pub fn client_secret_aad(provider: &str) -> String {
    format!("gitProviders/{provider}/client_secret")
}

/// Associated data of a pending authorization's sealed PKCE verifier.
pub fn verifier_aad(id: &str) -> String {
    format!("gitOAuthStates/{id}/verifier")
}

/// Associated data of a connection's sealed access token.
pub fn access_token_aad(id: &str) -> String {
    format!("gitConnections/{id}/access_token")
}

/// Associated data of a connection's sealed refresh token.
pub fn refresh_token_aad(id: &str) -> String {
    format!("gitConnections/{id}/refresh_token")
}

/// A provider's configuration as stored.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Which provider.
    pub kind: ProviderKind,
    /// OAuth client id.
    pub client_id: String,
    /// The sealed client secret.
    pub secret: Option<Sealed>,
    /// Web base URL.
    pub base_url: String,
    /// API base URL.
    pub api_url: String,
    /// Redirect URI.
    pub redirect_uri: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Last configured.
    pub update_time: DateTime<Utc>,
}

/// ConfigureGitProvider, validated (URLs parsed; the https rule is the
/// domain's).
#[derive(Debug, Clone)]
pub struct ConfigureProvider {
    /// Which provider.
    pub kind: ProviderKind,
    /// OAuth client id.
    pub client_id: String,
    /// A new client secret, or `None` to keep the stored one.
    pub client_secret: Option<String>,
    /// Web base URL.
    pub base_url: url::Url,
    /// API base URL.
    pub api_url: url::Url,
    /// Redirect URI.
    pub redirect_uri: url::Url,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Check only.
    pub validate_only: bool,
}

/// ListGitProviders (no input).
#[derive(Debug, Clone, Copy, Default)]
pub struct ListProviders;

loopback_runtime::resource_name! {
    /// `organizations/{org}/gitConnections/{id}`, parsed.
    pub struct GitConnectionName = "gitConnections", id: Uuid;
}

loopback_runtime::resource_name! {
    /// `organizations/{org}/repositories/{id}`, parsed.
    pub struct RepositoryName = "repositories", id: Uuid;
}

/// Whether a connection works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Tokens valid or refreshable.
    Active,
    /// The provider refused a refresh: reconnect.
    AuthorizationRequired,
}

impl ConnectionState {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::AuthorizationRequired => "AUTHORIZATION_REQUIRED",
        }
    }

    /// From the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(Self::Active),
            "AUTHORIZATION_REQUIRED" => Some(Self::AuthorizationRequired),
            _ => None,
        }
    }
}

/// A connection as the API shows it (no tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// Provider.
    pub provider: ProviderKind,
    /// Account login.
    pub account_login: String,
    /// Account id.
    pub account_id: String,
    /// State.
    pub state: ConnectionState,
    /// Why it needs re-authorization.
    pub state_reason: String,
    /// When the access token expires.
    pub token_expire_time: Option<DateTime<Utc>>,
    /// Version (bumped on every change).
    pub version: i64,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

impl Connection {
    /// Its resource name.
    pub fn name(&self) -> GitConnectionName {
        GitConnectionName {
            organization: self.organization,
            id: self.id,
        }
    }

    /// What may be done with it now.
    pub fn allowed_actions(&self) -> Vec<&'static str> {
        match self.state {
            ConnectionState::Active => vec!["link_repository", "refresh", "reconnect", "delete"],
            ConnectionState::AuthorizationRequired => vec!["reconnect", "delete"],
        }
    }
}

/// BeginGitConnection, validated.
#[derive(Debug, Clone, Copy)]
pub struct BeginConnection {
    /// Organization.
    pub organization: Uuid,
    /// Provider.
    pub provider: ProviderKind,
    /// The connection to reconnect, if any.
    pub reconnect: Option<GitConnectionName>,
}

/// What BeginGitConnection answers.
#[derive(Debug, Clone)]
pub struct AuthorizationStart {
    /// The provider's authorize URL.
    pub authorize_url: String,
    /// The single-use state.
    pub state: String,
    /// When it expires.
    pub expire_time: DateTime<Utc>,
}

/// CompleteGitConnection, validated.
#[derive(Debug, Clone)]
pub struct CompleteConnection {
    /// Organization.
    pub organization: Uuid,
    /// The state sent back.
    pub state: String,
    /// The authorization code.
    pub code: String,
}

/// A pending authorization as stored.
#[derive(Debug, Clone)]
pub struct PendingState {
    /// SHA-256 of the state.
    pub id: String,
    /// Organization.
    pub organization: Uuid,
    /// Provider.
    pub provider: ProviderKind,
    /// Audit id of the caller.
    pub caller: String,
    /// The connection being reconnected.
    pub connection: Option<Uuid>,
    /// The sealed PKCE verifier.
    pub verifier: Sealed,
    /// Expiry.
    pub expire_time: DateTime<Utc>,
}

/// ListGitConnections / ListRepositories, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListInOrg {
    /// Organization.
    pub organization: Uuid,
    /// Size and position.
    pub page: PageRequest,
}

/// DeleteGitConnection, validated.
#[derive(Debug, Clone, Copy)]
pub struct DeleteConnection {
    /// The connection.
    pub name: GitConnectionName,
    /// Check only.
    pub validate_only: bool,
}

/// A linked repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// The connection.
    pub connection: Uuid,
    /// Path at the provider.
    pub full_name: String,
    /// Default branch.
    pub default_branch: String,
    /// Linked.
    pub create_time: DateTime<Utc>,
}

impl Repository {
    /// Its resource name.
    pub fn name(&self) -> RepositoryName {
        RepositoryName {
            organization: self.organization,
            id: self.id,
        }
    }
}

/// LinkRepository, validated.
#[derive(Debug, Clone)]
pub struct LinkRepository {
    /// Organization.
    pub organization: Uuid,
    /// The connection.
    pub connection: GitConnectionName,
    /// Path at the provider.
    pub full_name: String,
    /// Default branch.
    pub default_branch: String,
    /// `request_id`, `validate_only`.
    pub write: WriteOptions,
}

/// UnlinkRepository, validated.
#[derive(Debug, Clone, Copy)]
pub struct UnlinkRepository {
    /// The repository.
    pub name: RepositoryName,
    /// Check only.
    pub validate_only: bool,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random source");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored id of a state: its SHA-256, hex.
fn state_id(state: &str) -> String {
    Sha256::digest(state.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn provider_refused(provider: ProviderKind, err: &ProviderError) -> Error {
    let (code, message) = match err {
        ProviderError::Refused { code, description } => (
            code.clone(),
            format!(
                "{} refused: {code}{}",
                provider.key(),
                if description.is_empty() {
                    String::new()
                } else {
                    format!(" ({description})")
                }
            ),
        ),
        ProviderError::Unreachable(why) => (
            "unreachable".to_string(),
            format!(
                "{} could not be reached or answered unexpectedly: {why}",
                provider.key()
            ),
        ),
    };
    Error::precondition(
        GIT_PROVIDER_ERROR,
        message,
        vec![("provider", provider.key().to_string()), ("error", code)],
    )
}

fn invalid_state() -> Error {
    Error::precondition(
        OAUTH_STATE_INVALID,
        "the authorization state is unknown, already used, expired, or was issued to another caller or organization: start again with BeginGitConnection",
        Vec::new(),
    )
}

impl Integrations {
    /// ConfigureGitProvider: creates or replaces a provider's OAuth
    /// application (operators).
    pub async fn configure_git_provider(
        &self,
        principal: &Principal,
        input: ConfigureProvider,
    ) -> Result<ProviderConfig> {
        let rpc = &rpcs::CONFIGURE_GIT_PROVIDER;
        self.authorize_unscoped(principal, rpc).await?;
        let mut bad = loopback_runtime::errors::FieldViolations::new();
        for (field, url) in [
            ("git_provider.base_url", &input.base_url),
            ("git_provider.api_url", &input.api_url),
            ("git_provider.redirect_uri", &input.redirect_uri),
        ] {
            if let Err(e) = self.outbound().check_scheme(url) {
                bad.add(field, e);
            }
        }
        let mut tx = self
            .begin_write(
                DEPLOYMENT_SCOPE,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let stored = store::provider(tx.conn(), input.kind).await?;
        let secret = match (&input.client_secret, stored.and_then(|s| s.secret)) {
            (Some(secret), _) => Some(self.seal(secret, &client_secret_aad(input.kind.key()))?),
            (None, Some(kept)) => Some(kept),
            (None, None) => {
                bad.add(
                    "git_provider.client_secret",
                    "is required when the provider has none yet",
                );
                None
            }
        };
        bad.into_result()?;
        let config = ProviderConfig {
            kind: input.kind,
            client_id: input.client_id,
            secret,
            base_url: input.base_url.to_string().trim_end_matches('/').to_string(),
            api_url: input.api_url.to_string().trim_end_matches('/').to_string(),
            redirect_uri: input.redirect_uri.to_string(),
            scopes: input.scopes,
            update_time: Utc::now(),
        };
        store::put_provider(tx.conn(), &config).await?;
        tx.audit_unscoped(
            format!("gitProviders/{}", config.kind.key()),
            json!({
                "client_id": config.client_id,
                "base_url": config.base_url,
                "api_url": config.api_url,
                "redirect_uri": config.redirect_uri,
                "scopes": config.scopes,
                "client_secret_changed": input.client_secret.is_some(),
            }),
        );
        tx.commit().await?;
        Ok(config)
    }

    /// ListGitProviders (operators).
    pub async fn list_git_providers(
        &self,
        principal: &Principal,
        _input: ListProviders,
    ) -> Result<Vec<ProviderConfig>> {
        self.authorize_unscoped(principal, &rpcs::LIST_GIT_PROVIDERS)
            .await?;
        store::providers(self.db()).await
    }

    /// The caller may use `provider` in the organization (its feature is
    /// on in the deployment and in the plan), after `rpc` is authorized.
    async fn authorize_git(
        &self,
        principal: &Principal,
        rpc: &Rpc,
        org: Uuid,
        provider: Option<ProviderKind>,
    ) -> Result<()> {
        let policy = self.authorize(principal, rpc, org).await?;
        if let Some(provider) = provider
            && let Some(denied) = policy.feature_denial(provider.key())
        {
            return Err(denied.into());
        }
        Ok(())
    }

    async fn configured(&self, provider: ProviderKind) -> Result<(ProviderConfig, String)> {
        let config = store::provider(self.db(), provider).await?.ok_or_else(|| {
            Error::precondition(
                GIT_PROVIDER_NOT_CONFIGURED,
                format!(
                    "{} is not configured in this deployment: ask your operator",
                    provider.key()
                ),
                vec![("provider", provider.key().to_string())],
            )
        })?;
        let sealed = config
            .secret
            .clone()
            .ok_or_else(|| Error::Corrupt(format!("{} has no client secret", provider.key())))?;
        let secret = self.open(&sealed, &client_secret_aad(provider.key()))?;
        Ok((config, secret))
    }

    /// BeginGitConnection: the authorize URL with a single-use state.
    pub async fn begin_git_connection(
        &self,
        principal: &Principal,
        input: BeginConnection,
    ) -> Result<AuthorizationStart> {
        let rpc = &rpcs::BEGIN_GIT_CONNECTION;
        let org = input.organization;
        self.authorize_git(principal, rpc, org, Some(input.provider))
            .await?;
        let (config, secret) = self.configured(input.provider).await?;
        if let Some(name) = input.reconnect {
            let existing = self.connection_in(self.db(), name).await?;
            if existing.provider != input.provider {
                return Err(Error::invalid(
                    "provider",
                    format!("{name} is a {} connection", existing.provider.key()),
                ));
            }
        }
        let state = random_token();
        let (authorize_url, verifier) = provider::authorize_url(&config, &secret, &state)
            .map_err(|e| provider_refused(input.provider, &e))?;
        let id = state_id(&state);
        let expire_time = Utc::now()
            + chrono::Duration::from_std(self.settings().state_ttl)
                .unwrap_or(chrono::Duration::minutes(10));
        let pending = PendingState {
            verifier: self.seal(&verifier, &verifier_aad(&id))?,
            id,
            organization: org,
            provider: input.provider,
            caller: principal.audit_id(),
            connection: input.reconnect.map(|n| n.id),
            expire_time,
        };
        let tx = self
            .begin_write(org, rpc, principal, WriteOptions::plain())
            .await?;
        store::insert_state(tx.conn(), &pending).await?;
        tx.commit().await?;
        Ok(AuthorizationStart {
            authorize_url,
            state,
            expire_time,
        })
    }

    /// CompleteGitConnection: takes the state (once), exchanges the code,
    /// reads the account and stores the sealed tokens.
    pub async fn complete_git_connection(
        &self,
        principal: &Principal,
        input: CompleteConnection,
    ) -> Result<Connection> {
        let rpc = &rpcs::COMPLETE_GIT_CONNECTION;
        let org = input.organization;
        self.authorize_git(principal, rpc, org, None).await?;
        // Taken before the provider is asked: a state works once, whatever
        // happens next.
        let pending = store::take_state(self.db(), &state_id(&input.state))
            .await?
            .ok_or_else(invalid_state)?;
        if pending.organization != org
            || pending.caller != principal.audit_id()
            || pending.expire_time < Utc::now()
        {
            return Err(invalid_state());
        }
        let provider = pending.provider;
        self.authorize_git(principal, rpc, org, Some(provider))
            .await?;
        let verifier = self.open(&pending.verifier, &verifier_aad(&pending.id))?;
        let (config, secret) = self.configured(provider).await?;
        let tokens = provider::exchange_code(
            self.provider_http(),
            &config,
            &secret,
            &input.code,
            &verifier,
        )
        .await
        .map_err(|e| provider_refused(provider, &e))?;
        let (login, account_id) = provider::account(self.provider_http(), &config, &tokens.access)
            .await
            .map_err(|e| provider_refused(provider, &e))?;
        let mut tx = self
            .begin_write(org, rpc, principal, WriteOptions::plain())
            .await?;
        let now = Utc::now();
        let connection = match pending.connection {
            Some(id) => {
                let name = GitConnectionName {
                    organization: org,
                    id,
                };
                let mut c = self.connection_in(tx.conn(), name).await?;
                c.account_login = login;
                c.account_id = account_id;
                c.state = ConnectionState::Active;
                c.state_reason = String::new();
                c.token_expire_time = tokens.expires_at;
                c.version += 1;
                c.update_time = now;
                let (access, refresh) = self.seal_tokens(c.id, &tokens)?;
                store::update_connection(tx.conn(), &c, Some((&access, refresh.as_ref()))).await?;
                c
            }
            None => {
                let c = Connection {
                    id: Uuid::now_v7(),
                    organization: org,
                    provider,
                    account_login: login,
                    account_id,
                    state: ConnectionState::Active,
                    state_reason: String::new(),
                    token_expire_time: tokens.expires_at,
                    version: 1,
                    create_time: now,
                    update_time: now,
                };
                let (access, refresh) = self.seal_tokens(c.id, &tokens)?;
                store::insert_connection(tx.conn(), &c, &access, refresh.as_ref()).await?;
                c
            }
        };
        tx.audit(
            connection.name().to_string(),
            json!({
                "provider": provider.key(),
                "account_login": connection.account_login,
                "reconnected": pending.connection.is_some(),
            }),
        );
        tx.commit().await?;
        Ok(connection)
    }

    fn seal_tokens(&self, id: Uuid, tokens: &Tokens) -> Result<(Sealed, Option<Sealed>)> {
        let id = id.to_string();
        let access = self.seal(&tokens.access, &access_token_aad(&id))?;
        let refresh = tokens
            .refresh
            .as_deref()
            .map(|r| self.seal(r, &refresh_token_aad(&id)))
            .transpose()?;
        Ok((access, refresh))
    }

    /// GetGitConnection.
    pub async fn get_git_connection(
        &self,
        principal: &Principal,
        name: GitConnectionName,
    ) -> Result<Connection> {
        self.authorize_git(
            principal,
            &rpcs::GET_GIT_CONNECTION,
            name.organization,
            None,
        )
        .await?;
        self.connection_in(self.db(), name).await
    }

    /// ListGitConnections.
    pub async fn list_git_connections(
        &self,
        principal: &Principal,
        input: ListInOrg,
    ) -> Result<Page<Connection>> {
        self.authorize_git(
            principal,
            &rpcs::LIST_GIT_CONNECTIONS,
            input.organization,
            None,
        )
        .await?;
        let rows = store::list_connections(self.db(), input.organization, &input.page).await?;
        Ok(input.page.page(rows, |c| c.id.to_string()))
    }

    /// RefreshGitConnection: refreshes now; a refused refresh moves the
    /// connection to AUTHORIZATION_REQUIRED (which is what it answers).
    pub async fn refresh_git_connection(
        &self,
        principal: &Principal,
        name: GitConnectionName,
    ) -> Result<Connection> {
        let rpc = &rpcs::REFRESH_GIT_CONNECTION;
        self.authorize_git(principal, rpc, name.organization, None)
            .await?;
        let connection = self.connection_in(self.db(), name).await?;
        self.authorize_git(principal, rpc, name.organization, Some(connection.provider))
            .await?;
        self.refresh_connection(Some(principal), name).await
    }

    /// Refreshes a connection's tokens (or, without a refresh token,
    /// checks the access token still works). A refusal records
    /// AUTHORIZATION_REQUIRED and tells the organization's channels.
    async fn refresh_connection(
        &self,
        principal: Option<&Principal>,
        name: GitConnectionName,
    ) -> Result<Connection> {
        let connection = self.connection_in(self.db(), name).await?;
        if connection.state == ConnectionState::AuthorizationRequired {
            return Ok(connection);
        }
        let (access, refresh) = store::tokens(self.db(), name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))?;
        let id = name.id.to_string();
        let (config, secret) = self.configured(connection.provider).await?;
        let outcome = match refresh {
            Some(sealed) => {
                let refresh_token = self.open(&sealed, &refresh_token_aad(&id))?;
                provider::refresh(self.provider_http(), &config, &secret, &refresh_token)
                    .await
                    .map(|mut t| {
                        // Providers that do not rotate refresh tokens keep the old one.
                        t.refresh.get_or_insert(refresh_token);
                        Some(t)
                    })
            }
            None => {
                let access_token = self.open(&access, &access_token_aad(&id))?;
                provider::account(self.provider_http(), &config, &access_token)
                    .await
                    .map(|_| None)
            }
        };
        let mut tx = match principal {
            Some(p) => {
                self.begin_write(
                    name.organization,
                    &rpcs::REFRESH_GIT_CONNECTION,
                    p,
                    WriteOptions::plain(),
                )
                .await?
            }
            None => {
                self.begin_own_write(name.organization, &rpcs::BACKGROUND_REFRESH)
                    .await?
            }
        };
        let mut c = self.connection_in(tx.conn(), name).await?;
        c.version += 1;
        c.update_time = Utc::now();
        match outcome {
            Ok(Some(tokens)) => {
                c.token_expire_time = tokens.expires_at;
                let (access, refresh) = self.seal_tokens(c.id, &tokens)?;
                store::update_connection(tx.conn(), &c, Some((&access, refresh.as_ref()))).await?;
                tx.audit(c.name().to_string(), json!({ "refreshed": true }));
            }
            Ok(None) => {
                store::update_connection(tx.conn(), &c, None).await?;
            }
            Err(ProviderError::Refused { code, description }) => {
                c.state = ConnectionState::AuthorizationRequired;
                c.state_reason = format!(
                    "the provider refused the refresh: {code}{}",
                    if description.is_empty() {
                        String::new()
                    } else {
                        format!(" ({description})")
                    }
                );
                store::update_connection(tx.conn(), &c, None).await?;
                tx.audit(
                    c.name().to_string(),
                    json!({ "state": c.state.as_str(), "provider_error": code }),
                );
                self.enqueue_event(
                    tx.conn(),
                    name.organization,
                    NewEvent {
                        id: format!(
                            "git.connection_needs_reauthorization/{}/{}",
                            c.id, c.version
                        ),
                        event_type: EventType::GitConnectionNeedsReauthorization,
                        subject: format!(
                            "Git connection {} ({}) needs re-authorization",
                            c.account_login,
                            c.provider.key()
                        ),
                        message: format!(
                            "{}: {}. Reconnect it; its repositories and bundles are kept.",
                            c.name(),
                            c.state_reason
                        ),
                        attributes: [("git_connection".to_string(), c.name().to_string())].into(),
                        event_time: Utc::now(),
                    },
                )
                .await?;
            }
            Err(e @ ProviderError::Unreachable(_)) => {
                return Err(provider_refused(c.provider, &e));
            }
        }
        tx.commit().await?;
        Ok(c)
    }

    /// Refreshes every active connection whose token expires within five
    /// minutes (a background job).
    pub async fn refresh_expiring_tokens(&self) -> Result<()> {
        let soon = Utc::now() + chrono::Duration::minutes(5);
        for name in store::expiring_connections(self.db(), soon).await? {
            if let Err(e) = self.refresh_connection(None, name).await {
                tracing::warn!(connection = %name, error = %e, "background token refresh failed");
            }
        }
        Ok(())
    }

    /// DeleteGitConnection: only when no repository uses it.
    pub async fn delete_git_connection(
        &self,
        principal: &Principal,
        input: DeleteConnection,
    ) -> Result<Connection> {
        let rpc = &rpcs::DELETE_GIT_CONNECTION;
        let name = input.name;
        self.authorize_git(principal, rpc, name.organization, None)
            .await?;
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let c = self.connection_in(tx.conn(), name).await?;
        let used = store::repositories_of_connection(tx.conn(), name.organization, name.id).await?;
        if used > 0 {
            return Err(Error::precondition(
                IN_USE,
                format!("{name} has {used} linked repositories: unlink them first"),
                vec![("resource", name.to_string())],
            ));
        }
        store::delete_connection(tx.conn(), name.organization, name.id).await?;
        tx.audit(name.to_string(), json!({ "provider": c.provider.key() }));
        tx.commit().await?;
        Ok(c)
    }

    /// A connection; NOT_FOUND when missing or another organization's.
    pub(crate) async fn connection_in(
        &self,
        conn: &impl Conn,
        name: GitConnectionName,
    ) -> Result<Connection> {
        store::connection(conn, name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }

    /// LinkRepository.
    pub async fn link_repository(
        &self,
        principal: &Principal,
        input: LinkRepository,
    ) -> Result<Repository> {
        let rpc = &rpcs::LINK_REPOSITORY;
        let org = input.organization;
        if input.connection.organization != org {
            return Err(Error::invalid(
                "repository.git_connection",
                "must be a connection of the parent organization",
            ));
        }
        self.authorize_git(principal, rpc, org, None).await?;
        let connection = self.connection_in(self.db(), input.connection).await?;
        self.authorize_git(principal, rpc, org, Some(connection.provider))
            .await?;
        let mut tx = self.begin_write(org, rpc, principal, input.write).await?;
        if let Some(id) = tx.replayed_id() {
            return self
                .repository_in(
                    tx.conn(),
                    RepositoryName {
                        organization: org,
                        id,
                    },
                )
                .await;
        }
        let connection = self.connection_in(tx.conn(), input.connection).await?;
        if connection.state != ConnectionState::Active {
            return Err(Error::precondition(
                GIT_CONNECTION_AUTHORIZATION_REQUIRED,
                format!(
                    "{} needs re-authorization: reconnect it first",
                    connection.name()
                ),
                vec![("git_connection", connection.name().to_string())],
            ));
        }
        let repo = Repository {
            id: Uuid::now_v7(),
            organization: org,
            connection: connection.id,
            full_name: input.full_name,
            default_branch: input.default_branch,
            create_time: Utc::now(),
        };
        if !store::insert_repository(tx.conn(), &repo).await? {
            return Err(Refusal::AlreadyExists(format!(
                "{} is already linked through {}",
                repo.full_name,
                connection.name()
            ))
            .into());
        }
        tx.created(repo.id);
        tx.audit(
            repo.name().to_string(),
            json!({ "full_name": repo.full_name, "git_connection": connection.name().to_string() }),
        );
        tx.commit().await?;
        Ok(repo)
    }

    /// GetRepository.
    pub async fn get_repository(
        &self,
        principal: &Principal,
        name: RepositoryName,
    ) -> Result<Repository> {
        self.authorize(principal, &rpcs::GET_REPOSITORY, name.organization)
            .await?;
        self.repository_in(self.db(), name).await
    }

    /// ListRepositories.
    pub async fn list_repositories(
        &self,
        principal: &Principal,
        input: ListInOrg,
    ) -> Result<Page<Repository>> {
        self.authorize(principal, &rpcs::LIST_REPOSITORIES, input.organization)
            .await?;
        let rows = store::list_repositories(self.db(), input.organization, &input.page).await?;
        Ok(input.page.page(rows, |r| r.id.to_string()))
    }

    /// UnlinkRepository: only when no bundle builds from it.
    pub async fn unlink_repository(
        &self,
        principal: &Principal,
        input: UnlinkRepository,
    ) -> Result<Repository> {
        let rpc = &rpcs::UNLINK_REPOSITORY;
        let name = input.name;
        self.authorize(principal, rpc, name.organization).await?;
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let repo = self.repository_in(tx.conn(), name).await?;
        let used = self
            .bundles_of_repository(tx.conn(), name.organization, name.id)
            .await?;
        if used > 0 {
            return Err(Error::precondition(
                IN_USE,
                format!("{name} is used by {used} bundles: delete them first"),
                vec![("resource", name.to_string())],
            ));
        }
        store::delete_repository(tx.conn(), name.organization, name.id).await?;
        tx.audit(name.to_string(), json!({ "full_name": repo.full_name }));
        tx.commit().await?;
        Ok(repo)
    }

    /// A repository; NOT_FOUND when missing or another organization's.
    pub(crate) async fn repository_in(
        &self,
        conn: &impl Conn,
        name: RepositoryName,
    ) -> Result<Repository> {
        store::repository(conn, name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }
}

/// Deletes every row of `org` this module holds (its part of following an
/// organization's purge, `crate::purge`); how many rows went.
pub(crate) async fn purge_organization(
    conn: &impl loopback_runtime::db::Conn,
    org: Uuid,
) -> Result<u64> {
    store::purge_organization(conn, org).await
}

/// Organizations this module holds rows of, in id order after `after`, at
/// most `limit` per table.
pub(crate) async fn holders(
    conn: &impl loopback_runtime::db::Conn,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    store::holders(conn, after, limit).await
}
