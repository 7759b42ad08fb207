//! Acceptance: capability limits hold under concurrency (DESIGN.md §5).
//! 50 concurrent CreateProject calls against `max_projects = 10` yield
//! exactly 10 projects and 40 LIMIT_REACHED, on SQLite and PostgreSQL.

use loopback_proto::orgcore::v1 as pb;
use loopback_tests::{Backend, TestServer, backend_tests, metadata, reason};
use tonic::Code;

fn new_project(parent: &str, i: usize) -> pb::CreateProjectRequest {
    pb::CreateProjectRequest {
        parent: parent.into(),
        project: Some(pb::Project {
            display_name: format!("project {i}"),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn set_limit(server: &TestServer, org: &str, key: &str, value: i64) {
    server
        .operator(&server.operator_token())
        .set_capabilities(pb::SetCapabilitiesRequest {
            name: org.into(),
            capabilities: Some(loopback_proto::r#type::v1::Capabilities {
                limits: [(key.to_string(), value)].into(),
                flags: Default::default(),
                ..Default::default()
            }),
            reason: "plan".into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

async fn list_all(server: &TestServer, token: &str, org: &str) -> Vec<pb::Project> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = server
            .projects(token)
            .list_projects(pb::ListProjectsRequest {
                parent: org.into(),
                page_size: 7,
                page_token: page_token.clone(),
                show_deleted: false,
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(page.projects);
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

async fn fifty_concurrent_creates_against_ten_yield_exactly_ten(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    set_limit(&server, &org.name, "max_projects", 10).await;

    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(
            loopback_proto::orgcore::v1::project_service_client::ProjectServiceClient::new(
                server.own_connection(&owner).await,
            ),
        );
    }
    // Start all 50 at once from separate connections.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(50));
    let calls = clients.into_iter().enumerate().map(|(i, mut client)| {
        let req = new_project(&org.name, i);
        let barrier = barrier.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            client.create_project(req).await
        })
    });
    let results: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(ok, 10, "exactly the limit succeeds: {refused:?}");
    assert_eq!(refused.len(), 40);
    for err in refused {
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        assert_eq!(reason(err).as_deref(), Some("LIMIT_REACHED"));
        let meta = metadata(err);
        assert_eq!(meta["limit"], "max_projects");
        assert_eq!(meta["limit_value"], "10");
        assert_eq!(meta["usage"], "10");
        use tonic_types::StatusExt as _;
        assert!(
            err.get_details_quota_failure().is_some(),
            "QuotaFailure detail"
        );
    }
    assert_eq!(list_all(&server, &owner, &org.name).await.len(), 10);
    server.stop().await;
}

async fn deleting_a_project_frees_its_unit_and_undelete_counts_again(backend: Backend) {
    let server = TestServer::start_with(backend, &["--default-limit=max_projects=2"]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let mut projects = server.projects(&owner);
    let a = projects
        .create_project(new_project(&org.name, 1))
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    projects
        .create_project(new_project(&org.name, 2))
        .await
        .unwrap();
    let err = projects
        .create_project(new_project(&org.name, 3))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    // validate_only runs the limit check too.
    let mut dry = new_project(&org.name, 3);
    dry.validate_only = true;
    assert_eq!(
        projects.create_project(dry).await.unwrap_err().code(),
        Code::ResourceExhausted
    );

    projects
        .delete_project(pb::DeleteProjectRequest {
            name: a.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let c = projects
        .create_project(new_project(&org.name, 3))
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    // Now full again: undeleting `a` would exceed the limit.
    let err = projects
        .undelete_project(pb::UndeleteProjectRequest {
            name: a.name.clone(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    projects
        .delete_project(pb::DeleteProjectRequest {
            name: c.name,
            ..Default::default()
        })
        .await
        .unwrap();
    let back = projects
        .undelete_project(pb::UndeleteProjectRequest {
            name: a.name.clone(),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    assert_eq!(back.state(), loopback_proto::r#type::v1::State::Active);
    assert!(back.delete_time.is_none());
    server.stop().await;
}

async fn deployment_default_limit_applies_until_an_operator_overrides_it(backend: Backend) {
    let server = TestServer::start_with(backend, &["--default-limit=max_projects=1"]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    assert_eq!(org.capabilities.as_ref().unwrap().limits["max_projects"], 1);
    let mut projects = server.projects(&owner);
    projects
        .create_project(new_project(&org.name, 1))
        .await
        .unwrap();
    assert_eq!(
        projects
            .create_project(new_project(&org.name, 2))
            .await
            .unwrap_err()
            .code(),
        Code::ResourceExhausted
    );
    set_limit(&server, &org.name, "max_projects", 3).await;
    projects
        .create_project(new_project(&org.name, 2))
        .await
        .unwrap();
    // Resetting the override brings the default back.
    let org = server
        .operator(&server.operator_token())
        .set_capabilities(pb::SetCapabilitiesRequest {
            name: org.name.clone(),
            reset_keys: vec!["max_projects".into()],
            reason: "downgrade".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    assert_eq!(org.capabilities.unwrap().limits["max_projects"], 1);
    assert_eq!(
        projects
            .create_project(new_project(&org.name, 3))
            .await
            .unwrap_err()
            .code(),
        Code::ResourceExhausted
    );
    server.stop().await;
}

backend_tests!(
    fifty_concurrent_creates_against_ten_yield_exactly_ten,
    deleting_a_project_frees_its_unit_and_undelete_counts_again,
    deployment_default_limit_applies_until_an_operator_overrides_it,
);
