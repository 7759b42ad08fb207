//! Acceptance (org-core round two, 4: purge and feed compaction), on SQLite
//! and PostgreSQL:
//!
//! - an organization with everything org-core and billing hold for one,
//!   force-deleted with a retention of seconds, is purged by the job: no
//!   org-core table holds a row naming it or its projects (the audit log
//!   aside, which keeps its records and still lists them to operators),
//!   billing holds its finalized invoices and nothing else of it, and the
//!   raw feed and the client's lifecycle subscription both saw
//!   `project_purged` for each project, then `purged`;
//! - a project deleted on its own is purged after its retention (its
//!   bindings, the roles invites offered on it and its request ids go; the
//!   organization is untouched);
//! - under a write loop the feed stays bounded by its retention, and a
//!   watcher that reads too slowly (or comes back from an old revision)
//!   gets `resync`, never a silent gap;
//! - billing down during the purge reconciles when it comes back.
//!
//! The org-core check is generic: it reads the database catalog and looks
//! for the organization's and projects' ids in every column of every table,
//! and first requires every table with an `organization_id` or `scope_id`
//! column to hold the organization's data, so a table added later without
//! a purge path (or without data here) fails this test.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike as _, TimeZone as _, Utc};
use futures::StreamExt as _;
use loopback_org_core_client::{
    AuthorityClient, Config, LifecycleChange, LifecycleEvent, ProjectLifecycle,
};
use loopback_proto::billing::v1 as bpb;
use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1 as tpb;
use loopback_runtime::auth::{Principal, PrincipalKind};
use loopback_runtime::service::{AuthorityLink, DevKeys, Host, plug};
use loopback_tests::requests::{card, legal_profile, sepa, spending_limit, update_profile};
use loopback_tests::schema::{assert_covers_every_table, count, query, rows_mentioning};
use loopback_tests::{Authed, Backend, TestServer, backend_tests, connect_as, pg};
use sea_orm::{Database, DatabaseConnection};
use tokio::sync::broadcast;
use tonic::Code;

const EVENTUALLY: Duration = Duration::from_secs(30);

/// Seconds of retention everywhere, and jobs every second.
const FAST: &[&str] = &[
    "--deleted-retention=2s",
    "--purge-interval=1s",
    "--feed-retention=2s",
    "--feed-compaction-interval=1s",
    "--price=compute.vcpu_hours=4",
];

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

// ---- the database, read generically ----

async fn kinds_on_feed(db: &DatabaseConnection, org: &str) -> Vec<(String, Option<String>)> {
    query(
        db,
        format!("SELECT kind, project_id FROM policy_changes WHERE organization_id = '{org}' ORDER BY revision"),
    )
    .await
    .iter()
    .map(|r| {
        (
            r.try_get::<String>("", "kind").unwrap(),
            r.try_get::<Option<String>>("", "project_id").unwrap(),
        )
    })
    .collect()
}

// ---- requests ----

fn bindings(list: &[(&str, &[&str])]) -> Vec<pb::ProjectRoles> {
    list.iter()
        .map(|(project, roles)| pb::ProjectRoles {
            project: project.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        })
        .collect()
}

async fn create_project(server: &TestServer, token: &str, org: &str, name: &str) -> String {
    server
        .projects(token)
        .create_project(pb::CreateProjectRequest {
            parent: org.into(),
            project: Some(pb::Project {
                display_name: name.into(),
                ..Default::default()
            }),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap()
        .name
}

async fn invite(
    server: &TestServer,
    token: &str,
    org: &str,
    email: &str,
    roles: &[&str],
    project_roles: &[(&str, &[&str])],
) -> pb::CreateInviteResponse {
    server
        .invites(token)
        .create_invite(pb::CreateInviteRequest {
            parent: org.into(),
            invite: Some(pb::Invite {
                email: email.into(),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                project_roles: bindings(project_roles),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// Invites `email` and accepts: a member with `roles` and `project_roles`.
async fn member(
    server: &TestServer,
    admin: &str,
    org: &str,
    email: &str,
    roles: &[&str],
    project_roles: &[(&str, &[&str])],
) -> pb::Member {
    let created = invite(server, admin, org, email, roles, project_roles).await;
    server
        .invites(&server.account_token(email))
        .accept_invite(pb::AcceptInviteRequest {
            invite_token: created.invite_token,
        })
        .await
        .unwrap()
        .into_inner()
        .member
        .unwrap()
}

fn usage_at(org: &str, quantity: i64, at: DateTime<Utc>) -> bpb::RecordUsageRequest {
    bpb::RecordUsageRequest {
        event: Some(bpb::UsageEvent {
            organization: org.into(),
            project: String::new(),
            meter: "compute.vcpu_hours".into(),
            quantity,
            event_time: Some(loopback_runtime::fields::timestamp(at)),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
        }),
    }
}

fn period_of(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", t.year(), t.month())
}

/// Noon on the first day of the previous month.
fn last_month() -> DateTime<Utc> {
    let now = Utc::now();
    let first = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 12, 0, 0)
        .unwrap();
    let prev = first - chrono::Duration::days(1);
    Utc.with_ymd_and_hms(prev.year(), prev.month(), 1, 12, 0, 0)
        .unwrap()
}

/// A raw watch stream from `from`.
async fn watch(
    server: &TestServer,
    from: i64,
) -> tonic::Streaming<pb::WatchOrganizationPoliciesResponse> {
    server
        .authority(&server.service_token("watcher"))
        .watch_organization_policies(pb::WatchOrganizationPoliciesRequest {
            from_revision: from,
        })
        .await
        .unwrap()
        .into_inner()
}

async fn revision_of(server: &TestServer, org: &str) -> i64 {
    server
        .authority(&server.service_token("watcher"))
        .get_organization_policy(pb::GetOrganizationPolicyRequest {
            organization: org.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap()
        .revision
}

/// The kinds (and projects) of `org`'s changes on `stream`, up to and
/// including `last`.
async fn feed_until(
    stream: &mut tonic::Streaming<pb::WatchOrganizationPoliciesResponse>,
    org: &str,
    last: &str,
) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    loop {
        let change = tokio::time::timeout(EVENTUALLY, stream.next())
            .await
            .unwrap_or_else(|_| panic!("{last} on the feed; saw {seen:?}"))
            .expect("stream open")
            .expect("no error");
        assert!(!change.resync, "a caught-up watcher never resyncs");
        if change.organization != org {
            continue;
        }
        let done = change.kind == last;
        if change.kind == "purged" {
            assert!(
                change.policy.is_none(),
                "a purged organization has no policy"
            );
        }
        seen.push((change.kind, change.project));
        if done {
            return seen;
        }
    }
}

/// An authority client (as another service uses it), caught up with `org`.
async fn subscriber(
    server: &TestServer,
    org: &str,
) -> (AuthorityClient, broadcast::Receiver<LifecycleEvent>) {
    let client = AuthorityClient::connect(Config::new(
        format!("http://{}", server.app.addr),
        server.service_token("dns"),
    ))
    .unwrap();
    let events = client.subscribe_lifecycle();
    let target = revision_of(server, org).await;
    eventually("the client's watch catches up", || async {
        let stats = client.stats();
        (stats.watch_connected && stats.watched_revision >= target).then_some(())
    })
    .await;
    (client, events)
}

/// `org`'s lifecycle events up to and including `last`.
async fn events_until(
    events: &mut broadcast::Receiver<LifecycleEvent>,
    org: &str,
    last: fn(&LifecycleEvent) -> bool,
) -> Vec<LifecycleEvent> {
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(EVENTUALLY, events.recv())
            .await
            .unwrap_or_else(|_| panic!("the last lifecycle event; saw {seen:?}"))
            .expect("no lag");
        let ours = match &event {
            LifecycleEvent::Organization { organization, .. }
            | LifecycleEvent::Project { organization, .. } => organization == org,
            LifecycleEvent::Resync { .. } => false,
        };
        if ours {
            let done = last(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }
}

async fn audit_methods(server: &TestServer, org: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = server
            .audit(&server.operator_token())
            .list_audit_events(pb::ListAuditEventsRequest {
                parent: org.into(),
                page_size: 100,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(
            page.audit_events
                .into_iter()
                .map(|e| (e.service, e.method, e.actor)),
        );
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

fn has(events: &[(String, String, String)], service: &str, method: &str) -> bool {
    events.iter().any(|(s, m, _)| s == service && m == method)
}

// ---- the organization with everything ----

/// What [`populate`] made.
struct Populated {
    org: String,
    projects: Vec<String>,
    finalized: String,
    draft: String,
}

/// A verified organization with members (organization roles, project
/// roles, both), pending invites (one offering a project role), a custom
/// role, a login provider with a secret, a legal profile and a submission, a quota reservation and a usage
/// report, capability overrides, a limit increase request, projects (one
/// created with a request id), its own plan; and in billing a card and a
/// SEPA mandate, usage last month (invoiced: finalized) and this month (a
/// draft), a spending limit whose alerts fired.
async fn populate(server: &TestServer) -> Populated {
    let owner = server.account_token("owner@example.com");
    let operator = server.operator_token();
    // Onboarded the customer's way: a legal profile, a card (billing reports
    // the fact), a submission, an operator's verification.
    let org = server.create_org(&owner, "Acme").await.name;
    server
        .onboarding(&owner)
        .update_organization_profile(update_profile(legal_profile(&org, "DE", "DE123456789")))
        .await
        .unwrap();
    let mut with_request_id = card(&org, "tok_visa_4242");
    with_request_id.request_id = uuid::Uuid::new_v4().to_string();
    server
        .payment_methods(&owner)
        .create_payment_method(with_request_id)
        .await
        .unwrap();
    eventually("billing's payment method fact", || async {
        let status = server
            .onboarding(&owner)
            .get_onboarding_status(pb::GetOnboardingStatusRequest {
                organization: org.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .onboarding_status
            .unwrap();
        status.items.iter().all(|i| i.complete).then_some(())
    })
    .await;
    server
        .onboarding(&owner)
        .submit_for_verification(pb::SubmitForVerificationRequest {
            organization: org.clone(),
            validate_only: false,
        })
        .await
        .unwrap();
    server
        .set_status(&org, tpb::VerificationStatus::Verified)
        .await;
    server
        .set_capabilities(
            &org,
            &[("max_members", 30)],
            &[
                ("sso_allowed", true),
                ("custom_roles_allowed", true),
                ("sepa_payment_allowed", true),
            ],
        )
        .await;
    server
        .plans(&operator)
        .create_plan(pb::CreatePlanRequest {
            plan: Some(pb::Plan {
                display_name: "Team".into(),
                ..Default::default()
            }),
            plan_id: "team".into(),
            validate_only: false,
        })
        .await
        .unwrap();
    server
        .operator(&operator)
        .set_organization_plan(pb::SetOrganizationPlanRequest {
            name: org.clone(),
            plan: "plans/team".into(),
            reason: "sales".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let p1 = create_project(server, &owner, &org, "web").await;
    let p2 = create_project(server, &owner, &org, "api").await;
    member(server, &owner, &org, "admin@example.com", &["admin"], &[]).await;
    member(
        server,
        &owner,
        &org,
        "contractor@example.com",
        &[],
        &[(&p1, &["viewer"])],
    )
    .await;
    member(
        server,
        &owner,
        &org,
        "both@example.com",
        &["viewer"],
        &[(&p2, &["admin"])],
    )
    .await;
    invite(
        server,
        &owner,
        &org,
        "pending@example.com",
        &["member"],
        &[],
    )
    .await;
    invite(
        server,
        &owner,
        &org,
        "pending-project@example.com",
        &[],
        &[(&p2, &["viewer"])],
    )
    .await;
    server
        .roles(&owner)
        .create_role(pb::CreateRoleRequest {
            parent: org.clone(),
            role_id: "auditor".into(),
            role: Some(pb::Role {
                display_name: "Auditor".into(),
                permissions: vec!["orgcore.projects.get".into()],
                ..Default::default()
            }),
            validate_only: false,
        })
        .await
        .unwrap();
    server
        .auth_providers(&owner)
        .create_auth_provider(pb::CreateAuthProviderRequest {
            parent: org.clone(),
            auth_provider: Some(pb::AuthProvider {
                display_name: "Corporate SSO".into(),
                config: Some(pb::auth_provider::Config::Oidc(pb::OidcConfig {
                    issuer_uri: "https://login.example.com".into(),
                    client_id: "loopback".into(),
                    client_secret: "s3cr3t-client-secret".into(),
                    scopes: vec!["email".into()],
                    ..Default::default()
                })),
                allowed_email_domains: vec!["example.com".into()],
                enabled: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let hosts = server.service_token("hosts");
    server
        .quotas(&hosts)
        .reserve_quota(pb::ReserveQuotaRequest {
            organization: org.clone(),
            limit: "max_hosts".into(),
            amount: 1,
            request_id: uuid::Uuid::new_v4().to_string(),
            ttl_seconds: 300,
        })
        .await
        .unwrap();
    server
        .quotas(&server.service_token("dns"))
        .report_usage(pb::ReportUsageRequest {
            organization: org.clone(),
            limit: "max_dns_zones".into(),
            usage: 2,
            revision: 1,
        })
        .await
        .unwrap();
    server
        .limit_requests(&owner)
        .create_limit_increase_request(pb::CreateLimitIncreaseRequestRequest {
            parent: org.clone(),
            limit_increase_request: Some(pb::LimitIncreaseRequest {
                limit: "max_projects".into(),
                requested_value: 50,
                justification: "growing".into(),
                ..Default::default()
            }),
            validate_only: false,
        })
        .await
        .unwrap();

    // billing (the card came with onboarding)
    server
        .payment_methods(&owner)
        .create_payment_method(sepa(&org, "DE89370400440532013000"))
        .await
        .unwrap();
    server
        .spending(&owner)
        .set_spending_limit(spending_limit(&org, 50, &[50, 80], false))
        .await
        .unwrap();
    let metering = server.service_token("metering");
    server
        .usage(&metering)
        .record_usage(usage_at(&org, 5, last_month()))
        .await
        .unwrap();
    server
        .usage(&metering)
        .record_usage(usage_at(&org, 10, Utc::now()))
        .await
        .unwrap();
    let generate = |period: String| {
        let mut invoices = server.invoices(&owner);
        let parent = org.clone();
        async move {
            invoices
                .generate_invoice(bpb::GenerateInvoiceRequest { parent, period })
                .await
                .unwrap()
                .into_inner()
                .invoice
                .unwrap()
                .name
        }
    };
    let last = generate(period_of(last_month())).await;
    let finalized = server
        .invoices(&owner)
        .finalize_invoice(bpb::FinalizeInvoiceRequest { name: last })
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap()
        .name;
    let draft = generate(period_of(Utc::now())).await;
    Populated {
        org,
        projects: vec![p1, p2],
        finalized,
        draft,
    }
}

/// Acceptance 4: the purge of an organization, end to end.
async fn a_purged_organization_leaves_only_its_audit_log_and_finalized_invoices(backend: Backend) {
    let server = TestServer::start_with(backend, FAST).await;
    let Populated {
        org,
        projects,
        finalized,
        draft,
    } = populate(&server).await;
    let org_id = id_of(&org);
    let core_db = Database::connect(&server.database_url).await.unwrap();
    let billing_db = Database::connect(&server.billing_database_url())
        .await
        .unwrap();
    // The data covers every table that holds organization data (org-core
    // leaves its outbox empty; billing's outbox drains by itself).
    assert_covers_every_table(&core_db, &org_id, &["kit_audit_outbox"]).await;
    // Both outboxes empty as soon as their relay delivered.
    assert_covers_every_table(
        &billing_db,
        &org_id,
        &["kit_audit_outbox", "spending_alert_outbox"],
    )
    .await;
    let alerts = count(
        &billing_db,
        &format!("SELECT COUNT(*) AS n FROM spending_alerts WHERE organization_id = '{org_id}'"),
    )
    .await;
    assert_eq!(alerts, 2, "both thresholds fired");

    let mut stream = watch(&server, revision_of(&server, &org).await).await;
    let (_client, mut events) = subscriber(&server, &org).await;
    let owner = server.account_token("owner@example.com");
    server
        .orgs(&owner)
        .delete_organization(pb::DeleteOrganizationRequest {
            name: org.clone(),
            force: true,
            ..Default::default()
        })
        .await
        .unwrap();
    // Deleted: operators still see it until its retention passed...
    let operator = server.operator_token();
    let get = || async {
        server
            .orgs(&operator)
            .get_organization(pb::GetOrganizationRequest { name: org.clone() })
            .await
    };
    let deleted = get().await.unwrap().into_inner().organization.unwrap();
    assert_eq!(deleted.state(), tpb::State::Deleted);
    // ...then the purge job removes it.
    eventually("the purge", || async {
        matches!(get().await, Err(s) if s.code() == Code::NotFound).then_some(())
    })
    .await;

    // The raw feed: deleted, one project_deleted per project, then one
    // project_purged per project, then purged.
    let seen = feed_until(&mut stream, &org, "purged").await;
    let of = |kind: &str| -> Vec<String> {
        seen.iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, p)| p.clone())
            .collect()
    };
    assert_eq!(of("project_purged"), projects);
    assert_eq!(of("project_deleted"), projects);
    let tail: Vec<&str> = seen[seen.len() - 3..]
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(tail, ["project_purged", "project_purged", "purged"]);
    // The client's lifecycle subscription, in the same order.
    let received = events_until(&mut events, &org, |e| {
        matches!(
            e,
            LifecycleEvent::Organization {
                change: LifecycleChange::Purged,
                ..
            }
        )
    })
    .await;
    let purged_projects: Vec<String> = received
        .iter()
        .filter_map(|e| match e {
            LifecycleEvent::Project {
                project,
                change: LifecycleChange::Purged,
                ..
            } => Some(project.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(purged_projects, projects);

    // org-core: nothing names the organization or its projects but the
    // audit log, and the feed's tombstones until compaction.
    let mut needles = vec![org_id.clone()];
    needles.extend(projects.iter().map(|p| id_of(p)));
    for needle in &needles {
        let left = rows_mentioning(&core_db, needle).await;
        for table in left.keys() {
            assert!(
                ["audit_events", "policy_changes"].contains(&table.as_str()),
                "{table} still holds {needle} after the purge: {left:?}"
            );
        }
    }
    let feed = kinds_on_feed(&core_db, &org_id).await;
    let kinds: Vec<&str> = feed.iter().map(|(k, _)| k.as_str()).collect();
    assert!(
        kinds.is_empty() || kinds == ["project_purged", "project_purged", "purged"],
        "only the tombstones stay on the feed: {feed:?}"
    );
    // Accounts are not the organization's: they stay.
    let accounts = count(
        &core_db,
        "SELECT COUNT(*) AS n FROM accounts WHERE email IN ('owner@example.com', 'contractor@example.com')",
    )
    .await;
    assert_eq!(accounts, 2);

    // billing: the finalized invoice (with its lines) and nothing else.
    let (finalized_id, draft_id) = (id_of(&finalized), id_of(&draft));
    eventually("billing's purge", || async {
        let left = rows_mentioning(&billing_db, &org_id).await;
        (left.keys().collect::<Vec<_>>() == ["invoices"]).then_some(())
    })
    .await;
    let kept = query(
        &billing_db,
        format!("SELECT id, status FROM invoices WHERE organization_id = '{org_id}'"),
    )
    .await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].try_get::<String>("", "id").unwrap(), finalized_id);
    assert_eq!(kept[0].try_get::<String>("", "status").unwrap(), "open");
    let lines = count(
        &billing_db,
        &format!("SELECT COUNT(*) AS n FROM invoice_lines WHERE invoice_id = '{finalized_id}'"),
    )
    .await;
    assert!(lines >= 2, "its usage and tax lines stay");
    assert!(
        rows_mentioning(&billing_db, &draft_id).await.is_empty(),
        "the draft and its lines went"
    );

    // The audit log keeps everything, and records both purges.
    let audit = eventually("billing's purge record reaches the log", || async {
        let audit = audit_methods(&server, &org).await;
        has(&audit, "billing", "PurgeOrganization").then_some(audit)
    })
    .await;
    for (service, method) in [
        ("org-core", "CreateOrganization"),
        ("org-core", "CreateInvite"),
        ("org-core", "DeleteOrganization"),
        ("org-core", "PurgeOrganization"),
        ("billing", "CreatePaymentMethod"),
        ("billing", "FinalizeInvoice"),
    ] {
        assert!(
            has(&audit, service, method),
            "{service} {method} in {audit:?}"
        );
    }
    assert!(
        audit.iter().any(|(s, m, a)| s == "org-core"
            && m == "PurgeOrganization"
            && a == "service:org-core")
    );
    assert!(
        audit
            .iter()
            .any(|(s, m, a)| s == "billing" && m == "PurgeOrganization" && a == "service:billing")
    );

    // Compaction takes the tombstones once they are older than the feed's
    // retention (and not the newest change): then only the audit log
    // remembers the organization.
    server.create_org(&owner, "Later").await;
    eventually("compaction takes the tombstones", || async {
        kinds_on_feed(&core_db, &org_id)
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    for needle in &needles {
        let left = rows_mentioning(&core_db, needle).await;
        assert_eq!(
            left.keys().collect::<Vec<_>>(),
            ["audit_events"],
            "{needle}: {left:?}"
        );
    }
    server.stop().await;
}

/// Acceptance 4: a project deleted on its own is purged after its
/// retention; its organization is untouched.
async fn a_project_deleted_on_its_own_is_purged_after_its_retention(backend: Backend) {
    let server = TestServer::start_with(backend, FAST).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    let x = create_project(&server, &owner, &org, "x").await;
    let y = create_project(&server, &owner, &org, "y").await;
    let contractor = member(
        &server,
        &owner,
        &org,
        "contractor@example.com",
        &[],
        &[(&x, &["viewer"])],
    )
    .await;
    let both = member(
        &server,
        &owner,
        &org,
        "both@example.com",
        &["viewer"],
        &[(&x, &["admin"]), (&y, &["viewer"])],
    )
    .await;
    let only_x = invite(
        &server,
        &owner,
        &org,
        "only-x@example.com",
        &[],
        &[(&x, &["viewer"])],
    )
    .await
    .invite
    .unwrap();
    let mixed = invite(
        &server,
        &owner,
        &org,
        "mixed@example.com",
        &["viewer"],
        &[(&x, &["admin"]), (&y, &["admin"])],
    )
    .await
    .invite
    .unwrap();
    let mut stream = watch(&server, revision_of(&server, &org).await).await;
    let (client, mut events) = subscriber(&server, &org).await;
    assert!(client.project(&x).await.unwrap().is_live());

    server
        .projects(&owner)
        .delete_project(pb::DeleteProjectRequest {
            name: x.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let dns = server.service_token("dns");
    eventually("the project's purge", || async {
        let state = server
            .authority(&dns)
            .get_project_state(pb::GetProjectStateRequest { project: x.clone() })
            .await;
        matches!(state, Err(s) if s.code() == Code::NotFound).then_some(())
    })
    .await;
    let seen = feed_until(&mut stream, &org, "project_purged").await;
    assert_eq!(
        seen.first().unwrap(),
        &("project_deleted".to_string(), x.clone())
    );
    assert_eq!(
        seen.last().unwrap(),
        &("project_purged".to_string(), x.clone())
    );
    let received = events_until(&mut events, &org, |e| {
        matches!(
            e,
            LifecycleEvent::Project {
                change: LifecycleChange::Purged,
                ..
            }
        )
    })
    .await;
    assert!(matches!(
        received.last().unwrap(),
        LifecycleEvent::Project { project, .. } if *project == x
    ));
    // Gone for the client too (purged, or unknown to org-core: the same).
    assert!(matches!(
        client.project(&x).await.unwrap(),
        ProjectLifecycle::Purged | ProjectLifecycle::NotFound
    ));

    // Its bindings went: the project-only member with them; the other
    // keeps the rest.
    let members = server.members(&owner);
    let err = members
        .clone()
        .get_member(pb::GetMemberRequest {
            name: contractor.name,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let both = members
        .clone()
        .get_member(pb::GetMemberRequest { name: both.name })
        .await
        .unwrap()
        .into_inner()
        .member
        .unwrap();
    assert_eq!(both.roles, ["viewer"]);
    assert_eq!(both.project_roles, bindings(&[(&y, &["viewer"])]));
    // Invites no longer offer roles on it; one that offered nothing else went.
    let err = server
        .invites(&owner)
        .get_invite(pb::GetInviteRequest { name: only_x.name })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let mixed = server
        .invites(&owner)
        .get_invite(pb::GetInviteRequest { name: mixed.name })
        .await
        .unwrap()
        .into_inner()
        .invite
        .unwrap();
    assert_eq!(mixed.roles, ["viewer"]);
    assert_eq!(mixed.project_roles, bindings(&[(&y, &["admin"])]));
    // Nothing in org-core names it but the audit log and its tombstone.
    let core_db = Database::connect(&server.database_url).await.unwrap();
    let left = rows_mentioning(&core_db, &id_of(&x)).await;
    for table in left.keys() {
        assert!(
            ["audit_events", "policy_changes"].contains(&table.as_str()),
            "{table} still names the purged project: {left:?}"
        );
    }
    // The organization is untouched.
    let got = server
        .orgs(&owner)
        .get_organization(pb::GetOrganizationRequest { name: org.clone() })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    assert_eq!(got.state(), tpb::State::Active);
    let live = server
        .projects(&owner)
        .get_project(pb::GetProjectRequest { name: y.clone() })
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    assert_eq!(live.state(), tpb::State::Active);
    let audit = audit_methods(&server, &org).await;
    assert!(
        audit
            .iter()
            .any(|(s, m, a)| s == "org-core" && m == "PurgeProject" && a == "service:org-core")
    );
    server.stop().await;
}

/// Acceptance 4: under a write loop the feed stays bounded by its
/// retention; a watcher that reads too slowly is told to resync (it is
/// never silently skipped past what compaction removed), and so is one
/// that comes back from an old revision.
async fn the_feed_stays_bounded_and_a_slow_watcher_resyncs(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        &["--feed-retention=1s", "--feed-compaction-interval=1s"],
    )
    .await;
    let owner = server.account_token("owner@example.com");
    let org = server.create_org(&owner, "Acme").await.name;
    let db = Database::connect(&server.database_url).await.unwrap();

    // A slow watcher: its own connection with a tiny HTTP/2 window, so the
    // server can push only a little before the stream waits for it.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.app.addr))
        .unwrap()
        .initial_stream_window_size(Some(2048))
        .initial_connection_window_size(Some(2048))
        .connect()
        .await
        .unwrap();
    let token = format!("Bearer {}", server.service_token("slow"));
    let mut slow = pb::authority_service_client::AuthorityServiceClient::with_interceptor(
        channel,
        move |mut request: tonic::Request<()>| {
            request
                .metadata_mut()
                .insert("authorization", token.parse().unwrap());
            Ok(request)
        },
    )
    .watch_organization_policies(pb::WatchOrganizationPoliciesRequest { from_revision: 0 })
    .await
    .unwrap()
    .into_inner();

    const WRITES: usize = 300;
    let operator = server.operator(&server.operator_token());
    let mut most = 0;
    for i in 0..WRITES {
        operator
            .clone()
            .set_capabilities(pb::SetCapabilitiesRequest {
                name: org.clone(),
                capabilities: Some(tpb::Capabilities {
                    limits: [("max_projects".to_string(), 10 + (i % 2) as i64)].into(),
                    ..Default::default()
                }),
                reason: "loop".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        if i % 20 == 19 {
            most = most.max(count(&db, "SELECT COUNT(*) AS n FROM policy_changes").await);
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    assert!(
        most < 200,
        "{WRITES} changes in {:?}-ish, but at most {most} on the feed at once: it is bounded by its retention",
        Duration::from_millis(15 * WRITES as u64)
    );

    // The slow watcher reads now: what it was sent before is intact, then
    // it is told to resync rather than skipped past the compacted changes.
    let mut previous = 0;
    let resync_at = loop {
        let message = tokio::time::timeout(EVENTUALLY, slow.next())
            .await
            .expect("the slow watcher gets a resync")
            .expect("stream open")
            .expect("no error");
        if message.resync {
            break message.revision;
        }
        assert!(message.revision > previous, "in order");
        previous = message.revision;
    };
    assert!(resync_at > previous);
    // It then streams on from the head.
    server
        .set_status(&org, tpb::VerificationStatus::Verified)
        .await;
    let next = tokio::time::timeout(EVENTUALLY, slow.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!next.resync && next.revision > resync_at);
    assert_eq!(next.kind, "verification_status");

    // A watcher coming back from an old revision resyncs at once.
    let mut back = watch(&server, 1).await;
    let first = tokio::time::timeout(EVENTUALLY, back.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.resync);
    server.stop().await;
}

// ---- billing down during the purge ----

/// org-core and billing in one process but as two hosts (two servers),
/// so billing can be stopped and started on its own.
struct Split {
    config: loopbackd::Config,
    core: Host,
    billing: Option<Host>,
    _dir: tempfile::TempDir,
}

impl Split {
    async fn start(backend: Backend, flags: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = vec![
            "loopbackd".into(),
            "--listen=127.0.0.1:0".into(),
            format!("--data-dir={}", dir.path().display()),
            "--shutdown-grace-seconds=1".into(),
        ];
        for service in loopbackd::SERVICES {
            let url = match backend {
                Backend::Sqlite => {
                    loopback_runtime::db::sqlite_url(dir.path(), &format!("{service}.db")).unwrap()
                }
                Backend::Postgres => pg::fresh_database().await,
            };
            args.push(format!("--{service}-database-url={url}"));
        }
        args.extend(flags.iter().map(|f| f.to_string()));
        let config = loopback_tests::config_from_args(&args);
        let keys = DevKeys {
            jwt: true,
            secrets: true,
        };
        let core = Host::start(
            &config.server,
            &[plug::<loopback_org_core::OrgCore>(
                config.services.org_core.clone(),
            )],
            keys,
            &|_, _, _| Ok(None),
        )
        .await
        .unwrap();
        let mut split = Self {
            config,
            core,
            billing: None,
            _dir: dir,
        };
        split.start_billing().await;
        split
    }

    async fn start_billing(&mut self) {
        let core_addr = self.core.addr;
        let token = self.token(PrincipalKind::Service, "billing");
        let links =
            move |_: &'static str, _: SocketAddr, _: &loopback_runtime::auth::Authenticator| {
                Ok(Some(AuthorityLink {
                    url: format!("http://{core_addr}"),
                    service_token: token.clone(),
                    staleness: None,
                }))
            };
        let billing = Host::start(
            &self.config.server,
            &[plug::<loopback_billing::Billing>(
                self.config.services.billing.clone(),
            )],
            DevKeys {
                jwt: true,
                secrets: true,
            },
            &links,
        )
        .await
        .unwrap();
        self.billing = Some(billing);
    }

    async fn stop_billing(&mut self) {
        self.billing.take().unwrap().stop().await.unwrap();
    }

    fn token(&self, kind: PrincipalKind, subject: &str) -> String {
        let email = (kind == PrincipalKind::Account).then(|| subject.to_string());
        let subject = match kind {
            PrincipalKind::Account => format!("sub-{subject}"),
            _ => subject.to_string(),
        };
        self.core
            .auth
            .mint(
                &Principal {
                    kind,
                    subject,
                    email,
                    name: None,
                },
                chrono::Duration::hours(1),
            )
            .unwrap()
    }

    async fn core_as(&self, token: &str) -> Authed {
        connect_as(self.core.addr, token).await
    }

    async fn billing_as(&self, token: &str) -> Authed {
        connect_as(self.billing.as_ref().unwrap().addr, token).await
    }
}

/// Acceptance 4: billing is down while org-core purges an organization
/// (and the feed no longer has `purged` when it returns): it reconciles
/// against org-core at start and deletes the organization's data, keeping
/// its finalized invoices.
async fn billing_down_during_the_purge_reconciles_when_it_returns(backend: Backend) {
    let mut split = Split::start(
        backend,
        &[
            "--deleted-retention=1s",
            "--purge-interval=1s",
            "--price=compute.vcpu_hours=4",
        ],
    )
    .await;
    let owner = split.token(PrincipalKind::Account, "owner@example.com");
    let operator = split.token(PrincipalKind::Operator, "op");
    let metering = split.token(PrincipalKind::Service, "metering");
    let mut orgs = pb::organization_service_client::OrganizationServiceClient::new(
        split.core_as(&owner).await,
    );
    let mut ops =
        pb::operator_service_client::OperatorServiceClient::new(split.core_as(&operator).await);
    let org = orgs
        .create_organization(pb::CreateOrganizationRequest {
            organization: Some(pb::Organization {
                display_name: "Acme".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap()
        .name;
    ops.set_verification_status(pb::SetVerificationStatusRequest {
        name: org.clone(),
        verification_status: tpb::VerificationStatus::Verified.into(),
        reason: "kyc".into(),
        validate_only: false,
    })
    .await
    .unwrap();
    let org_id = id_of(&org);

    // Billing data: a card, usage invoiced last month, a draft this month.
    let billing = split.billing_as(&owner).await;
    let mut methods =
        bpb::payment_method_service_client::PaymentMethodServiceClient::new(billing.clone());
    let mut invoices = bpb::invoice_service_client::InvoiceServiceClient::new(billing.clone());
    let mut usage =
        bpb::usage_service_client::UsageServiceClient::new(split.billing_as(&metering).await);
    eventually("billing authorizes through org-core", || {
        let mut methods = methods.clone();
        let org = org.clone();
        async move {
            methods
                .create_payment_method(card(&org, "tok_visa"))
                .await
                .ok()
        }
    })
    .await;
    usage
        .record_usage(usage_at(&org, 5, last_month()))
        .await
        .unwrap();
    usage
        .record_usage(usage_at(&org, 3, Utc::now()))
        .await
        .unwrap();
    let last = invoices
        .generate_invoice(bpb::GenerateInvoiceRequest {
            parent: org.clone(),
            period: period_of(last_month()),
        })
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap()
        .name;
    invoices
        .finalize_invoice(bpb::FinalizeInvoiceRequest { name: last.clone() })
        .await
        .unwrap();
    invoices
        .generate_invoice(bpb::GenerateInvoiceRequest {
            parent: org.clone(),
            period: period_of(Utc::now()),
        })
        .await
        .unwrap();
    let methods_left = methods
        .list_payment_methods(bpb::ListPaymentMethodsRequest {
            parent: org.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .payment_methods
        .len();
    assert_eq!(methods_left, 1);

    // Billing goes down; the organization is deleted and purged.
    split.stop_billing().await;
    orgs.delete_organization(pb::DeleteOrganizationRequest {
        name: org.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    eventually("the purge", || async {
        let mut orgs = pb::organization_service_client::OrganizationServiceClient::new(
            split.core_as(&operator).await,
        );
        let gone = orgs
            .get_organization(pb::GetOrganizationRequest { name: org.clone() })
            .await;
        matches!(gone, Err(s) if s.code() == Code::NotFound).then_some(())
    })
    .await;
    // The feed forgets the purge before billing is back (a later change,
    // then a compaction): only the reconciliation can tell billing.
    orgs.create_organization(pb::CreateOrganizationRequest {
        organization: Some(pb::Organization {
            display_name: "Later".into(),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let core = split.core.service::<loopback_org_core::OrgCore>().unwrap();
    core.compact_changes(chrono::Duration::zero())
        .await
        .unwrap();
    let core_db = Database::connect(&split.config.services.org_core.database_url.clone().unwrap())
        .await
        .unwrap();
    assert!(kinds_on_feed(&core_db, &org_id).await.is_empty());
    let billing_db =
        Database::connect(&split.config.services.billing.database_url.clone().unwrap())
            .await
            .unwrap();
    let before = rows_mentioning(&billing_db, &org_id).await;
    assert!(before.contains_key("payment_methods") && before.contains_key("usage_events"));

    // Billing returns and reconciles.
    split.start_billing().await;
    eventually("billing reconciles", || async {
        let left = rows_mentioning(&billing_db, &org_id).await;
        (left.keys().collect::<Vec<_>>() == ["invoices"]).then_some(())
    })
    .await;
    let statuses = query(
        &billing_db,
        format!("SELECT status FROM invoices WHERE organization_id = '{org_id}'"),
    )
    .await;
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].try_get::<String>("", "status").unwrap(), "open");
    // Its purge reached the audit log through the outbox.
    let audit = pb::audit_service_client::AuditServiceClient::new(split.core_as(&operator).await);
    eventually("billing's purge record", || {
        let org = org.clone();
        let mut audit = audit.clone();
        async move {
            let events = audit
                .list_audit_events(pb::ListAuditEventsRequest {
                    parent: org,
                    page_size: 100,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .audit_events;
            events
                .iter()
                .any(|e| e.service == "billing" && e.method == "PurgeOrganization")
                .then_some(())
        }
    })
    .await;
    split.stop_billing().await;
    split.core.stop().await.unwrap();
}

backend_tests!(
    a_purged_organization_leaves_only_its_audit_log_and_finalized_invoices,
    a_project_deleted_on_its_own_is_purged_after_its_retention,
    the_feed_stays_bounded_and_a_slow_watcher_resyncs,
    billing_down_during_the_purge_reconciles_when_it_returns,
);
