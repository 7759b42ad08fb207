//! Acceptance (dns): dns and org-core as separate OS processes — the real
//! `org-core` and `dns` binaries, each with its own database — with dns
//! finding org-core by `--org-core-url`. With org-core stopped, dns keeps
//! answering reads from its cache, lets writes through while the cache is
//! fresh, then fails them closed with AUTHORITY_UNAVAILABLE; when org-core
//! returns everything recovers by itself, and the writes dns acknowledged
//! meanwhile reach org-core's audit log and usage view.

mod interop_common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use interop_common::{Process, binary, clean_command, free_port, run};
use loopback_proto::dns::v1 as dpb;
use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1 as tpb;
use loopback_runtime::auth::{
    Authenticator, DEFAULT_AUDIENCE, DEFAULT_ISSUER, Principal, PrincipalKind,
};
use loopback_tests::requests::dns::{a, create_record, create_zone};
use loopback_tests::{Backend, backend_tests, connect_as, pg, reason};
use tonic::Code;

/// dns trusts a cached decision for writes this long after org-core was
/// last seen; short, so the test sees writes fail closed soon.
const STALENESS_SECONDS: u64 = 4;
const EVENTUALLY: Duration = Duration::from_secs(30);

async fn database_url(backend: Backend, dir: &Path, service: &str) -> String {
    match backend {
        Backend::Sqlite => loopback_runtime::db::sqlite_url(dir, &format!("{service}.db")).unwrap(),
        Backend::Postgres => pg::fresh_database().await,
    }
}

fn spawn(name: &str, addr: SocketAddr, data_dir: &Path, flags: &[String]) -> Process {
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        match Process::spawn(name, addr, data_dir, flags) {
            Ok(process) => return process,
            Err(why) if Instant::now() < deadline && why.contains("in use") => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(why) => panic!("{name} did not start on {addr}: {why}"),
        }
    }
}

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

async fn dns_reads_from_its_cache_and_fails_writes_closed_while_org_core_is_down(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    let (core_dir, dns_dir) = (dir.path().join("org-core"), dir.path().join("dns"));
    for d in [&shared, &core_dir, &dns_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    let minted = run(clean_command(&binary("loopbackd"))
        .arg("--data-dir")
        .arg(&shared)
        .args(["token", "--service", "dns", "--ttl-hours", "2"]));
    assert!(minted.status.success(), "{minted:?}");
    let token_file = shared.join("dns.token");
    std::fs::write(&token_file, &minted.stdout).unwrap();
    let key_file = shared.join(loopback_runtime::config::DEV_KEY_FILE);
    let auth =
        Authenticator::from_key_files(&[&key_file], DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
    let mint = |kind, subject: &str, email: Option<&str>| {
        auth.mint(
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

    let core_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let dns_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let core_flags = vec![
        format!("--jwt-key-file={}", key_file.display()),
        format!(
            "--org-core-database-url={}",
            database_url(backend, &core_dir, "org-core").await
        ),
    ];
    let dns_flags = vec![
        format!("--jwt-key-file={}", key_file.display()),
        format!(
            "--dns-database-url={}",
            database_url(backend, &dns_dir, "dns").await
        ),
        format!("--org-core-url=http://{core_addr}"),
        format!("--service-token-file={}", token_file.display()),
        format!("--authority-staleness-seconds={STALENESS_SECONDS}"),
    ];
    let core = spawn("org-core", core_addr, &core_dir, &core_flags);
    let dns = spawn("dns", dns_addr, &dns_dir, &dns_flags);

    let owner = mint(
        PrincipalKind::Account,
        "sub-owner",
        Some("owner@example.com"),
    );
    let operator = mint(PrincipalKind::Operator, "op", None);
    let zones = || async {
        dpb::zone_service_client::ZoneServiceClient::new(connect_as(dns_addr, &owner).await)
    };
    let records = || async {
        dpb::record_service_client::RecordServiceClient::new(connect_as(dns_addr, &owner).await)
    };

    let org = pb::organization_service_client::OrganizationServiceClient::new(
        connect_as(core_addr, &owner).await,
    )
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
    pb::operator_service_client::OperatorServiceClient::new(connect_as(core_addr, &operator).await)
        .set_verification_status(pb::SetVerificationStatusRequest {
            name: org.clone(),
            verification_status: tpb::VerificationStatus::Verified.into(),
            reason: "documents checked".into(),
            validate_only: false,
        })
        .await
        .unwrap();
    let zone = zones()
        .await
        .create_zone(create_zone(&org, "example.com"))
        .await
        .unwrap()
        .into_inner()
        .zone
        .unwrap();
    // Warm dns's cache for the calls made during the outage.
    let get = dpb::GetZoneRequest {
        name: zone.name.clone(),
    };
    zones().await.get_zone(get.clone()).await.unwrap();
    records()
        .await
        .create_record(create_record(&zone.name, a("www.example.com", "192.0.2.1")))
        .await
        .unwrap();

    // org-core goes away at once.
    core.kill();
    let read = zones()
        .await
        .get_zone(get.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        read.zone.unwrap().record_count,
        1,
        "reads answer from the cache"
    );
    records()
        .await
        .create_record(create_record(
            &zone.name,
            a("during.example.com", "192.0.2.2"),
        ))
        .await
        .expect("a write within the staleness bound is allowed from the cache");
    tokio::time::sleep(Duration::from_secs(STALENESS_SECONDS + 1)).await;
    let failed = records()
        .await
        .create_record(create_record(
            &zone.name,
            a("late.example.com", "192.0.2.3"),
        ))
        .await
        .unwrap_err();
    assert_eq!(failed.code(), Code::Unavailable);
    assert_eq!(reason(&failed).as_deref(), Some("AUTHORITY_UNAVAILABLE"));
    let read = zones()
        .await
        .get_zone(get.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        read.zone.unwrap().record_count,
        2,
        "reads still answer once writes fail closed"
    );

    // org-core returns; dns recovers by itself.
    let core = spawn("org-core", core_addr, &core_dir, &core_flags);
    eventually("dns writes to recover", || async {
        records()
            .await
            .create_record(create_record(
                &zone.name,
                a("after.example.com", "192.0.2.4"),
            ))
            .await
            .ok()
    })
    .await;

    // What dns acknowledged reaches org-core: its audit records, once each,
    // and its usage.
    let audit = || async {
        pb::audit_service_client::AuditServiceClient::new(connect_as(core_addr, &owner).await)
    };
    let events = eventually("dns's writes in the audit log", || async {
        let events = audit()
            .await
            .list_audit_events(pb::ListAuditEventsRequest {
                parent: org.clone(),
                page_size: 1000,
                ..Default::default()
            })
            .await
            .ok()?
            .into_inner()
            .audit_events;
        let created = events.iter().filter(|e| e.method == "CreateRecord").count();
        (created >= 3).then_some(events)
    })
    .await;
    let count = |method: &str| {
        events
            .iter()
            .filter(|e| e.service == "dns" && e.method == method)
            .count()
    };
    assert_eq!(
        count("CreateRecord"),
        3,
        "before, during and after the outage, once each"
    );
    assert_eq!(count("CreateZone"), 1);
    eventually("dns usage at org-core", || async {
        let usage =
            pb::quota_service_client::QuotaServiceClient::new(connect_as(core_addr, &owner).await)
                .get_organization_usage(pb::GetOrganizationUsageRequest {
                    organization: org.clone(),
                })
                .await
                .ok()?
                .into_inner()
                .limits;
        usage
            .iter()
            .any(|l| {
                l.limit == "max_dns_records_per_zone" && l.usage == 3 && l.source == "reported"
            })
            .then_some(())
    })
    .await;
    drop((dns, core));
}

backend_tests!(dns_reads_from_its_cache_and_fails_writes_closed_while_org_core_is_down);
