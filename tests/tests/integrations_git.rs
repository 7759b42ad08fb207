//! Acceptance (integrations, Git): OAuth round trips against fake GitHub
//! and GitLab providers on 127.0.0.1 speaking their token and user
//! endpoints' shapes, with PKCE; tokens only sealed (no token in any raw
//! row); a replayed, expired, another caller's or another organization's
//! state refused; a provider's error surfaced with its code; a refused
//! refresh moves the connection to AUTHORIZATION_REQUIRED (and tells the
//! organization's channels), and reconnecting keeps every repository and
//! bundle.

use std::time::Duration;

use loopback_proto::integrations::v1 as ipb;
use loopback_proto::orgcore::v1 as pb;
use loopback_tests::fakes::{FakeProvider, Flavor, WebhookReceiver};
use loopback_tests::setup::{self, dev_server};
use loopback_tests::{Backend, TestServer, backend_tests, metadata, reason};
use sea_orm::{ConnectionTrait as _, Database, DbBackend, Statement};
use tonic::Code;

/// Every row of every table of the integrations database, as text.
async fn every_row(server: &TestServer) -> String {
    let db = Database::connect(&server.integrations_database_url())
        .await
        .unwrap();
    let backend = db.get_database_backend();
    let tables_sql = match backend {
        DbBackend::Postgres => {
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table'",
    };
    let tables: Vec<String> = db
        .query_all_raw(Statement::from_string(backend, tables_sql.to_string()))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .collect();
    assert!(tables.iter().any(|t| t == "git_connections"), "{tables:?}");
    let mut all = String::new();
    for table in tables {
        let sql = match backend {
            DbBackend::Postgres => format!("SELECT CAST(t AS text) AS row FROM \"{table}\" t"),
            _ => {
                let columns: Vec<String> = db
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!("SELECT name FROM pragma_table_info('{table}')"),
                    ))
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| r.try_get::<String>("", "name").unwrap())
                    .collect();
                let concat = columns
                    .iter()
                    .map(|c| format!("COALESCE(CAST(\"{c}\" AS TEXT), '')"))
                    .collect::<Vec<_>>()
                    .join(" || '|' || ");
                format!("SELECT {concat} AS row FROM \"{table}\"")
            }
        };
        for r in db
            .query_all_raw(Statement::from_string(backend, sql))
            .await
            .unwrap()
        {
            all.push_str(&r.try_get::<String>("", "row").unwrap());
            all.push('\n');
        }
    }
    all
}

fn assert_refused(err: &tonic::Status, reason_: &str) {
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(reason(err).as_deref(), Some(reason_), "{err:?}");
}

async fn oauth_round_trips_store_only_sealed_tokens_and_refuse_bad_states(backend: Backend) {
    let server = dev_server(backend, &["--oauth-state-ttl-seconds=3"]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let other = server.verified_org(&owner, "Other").await;
    let (admin, _) = server
        .add_member(&owner, &org.name, "admin@example.com", &["admin"])
        .await;

    let mut fakes = Vec::new();
    for (flavor, login) in [(Flavor::GitHub, "octocat"), (Flavor::GitLab, "tanuki")] {
        let fake = FakeProvider::start(flavor).await;
        let provider = setup::configure(&server, &fake).await;
        assert!(provider.client_secret_set && provider.client_secret.is_empty());

        // The round trip: authorize URL with state and PKCE, code exchanged
        // at the token endpoint (PKCE verified there), account read.
        let begun = setup::begin(&server, &owner, &org.name, flavor, "")
            .await
            .unwrap();
        let (state, code) = fake.approve(&begun.authorize_url, login, 99);
        let conn = setup::complete(&server, &owner, &org.name, &state, &code)
            .await
            .unwrap();
        assert_eq!(conn.account_login, login);
        assert_eq!(conn.account_id, "99");
        assert_eq!(conn.provider, setup::kind(flavor) as i32);
        assert_eq!(conn.state, ipb::GitConnectionState::Active as i32);
        assert!(
            conn.allowed_actions
                .contains(&"link_repository".to_string())
        );
        assert!(conn.token_expire_time.is_some());
        let form = fake.token_requests().pop().unwrap();
        assert_eq!(form["grant_type"], "authorization_code");
        assert!(form.contains_key("code_verifier"));

        // A replayed state is refused, even with a fresh code.
        let (_, code2) = fake.approve(&begun.authorize_url, login, 99);
        let err = setup::complete(&server, &owner, &org.name, &state, &code2)
            .await
            .unwrap_err();
        assert_refused(&err, "OAUTH_STATE_INVALID");

        // Another caller's state, another organization's state: refused.
        let begun = setup::begin(&server, &owner, &org.name, flavor, "")
            .await
            .unwrap();
        let (state, code) = fake.approve(&begun.authorize_url, login, 99);
        let err = setup::complete(&server, &admin, &org.name, &state, &code)
            .await
            .unwrap_err();
        assert_refused(&err, "OAUTH_STATE_INVALID");
        let begun = setup::begin(&server, &owner, &org.name, flavor, "")
            .await
            .unwrap();
        let (state, code) = fake.approve(&begun.authorize_url, login, 99);
        let err = setup::complete(&server, &owner, &other.name, &state, &code)
            .await
            .unwrap_err();
        assert_refused(&err, "OAUTH_STATE_INVALID");

        // A provider error is surfaced with the provider's code.
        let begun = setup::begin(&server, &owner, &org.name, flavor, "")
            .await
            .unwrap();
        let (state, _) = fake.approve(&begun.authorize_url, login, 99);
        let err = setup::complete(&server, &owner, &org.name, &state, "not-the-code")
            .await
            .unwrap_err();
        assert_refused(&err, "GIT_PROVIDER_ERROR");
        let expected = match flavor {
            Flavor::GitHub => "bad_verification_code",
            Flavor::GitLab => "invalid_grant",
        };
        assert_eq!(metadata(&err)["error"], expected, "{err:?}");
        assert!(err.message().contains(expected), "{}", err.message());

        // An expired state is refused.
        let begun = setup::begin(&server, &owner, &org.name, flavor, "")
            .await
            .unwrap();
        let (state, code) = fake.approve(&begun.authorize_url, login, 99);
        tokio::time::sleep(Duration::from_millis(3_300)).await;
        let err = setup::complete(&server, &owner, &org.name, &state, &code)
            .await
            .unwrap_err();
        assert_refused(&err, "OAUTH_STATE_INVALID");
        fakes.push(fake);
    }

    let listed = server
        .git_connections(&owner)
        .list_git_connections(ipb::ListGitConnectionsRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .git_connections;
    assert_eq!(listed.len(), 2);

    // No token, client secret or state in any raw row.
    let rows = every_row(&server).await;
    assert!(rows.contains("octocat") && rows.contains("tanuki"));
    for fake in &fakes {
        for token in fake.issued_tokens() {
            assert!(!rows.contains(&token), "{token} stored in the clear");
        }
    }
    assert!(!rows.contains("s3cret-client"));

    // Another tenant's connection is NOT_FOUND; viewers read, never connect.
    let stranger = server.account_token("stranger@example.com");
    let err = server
        .git_connections(&stranger)
        .get_git_connection(ipb::GetGitConnectionRequest {
            name: listed[0].name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let (viewer, _) = server
        .add_member(&owner, &org.name, "viewer@example.com", &["viewer"])
        .await;
    let err = setup::begin(&server, &viewer, &org.name, Flavor::GitHub, "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    server.stop().await;
}

async fn a_refused_refresh_requires_reauthorization_and_reconnecting_keeps_repositories(
    backend: Backend,
) {
    let server = dev_server(backend, &[]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let receiver = WebhookReceiver::start().await;
    let channel = server
        .channels(&owner)
        .create_notification_channel(ipb::CreateNotificationChannelRequest {
            parent: org.name.clone(),
            notification_channel: Some(ipb::NotificationChannel {
                display_name: "ops".into(),
                kind: ipb::NotificationChannelKind::Webhook.into(),
                url: receiver.url.clone(),
                enabled: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .notification_channel
        .unwrap();
    receiver.set_secret(&channel.signing_secret);

    let fake = FakeProvider::start(Flavor::GitLab).await;
    setup::configure(&server, &fake).await;
    let conn = setup::connect(&server, &owner, &org.name, &fake, "tanuki").await;
    let repo = setup::link(&server, &owner, &org.name, &conn.name, "acme/platform/web")
        .await
        .unwrap();
    let bundle = server
        .bundles(&owner)
        .create_bundle(setup::bundle(&org.name, &repo.name, "", "build: make"))
        .await
        .unwrap()
        .into_inner()
        .bundle
        .unwrap();

    // A refresh that works rotates the tokens and keeps the connection.
    let refresh = || async {
        server
            .git_connections(&owner)
            .refresh_git_connection(ipb::RefreshGitConnectionRequest {
                name: conn.name.clone(),
            })
            .await
            .map(|r| r.into_inner().git_connection.unwrap())
    };
    let refreshed = refresh().await.unwrap();
    assert_eq!(refreshed.state, ipb::GitConnectionState::Active as i32);
    assert_eq!(
        fake.token_requests().last().unwrap()["grant_type"],
        "refresh_token"
    );

    // The provider refuses the next refresh: AUTHORIZATION_REQUIRED, in
    // the state and in allowed_actions.
    fake.refuse_refresh(true);
    let broken = refresh().await.unwrap();
    assert_eq!(
        broken.state,
        ipb::GitConnectionState::AuthorizationRequired as i32
    );
    assert_eq!(broken.allowed_actions, ["reconnect", "delete"]);
    assert!(
        broken.state_reason.contains("invalid_grant"),
        "{}",
        broken.state_reason
    );
    let err = setup::link(&server, &owner, &org.name, &conn.name, "acme/other")
        .await
        .unwrap_err();
    assert_eq!(
        reason(&err).as_deref(),
        Some("GIT_CONNECTION_AUTHORIZATION_REQUIRED")
    );
    // The organization's channels hear about it.
    let got = receiver
        .wait_for(20, |r| {
            r.iter()
                .any(|x| x.event_type == "git.connection_needs_reauthorization")
        })
        .await;
    assert!(got.iter().all(|r| r.verified));

    // Reconnecting the same connection: ACTIVE again, nothing lost.
    fake.refuse_refresh(false);
    let begun = setup::begin(&server, &owner, &org.name, Flavor::GitLab, &conn.name)
        .await
        .unwrap();
    let (state, code) = fake.approve(&begun.authorize_url, "tanuki", 4242);
    let again = setup::complete(&server, &owner, &org.name, &state, &code)
        .await
        .unwrap();
    assert_eq!(again.name, conn.name);
    assert_eq!(again.state, ipb::GitConnectionState::Active as i32);
    let repos = server
        .repositories(&owner)
        .list_repositories(ipb::ListRepositoriesRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .repositories;
    assert_eq!(repos.len(), 1);
    assert_eq!(repos[0].git_connection, conn.name);
    server
        .bundles(&owner)
        .get_bundle(ipb::GetBundleRequest {
            name: bundle.name.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        refresh().await.unwrap().state,
        ipb::GitConnectionState::Active as i32
    );

    // Audited in the organization's one log (through the outbox), never
    // with a token.
    let mut audit = Vec::new();
    for _ in 0..100 {
        audit = server
            .audit(&owner)
            .list_audit_events(pb::ListAuditEventsRequest {
                parent: org.name.clone(),
                page_size: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .audit_events;
        if audit
            .iter()
            .filter(|e| e.service == "integrations" && e.method == "CompleteGitConnection")
            .count()
            >= 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ours: Vec<_> = audit
        .iter()
        .filter(|e| e.service == "integrations")
        .collect();
    for method in [
        "CompleteGitConnection",
        "LinkRepository",
        "CreateBundle",
        "RefreshGitConnection",
        "CreateNotificationChannel",
    ] {
        assert!(
            ours.iter().any(|e| e.method == method),
            "{method} audited: {ours:#?}"
        );
    }
    for e in &ours {
        for token in fake.issued_tokens() {
            assert!(!e.details_json.contains(&token), "{e:?}");
        }
        assert!(!e.details_json.contains(&channel.signing_secret));
    }

    // In use: the connection cannot go while its repository is linked.
    let err = server
        .git_connections(&owner)
        .delete_git_connection(ipb::DeleteGitConnectionRequest {
            name: conn.name.clone(),
            validate_only: true,
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("RESOURCE_IN_USE"));
    server.stop().await;
}

backend_tests!(
    oauth_round_trips_store_only_sealed_tokens_and_refuse_bad_states,
    a_refused_refresh_requires_reauthorization_and_reconnecting_keeps_repositories,
);
