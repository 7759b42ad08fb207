//! gRPC adapter of `loopback.dns.v1.DelegationService`: each RPC parses its
//! request into the domain's input, makes one domain call and maps the
//! result.

use loopback_proto::dns::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::tx::WriteOptions;
use tonic::{Request, Response, Status};

use super::{
    CreateDelegation, Delegation, DelegationName, DeleteDelegation, ListDelegations, OrgZone,
    Target,
};
use crate::{Dns, dnsname};

/// Serves DelegationService.
#[derive(Debug, Clone)]
pub struct DelegationGrpc(pub Dns);

const MAX_DESCRIPTION: usize = 1000;

/// The wire form of a delegation.
pub fn delegation_to_pb(d: Delegation) -> pb::Delegation {
    pb::Delegation {
        name: d.name(),
        target: d.target().to_string(),
        pattern: d.pattern,
        description: d.description,
        create_time: Some(timestamp(d.create_time)),
    }
}

/// A pattern: an owner name (a `*` only as the leftmost label), canonical.
fn pattern(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err("is required".into());
    }
    dnsname::any_owner_name(value)
}

impl TryFrom<pb::CreateDelegationRequest> for CreateDelegation {
    type Error = FieldViolations;
    fn try_from(req: pb::CreateDelegationRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let zone = f.name::<OrgZone>("parent", &req.parent);
        let request_id = f.request_id("request_id", &req.request_id);
        let d = f.message("delegation", req.delegation);
        let pattern = f.take("delegation.pattern", pattern(&d.pattern));
        let target = f.name::<Target>("delegation.target", &d.target);
        if let (Some(zone), Some(target)) = (&zone, &target)
            && target.organization != zone.0.organization
        {
            f.add(
                "delegation.target",
                "must be a project (or a workspace of one) of the zone's organization",
            );
        }
        let description = f.text("delegation.description", &d.description, MAX_DESCRIPTION);
        let (zone, request_id, pattern, target, description) =
            f.finish((zone, request_id, pattern, target, description))?;
        Ok(Self {
            zone: zone.0,
            pattern,
            target,
            description,
            write: WriteOptions {
                request_id,
                validate_only: req.validate_only,
            },
        })
    }
}

impl TryFrom<pb::GetDelegationRequest> for DelegationName {
    type Error = FieldViolations;
    fn try_from(req: pb::GetDelegationRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        f.finish(name)
    }
}

impl TryFrom<pb::ListDelegationsRequest> for ListDelegations {
    type Error = FieldViolations;
    fn try_from(req: pb::ListDelegationsRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let zone = f.name::<OrgZone>("parent", &req.parent);
        let query = format!("delegations|{}", req.parent);
        let page = f.page(req.page_size, &req.page_token, &query);
        let (zone, page) = f.finish((zone, page))?;
        Ok(Self { zone: zone.0, page })
    }
}

impl TryFrom<pb::DeleteDelegationRequest> for DeleteDelegation {
    type Error = FieldViolations;
    fn try_from(req: pb::DeleteDelegationRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        Ok(Self {
            name: f.finish(name)?,
            validate_only: req.validate_only,
        })
    }
}

#[tonic::async_trait]
impl pb::delegation_service_server::DelegationService for DelegationGrpc {
    async fn create_delegation(
        &self,
        request: Request<pb::CreateDelegationRequest>,
    ) -> Result<Response<pb::CreateDelegationResponse>, Status> {
        unary(&self.0, request, Dns::create_delegation, |d| {
            pb::CreateDelegationResponse {
                delegation: Some(delegation_to_pb(d)),
            }
        })
        .await
    }

    async fn get_delegation(
        &self,
        request: Request<pb::GetDelegationRequest>,
    ) -> Result<Response<pb::GetDelegationResponse>, Status> {
        unary(&self.0, request, Dns::get_delegation, |d| {
            pb::GetDelegationResponse {
                delegation: Some(delegation_to_pb(d)),
            }
        })
        .await
    }

    async fn list_delegations(
        &self,
        request: Request<pb::ListDelegationsRequest>,
    ) -> Result<Response<pb::ListDelegationsResponse>, Status> {
        unary(&self.0, request, Dns::list_delegations, |page| {
            let page = page.map(delegation_to_pb);
            pb::ListDelegationsResponse {
                delegations: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn delete_delegation(
        &self,
        request: Request<pb::DeleteDelegationRequest>,
    ) -> Result<Response<pb::DeleteDelegationResponse>, Status> {
        unary(&self.0, request, Dns::delete_delegation, |d| {
            pb::DeleteDelegationResponse {
                delegation: Some(delegation_to_pb(d)),
            }
        })
        .await
    }
}
