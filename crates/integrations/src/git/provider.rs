//! Talking to a Git provider: the OAuth authorization-code flow with PKCE
//! (S256) and refresh through the `oauth2` crate, and the account lookup
//! (`GET {api}/user`) with the access token. GitHub (and GitHub Enterprise
//! Server) and GitLab (and self-managed GitLab) differ only in their
//! endpoint paths and the account's login field.

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError,
    Scope, TokenResponse as _, TokenUrl,
};
use serde::Deserialize;

use super::{ProviderConfig, ProviderKind};

/// An OAuth client with its authorize and token endpoints set.
type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Tokens a provider issued.
#[derive(Clone)]
pub struct Tokens {
    /// The access token.
    pub access: String,
    /// The refresh token, if the provider issues expiring tokens.
    pub refresh: Option<String>,
    /// When the access token expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("refresh", &self.refresh.as_ref().map(|_| "<redacted>"))
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why a provider call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// The provider answered with an OAuth error (e.g. `invalid_grant`,
    /// `bad_verification_code`) or refused the token (401).
    Refused {
        /// The provider's error code.
        code: String,
        /// Its explanation.
        description: String,
    },
    /// The provider could not be reached or answered something unexpected.
    Unreachable(String),
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused { code, description } if description.is_empty() => f.write_str(code),
            Self::Refused { code, description } => write!(f, "{code}: {description}"),
            Self::Unreachable(why) => write!(f, "unreachable: {why}"),
        }
    }
}

fn endpoints(kind: ProviderKind, base: &str) -> (String, String) {
    let base = base.trim_end_matches('/');
    match kind {
        ProviderKind::GitHub => (
            format!("{base}/login/oauth/authorize"),
            format!("{base}/login/oauth/access_token"),
        ),
        ProviderKind::GitLab => (
            format!("{base}/oauth/authorize"),
            format!("{base}/oauth/token"),
        ),
    }
}

fn client(config: &ProviderConfig, secret: &str) -> Result<Client, ProviderError> {
    let bad = |e: oauth2::url::ParseError| ProviderError::Unreachable(format!("bad URL: {e}"));
    let (auth, token) = endpoints(config.kind, &config.base_url);
    Ok(BasicClient::new(ClientId::new(config.client_id.clone()))
        .set_client_secret(ClientSecret::new(secret.to_string()))
        .set_auth_uri(AuthUrl::new(auth).map_err(bad)?)
        .set_token_uri(TokenUrl::new(token).map_err(bad)?)
        .set_redirect_uri(RedirectUrl::new(config.redirect_uri.clone()).map_err(bad)?)
        .set_auth_type(AuthType::RequestBody))
}

/// The authorize URL carrying `state` and a fresh PKCE challenge; returns
/// the URL and the PKCE verifier to keep (sealed) until the code returns.
pub fn authorize_url(
    config: &ProviderConfig,
    secret: &str,
    state: &str,
) -> Result<(String, String), ProviderError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = state.to_string();
    let (url, _) = client(config, secret)?
        .authorize_url(move || CsrfToken::new(state))
        .add_scopes(config.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge)
        .url();
    Ok((url.to_string(), verifier.secret().clone()))
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

type TokenError =
    RequestTokenError<oauth2::HttpClientError<oauth2::reqwest::Error>, BasicErrorResponse>;

fn token_error(err: TokenError) -> ProviderError {
    match err {
        RequestTokenError::ServerResponse(e) => ProviderError::Refused {
            code: e.error().to_string(),
            description: e.error_description().cloned().unwrap_or_default(),
        },
        // GitHub answers some errors with 200 and an error body.
        RequestTokenError::Parse(_, body) => {
            match serde_json::from_slice::<OAuthErrorBody>(&body) {
                Ok(e) => ProviderError::Refused {
                    code: e.error,
                    description: e.error_description.unwrap_or_default(),
                },
                Err(_) => ProviderError::Unreachable(
                    "the token endpoint answered an unexpected body".into(),
                ),
            }
        }
        RequestTokenError::Request(e) => ProviderError::Unreachable(e.to_string()),
        RequestTokenError::Other(e) => ProviderError::Unreachable(e),
    }
}

fn tokens(response: &oauth2::basic::BasicTokenResponse) -> Tokens {
    Tokens {
        access: response.access_token().secret().clone(),
        refresh: response.refresh_token().map(|r| r.secret().clone()),
        expires_at: response
            .expires_in()
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| Utc::now() + d),
    }
}

/// Exchanges an authorization code (with its PKCE verifier) at the token
/// endpoint.
pub async fn exchange_code(
    http: &reqwest::Client,
    config: &ProviderConfig,
    secret: &str,
    code: &str,
    verifier: &str,
) -> Result<Tokens, ProviderError> {
    let response = client(config, secret)?
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
        .request_async(http)
        .await
        .map_err(token_error)?;
    Ok(tokens(&response))
}

/// Trades a refresh token for new tokens.
pub async fn refresh(
    http: &reqwest::Client,
    config: &ProviderConfig,
    secret: &str,
    refresh_token: &str,
) -> Result<Tokens, ProviderError> {
    let token = RefreshToken::new(refresh_token.to_string());
    let response = client(config, secret)?
        .exchange_refresh_token(&token)
        .request_async(http)
        .await
        .map_err(token_error)?;
    Ok(tokens(&response))
}

#[derive(Deserialize)]
struct Account {
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    username: Option<String>,
    id: serde_json::Value,
}

/// The account the token belongs to: its login and id.
pub async fn account(
    http: &reqwest::Client,
    config: &ProviderConfig,
    access: &str,
) -> Result<(String, String), ProviderError> {
    let url = format!("{}/user", config.api_url.trim_end_matches('/'));
    let response = http
        .get(url)
        .bearer_auth(access)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| ProviderError::Unreachable(e.to_string()))?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(ProviderError::Refused {
            code: "unauthorized".into(),
            description: format!("the provider refused the token ({status})"),
        });
    }
    if !status.is_success() {
        return Err(ProviderError::Unreachable(format!(
            "the user endpoint answered {status}"
        )));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| ProviderError::Unreachable(e.to_string()))?;
    let account: Account = serde_json::from_slice(&body).map_err(|_| {
        ProviderError::Unreachable("the user endpoint answered an unexpected body".into())
    })?;
    let login = match config.kind {
        ProviderKind::GitHub => account.login,
        ProviderKind::GitLab => account.username,
    }
    .ok_or_else(|| ProviderError::Unreachable("the user endpoint named no account".into()))?;
    let id = match account.id {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s,
        _ => return Err(ProviderError::Unreachable("the account has no id".into())),
    };
    Ok((login, id))
}
