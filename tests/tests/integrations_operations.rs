//! Acceptance (integrations, operations): two workers racing to claim 100
//! operations run each exactly once; a worker that dies loses its lease and
//! the operation runs again elsewhere; a cancel reaches the worker at its
//! next report. Deploy, redeploy and rollback keep exactly one ACTIVE
//! deployment per environment under concurrent requests.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use loopback_proto::integrations::v1 as ipb;
use loopback_tests::setup::{self, dev_server, sha};
use loopback_tests::{Backend, TestServer, backend_tests, reason};
use tonic::Code;

fn lease(secs: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: secs,
        nanos: 0,
    })
}

async fn revision(
    server: &TestServer,
    token: &str,
    org: &str,
    bundle: &str,
    n: u32,
) -> ipb::Revision {
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
        .unwrap()
        .into_inner()
        .revision
        .unwrap()
}

async fn claim(
    workers: &mut ipb::operation_worker_service_client::OperationWorkerServiceClient<
        loopback_tests::Authed,
    >,
    worker: &str,
    secs: i64,
) -> ipb::ClaimOperationResponse {
    workers
        .claim_operation(ipb::ClaimOperationRequest {
            worker: worker.into(),
            kinds: vec![],
            lease_duration: lease(secs),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn complete(
    workers: &mut ipb::operation_worker_service_client::OperationWorkerServiceClient<
        loopback_tests::Authed,
    >,
    claimed: &ipb::ClaimOperationResponse,
    result: ipb::OperationState,
) -> Result<ipb::Operation, tonic::Status> {
    workers
        .complete_operation(ipb::CompleteOperationRequest {
            name: claimed.operation.as_ref().unwrap().name.clone(),
            lease_id: claimed.lease_id.clone(),
            result: result.into(),
            error_message: if result == ipb::OperationState::Failed {
                "boom".into()
            } else {
                String::new()
            },
            logs_url: "https://logs.example.com/run".into(),
        })
        .await
        .map(|r| r.into_inner().operation.unwrap())
}

async fn two_workers_run_each_of_100_operations_exactly_once(backend: Backend) {
    let server = dev_server(backend, &[]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let (_, bundle) = setup::repository_and_bundle(&server, &owner, &org.name).await;
    for n in 0..100 {
        revision(&server, &owner, &org.name, &bundle.name, n).await;
    }

    let run = |worker: &'static str| {
        let server = &server;
        async move {
            let channel = server.own_connection(&server.service_token(worker)).await;
            let mut workers =
                ipb::operation_worker_service_client::OperationWorkerServiceClient::new(channel);
            let mut ran = Vec::new();
            loop {
                let claimed = claim(&mut workers, worker, 30).await;
                let Some(op) = &claimed.operation else { break };
                assert_eq!(op.state, ipb::OperationState::Running as i32);
                assert_eq!(claimed.work.as_ref().unwrap().repository, "acme/web");
                assert_eq!(claimed.work.as_ref().unwrap().path, "services/web");
                ran.push(op.name.clone());
                let done = complete(&mut workers, &claimed, ipb::OperationState::Succeeded)
                    .await
                    .unwrap();
                assert_eq!(done.state, ipb::OperationState::Succeeded as i32);
            }
            ran
        }
    };
    let (a, b) = tokio::join!(run("worker-a"), run("worker-b"));
    let all: BTreeSet<String> = a.iter().chain(&b).cloned().collect();
    assert_eq!(a.len() + b.len(), 100, "every operation ran exactly once");
    assert_eq!(all.len(), 100);
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both workers got work: {} / {}",
        a.len(),
        b.len()
    );
    let ops = server
        .operations(&owner)
        .list_operations(ipb::ListOperationsRequest {
            parent: org.name.clone(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .operations;
    assert_eq!(ops.len(), 100);
    assert!(
        ops.iter()
            .all(|o| o.state == ipb::OperationState::Succeeded as i32
                && o.attempt == 1
                && o.progress_percent == 100)
    );

    // A worker that dies loses its lease; the operation runs again.
    let rev = revision(&server, &owner, &org.name, &bundle.name, 1000).await;
    let mut a = server.workers(&server.service_token("worker-a"));
    let mut b = server.workers(&server.service_token("worker-b"));
    let first = claim(&mut a, "worker-a", 1).await;
    assert_eq!(first.operation.as_ref().unwrap().name, rev.build_operation);
    assert!(
        claim(&mut b, "worker-b", 30).await.operation.is_none(),
        "held while the lease lasts"
    );
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let second = claim(&mut b, "worker-b", 30).await;
    let op = second.operation.as_ref().unwrap();
    assert_eq!(op.name, rev.build_operation);
    assert_eq!(op.attempt, 2);
    let err = a
        .report_progress(ipb::ReportProgressRequest {
            name: op.name.clone(),
            lease_id: first.lease_id.clone(),
            progress_percent: 50,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("LEASE_LOST"));
    assert_eq!(
        complete(&mut a, &first, ipb::OperationState::Succeeded)
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    complete(&mut b, &second, ipb::OperationState::Succeeded)
        .await
        .unwrap();

    // A cancel reaches the worker at its next report.
    let rev = revision(&server, &owner, &org.name, &bundle.name, 1001).await;
    let running = claim(&mut b, "worker-b", 30).await;
    let reported = b
        .report_progress(ipb::ReportProgressRequest {
            name: rev.build_operation.clone(),
            lease_id: running.lease_id.clone(),
            progress_percent: 10,
            logs_url: "https://logs.example.com/1001".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!reported.cancelled);
    let cancelled = server
        .operations(&owner)
        .cancel_operation(ipb::CancelOperationRequest {
            name: rev.build_operation.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .operation
        .unwrap();
    assert_eq!(cancelled.state, ipb::OperationState::Running as i32);
    assert!(cancelled.cancel_requested);
    let reported = b
        .report_progress(ipb::ReportProgressRequest {
            name: rev.build_operation.clone(),
            lease_id: running.lease_id.clone(),
            progress_percent: 20,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(reported.cancelled, "the worker hears about the cancel");
    let waited = server
        .operations(&owner)
        .wait_operation(ipb::WaitOperationRequest {
            name: rev.build_operation.clone(),
            timeout: lease(5),
        })
        .await
        .unwrap()
        .into_inner()
        .operation
        .unwrap();
    assert_eq!(waited.state, ipb::OperationState::Cancelled as i32);
    assert_eq!(waited.logs_url, "https://logs.example.com/1001");

    // A queued operation is cancelled at once; a done one cannot be.
    let rev = revision(&server, &owner, &org.name, &bundle.name, 1002).await;
    let op = server
        .operations(&owner)
        .cancel_operation(ipb::CancelOperationRequest {
            name: rev.build_operation.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .operation
        .unwrap();
    assert_eq!(op.state, ipb::OperationState::Cancelled as i32);
    let err = server
        .operations(&owner)
        .cancel_operation(ipb::CancelOperationRequest {
            name: rev.build_operation.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("OPERATION_DONE"));
    // Accounts cannot claim.
    let err = server
        .workers(&owner)
        .claim_operation(ipb::ClaimOperationRequest {
            worker: "me".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    server.stop().await;
}

/// Claims and completes every operation (deploys succeed) until `stop`.
async fn worker(server: &TestServer, name: &'static str, stop: Arc<AtomicBool>) {
    let channel = server.own_connection(&server.service_token(name)).await;
    let mut workers =
        ipb::operation_worker_service_client::OperationWorkerServiceClient::new(channel);
    while !stop.load(Ordering::SeqCst) {
        let claimed = claim(&mut workers, name, 30).await;
        if claimed.operation.is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        complete(&mut workers, &claimed, ipb::OperationState::Succeeded)
            .await
            .unwrap();
    }
}

async fn deployments(
    server: &TestServer,
    token: &str,
    org: &str,
    env: &str,
) -> Vec<ipb::Deployment> {
    server
        .deployments(token)
        .list_deployments(ipb::ListDeploymentsRequest {
            parent: org.into(),
            environment: env.into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .deployments
}

/// Waits until no deployment of `env` is PENDING; returns them.
async fn settled(server: &TestServer, token: &str, org: &str, env: &str) -> Vec<ipb::Deployment> {
    for _ in 0..400 {
        let all = deployments(server, token, org, env).await;
        if all
            .iter()
            .all(|d| d.state != ipb::DeploymentState::Pending as i32)
        {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deployments did not settle");
}

fn active(all: &[ipb::Deployment]) -> Vec<&ipb::Deployment> {
    all.iter()
        .filter(|d| d.state == ipb::DeploymentState::Active as i32)
        .collect()
}

async fn deploys_redeploys_and_rollbacks_keep_one_active_deployment(backend: Backend) {
    let server = dev_server(backend, &[]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let (_, bundle) = setup::repository_and_bundle(&server, &owner, &org.name).await;
    let env = server
        .environments(&owner)
        .create_environment(ipb::CreateEnvironmentRequest {
            parent: org.name.clone(),
            environment: Some(ipb::Environment {
                bundle: bundle.name.clone(),
                display_name: "production".into(),
                variables: vec![
                    ipb::Variable {
                        name: "LOG_LEVEL".into(),
                        value: "info".into(),
                        secret: false,
                    },
                    ipb::Variable {
                        name: "DATABASE_URL".into(),
                        value: "postgres://secret@db/x".into(),
                        secret: true,
                    },
                ],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .environment
        .unwrap();
    assert_eq!(env.variables[1].value, "", "secret values are write-only");
    let revs = [
        revision(&server, &owner, &org.name, &bundle.name, 1).await,
        revision(&server, &owner, &org.name, &bundle.name, 2).await,
        revision(&server, &owner, &org.name, &bundle.name, 3).await,
    ];
    let stop = Arc::new(AtomicBool::new(false));

    // A deploy worker sees the secret variable's value.
    let deploy = |rev: &str| {
        let (server, owner, org, env) =
            (&server, owner.clone(), org.name.clone(), env.name.clone());
        let rev = rev.to_string();
        async move {
            let channel = server.own_connection(&owner).await;
            ipb::deployment_service_client::DeploymentServiceClient::new(channel)
                .create_deployment(ipb::CreateDeploymentRequest {
                    parent: org,
                    deployment: Some(ipb::Deployment {
                        environment: env,
                        revision: rev,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .deployment
                .unwrap()
        }
    };
    let first = deploy(&revs[0].name).await;
    // Builds are queued first; drain them, then find the deploy.
    let mut w = server.workers(&server.service_token("deployer"));
    loop {
        let claimed = claim(&mut w, "deployer", 30).await;
        let op = claimed.operation.clone().unwrap();
        if op.kind == ipb::OperationKind::Deploy as i32 {
            let work = claimed.work.clone().unwrap();
            assert_eq!(work.environment, env.name);
            let db = work
                .variables
                .iter()
                .find(|v| v.name == "DATABASE_URL")
                .unwrap();
            assert_eq!(db.value, "postgres://secret@db/x");
            assert!(db.secret);
            complete(&mut w, &claimed, ipb::OperationState::Succeeded)
                .await
                .unwrap();
            break;
        }
        complete(&mut w, &claimed, ipb::OperationState::Succeeded)
            .await
            .unwrap();
    }
    let all = settled(&server, &owner, &org.name, &env.name).await;
    assert_eq!(active(&all).len(), 1);
    assert_eq!(active(&all)[0].name, first.name);

    let scenario = async {
        // Ten concurrent deploys of three revisions.
        let made = futures::future::join_all((0..10).map(|i| deploy(&revs[i % 3].name))).await;
        let all = settled(&server, &owner, &org.name, &env.name).await;
        let now_active = active(&all);
        assert_eq!(now_active.len(), 1, "{all:#?}");
        let newest = made.iter().map(|d| d.name.clone()).max().unwrap();
        assert_eq!(now_active[0].name, newest, "the newest deployment wins");

        // Concurrent redeploys and rollbacks.
        let redeploys = (0..5).map(|_| {
            let (server, owner, env) = (&server, owner.clone(), env.name.clone());
            async move {
                let channel = server.own_connection(&owner).await;
                ipb::deployment_service_client::DeploymentServiceClient::new(channel)
                    .redeploy_environment(ipb::RedeployEnvironmentRequest {
                        environment: env,
                        request_id: String::new(),
                    })
                    .await
                    .map(|r| r.into_inner().deployment.unwrap())
            }
        });
        let rollbacks = (0..5).map(|i| {
            let (server, owner, env) = (&server, owner.clone(), env.name.clone());
            let revision = if i % 2 == 0 {
                revs[0].name.clone()
            } else {
                String::new()
            };
            async move {
                let channel = server.own_connection(&owner).await;
                ipb::deployment_service_client::DeploymentServiceClient::new(channel)
                    .rollback_environment(ipb::RollbackEnvironmentRequest {
                        environment: env,
                        revision,
                        request_id: String::new(),
                    })
                    .await
                    .map(|r| r.into_inner().deployment.unwrap())
            }
        });
        let (r1, r2) = tokio::join!(
            futures::future::join_all(redeploys),
            futures::future::join_all(rollbacks)
        );
        for r in r1.iter().chain(&r2) {
            r.as_ref().unwrap();
        }
        let all = settled(&server, &owner, &org.name, &env.name).await;
        assert_eq!(active(&all).len(), 1, "{all:#?}");
        let got = server
            .environments(&owner)
            .get_environment(ipb::GetEnvironmentRequest {
                name: env.name.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .environment
            .unwrap();
        assert_eq!(got.active_deployment, active(&all)[0].name);

        // Rollback without a revision goes back to the one before.
        let d2 = deploy(&revs[1].name).await;
        settled(&server, &owner, &org.name, &env.name).await;
        let d3 = deploy(&revs[2].name).await;
        let all = settled(&server, &owner, &org.name, &env.name).await;
        assert_eq!(active(&all)[0].name, d3.name);
        let back = server
            .deployments(&owner)
            .rollback_environment(ipb::RollbackEnvironmentRequest {
                environment: env.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .deployment
            .unwrap();
        assert_eq!(back.revision, d2.revision);
        let all = settled(&server, &owner, &org.name, &env.name).await;
        assert_eq!(active(&all).len(), 1);
        assert_eq!(active(&all)[0].name, back.name);

        stop.store(true, Ordering::SeqCst);
    };
    tokio::join!(
        scenario,
        worker(&server, "worker-a", Arc::clone(&stop)),
        worker(&server, "worker-b", Arc::clone(&stop)),
    );
    server.stop().await;
}

backend_tests!(
    two_workers_run_each_of_100_operations_exactly_once,
    deploys_redeploys_and_rollbacks_keep_one_active_deployment,
);
