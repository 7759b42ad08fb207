//! Integrations fixtures many tests share: a deployment that allows the
//! tests' 127.0.0.1 endpoints, providers configured against fakes, a
//! connected organization with a linked repository and a bundle.

use loopback_proto::integrations::v1 as ipb;

use crate::fakes::{FakeProvider, Flavor};
use crate::{Backend, TestServer};

/// Flags of a test deployment: 127.0.0.1 endpoints allowed, fast retries.
pub const DEV_FLAGS: &[&str] = &[
    "--allow-insecure-endpoints",
    "--notification-retry-base-ms=50",
    "--notification-max-attempts=4",
];

/// A server with [`DEV_FLAGS`] and `extra`.
pub async fn dev_server(backend: Backend, extra: &[&str]) -> TestServer {
    let mut flags: Vec<&str> = DEV_FLAGS.to_vec();
    flags.extend_from_slice(extra);
    TestServer::start_with(backend, &flags).await
}

/// The provider kind of a fake.
pub fn kind(flavor: Flavor) -> ipb::GitProviderKind {
    match flavor {
        Flavor::GitHub => ipb::GitProviderKind::Github,
        Flavor::GitLab => ipb::GitProviderKind::Gitlab,
    }
}

/// Configures the OAuth application of `fake`'s provider (as operator).
pub async fn configure(server: &TestServer, fake: &FakeProvider) -> ipb::GitProvider {
    server
        .git_providers(&server.operator_token())
        .configure_git_provider(ipb::ConfigureGitProviderRequest {
            git_provider: Some(ipb::GitProvider {
                kind: kind(fake.flavor).into(),
                client_id: "loopback-client".into(),
                client_secret: "s3cret-client".into(),
                base_url: fake.base_url.clone(),
                api_url: fake.api_url(),
                redirect_uri: "https://console.loopback.test/git/callback".into(),
                scopes: vec!["repo".into()],
                ..Default::default()
            }),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .git_provider
        .unwrap()
}

/// Begins (or, with `reconnect`, re-begins) a connection and returns the
/// authorize URL and state.
pub async fn begin(
    server: &TestServer,
    token: &str,
    org: &str,
    flavor: Flavor,
    reconnect: &str,
) -> Result<ipb::BeginGitConnectionResponse, tonic::Status> {
    server
        .git_connections(token)
        .begin_git_connection(ipb::BeginGitConnectionRequest {
            parent: org.into(),
            provider: kind(flavor).into(),
            git_connection: reconnect.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Completes with a state and code.
pub async fn complete(
    server: &TestServer,
    token: &str,
    org: &str,
    state: &str,
    code: &str,
) -> Result<ipb::GitConnection, tonic::Status> {
    server
        .git_connections(token)
        .complete_git_connection(ipb::CompleteGitConnectionRequest {
            parent: org.into(),
            state: state.into(),
            code: code.into(),
        })
        .await
        .map(|r| r.into_inner().git_connection.unwrap())
}

/// A whole OAuth round trip for `login`.
pub async fn connect(
    server: &TestServer,
    token: &str,
    org: &str,
    fake: &FakeProvider,
    login: &str,
) -> ipb::GitConnection {
    let begun = begin(server, token, org, fake.flavor, "").await.unwrap();
    let (state, code) = fake.approve(&begun.authorize_url, login, 4242);
    assert_eq!(state, begun.state);
    complete(server, token, org, &state, &code).await.unwrap()
}

/// Links `full_name` through `connection`.
pub async fn link(
    server: &TestServer,
    token: &str,
    org: &str,
    connection: &str,
    full_name: &str,
) -> Result<ipb::Repository, tonic::Status> {
    server
        .repositories(token)
        .link_repository(ipb::LinkRepositoryRequest {
            parent: org.into(),
            repository: Some(ipb::Repository {
                git_connection: connection.into(),
                full_name: full_name.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().repository.unwrap())
}

/// A bundle request building `path` from `repository`.
pub fn bundle(org: &str, repository: &str, path: &str, spec: &str) -> ipb::CreateBundleRequest {
    ipb::CreateBundleRequest {
        parent: org.into(),
        bundle: Some(ipb::Bundle {
            display_name: "web".into(),
            repository: repository.into(),
            path: path.into(),
            build_spec: spec.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A GitHub connection, a linked repository and a bundle in `org`;
/// returns (repository, bundle).
pub async fn repository_and_bundle(
    server: &TestServer,
    token: &str,
    org: &str,
) -> (ipb::Repository, ipb::Bundle) {
    let fake = FakeProvider::start(Flavor::GitHub).await;
    configure(server, &fake).await;
    let conn = connect(server, token, org, &fake, "octocat").await;
    let repo = link(server, token, org, &conn.name, "acme/web")
        .await
        .unwrap();
    let b = server
        .bundles(token)
        .create_bundle(bundle(org, &repo.name, "services/web", "build: make\n"))
        .await
        .unwrap()
        .into_inner()
        .bundle
        .unwrap();
    (repo, b)
}

/// A 40-hex commit SHA made from `n`.
pub fn sha(n: u32) -> String {
    format!("{n:040x}")
}
