//! Acceptance (dns): access and limits. `max_dns_zones`,
//! `max_dns_records_per_zone` and `max_network_bridges` hold under 30-way
//! concurrency and reach org-core's usage view; another organization's
//! resources are NOT_FOUND; IN_SETUP refuses creates with ENTITY_STATUS and
//! a hard spending limit with SPENDING_LIMIT_REACHED; writes land in the
//! one audit log; every dns RPC answers each built-in role as the
//! published catalog says (the permission matrix, derived from dns's RPC
//! table).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use loopback_dns::rpcs::RPCS;
use loopback_proto::dns::v1 as pb;
use loopback_proto::orgcore::v1 as ocpb;
use loopback_tests::requests::dns::{a, create_change, create_record, create_zone, delegate};
use loopback_tests::responder::Responder;
use loopback_tests::{Backend, TestServer, backend_tests, metadata, reason};
use tonic::{Code, Status};

/// Polls `check` until it returns `Some`, or fails after 20 s.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn external(name: &str, cidr: &str) -> pb::BridgeEndpoint {
    pb::BridgeEndpoint {
        segment: Some(pb::bridge_endpoint::Segment::ExternalSegment(
            pb::ExternalSegment {
                display_name: name.into(),
                gateway_address: "198.51.100.1".into(),
            },
        )),
        cidrs: vec![cidr.into()],
    }
}

fn bridge(
    org: &str,
    a: pb::BridgeEndpoint,
    b: pb::BridgeEndpoint,
) -> pb::CreateNetworkBridgeRequest {
    pb::CreateNetworkBridgeRequest {
        parent: org.into(),
        network_bridge: Some(pb::NetworkBridge {
            display_name: "office link".into(),
            endpoint_a: Some(a),
            endpoint_b: Some(b),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Runs `n` calls at once, each on its own connection; returns how many
/// succeeded, checking every failure is LIMIT_REACHED.
async fn race<F, Fut>(server: &TestServer, token: &str, n: usize, call: F) -> usize
where
    F: Fn(usize, loopback_tests::Authed) -> Fut,
    Fut: std::future::Future<Output = Result<(), Status>> + Send + 'static,
{
    let mut tasks = Vec::new();
    for i in 0..n {
        let channel = server.own_connection(token).await;
        tasks.push(tokio::spawn(call(i, channel)));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => ok += 1,
            Err(e) => {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                assert_eq!(reason(&e).as_deref(), Some("LIMIT_REACHED"), "{e:?}");
            }
        }
    }
    ok
}

async fn usage_of(server: &TestServer, token: &str, org: &str) -> BTreeMap<String, (i64, String)> {
    server
        .quotas(token)
        .get_organization_usage(ocpb::GetOrganizationUsageRequest {
            organization: org.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .limits
        .into_iter()
        .map(|l| (l.limit, (l.usage, l.source)))
        .collect()
}

async fn limits_hold_under_30_way_concurrency_and_reach_org_core(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    server
        .set_capabilities(
            &org,
            &[
                ("max_dns_zones", 5),
                ("max_dns_records_per_zone", 10),
                ("max_network_bridges", 3),
            ],
            &[],
        )
        .await;

    let zones = race(&server, &owner, 30, |i, channel| {
        let request = create_zone(&org, &format!("z{i}.example.com"));
        async move {
            pb::zone_service_client::ZoneServiceClient::new(channel)
                .create_zone(request)
                .await
                .map(|_| ())
        }
    })
    .await;
    assert_eq!(zones, 5, "max_dns_zones");

    let zone = server
        .zones(&owner)
        .list_zones(pb::ListZonesRequest {
            parent: org.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .zones
        .remove(0);
    let records = race(&server, &owner, 30, |i, channel| {
        let request = create_record(
            &zone.name,
            a(&format!("h{i}.{}", zone.dns_name), "192.0.2.1"),
        );
        async move {
            pb::record_service_client::RecordServiceClient::new(channel)
                .create_record(request)
                .await
                .map(|_| ())
        }
    })
    .await;
    assert_eq!(records, 10, "max_dns_records_per_zone");
    let zone_now = server
        .zones(&owner)
        .get_zone(pb::GetZoneRequest {
            name: zone.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .zone
        .unwrap();
    assert_eq!((zone_now.record_count, zone_now.serial), (10, 11));

    let bridges = race(&server, &owner, 30, |i, channel| {
        let request = bridge(
            &org,
            external("office", &format!("10.{i}.0.0/16")),
            external("datacentre", &format!("172.16.{i}.0/24")),
        );
        async move {
            pb::network_bridge_service_client::NetworkBridgeServiceClient::new(channel)
                .create_network_bridge(request)
                .await
                .map(|_| ())
        }
    })
    .await;
    assert_eq!(bridges, 3, "max_network_bridges");

    // The counts reach org-core's usage view.
    let usage = eventually("dns usage at org-core", || async {
        let usage = usage_of(&server, &owner, &org).await;
        let expected = [
            ("max_dns_zones", 5),
            ("max_dns_records_per_zone", 10),
            ("max_network_bridges", 3),
        ];
        expected
            .iter()
            .all(|(k, v)| usage[*k].0 == *v)
            .then_some(usage)
    })
    .await;
    assert_eq!(usage["max_dns_zones"].1, "reported");

    // Deleting gives room again, and org-core hears of it.
    server
        .zones(&owner)
        .delete_zone(pb::DeleteZoneRequest {
            name: zone.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    server
        .zones(&owner)
        .create_zone(create_zone(&org, "again.example.com"))
        .await
        .unwrap();
    eventually("record usage back to 0", || async {
        let usage = usage_of(&server, &owner, &org).await;
        (usage["max_dns_records_per_zone"].0 == 0).then_some(())
    })
    .await;

    // Every write is in org-core's one audit log, from dns.
    let events = eventually("dns writes in the audit log", || async {
        let events = server
            .audit(&owner)
            .list_audit_events(ocpb::ListAuditEventsRequest {
                parent: org.clone(),
                page_size: 1000,
                ..Default::default()
            })
            .await
            .ok()?
            .into_inner()
            .audit_events;
        let zones = events.iter().filter(|e| e.method == "CreateZone").count();
        (zones == 6).then_some(events)
    })
    .await;
    let from_dns: BTreeSet<&str> = events
        .iter()
        .filter(|e| e.service == "dns")
        .map(|e| e.method.as_str())
        .collect();
    for method in [
        "CreateZone",
        "CreateRecord",
        "CreateNetworkBridge",
        "DeleteZone",
    ] {
        assert!(from_dns.contains(method), "{method} audited: {from_dns:?}");
    }
    server.stop().await;
}

async fn another_organizations_resources_are_not_found(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    let stranger = server.account_token("stranger@example.com");
    let theirs = server.verified_org(&stranger, "Other").await.name;
    let zone = server
        .zones(&owner)
        .create_zone(create_zone(&org, "example.com"))
        .await
        .unwrap()
        .into_inner()
        .zone
        .unwrap();
    let record = server
        .records(&owner)
        .create_record(create_record(&zone.name, a("www.example.com", "192.0.2.1")))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    let zone_id = zone.name.rsplit('/').next().unwrap();
    let record_id = record.name.rsplit('/').next().unwrap();
    // Their organization with our ids, and our organization outright.
    let disguised_zone = format!("{theirs}/zones/{zone_id}");
    let disguised_record = format!("{disguised_zone}/records/{record_id}");
    for (zone_name, record_name) in [
        (zone.name.as_str(), record.name.as_str()),
        (disguised_zone.as_str(), disguised_record.as_str()),
    ] {
        let results: Vec<(&str, Result<(), Status>)> = vec![
            (
                "GetZone",
                server
                    .zones(&stranger)
                    .get_zone(pb::GetZoneRequest {
                        name: zone_name.into(),
                    })
                    .await
                    .map(|_| ()),
            ),
            (
                "DeleteZone",
                server
                    .zones(&stranger)
                    .delete_zone(pb::DeleteZoneRequest {
                        name: zone_name.into(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ()),
            ),
            (
                "ExportZone",
                server
                    .zones(&stranger)
                    .export_zone(pb::ExportZoneRequest {
                        name: zone_name.into(),
                    })
                    .await
                    .map(|_| ()),
            ),
            (
                "ImportZone",
                server
                    .zones(&stranger)
                    .import_zone(pb::ImportZoneRequest {
                        name: zone_name.into(),
                        zone_file: b"x 300 IN A 192.0.2.1\n".to_vec(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ()),
            ),
            (
                "ListRecords",
                server
                    .records(&stranger)
                    .list_records(pb::ListRecordsRequest {
                        parent: zone_name.into(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ()),
            ),
            (
                "CreateRecord",
                server
                    .records(&stranger)
                    .create_record(create_record(
                        zone_name,
                        a("evil.example.com", "192.0.2.66"),
                    ))
                    .await
                    .map(|_| ()),
            ),
            (
                "GetRecord",
                server
                    .records(&stranger)
                    .get_record(pb::GetRecordRequest {
                        name: record_name.into(),
                    })
                    .await
                    .map(|_| ()),
            ),
            (
                "DeleteRecord",
                server
                    .records(&stranger)
                    .delete_record(pb::DeleteRecordRequest {
                        name: record_name.into(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ()),
            ),
            (
                "BatchChangeRecords",
                server
                    .records(&stranger)
                    .batch_change_records(pb::BatchChangeRecordsRequest {
                        parent: zone_name.into(),
                        changes: vec![create_change(a("evil.example.com", "192.0.2.66"))],
                        ..Default::default()
                    })
                    .await
                    .map(|_| ()),
            ),
        ];
        for (rpc, result) in results {
            let err = result.expect_err(rpc);
            assert_eq!(err.code(), Code::NotFound, "{rpc} on {zone_name}: {err:?}");
        }
    }
    // Their lists do not show ours.
    let listed = server
        .zones(&stranger)
        .list_zones(pb::ListZonesRequest {
            parent: theirs.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .zones;
    assert!(listed.is_empty());
    let still = server
        .zones(&owner)
        .get_zone(pb::GetZoneRequest {
            name: zone.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .zone
        .unwrap();
    assert_eq!((still.serial, still.record_count), (2, 1), "untouched");
    server.stop().await;
}

async fn in_setup_and_hard_spending_limits_refuse_creates(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let in_setup = server.create_org(&owner, "New").await.name;
    let err = server
        .zones(&owner)
        .create_zone(create_zone(&in_setup, "example.com"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("ENTITY_STATUS"));
    assert_eq!(metadata(&err)["verification_status"], "IN_SETUP");
    assert_eq!(metadata(&err)["action"], "CreateZone");
    // Reads are fine.
    server
        .zones(&owner)
        .list_zones(pb::ListZonesRequest {
            parent: in_setup.clone(),
            ..Default::default()
        })
        .await
        .unwrap();

    let org = server.verified_org(&owner, "Acme").await.name;
    let zone = server
        .zones(&owner)
        .create_zone(create_zone(&org, "example.com"))
        .await
        .unwrap()
        .into_inner()
        .zone
        .unwrap();
    server
        .quotas(&server.service_token("billing"))
        .set_spending_limit_reached(ocpb::SetSpendingLimitReachedRequest {
            organization: org.clone(),
            reached: true,
            reason: "test: hard limit".into(),
        })
        .await
        .unwrap();
    let refused = eventually("CreateZone refused by the hard limit", || async {
        let err = server
            .zones(&owner)
            .create_zone(create_zone(&org, "second.example.com"))
            .await
            .err()?;
        (reason(&err).as_deref() == Some("SPENDING_LIMIT_REACHED")).then_some(err)
    })
    .await;
    assert_eq!(refused.code(), Code::ResourceExhausted);
    // Operating on what exists goes on.
    server
        .zones(&owner)
        .update_zone(pb::UpdateZoneRequest {
            zone: Some(pb::Zone {
                name: zone.name.clone(),
                description: "still served".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["description".into()],
            }),
            validate_only: false,
        })
        .await
        .unwrap();
    server.stop().await;
}

#[derive(Clone)]
struct Fixture {
    org: String,
    /// Where CreateZone and ListZones act: the organization or a project.
    parent: String,
    /// The zone's apex, without the dot.
    apex: String,
    /// A project delegations may point to.
    project: String,
    zone: String,
    delegation: String,
    record: String,
    domain: String,
    bridge: String,
}

/// Calls `method` as `token` (writes validate-only where they can).
async fn call(server: &TestServer, token: &str, method: &str, f: &Fixture) -> Result<(), Status> {
    let org = f.org.clone();
    match method {
        "CreateDomain" => {
            let mut r = pb::CreateDomainRequest {
                parent: org,
                domain: Some(pb::Domain {
                    domain_name: "another-example.com".into(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            r.validate_only = true;
            server.domains(token).create_domain(r).await.map(|_| ())
        }
        "GetDomain" => server
            .domains(token)
            .get_domain(pb::GetDomainRequest {
                name: f.domain.clone(),
            })
            .await
            .map(|_| ()),
        "ListDomains" => server
            .domains(token)
            .list_domains(pb::ListDomainsRequest {
                parent: org,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "UpdateDomain" => server
            .domains(token)
            .update_domain(pb::UpdateDomainRequest {
                domain: Some(pb::Domain {
                    name: f.domain.clone(),
                    registrar: "x".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["registrar".into()],
                }),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "DeleteDomain" => server
            .domains(token)
            .delete_domain(pb::DeleteDomainRequest {
                name: f.domain.clone(),
                validate_only: true,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "VerifyDomain" => server
            .domains(token)
            .verify_domain(pb::VerifyDomainRequest {
                name: f.domain.clone(),
            })
            .await
            .map(|_| ()),
        "CreateZone" => {
            let mut r = create_zone(&f.parent, "other.example.org");
            r.validate_only = true;
            server.zones(token).create_zone(r).await.map(|_| ())
        }
        "GetZone" => server
            .zones(token)
            .get_zone(pb::GetZoneRequest {
                name: f.zone.clone(),
            })
            .await
            .map(|_| ()),
        "ListZones" => server
            .zones(token)
            .list_zones(pb::ListZonesRequest {
                parent: f.parent.clone(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "UpdateZone" => server
            .zones(token)
            .update_zone(pb::UpdateZoneRequest {
                zone: Some(pb::Zone {
                    name: f.zone.clone(),
                    description: "x".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["description".into()],
                }),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "DeleteZone" => server
            .zones(token)
            .delete_zone(pb::DeleteZoneRequest {
                name: f.zone.clone(),
                validate_only: true,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "ExportZone" => server
            .zones(token)
            .export_zone(pb::ExportZoneRequest {
                name: f.zone.clone(),
            })
            .await
            .map(|_| ()),
        "ImportZone" => server
            .zones(token)
            .import_zone(pb::ImportZoneRequest {
                name: f.zone.clone(),
                zone_file: format!("www.{}. 300 IN A 192.0.2.1\n", f.apex).into_bytes(),
                validate_only: true,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "CreateRecord" => {
            let mut r = create_record(&f.zone, a(&format!("new.{}", f.apex), "192.0.2.2"));
            r.validate_only = true;
            server.records(token).create_record(r).await.map(|_| ())
        }
        "GetRecord" => server
            .records(token)
            .get_record(pb::GetRecordRequest {
                name: f.record.clone(),
            })
            .await
            .map(|_| ()),
        "ListRecords" => server
            .records(token)
            .list_records(pb::ListRecordsRequest {
                parent: f.zone.clone(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "UpdateRecord" => server
            .records(token)
            .update_record(pb::UpdateRecordRequest {
                record: Some(pb::Record {
                    name: f.record.clone(),
                    ttl: 600,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["ttl".into()],
                }),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "DeleteRecord" => server
            .records(token)
            .delete_record(pb::DeleteRecordRequest {
                name: f.record.clone(),
                validate_only: true,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "BatchChangeRecords" => server
            .records(token)
            .batch_change_records(pb::BatchChangeRecordsRequest {
                parent: f.zone.clone(),
                changes: vec![pb::RecordChange {
                    change: Some(pb::record_change::Change::Update(pb::RecordUpdate {
                        record: Some(pb::Record {
                            name: f.record.clone(),
                            ttl: 600,
                            ..Default::default()
                        }),
                        update_mask: Some(prost_types::FieldMask {
                            paths: vec!["ttl".into()],
                        }),
                    })),
                }],
                validate_only: true,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "CreateDelegation" => {
            let mut r = delegate(&f.zone, "*.other.example.com", &f.project);
            r.validate_only = true;
            server
                .delegations(token)
                .create_delegation(r)
                .await
                .map(|_| ())
        }
        "GetDelegation" => server
            .delegations(token)
            .get_delegation(pb::GetDelegationRequest {
                name: f.delegation.clone(),
            })
            .await
            .map(|_| ()),
        "ListDelegations" => server
            .delegations(token)
            .list_delegations(pb::ListDelegationsRequest {
                parent: f.zone.clone(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "DeleteDelegation" => server
            .delegations(token)
            .delete_delegation(pb::DeleteDelegationRequest {
                name: f.delegation.clone(),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "CreateNetworkBridge" => {
            let mut r = bridge(
                &org,
                external("a", "10.9.0.0/16"),
                external("b", "10.10.0.0/16"),
            );
            r.validate_only = true;
            server
                .bridges(token)
                .create_network_bridge(r)
                .await
                .map(|_| ())
        }
        "GetNetworkBridge" => server
            .bridges(token)
            .get_network_bridge(pb::GetNetworkBridgeRequest {
                name: f.bridge.clone(),
            })
            .await
            .map(|_| ()),
        "ListNetworkBridges" => server
            .bridges(token)
            .list_network_bridges(pb::ListNetworkBridgesRequest {
                parent: org,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "DeleteNetworkBridge" => server
            .bridges(token)
            .delete_network_bridge(pb::DeleteNetworkBridgeRequest {
                name: f.bridge.clone(),
                validate_only: true,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "SetNetworkBridgeState" => server
            .bridges(token)
            .set_network_bridge_state(pb::SetNetworkBridgeStateRequest {
                name: f.bridge.clone(),
                state: pb::network_bridge::State::Active.into(),
                reason: String::new(),
            })
            .await
            .map(|_| ()),
        other => panic!("no call for {other}: add it to the dns permission matrix"),
    }
}

async fn every_dns_rpc_answers_each_builtin_role_as_the_catalog_says(backend: Backend) {
    let responder = Responder::start().await;
    let server = TestServer::start_with(backend, &[&responder.flag()]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    let zone = server
        .zones(&owner)
        .create_zone(create_zone(&org, "example.com"))
        .await
        .unwrap()
        .into_inner()
        .zone
        .unwrap();
    let record = server
        .records(&owner)
        .create_record(create_record(&zone.name, a("www.example.com", "192.0.2.1")))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    let domain = server
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
        .unwrap()
        .into_inner()
        .domain
        .unwrap();
    let created = server
        .bridges(&owner)
        .create_network_bridge(bridge(
            &org,
            external("a", "10.1.0.0/16"),
            external("b", "10.2.0.0/16"),
        ))
        .await
        .unwrap()
        .into_inner()
        .network_bridge
        .unwrap();
    let project = server
        .projects(&owner)
        .create_project(ocpb::CreateProjectRequest {
            parent: org.clone(),
            project: Some(ocpb::Project {
                display_name: "p".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap()
        .name;
    let delegation = server
        .delegations(&owner)
        .create_delegation(delegate(&zone.name, "*.apps.example.com", &project))
        .await
        .unwrap()
        .into_inner()
        .delegation
        .unwrap();
    let fixture = Fixture {
        org: org.clone(),
        parent: org.clone(),
        apex: "example.com".into(),
        project: project.clone(),
        delegation: delegation.name,
        zone: zone.name,
        record: record.name,
        domain: domain.name,
        bridge: created.name,
    };
    let published: BTreeMap<String, BTreeSet<String>> = server
        .roles(&owner)
        .list_roles(ocpb::ListRolesRequest {
            parent: org.clone(),
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
    assert_eq!(published.len(), 5);
    let member_dns: BTreeSet<&str> = published["member"]
        .iter()
        .map(String::as_str)
        .filter(|p| p.starts_with("dns.") && !p.ends_with(".get") && !p.ends_with(".list"))
        .collect();
    assert_eq!(
        member_dns,
        [
            "dns.records.create",
            "dns.records.delete",
            "dns.records.update"
        ]
        .into(),
        "members manage records"
    );

    for role in ["owner", "admin", "billing_admin", "member", "viewer"] {
        let token = server
            .add_member(&owner, &org, &format!("{role}-holder@example.com"), &[role])
            .await
            .0;
        for rpc in RPCS {
            let result = call(&server, &token, rpc.method, &fixture).await;
            match rpc.permission() {
                Some(permission) if published[role].contains(permission) => match &result {
                    Ok(()) => {}
                    // Allowed, and stopped later by the fixture's DNS.
                    Err(e) if reason(e).as_deref() == Some("DOMAIN_VERIFICATION_FAILED") => {}
                    Err(e) => panic!("{role} {} should be allowed: {e:?}", rpc.method),
                },
                Some(permission) => {
                    let err = result.expect_err(&format!("{role} {} should be denied", rpc.method));
                    assert_eq!(
                        err.code(),
                        Code::PermissionDenied,
                        "{role} {}: {err:?}",
                        rpc.method
                    );
                    assert_eq!(
                        metadata(&err)["permission"],
                        permission,
                        "{role} {}",
                        rpc.method
                    );
                }
                // Services and operators only.
                None => {
                    let err = result.expect_err(rpc.method);
                    assert_eq!(
                        err.code(),
                        Code::PermissionDenied,
                        "{role} {}: {err:?}",
                        rpc.method
                    );
                    assert_eq!(metadata(&err)["principal_kind"], "service");
                }
            }
        }
    }
    // Project roles: a role held on a project grants there (in its zones)
    // exactly its project-scoped dns permissions — zones and records —
    // and no dns permission at organization level.
    let project_zone = server
        .zones(&owner)
        .create_zone(create_zone(&project, "example.net"))
        .await
        .unwrap()
        .into_inner()
        .zone
        .unwrap();
    let project_record = server
        .records(&owner)
        .create_record(create_record(
            &project_zone.name,
            a("www.example.net", "192.0.2.1"),
        ))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    let in_project = Fixture {
        parent: project.clone(),
        apex: "example.net".into(),
        zone: project_zone.name,
        record: project_record.name,
        ..fixture.clone()
    };
    let scoped: BTreeSet<String> = server
        .roles(&owner)
        .list_permissions(ocpb::ListPermissionsRequest {})
        .await
        .unwrap()
        .into_inner()
        .permissions
        .into_iter()
        .filter(|p| p.project_scoped && p.name.starts_with("dns."))
        .map(|p| p.name)
        .collect();
    assert!(
        scoped
            .iter()
            .all(|p| p.starts_with("dns.zones.") || p.starts_with("dns.records.")),
        "{scoped:?}"
    );
    for role in ["admin", "billing_admin", "member", "viewer"] {
        let email = format!("{role}-on-project@example.com");
        let invite = server
            .invites(&owner)
            .create_invite(ocpb::CreateInviteRequest {
                parent: org.clone(),
                invite: Some(ocpb::Invite {
                    email: email.clone(),
                    project_roles: vec![ocpb::ProjectRoles {
                        project: project.clone(),
                        roles: vec![role.into()],
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let token = server.account_token(&email);
        server
            .invites(&token)
            .accept_invite(ocpb::AcceptInviteRequest {
                invite_token: invite.invite_token,
            })
            .await
            .unwrap();
        for rpc in RPCS {
            let Some(permission) = rpc.permission() else {
                continue;
            };
            let in_a_zone =
                permission.starts_with("dns.zones.") || permission.starts_with("dns.records.");
            let (f, allowed) = if in_a_zone {
                (
                    &in_project,
                    scoped.contains(permission) && published[role].contains(permission),
                )
            } else {
                (&fixture, false)
            };
            let result = call(&server, &token, rpc.method, f).await;
            let who = format!("{role} on the project, {}", rpc.method);
            if allowed {
                result.unwrap_or_else(|e| panic!("{who} should be allowed: {e:?}"));
            } else {
                let err = result.expect_err(&format!("{who} should be denied"));
                assert_eq!(err.code(), Code::PermissionDenied, "{who}: {err:?}");
                assert_eq!(metadata(&err)["permission"], permission, "{who}");
            }
        }
    }

    // A non-member gets NOT_FOUND from every one of them.
    let stranger = server.account_token("stranger@example.com");
    for rpc in RPCS.iter().filter(|r| r.permission().is_some()) {
        let err = call(&server, &stranger, rpc.method, &fixture)
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Code::NotFound,
            "non-member {}: {err:?}",
            rpc.method
        );
    }
    server.stop().await;
}

backend_tests!(
    limits_hold_under_30_way_concurrency_and_reach_org_core,
    another_organizations_resources_are_not_found,
    in_setup_and_hard_spending_limits_refuse_creates,
    every_dns_rpc_answers_each_builtin_role_as_the_catalog_says,
);
