//! gRPC adapter of `loopback.dns.v1.NetworkBridgeService`: each RPC parses
//! its request into the domain's input (endpoints, CIDRs with `ipnet`,
//! overlaps inside the bridge) — every bad field named — makes one domain
//! call and maps the result.

use std::net::IpAddr;

use ipnet::IpNet;
use loopback_proto::dns::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::tx::WriteOptions;
use loopback_runtime::validation;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{
    Bridge, BridgeName, BridgeState, CreateBridge, DeleteBridge, Endpoint, ListBridges, Segment,
    SetBridgeState, overlaps,
};
use crate::Dns;

/// Serves NetworkBridgeService.
#[derive(Debug, Clone)]
pub struct BridgeGrpc(pub Dns);

const MAX_CIDRS: usize = 20;
const MAX_REASON: usize = 1000;

fn state_to_pb(state: BridgeState) -> pb::network_bridge::State {
    use pb::network_bridge::State;
    match state {
        BridgeState::Provisioning => State::Provisioning,
        BridgeState::Active => State::Active,
        BridgeState::Deleting => State::Deleting,
        BridgeState::Failed => State::Failed,
        BridgeState::Deleted => State::Deleted,
    }
}

fn endpoint_to_pb(org: Uuid, e: Endpoint) -> pb::BridgeEndpoint {
    use pb::bridge_endpoint::Segment as S;
    let segment = match e.segment {
        Segment::ProjectNetwork { project, network } => S::ProjectNetwork(pb::ProjectNetwork {
            project: format!("organizations/{org}/projects/{project}"),
            network,
        }),
        Segment::ExternalSegment {
            display_name,
            gateway_address,
        } => S::ExternalSegment(pb::ExternalSegment {
            display_name,
            gateway_address: gateway_address.to_string(),
        }),
    };
    pb::BridgeEndpoint {
        segment: Some(segment),
        cidrs: e.cidrs.iter().map(ToString::to_string).collect(),
    }
}

fn to_pb(b: Bridge) -> pb::NetworkBridge {
    let org = b.organization;
    pb::NetworkBridge {
        name: b.name(),
        etag: b.etag(),
        allowed_actions: b.allowed_actions().into_iter().map(String::from).collect(),
        state: state_to_pb(b.state).into(),
        endpoint_a: Some(endpoint_to_pb(org, b.endpoint_a)),
        endpoint_b: Some(endpoint_to_pb(org, b.endpoint_b)),
        display_name: b.display_name,
        state_reason: b.state_reason,
        create_time: Some(timestamp(b.create_time)),
        update_time: Some(timestamp(b.update_time)),
    }
}

/// A network id: 1 to 63 lower-case letters, digits and `-`, starting with
/// a letter.
fn network_id(id: &str) -> Result<String, &'static str> {
    let ok = (1..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    ok.then(|| id.to_string())
        .ok_or("must be 1 to 63 lower-case letters, digits and `-`, starting with a letter")
}

/// A CIDR in canonical form (no host bits), not a default route.
fn cidr(text: &str) -> Result<IpNet, String> {
    let net: IpNet = text.trim().parse().map_err(|_| {
        format!(
            "{} is not a CIDR such as 10.1.0.0/16 or fd00:1::/64",
            loopback_runtime::errors::quote(text)
        )
    })?;
    if net.prefix_len() == 0 {
        return Err("a default route (/0) cannot be bridged: give the ranges themselves".into());
    }
    if net.trunc() != net {
        return Err(format!("has host bits set: use {}", net.trunc()));
    }
    Ok(net)
}

/// One side of a bridge at `path` (`network_bridge.endpoint_a`), in
/// organization `org` (a project network must be one of its projects).
fn endpoint(
    f: &mut Fields,
    path: &str,
    org: Option<Uuid>,
    e: pb::BridgeEndpoint,
) -> Option<Endpoint> {
    use pb::bridge_endpoint::Segment as S;
    let segment = match e.segment {
        Some(S::ProjectNetwork(p)) => {
            let project = f.take(
                &format!("{path}.project_network.project"),
                validation::child_name(&p.project, "projects").and_then(|(project_org, id)| {
                    match org {
                        Some(org) if org != project_org => Err(format!(
                            "must be a project of organizations/{org}, the bridge's organization"
                        )),
                        _ => Ok(id),
                    }
                }),
            );
            let network = f.take(
                &format!("{path}.project_network.network"),
                network_id(&p.network),
            );
            match (project, network) {
                (Some(project), Some(network)) => {
                    Some(Segment::ProjectNetwork { project, network })
                }
                _ => None,
            }
        }
        Some(S::ExternalSegment(s)) => {
            let display_name = f.display_name(
                &format!("{path}.external_segment.display_name"),
                &s.display_name,
            );
            let gateway = f.take(
                &format!("{path}.external_segment.gateway_address"),
                s.gateway_address
                    .trim()
                    .parse::<IpAddr>()
                    .map_err(|_| "must be an IP address"),
            );
            match (display_name, gateway) {
                (Some(display_name), Some(gateway_address)) => Some(Segment::ExternalSegment {
                    display_name,
                    gateway_address,
                }),
                _ => None,
            }
        }
        None => f.take(
            &format!("{path}.segment"),
            Err("set project_network or external_segment"),
        ),
    };
    if e.cidrs.is_empty() || e.cidrs.len() > MAX_CIDRS {
        f.add(
            format!("{path}.cidrs"),
            format!("must hold 1 to {MAX_CIDRS} CIDRs"),
        );
    }
    let mut cidrs: Vec<IpNet> = Vec::new();
    let mut ok = true;
    for (i, text) in e.cidrs.iter().enumerate() {
        let field = format!("{path}.cidrs[{i}]");
        match f.take(&field, cidr(text)) {
            Some(net) => {
                if let Some((j, other)) = cidrs.iter().enumerate().find(|(_, c)| overlaps(c, &net))
                {
                    f.add(field, format!("overlaps cidrs[{j}] ({other})"));
                    ok = false;
                }
                cidrs.push(net);
            }
            None => ok = false,
        }
    }
    Some(Endpoint {
        segment: segment?,
        cidrs: ok.then_some(cidrs)?,
    })
}

impl TryFrom<pb::CreateNetworkBridgeRequest> for CreateBridge {
    type Error = FieldViolations;
    fn try_from(req: pb::CreateNetworkBridgeRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let request_id = f.request_id("request_id", &req.request_id);
        let b = f.message("network_bridge", req.network_bridge);
        let display_name = f.display_name("network_bridge.display_name", &b.display_name);
        let a = f.message("network_bridge.endpoint_a", b.endpoint_a);
        let endpoint_a = endpoint(&mut f, "network_bridge.endpoint_a", organization, a);
        let bb = f.message("network_bridge.endpoint_b", b.endpoint_b);
        let endpoint_b = endpoint(&mut f, "network_bridge.endpoint_b", organization, bb);
        if let (Some(a), Some(b)) = (&endpoint_a, &endpoint_b) {
            for (j, net) in b.cidrs.iter().enumerate() {
                if let Some((i, other)) = a.cidrs.iter().enumerate().find(|(_, c)| overlaps(c, net))
                {
                    f.add(
                        format!("network_bridge.endpoint_b.cidrs[{j}]"),
                        format!(
                            "overlaps endpoint_a.cidrs[{i}] ({other}): each side's addresses must be its own"
                        ),
                    );
                }
            }
            if a.segment == b.segment {
                f.add(
                    "network_bridge.endpoint_b",
                    "is the same segment as endpoint_a",
                );
            }
        }
        let (organization, request_id, display_name, endpoint_a, endpoint_b) = f.finish((
            organization,
            request_id,
            display_name,
            endpoint_a,
            endpoint_b,
        ))?;
        Ok(Self {
            organization,
            display_name,
            endpoint_a,
            endpoint_b,
            write: WriteOptions {
                request_id,
                validate_only: req.validate_only,
            },
        })
    }
}

impl TryFrom<pb::GetNetworkBridgeRequest> for BridgeName {
    type Error = FieldViolations;
    fn try_from(req: pb::GetNetworkBridgeRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        f.finish(name)
    }
}

impl TryFrom<pb::ListNetworkBridgesRequest> for ListBridges {
    type Error = FieldViolations;
    fn try_from(req: pb::ListNetworkBridgesRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let query = format!("networkBridges|{}", req.parent);
        let page = f.page(req.page_size, &req.page_token, &query);
        let (organization, page) = f.finish((organization, page))?;
        Ok(Self { organization, page })
    }
}

impl TryFrom<pb::DeleteNetworkBridgeRequest> for DeleteBridge {
    type Error = FieldViolations;
    fn try_from(req: pb::DeleteNetworkBridgeRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        let etag = f.etag("etag", &req.etag);
        let (name, etag) = f.finish((name, etag))?;
        Ok(Self {
            name,
            etag,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::SetNetworkBridgeStateRequest> for SetBridgeState {
    type Error = FieldViolations;
    fn try_from(req: pb::SetNetworkBridgeStateRequest) -> Result<Self, FieldViolations> {
        use pb::network_bridge::State;
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        let state = match State::try_from(req.state) {
            Ok(State::Active) => Ok(BridgeState::Active),
            Ok(State::Failed) => Ok(BridgeState::Failed),
            Ok(State::Deleted) => Ok(BridgeState::Deleted),
            _ => Err("must be STATE_ACTIVE, STATE_FAILED or STATE_DELETED"),
        };
        let state = f.take("state", state);
        let reason = if state == Some(BridgeState::Failed) {
            f.take(
                "reason",
                validation::reason(&req.reason).map(|()| req.reason.trim().to_string()),
            )
        } else {
            f.text("reason", req.reason.trim(), MAX_REASON)
        };
        let (name, state, reason) = f.finish((name, state, reason))?;
        Ok(Self {
            name,
            state,
            reason,
        })
    }
}

#[tonic::async_trait]
impl pb::network_bridge_service_server::NetworkBridgeService for BridgeGrpc {
    async fn create_network_bridge(
        &self,
        request: Request<pb::CreateNetworkBridgeRequest>,
    ) -> Result<Response<pb::CreateNetworkBridgeResponse>, Status> {
        unary(&self.0, request, Dns::create_bridge, |b| {
            pb::CreateNetworkBridgeResponse {
                network_bridge: Some(to_pb(b)),
            }
        })
        .await
    }

    async fn get_network_bridge(
        &self,
        request: Request<pb::GetNetworkBridgeRequest>,
    ) -> Result<Response<pb::GetNetworkBridgeResponse>, Status> {
        unary(&self.0, request, Dns::get_bridge, |b| {
            pb::GetNetworkBridgeResponse {
                network_bridge: Some(to_pb(b)),
            }
        })
        .await
    }

    async fn list_network_bridges(
        &self,
        request: Request<pb::ListNetworkBridgesRequest>,
    ) -> Result<Response<pb::ListNetworkBridgesResponse>, Status> {
        unary(&self.0, request, Dns::list_bridges, |page| {
            let page = page.map(to_pb);
            pb::ListNetworkBridgesResponse {
                network_bridges: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn delete_network_bridge(
        &self,
        request: Request<pb::DeleteNetworkBridgeRequest>,
    ) -> Result<Response<pb::DeleteNetworkBridgeResponse>, Status> {
        unary(&self.0, request, Dns::delete_bridge, |b| {
            pb::DeleteNetworkBridgeResponse {
                network_bridge: Some(to_pb(b)),
            }
        })
        .await
    }

    async fn set_network_bridge_state(
        &self,
        request: Request<pb::SetNetworkBridgeStateRequest>,
    ) -> Result<Response<pb::SetNetworkBridgeStateResponse>, Status> {
        unary(&self.0, request, Dns::set_bridge_state, |b| {
            pb::SetNetworkBridgeStateResponse {
                network_bridge: Some(to_pb(b)),
            }
        })
        .await
    }
}
