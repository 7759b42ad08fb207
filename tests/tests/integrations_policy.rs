//! Acceptance (integrations, policy): the permission matrix of every
//! organization-scoped RPC for every built-in role exactly as the published
//! catalog says, non-members NOT_FOUND everywhere, operators-only and
//! services-only RPCs refused to accounts; the status table per action
//! class; FEATURE_DISABLED for a feature the deployment has off and
//! (naming the plan) for one the plan lacks; `max_bundles` and
//! `max_notification_channels` atomic under concurrency; bad input refused
//! naming the field (private, loopback, link-local and plain-http
//! endpoints with the development override off, variable names, SHAs,
//! paths, oversize specs); AUTHORITY_UNAVAILABLE from every RPC when
//! org-core cannot be reached.

use std::collections::{BTreeMap, BTreeSet};

use loopback_proto::integrations::v1 as ipb;
use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1 as tpb;
use loopback_tests::fakes::WebhookReceiver;
use loopback_tests::setup::{self, dev_server, sha};
use loopback_tests::{Backend, TestServer, backend_tests, bad_fields, metadata, reason};
use tonic::{Code, Status};

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

/// Every organization-scoped integrations RPC with the permission it checks.
const MATRIX: &[(&str, &str)] = &[
    ("BeginGitConnection", "integrations.gitConnections.create"),
    (
        "CompleteGitConnection",
        "integrations.gitConnections.create",
    ),
    ("GetGitConnection", "integrations.gitConnections.get"),
    ("ListGitConnections", "integrations.gitConnections.list"),
    ("RefreshGitConnection", "integrations.gitConnections.update"),
    ("DeleteGitConnection", "integrations.gitConnections.delete"),
    ("LinkRepository", "integrations.repositories.create"),
    ("GetRepository", "integrations.repositories.get"),
    ("ListRepositories", "integrations.repositories.list"),
    ("UnlinkRepository", "integrations.repositories.delete"),
    ("CreateBundle", "integrations.bundles.create"),
    ("GetBundle", "integrations.bundles.get"),
    ("ListBundles", "integrations.bundles.list"),
    ("UpdateBundle", "integrations.bundles.update"),
    ("DeleteBundle", "integrations.bundles.delete"),
    ("CreateEnvironment", "integrations.environments.create"),
    ("GetEnvironment", "integrations.environments.get"),
    ("ListEnvironments", "integrations.environments.list"),
    ("UpdateEnvironment", "integrations.environments.update"),
    ("DeleteEnvironment", "integrations.environments.delete"),
    ("CreateRevision", "integrations.revisions.create"),
    ("GetRevision", "integrations.revisions.get"),
    ("ListRevisions", "integrations.revisions.list"),
    ("CreateDeployment", "integrations.deployments.create"),
    ("GetDeployment", "integrations.deployments.get"),
    ("ListDeployments", "integrations.deployments.list"),
    ("RedeployEnvironment", "integrations.deployments.operate"),
    ("RollbackEnvironment", "integrations.deployments.operate"),
    ("GetOperation", "integrations.operations.get"),
    ("ListOperations", "integrations.operations.list"),
    ("CancelOperation", "integrations.operations.cancel"),
    ("WaitOperation", "integrations.operations.get"),
    (
        "CreateMonitoringSource",
        "integrations.monitoringSources.create",
    ),
    ("GetMonitoringSource", "integrations.monitoringSources.get"),
    (
        "ListMonitoringSources",
        "integrations.monitoringSources.list",
    ),
    (
        "UpdateMonitoringSource",
        "integrations.monitoringSources.update",
    ),
    (
        "DeleteMonitoringSource",
        "integrations.monitoringSources.delete",
    ),
    (
        "CreateNotificationChannel",
        "integrations.notificationChannels.create",
    ),
    (
        "GetNotificationChannel",
        "integrations.notificationChannels.get",
    ),
    (
        "ListNotificationChannels",
        "integrations.notificationChannels.list",
    ),
    (
        "UpdateNotificationChannel",
        "integrations.notificationChannels.update",
    ),
    (
        "DeleteNotificationChannel",
        "integrations.notificationChannels.delete",
    ),
    (
        "TestNotificationChannel",
        "integrations.notificationChannels.test",
    ),
    ("ListDeliveries", "integrations.deliveries.list"),
];

/// Operators only.
const OPERATORS_ONLY: &[&str] = &["ConfigureGitProvider", "ListGitProviders"];
/// Service principals only.
const SERVICES_ONLY: &[&str] = &[
    "ClaimOperation",
    "ReportProgress",
    "CompleteOperation",
    "Notify",
];
/// Any authenticated caller.
const ANYONE: &[&str] = &["ListMonitoringSourceTypes", "ListNotificationEventTypes"];

/// Preconditions a call may stop at once it is allowed (the fixture's
/// state, not the caller's rights).
const ALLOWED_STOPS: &[&str] = &[
    "OAUTH_STATE_INVALID",
    "RESOURCE_IN_USE",
    "NO_DEPLOYMENT",
    "OPERATION_DONE",
    "LEASE_LOST",
];

struct Fixture {
    org: String,
    connection: String,
    repository: String,
    bundle: String,
    environment: String,
    revision: String,
    deployment: String,
    operation: String,
    source: String,
    channel: String,
}

async fn fixture(server: &TestServer, owner: &str, org: &str) -> Fixture {
    let (repo, bundle) = setup::repository_and_bundle(server, owner, org).await;
    let connection = repo.git_connection.clone();
    let environment = server
        .environments(owner)
        .create_environment(ipb::CreateEnvironmentRequest {
            parent: org.into(),
            environment: Some(ipb::Environment {
                bundle: bundle.name.clone(),
                display_name: "staging".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .environment
        .unwrap();
    let revision = server
        .revisions(owner)
        .create_revision(ipb::CreateRevisionRequest {
            parent: org.into(),
            revision: Some(ipb::Revision {
                bundle: bundle.name.clone(),
                commit_sha: sha(1),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .revision
        .unwrap();
    // A done operation: WaitOperation answers at once, CancelOperation stops at OPERATION_DONE.
    server
        .operations(owner)
        .cancel_operation(ipb::CancelOperationRequest {
            name: revision.build_operation.clone(),
        })
        .await
        .unwrap();
    let deployment = server
        .deployments(owner)
        .create_deployment(ipb::CreateDeploymentRequest {
            parent: org.into(),
            deployment: Some(ipb::Deployment {
                environment: environment.name.clone(),
                revision: revision.name.clone(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .deployment
        .unwrap();
    let source = server
        .monitoring(owner)
        .create_monitoring_source(ipb::CreateMonitoringSourceRequest {
            parent: org.into(),
            monitoring_source: Some(ipb::MonitoringSource {
                r#type: "http_probe".into(),
                display_name: "site".into(),
                endpoint: "https://93.184.216.34/health".into(),
                enabled: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .monitoring_source
        .unwrap();
    let receiver = WebhookReceiver::start().await;
    let channel = server
        .channels(owner)
        .create_notification_channel(channel_request(org, &receiver.url, false))
        .await
        .unwrap()
        .into_inner()
        .notification_channel
        .unwrap();
    receiver.set_secret(&channel.signing_secret);
    Fixture {
        org: org.into(),
        connection,
        repository: repo.name,
        bundle: bundle.name,
        environment: environment.name,
        revision: revision.name,
        deployment: deployment.name,
        operation: revision.build_operation,
        source: source.name,
        channel: channel.name,
    }
}

fn channel_request(
    org: &str,
    url: &str,
    validate_only: bool,
) -> ipb::CreateNotificationChannelRequest {
    ipb::CreateNotificationChannelRequest {
        parent: org.into(),
        notification_channel: Some(ipb::NotificationChannel {
            display_name: "hook".into(),
            kind: ipb::NotificationChannelKind::Webhook.into(),
            url: url.into(),
            enabled: true,
            ..Default::default()
        }),
        request_id: String::new(),
        validate_only,
    }
}

fn ok<T>(r: Result<tonic::Response<T>, Status>) -> Result<(), Status> {
    r.map(|_| ())
}

async fn call(server: &TestServer, token: &str, rpc: &str, f: &Fixture) -> Result<(), Status> {
    let org = f.org.clone();
    let s = server;
    match rpc {
        "BeginGitConnection" => ok(s
            .git_connections(token)
            .begin_git_connection(ipb::BeginGitConnectionRequest {
                parent: org,
                provider: ipb::GitProviderKind::Github.into(),
                git_connection: String::new(),
            })
            .await),
        "CompleteGitConnection" => ok(s
            .git_connections(token)
            .complete_git_connection(ipb::CompleteGitConnectionRequest {
                parent: org,
                state: "no-such-state".into(),
                code: "c".into(),
            })
            .await),
        "GetGitConnection" => ok(s
            .git_connections(token)
            .get_git_connection(ipb::GetGitConnectionRequest {
                name: f.connection.clone(),
            })
            .await),
        "ListGitConnections" => ok(s
            .git_connections(token)
            .list_git_connections(ipb::ListGitConnectionsRequest {
                parent: org,
                ..Default::default()
            })
            .await),
        "RefreshGitConnection" => ok(s
            .git_connections(token)
            .refresh_git_connection(ipb::RefreshGitConnectionRequest {
                name: f.connection.clone(),
            })
            .await),
        "DeleteGitConnection" => ok(s
            .git_connections(token)
            .delete_git_connection(ipb::DeleteGitConnectionRequest {
                name: f.connection.clone(),
                validate_only: true,
            })
            .await),
        "LinkRepository" => ok(s
            .repositories(token)
            .link_repository(ipb::LinkRepositoryRequest {
                parent: org,
                repository: Some(ipb::Repository {
                    git_connection: f.connection.clone(),
                    full_name: "acme/other".into(),
                    ..Default::default()
                }),
                validate_only: true,
                ..Default::default()
            })
            .await),
        "GetRepository" => ok(s
            .repositories(token)
            .get_repository(ipb::GetRepositoryRequest {
                name: f.repository.clone(),
            })
            .await),
        "ListRepositories" => ok(s
            .repositories(token)
            .list_repositories(ipb::ListRepositoriesRequest {
                parent: org,
                ..Default::default()
            })
            .await),
        "UnlinkRepository" => ok(s
            .repositories(token)
            .unlink_repository(ipb::UnlinkRepositoryRequest {
                name: f.repository.clone(),
                validate_only: true,
            })
            .await),
        "CreateBundle" => {
            let mut r = setup::bundle(&org, &f.repository, "x", "");
            r.validate_only = true;
            ok(s.bundles(token).create_bundle(r).await)
        }
        "GetBundle" => ok(s
            .bundles(token)
            .get_bundle(ipb::GetBundleRequest {
                name: f.bundle.clone(),
            })
            .await),
        "ListBundles" => ok(s
            .bundles(token)
            .list_bundles(ipb::ListBundlesRequest {
                parent: org,
                ..Default::default()
            })
            .await),
        "UpdateBundle" => ok(s
            .bundles(token)
            .update_bundle(ipb::UpdateBundleRequest {
                bundle: Some(ipb::Bundle {
                    name: f.bundle.clone(),
                    display_name: "renamed".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["display_name"]),
                validate_only: true,
            })
            .await),
        "DeleteBundle" => ok(s
            .bundles(token)
            .delete_bundle(ipb::DeleteBundleRequest {
                name: f.bundle.clone(),
                etag: String::new(),
                validate_only: true,
            })
            .await),
        "CreateEnvironment" => ok(s
            .environments(token)
            .create_environment(ipb::CreateEnvironmentRequest {
                parent: org,
                environment: Some(ipb::Environment {
                    bundle: f.bundle.clone(),
                    display_name: "e".into(),
                    ..Default::default()
                }),
                validate_only: true,
                ..Default::default()
            })
            .await),
        "GetEnvironment" => ok(s
            .environments(token)
            .get_environment(ipb::GetEnvironmentRequest {
                name: f.environment.clone(),
            })
            .await),
        "ListEnvironments" => ok(s
            .environments(token)
            .list_environments(ipb::ListEnvironmentsRequest {
                parent: org,
                ..Default::default()
            })
            .await),
        "UpdateEnvironment" => ok(s
            .environments(token)
            .update_environment(ipb::UpdateEnvironmentRequest {
                environment: Some(ipb::Environment {
                    name: f.environment.clone(),
                    display_name: "x".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["display_name"]),
                validate_only: true,
            })
            .await),
        "DeleteEnvironment" => ok(s
            .environments(token)
            .delete_environment(ipb::DeleteEnvironmentRequest {
                name: f.environment.clone(),
                etag: String::new(),
                validate_only: true,
            })
            .await),
        "CreateRevision" => ok(s
            .revisions(token)
            .create_revision(ipb::CreateRevisionRequest {
                parent: org,
                revision: Some(ipb::Revision {
                    bundle: f.bundle.clone(),
                    commit_sha: sha(77),
                    ..Default::default()
                }),
                validate_only: true,
                ..Default::default()
            })
            .await),
        "GetRevision" => ok(s
            .revisions(token)
            .get_revision(ipb::GetRevisionRequest {
                name: f.revision.clone(),
            })
            .await),
        "ListRevisions" => ok(s
            .revisions(token)
            .list_revisions(ipb::ListRevisionsRequest {
                parent: org,
                ..Default::default()
            })
            .await),
        "CreateDeployment" => ok(s
            .deployments(token)
            .create_deployment(ipb::CreateDeploymentRequest {
                parent: org,
                deployment: Some(ipb::Deployment {
                    environment: f.environment.clone(),
                    revision: f.revision.clone(),
                    ..Default::default()
                }),
                validate_only: true,
                ..Default::default()
            })
            .await),
        "GetDeployment" => ok(s
            .deployments(token)
            .get_deployment(ipb::GetDeploymentRequest {
                name: f.deployment.clone(),
            })
            .await),
        "ListDeployments" => ok(s
            .deployments(token)
            .list_deployments(ipb::ListDeploymentsRequest {
                parent: org,
                ..Default::default()
            })
            .await),
        "RedeployEnvironment" => ok(s
            .deployments(token)
            .redeploy_environment(ipb::RedeployEnvironmentRequest {
                environment: f.environment.clone(),
                request_id: String::new(),
            })
            .await),
        "RollbackEnvironment" => ok(s
            .deployments(token)
            .rollback_environment(ipb::RollbackEnvironmentRequest {
                environment: f.environment.clone(),
                ..Default::default()
            })
            .await),
        "GetOperation" => ok(s
            .operations(token)
            .get_operation(ipb::GetOperationRequest {
                name: f.operation.clone(),
            })
            .await),
        "ListOperations" => ok(s
            .operations(token)
            .list_operations(ipb::ListOperationsRequest {
                parent: org,
                ..Default::default()
            })
            .await),
        "CancelOperation" => ok(s
            .operations(token)
            .cancel_operation(ipb::CancelOperationRequest {
                name: f.operation.clone(),
            })
            .await),
        "WaitOperation" => ok(s
            .operations(token)
            .wait_operation(ipb::WaitOperationRequest {
                name: f.operation.clone(),
                timeout: None,
            })
            .await),
        "CreateMonitoringSource" => ok(s
            .monitoring(token)
            .create_monitoring_source(ipb::CreateMonitoringSourceRequest {
                parent: org,
                monitoring_source: Some(ipb::MonitoringSource {
                    r#type: "otlp_agent".into(),
                    display_name: "otel".into(),
                    ..Default::default()
                }),
                validate_only: true,
                ..Default::default()
            })
            .await),
        "GetMonitoringSource" => ok(s
            .monitoring(token)
            .get_monitoring_source(ipb::GetMonitoringSourceRequest {
                name: f.source.clone(),
            })
            .await),
        "ListMonitoringSources" => ok(s
            .monitoring(token)
            .list_monitoring_sources(ipb::ListMonitoringSourcesRequest {
                parent: org,
                ..Default::default()
            })
            .await),
        "UpdateMonitoringSource" => ok(s
            .monitoring(token)
            .update_monitoring_source(ipb::UpdateMonitoringSourceRequest {
                monitoring_source: Some(ipb::MonitoringSource {
                    name: f.source.clone(),
                    enabled: false,
                    ..Default::default()
                }),
                update_mask: mask(&["enabled"]),
                validate_only: true,
            })
            .await),
        "DeleteMonitoringSource" => ok(s
            .monitoring(token)
            .delete_monitoring_source(ipb::DeleteMonitoringSourceRequest {
                name: f.source.clone(),
                validate_only: true,
            })
            .await),
        "CreateNotificationChannel" => ok(s
            .channels(token)
            .create_notification_channel(channel_request(&org, "http://127.0.0.1:9/hook", true))
            .await),
        "GetNotificationChannel" => ok(s
            .channels(token)
            .get_notification_channel(ipb::GetNotificationChannelRequest {
                name: f.channel.clone(),
            })
            .await),
        "ListNotificationChannels" => ok(s
            .channels(token)
            .list_notification_channels(ipb::ListNotificationChannelsRequest {
                parent: org,
                ..Default::default()
            })
            .await),
        "UpdateNotificationChannel" => ok(s
            .channels(token)
            .update_notification_channel(ipb::UpdateNotificationChannelRequest {
                notification_channel: Some(ipb::NotificationChannel {
                    name: f.channel.clone(),
                    enabled: true,
                    ..Default::default()
                }),
                update_mask: mask(&["enabled"]),
                validate_only: true,
            })
            .await),
        "DeleteNotificationChannel" => ok(s
            .channels(token)
            .delete_notification_channel(ipb::DeleteNotificationChannelRequest {
                name: f.channel.clone(),
                validate_only: true,
            })
            .await),
        "TestNotificationChannel" => ok(s
            .channels(token)
            .test_notification_channel(ipb::TestNotificationChannelRequest {
                name: f.channel.clone(),
            })
            .await),
        "ListDeliveries" => ok(s
            .channels(token)
            .list_deliveries(ipb::ListDeliveriesRequest {
                parent: org,
                ..Default::default()
            })
            .await),
        "ConfigureGitProvider" => ok(s
            .git_providers(token)
            .configure_git_provider(ipb::ConfigureGitProviderRequest {
                git_provider: Some(ipb::GitProvider {
                    kind: ipb::GitProviderKind::Gitlab.into(),
                    client_id: "c".into(),
                    client_secret: "s".into(),
                    base_url: "https://gitlab.example.com".into(),
                    api_url: "https://gitlab.example.com/api/v4".into(),
                    redirect_uri: "https://console.example.com/cb".into(),
                    ..Default::default()
                }),
                validate_only: true,
            })
            .await),
        "ListGitProviders" => ok(s
            .git_providers(token)
            .list_git_providers(ipb::ListGitProvidersRequest {})
            .await),
        "ClaimOperation" => ok(s
            .workers(token)
            .claim_operation(ipb::ClaimOperationRequest {
                worker: "w".into(),
                kinds: vec![ipb::OperationKind::Build.into()],
                lease_duration: None,
            })
            .await),
        "ReportProgress" => ok(s
            .workers(token)
            .report_progress(ipb::ReportProgressRequest {
                name: f.operation.clone(),
                lease_id: uuid::Uuid::nil().to_string(),
                ..Default::default()
            })
            .await),
        "CompleteOperation" => ok(s
            .workers(token)
            .complete_operation(ipb::CompleteOperationRequest {
                name: f.operation.clone(),
                lease_id: uuid::Uuid::nil().to_string(),
                result: ipb::OperationState::Succeeded.into(),
                ..Default::default()
            })
            .await),
        "Notify" => ok(s
            .notify(token)
            .notify(ipb::NotifyRequest {
                organization: org,
                event: Some(ipb::NotificationEvent {
                    id: format!("n-{}", uuid::Uuid::now_v7()),
                    r#type: ipb::NotificationEventType::UsageWarning.into(),
                    subject: "s".into(),
                    ..Default::default()
                }),
            })
            .await),
        "ListMonitoringSourceTypes" => ok(s
            .monitoring(token)
            .list_monitoring_source_types(ipb::ListMonitoringSourceTypesRequest {})
            .await),
        "ListNotificationEventTypes" => ok(s
            .channels(token)
            .list_notification_event_types(ipb::ListNotificationEventTypesRequest {})
            .await),
        other => panic!("no call for {other}"),
    }
}

fn allowed_stop(e: &Status) -> bool {
    e.code() == Code::FailedPrecondition
        && reason(e).is_some_and(|r| ALLOWED_STOPS.contains(&r.as_str()))
}

async fn every_rpc_follows_the_catalog_and_hides_other_tenants(backend: Backend) {
    let server = dev_server(backend, &[]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let f = fixture(&server, &owner, &org.name).await;

    // Every row of the RPC table is covered here.
    let covered: BTreeSet<&str> = MATRIX
        .iter()
        .map(|(r, _)| *r)
        .chain(OPERATORS_ONLY.iter().copied())
        .chain(SERVICES_ONLY.iter().copied())
        .chain(ANYONE.iter().copied())
        .collect();
    let table: BTreeSet<&str> = loopback_integrations::rpcs::RPCS
        .iter()
        .map(|r| r.method)
        .collect();
    assert_eq!(covered, table);
    for rpc in loopback_integrations::rpcs::RPCS {
        if let Some(p) = rpc.permission() {
            assert!(
                MATRIX.contains(&(rpc.method, p)),
                "{} checks {p}",
                rpc.method
            );
        }
    }

    let published: BTreeMap<String, BTreeSet<String>> = server
        .roles(&owner)
        .list_roles(pb::ListRolesRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .roles
        .into_iter()
        .filter(|r| r.built_in)
        .map(|r| {
            (
                r.name.rsplit('/').next().unwrap().to_string(),
                r.permissions.into_iter().collect(),
            )
        })
        .collect();
    // Members build and ship; viewers only read.
    for p in [
        "integrations.bundles.create",
        "integrations.deployments.operate",
        "integrations.operations.cancel",
    ] {
        assert!(published["member"].contains(p), "{p}");
    }
    assert!(!published["member"].contains("integrations.gitConnections.create"));
    assert!(
        published["viewer"]
            .iter()
            .all(|p| p.ends_with(".get") || p.ends_with(".list"))
    );

    for role in ["owner", "admin", "billing_admin", "member", "viewer"] {
        let (token, _) = server
            .add_member(
                &owner,
                &org.name,
                &format!("{role}-holder@example.com"),
                &[role],
            )
            .await;
        for (rpc, permission) in MATRIX {
            let result = call(&server, &token, rpc, &f).await;
            if published[role].contains(*permission) {
                if let Err(e) = &result {
                    assert!(allowed_stop(e), "{role} {rpc} should be allowed: {e:?}");
                }
            } else {
                let err = result.expect_err(&format!("{role} {rpc} should be denied"));
                assert_eq!(err.code(), Code::PermissionDenied, "{role} {rpc}: {err:?}");
                assert_eq!(metadata(&err)["permission"], *permission, "{role} {rpc}");
            }
        }
        for rpc in OPERATORS_ONLY.iter().chain(SERVICES_ONLY) {
            let err = call(&server, &token, rpc, &f).await.expect_err(rpc);
            assert_eq!(err.code(), Code::PermissionDenied, "{role} {rpc}: {err:?}");
            assert!(metadata(&err).contains_key("principal_kind"), "{rpc}");
        }
        for rpc in ANYONE {
            call(&server, &token, rpc, &f)
                .await
                .unwrap_or_else(|e| panic!("{role} {rpc}: {e:?}"));
        }
    }
    // Services reach their RPCs (the fake lease is simply not theirs).
    let svc = server.service_token("worker");
    for rpc in SERVICES_ONLY {
        if let Err(e) = call(&server, &svc, rpc, &f).await {
            assert!(allowed_stop(&e), "service {rpc}: {e:?}");
        }
    }
    for rpc in OPERATORS_ONLY {
        call(&server, &server.operator_token(), rpc, &f)
            .await
            .unwrap();
    }
    // Another tenant's resources are NOT_FOUND, for every RPC.
    let stranger = server.account_token("stranger@example.com");
    server.verified_org(&stranger, "Elsewhere").await;
    for (rpc, _) in MATRIX {
        let err = call(&server, &stranger, rpc, &f).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "stranger {rpc}: {err:?}");
    }
    server.stop().await;
}

async fn status_policy_features_and_plans(backend: Backend) {
    let server = dev_server(backend, &[]).await;
    let owner = server.account_token("owner@example.com");
    // IN_SETUP: setup actions (connecting Git, monitoring) work, creating
    // bundles or channels is ENTITY_STATUS, reads work.
    let setup_org = server.create_org(&owner, "New").await;
    let fake =
        loopback_tests::fakes::FakeProvider::start(loopback_tests::fakes::Flavor::GitHub).await;
    setup::configure(&server, &fake).await;
    setup::begin(
        &server,
        &owner,
        &setup_org.name,
        loopback_tests::fakes::Flavor::GitHub,
        "",
    )
    .await
    .unwrap();
    let err = server
        .channels(&owner)
        .create_notification_channel(channel_request(
            &setup_org.name,
            "http://127.0.0.1:9/hook",
            true,
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("ENTITY_STATUS"));
    server
        .bundles(&owner)
        .list_bundles(ipb::ListBundlesRequest {
            parent: setup_org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    // BLOCKED: reads only.
    let org = server.verified_org(&owner, "Acme").await;
    let f = fixture(&server, &owner, &org.name).await;
    server
        .set_status(&org.name, tpb::VerificationStatus::Blocked)
        .await;
    // Wait for the change to reach integrations' cache through the feed.
    for _ in 0..100 {
        if call(&server, &owner, "BeginGitConnection", &f)
            .await
            .is_err()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for (rpc, _) in MATRIX {
        let read = rpc.starts_with("Get") || rpc.starts_with("List") || *rpc == "WaitOperation";
        let result = call(&server, &owner, rpc, &f).await;
        if read {
            result.unwrap_or_else(|e| panic!("BLOCKED still reads {rpc}: {e:?}"));
        } else {
            let err = result.expect_err(rpc);
            assert_eq!(
                reason(&err).as_deref(),
                Some("ENTITY_STATUS"),
                "{rpc}: {err:?}"
            );
        }
    }

    // The deployment has bundles, gitlab and notifications off.
    let off = dev_server(backend, &["--features=github,monitoring"]).await;
    let off_owner = off.account_token("owner@example.com");
    let org = off.verified_org(&off_owner, "Acme").await;
    let err = off
        .bundles(&off_owner)
        .list_bundles(ipb::ListBundlesRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("FEATURE_DISABLED"));
    assert_eq!(metadata(&err)["feature"], "bundles");
    assert!(!metadata(&err).contains_key("plan"));
    let err = off
        .channels(&off_owner)
        .list_notification_event_types(ipb::ListNotificationEventTypesRequest {})
        .await
        .unwrap_err();
    assert_eq!(metadata(&err)["feature"], "notifications");
    let err = setup::begin(
        &off,
        &off_owner,
        &org.name,
        loopback_tests::fakes::Flavor::GitLab,
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(metadata(&err)["feature"], "gitlab");
    off.monitoring(&off_owner)
        .list_monitoring_source_types(ipb::ListMonitoringSourceTypesRequest {})
        .await
        .unwrap();
    off.stop().await;

    // The plan lacks them: FEATURE_DISABLED naming the plan.
    let op = server.operator_token();
    server
        .plans(&op)
        .create_plan(pb::CreatePlanRequest {
            plan: Some(pb::Plan {
                display_name: "Free".into(),
                self_serve: true,
                features: vec!["github".into(), "monitoring".into()],
                ..Default::default()
            }),
            plan_id: "free".into(),
            validate_only: false,
        })
        .await
        .unwrap();
    let free = server.verified_org(&owner, "Free org").await;
    server
        .operator(&op)
        .set_organization_plan(pb::SetOrganizationPlanRequest {
            name: free.name.clone(),
            plan: "plans/free".into(),
            reason: "test".into(),
            validate_only: false,
            force: false,
        })
        .await
        .unwrap();
    for err in [
        server
            .bundles(&owner)
            .list_bundles(ipb::ListBundlesRequest {
                parent: free.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        setup::begin(
            &server,
            &owner,
            &free.name,
            loopback_tests::fakes::Flavor::GitLab,
            "",
        )
        .await
        .unwrap_err(),
        server
            .notify(&server.service_token("billing"))
            .notify(ipb::NotifyRequest {
                organization: free.name.clone(),
                event: Some(ipb::NotificationEvent {
                    id: "x".into(),
                    r#type: ipb::NotificationEventType::UsageWarning.into(),
                    subject: "s".into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap_err(),
    ] {
        assert_eq!(reason(&err).as_deref(), Some("FEATURE_DISABLED"), "{err:?}");
        assert_eq!(metadata(&err)["plan"], "Free", "{err:?}");
    }
    setup::begin(
        &server,
        &owner,
        &free.name,
        loopback_tests::fakes::Flavor::GitHub,
        "",
    )
    .await
    .unwrap();
    server.stop().await;
}

async fn limits_hold_under_concurrency(backend: Backend) {
    let server = dev_server(
        backend,
        &[
            "--default-limit=max_bundles=3",
            "--default-limit=max_notification_channels=2",
        ],
    )
    .await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let (repo, _) = setup::repository_and_bundle(&server, &owner, &org.name).await;
    let bundles = futures::future::join_all((0..8).map(|i| {
        let (server, owner, org, repo) =
            (&server, owner.clone(), org.name.clone(), repo.name.clone());
        async move {
            let channel = server.own_connection(&owner).await;
            ipb::bundle_service_client::BundleServiceClient::new(channel)
                .create_bundle(setup::bundle(&org, &repo, &format!("svc/{i}"), ""))
                .await
        }
    }))
    .await;
    let made = bundles.iter().filter(|r| r.is_ok()).count();
    assert_eq!(made, 2, "one existed; the limit is 3");
    for r in bundles.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.code(), Code::ResourceExhausted);
        assert_eq!(metadata(r)["limit"], "max_bundles");
    }
    let channels = futures::future::join_all((0..6).map(|_| {
        let (server, owner, org) = (&server, owner.clone(), org.name.clone());
        async move {
            let channel = server.own_connection(&owner).await;
            ipb::notification_channel_service_client::NotificationChannelServiceClient::new(channel)
                .create_notification_channel(channel_request(
                    &org,
                    "http://127.0.0.1:9/hook",
                    false,
                ))
                .await
        }
    }))
    .await;
    assert_eq!(channels.iter().filter(|r| r.is_ok()).count(), 2);
    assert!(
        channels
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| metadata(e)["limit"] == "max_notification_channels")
    );
    server.stop().await;
}

async fn bad_input_is_refused_naming_the_field(backend: Backend) {
    // The development override is off: only https and public endpoints.
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    for url in [
        "http://93.184.216.34/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest",
        "https://[::1]/hook",
        "ftp://93.184.216.34/",
    ] {
        let err = server
            .channels(&owner)
            .create_notification_channel(channel_request(&org.name, url, false))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{url}");
        assert_eq!(bad_fields(&err), ["notification_channel.url"], "{url}");
    }
    server
        .channels(&owner)
        .create_notification_channel(channel_request(
            &org.name,
            "https://93.184.216.34/hook",
            true,
        ))
        .await
        .unwrap();
    let source = |t: &str, endpoint: &str| ipb::CreateMonitoringSourceRequest {
        parent: org.name.clone(),
        monitoring_source: Some(ipb::MonitoringSource {
            r#type: t.into(),
            display_name: "m".into(),
            endpoint: endpoint.into(),
            ..Default::default()
        }),
        validate_only: true,
        ..Default::default()
    };
    for (t, endpoint) in [
        ("http_probe", "http://93.184.216.34/"),
        ("http_probe", "https://169.254.169.254/"),
        ("prometheus_scrape", "https://172.16.0.5/metrics"),
        ("tcp_probe", "127.0.0.1:5432"),
        ("tcp_probe", "93.184.216.34"),
        ("otlp_agent", "https://93.184.216.34/"),
        ("http_probe", ""),
    ] {
        let err = server
            .monitoring(&owner)
            .create_monitoring_source(source(t, endpoint))
            .await
            .unwrap_err();
        assert_eq!(
            bad_fields(&err),
            ["monitoring_source.endpoint"],
            "{t} {endpoint}: {err:?}"
        );
    }
    for (t, endpoint) in [
        ("tcp_probe", "93.184.216.34:443"),
        ("otlp_agent", ""),
        ("http_probe", "https://93.184.216.34/"),
    ] {
        server
            .monitoring(&owner)
            .create_monitoring_source(source(t, endpoint))
            .await
            .unwrap();
    }
    let err = server
        .monitoring(&owner)
        .create_monitoring_source(source("smoke_signal", ""))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["monitoring_source.type"]);
    // Plain-http Git providers are refused too.
    let err = server
        .git_providers(&server.operator_token())
        .configure_git_provider(ipb::ConfigureGitProviderRequest {
            git_provider: Some(ipb::GitProvider {
                kind: ipb::GitProviderKind::Github.into(),
                client_id: "c".into(),
                client_secret: "s".into(),
                base_url: "http://github.example.com".into(),
                api_url: "https://api.github.example.com".into(),
                redirect_uri: "https://console.example.com/cb".into(),
                ..Default::default()
            }),
            validate_only: true,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["git_provider.base_url"]);

    // Paths, specs, SHAs and variable names.
    let repo = format!("{}/repositories/{}", org.name, uuid::Uuid::now_v7());
    for (path, spec, field) in [
        ("../etc", "", "bundle.path"),
        ("a/../../b", "", "bundle.path"),
        ("/abs", "", "bundle.path"),
        (
            "ok",
            &"x".repeat(64 * 1024 + 1) as &str,
            "bundle.build_spec",
        ),
    ] {
        let err = server
            .bundles(&owner)
            .create_bundle(setup::bundle(&org.name, &repo, path, spec))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&err), [field], "{path}");
    }
    let bundle = format!("{}/bundles/{}", org.name, uuid::Uuid::now_v7());
    for bad in ["abc", &"g".repeat(40) as &str, &"a".repeat(41)] {
        let err = server
            .revisions(&owner)
            .create_revision(ipb::CreateRevisionRequest {
                parent: org.name.clone(),
                revision: Some(ipb::Revision {
                    bundle: bundle.clone(),
                    commit_sha: bad.into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&err), ["revision.commit_sha"], "{bad}");
    }
    let err = server
        .environments(&owner)
        .create_environment(ipb::CreateEnvironmentRequest {
            parent: org.name.clone(),
            environment: Some(ipb::Environment {
                bundle: bundle.clone(),
                display_name: "e".into(),
                variables: vec![
                    ipb::Variable {
                        name: "GOOD".into(),
                        value: "1".into(),
                        secret: false,
                    },
                    ipb::Variable {
                        name: "bad-name".into(),
                        value: "1".into(),
                        secret: false,
                    },
                    ipb::Variable {
                        name: "1X".into(),
                        value: "1".into(),
                        secret: false,
                    },
                    ipb::Variable {
                        name: "GOOD".into(),
                        value: "2".into(),
                        secret: false,
                    },
                    ipb::Variable {
                        name: "TOKEN".into(),
                        value: String::new(),
                        secret: true,
                    },
                ],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&err),
        [
            "environment.variables[1].name",
            "environment.variables[2].name",
            "environment.variables[3].name",
            "environment.variables[4].value"
        ]
    );
    server.stop().await;
}

async fn every_rpc_fails_closed_without_the_authority(backend: Backend) {
    let server = dev_server(backend, &[]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let f = fixture(&server, &owner, &org.name).await;
    // A second integrations whose org-core cannot be reached, on the same
    // database: nothing is cached there, so every RPC fails closed.
    let spare = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = spare.local_addr().unwrap();
    drop(spare);
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let alone = server
        .start_integrations(addr, Some(dead_url), &["--allow-insecure-endpoints"])
        .await;
    let channel = loopback_tests::connect_as(addr, &owner).await;
    let other = TestServerView { channel };
    let svc = loopback_tests::connect_as(addr, &server.service_token("worker")).await;
    for (rpc, _) in MATRIX {
        let err = other.call(rpc, &f).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{rpc}: {err:?}");
        assert_eq!(
            reason(&err).as_deref(),
            Some("AUTHORITY_UNAVAILABLE"),
            "{rpc}"
        );
    }
    for rpc in SERVICES_ONLY.iter().chain(ANYONE) {
        let view = TestServerView {
            channel: svc.clone(),
        };
        let err = view.call(rpc, &f).await.unwrap_err();
        assert_eq!(
            reason(&err).as_deref(),
            Some("AUTHORITY_UNAVAILABLE"),
            "{rpc}: {err:?}"
        );
    }
    alone.stop().await.unwrap();
    server.stop().await;
}

/// The same calls against another address.
struct TestServerView {
    channel: loopback_tests::Authed,
}

impl TestServerView {
    async fn call(&self, rpc: &str, f: &Fixture) -> Result<(), Status> {
        let c = self.channel.clone();
        let org = f.org.clone();
        match rpc {
            "GetBundle" | "ListBundles" | "CreateBundle" | "UpdateBundle" | "DeleteBundle" => {
                let mut b = ipb::bundle_service_client::BundleServiceClient::new(c);
                match rpc {
                    "GetBundle" => ok(b
                        .get_bundle(ipb::GetBundleRequest {
                            name: f.bundle.clone(),
                        })
                        .await),
                    "ListBundles" => ok(b
                        .list_bundles(ipb::ListBundlesRequest {
                            parent: org,
                            ..Default::default()
                        })
                        .await),
                    "CreateBundle" => ok(b
                        .create_bundle(setup::bundle(&org, &f.repository, "y", ""))
                        .await),
                    "UpdateBundle" => ok(b
                        .update_bundle(ipb::UpdateBundleRequest {
                            bundle: Some(ipb::Bundle {
                                name: f.bundle.clone(),
                                display_name: "z".into(),
                                ..Default::default()
                            }),
                            update_mask: mask(&["display_name"]),
                            validate_only: true,
                        })
                        .await),
                    _ => ok(b
                        .delete_bundle(ipb::DeleteBundleRequest {
                            name: f.bundle.clone(),
                            etag: String::new(),
                            validate_only: true,
                        })
                        .await),
                }
            }
            _ => {
                // Every other RPC through the same typed clients.
                let server = ViewServer { channel: c };
                server.dispatch(rpc, f).await
            }
        }
    }
}

/// Typed clients over a channel, mirroring `TestServer`'s.
struct ViewServer {
    channel: loopback_tests::Authed,
}

impl ViewServer {
    async fn dispatch(&self, rpc: &str, f: &Fixture) -> Result<(), Status> {
        let c = || self.channel.clone();
        let org = f.org.clone();
        match rpc {
            "BeginGitConnection" => ok(ipb::git_connection_service_client::GitConnectionServiceClient::new(c()).begin_git_connection(ipb::BeginGitConnectionRequest { parent: org, provider: ipb::GitProviderKind::Github.into(), git_connection: String::new() }).await),
            "CompleteGitConnection" => ok(ipb::git_connection_service_client::GitConnectionServiceClient::new(c()).complete_git_connection(ipb::CompleteGitConnectionRequest { parent: org, state: "s".into(), code: "c".into() }).await),
            "GetGitConnection" => ok(ipb::git_connection_service_client::GitConnectionServiceClient::new(c()).get_git_connection(ipb::GetGitConnectionRequest { name: f.connection.clone() }).await),
            "ListGitConnections" => ok(ipb::git_connection_service_client::GitConnectionServiceClient::new(c()).list_git_connections(ipb::ListGitConnectionsRequest { parent: org, ..Default::default() }).await),
            "RefreshGitConnection" => ok(ipb::git_connection_service_client::GitConnectionServiceClient::new(c()).refresh_git_connection(ipb::RefreshGitConnectionRequest { name: f.connection.clone() }).await),
            "DeleteGitConnection" => ok(ipb::git_connection_service_client::GitConnectionServiceClient::new(c()).delete_git_connection(ipb::DeleteGitConnectionRequest { name: f.connection.clone(), validate_only: true }).await),
            "LinkRepository" => ok(ipb::repository_service_client::RepositoryServiceClient::new(c()).link_repository(ipb::LinkRepositoryRequest { parent: org, repository: Some(ipb::Repository { git_connection: f.connection.clone(), full_name: "a/b".into(), ..Default::default() }), validate_only: true, ..Default::default() }).await),
            "GetRepository" => ok(ipb::repository_service_client::RepositoryServiceClient::new(c()).get_repository(ipb::GetRepositoryRequest { name: f.repository.clone() }).await),
            "ListRepositories" => ok(ipb::repository_service_client::RepositoryServiceClient::new(c()).list_repositories(ipb::ListRepositoriesRequest { parent: org, ..Default::default() }).await),
            "UnlinkRepository" => ok(ipb::repository_service_client::RepositoryServiceClient::new(c()).unlink_repository(ipb::UnlinkRepositoryRequest { name: f.repository.clone(), validate_only: true }).await),
            "CreateEnvironment" => ok(ipb::environment_service_client::EnvironmentServiceClient::new(c()).create_environment(ipb::CreateEnvironmentRequest { parent: org, environment: Some(ipb::Environment { bundle: f.bundle.clone(), display_name: "e".into(), ..Default::default() }), validate_only: true, ..Default::default() }).await),
            "GetEnvironment" => ok(ipb::environment_service_client::EnvironmentServiceClient::new(c()).get_environment(ipb::GetEnvironmentRequest { name: f.environment.clone() }).await),
            "ListEnvironments" => ok(ipb::environment_service_client::EnvironmentServiceClient::new(c()).list_environments(ipb::ListEnvironmentsRequest { parent: org, ..Default::default() }).await),
            "UpdateEnvironment" => ok(ipb::environment_service_client::EnvironmentServiceClient::new(c()).update_environment(ipb::UpdateEnvironmentRequest { environment: Some(ipb::Environment { name: f.environment.clone(), display_name: "x".into(), ..Default::default() }), update_mask: mask(&["display_name"]), validate_only: true }).await),
            "DeleteEnvironment" => ok(ipb::environment_service_client::EnvironmentServiceClient::new(c()).delete_environment(ipb::DeleteEnvironmentRequest { name: f.environment.clone(), etag: String::new(), validate_only: true }).await),
            "CreateRevision" => ok(ipb::revision_service_client::RevisionServiceClient::new(c()).create_revision(ipb::CreateRevisionRequest { parent: org, revision: Some(ipb::Revision { bundle: f.bundle.clone(), commit_sha: sha(5), ..Default::default() }), validate_only: true, ..Default::default() }).await),
            "GetRevision" => ok(ipb::revision_service_client::RevisionServiceClient::new(c()).get_revision(ipb::GetRevisionRequest { name: f.revision.clone() }).await),
            "ListRevisions" => ok(ipb::revision_service_client::RevisionServiceClient::new(c()).list_revisions(ipb::ListRevisionsRequest { parent: org, ..Default::default() }).await),
            "CreateDeployment" => ok(ipb::deployment_service_client::DeploymentServiceClient::new(c()).create_deployment(ipb::CreateDeploymentRequest { parent: org, deployment: Some(ipb::Deployment { environment: f.environment.clone(), revision: f.revision.clone(), ..Default::default() }), validate_only: true, ..Default::default() }).await),
            "GetDeployment" => ok(ipb::deployment_service_client::DeploymentServiceClient::new(c()).get_deployment(ipb::GetDeploymentRequest { name: f.deployment.clone() }).await),
            "ListDeployments" => ok(ipb::deployment_service_client::DeploymentServiceClient::new(c()).list_deployments(ipb::ListDeploymentsRequest { parent: org, ..Default::default() }).await),
            "RedeployEnvironment" => ok(ipb::deployment_service_client::DeploymentServiceClient::new(c()).redeploy_environment(ipb::RedeployEnvironmentRequest { environment: f.environment.clone(), request_id: String::new() }).await),
            "RollbackEnvironment" => ok(ipb::deployment_service_client::DeploymentServiceClient::new(c()).rollback_environment(ipb::RollbackEnvironmentRequest { environment: f.environment.clone(), ..Default::default() }).await),
            "GetOperation" => ok(ipb::operation_service_client::OperationServiceClient::new(c()).get_operation(ipb::GetOperationRequest { name: f.operation.clone() }).await),
            "ListOperations" => ok(ipb::operation_service_client::OperationServiceClient::new(c()).list_operations(ipb::ListOperationsRequest { parent: org, ..Default::default() }).await),
            "CancelOperation" => ok(ipb::operation_service_client::OperationServiceClient::new(c()).cancel_operation(ipb::CancelOperationRequest { name: f.operation.clone() }).await),
            "WaitOperation" => ok(ipb::operation_service_client::OperationServiceClient::new(c()).wait_operation(ipb::WaitOperationRequest { name: f.operation.clone(), timeout: None }).await),
            "CreateMonitoringSource" => ok(ipb::monitoring_service_client::MonitoringServiceClient::new(c()).create_monitoring_source(ipb::CreateMonitoringSourceRequest { parent: org, monitoring_source: Some(ipb::MonitoringSource { r#type: "otlp_agent".into(), display_name: "o".into(), ..Default::default() }), validate_only: true, ..Default::default() }).await),
            "GetMonitoringSource" => ok(ipb::monitoring_service_client::MonitoringServiceClient::new(c()).get_monitoring_source(ipb::GetMonitoringSourceRequest { name: f.source.clone() }).await),
            "ListMonitoringSources" => ok(ipb::monitoring_service_client::MonitoringServiceClient::new(c()).list_monitoring_sources(ipb::ListMonitoringSourcesRequest { parent: org, ..Default::default() }).await),
            "UpdateMonitoringSource" => ok(ipb::monitoring_service_client::MonitoringServiceClient::new(c()).update_monitoring_source(ipb::UpdateMonitoringSourceRequest { monitoring_source: Some(ipb::MonitoringSource { name: f.source.clone(), ..Default::default() }), update_mask: mask(&["enabled"]), validate_only: true }).await),
            "DeleteMonitoringSource" => ok(ipb::monitoring_service_client::MonitoringServiceClient::new(c()).delete_monitoring_source(ipb::DeleteMonitoringSourceRequest { name: f.source.clone(), validate_only: true }).await),
            "ListMonitoringSourceTypes" => ok(ipb::monitoring_service_client::MonitoringServiceClient::new(c()).list_monitoring_source_types(ipb::ListMonitoringSourceTypesRequest {}).await),
            "CreateNotificationChannel" => ok(ipb::notification_channel_service_client::NotificationChannelServiceClient::new(c()).create_notification_channel(channel_request(&org, "http://127.0.0.1:9/hook", true)).await),
            "GetNotificationChannel" => ok(ipb::notification_channel_service_client::NotificationChannelServiceClient::new(c()).get_notification_channel(ipb::GetNotificationChannelRequest { name: f.channel.clone() }).await),
            "ListNotificationChannels" => ok(ipb::notification_channel_service_client::NotificationChannelServiceClient::new(c()).list_notification_channels(ipb::ListNotificationChannelsRequest { parent: org, ..Default::default() }).await),
            "UpdateNotificationChannel" => ok(ipb::notification_channel_service_client::NotificationChannelServiceClient::new(c()).update_notification_channel(ipb::UpdateNotificationChannelRequest { notification_channel: Some(ipb::NotificationChannel { name: f.channel.clone(), ..Default::default() }), update_mask: mask(&["enabled"]), validate_only: true }).await),
            "DeleteNotificationChannel" => ok(ipb::notification_channel_service_client::NotificationChannelServiceClient::new(c()).delete_notification_channel(ipb::DeleteNotificationChannelRequest { name: f.channel.clone(), validate_only: true }).await),
            "TestNotificationChannel" => ok(ipb::notification_channel_service_client::NotificationChannelServiceClient::new(c()).test_notification_channel(ipb::TestNotificationChannelRequest { name: f.channel.clone() }).await),
            "ListDeliveries" => ok(ipb::notification_channel_service_client::NotificationChannelServiceClient::new(c()).list_deliveries(ipb::ListDeliveriesRequest { parent: org, ..Default::default() }).await),
            "ListNotificationEventTypes" => ok(ipb::notification_channel_service_client::NotificationChannelServiceClient::new(c()).list_notification_event_types(ipb::ListNotificationEventTypesRequest {}).await),
            "ClaimOperation" => ok(ipb::operation_worker_service_client::OperationWorkerServiceClient::new(c()).claim_operation(ipb::ClaimOperationRequest { worker: "w".into(), ..Default::default() }).await),
            "ReportProgress" => ok(ipb::operation_worker_service_client::OperationWorkerServiceClient::new(c()).report_progress(ipb::ReportProgressRequest { name: f.operation.clone(), lease_id: uuid::Uuid::nil().to_string(), ..Default::default() }).await),
            "CompleteOperation" => ok(ipb::operation_worker_service_client::OperationWorkerServiceClient::new(c()).complete_operation(ipb::CompleteOperationRequest { name: f.operation.clone(), lease_id: uuid::Uuid::nil().to_string(), result: ipb::OperationState::Failed.into(), ..Default::default() }).await),
            "Notify" => ok(ipb::notification_service_client::NotificationServiceClient::new(c()).notify(ipb::NotifyRequest { organization: org, event: Some(ipb::NotificationEvent { id: "n".into(), r#type: ipb::NotificationEventType::UsageWarning.into(), subject: "s".into(), ..Default::default() }) }).await),
            other => panic!("no call for {other}"),
        }
    }
}

async fn writes_are_idempotent_validated_and_etag_checked(backend: Backend) {
    let server = dev_server(backend, &[]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let (repo, first) = setup::repository_and_bundle(&server, &owner, &org.name).await;
    let list = || async {
        server
            .bundles(&owner)
            .list_bundles(ipb::ListBundlesRequest {
                parent: org.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .bundles
    };
    // validate_only checks everything and writes nothing.
    let mut request = setup::bundle(&org.name, &repo.name, "api", "");
    request.validate_only = true;
    server
        .bundles(&owner)
        .create_bundle(request.clone())
        .await
        .unwrap();
    assert_eq!(list().await.len(), 1);
    // A retried create with the same request_id returns the first result.
    request.validate_only = false;
    request.request_id = uuid::Uuid::now_v7().to_string();
    let a = server
        .bundles(&owner)
        .create_bundle(request.clone())
        .await
        .unwrap()
        .into_inner()
        .bundle
        .unwrap();
    let b = server
        .bundles(&owner)
        .create_bundle(request)
        .await
        .unwrap()
        .into_inner()
        .bundle
        .unwrap();
    assert_eq!(a.name, b.name);
    assert_eq!(list().await.len(), 2);
    // Updates check the etag; the digest follows the definition.
    let updated = server
        .bundles(&owner)
        .update_bundle(ipb::UpdateBundleRequest {
            bundle: Some(ipb::Bundle {
                name: first.name.clone(),
                etag: first.etag.clone(),
                build_spec: "build: cargo".into(),
                ..Default::default()
            }),
            update_mask: mask(&["build_spec"]),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .bundle
        .unwrap();
    assert_ne!(updated.etag, first.etag);
    assert_ne!(updated.definition_digest, first.definition_digest);
    let err = server
        .bundles(&owner)
        .update_bundle(ipb::UpdateBundleRequest {
            bundle: Some(ipb::Bundle {
                name: first.name.clone(),
                etag: first.etag.clone(),
                display_name: "stale".into(),
                ..Default::default()
            }),
            update_mask: mask(&["display_name"]),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    // A project must be one of the bundle's organization.
    let mut request = setup::bundle(&org.name, &repo.name, "p", "");
    request.bundle.as_mut().unwrap().project = format!(
        "organizations/{}/projects/{}",
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7()
    );
    let err = server
        .bundles(&owner)
        .create_bundle(request)
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["bundle.project"]);
    // ...and one that exists (a bundle in a project is authorized there).
    let project = server
        .projects(&owner)
        .create_project(pb::CreateProjectRequest {
            parent: org.name.clone(),
            project: Some(pb::Project {
                display_name: "p".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    let mut request = setup::bundle(&org.name, &repo.name, "p", "");
    request.bundle.as_mut().unwrap().project = project.name.clone();
    let with_project = server
        .bundles(&owner)
        .create_bundle(request)
        .await
        .unwrap()
        .into_inner()
        .bundle
        .unwrap();
    assert!(with_project.project.starts_with(&org.name));
    // A revision is immutable: the same commit and definition twice is ALREADY_EXISTS.
    let rev = ipb::CreateRevisionRequest {
        parent: org.name.clone(),
        revision: Some(ipb::Revision {
            bundle: first.name.clone(),
            commit_sha: sha(3).to_uppercase(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let made = server
        .revisions(&owner)
        .create_revision(rev.clone())
        .await
        .unwrap()
        .into_inner()
        .revision
        .unwrap();
    assert_eq!(made.commit_sha, sha(3), "stored lower case");
    assert_eq!(made.definition_digest, updated.definition_digest);
    let err = server
        .revisions(&owner)
        .create_revision(rev)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    server.stop().await;
}

backend_tests!(
    writes_are_idempotent_validated_and_etag_checked,
    every_rpc_follows_the_catalog_and_hides_other_tenants,
    status_policy_features_and_plans,
    limits_hold_under_concurrency,
    bad_input_is_refused_naming_the_field,
    every_rpc_fails_closed_without_the_authority,
);
