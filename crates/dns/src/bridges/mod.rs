//! Network bridges: connectivity between two network segments of an
//! organization (a project network or an external segment), each bringing
//! its address ranges. Behind the `network_bridges` feature (every row of
//! the RPC table says so). The network operator, a platform service,
//! advances the lifecycle with SetNetworkBridgeState:
//!
//! ```text
//! PROVISIONING ──▶ ACTIVE ──(DeleteNetworkBridge)──▶ DELETING ──▶ gone
//!       │            ▲ │                                  │
//!       └──▶ FAILED ─┘ └──▶ FAILED ◀──────────────────────┘
//! ```
//!
//! A failed bridge carries the operator's reason and can be deleted (or
//! recover to ACTIVE). `max_network_bridges` counts bridges in every state
//! until they are gone.

pub mod grpc;
pub mod store;

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::Refusal;
use loopback_runtime::fields::{etag, org_name};
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::tx::WriteOptions;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::error::{CIDR_OVERLAP, Error, INVALID_BRIDGE_TRANSITION, Result};
use crate::usage::{self, MAX_BRIDGES};
use crate::{Dns, rpcs};

loopback_runtime::resource_name! {
    /// `organizations/{org}/networkBridges/{bridge}`, parsed.
    pub struct BridgeName = "networkBridges", id: Uuid;
}

/// A segment a bridge connects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Segment {
    /// A network of a project in the bridge's organization.
    ProjectNetwork {
        /// The project.
        project: Uuid,
        /// The network's id in the project.
        network: String,
    },
    /// A segment outside Loopback.
    ExternalSegment {
        /// What it is.
        display_name: String,
        /// Its gateway.
        gateway_address: IpAddr,
    },
}

impl Segment {
    /// What identifies the segment across bridges: a project network is
    /// one segment however many bridges reach it; every external segment
    /// is its own.
    fn identity(&self) -> Option<String> {
        match self {
            Self::ProjectNetwork { project, network } => Some(format!("{project}/{network}")),
            Self::ExternalSegment { .. } => None,
        }
    }
}

/// One side of a bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The segment.
    pub segment: Segment,
    /// The ranges this side brings, canonical, not overlapping.
    pub cidrs: Vec<IpNet>,
}

/// Where a bridge is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BridgeState {
    /// Being set up.
    Provisioning,
    /// Carrying traffic.
    Active,
    /// Being torn down.
    Deleting,
    /// Setting up or tearing down failed.
    Failed,
    /// Gone (only ever reported, never stored).
    Deleted,
}

impl BridgeState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "PROVISIONING",
            Self::Active => "ACTIVE",
            Self::Deleting => "DELETING",
            Self::Failed => "FAILED",
            Self::Deleted => "DELETED",
        }
    }

    /// Whether the operator may report `to` for a bridge in this state.
    fn may_become(self, to: BridgeState) -> bool {
        use BridgeState::{Active, Deleted, Deleting, Failed, Provisioning};
        matches!(
            (self, to),
            (Provisioning | Failed, Active)
                | (Provisioning | Active | Deleting, Failed)
                | (Deleting, Deleted)
        )
    }
}

impl fmt::Display for BridgeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BridgeState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            Self::Provisioning,
            Self::Active,
            Self::Deleting,
            Self::Failed,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
        .ok_or_else(|| format!("unknown bridge state {s:?}"))
    }
}

/// A network bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// Display name.
    pub display_name: String,
    /// Side A.
    pub endpoint_a: Endpoint,
    /// Side B.
    pub endpoint_b: Endpoint,
    /// State.
    pub state: BridgeState,
    /// Why it failed.
    pub state_reason: String,
    /// Version (the etag).
    pub version: i64,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
}

impl Bridge {
    /// `organizations/{org}/networkBridges/{id}`.
    pub fn name(&self) -> String {
        BridgeName {
            organization: self.organization,
            id: self.id,
        }
        .to_string()
    }

    /// The etag.
    pub fn etag(&self) -> String {
        etag(self.version)
    }

    /// The verbs the state allows.
    pub fn allowed_actions(&self) -> Vec<&'static str> {
        match self.state {
            BridgeState::Deleting | BridgeState::Deleted => Vec::new(),
            _ => vec!["delete"],
        }
    }

    fn audit_details(&self) -> serde_json::Value {
        json!({
            "display_name": self.display_name,
            "endpoint_a": self.endpoint_a,
            "endpoint_b": self.endpoint_b,
            "state": self.state.as_str(),
            "state_reason": self.state_reason,
        })
    }
}

/// Whether two ranges share an address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// CreateNetworkBridge, validated (each side's ranges canonical and apart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateBridge {
    /// The organization.
    pub organization: Uuid,
    /// Display name.
    pub display_name: String,
    /// Side A.
    pub endpoint_a: Endpoint,
    /// Side B.
    pub endpoint_b: Endpoint,
    /// `request_id` and `validate_only`.
    pub write: WriteOptions,
}

/// ListNetworkBridges, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListBridges {
    /// The organization.
    pub organization: Uuid,
    /// Size and position.
    pub page: PageRequest,
}

/// DeleteNetworkBridge, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteBridge {
    /// The bridge.
    pub name: BridgeName,
    /// Expected etag.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// SetNetworkBridgeState, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetBridgeState {
    /// The bridge.
    pub name: BridgeName,
    /// ACTIVE, FAILED or DELETED.
    pub state: BridgeState,
    /// Why (required for FAILED).
    pub reason: String,
}

/// Where a new bridge's ranges collide with what another live bridge
/// already routes to the same project network.
fn cross_bridge_overlap(new: &Bridge, others: &[Bridge]) -> Option<String> {
    let sides = |b: &Bridge| {
        [
            (b.endpoint_a.segment.identity(), b.endpoint_b.cidrs.clone()),
            (b.endpoint_b.segment.identity(), b.endpoint_a.cidrs.clone()),
        ]
    };
    for (segment, far) in sides(new) {
        let Some(segment) = segment else { continue };
        for other in others {
            for (other_segment, other_far) in sides(other) {
                if other_segment.as_deref() != Some(segment.as_str()) {
                    continue;
                }
                for a in &far {
                    if let Some(b) = other_far.iter().find(|b| overlaps(a, b)) {
                        return Some(format!(
                            "{a} overlaps {b}, which {} already routes to the project network {segment}: a network cannot reach one address range over two bridges",
                            other.name()
                        ));
                    }
                }
            }
        }
    }
    None
}

impl Dns {
    /// Requests a bridge; `max_network_bridges` holds under the
    /// organization's lock.
    pub async fn create_bridge(
        &self,
        principal: &Principal,
        input: CreateBridge,
    ) -> Result<Bridge> {
        let rpc = &rpcs::CREATE_NETWORK_BRIDGE;
        let org = input.organization;
        let policy = self.authorize(principal, rpc, org).await?;
        let mut tx = self.begin_write(org, rpc, principal, input.write).await?;
        if let Some(id) = tx.replayed_id() {
            return self
                .bridge_in(
                    tx.conn(),
                    BridgeName {
                        organization: org,
                        id,
                    },
                )
                .await;
        }
        let others = store::all(tx.conn(), org).await?;
        let count = i64::try_from(others.len()).unwrap_or(i64::MAX);
        let limit = Dns::limit_of(&policy, MAX_BRIDGES);
        if count >= limit {
            return Err(Refusal::LimitReached {
                organization: org_name(org),
                limit: MAX_BRIDGES.into(),
                limit_value: limit,
                usage: count,
            }
            .into());
        }
        let now = Utc::now();
        let bridge = Bridge {
            id: Uuid::now_v7(),
            organization: org,
            display_name: input.display_name,
            endpoint_a: input.endpoint_a,
            endpoint_b: input.endpoint_b,
            state: BridgeState::Provisioning,
            state_reason: String::new(),
            version: 1,
            create_time: now,
            update_time: now,
        };
        if let Some(message) = cross_bridge_overlap(&bridge, &others) {
            return Err(Refusal::precondition(CIDR_OVERLAP, message).into());
        }
        store::insert(tx.conn(), &bridge).await?;
        usage::record(tx.conn(), org, MAX_BRIDGES, count + 1).await?;
        tx.created(bridge.id);
        tx.audit(bridge.name(), bridge.audit_details());
        tx.commit().await?;
        Ok(bridge)
    }

    /// One bridge.
    pub async fn get_bridge(&self, principal: &Principal, name: BridgeName) -> Result<Bridge> {
        self.authorize(principal, &rpcs::GET_NETWORK_BRIDGE, name.organization)
            .await?;
        self.bridge_in(self.db(), name).await
    }

    /// A page of bridges in creation order.
    pub async fn list_bridges(
        &self,
        principal: &Principal,
        input: ListBridges,
    ) -> Result<Page<Bridge>> {
        self.authorize(principal, &rpcs::LIST_NETWORK_BRIDGES, input.organization)
            .await?;
        let rows = store::list(self.db(), input.organization, &input.page).await?;
        Ok(input.page.page(rows, |b| b.id.to_string()))
    }

    /// Asks the operator to remove a bridge: DELETING.
    pub async fn delete_bridge(
        &self,
        principal: &Principal,
        input: DeleteBridge,
    ) -> Result<Bridge> {
        let rpc = &rpcs::DELETE_NETWORK_BRIDGE;
        let name = input.name;
        self.authorize(principal, rpc, name.organization).await?;
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let mut bridge = self.bridge_in(tx.conn(), name).await?;
        if input.etag.is_some_and(|e| e != bridge.version) {
            return Err(Error::etag_mismatch(name.to_string()));
        }
        if bridge.state == BridgeState::Deleting {
            return Ok(bridge);
        }
        bridge.state = BridgeState::Deleting;
        bridge.state_reason.clear();
        bridge.version += 1;
        bridge.update_time = Utc::now();
        store::update(tx.conn(), &bridge).await?;
        tx.audit(bridge.name(), bridge.audit_details());
        tx.commit().await?;
        Ok(bridge)
    }

    /// The operator reports a bridge's state.
    pub async fn set_bridge_state(
        &self,
        principal: &Principal,
        input: SetBridgeState,
    ) -> Result<Bridge> {
        let rpc = &rpcs::SET_NETWORK_BRIDGE_STATE;
        let name = input.name;
        let org = name.organization;
        self.authorize(principal, rpc, org).await?;
        let mut tx = self
            .begin_write(org, rpc, principal, WriteOptions::plain())
            .await?;
        let mut bridge = self.bridge_in(tx.conn(), name).await?;
        if bridge.state == input.state {
            return Ok(bridge);
        }
        if !bridge.state.may_become(input.state) {
            return Err(Refusal::FailedPrecondition {
                reason: INVALID_BRIDGE_TRANSITION,
                message: format!(
                    "{name} is {}: it cannot become {}",
                    bridge.state, input.state
                ),
                metadata: vec![
                    ("bridge", name.to_string()),
                    ("from", bridge.state.as_str().to_string()),
                    ("to", input.state.as_str().to_string()),
                ],
            }
            .into());
        }
        bridge.state = input.state;
        bridge.state_reason = if input.state == BridgeState::Failed {
            input.reason.clone()
        } else {
            String::new()
        };
        bridge.version += 1;
        bridge.update_time = Utc::now();
        if input.state == BridgeState::Deleted {
            store::delete(tx.conn(), org, name.id).await?;
            let left = store::count(tx.conn(), org).await?;
            usage::record(tx.conn(), org, MAX_BRIDGES, left).await?;
        } else {
            store::update(tx.conn(), &bridge).await?;
        }
        tx.audit_with_reason(bridge.name(), &input.reason, bridge.audit_details());
        tx.commit().await?;
        Ok(bridge)
    }

    /// A bridge; NOT_FOUND when missing or another organization's.
    async fn bridge_in(&self, conn: &impl Conn, name: BridgeName) -> Result<Bridge> {
        store::find(conn, name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }
}

/// Removes the network bridges of a purged organization; returns how many rows
/// went.
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<u64> {
    store::delete_organization(conn, org).await
}

/// The organizations holding network bridges, in order after `after`, at most
/// `limit`.
pub async fn holders(conn: &impl Conn, after: Option<Uuid>, limit: u64) -> Result<Vec<Uuid>> {
    store::holders(conn, after, limit).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("cidr")
    }

    #[test]
    fn overlaps_either_way_and_only_within_a_family() {
        assert!(overlaps(&net("10.0.0.0/8"), &net("10.1.0.0/16")));
        assert!(overlaps(&net("10.1.0.0/16"), &net("10.0.0.0/8")));
        assert!(!overlaps(&net("10.0.0.0/16"), &net("10.1.0.0/16")));
        assert!(!overlaps(&net("10.0.0.0/8"), &net("fd00::/8")));
    }

    #[test]
    fn the_lifecycle_allows_only_its_moves() {
        use BridgeState::*;
        assert!(Provisioning.may_become(Active));
        assert!(Provisioning.may_become(Failed));
        assert!(Failed.may_become(Active));
        assert!(Deleting.may_become(Deleted));
        assert!(Deleting.may_become(Failed));
        assert!(!Provisioning.may_become(Deleted));
        assert!(!Active.may_become(Deleted));
        assert!(!Deleting.may_become(Active));
    }
}
