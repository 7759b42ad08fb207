//! Acceptance (dns): network bridges. FEATURE_DISABLED when the deployment
//! has `network_bridges` off; CIDRs validated with `ipnet` and overlaps
//! refused; the lifecycle PROVISIONING → ACTIVE → DELETING → gone, or
//! FAILED with a reason, advanced only by the operator-side RPC.

use loopback_proto::dns::v1 as pb;
use loopback_tests::{Backend, TestServer, backend_tests, bad_fields, metadata, reason};
use pb::bridge_endpoint::Segment;
use pb::network_bridge::State;
use tonic::Code;

fn project(org: &str, project: &str, network: &str, cidrs: &[&str]) -> pb::BridgeEndpoint {
    pb::BridgeEndpoint {
        segment: Some(Segment::ProjectNetwork(pb::ProjectNetwork {
            project: format!("{org}/projects/{project}"),
            network: network.into(),
        })),
        cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
    }
}

fn external(cidrs: &[&str]) -> pb::BridgeEndpoint {
    pb::BridgeEndpoint {
        segment: Some(Segment::ExternalSegment(pb::ExternalSegment {
            display_name: "Berlin office".into(),
            gateway_address: "198.51.100.7".into(),
        })),
        cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
    }
}

fn create(
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

fn set_state(name: &str, state: State, reason: &str) -> pb::SetNetworkBridgeStateRequest {
    pb::SetNetworkBridgeStateRequest {
        name: name.into(),
        state: state.into(),
        reason: reason.into(),
    }
}

async fn bridges_are_feature_disabled_when_the_deployment_has_them_off(backend: Backend) {
    let server = TestServer::start_with(backend, &["--features=github,gitlab"]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    let p = uuid::Uuid::now_v7();
    let err = server
        .bridges(&owner)
        .create_network_bridge(create(
            &org,
            project(&org, &p.to_string(), "default", &["10.0.0.0/16"]),
            external(&["192.168.10.0/24"]),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("FEATURE_DISABLED"));
    assert_eq!(metadata(&err)["feature"], "network_bridges");
    let err = server
        .bridges(&owner)
        .list_network_bridges(pb::ListNetworkBridgesRequest {
            parent: org.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("FEATURE_DISABLED"));
    // The rest of dns is unaffected.
    server
        .zones(&owner)
        .list_zones(pb::ListZonesRequest {
            parent: org,
            ..Default::default()
        })
        .await
        .unwrap();
    server.stop().await;
}

async fn cidrs_are_validated_and_overlaps_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    let other = server.verified_org(&owner, "Other").await.name;
    let p = uuid::Uuid::now_v7().to_string();
    let cases: Vec<(&str, pb::CreateNetworkBridgeRequest, Vec<&str>)> = vec![
        (
            "not a CIDR",
            create(
                &org,
                project(&org, &p, "default", &["10.0.0.0/33"]),
                external(&["192.168.1.0/24"]),
            ),
            vec!["network_bridge.endpoint_a.cidrs[0]"],
        ),
        (
            "host bits set",
            create(
                &org,
                project(&org, &p, "default", &["10.0.0.1/16"]),
                external(&["192.168.1.0/24"]),
            ),
            vec!["network_bridge.endpoint_a.cidrs[0]"],
        ),
        (
            "a default route",
            create(
                &org,
                project(&org, &p, "default", &["0.0.0.0/0"]),
                external(&["192.168.1.0/24"]),
            ),
            vec!["network_bridge.endpoint_a.cidrs[0]"],
        ),
        (
            "overlap inside one side",
            create(
                &org,
                project(&org, &p, "default", &["10.0.0.0/16", "10.0.128.0/17"]),
                external(&["192.168.1.0/24"]),
            ),
            vec!["network_bridge.endpoint_a.cidrs[1]"],
        ),
        (
            "overlap across the sides",
            create(
                &org,
                project(&org, &p, "default", &["10.0.0.0/16"]),
                external(&["10.0.5.0/24"]),
            ),
            vec!["network_bridge.endpoint_b.cidrs[0]"],
        ),
        (
            "no CIDRs",
            create(
                &org,
                project(&org, &p, "default", &[]),
                external(&["192.168.1.0/24"]),
            ),
            vec!["network_bridge.endpoint_a.cidrs"],
        ),
        (
            "another organization's project",
            create(
                &org,
                project(&other, &p, "default", &["10.0.0.0/16"]),
                external(&["192.168.1.0/24"]),
            ),
            vec!["network_bridge.endpoint_a.project_network.project"],
        ),
        (
            "a bad network id and gateway",
            create(
                &org,
                project(&org, &p, "Default Net", &["10.0.0.0/16"]),
                pb::BridgeEndpoint {
                    segment: Some(Segment::ExternalSegment(pb::ExternalSegment {
                        display_name: "x".into(),
                        gateway_address: "gateway.example.com".into(),
                    })),
                    cidrs: vec!["fd00:1::/64".into()],
                },
            ),
            vec![
                "network_bridge.endpoint_a.project_network.network",
                "network_bridge.endpoint_b.external_segment.gateway_address",
            ],
        ),
        (
            "no segment",
            create(
                &org,
                pb::BridgeEndpoint {
                    segment: None,
                    cidrs: vec!["10.0.0.0/16".into()],
                },
                external(&["192.168.1.0/24"]),
            ),
            vec!["network_bridge.endpoint_a.segment"],
        ),
    ];
    for (what, request, fields) in cases {
        let err = server
            .bridges(&owner)
            .create_network_bridge(request)
            .await
            .expect_err(what);
        assert_eq!(err.code(), Code::InvalidArgument, "{what}: {err:?}");
        assert_eq!(bad_fields(&err), fields, "{what}: {err:?}");
    }

    // Two bridges may reach one project network, but not with the same
    // remote ranges: the network could not tell where to send them.
    let first = server
        .bridges(&owner)
        .create_network_bridge(create(
            &org,
            project(&org, &p, "default", &["10.0.0.0/16"]),
            external(&["192.168.0.0/20"]),
        ))
        .await
        .unwrap()
        .into_inner()
        .network_bridge
        .unwrap();
    assert_eq!(first.state, State::Provisioning as i32);
    assert_eq!(
        first.endpoint_a.as_ref().unwrap().cidrs,
        ["10.0.0.0/16"],
        "canonical CIDRs"
    );
    let err = server
        .bridges(&owner)
        .create_network_bridge(create(
            &org,
            external(&["192.168.8.0/24"]),
            project(&org, &p, "default", &["10.0.0.0/16"]),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("CIDR_OVERLAP"));
    assert!(err.message().contains(&first.name), "{err:?}");
    server
        .bridges(&owner)
        .create_network_bridge(create(
            &org,
            external(&["192.168.16.0/24"]),
            project(&org, &p, "default", &["10.0.0.0/16"]),
        ))
        .await
        .unwrap();
    server.stop().await;
}

async fn the_operator_advances_the_lifecycle(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let operator = server.service_token("network-operator");
    let org = server.verified_org(&owner, "Acme").await.name;
    let p = uuid::Uuid::now_v7().to_string();
    let b = server
        .bridges(&owner)
        .create_network_bridge(create(
            &org,
            project(&org, &p, "default", &["10.0.0.0/16", "fd00:10::/48"]),
            external(&["192.168.0.0/24"]),
        ))
        .await
        .unwrap()
        .into_inner()
        .network_bridge
        .unwrap();
    assert_eq!(b.allowed_actions, ["delete"]);
    // Members cannot move the state; only the operator (a service) can.
    let err = server
        .bridges(&owner)
        .set_network_bridge_state(set_state(&b.name, State::Active, ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // FAILED needs a reason.
    let err = server
        .bridges(&operator)
        .set_network_bridge_state(set_state(&b.name, State::Failed, ""))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["reason"]);
    let failed = server
        .bridges(&operator)
        .set_network_bridge_state(set_state(&b.name, State::Failed, "peer unreachable"))
        .await
        .unwrap()
        .into_inner()
        .network_bridge
        .unwrap();
    assert_eq!(
        (failed.state, failed.state_reason.as_str()),
        (State::Failed as i32, "peer unreachable")
    );
    let active = server
        .bridges(&operator)
        .set_network_bridge_state(set_state(&b.name, State::Active, ""))
        .await
        .unwrap()
        .into_inner()
        .network_bridge
        .unwrap();
    assert_eq!(
        (active.state, active.state_reason.as_str()),
        (State::Active as i32, "")
    );
    // An active bridge cannot just vanish.
    let err = server
        .bridges(&operator)
        .set_network_bridge_state(set_state(&b.name, State::Deleted, ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("INVALID_BRIDGE_TRANSITION"));
    assert_eq!(
        (
            metadata(&err)["from"].as_str(),
            metadata(&err)["to"].as_str()
        ),
        ("ACTIVE", "DELETED")
    );
    // The customer asks for removal; stale etags are refused.
    let err = server
        .bridges(&owner)
        .delete_network_bridge(pb::DeleteNetworkBridgeRequest {
            name: b.name.clone(),
            etag: b.etag.clone(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    let deleting = server
        .bridges(&owner)
        .delete_network_bridge(pb::DeleteNetworkBridgeRequest {
            name: b.name.clone(),
            etag: active.etag.clone(),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .network_bridge
        .unwrap();
    assert_eq!(deleting.state, State::Deleting as i32);
    assert!(deleting.allowed_actions.is_empty());
    let err = server
        .bridges(&operator)
        .set_network_bridge_state(set_state(&b.name, State::Active, ""))
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("INVALID_BRIDGE_TRANSITION"));
    let gone = server
        .bridges(&operator)
        .set_network_bridge_state(set_state(&b.name, State::Deleted, "torn down"))
        .await
        .unwrap()
        .into_inner()
        .network_bridge
        .unwrap();
    assert_eq!(gone.state, State::Deleted as i32);
    let err = server
        .bridges(&owner)
        .get_network_bridge(pb::GetNetworkBridgeRequest {
            name: b.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    server.stop().await;
}

backend_tests!(
    bridges_are_feature_disabled_when_the_deployment_has_them_off,
    cidrs_are_validated_and_overlaps_refused,
    the_operator_advances_the_lifecycle,
);
