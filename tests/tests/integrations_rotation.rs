//! Acceptance (integrations, secrets): `rotate-secrets --add-key
//! --remove-old-keys` re-seals every integrations secret — OAuth client
//! secrets, PKCE verifiers, access and refresh tokens, webhook signing
//! secrets, Slack URLs and secret variables — and after a restart with only
//! the new key each still works: a webhook is signed with the same secret,
//! a refresh exchanges the sealed refresh token with the sealed client
//! secret, and a deploy worker receives the secret variable.

use loopback_proto::integrations::v1 as ipb;
use loopback_runtime::auth::{Principal, PrincipalKind};
use loopback_runtime::secrets::Keyring;
use loopback_tests::fakes::{FakeProvider, Flavor, WebhookReceiver};
use loopback_tests::setup::{self, dev_server, sha};
use loopback_tests::{Backend, backend_tests, connect_as};
use sea_orm::{ConnectionTrait as _, Database, Statement};

async fn rotation_reseals_every_integrations_secret(backend: Backend) {
    let server = dev_server(backend, &[]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let fake = FakeProvider::start(Flavor::GitLab).await;
    setup::configure(&server, &fake).await;
    let conn = setup::connect(&server, &owner, &org.name, &fake, "tanuki").await;
    setup::begin(&server, &owner, &org.name, Flavor::GitLab, "")
        .await
        .unwrap();
    let repo = setup::link(&server, &owner, &org.name, &conn.name, "acme/web")
        .await
        .unwrap();
    let bundle = server
        .bundles(&owner)
        .create_bundle(setup::bundle(&org.name, &repo.name, "", ""))
        .await
        .unwrap()
        .into_inner()
        .bundle
        .unwrap();
    let env = server
        .environments(&owner)
        .create_environment(ipb::CreateEnvironmentRequest {
            parent: org.name.clone(),
            environment: Some(ipb::Environment {
                bundle: bundle.name.clone(),
                display_name: "prod".into(),
                variables: vec![ipb::Variable {
                    name: "API_KEY".into(),
                    value: "k-123-secret".into(),
                    secret: true,
                }],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .environment
        .unwrap();
    let receiver = WebhookReceiver::start().await;
    let hook = server
        .channels(&owner)
        .create_notification_channel(ipb::CreateNotificationChannelRequest {
            parent: org.name.clone(),
            notification_channel: Some(ipb::NotificationChannel {
                display_name: "hook".into(),
                kind: ipb::NotificationChannelKind::Webhook.into(),
                url: receiver.url.clone(),
                enabled: false,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .notification_channel
        .unwrap();
    receiver.set_secret(&hook.signing_secret);
    server
        .channels(&owner)
        .create_notification_channel(ipb::CreateNotificationChannelRequest {
            parent: org.name.clone(),
            notification_channel: Some(ipb::NotificationChannel {
                display_name: "slack".into(),
                kind: ipb::NotificationChannelKind::Slack.into(),
                url: "http://127.0.0.1:9/services/T/B/x".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();

    let config = server.config();
    let key_file = server
        .data_dir()
        .join(loopback_runtime::config::DEV_SECRET_KEY_FILE);
    let integrations_url = server.integrations_database_url();
    let _data = server.stop_keeping_data().await;
    let done = loopbackd::rotate_secrets(&config, true, true)
        .await
        .unwrap();
    // client secret, PKCE verifier, access + refresh token, secret
    // variable, signing secret, Slack URL.
    assert_eq!((done.resealed, done.current), (7, 0));
    let new = Keyring::from_key_file(&key_file).unwrap();
    assert_eq!(new.key_ids(), [new.primary_key_id().to_string()]);
    let db = Database::connect(&integrations_url).await.unwrap();
    for (table, column) in [
        ("git_providers", "secret_key_id"),
        ("git_oauth_states", "verifier_key_id"),
        ("git_connections", "access_key_id"),
        ("git_connections", "refresh_key_id"),
        ("environment_variables", "secret_key_id"),
        ("notification_channels", "secret_key_id"),
    ] {
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT {column} AS k FROM {table} WHERE {column} IS NOT NULL"),
            ))
            .await
            .unwrap();
        assert!(!rows.is_empty(), "{table}.{column}");
        for r in rows {
            assert_eq!(
                r.try_get::<String>("", "k").unwrap(),
                new.primary_key_id(),
                "{table}.{column}"
            );
        }
    }

    // Restarted with only the new key, everything still opens.
    let restarted = loopbackd::Loopbackd::start(config).await.unwrap();
    let token = |kind: PrincipalKind, subject: &str, email: Option<&str>| {
        restarted
            .auth
            .mint(
                &Principal {
                    kind,
                    subject: subject.into(),
                    email: email.map(String::from),
                    name: None,
                },
                chrono::Duration::hours(1),
            )
            .unwrap()
    };
    let owner = token(
        PrincipalKind::Account,
        "sub-owner@example.com",
        Some("owner@example.com"),
    );
    let channel = connect_as(restarted.addr, &owner).await;
    let delivery = ipb::notification_channel_service_client::NotificationChannelServiceClient::new(
        channel.clone(),
    )
    .test_notification_channel(ipb::TestNotificationChannelRequest {
        name: hook.name.clone(),
    })
    .await
    .unwrap()
    .into_inner()
    .delivery
    .unwrap();
    assert_eq!(
        delivery.state,
        ipb::DeliveryState::Delivered as i32,
        "{delivery:#?}"
    );
    assert!(receiver.received().iter().all(|r| r.verified));
    let refreshed =
        ipb::git_connection_service_client::GitConnectionServiceClient::new(channel.clone())
            .refresh_git_connection(ipb::RefreshGitConnectionRequest {
                name: conn.name.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .git_connection
            .unwrap();
    assert_eq!(refreshed.state, ipb::GitConnectionState::Active as i32);
    let revision = ipb::revision_service_client::RevisionServiceClient::new(channel.clone())
        .create_revision(ipb::CreateRevisionRequest {
            parent: org.name.clone(),
            revision: Some(ipb::Revision {
                bundle: bundle.name.clone(),
                commit_sha: sha(9),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .revision
        .unwrap();
    ipb::deployment_service_client::DeploymentServiceClient::new(channel)
        .create_deployment(ipb::CreateDeploymentRequest {
            parent: org.name.clone(),
            deployment: Some(ipb::Deployment {
                environment: env.name.clone(),
                revision: revision.name.clone(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let worker = connect_as(
        restarted.addr,
        &token(PrincipalKind::Service, "deployer", None),
    )
    .await;
    let mut workers =
        ipb::operation_worker_service_client::OperationWorkerServiceClient::new(worker);
    let claimed = workers
        .claim_operation(ipb::ClaimOperationRequest {
            worker: "w".into(),
            kinds: vec![ipb::OperationKind::Deploy.into()],
            lease_duration: None,
        })
        .await
        .unwrap()
        .into_inner();
    let work = claimed.work.unwrap();
    assert_eq!(work.variables[0].value, "k-123-secret");
    restarted.stop().await.unwrap();
}

backend_tests!(rotation_reseals_every_integrations_secret);
