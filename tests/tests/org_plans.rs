//! Plans (issue 9, "org-core, round two"): operators define plans (limits,
//! flags, included features) and assign one to each organization; owners
//! choose a self-serve plan. Effective capabilities are deployment default ←
//! plan ← override, and the policy says where each value comes from.
//! Upgrading raises limits at once; a downgrade below usage is refused with
//! every broken limit named; a feature the deployment has on but the plan
//! lacks is FEATURE_DISABLED naming the plan, distinct from one the
//! deployment has off. On SQLite and PostgreSQL.

use std::time::{Duration, Instant};

use loopback_org_core_client::{
    ActionClass, AuthorityClient, AuthorityDenied, Config, Principal, PrincipalKind, Rpc,
};
use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1 as tpb;
use loopback_runtime::authz::perm;
use loopback_tests::{
    Backend, TestServer, backend_tests, bad_fields, metadata, precondition_subjects, reason,
};
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

/// A network-bridge RPC of a service that does not exist yet, as its RPC
/// table would declare it: it belongs to the `network_bridges` feature.
const CREATE_NETWORK_BRIDGE: Rpc = Rpc::new(
    "CreateNetworkBridge",
    perm("orgcore.projects.create"),
    ActionClass::Create,
)
.in_feature("network_bridges");

const EVENTUALLY: Duration = Duration::from_secs(20);

fn plan(
    display_name: &str,
    self_serve: bool,
    limits: &[(&str, i64)],
    flags: &[(&str, bool)],
    features: &[&str],
) -> pb::Plan {
    pb::Plan {
        display_name: display_name.into(),
        description: format!("The {display_name} plan."),
        self_serve,
        capabilities: Some(tpb::Capabilities {
            limits: limits.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            flags: flags.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ..Default::default()
        }),
        features: features.iter().map(|f| f.to_string()).collect(),
        ..Default::default()
    }
}

async fn create_plan(server: &TestServer, id: &str, plan: pb::Plan) -> pb::Plan {
    server
        .plans(&server.operator_token())
        .create_plan(pb::CreatePlanRequest {
            plan: Some(plan),
            plan_id: id.into(),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap()
}

/// `free` (self-serve: 2 projects, 3 members, no enterprise features),
/// `pro` (self-serve: 5 projects) and `enterprise` (assigned by operators:
/// 10 projects, 50 members, github, gitlab and network bridges).
async fn standard_plans(server: &TestServer) {
    create_plan(
        server,
        "free",
        plan(
            "Free",
            true,
            &[("max_projects", 2), ("max_members", 3)],
            &[],
            &["monitoring", "notifications"],
        ),
    )
    .await;
    create_plan(
        server,
        "pro",
        plan(
            "Pro",
            true,
            &[("max_projects", 5), ("max_members", 10)],
            &[],
            &["monitoring", "notifications", "github"],
        ),
    )
    .await;
    create_plan(
        server,
        "enterprise",
        plan(
            "Enterprise",
            false,
            &[("max_projects", 10), ("max_members", 50)],
            &[("sso_allowed", true)],
            &[
                "github",
                "gitlab",
                "network_bridges",
                "monitoring",
                "notifications",
            ],
        ),
    )
    .await;
}

async fn change_plan(
    server: &TestServer,
    token: &str,
    org: &str,
    plan: &str,
) -> Result<pb::Organization, Status> {
    server
        .plans(token)
        .change_plan(pb::ChangePlanRequest {
            organization: org.into(),
            plan: plan.into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().organization.unwrap())
}

async fn assign_plan(
    server: &TestServer,
    org: &str,
    plan: &str,
    force: bool,
) -> Result<pb::Organization, Status> {
    server
        .operator(&server.operator_token())
        .set_organization_plan(pb::SetOrganizationPlanRequest {
            name: org.into(),
            plan: plan.into(),
            reason: format!("contract: {plan}"),
            validate_only: false,
            force,
        })
        .await
        .map(|r| r.into_inner().organization.unwrap())
}

async fn create_project(server: &TestServer, token: &str, org: &str) -> Result<(), Status> {
    server
        .projects(token)
        .create_project(pb::CreateProjectRequest {
            parent: org.into(),
            project: Some(pb::Project {
                display_name: "p".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .map(|_| ())
}

async fn get_org(server: &TestServer, token: &str, org: &str) -> pb::Organization {
    server
        .orgs(token)
        .get_organization(pb::GetOrganizationRequest { name: org.into() })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap()
}

fn limit(org: &pb::Organization, key: &str) -> (i64, tpb::CapabilitySource) {
    let caps = org.capabilities.as_ref().unwrap();
    (
        caps.limits[key],
        tpb::CapabilitySource::try_from(caps.limit_sources[key]).unwrap(),
    )
}

fn flag(caps: &tpb::Capabilities, key: &str) -> (bool, tpb::CapabilitySource) {
    (
        caps.flags[key],
        tpb::CapabilitySource::try_from(caps.flag_sources[key]).unwrap(),
    )
}

/// The principal `TestServer::account_token(email)` authenticates as.
fn account(email: &str) -> Principal {
    Principal {
        kind: PrincipalKind::Account,
        subject: format!("sub-{email}"),
        email: Some(email.to_string()),
        name: None,
    }
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return;
        }
        assert!(
            start.elapsed() < EVENTUALLY,
            "{what}: not within {EVENTUALLY:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Acceptance 2: upgrading raises limits at once; a downgrade below usage
/// is refused with every broken limit named (ChangePlan and the operator's
/// assignment alike, unless the operator forces it).
async fn upgrades_raise_limits_at_once_and_downgrades_below_usage_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    standard_plans(&server).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    assert_eq!(
        org.plan, "plans/default",
        "new organizations get the default plan"
    );
    assert!(org.allowed_actions.contains(&"change_plan".to_string()));

    // Free: two projects, the third is LIMIT_REACHED.
    let on_free = change_plan(&server, &owner, &org.name, "plans/free")
        .await
        .unwrap();
    assert_eq!(on_free.plan, "plans/free");
    assert_eq!(on_free.plan_display_name, "Free");
    assert_eq!(
        limit(&on_free, "max_projects"),
        (2, tpb::CapabilitySource::Plan)
    );
    create_project(&server, &owner, &org.name).await.unwrap();
    create_project(&server, &owner, &org.name).await.unwrap();
    let err = create_project(&server, &owner, &org.name)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(reason(&err).as_deref(), Some("LIMIT_REACHED"));
    assert_eq!(metadata(&err)["limit_value"], "2");
    assert!(
        err.message().contains("upgrade your plan"),
        "{}",
        err.message()
    );

    // Pro (self-serve upgrade): the very next create sees five.
    let on_pro = change_plan(&server, &owner, &org.name, "plans/pro")
        .await
        .unwrap();
    assert_eq!(
        limit(&on_pro, "max_projects"),
        (5, tpb::CapabilitySource::Plan)
    );
    create_project(&server, &owner, &org.name).await.unwrap();

    // Enterprise (assigned by an operator): ten.
    let on_enterprise = assign_plan(&server, &org.name, "plans/enterprise", false)
        .await
        .unwrap();
    assert_eq!(on_enterprise.plan, "plans/enterprise");
    assert_eq!(
        limit(&on_enterprise, "max_projects"),
        (10, tpb::CapabilitySource::Plan)
    );
    for _ in 0..3 {
        create_project(&server, &owner, &org.name).await.unwrap();
    }
    // Six projects; four members-plus-invites (owner, two members, one
    // pending invite).
    server
        .add_member(&owner, &org.name, "a@example.com", &["member"])
        .await;
    server
        .add_member(&owner, &org.name, "b@example.com", &["admin"])
        .await;
    server
        .invites(&owner)
        .create_invite(pb::CreateInviteRequest {
            parent: org.name.clone(),
            invite: Some(pb::Invite {
                email: "c@example.com".into(),
                roles: vec!["viewer".into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();

    // Down to Pro: projects fit (6 > 5? no: refused), members fit (4 <= 10).
    let err = change_plan(&server, &owner, &org.name, "plans/pro")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(reason(&err).as_deref(), Some("PLAN_LIMITS_EXCEEDED"));
    assert_eq!(precondition_subjects(&err), ["max_projects"]);

    // Down to Free: both limits would break, and both are named.
    for validate_only in [true, false] {
        let err = server
            .plans(&owner)
            .change_plan(pb::ChangePlanRequest {
                organization: org.name.clone(),
                plan: "plans/free".into(),
                validate_only,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
        assert_eq!(reason(&err).as_deref(), Some("PLAN_LIMITS_EXCEEDED"));
        let failure = err.get_details_precondition_failure().unwrap();
        let mut broken: Vec<(String, String, String)> = failure
            .violations
            .into_iter()
            .map(|v| (v.r#type, v.subject, v.description))
            .collect();
        broken.sort();
        assert_eq!(
            broken,
            [
                (
                    "LIMIT".to_string(),
                    "max_members".to_string(),
                    "4 in use, the plan allows 3".to_string()
                ),
                (
                    "LIMIT".to_string(),
                    "max_projects".to_string(),
                    "6 in use, the plan allows 2".to_string()
                ),
            ]
        );
        assert!(err.message().contains("max_members"), "{}", err.message());
    }
    // The operator's assignment is refused alike.
    let err = assign_plan(&server, &org.name, "plans/free", false)
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("PLAN_LIMITS_EXCEEDED"));
    let mut subjects = precondition_subjects(&err);
    subjects.sort();
    assert_eq!(subjects, ["max_members", "max_projects"]);
    assert_eq!(
        get_org(&server, &owner, &org.name).await.plan,
        "plans/enterprise",
        "nothing changed"
    );

    // An override survives the plan: with max_projects overridden to 8 the
    // move to Pro breaks nothing (Pro's 10 members fit too).
    server
        .set_capabilities(&org.name, &[("max_projects", 8)], &[])
        .await;
    let on_pro = change_plan(&server, &owner, &org.name, "plans/pro")
        .await
        .unwrap();
    assert_eq!(
        limit(&on_pro, "max_projects"),
        (8, tpb::CapabilitySource::Override)
    );
    assert_eq!(
        limit(&on_pro, "max_members"),
        (10, tpb::CapabilitySource::Plan)
    );

    // Forced by an operator: it moves; nothing is removed, creates are refused.
    let forced = assign_plan(&server, &org.name, "plans/free", true)
        .await
        .unwrap();
    assert_eq!(forced.plan, "plans/free");
    let err = server
        .invites(&owner)
        .create_invite(pb::CreateInviteRequest {
            parent: org.name.clone(),
            invite: Some(pb::Invite {
                email: "d@example.com".into(),
                roles: vec!["viewer".into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("LIMIT_REACHED"), "{err:?}");

    // Every move is in the organization's audit log, the operator's with
    // its reason and what a forced move exceeded.
    let events = server
        .audit(&owner)
        .list_audit_events(pb::ListAuditEventsRequest {
            parent: org.name.clone(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    let changes: Vec<&pb::AuditEvent> =
        events.iter().filter(|e| e.method == "ChangePlan").collect();
    assert_eq!(changes.len(), 3, "free, pro, pro again");
    assert!(changes[0].details_json.contains("plans/pro"));
    assert!(changes[0].actor.starts_with("account:"));
    let assignments: Vec<&pb::AuditEvent> = events
        .iter()
        .filter(|e| e.method == "SetOrganizationPlan")
        .collect();
    assert_eq!(assignments.len(), 2);
    assert_eq!(assignments[0].reason, "contract: plans/free");
    assert!(
        assignments[0].details_json.contains("max_members"),
        "{}",
        assignments[0].details_json
    );
    assert!(assignments[0].details_json.contains("\"force\":true"));
    server.stop().await;
}

/// Acceptance 2: a feature the deployment has on but the plan lacks is
/// FEATURE_DISABLED naming the plan for a free organization and works for
/// an enterprise one in the same deployment; a deployment that has it off
/// answers FEATURE_DISABLED without a plan.
async fn an_enterprise_only_feature_names_the_plan(backend: Backend) {
    let server = TestServer::start(backend).await;
    standard_plans(&server).await;
    let owner = server.account_token("owner@example.com");
    let free = server.verified_org(&owner, "Small").await;
    let big = server.verified_org(&owner, "Big").await;
    change_plan(&server, &owner, &free.name, "plans/free")
        .await
        .unwrap();
    assign_plan(&server, &big.name, "plans/enterprise", false)
        .await
        .unwrap();
    let authority = AuthorityClient::connect(Config::new(
        format!("http://{}", server.app.addr),
        server.service_token("integrations"),
    ))
    .unwrap();
    let alice = account("owner@example.com");

    let denied = authority
        .authorize_rpc(&alice, &CREATE_NETWORK_BRIDGE, &free.name)
        .await
        .unwrap_err();
    assert_eq!(
        denied,
        AuthorityDenied::FeatureDisabled {
            feature: "network_bridges".into(),
            plan: Some("Free".into()),
        }
    );
    let status = Status::from(denied);
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status).as_deref(), Some("FEATURE_DISABLED"));
    let meta = metadata(&status);
    assert_eq!(meta["feature"], "network_bridges");
    assert_eq!(meta["plan"], "Free");
    assert!(
        status.message().contains("enterprise-only") && status.message().contains("Free"),
        "{}",
        status.message()
    );

    let policy = authority
        .authorize_rpc(&alice, &CREATE_NETWORK_BRIDGE, &big.name)
        .await
        .unwrap();
    assert_eq!(policy.plan, "plans/enterprise");
    assert_eq!(policy.plan_display_name, "Enterprise");
    assert!(policy.feature_enabled("network_bridges"));

    // The free policy: the deployment has it, the plan does not.
    let free_policy = authority.policy(&free.name).await.unwrap();
    assert!(!free_policy.feature_enabled("network_bridges"));
    assert!(
        free_policy
            .deployment_features
            .contains(&"network_bridges".to_string())
    );
    assert_eq!(free_policy.features, ["monitoring", "notifications"]);

    // ListFeatures for an organization says why.
    let features = server
        .authority(&owner)
        .list_features(pb::ListFeaturesRequest {
            organization: free.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .features;
    let bridges = features
        .iter()
        .find(|f| f.name == "network_bridges")
        .unwrap();
    assert!(bridges.enabled);
    assert_eq!(bridges.availability(), pb::FeatureAvailability::NotInPlan);
    let monitoring = features.iter().find(|f| f.name == "monitoring").unwrap();
    assert_eq!(
        monitoring.availability(),
        pb::FeatureAvailability::Available
    );
    let stranger = server.account_token("stranger@example.com");
    let err = server
        .authority(&stranger)
        .list_features(pb::ListFeaturesRequest {
            organization: free.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Upgraded, the same check passes once the feed reaches the cache.
    assign_plan(&server, &free.name, "plans/enterprise", false)
        .await
        .unwrap();
    eventually("the upgrade reaches the client's cache", || async {
        authority
            .authorize_rpc(&alice, &CREATE_NETWORK_BRIDGE, &free.name)
            .await
            .is_ok()
    })
    .await;
    server.stop().await;

    // A deployment with network bridges off: FEATURE_DISABLED, no plan,
    // whatever the plan.
    let off = TestServer::start_with(backend, &["--features=github,gitlab,monitoring"]).await;
    standard_plans(&off).await;
    let owner = off.account_token("owner@example.com");
    let org = off.verified_org(&owner, "Big").await;
    assign_plan(&off, &org.name, "plans/enterprise", false)
        .await
        .unwrap();
    let authority = AuthorityClient::connect(Config::new(
        format!("http://{}", off.app.addr),
        off.service_token("integrations"),
    ))
    .unwrap();
    let denied = authority
        .authorize_rpc(&alice, &CREATE_NETWORK_BRIDGE, &org.name)
        .await
        .unwrap_err();
    assert_eq!(
        denied,
        AuthorityDenied::FeatureDisabled {
            feature: "network_bridges".into(),
            plan: None,
        }
    );
    let status = Status::from(denied);
    assert_eq!(reason(&status).as_deref(), Some("FEATURE_DISABLED"));
    assert!(!metadata(&status).contains_key("plan"));
    assert!(
        status.message().contains("not enabled in this deployment"),
        "{}",
        status.message()
    );
    let features = off
        .authority(&owner)
        .list_features(pb::ListFeaturesRequest {
            organization: org.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .features;
    let bridges = features
        .iter()
        .find(|f| f.name == "network_bridges")
        .unwrap();
    assert_eq!(
        bridges.availability(),
        pb::FeatureAvailability::DisabledInDeployment
    );
    off.stop().await;
}

/// The organization, its policy and its usage say where each capability
/// value comes from; a plan change reaches organizations on it at once.
async fn the_policy_says_where_each_capability_comes_from(backend: Backend) {
    let server = TestServer::start_with(backend, &["--default-limit=max_projects=7"]).await;
    create_plan(
        &server,
        "team",
        plan(
            "Team",
            true,
            &[("max_projects", 4), ("max_members", 9)],
            &[("sso_allowed", true)],
            &["github"],
        ),
    )
    .await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    assert_eq!(
        limit(&org, "max_projects"),
        (7, tpb::CapabilitySource::Deployment)
    );
    change_plan(&server, &owner, &org.name, "plans/team")
        .await
        .unwrap();
    server
        .set_capabilities(&org.name, &[("max_members", 12)], &[])
        .await;

    let seen = get_org(&server, &owner, &org.name).await;
    assert_eq!(
        limit(&seen, "max_projects"),
        (4, tpb::CapabilitySource::Plan)
    );
    assert_eq!(
        limit(&seen, "max_members"),
        (12, tpb::CapabilitySource::Override)
    );
    assert_eq!(
        limit(&seen, "max_hosts").1,
        tpb::CapabilitySource::Deployment
    );
    let caps = seen.capabilities.as_ref().unwrap();
    assert_eq!(
        flag(caps, "sso_allowed"),
        (true, tpb::CapabilitySource::Plan)
    );
    assert_eq!(
        flag(caps, "custom_roles_allowed"),
        (false, tpb::CapabilitySource::Deployment)
    );

    let policy = server
        .authority(&server.service_token("billing"))
        .get_organization_policy(pb::GetOrganizationPolicyRequest {
            organization: org.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    assert_eq!(policy.plan, "plans/team");
    assert_eq!(policy.plan_display_name, "Team");
    assert_eq!(policy.features, ["github"]);
    assert_eq!(policy.deployment_features.len(), 6);
    let caps = policy.capabilities.unwrap();
    assert_eq!(
        tpb::CapabilitySource::try_from(caps.limit_sources["max_members"]).unwrap(),
        tpb::CapabilitySource::Override
    );
    assert_eq!(
        flag(&caps, "sso_allowed"),
        (true, tpb::CapabilitySource::Plan)
    );

    let usage = server
        .quotas(&owner)
        .get_organization_usage(pb::GetOrganizationUsageRequest {
            organization: org.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .limits;
    let projects = usage.iter().find(|l| l.limit == "max_projects").unwrap();
    assert_eq!(projects.limit_value, 4);
    assert_eq!(projects.limit_source(), tpb::CapabilitySource::Plan);
    let members = usage.iter().find(|l| l.limit == "max_members").unwrap();
    assert_eq!(members.limit_source(), tpb::CapabilitySource::Override);

    // An operator raises the plan: every organization on it sees it at
    // once, and the policy feed tells caches.
    let authority = AuthorityClient::connect(Config::new(
        format!("http://{}", server.app.addr),
        server.service_token("billing"),
    ))
    .unwrap();
    assert_eq!(
        authority
            .policy(&org.name)
            .await
            .unwrap()
            .limit("max_projects"),
        Some(4)
    );
    let team = server
        .plans(&server.operator_token())
        .get_plan(pb::GetPlanRequest {
            name: "plans/team".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    server
        .plans(&server.operator_token())
        .update_plan(pb::UpdatePlanRequest {
            plan: Some(pb::Plan {
                name: team.name.clone(),
                etag: team.etag.clone(),
                capabilities: Some(tpb::Capabilities {
                    limits: [("max_projects".to_string(), 6)].into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["capabilities".into()],
            }),
            validate_only: false,
        })
        .await
        .unwrap();
    let seen = get_org(&server, &owner, &org.name).await;
    assert_eq!(
        limit(&seen, "max_projects"),
        (6, tpb::CapabilitySource::Plan)
    );
    assert!(
        !seen.capabilities.unwrap().flags["sso_allowed"],
        "the new capabilities replace the plan's old ones"
    );
    eventually("the plan change reaches the client's cache", || async {
        authority
            .policy(&org.name)
            .await
            .unwrap()
            .limit("max_projects")
            == Some(6)
    })
    .await;
    server.stop().await;
}

/// Who may change plans: owners and admins choose self-serve plans;
/// others are PERMISSION_DENIED, strangers NOT_FOUND; a plan that is not
/// self-serve is PERMISSION_DENIED (PLAN_NOT_SELF_SERVE) when the caller
/// can see it and NOT_FOUND when it cannot; plan management is for
/// operators.
async fn only_owners_and_admins_choose_and_only_self_serve_plans(backend: Backend) {
    let server = TestServer::start(backend).await;
    standard_plans(&server).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let (admin, _) = server
        .add_member(&owner, &org.name, "admin@example.com", &["admin"])
        .await;
    for role in ["member", "viewer", "billing_admin"] {
        let (token, _) = server
            .add_member(&owner, &org.name, &format!("{role}@example.com"), &[role])
            .await;
        let err = change_plan(&server, &token, &org.name, "plans/pro")
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{role}: {err:?}");
        assert_eq!(
            metadata(&err)["permission"],
            "orgcore.organizations.changePlan"
        );
        assert!(
            !get_org(&server, &token, &org.name)
                .await
                .allowed_actions
                .contains(&"change_plan".to_string())
        );
    }
    assert_eq!(
        change_plan(&server, &admin, &org.name, "plans/pro")
            .await
            .unwrap()
            .plan,
        "plans/pro"
    );
    // Another tenant's organization is NOT_FOUND.
    let stranger = server.account_token("stranger@example.com");
    let err = change_plan(&server, &stranger, &org.name, "plans/free")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");

    // Enterprise is not self-serve and the owner cannot see it: NOT_FOUND.
    let err = change_plan(&server, &owner, &org.name, "plans/enterprise")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    assert!(err.message().contains("plans/enterprise"));
    let err = server
        .plans(&owner)
        .get_plan(pb::GetPlanRequest {
            name: "plans/enterprise".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = change_plan(&server, &owner, &org.name, "plans/nope")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Once one of the owner's organizations is on it, they see it, and
    // choosing it for another is PERMISSION_DENIED, not self-serve.
    let other = server.verified_org(&owner, "Other").await;
    assign_plan(&server, &other.name, "plans/enterprise", false)
        .await
        .unwrap();
    let err = change_plan(&server, &owner, &org.name, "plans/enterprise")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert_eq!(reason(&err).as_deref(), Some("PLAN_NOT_SELF_SERVE"));
    let seen = server
        .plans(&owner)
        .get_plan(pb::GetPlanRequest {
            name: "plans/enterprise".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert!(!seen.self_serve);
    // Choosing the plan one is on changes nothing.
    let same = change_plan(&server, &owner, &other.name, "plans/enterprise")
        .await
        .unwrap();
    assert_eq!(same.plan, "plans/enterprise");

    // Listing: accounts see self-serve plans and their organizations';
    // operators see all.
    let names =
        |plans: Vec<pb::Plan>| -> Vec<String> { plans.into_iter().map(|p| p.name).collect() };
    let listed = server
        .plans(&owner)
        .list_plans(pb::ListPlansRequest::default())
        .await
        .unwrap()
        .into_inner()
        .plans;
    assert_eq!(
        names(listed),
        ["plans/enterprise", "plans/free", "plans/pro"]
    );
    let listed = server
        .plans(&stranger)
        .list_plans(pb::ListPlansRequest::default())
        .await
        .unwrap()
        .into_inner()
        .plans;
    assert_eq!(names(listed), ["plans/free", "plans/pro"]);
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = server
            .plans(&server.operator_token())
            .list_plans(pb::ListPlansRequest {
                page_size: 2,
                page_token: page_token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        all.extend(page.plans);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let defaults: Vec<bool> = all.iter().map(|p| p.deployment_default).collect();
    assert_eq!(
        names(all),
        [
            "plans/default",
            "plans/enterprise",
            "plans/free",
            "plans/pro"
        ]
    );
    assert_eq!(defaults, [true, false, false, false]);
    // A page token is the caller's own.
    let first = server
        .plans(&server.operator_token())
        .list_plans(pb::ListPlansRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let err = server
        .plans(&owner)
        .list_plans(pb::ListPlansRequest {
            page_size: 1,
            page_token: first.next_page_token,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["page_token"]);

    // Plans and assignments are for operators.
    let err = server
        .plans(&owner)
        .create_plan(pb::CreatePlanRequest {
            plan: Some(plan("Mine", true, &[("max_projects", 999)], &[], &[])),
            plan_id: "mine".into(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = server
        .plans(&owner)
        .delete_plan(pb::DeletePlanRequest {
            name: "plans/free".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = server
        .operator(&owner)
        .set_organization_plan(pb::SetOrganizationPlanRequest {
            name: org.name.clone(),
            plan: "plans/enterprise".into(),
            reason: "please".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    server.stop().await;
}

/// Bad input names the field; duplicate ids, stale etags, plans in use and
/// the default plan are refused; plan changes are audited.
async fn plans_are_validated_and_protected(backend: Backend) {
    let server = TestServer::start_with(backend, &["--default-plan=starter"]).await;
    let op = server.operator_token();
    let mut plans = server.plans(&op);

    let starter = plans
        .get_plan(pb::GetPlanRequest {
            name: "plans/starter".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert!(starter.deployment_default && starter.all_features);
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    assert_eq!(org.plan, "plans/starter");

    // Bad input: every bad field named.
    let huge = "x".repeat(10_000);
    let err = plans
        .create_plan(pb::CreatePlanRequest {
            plan: Some(pb::Plan {
                display_name: String::new(),
                capabilities: Some(tpb::Capabilities {
                    limits: [
                        ("max_unicorns".to_string(), 1),
                        ("max_projects".to_string(), -1),
                    ]
                    .into(),
                    flags: [
                        ("spending_limit_reached".to_string(), true),
                        ("free_lunch".to_string(), true),
                    ]
                    .into(),
                    ..Default::default()
                }),
                features: vec!["github".into(), huge.clone()],
                ..Default::default()
            }),
            plan_id: "Big Plan".into(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut fields = bad_fields(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "plan.capabilities.flags[free_lunch]",
            "plan.capabilities.flags[spending_limit_reached]",
            "plan.capabilities.limits[max_projects]",
            "plan.capabilities.limits[max_unicorns]",
            "plan.display_name",
            "plan.features[1]",
            "plan_id",
        ]
    );
    assert!(err.message().len() < 2_000);
    for bad_id in ["", "-x", "x-", "9lives", "plans/x", &"a".repeat(64)] {
        let err = plans
            .create_plan(pb::CreatePlanRequest {
                plan: Some(plan("X", true, &[], &[], &[])),
                plan_id: bad_id.into(),
                validate_only: false,
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&err), ["plan_id"], "{bad_id:?}");
    }
    let mut all = plan("All", true, &[], &[], &["github"]);
    all.all_features = true;
    let err = plans
        .create_plan(pb::CreatePlanRequest {
            plan: Some(all),
            plan_id: "all".into(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["plan.features"]);
    for name in ["", "plans/", "plans/Free", "organizations/x", "plans/a/b"] {
        let err = plans
            .get_plan(pb::GetPlanRequest { name: name.into() })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&err), ["name"], "{name:?}");
    }
    let err = server
        .plans(&owner)
        .change_plan(pb::ChangePlanRequest {
            organization: "organizations/nope".into(),
            plan: "free".into(),
            etag: "1".into(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    let mut fields = bad_fields(&err);
    fields.sort();
    assert_eq!(fields, ["etag", "organization", "plan"]);
    let err = server
        .operator(&op)
        .set_organization_plan(pb::SetOrganizationPlanRequest {
            name: org.name.clone(),
            plan: "plans/".into(),
            reason: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let mut fields = bad_fields(&err);
    fields.sort();
    assert_eq!(fields, ["plan", "reason"]);

    // validate_only writes nothing; a duplicate id is ALREADY_EXISTS.
    let free = plan("Free", true, &[("max_projects", 2)], &[], &[]);
    plans
        .create_plan(pb::CreatePlanRequest {
            plan: Some(free.clone()),
            plan_id: "free".into(),
            validate_only: true,
        })
        .await
        .unwrap();
    let err = plans
        .get_plan(pb::GetPlanRequest {
            name: "plans/free".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let created = create_plan(&server, "free", free.clone()).await;
    assert_eq!(created.name, "plans/free");
    assert_eq!(created.features, Vec::<String>::new());
    assert!(!created.all_features && !created.deployment_default);
    let err = plans
        .create_plan(pb::CreatePlanRequest {
            plan: Some(free),
            plan_id: "free".into(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);

    // Update: a stale etag is ABORTED, an unknown path INVALID_ARGUMENT.
    let update = |etag: &str, paths: &[&str]| pb::UpdatePlanRequest {
        plan: Some(pb::Plan {
            name: "plans/free".into(),
            display_name: "Free forever".into(),
            all_features: true,
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
        validate_only: false,
    };
    let err = plans
        .update_plan(update("\"99\"", &["display_name"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    let err = plans
        .update_plan(update(&created.etag, &["name"]))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["update_mask.paths[0]"]);
    let updated = plans
        .update_plan(update(&created.etag, &["display_name", "all_features"]))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert_eq!(updated.display_name, "Free forever");
    assert!(updated.all_features);
    assert_eq!(updated.capabilities.unwrap().limits["max_projects"], 2);
    assert_ne!(updated.etag, created.etag);

    // Delete: not while an organization is on it, never the default plan.
    change_plan(&server, &owner, &org.name, "plans/free")
        .await
        .unwrap();
    let err = plans
        .delete_plan(pb::DeletePlanRequest {
            name: "plans/free".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("PLAN_IN_USE"));
    assert_eq!(metadata(&err)["organizations"], "1");
    let err = plans
        .delete_plan(pb::DeletePlanRequest {
            name: "plans/starter".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("DEFAULT_PLAN"));
    // The seeded `default` plan is an ordinary one here: nobody is on it.
    plans
        .delete_plan(pb::DeletePlanRequest {
            name: "plans/default".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    change_plan(&server, &owner, &org.name, "plans/starter")
        .await
        .unwrap_err(); // starter is not self-serve
    assign_plan(&server, &org.name, "plans/starter", false)
        .await
        .unwrap();
    let deleted = plans
        .delete_plan(pb::DeletePlanRequest {
            name: "plans/free".into(),
            etag: updated.etag.clone(),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert_eq!(deleted.name, "plans/free");
    let err = plans
        .get_plan(pb::GetPlanRequest {
            name: "plans/free".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Plan management is in the audit log (operators read it unscoped).
    let events = server
        .audit(&op)
        .list_audit_events(pb::ListAuditEventsRequest {
            resource: "plans/free".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    let methods: Vec<&str> = events.iter().map(|e| e.method.as_str()).collect();
    assert_eq!(methods, ["DeletePlan", "UpdatePlan", "CreatePlan"]);
    assert!(events.iter().all(|e| e.actor == "operator:op"));
    server.stop().await;
}

backend_tests!(
    upgrades_raise_limits_at_once_and_downgrades_below_usage_are_refused,
    an_enterprise_only_feature_names_the_plan,
    the_policy_says_where_each_capability_comes_from,
    only_owners_and_admins_choose_and_only_self_serve_plans,
    plans_are_validated_and_protected,
);
