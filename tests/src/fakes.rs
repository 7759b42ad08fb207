//! Fakes the integrations tests run on 127.0.0.1: Git providers speaking
//! GitHub's and GitLab's real token and user endpoints' shapes (form-encoded
//! token requests, JSON answers, GitHub's 200-with-error bodies, GitLab's
//! 400 `invalid_grant`), with PKCE checked; and a webhook receiver that
//! verifies each delivery's signature and can fail on purpose.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde_json::{Value, json};
use sha2_hmac::{Digest as _, Sha256};

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.ok();
    });
    addr
}

/// Which provider a fake speaks as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// GitHub (`/login/oauth/access_token`, `/api/v3/user` as on GHE).
    GitHub,
    /// GitLab (`/oauth/token`, `/api/v4/user`).
    GitLab,
}

#[derive(Default)]
struct ProviderState {
    /// code → (PKCE challenge, login, id)
    codes: HashMap<String, (String, String, u64)>,
    /// access token → (login, id)
    tokens: HashMap<String, (String, u64)>,
    /// refresh token → (login, id)
    refresh: HashMap<String, (String, u64)>,
    /// Every form posted to the token endpoint.
    requests: Vec<HashMap<String, String>>,
    issued: usize,
}

/// A fake Git provider.
#[derive(Clone)]
pub struct FakeProvider {
    /// Its flavor.
    pub flavor: Flavor,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    state: Arc<Mutex<ProviderState>>,
    refuse_refresh: Arc<AtomicBool>,
}

impl FakeProvider {
    /// Starts one.
    pub async fn start(flavor: Flavor) -> Self {
        let state = Arc::new(Mutex::new(ProviderState::default()));
        let refuse_refresh = Arc::new(AtomicBool::new(false));
        let shared = (flavor, Arc::clone(&state), Arc::clone(&refuse_refresh));
        let router = match flavor {
            Flavor::GitHub => Router::new()
                .route("/login/oauth/access_token", post(token))
                .route("/api/v3/user", get(user)),
            Flavor::GitLab => Router::new()
                .route("/oauth/token", post(token))
                .route("/api/v4/user", get(user)),
        }
        .with_state(shared);
        let addr = serve(router).await;
        Self {
            flavor,
            base_url: format!("http://{addr}"),
            state,
            refuse_refresh,
        }
    }

    /// The API base URL.
    pub fn api_url(&self) -> String {
        match self.flavor {
            Flavor::GitHub => format!("{}/api/v3", self.base_url),
            Flavor::GitLab => format!("{}/api/v4", self.base_url),
        }
    }

    /// What the provider does when the user approves: given the authorize
    /// URL the service made, checks it and issues a code for `login`.
    /// Returns `(state, code)` as the redirect would carry them.
    pub fn approve(&self, authorize_url: &str, login: &str, id: u64) -> (String, String) {
        let url = url::Url::parse(authorize_url).unwrap();
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["code_challenge_method"], "S256", "PKCE is used");
        assert!(url.as_str().starts_with(&self.base_url), "{authorize_url}");
        let mut s = self.state.lock().unwrap();
        s.issued += 1;
        let code = format!("code-{}-{}", s.issued, login);
        s.codes.insert(
            code.clone(),
            (q["code_challenge"].clone(), login.into(), id),
        );
        (q["state"].clone(), code)
    }

    /// From now on, refresh grants are refused (the user revoked access).
    pub fn refuse_refresh(&self, refuse: bool) {
        self.refuse_refresh.store(refuse, Ordering::SeqCst);
    }

    /// Every access and refresh token issued so far.
    pub fn issued_tokens(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.tokens.keys().chain(s.refresh.keys()).cloned().collect()
    }

    /// The forms posted to the token endpoint.
    pub fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.state.lock().unwrap().requests.clone()
    }
}

type Shared = (Flavor, Arc<Mutex<ProviderState>>, Arc<AtomicBool>);

fn oauth_error(flavor: Flavor, code: &str, description: &str) -> Response {
    let body = json!({ "error": code, "error_description": description });
    match flavor {
        // GitHub answers token errors with 200 and an error body.
        Flavor::GitHub => (StatusCode::OK, axum::Json(body)).into_response(),
        Flavor::GitLab => (StatusCode::BAD_REQUEST, axum::Json(body)).into_response(),
    }
}

fn issue(flavor: Flavor, s: &mut ProviderState, login: String, id: u64) -> Response {
    s.issued += 1;
    let n = s.issued;
    let (access, refresh) = match flavor {
        Flavor::GitHub => (
            format!("gho_fakeaccess{n:08}xyz"),
            format!("ghr_fakerefresh{n:08}xyz"),
        ),
        Flavor::GitLab => (
            format!("glpat-fakeaccess{n:08}"),
            format!("glrt-fakerefresh{n:08}"),
        ),
    };
    s.tokens.insert(access.clone(), (login.clone(), id));
    s.refresh.insert(refresh.clone(), (login, id));
    let body = match flavor {
        Flavor::GitHub => json!({
            "access_token": access, "token_type": "bearer", "scope": "repo",
            "expires_in": 28800, "refresh_token": refresh, "refresh_token_expires_in": 15_897_600,
        }),
        Flavor::GitLab => json!({
            "access_token": access, "token_type": "Bearer", "expires_in": 7200,
            "refresh_token": refresh, "scope": "read_api", "created_at": 1_700_000_000,
        }),
    };
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn token(
    State((flavor, state, refuse)): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().unwrap();
    s.requests.push(form.clone());
    if form.get("client_id").map(String::as_str) != Some("loopback-client")
        || form.get("client_secret").map(String::as_str) != Some("s3cret-client")
    {
        return oauth_error(flavor, "invalid_client", "Client authentication failed.");
    }
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some((challenge, login, id)) = s.codes.remove(&code) else {
                return match flavor {
                    Flavor::GitHub => oauth_error(
                        flavor,
                        "bad_verification_code",
                        "The code passed is incorrect or expired.",
                    ),
                    Flavor::GitLab => oauth_error(
                        flavor,
                        "invalid_grant",
                        "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
                    ),
                };
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(verifier.as_bytes()));
            if computed != challenge {
                return oauth_error(flavor, "invalid_grant", "PKCE verification failed.");
            }
            issue(flavor, &mut s, login, id)
        }
        Some("refresh_token") => {
            let rt = form.get("refresh_token").cloned().unwrap_or_default();
            if refuse.load(Ordering::SeqCst) {
                return match flavor {
                    Flavor::GitHub => oauth_error(
                        flavor,
                        "bad_refresh_token",
                        "The refresh token passed is incorrect or expired.",
                    ),
                    Flavor::GitLab => oauth_error(
                        flavor,
                        "invalid_grant",
                        "The provided authorization grant is invalid, expired or revoked.",
                    ),
                };
            }
            let Some((login, id)) = s.refresh.remove(&rt) else {
                return oauth_error(flavor, "invalid_grant", "unknown refresh token");
            };
            issue(flavor, &mut s, login, id)
        }
        _ => oauth_error(flavor, "unsupported_grant_type", ""),
    }
}

async fn user(State((flavor, state, _)): State<Shared>, headers: HeaderMap) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let s = state.lock().unwrap();
    let Some((login, id)) = s.tokens.get(&token).cloned() else {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    };
    let body = match flavor {
        Flavor::GitHub => json!({ "login": login, "id": id, "type": "User" }),
        Flavor::GitLab => json!({ "id": id, "username": login, "name": login, "state": "active" }),
    };
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// `Loopback-Event-Id`.
    pub event_id: String,
    /// `Loopback-Event-Type`.
    pub event_type: String,
    /// The JSON body.
    pub body: Value,
    /// Whether its signature verified (and its timestamp was fresh).
    pub verified: bool,
    /// The status the receiver answered.
    pub status: u16,
}

#[derive(Default)]
struct ReceiverState {
    secret: String,
    received: Vec<Received>,
}

/// A webhook receiver on 127.0.0.1 that verifies signatures the way the
/// docs tell receivers to.
#[derive(Clone)]
pub struct WebhookReceiver {
    /// Its URL, `http://127.0.0.1:PORT/hook`.
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
    fail_next: Arc<AtomicUsize>,
}

type ReceiverShared = (Arc<Mutex<ReceiverState>>, Arc<AtomicUsize>);

async fn hook(
    State((state, fail)): State<ReceiverShared>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut s = state.lock().unwrap();
    let verified = verify(&s.secret, &header("loopback-signature"), body.as_bytes());
    let failing = fail
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if !verified {
        StatusCode::UNAUTHORIZED
    } else if failing {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    s.received.push(Received {
        event_id: header("loopback-event-id"),
        event_type: header("loopback-event-type"),
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
        verified,
        status: status.as_u16(),
    });
    status
}

/// Verifies `Loopback-Signature: t=<unix>,v1=<hex>` over `"<t>.<body>"`
/// with `secret`, refusing timestamps older than five minutes.
pub fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = Some(value.to_string()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if (chrono::Utc::now().timestamp() - t).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let Ok(expected) = (0..v1.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(v1.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return false;
    };
    mac.verify_slice(&expected).is_ok()
}

impl WebhookReceiver {
    /// Starts one.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let fail = Arc::new(AtomicUsize::new(0));
        let router = Router::new()
            .route("/hook", post(hook))
            .with_state((Arc::clone(&state), Arc::clone(&fail)));
        let addr = serve(router).await;
        Self {
            url: format!("http://{addr}/hook"),
            state,
            fail_next: fail,
        }
    }

    /// The signing secret to verify with (from CreateNotificationChannel).
    pub fn set_secret(&self, secret: &str) {
        self.state.lock().unwrap().secret = secret.to_string();
    }

    /// Answer 503 to the next `n` requests.
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until `pred` holds of what was received (at most `secs`).
    pub async fn wait_for(&self, secs: u64, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let got = self.received();
            if pred(&got) {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out; received so far: {got:#?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
