//! Identity: `authorization: Bearer <JWT>` verified against configured keys.
//!
//! A token names its principal kind in the `kind` claim (`account`,
//! `service`, `operator`), its subject in `sub`, and for accounts the
//! `email` (and optionally `name`). Keys live in a JSON key file:
//!
//! ```json
//! {"keys": [
//!   {"kid": "dev-1", "alg": "HS256", "secret": "<base64url, 32+ bytes>"},
//!   {"kid": "idp-1", "alg": "EdDSA", "public_key_pem": "-----BEGIN PUBLIC KEY-----..."}
//! ]}
//! ```
//!
//! HS256 keys can both verify and mint (the first one mints); public keys
//! only verify. `loopbackd` creates an HS256 dev key file on first start.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use tonic::{Request, Status};

use crate::errors;

/// Default `iss` and `aud` of Loopback tokens.
pub const DEFAULT_ISSUER: &str = "loopback";
/// Default audience.
pub const DEFAULT_AUDIENCE: &str = "loopback";

/// What kind of caller a principal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    /// A customer account.
    Account,
    /// An internal platform service.
    Service,
    /// Loopback staff.
    Operator,
}

impl PrincipalKind {
    /// Lower-case name as used in tokens and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Service => "service",
            Self::Operator => "operator",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Account, service or operator.
    pub kind: PrincipalKind,
    /// The token's subject.
    pub subject: String,
    /// Email (lower-cased); always present for accounts.
    pub email: Option<String>,
    /// Display name, if the token carries one.
    pub name: Option<String>,
}

impl Principal {
    /// `kind:subject`, as recorded in audit events.
    pub fn audit_id(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.subject)
    }
}

/// The claims of a Loopback bearer token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Subject.
    pub sub: String,
    /// Principal kind.
    pub kind: PrincipalKind,
    /// Email, required for accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
}

/// Why a token or key file is refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `authorization` metadata.
    #[error("missing bearer token: send 'authorization: Bearer <token>'")]
    Missing,
    /// Not a `Bearer` token, or not valid UTF-8.
    #[error("malformed authorization header: expected 'Bearer <token>'")]
    Malformed,
    /// Signature, expiry, issuer or audience check failed.
    #[error("invalid bearer token: {0}")]
    Invalid(String),
    /// The key file cannot be read or parsed.
    #[error("key file {path}: {message}")]
    KeyFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// No key can mint tokens.
    #[error("no HS256 key is configured, so tokens cannot be minted here")]
    NoSigningKey,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<KeyEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyEntry {
    kid: String,
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key_pem: Option<String>,
}

struct VerifyKey {
    kid: String,
    alg: Algorithm,
    key: DecodingKey,
}

struct Inner {
    verify: Vec<VerifyKey>,
    signing: Option<(String, EncodingKey)>,
    issuer: String,
    audience: String,
}

/// Verifies bearer tokens (and mints them with an HS256 key). Cheap to clone;
/// use it as the tonic interceptor of every authenticated service.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self.inner.verify.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("Authenticator")
            .field("kids", &kids)
            .finish()
    }
}

impl Authenticator {
    /// Loads every key file; the first HS256 key of the first file mints.
    pub fn from_key_files(
        paths: &[impl AsRef<Path>],
        issuer: &str,
        audience: &str,
    ) -> Result<Self, AuthError> {
        let mut verify = Vec::new();
        let mut signing = None;
        for path in paths {
            let path = path.as_ref();
            let err = |message: String| AuthError::KeyFile {
                path: path.display().to_string(),
                message,
            };
            let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
            let file: KeyFile = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
            for entry in file.keys {
                let (alg, key) = match entry.alg.as_str() {
                    "HS256" => {
                        let secret = entry
                            .secret
                            .as_deref()
                            .ok_or_else(|| err(format!("key {}: HS256 needs 'secret'", entry.kid)))
                            .and_then(|s| {
                                URL_SAFE_NO_PAD
                                    .decode(s.trim_end_matches('='))
                                    .map_err(|e| err(format!("key {}: secret: {e}", entry.kid)))
                            })?;
                        if secret.len() < 32 {
                            return Err(err(format!(
                                "key {}: secret must be at least 32 bytes",
                                entry.kid
                            )));
                        }
                        let key_err =
                            |e: jsonwebtoken::errors::Error| err(format!("key {}: {e}", entry.kid));
                        if signing.is_none() {
                            signing = Some((
                                entry.kid.clone(),
                                EncodingKey::from_secret(&secret).map_err(key_err)?,
                            ));
                        }
                        (
                            Algorithm::HS256,
                            DecodingKey::from_secret(&secret).map_err(key_err)?,
                        )
                    }
                    alg @ ("EdDSA" | "RS256" | "ES256") => {
                        let pem = entry
                            .public_key_pem
                            .as_deref()
                            .ok_or_else(|| {
                                err(format!("key {}: {alg} needs 'public_key_pem'", entry.kid))
                            })?
                            .as_bytes();
                        let parsed = match alg {
                            "EdDSA" => DecodingKey::from_ed_pem(pem).map(|k| (Algorithm::EdDSA, k)),
                            "RS256" => {
                                DecodingKey::from_rsa_pem(pem).map(|k| (Algorithm::RS256, k))
                            }
                            _ => DecodingKey::from_ec_pem(pem).map(|k| (Algorithm::ES256, k)),
                        };
                        parsed.map_err(|e| err(format!("key {}: {e}", entry.kid)))?
                    }
                    other => {
                        return Err(err(format!("key {}: unsupported alg {other}", entry.kid)));
                    }
                };
                verify.push(VerifyKey {
                    kid: entry.kid,
                    alg,
                    key,
                });
            }
        }
        if verify.is_empty() {
            return Err(AuthError::KeyFile {
                path: "(none)".into(),
                message: "no keys configured".into(),
            });
        }
        Ok(Self {
            inner: Arc::new(Inner {
                verify,
                signing,
                issuer: issuer.to_string(),
                audience: audience.to_string(),
            }),
        })
    }

    /// Writes a new key file holding one random HS256 key, readable only by
    /// its owner.
    pub fn generate_key_file(path: &Path) -> Result<(), AuthError> {
        let err = |message: String| AuthError::KeyFile {
            path: path.display().to_string(),
            message,
        };
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let file = KeyFile {
            keys: vec![KeyEntry {
                kid: format!("dev-{}", uuid::Uuid::now_v7().simple()),
                alg: "HS256".into(),
                secret: Some(URL_SAFE_NO_PAD.encode(secret)),
                public_key_pem: None,
            }],
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        }
        let text = serde_json::to_string_pretty(&file).map_err(|e| err(e.to_string()))?;
        write_private(path, text.as_bytes()).map_err(|e| err(e.to_string()))
    }

    /// Verifies a compact JWT and returns its principal.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let candidates = self.inner.verify.iter().filter(|k| {
            k.alg == header.alg && header.kid.as_deref().is_none_or(|kid| kid == k.kid)
        });
        let mut last = AuthError::Invalid("no configured key matches the token".into());
        for key in candidates {
            let mut validation = Validation::new(key.alg);
            validation.set_issuer(&[&self.inner.issuer]);
            validation.set_audience(&[&self.inner.audience]);
            validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
            match jsonwebtoken::decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => return principal_from_claims(data.claims),
                Err(e) => last = AuthError::Invalid(e.to_string()),
            }
        }
        Err(last)
    }

    /// Mints a token for `principal`, valid for `ttl`.
    pub fn mint(&self, principal: &Principal, ttl: chrono::Duration) -> Result<String, AuthError> {
        let (kid, key) = self.inner.signing.as_ref().ok_or(AuthError::NoSigningKey)?;
        let now = chrono::Utc::now();
        let claims = Claims {
            sub: principal.subject.clone(),
            kind: principal.kind,
            email: principal.email.clone(),
            name: principal.name.clone(),
            iss: self.inner.issuer.clone(),
            aud: self.inner.audience.clone(),
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, &claims, key).map_err(|e| AuthError::Invalid(e.to_string()))
    }

    /// Authenticates a request's metadata.
    pub fn authenticate(
        &self,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<Principal, AuthError> {
        let value = metadata.get("authorization").ok_or(AuthError::Missing)?;
        let value = value.to_str().map_err(|_| AuthError::Malformed)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::Malformed)?
            .trim();
        if token.is_empty() {
            return Err(AuthError::Malformed);
        }
        self.verify(token)
    }
}

fn principal_from_claims(claims: Claims) -> Result<Principal, AuthError> {
    if claims.sub.trim().is_empty() || claims.sub.len() > 255 {
        return Err(AuthError::Invalid(
            "the sub claim must be 1 to 255 characters".into(),
        ));
    }
    let email =
        match claims.email {
            Some(e) => Some(crate::validation::email(&e).map_err(|_| {
                AuthError::Invalid("the email claim is not an email address".into())
            })?),
            None => None,
        };
    if claims.kind == PrincipalKind::Account && email.is_none() {
        return Err(AuthError::Invalid(
            "account tokens must carry an email claim".into(),
        ));
    }
    Ok(Principal {
        kind: claims.kind,
        subject: claims.sub,
        email,
        name: claims.name.filter(|n| !n.trim().is_empty()),
    })
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

impl tonic::service::Interceptor for Authenticator {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        match self.authenticate(request.metadata()) {
            Ok(principal) => {
                request.extensions_mut().insert(principal);
                Ok(request)
            }
            Err(e) => Err(errors::unauthenticated(e.to_string())),
        }
    }
}

/// The principal the interceptor attached to a request.
pub fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| errors::unauthenticated("missing bearer token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator(dir: &Path) -> Authenticator {
        let path = dir.join("keys.json");
        Authenticator::generate_key_file(&path).expect("key file");
        Authenticator::from_key_files(&[path], DEFAULT_ISSUER, DEFAULT_AUDIENCE).expect("load")
    }

    #[test]
    fn minted_tokens_verify_and_forged_ones_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let auth = authenticator(dir.path());
        let other = authenticator(&dir.path().join("other"));
        let alice = Principal {
            kind: PrincipalKind::Account,
            subject: "alice".into(),
            email: Some("alice@example.com".into()),
            name: None,
        };
        let token = auth.mint(&alice, chrono::Duration::hours(1)).expect("mint");
        assert_eq!(auth.verify(&token).expect("valid"), alice);
        let forged = other
            .mint(&alice, chrono::Duration::hours(1))
            .expect("mint");
        assert!(auth.verify(&forged).is_err());
        let expired = auth
            .mint(&alice, chrono::Duration::hours(-2))
            .expect("mint");
        assert!(auth.verify(&expired).is_err());
        assert!(auth.verify("not.a.token").is_err());
    }

    #[test]
    fn account_tokens_need_an_email() {
        let dir = tempfile::tempdir().expect("tempdir");
        let auth = authenticator(dir.path());
        let nobody = Principal {
            kind: PrincipalKind::Account,
            subject: "x".into(),
            email: None,
            name: None,
        };
        let token = auth
            .mint(&nobody, chrono::Duration::hours(1))
            .expect("mint");
        assert!(auth.verify(&token).is_err());
    }
}
