//! Acceptance (integrations, issues 9 and 11): bundles are project-scoped
//! and follow their project; integrations follows organization purges. On
//! SQLite and PostgreSQL:
//!
//! - a project-only member builds and deploys their project's bundles, gets
//!   NOT_FOUND for another project's (and does not see them in lists) and
//!   PERMISSION_DENIED for organization-level writes;
//! - a deleted project hides its bundles and everything under them (their
//!   unfinished operations are cancelled; a running one's worker hears it),
//!   and restoring the project brings them back;
//! - a purged project takes its bundles (and `max_bundles` counts them no
//!   more); a purged organization leaves no row of it in any integrations
//!   table, read generically from the database catalog, and another
//!   organization's rows stay;
//! - integrations down during an organization's purge (and the feed no
//!   longer saying so when it is back) reconciles at start.

use std::time::{Duration, Instant};

use loopback_proto::integrations::v1 as ipb;
use loopback_proto::orgcore::v1 as pb;
use loopback_tests::fakes::WebhookReceiver;
use loopback_tests::schema::{assert_covers_every_table, count, rows_mentioning};
use loopback_tests::setup::{self, dev_server, sha};
use loopback_tests::{Backend, TestServer, backend_tests, connect_as, pg};
use sea_orm::Database;
use tonic::{Code, Status};

const EVENTUALLY: Duration = Duration::from_secs(30);

/// Polls `check` until it returns `Some`, or fails after [`EVENTUALLY`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn id_of(name: &str) -> String {
    name.rsplit('/').next().unwrap().to_string()
}

fn assert_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, what: &str) {
    let err = result.expect_err(what);
    assert_eq!(err.code(), code, "{what}: {err:?}");
}

// ---- requests ----

async fn create_bundle(
    server: &TestServer,
    token: &str,
    org: &str,
    repository: &str,
    project: &str,
    path: &str,
) -> Result<ipb::Bundle, Status> {
    let mut request = setup::bundle(org, repository, path, "build: make\n");
    request.bundle.as_mut().unwrap().project = project.into();
    // Remembered by the kit (`kit_request_ids`): a purge must forget it.
    request.request_id = uuid::Uuid::now_v7().to_string();
    server
        .bundles(token)
        .create_bundle(request)
        .await
        .map(|r| r.into_inner().bundle.unwrap())
}

async fn create_environment(
    server: &TestServer,
    token: &str,
    org: &str,
    bundle: &str,
) -> Result<ipb::Environment, Status> {
    server
        .environments(token)
        .create_environment(ipb::CreateEnvironmentRequest {
            parent: org.into(),
            environment: Some(ipb::Environment {
                bundle: bundle.into(),
                display_name: "production".into(),
                variables: vec![
                    ipb::Variable {
                        name: "MODE".into(),
                        value: "prod".into(),
                        secret: false,
                    },
                    ipb::Variable {
                        name: "DATABASE_PASSWORD".into(),
                        value: "hunter2-very-secret".into(),
                        secret: true,
                    },
                ],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().environment.unwrap())
}

async fn create_revision(
    server: &TestServer,
    token: &str,
    org: &str,
    bundle: &str,
    n: u32,
) -> Result<ipb::Revision, Status> {
    server
        .revisions(token)
        .create_revision(ipb::CreateRevisionRequest {
            parent: org.into(),
            revision: Some(ipb::Revision {
                bundle: bundle.into(),
                commit_sha: sha(n),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().revision.unwrap())
}

async fn create_deployment(
    server: &TestServer,
    token: &str,
    org: &str,
    environment: &str,
    revision: &str,
) -> Result<ipb::Deployment, Status> {
    server
        .deployments(token)
        .create_deployment(ipb::CreateDeploymentRequest {
            parent: org.into(),
            deployment: Some(ipb::Deployment {
                environment: environment.into(),
                revision: revision.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().deployment.unwrap())
}

async fn get_bundle(server: &TestServer, token: &str, name: &str) -> Result<ipb::Bundle, Status> {
    server
        .bundles(token)
        .get_bundle(ipb::GetBundleRequest { name: name.into() })
        .await
        .map(|r| r.into_inner().bundle.unwrap())
}

async fn get_operation(
    server: &TestServer,
    token: &str,
    name: &str,
) -> Result<ipb::Operation, Status> {
    server
        .operations(token)
        .get_operation(ipb::GetOperationRequest { name: name.into() })
        .await
        .map(|r| r.into_inner().operation.unwrap())
}

/// Every name each list shows `token` in `org`: bundles, environments,
/// revisions, deployments, operations.
async fn listed(server: &TestServer, token: &str, org: &str) -> Result<Vec<String>, Status> {
    let mut names = Vec::new();
    names.extend(
        server
            .bundles(token)
            .list_bundles(ipb::ListBundlesRequest {
                parent: org.into(),
                page_size: 100,
                ..Default::default()
            })
            .await?
            .into_inner()
            .bundles
            .into_iter()
            .map(|b| b.name),
    );
    names.extend(
        server
            .environments(token)
            .list_environments(ipb::ListEnvironmentsRequest {
                parent: org.into(),
                page_size: 100,
                ..Default::default()
            })
            .await?
            .into_inner()
            .environments
            .into_iter()
            .map(|e| e.name),
    );
    names.extend(
        server
            .revisions(token)
            .list_revisions(ipb::ListRevisionsRequest {
                parent: org.into(),
                page_size: 100,
                ..Default::default()
            })
            .await?
            .into_inner()
            .revisions
            .into_iter()
            .map(|r| r.name),
    );
    names.extend(
        server
            .deployments(token)
            .list_deployments(ipb::ListDeploymentsRequest {
                parent: org.into(),
                page_size: 100,
                ..Default::default()
            })
            .await?
            .into_inner()
            .deployments
            .into_iter()
            .map(|d| d.name),
    );
    names.extend(
        server
            .operations(token)
            .list_operations(ipb::ListOperationsRequest {
                parent: org.into(),
                page_size: 100,
                ..Default::default()
            })
            .await?
            .into_inner()
            .operations
            .into_iter()
            .map(|o| o.name),
    );
    names.sort();
    Ok(names)
}

/// A bundle with an environment (a secret variable), a revision (its
/// BUILD operation) and a deployment (its DEPLOY operation): every name,
/// sorted, as [`listed`] shows them.
struct Built {
    bundle: ipb::Bundle,
    environment: ipb::Environment,
    revision: ipb::Revision,
    deployment: ipb::Deployment,
}

impl Built {
    fn names(&self) -> Vec<String> {
        let mut names = vec![
            self.bundle.name.clone(),
            self.environment.name.clone(),
            self.revision.name.clone(),
            self.deployment.name.clone(),
            self.revision.build_operation.clone(),
            self.deployment.operation.clone(),
        ];
        names.sort();
        names
    }
}

async fn build_and_deploy(
    server: &TestServer,
    token: &str,
    org: &str,
    repository: &str,
    project: &str,
    n: u32,
) -> Result<Built, Status> {
    let bundle =
        create_bundle(server, token, org, repository, project, &format!("svc/{n}")).await?;
    let environment = create_environment(server, token, org, &bundle.name).await?;
    let revision = create_revision(server, token, org, &bundle.name, n).await?;
    let deployment =
        create_deployment(server, token, org, &environment.name, &revision.name).await?;
    Ok(Built {
        bundle,
        environment,
        revision,
        deployment,
    })
}

// ---- tests ----

/// A project-only member builds and deploys in project X, is NOT_FOUND on
/// project Y's bundles (and everything under them) and does not see them
/// (nor organization-wide ones) in lists; organization-level writes are
/// PERMISSION_DENIED to them; a bundle cannot be created under a missing
/// project, nor moved where the caller may not change bundles.
async fn a_project_only_member_builds_and_deploys_in_their_project_only(backend: Backend) {
    let server = dev_server(backend, &[]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    let x = server.create_project(&owner, &org, "x").await.name;
    let y = server.create_project(&owner, &org, "y").await.name;
    let (repo, org_wide) = setup::repository_and_bundle(&server, &owner, &org).await;
    let contractor = server
        .add_project_member(&owner, &org, "contractor@example.com", &x, "member")
        .await;

    // Builds and deploys in X.
    let in_x = build_and_deploy(&server, &contractor, &org, &repo.name, &x, 1)
        .await
        .expect("a member on X builds and deploys X's bundles");
    assert_eq!(in_x.bundle.project, x);
    let op = get_operation(&server, &contractor, &in_x.deployment.operation)
        .await
        .unwrap();
    assert_eq!(op.state, ipb::OperationState::Queued as i32);
    server
        .operations(&contractor)
        .cancel_operation(ipb::CancelOperationRequest {
            name: in_x.revision.build_operation.clone(),
        })
        .await
        .expect("cancels X's operations");
    server
        .deployments(&contractor)
        .redeploy_environment(ipb::RedeployEnvironmentRequest {
            environment: in_x.environment.name.clone(),
            ..Default::default()
        })
        .await
        .expect_err("nothing active to redeploy yet (but authorized)");

    // Y's bundle, built and deployed by the owner: NOT_FOUND to the
    // contractor, whatever the method.
    let in_y = build_and_deploy(&server, &owner, &org, &repo.name, &y, 2)
        .await
        .unwrap();
    assert_code(
        get_bundle(&server, &contractor, &in_y.bundle.name).await,
        Code::NotFound,
        "Y's bundle",
    );
    assert_code(
        get_bundle(&server, &contractor, &org_wide.name).await,
        Code::PermissionDenied,
        "an organization-wide bundle needs an organization role",
    );
    assert_code(
        server
            .environments(&contractor)
            .get_environment(ipb::GetEnvironmentRequest {
                name: in_y.environment.name.clone(),
            })
            .await,
        Code::NotFound,
        "Y's environment",
    );
    assert_code(
        server
            .revisions(&contractor)
            .get_revision(ipb::GetRevisionRequest {
                name: in_y.revision.name.clone(),
            })
            .await,
        Code::NotFound,
        "Y's revision",
    );
    assert_code(
        server
            .deployments(&contractor)
            .get_deployment(ipb::GetDeploymentRequest {
                name: in_y.deployment.name.clone(),
            })
            .await,
        Code::NotFound,
        "Y's deployment",
    );
    assert_code(
        get_operation(&server, &contractor, &in_y.deployment.operation).await,
        Code::NotFound,
        "Y's operation",
    );
    assert_code(
        server
            .operations(&contractor)
            .cancel_operation(ipb::CancelOperationRequest {
                name: in_y.deployment.operation.clone(),
            })
            .await,
        Code::NotFound,
        "cancelling Y's operation",
    );
    assert_code(
        create_revision(&server, &contractor, &org, &in_y.bundle.name, 9).await,
        Code::NotFound,
        "building Y's bundle",
    );
    assert_code(
        create_environment(&server, &contractor, &org, &in_y.bundle.name).await,
        Code::NotFound,
        "an environment of Y's bundle",
    );
    assert_code(
        create_deployment(
            &server,
            &contractor,
            &org,
            &in_y.environment.name,
            &in_y.revision.name,
        )
        .await,
        Code::NotFound,
        "deploying into Y",
    );
    assert_code(
        create_bundle(&server, &contractor, &org, &repo.name, &y, "in-y").await,
        Code::NotFound,
        "a bundle in Y",
    );
    // Moving X's bundle to Y needs the right in Y too.
    assert_code(
        server
            .bundles(&contractor)
            .update_bundle(ipb::UpdateBundleRequest {
                bundle: Some(ipb::Bundle {
                    name: in_x.bundle.name.clone(),
                    project: y.clone(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["project".into()],
                }),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "moving X's bundle into Y",
    );

    // Organization-level writes: PERMISSION_DENIED.
    assert_code(
        create_bundle(&server, &contractor, &org, &repo.name, "", "org-wide").await,
        Code::PermissionDenied,
        "an organization-wide bundle",
    );
    assert_code(
        server
            .channels(&contractor)
            .create_notification_channel(ipb::CreateNotificationChannelRequest {
                parent: org.clone(),
                notification_channel: Some(ipb::NotificationChannel {
                    display_name: "hook".into(),
                    kind: ipb::NotificationChannelKind::Webhook.into(),
                    url: "https://93.184.216.34/hook".into(),
                    enabled: true,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "a notification channel",
    );
    assert_code(
        setup::link(
            &server,
            &contractor,
            &org,
            &repo.git_connection,
            "acme/other",
        )
        .await,
        Code::PermissionDenied,
        "linking a repository",
    );

    // Lists: the contractor sees X's alone, the owner everything.
    assert_eq!(
        listed(&server, &contractor, &org).await.unwrap(),
        in_x.names()
    );
    let everything = listed(&server, &owner, &org).await.unwrap();
    for name in in_x.names().iter().chain(&in_y.names()) {
        assert!(everything.contains(name), "the owner lists {name}");
    }
    assert!(everything.contains(&org_wide.name));

    // A project that does not exist (or another organization's) is
    // NOT_FOUND / INVALID_ARGUMENT naming the field.
    let missing = format!("{org}/projects/{}", uuid::Uuid::now_v7());
    assert_code(
        create_bundle(&server, &owner, &org, &repo.name, &missing, "nowhere").await,
        Code::NotFound,
        "a bundle in a missing project",
    );
    // A stranger: NOT_FOUND everywhere.
    let stranger = server.account_token("stranger@example.com");
    server.verified_org(&stranger, "Other").await;
    assert_code(
        get_bundle(&server, &stranger, &in_x.bundle.name).await,
        Code::NotFound,
        "a stranger",
    );
    server.stop().await;
}

/// Deleting project X hides its bundles and everything under them (owner
/// included), ends their unfinished operations (a queued deploy is
/// cancelled, a running build's worker hears the cancel); restoring X
/// brings them back.
async fn bundles_hide_with_their_project_and_return_when_it_is_restored(backend: Backend) {
    let server = dev_server(backend, &[]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    let x = server.create_project(&owner, &org, "x").await.name;
    let (repo, org_wide) = setup::repository_and_bundle(&server, &owner, &org).await;
    // The build is claimed (RUNNING) before X goes; the deploy stays queued.
    let bundle = create_bundle(&server, &owner, &org, &repo.name, &x, "svc/x")
        .await
        .unwrap();
    let revision = create_revision(&server, &owner, &org, &bundle.name, 1)
        .await
        .unwrap();
    let mut worker = server.workers(&server.service_token("worker"));
    let claimed = worker
        .claim_operation(ipb::ClaimOperationRequest {
            worker: "w1".into(),
            kinds: vec![ipb::OperationKind::Build.into()],
            lease_duration: Some(prost_types::Duration {
                seconds: 60,
                nanos: 0,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        claimed.operation.as_ref().unwrap().name,
        revision.build_operation
    );
    let environment = create_environment(&server, &owner, &org, &bundle.name)
        .await
        .unwrap();
    let deployment = create_deployment(&server, &owner, &org, &environment.name, &revision.name)
        .await
        .unwrap();
    let built = Built {
        bundle,
        environment,
        revision,
        deployment,
    };
    let before = listed(&server, &owner, &org).await.unwrap();
    for name in built.names() {
        assert!(before.contains(&name));
    }

    server
        .projects(&owner)
        .delete_project(pb::DeleteProjectRequest {
            name: x.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    eventually("X's bundle hidden", || async {
        matches!(get_bundle(&server, &owner, &built.bundle.name).await, Err(s) if s.code() == Code::NotFound)
            .then_some(())
    })
    .await;
    assert_code(
        server
            .environments(&owner)
            .get_environment(ipb::GetEnvironmentRequest {
                name: built.environment.name.clone(),
            })
            .await,
        Code::NotFound,
        "a hidden environment",
    );
    assert_code(
        server
            .deployments(&owner)
            .get_deployment(ipb::GetDeploymentRequest {
                name: built.deployment.name.clone(),
            })
            .await,
        Code::NotFound,
        "a hidden deployment",
    );
    assert_code(
        get_operation(&server, &owner, &built.deployment.operation).await,
        Code::NotFound,
        "a hidden operation",
    );
    assert_code(
        create_revision(&server, &owner, &org, &built.bundle.name, 2).await,
        Code::NotFound,
        "building a hidden bundle",
    );
    let hidden = listed(&server, &owner, &org).await.unwrap();
    for name in built.names() {
        assert!(
            !hidden.contains(&name),
            "{name} is listed while X is deleted"
        );
    }
    assert!(hidden.contains(&org_wide.name), "other bundles stay");
    // The running build's worker hears the cancel at its next report.
    let heard = eventually("the cancel reaches the worker", || {
        let mut worker = worker.clone();
        let claimed = claimed.clone();
        async move {
            let reported = worker
                .report_progress(ipb::ReportProgressRequest {
                    name: claimed.operation.as_ref().unwrap().name.clone(),
                    lease_id: claimed.lease_id.clone(),
                    progress_percent: 50,
                    logs_url: String::new(),
                })
                .await
                .unwrap()
                .into_inner();
            reported.cancelled.then_some(reported)
        }
    })
    .await;
    assert!(heard.cancelled);
    // Nothing of X is left for workers to claim.
    let next = worker
        .claim_operation(ipb::ClaimOperationRequest {
            worker: "w2".into(),
            kinds: vec![],
            lease_duration: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        next.operation
            .as_ref()
            .is_none_or(|o| !built.names().contains(&o.name)),
        "a deleted project's operation was claimed: {next:?}"
    );

    server
        .projects(&owner)
        .undelete_project(pb::UndeleteProjectRequest {
            name: x.clone(),
            validate_only: false,
        })
        .await
        .unwrap();
    eventually("X's bundle back", || async {
        get_bundle(&server, &owner, &built.bundle.name).await.ok()
    })
    .await;
    let after = listed(&server, &owner, &org).await.unwrap();
    assert_eq!(after, before, "everything is back, in place");
    for op in [&built.revision.build_operation, &built.deployment.operation] {
        let op = get_operation(&server, &owner, op).await.unwrap();
        assert_eq!(
            op.state,
            ipb::OperationState::Cancelled as i32,
            "ended operations stay ended: {op:?}"
        );
    }
    server.stop().await;
}

/// A purged project takes its bundles and everything under them (and
/// `max_bundles` counts them no more); a purged organization leaves no row
/// of it in any integrations table; both are audited as
/// `service:integrations`.
async fn purges_delete_a_projects_bundles_and_everything_of_an_organization(backend: Backend) {
    let server = dev_server(backend, &["--deleted-retention=2s", "--purge-interval=1s"]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    let org_id = id_of(&org);
    server
        .set_capabilities(&org, &[("max_bundles", 3)], &[])
        .await;
    let x = server.create_project(&owner, &org, "x").await.name;
    let y = server.create_project(&owner, &org, "y").await.name;
    let (repo, _org_wide) = setup::repository_and_bundle(&server, &owner, &org).await;
    let in_x = build_and_deploy(&server, &owner, &org, &repo.name, &x, 1)
        .await
        .unwrap();
    let in_y = build_and_deploy(&server, &owner, &org, &repo.name, &y, 2)
        .await
        .unwrap();
    assert_code(
        create_bundle(&server, &owner, &org, &repo.name, &y, "fourth").await,
        Code::ResourceExhausted,
        "max_bundles",
    );

    // Project X is deleted and purged.
    let db = Database::connect(&server.integrations_database_url())
        .await
        .unwrap();
    let x_id = id_of(&x);
    let secret_rows = format!(
        "SELECT COUNT(*) AS n FROM environment_variables WHERE environment_id = '{}'",
        id_of(&in_x.environment.name)
    );
    assert_eq!(count(&db, secret_rows.clone()).await, 2);
    server
        .projects(&owner)
        .delete_project(pb::DeleteProjectRequest {
            name: x.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    eventually("X's bundles purged", || async {
        let left = rows_mentioning(&db, &x_id).await;
        left.is_empty().then_some(())
    })
    .await;
    for name in [
        &in_x.bundle.name,
        &in_x.environment.name,
        &in_x.revision.name,
        &in_x.deployment.name,
        &in_x.revision.build_operation,
        &in_x.deployment.operation,
    ] {
        assert!(
            rows_mentioning(&db, &id_of(name)).await.is_empty(),
            "{name} is still stored after X's purge"
        );
    }
    assert_eq!(count(&db, secret_rows).await, 0, "secret values went too");
    // Y is untouched, and a bundle fits again under max_bundles.
    assert_eq!(
        get_bundle(&server, &owner, &in_y.bundle.name)
            .await
            .unwrap()
            .project,
        y
    );
    create_bundle(&server, &owner, &org, &repo.name, &y, "third-again")
        .await
        .expect("a purged project's bundles no longer count");

    // Everything else an organization can have here: a pending OAuth
    // state, a monitoring source, a channel with a delivered notification.
    let fake =
        loopback_tests::fakes::FakeProvider::start(loopback_tests::fakes::Flavor::GitLab).await;
    setup::configure(&server, &fake).await;
    setup::begin(
        &server,
        &owner,
        &org,
        loopback_tests::fakes::Flavor::GitLab,
        "",
    )
    .await
    .unwrap();
    server
        .monitoring(&owner)
        .create_monitoring_source(ipb::CreateMonitoringSourceRequest {
            parent: org.clone(),
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
        .unwrap();
    let receiver = WebhookReceiver::start().await;
    let channel = server
        .channels(&owner)
        .create_notification_channel(ipb::CreateNotificationChannelRequest {
            parent: org.clone(),
            notification_channel: Some(ipb::NotificationChannel {
                display_name: "hook".into(),
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
    server
        .notify(&server.service_token("billing"))
        .notify(ipb::NotifyRequest {
            organization: org.clone(),
            event: Some(ipb::NotificationEvent {
                id: "invoice-1".into(),
                r#type: ipb::NotificationEventType::InvoiceFinalized.into(),
                subject: "an invoice".into(),
                message: "details".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    receiver.wait_for(20, |r| !r.is_empty()).await;
    // Let the delivery's bookkeeping settle before the organization goes.
    eventually("the delivery is recorded", || async {
        let attempts = count(
            &db,
            format!(
                "SELECT COUNT(*) AS n FROM delivery_attempts WHERE organization_id = '{org_id}'"
            ),
        )
        .await;
        (attempts > 0).then_some(())
    })
    .await;
    // The outbox relays (and then forgets) audit records: it may be empty.
    assert_covers_every_table(&db, &org_id, &["kit_audit_outbox"]).await;

    // Another organization, with a bundle (and its Git connection and
    // repository) and a monitoring source: its purge must not touch them.
    let other_owner = server.account_token("other@example.com");
    let other = server.verified_org(&other_owner, "Other").await.name;
    let (_other_repo, other_bundle) =
        setup::repository_and_bundle(&server, &other_owner, &other).await;
    server
        .monitoring(&other_owner)
        .create_monitoring_source(ipb::CreateMonitoringSourceRequest {
            parent: other.clone(),
            monitoring_source: Some(ipb::MonitoringSource {
                r#type: "http_probe".into(),
                display_name: "other site".into(),
                endpoint: "https://93.184.216.34/health".into(),
                enabled: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    // The outbox relays (and then forgets) audit records: leave it out.
    let others_rows = || async {
        let mut rows = rows_mentioning(&db, &id_of(&other)).await;
        rows.remove("kit_audit_outbox");
        rows
    };
    let others_before = others_rows().await;
    for table in [
        "bundles",
        "git_connections",
        "repositories",
        "monitoring_sources",
    ] {
        assert!(others_before.contains_key(table), "{others_before:?}");
    }

    // The organization goes.
    server
        .orgs(&owner)
        .delete_organization(pb::DeleteOrganizationRequest {
            name: org.clone(),
            force: true,
            ..Default::default()
        })
        .await
        .unwrap();
    eventually(
        "nothing of the organization left in integrations",
        || async {
            let left = rows_mentioning(&db, &org_id).await;
            left.is_empty().then_some(())
        },
    )
    .await;
    // The other organization's rows are all still there.
    assert_eq!(others_rows().await, others_before);
    get_bundle(&server, &other_owner, &other_bundle.name)
        .await
        .expect("another organization's bundle stays");
    // Deployment-wide configuration stays.
    assert!(count(&db, "SELECT COUNT(*) AS n FROM git_providers").await >= 1);
    // Both purges reached the organization's audit log.
    let audit = server.audit(&server.operator_token());
    eventually("integrations' purge records", || {
        let org = org.clone();
        let mut audit = audit.clone();
        async move {
            let events = audit
                .list_audit_events(pb::ListAuditEventsRequest {
                    parent: org,
                    page_size: 1000,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .audit_events;
            let by_integrations = |method: &str| {
                events.iter().any(|e| {
                    e.service == "integrations"
                        && e.method == method
                        && e.actor == "service:integrations"
                })
            };
            (by_integrations("PurgeProject") && by_integrations("PurgeOrganization")).then_some(())
        }
    })
    .await;
    server.stop().await;
}

/// integrations is down while org-core purges an organization, and the feed
/// forgets the purge before it is back: it reconciles at start and deletes
/// everything of the organization.
async fn integrations_down_during_a_purge_reconciles_at_start(backend: Backend) {
    let server =
        TestServer::start_with(backend, &["--deleted-retention=1s", "--purge-interval=1s"]).await;
    // A standalone integrations on a database of its own (the in-process
    // one never sees this organization's data).
    let url = match backend {
        Backend::Sqlite => {
            loopback_runtime::db::sqlite_url(&server.data_dir(), "standalone-integrations.db")
                .unwrap()
        }
        Backend::Postgres => pg::fresh_database().await,
    };
    let flag = format!("--integrations-database-url={url}");
    let addr: std::net::SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let standalone = server.start_integrations(addr, None, &[&flag]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    let org_id = id_of(&org);
    let channel = connect_as(addr, &owner).await;
    let mut monitoring =
        ipb::monitoring_service_client::MonitoringServiceClient::new(channel.clone());
    let mut channels =
        ipb::notification_channel_service_client::NotificationChannelServiceClient::new(channel);
    eventually("the standalone integrations answers", || {
        let mut monitoring = monitoring.clone();
        let org = org.clone();
        async move {
            monitoring
                .create_monitoring_source(ipb::CreateMonitoringSourceRequest {
                    parent: org,
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
                .ok()
        }
    })
    .await;
    channels
        .create_notification_channel(ipb::CreateNotificationChannelRequest {
            parent: org.clone(),
            notification_channel: Some(ipb::NotificationChannel {
                display_name: "hook".into(),
                kind: ipb::NotificationChannelKind::Webhook.into(),
                url: "https://93.184.216.34/hook".into(),
                enabled: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let db = Database::connect(&url).await.unwrap();
    let held = rows_mentioning(&db, &org_id).await;
    assert!(
        held.contains_key("monitoring_sources") && held.contains_key("notification_channels"),
        "{held:?}"
    );
    monitoring
        .list_monitoring_sources(ipb::ListMonitoringSourcesRequest {
            parent: org.clone(),
            ..Default::default()
        })
        .await
        .unwrap();

    // integrations goes down; the organization is deleted and purged.
    standalone.stop().await.unwrap();
    server
        .orgs(&owner)
        .delete_organization(pb::DeleteOrganizationRequest {
            name: org.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    eventually("the purge", || async {
        let gone = server
            .orgs(&server.operator_token())
            .get_organization(pb::GetOrganizationRequest { name: org.clone() })
            .await;
        matches!(gone, Err(s) if s.code() == Code::NotFound).then_some(())
    })
    .await;
    // The feed forgets the purge: only the reconciliation can tell.
    server.create_org(&owner, "Later").await;
    server
        .service::<loopback_org_core::OrgCore>()
        .compact_changes(chrono::Duration::zero())
        .await
        .unwrap();
    assert!(!rows_mentioning(&db, &org_id).await.is_empty());

    // integrations returns (same database) and reconciles at start.
    let standalone = server.start_integrations(addr, None, &[&flag]).await;
    eventually("integrations reconciles", || async {
        rows_mentioning(&db, &org_id).await.is_empty().then_some(())
    })
    .await;
    standalone.stop().await.unwrap();
    server.stop().await;
}

backend_tests!(
    a_project_only_member_builds_and_deploys_in_their_project_only,
    bundles_hide_with_their_project_and_return_when_it_is_restored,
    purges_delete_a_projects_bundles_and_everything_of_an_organization,
    integrations_down_during_a_purge_reconciles_at_start,
);
