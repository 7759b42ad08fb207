//! Acceptance (dns, project scope and delegation): project zones live in
//! their project — managed by its members, NOT_FOUND to other projects'
//! members, other tenants, and under deleted or unknown projects; hidden
//! while their project is deleted and back on undelete; gone (with their
//! records, usage recounted) when the project is purged, and every dns row
//! of an organization gone when it is purged. Delegation (acceptance 4): a
//! project-scoped member changes `x.apps.example.com` and is
//! PERMISSION_DENIED on the apex and on another project's pattern; bad
//! delegations are INVALID_ARGUMENT naming the field.

use std::time::{Duration, Instant};

use loopback_proto::dns::v1 as pb;
use loopback_proto::orgcore::v1 as ocpb;
use loopback_tests::requests::dns::{a, create_change, create_record, create_zone, delegate};
use loopback_tests::schema::{count, rows_mentioning};
use loopback_tests::{Backend, TestServer, backend_tests, bad_fields, metadata, reason};
use sea_orm::Database;
use tonic::{Code, Status};

/// Seconds of retention, and org-core's purge job every second.
const FAST_PURGE: &[&str] = &[
    "--deleted-retention=2s",
    "--purge-interval=1s",
    "--feed-retention=2s",
    "--feed-compaction-interval=1s",
];

/// Polls `check` until it returns `Some`, or fails after 30 s.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, what: &str) -> Status {
    let err = result.expect_err(what);
    assert_eq!(err.code(), code, "{what}: {err:?}");
    err
}

fn denied<T: std::fmt::Debug>(result: Result<T, Status>, permission: &str, what: &str) {
    let err = assert_code(result, Code::PermissionDenied, what);
    assert_eq!(metadata(&err)["permission"], permission, "{what}");
}

async fn new_zone(server: &TestServer, token: &str, parent: &str, dns_name: &str) -> pb::Zone {
    server
        .zones(token)
        .create_zone(create_zone(parent, dns_name))
        .await
        .unwrap()
        .into_inner()
        .zone
        .unwrap()
}

async fn get_zone(server: &TestServer, token: &str, name: &str) -> Result<pb::Zone, Status> {
    server
        .zones(token)
        .get_zone(pb::GetZoneRequest { name: name.into() })
        .await
        .map(|r| r.into_inner().zone.unwrap())
}

async fn list_zones(server: &TestServer, token: &str, parent: &str) -> Result<Vec<String>, Status> {
    server
        .zones(token)
        .list_zones(pb::ListZonesRequest {
            parent: parent.into(),
            ..Default::default()
        })
        .await
        .map(|r| {
            r.into_inner()
                .zones
                .into_iter()
                .map(|z| z.dns_name)
                .collect()
        })
}

async fn add_record(
    server: &TestServer,
    token: &str,
    zone: &str,
    record: pb::Record,
) -> Result<pb::Record, Status> {
    server
        .records(token)
        .create_record(create_record(zone, record))
        .await
        .map(|r| r.into_inner().record.unwrap())
}

async fn get_record(server: &TestServer, token: &str, name: &str) -> Result<pb::Record, Status> {
    server
        .records(token)
        .get_record(pb::GetRecordRequest { name: name.into() })
        .await
        .map(|r| r.into_inner().record.unwrap())
}

async fn list_records(server: &TestServer, token: &str, zone: &str) -> Result<Vec<String>, Status> {
    let mut owners = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = server
            .records(token)
            .list_records(pb::ListRecordsRequest {
                parent: zone.into(),
                page_size: 2,
                page_token,
                ..Default::default()
            })
            .await?
            .into_inner();
        owners.extend(page.records.into_iter().map(|r| r.owner));
        if page.next_page_token.is_empty() {
            return Ok(owners);
        }
        page_token = page.next_page_token;
    }
}

async fn set_ttl(
    server: &TestServer,
    token: &str,
    record: &pb::Record,
    owner: Option<&str>,
) -> Result<pb::Record, Status> {
    let mut paths = vec!["ttl".to_string()];
    if owner.is_some() {
        paths.push("owner".into());
    }
    server
        .records(token)
        .update_record(pb::UpdateRecordRequest {
            record: Some(pb::Record {
                name: record.name.clone(),
                owner: owner.unwrap_or_default().into(),
                ttl: 900,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths }),
            validate_only: false,
        })
        .await
        .map(|r| r.into_inner().record.unwrap())
}

async fn delete_record(server: &TestServer, token: &str, name: &str) -> Result<(), Status> {
    server
        .records(token)
        .delete_record(pb::DeleteRecordRequest {
            name: name.into(),
            ..Default::default()
        })
        .await
        .map(|_| ())
}

fn id_of(name: &str) -> &str {
    name.rsplit('/').next().unwrap()
}

/// An owner, a verified organization with projects X and Y, a member bound
/// to X only (`member` role) and an admin bound to X only.
struct Setup {
    server: TestServer,
    owner: String,
    org: String,
    x: String,
    y: String,
    x_member: String,
    x_admin: String,
}

async fn setup(backend: Backend) -> Setup {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    let x = server.create_project(&owner, &org, "x").await.name;
    let y = server.create_project(&owner, &org, "y").await.name;
    let x_member = server
        .add_project_member(&owner, &org, "x-member@example.com", &x, "member")
        .await;
    let x_admin = server
        .add_project_member(&owner, &org, "x-admin@example.com", &x, "admin")
        .await;
    Setup {
        server,
        owner,
        org,
        x,
        y,
        x_member,
        x_admin,
    }
}

/// Project zones: managed in their project's scope; NOT_FOUND for other
/// projects' members, other tenants, under unknown projects and under the
/// wrong scope; listed under their project only.
async fn project_zones_are_managed_in_their_project_only(backend: Backend) {
    let Setup {
        server,
        owner,
        org,
        x,
        y,
        x_member,
        x_admin,
    } = setup(backend).await;
    // A project admin creates zones in their project; a project member
    // manages its records but cannot create zones.
    let x_zone = new_zone(&server, &x_admin, &x, "x-team.example").await;
    assert!(
        x_zone.name.starts_with(&format!("{x}/zones/")),
        "{}",
        x_zone.name
    );
    denied(
        server
            .zones(&x_member)
            .create_zone(create_zone(&x, "other.example"))
            .await,
        "dns.zones.create",
        "a project member creates a zone",
    );
    let y_zone = new_zone(&server, &owner, &y, "y-team.example").await;
    let org_zone = new_zone(&server, &owner, &org, "example.com").await;

    assert_eq!(
        get_zone(&server, &x_member, &x_zone.name)
            .await
            .unwrap()
            .dns_name,
        "x-team.example."
    );
    assert_eq!(
        list_zones(&server, &x_member, &x).await.unwrap(),
        ["x-team.example."]
    );
    let www = add_record(
        &server,
        &x_member,
        &x_zone.name,
        a("www.x-team.example", "192.0.2.1"),
    )
    .await
    .unwrap();
    assert!(www.name.starts_with(&x_zone.name), "{}", www.name);
    assert_eq!(
        get_record(&server, &x_member, &www.name)
            .await
            .unwrap()
            .owner,
        "www.x-team.example."
    );
    set_ttl(&server, &x_member, &www, None).await.unwrap();
    assert_eq!(
        list_records(&server, &x_member, &x_zone.name)
            .await
            .unwrap(),
        ["www.x-team.example."]
    );
    let export = server
        .zones(&x_member)
        .export_zone(pb::ExportZoneRequest {
            name: x_zone.name.clone(),
        })
        .await;
    assert!(export.is_ok(), "{export:?}");

    // Project Y's zones, organization-level zone lists: not theirs.
    for what in ["get", "list", "record", "update"] {
        let result = match what {
            "get" => get_zone(&server, &x_member, &y_zone.name).await.map(drop),
            "list" => list_zones(&server, &x_member, &y).await.map(drop),
            "record" => add_record(
                &server,
                &x_member,
                &y_zone.name,
                a("a.y-team.example", "192.0.2.1"),
            )
            .await
            .map(drop),
            _ => get_zone(&server, &x_admin, &y_zone.name).await.map(drop),
        };
        assert_code(result, Code::NotFound, &format!("{what} in project Y"));
    }
    denied(
        list_zones(&server, &x_member, &org).await,
        "dns.zones.list",
        "org-level list",
    );
    denied(
        get_zone(&server, &x_member, &org_zone.name).await,
        "dns.zones.get",
        "org zone",
    );

    // Organization members see project zones under their project only.
    assert_eq!(
        list_zones(&server, &owner, &org).await.unwrap(),
        ["example.com."]
    );
    assert_eq!(
        list_zones(&server, &owner, &x).await.unwrap(),
        ["x-team.example."]
    );
    get_zone(&server, &owner, &x_zone.name).await.unwrap();

    // The wrong scope, an unknown project, another tenant: NOT_FOUND.
    let zone_id = x_zone.name.rsplit('/').next().unwrap();
    let unknown = format!("{org}/projects/{}", uuid::Uuid::now_v7());
    for name in [
        format!("{org}/zones/{zone_id}"),
        format!("{y}/zones/{zone_id}"),
        format!("{unknown}/zones/{zone_id}"),
    ] {
        assert_code(
            get_zone(&server, &owner, &name).await,
            Code::NotFound,
            &name,
        );
    }
    assert_code(
        server
            .zones(&owner)
            .create_zone(create_zone(&unknown, "nowhere.example"))
            .await,
        Code::NotFound,
        "a zone under an unknown project",
    );
    assert_code(
        list_zones(&server, &owner, &unknown).await,
        Code::NotFound,
        "list under an unknown project",
    );
    let stranger = server.account_token("stranger@example.com");
    server.verified_org(&stranger, "Other").await;
    for name in [&x_zone.name, &www.name] {
        let result = if name.contains("/records/") {
            get_record(&server, &stranger, name).await.map(drop)
        } else {
            get_zone(&server, &stranger, name).await.map(drop)
        };
        assert_code(result, Code::NotFound, "another tenant");
    }
    // Bad parents name the field.
    let err = assert_code(
        server
            .zones(&owner)
            .create_zone(create_zone(&format!("{x}/workspaces/w"), "w.example"))
            .await,
        Code::InvalidArgument,
        "a workspace parent",
    );
    assert_eq!(bad_fields(&err), ["parent"]);
    server.stop().await;
}

/// A project's zones are NOT_FOUND (and not listed, nor their records)
/// while it is deleted, and back when it is restored.
async fn project_zones_are_hidden_while_their_project_is_deleted(backend: Backend) {
    let Setup {
        server, owner, x, ..
    } = setup(backend).await;
    let zone = new_zone(&server, &owner, &x, "x-team.example").await;
    let record = add_record(
        &server,
        &owner,
        &zone.name,
        a("www.x-team.example", "192.0.2.1"),
    )
    .await
    .unwrap();
    server
        .projects(&owner)
        .delete_project(ocpb::DeleteProjectRequest {
            name: x.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    eventually("the zone hidden", || async {
        get_zone(&server, &owner, &zone.name)
            .await
            .is_err()
            .then_some(())
    })
    .await;
    assert_code(
        get_zone(&server, &owner, &zone.name).await,
        Code::NotFound,
        "zone",
    );
    assert_code(
        list_zones(&server, &owner, &x).await,
        Code::NotFound,
        "list",
    );
    assert_code(
        get_record(&server, &owner, &record.name).await,
        Code::NotFound,
        "record",
    );
    assert_code(
        list_records(&server, &owner, &zone.name).await,
        Code::NotFound,
        "records",
    );
    assert_code(
        add_record(
            &server,
            &owner,
            &zone.name,
            a("new.x-team.example", "192.0.2.2"),
        )
        .await,
        Code::NotFound,
        "a new record",
    );
    server
        .projects(&owner)
        .undelete_project(ocpb::UndeleteProjectRequest {
            name: x.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    eventually("the zone back", || async {
        get_zone(&server, &owner, &zone.name).await.ok()
    })
    .await;
    assert_eq!(
        list_zones(&server, &owner, &x).await.unwrap(),
        ["x-team.example."]
    );
    let back = get_record(&server, &owner, &record.name).await.unwrap();
    assert_eq!((back.owner, back.etag), (record.owner, record.etag));
    server.stop().await;
}

/// Acceptance 4: a project-scoped member changes `x.apps.example.com`
/// (delegated to their project) and is PERMISSION_DENIED on the apex and
/// on another project's pattern, in single writes, batches and imports;
/// they read only their names; a delegation removed grants nothing.
async fn a_project_member_changes_only_the_names_delegated_to_their_project(backend: Backend) {
    let Setup {
        server,
        owner,
        org,
        x,
        y,
        x_member,
        ..
    } = setup(backend).await;
    let zone = new_zone(&server, &owner, &org, "example.com").await;
    let delegations = server.delegations(&owner);
    let apps = delegations
        .clone()
        .create_delegation(delegate(&zone.name, "*.apps.example.com", &x))
        .await
        .unwrap()
        .into_inner()
        .delegation
        .unwrap();
    assert_eq!(
        (apps.pattern.as_str(), apps.target.as_str()),
        ("*.apps.example.com.", x.as_str())
    );
    delegations
        .clone()
        .create_delegation(delegate(&zone.name, "*.other.example.com", &y))
        .await
        .unwrap();
    let apex = add_record(&server, &owner, &zone.name, a("@", "192.0.2.10"))
        .await
        .unwrap();
    let theirs = add_record(
        &server,
        &owner,
        &zone.name,
        a("web.other.example.com", "192.0.2.11"),
    )
    .await
    .unwrap();

    // Their pattern: create, update, delete.
    let x_rec = add_record(
        &server,
        &x_member,
        &zone.name,
        a("x.apps.example.com", "192.0.2.1"),
    )
    .await
    .unwrap();
    set_ttl(&server, &x_member, &x_rec, None).await.unwrap();
    let deep = add_record(
        &server,
        &x_member,
        &zone.name,
        a("a.b.apps.example.com", "192.0.2.2"),
    )
    .await
    .unwrap();
    delete_record(&server, &x_member, &deep.name).await.unwrap();

    // The apex and project Y's pattern: PERMISSION_DENIED.
    for owner_name in [
        "@",
        "apps.example.com",
        "y.other.example.com",
        "www.example.com",
    ] {
        denied(
            add_record(&server, &x_member, &zone.name, a(owner_name, "192.0.2.3")).await,
            "dns.records.create",
            owner_name,
        );
    }
    denied(
        set_ttl(&server, &x_member, &apex, None).await,
        "dns.records.update",
        "the apex record",
    );
    denied(
        set_ttl(&server, &x_member, &theirs, None).await,
        "dns.records.update",
        "Y's record",
    );
    denied(
        set_ttl(&server, &x_member, &x_rec, Some("x.other.example.com")).await,
        "dns.records.update",
        "moving a record out of their pattern",
    );
    denied(
        delete_record(&server, &x_member, &apex.name).await,
        "dns.records.delete",
        "delete apex",
    );
    denied(
        get_record(&server, &x_member, &apex.name).await,
        "dns.records.get",
        "read apex",
    );
    assert_eq!(
        get_record(&server, &x_member, &x_rec.name)
            .await
            .unwrap()
            .owner,
        "x.apps.example.com."
    );

    // A batch must be allowed for every change: one foreign name applies
    // nothing.
    let batch = |changes: Vec<pb::RecordChange>| pb::BatchChangeRecordsRequest {
        parent: zone.name.clone(),
        changes,
        ..Default::default()
    };
    denied(
        server
            .records(&x_member)
            .batch_change_records(batch(vec![
                create_change(a("b1.apps.example.com", "192.0.2.4")),
                create_change(a("b1.other.example.com", "192.0.2.4")),
            ]))
            .await,
        // The batch's own row is checked first.
        "dns.records.update",
        "a batch touching Y's pattern",
    );
    server
        .records(&x_member)
        .batch_change_records(batch(vec![
            create_change(a("b2.apps.example.com", "192.0.2.5")),
            create_change(a("b3.apps.example.com", "192.0.2.6")),
        ]))
        .await
        .unwrap();
    // An import removing the apex record is refused; nothing changes.
    denied(
        server
            .zones(&x_member)
            .import_zone(pb::ImportZoneRequest {
                name: zone.name.clone(),
                zone_file: b"x.apps.example.com. 300 IN A 192.0.2.1\n".to_vec(),
                ..Default::default()
            })
            .await,
        "dns.records.create",
        "an import removing other names",
    );

    // They list (and read the zone of) their names only; the owner all.
    assert_eq!(
        list_records(&server, &x_member, &zone.name).await.unwrap(),
        [
            "b2.apps.example.com.",
            "b3.apps.example.com.",
            "x.apps.example.com."
        ]
    );
    assert_eq!(
        list_records(&server, &owner, &zone.name)
            .await
            .unwrap()
            .len(),
        5
    );
    get_zone(&server, &x_member, &zone.name).await.unwrap();

    // A workspace of X counts as X.
    delegations
        .clone()
        .create_delegation(delegate(
            &zone.name,
            "shop.example.com",
            &format!("{x}/workspaces/web"),
        ))
        .await
        .unwrap();
    add_record(
        &server,
        &x_member,
        &zone.name,
        a("shop.example.com", "192.0.2.7"),
    )
    .await
    .unwrap();

    // Organization-level members write anywhere.
    let member = server
        .add_member(&owner, &org, "member@example.com", &["member"])
        .await
        .0;
    add_record(
        &server,
        &member,
        &zone.name,
        a("www.example.com", "192.0.2.8"),
    )
    .await
    .unwrap();

    // Removing the delegation takes the names back.
    delegations
        .clone()
        .delete_delegation(pb::DeleteDelegationRequest {
            name: apps.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    denied(
        add_record(
            &server,
            &x_member,
            &zone.name,
            a("z.apps.example.com", "192.0.2.9"),
        )
        .await,
        "dns.records.create",
        "after the delegation went",
    );
    // A project viewer of X holds no record writes there.
    let x_viewer = server
        .add_project_member(&owner, &org, "x-viewer@example.com", &x, "viewer")
        .await;
    denied(
        add_record(
            &server,
            &x_viewer,
            &zone.name,
            a("v.shop.example.com", "192.0.2.9"),
        )
        .await,
        "dns.records.create",
        "a project viewer",
    );
    server.stop().await;
}

/// Bad delegations: INVALID_ARGUMENT naming the field; overlaps with
/// another project FAILED_PRECONDITION; duplicates ALREADY_EXISTS; only
/// organization admins delegate; another tenant's zone NOT_FOUND.
async fn bad_delegations_are_refused_naming_the_field(backend: Backend) {
    let Setup {
        server,
        owner,
        org,
        x,
        y,
        x_admin,
        ..
    } = setup(backend).await;
    let zone = new_zone(&server, &owner, &org, "example.com").await;
    let x_zone = new_zone(&server, &owner, &x, "x-team.example").await;
    let other = server.account_token("other@example.com");
    let other_org = server.verified_org(&other, "Other").await.name;
    let other_project = server
        .create_project(&other, &other_org, "theirs")
        .await
        .name;
    let unknown = format!("{org}/projects/{}", uuid::Uuid::now_v7());
    let client = server.delegations(&owner);
    let cases: Vec<(&str, String, String, &str)> = vec![
        ("", "*.apps.example.com".into(), x.clone(), "parent"),
        (
            &x_zone.name,
            "*.apps.x-team.example".into(),
            x.clone(),
            "parent",
        ),
        (&zone.name, String::new(), x.clone(), "delegation.pattern"),
        (
            &zone.name,
            "example.com".into(),
            x.clone(),
            "delegation.pattern",
        ),
        (
            &zone.name,
            "*.example.net".into(),
            x.clone(),
            "delegation.pattern",
        ),
        (
            &zone.name,
            "www.example.org".into(),
            x.clone(),
            "delegation.pattern",
        ),
        (
            &zone.name,
            "a.*.example.com".into(),
            x.clone(),
            "delegation.pattern",
        ),
        (
            &zone.name,
            "bad name!.example.com".into(),
            x.clone(),
            "delegation.pattern",
        ),
        (&zone.name, "*.com".into(), x.clone(), "delegation.pattern"),
        (
            &zone.name,
            "*.apps.example.com".into(),
            String::new(),
            "delegation.target",
        ),
        (
            &zone.name,
            "*.apps.example.com".into(),
            org.clone(),
            "delegation.target",
        ),
        (
            &zone.name,
            "*.apps.example.com".into(),
            format!("{x}/workspaces/Bad"),
            "delegation.target",
        ),
        (
            &zone.name,
            "*.apps.example.com".into(),
            other_project.clone(),
            "delegation.target",
        ),
        (
            &zone.name,
            "*.apps.example.com".into(),
            unknown.clone(),
            "delegation.target",
        ),
    ];
    for (parent, pattern, target, field) in cases {
        let what = format!("{parent} {pattern:?} -> {target:?}");
        let err = assert_code(
            client
                .clone()
                .create_delegation(delegate(parent, &pattern, &target))
                .await,
            Code::InvalidArgument,
            &what,
        );
        assert_eq!(bad_fields(&err), [field], "{what}");
    }

    // Overlaps with another project's pattern are refused; with the same
    // project they are fine; the same delegation twice already exists.
    client
        .clone()
        .create_delegation(delegate(&zone.name, "*.apps.example.com", &x))
        .await
        .unwrap();
    for pattern in [
        "*.apps.example.com",
        "x.apps.example.com",
        "*.example.com",
        "*.a.apps.example.com",
    ] {
        let err = assert_code(
            client
                .clone()
                .create_delegation(delegate(&zone.name, pattern, &y))
                .await,
            Code::FailedPrecondition,
            pattern,
        );
        assert_eq!(
            reason(&err).as_deref(),
            Some("DELEGATION_OVERLAP"),
            "{pattern}"
        );
    }
    client
        .clone()
        .create_delegation(delegate(&zone.name, "apps.example.com", &y))
        .await
        .unwrap();
    client
        .clone()
        .create_delegation(delegate(
            &zone.name,
            "*.a.apps.example.com",
            &format!("{x}/workspaces/a"),
        ))
        .await
        .unwrap();
    assert_code(
        client
            .clone()
            .create_delegation(delegate(&zone.name, "*.apps.example.com", &x))
            .await,
        Code::AlreadyExists,
        "the same delegation twice",
    );
    let listed: Vec<(String, String)> = client
        .clone()
        .list_delegations(pb::ListDelegationsRequest {
            parent: zone.name.clone(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .delegations
        .into_iter()
        .map(|d| (d.pattern, d.target))
        .collect();
    assert_eq!(
        listed,
        [(
            "*.a.apps.example.com.".to_string(),
            format!("{x}/workspaces/a")
        )]
    );

    // Only organization admins delegate; a project admin is denied; another
    // tenant finds nothing.
    denied(
        server
            .delegations(&x_admin)
            .create_delegation(delegate(&zone.name, "*.b.example.com", &x))
            .await,
        "dns.delegations.create",
        "a project admin",
    );
    let member = server
        .add_member(&owner, &org, "member@example.com", &["member"])
        .await
        .0;
    denied(
        server
            .delegations(&member)
            .create_delegation(delegate(&zone.name, "*.b.example.com", &x))
            .await,
        "dns.delegations.create",
        "an organization member",
    );
    server
        .delegations(&member)
        .list_delegations(pb::ListDelegationsRequest {
            parent: zone.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_code(
        server
            .delegations(&other)
            .list_delegations(pb::ListDelegationsRequest {
                parent: zone.name.clone(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "another tenant",
    );
    server.stop().await;
}

/// Delegations are read and removed by name: bad names are
/// INVALID_ARGUMENT naming `name`, another zone's or another tenant's
/// delegation NOT_FOUND, and a removed one NOT_FOUND.
async fn delegations_are_read_and_removed_by_name(backend: Backend) {
    let Setup {
        server,
        owner,
        org,
        x,
        ..
    } = setup(backend).await;
    let zone = new_zone(&server, &owner, &org, "example.com").await;
    let other_zone = new_zone(&server, &owner, &org, "example.org").await;
    let client = server.delegations(&owner);
    let created = client
        .clone()
        .create_delegation(delegate(&zone.name, "*.apps.example.com", &x))
        .await
        .unwrap()
        .into_inner()
        .delegation
        .unwrap();
    assert!(
        created
            .name
            .starts_with(&format!("{}/delegations/", zone.name)),
        "{}",
        created.name
    );
    let got = client
        .clone()
        .get_delegation(pb::GetDelegationRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .delegation
        .unwrap();
    assert_eq!(got, created);

    let get = |token: &str, name: String| {
        let mut c = server.delegations(token);
        async move { c.get_delegation(pb::GetDelegationRequest { name }).await }
    };
    let delete = |token: &str, name: String| {
        let mut c = server.delegations(token);
        async move {
            c.delete_delegation(pb::DeleteDelegationRequest {
                name,
                ..Default::default()
            })
            .await
        }
    };
    let id = id_of(&created.name).to_string();
    let x_zone = new_zone(&server, &owner, &x, "x-team.example").await;
    for bad in [
        String::new(),
        "nonsense".to_string(),
        format!("{}/delegations/not-a-uuid", zone.name),
        format!("{}/delegations/{id}", x_zone.name),
        format!("{}/records/{id}", zone.name),
    ] {
        let err = assert_code(get(&owner, bad.clone()).await, Code::InvalidArgument, &bad);
        assert_eq!(bad_fields(&err), ["name"], "{bad}");
        let err = assert_code(
            delete(&owner, bad.clone()).await,
            Code::InvalidArgument,
            &bad,
        );
        assert_eq!(bad_fields(&err), ["name"], "{bad}");
    }
    let err = assert_code(
        client
            .clone()
            .list_delegations(pb::ListDelegationsRequest {
                parent: "organizations/nope".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "a bad list parent",
    );
    assert_eq!(bad_fields(&err), ["parent"]);

    // Another zone's, an unknown one, another tenant: NOT_FOUND.
    for name in [
        format!("{}/delegations/{id}", other_zone.name),
        format!("{}/delegations/{}", zone.name, uuid::Uuid::now_v7()),
    ] {
        assert_code(get(&owner, name.clone()).await, Code::NotFound, &name);
        assert_code(delete(&owner, name.clone()).await, Code::NotFound, &name);
    }
    let stranger = server.account_token("stranger@example.com");
    server.verified_org(&stranger, "Other").await;
    assert_code(
        get(&stranger, created.name.clone()).await,
        Code::NotFound,
        "another tenant reads",
    );
    assert_code(
        delete(&stranger, created.name.clone()).await,
        Code::NotFound,
        "another tenant removes",
    );
    // validate_only removes nothing; a real delete does, once.
    client
        .clone()
        .delete_delegation(pb::DeleteDelegationRequest {
            name: created.name.clone(),
            validate_only: true,
        })
        .await
        .unwrap();
    get(&owner, created.name.clone()).await.unwrap();
    let removed = delete(&owner, created.name.clone())
        .await
        .unwrap()
        .into_inner()
        .delegation
        .unwrap();
    assert_eq!(removed, created);
    assert_code(
        get(&owner, created.name.clone()).await,
        Code::NotFound,
        "removed",
    );
    assert_code(
        delete(&owner, created.name.clone()).await,
        Code::NotFound,
        "removed twice",
    );
    server.stop().await;
}

/// A purged project's zones go for good, with their records and the
/// delegations to it; the records under its delegated names stay with the
/// organization zone, and project Y keeps everything.
async fn a_purged_project_takes_its_zones_and_delegations_with_it(backend: Backend) {
    let server = TestServer::start_with(backend, FAST_PURGE).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    let x = server.create_project(&owner, &org, "x").await.name;
    let y = server.create_project(&owner, &org, "y").await.name;
    let x_zone = new_zone(&server, &owner, &x, "x-team.example").await;
    for name in ["www.x-team.example", "api.x-team.example"] {
        add_record(&server, &owner, &x_zone.name, a(name, "192.0.2.1"))
            .await
            .unwrap();
    }
    let y_zone = new_zone(&server, &owner, &y, "y-team.example").await;
    add_record(
        &server,
        &owner,
        &y_zone.name,
        a("www.y-team.example", "192.0.2.1"),
    )
    .await
    .unwrap();
    let zone = new_zone(&server, &owner, &org, "example.com").await;
    let client = server.delegations(&owner);
    for (pattern, target) in [
        ("*.apps.example.com", x.clone()),
        ("shop.example.com", format!("{x}/workspaces/web")),
        ("*.other.example.com", y.clone()),
    ] {
        client
            .clone()
            .create_delegation(delegate(&zone.name, pattern, &target))
            .await
            .unwrap();
    }
    add_record(
        &server,
        &owner,
        &zone.name,
        a("x.apps.example.com", "192.0.2.2"),
    )
    .await
    .unwrap();

    let db = Database::connect(&server.dns_database_url()).await.unwrap();
    let (x_id, y_id) = (id_of(&x), id_of(&y));
    let zones_of =
        |project: &str| format!("SELECT COUNT(*) AS n FROM zones WHERE project_id = '{project}'");
    let delegations_to = |project: &str| {
        format!("SELECT COUNT(*) AS n FROM zone_delegations WHERE project_id = '{project}'")
    };
    let records_in = |zone: &str| {
        format!(
            "SELECT COUNT(*) AS n FROM records WHERE zone_id = '{}'",
            id_of(zone)
        )
    };
    assert_eq!(count(&db, zones_of(x_id)).await, 1);
    assert_eq!(count(&db, delegations_to(x_id)).await, 2);
    assert_eq!(count(&db, records_in(&x_zone.name)).await, 2);

    server
        .projects(&owner)
        .delete_project(ocpb::DeleteProjectRequest {
            name: x.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    eventually("dns deletes the purged project's zones", || async {
        (count(&db, zones_of(x_id)).await == 0 && count(&db, delegations_to(x_id)).await == 0)
            .then_some(())
    })
    .await;
    assert_eq!(count(&db, records_in(&x_zone.name)).await, 0);
    assert!(
        rows_mentioning(&db, x_id)
            .await
            .iter()
            .all(|(table, _)| table == "kit_audit_outbox"),
        "{:?}",
        rows_mentioning(&db, x_id).await
    );
    // Project Y and the organization zone keep theirs.
    assert_eq!(count(&db, zones_of(y_id)).await, 1);
    assert_eq!(count(&db, delegations_to(y_id)).await, 1);
    assert_eq!(count(&db, records_in(&y_zone.name)).await, 1);
    assert_eq!(
        list_records(&server, &owner, &zone.name).await.unwrap(),
        ["x.apps.example.com."]
    );
    let left: Vec<String> = client
        .clone()
        .list_delegations(pb::ListDelegationsRequest {
            parent: zone.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .delegations
        .into_iter()
        .map(|d| d.pattern)
        .collect();
    assert_eq!(left, ["*.other.example.com."]);
    assert_code(
        get_zone(&server, &owner, &x_zone.name).await,
        Code::NotFound,
        "the purged project's zone",
    );
    // The zone count org-core sees went down with it.
    let usage = |server: &TestServer| {
        let mut quotas = server.quotas(&owner);
        let org = org.clone();
        async move {
            quotas
                .get_organization_usage(ocpb::GetOrganizationUsageRequest { organization: org })
                .await
                .unwrap()
                .into_inner()
                .limits
                .into_iter()
                .find(|u| u.limit == "max_dns_zones")
                .map(|u| u.usage)
        }
    };
    eventually("usage recounted", || async {
        (usage(&server).await == Some(2)).then_some(())
    })
    .await;
    server.stop().await;
}

/// A purged organization leaves no row in dns's database: zones of every
/// scope, records, delegations, domains, bridges, usage counts and the
/// kit's rows all go; another organization keeps its zone.
async fn a_purged_organization_leaves_no_dns_data(backend: Backend) {
    let server = TestServer::start_with(backend, FAST_PURGE).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    let x = server.create_project(&owner, &org, "x").await.name;
    let zone = new_zone(&server, &owner, &org, "example.com").await;
    add_record(
        &server,
        &owner,
        &zone.name,
        a("www.example.com", "192.0.2.1"),
    )
    .await
    .unwrap();
    let x_zone = new_zone(&server, &owner, &x, "x-team.example").await;
    add_record(
        &server,
        &owner,
        &x_zone.name,
        a("www.x-team.example", "192.0.2.1"),
    )
    .await
    .unwrap();
    server
        .delegations(&owner)
        .create_delegation(delegate(&zone.name, "*.apps.example.com", &x))
        .await
        .unwrap();
    server
        .domains(&owner)
        .create_domain(pb::CreateDomainRequest {
            parent: org.clone(),
            domain: Some(pb::Domain {
                domain_name: "example.com".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let endpoint = |name: &str, cidr: &str| pb::BridgeEndpoint {
        segment: Some(pb::bridge_endpoint::Segment::ExternalSegment(
            pb::ExternalSegment {
                display_name: name.into(),
                gateway_address: "198.51.100.1".into(),
            },
        )),
        cidrs: vec![cidr.into()],
    };
    server
        .bridges(&owner)
        .create_network_bridge(pb::CreateNetworkBridgeRequest {
            parent: org.clone(),
            network_bridge: Some(pb::NetworkBridge {
                display_name: "office link".into(),
                endpoint_a: Some(endpoint("a", "10.1.0.0/16")),
                endpoint_b: Some(endpoint("b", "10.2.0.0/16")),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let other = server.account_token("other@example.com");
    let other_org = server.verified_org(&other, "Other").await.name;
    let other_zone = new_zone(&server, &other, &other_org, "example.net").await;

    let db = Database::connect(&server.dns_database_url()).await.unwrap();
    let org_id = id_of(&org);
    let held: Vec<String> = rows_mentioning(&db, org_id).await.into_keys().collect();
    for table in [
        "zones",
        "records",
        "zone_delegations",
        "domains",
        "network_bridges",
        "usage_reports",
    ] {
        assert!(held.iter().any(|t| t == table), "{table} in {held:?}");
    }

    server
        .orgs(&owner)
        .delete_organization(ocpb::DeleteOrganizationRequest {
            name: org.clone(),
            force: true,
            ..Default::default()
        })
        .await
        .unwrap();
    eventually("dns deletes the purged organization's data", || async {
        rows_mentioning(&db, org_id).await.is_empty().then_some(())
    })
    .await;
    assert_eq!(
        get_zone(&server, &other, &other_zone.name)
            .await
            .unwrap()
            .dns_name,
        "example.net."
    );
    server.stop().await;
}

backend_tests!(
    project_zones_are_managed_in_their_project_only,
    project_zones_are_hidden_while_their_project_is_deleted,
    a_project_member_changes_only_the_names_delegated_to_their_project,
    bad_delegations_are_refused_naming_the_field,
    delegations_are_read_and_removed_by_name,
    a_purged_project_takes_its_zones_and_delegations_with_it,
    a_purged_organization_leaves_no_dns_data,
);
