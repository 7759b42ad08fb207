//! gRPC adapter of `loopback.orgcore.v1.MembershipService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use tonic::{Request, Response, Status};

use super::store::Member;
use crate::convert::{etag, timestamp};
use crate::grpc as g;
use crate::service::OrgCore;

/// Serves MembershipService.
#[derive(Debug, Clone)]
pub struct MembershipGrpc(pub OrgCore);

/// The wire form of a member.
pub fn member_to_pb(m: Member) -> pb::Member {
    pb::Member {
        name: m.name(),
        account: format!("accounts/{}", m.account),
        email: m.email,
        display_name: m.display_name,
        roles: m.roles,
        join_time: Some(timestamp(m.join_time)),
        update_time: Some(timestamp(m.update_time)),
        etag: etag(m.version),
    }
}

/// Validates a list of role ids (non-empty, no duplicates, well-formed).
pub fn role_ids(v: &mut FieldViolations, field: &str, roles: &[String]) -> Vec<String> {
    if roles.is_empty() {
        v.add(field, "at least one role is required");
    }
    let mut out: Vec<String> = Vec::new();
    for (i, role) in roles.iter().enumerate() {
        let ok = (1..=63).contains(&role.len())
            && role
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !ok {
            v.add(
                format!("{field}[{i}]"),
                format!("{role:?} is not a role id"),
            );
        } else if out.contains(role) {
            v.add(format!("{field}[{i}]"), format!("{role:?} is listed twice"));
        } else {
            out.push(role.clone());
        }
    }
    out.sort();
    out
}

#[tonic::async_trait]
impl pb::membership_service_server::MembershipService for MembershipGrpc {
    async fn list_members(
        &self,
        request: Request<pb::ListMembersRequest>,
    ) -> Result<Response<pb::ListMembersResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "parent", &req.parent);
        let page = g::page(
            &mut v,
            req.page_size,
            &req.page_token,
            &format!("members|{}", req.parent),
        );
        g::done(v)?;
        let (Some(org), Some(page)) = (org, page) else {
            return Err(Status::internal("validated fields missing"));
        };
        let (members, next_page_token) = self.0.list_members(&caller, org, page).await?;
        Ok(Response::new(pb::ListMembersResponse {
            members: members.into_iter().map(member_to_pb).collect(),
            next_page_token,
        }))
    }

    async fn get_member(
        &self,
        request: Request<pb::GetMemberRequest>,
    ) -> Result<Response<pb::GetMemberResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let ids = g::child_id(&mut v, "name", &req.name, "members");
        g::done(v)?;
        let (org, account) = ids.unwrap_or_default();
        let member = self.0.get_member(&caller, org, account).await?;
        Ok(Response::new(pb::GetMemberResponse {
            member: Some(member_to_pb(member)),
        }))
    }

    async fn update_member(
        &self,
        request: Request<pb::UpdateMemberRequest>,
    ) -> Result<Response<pb::UpdateMemberResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        if req.member.is_none() {
            v.add("member", "is required");
        }
        let member = req.member.unwrap_or_default();
        let ids = g::child_id(&mut v, "member.name", &member.name, "members");
        let version = g::etag(&mut v, "member.etag", &member.etag);
        let paths = g::update_mask(&mut v, req.update_mask.as_ref(), &["roles"]);
        let roles = if paths.contains(&"roles") {
            role_ids(&mut v, "member.roles", &member.roles)
        } else {
            Vec::new()
        };
        g::done(v)?;
        let (org, account) = ids.unwrap_or_default();
        let updated = self
            .0
            .update_member(&caller, org, account, roles, version, req.validate_only)
            .await?;
        Ok(Response::new(pb::UpdateMemberResponse {
            member: Some(member_to_pb(updated)),
        }))
    }

    async fn remove_member(
        &self,
        request: Request<pb::RemoveMemberRequest>,
    ) -> Result<Response<pb::RemoveMemberResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let ids = g::child_id(&mut v, "name", &req.name, "members");
        let version = g::etag(&mut v, "etag", &req.etag);
        g::done(v)?;
        let (org, account) = ids.unwrap_or_default();
        let removed = self
            .0
            .remove_member(&caller, org, account, version, req.validate_only)
            .await?;
        Ok(Response::new(pb::RemoveMemberResponse {
            member: Some(member_to_pb(removed)),
        }))
    }

    async fn leave_organization(
        &self,
        request: Request<pb::LeaveOrganizationRequest>,
    ) -> Result<Response<pb::LeaveOrganizationResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "organization", &req.organization);
        g::done(v)?;
        let left = self
            .0
            .leave_organization(&caller, org.unwrap_or_default(), req.validate_only)
            .await?;
        Ok(Response::new(pb::LeaveOrganizationResponse {
            member: Some(member_to_pb(left)),
        }))
    }
}
