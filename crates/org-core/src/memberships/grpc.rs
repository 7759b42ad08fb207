//! gRPC adapter of `loopback.orgcore.v1.MembershipService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::{FieldViolations, quote};
use loopback_runtime::fields::{Fields, etag, timestamp};
use loopback_runtime::rpc::unary;
use tonic::{Request, Response, Status};

use super::{LeaveOrganization, ListMembers, Member, MemberName, RemoveMember, UpdateMember};
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

/// A list of role ids (non-empty, no duplicates, well-formed), sorted.
pub fn role_ids(f: &mut Fields, field: &str, roles: &[String]) -> Option<Vec<String>> {
    let mut v = Fields::new();
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
                format!("{} is not a role id", quote(role)),
            );
        } else if out.contains(role) {
            v.add(
                format!("{field}[{i}]"),
                format!("{} is listed twice", quote(role)),
            );
        } else {
            out.push(role.clone());
        }
    }
    out.sort();
    match v.into_result() {
        Ok(()) => Some(out),
        Err(bad) => {
            f.extend(bad);
            None
        }
    }
}

impl TryFrom<pb::ListMembersRequest> for ListMembers {
    type Error = FieldViolations;
    fn try_from(req: pb::ListMembersRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let query = format!("members|{}", req.parent);
        let page = f.page(req.page_size, &req.page_token, &query);
        let (organization, page) = f.finish((organization, page))?;
        Ok(Self { organization, page })
    }
}

impl TryFrom<pb::GetMemberRequest> for MemberName {
    type Error = FieldViolations;
    fn try_from(req: pb::GetMemberRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        f.finish(name)
    }
}

impl TryFrom<pb::UpdateMemberRequest> for UpdateMember {
    type Error = FieldViolations;
    fn try_from(req: pb::UpdateMemberRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let m = f.message("member", req.member);
        let name = f.name("member.name", &m.name);
        let etag = f.etag("member.etag", &m.etag);
        let paths = f.update_mask(req.update_mask.as_ref(), &["roles"]);
        // "roles" is the only path, so a valid mask always names it.
        let roles = if paths.contains(&"roles") {
            role_ids(&mut f, "member.roles", &m.roles)
        } else {
            Some(Vec::new())
        };
        let (name, etag, roles) = f.finish((name, etag, roles))?;
        Ok(Self {
            name,
            roles,
            etag,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::RemoveMemberRequest> for RemoveMember {
    type Error = FieldViolations;
    fn try_from(req: pb::RemoveMemberRequest) -> Result<Self, FieldViolations> {
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

impl TryFrom<pb::LeaveOrganizationRequest> for LeaveOrganization {
    type Error = FieldViolations;
    fn try_from(req: pb::LeaveOrganizationRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("organization", &req.organization);
        Ok(Self {
            organization: f.finish(organization)?,
            validate_only: req.validate_only,
        })
    }
}

#[tonic::async_trait]
impl pb::membership_service_server::MembershipService for MembershipGrpc {
    async fn list_members(
        &self,
        request: Request<pb::ListMembersRequest>,
    ) -> Result<Response<pb::ListMembersResponse>, Status> {
        unary(&self.0, request, OrgCore::list_members, |page| {
            let page = page.map(member_to_pb);
            pb::ListMembersResponse {
                members: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn get_member(
        &self,
        request: Request<pb::GetMemberRequest>,
    ) -> Result<Response<pb::GetMemberResponse>, Status> {
        unary(&self.0, request, OrgCore::get_member, |m| {
            pb::GetMemberResponse {
                member: Some(member_to_pb(m)),
            }
        })
        .await
    }

    async fn update_member(
        &self,
        request: Request<pb::UpdateMemberRequest>,
    ) -> Result<Response<pb::UpdateMemberResponse>, Status> {
        unary(&self.0, request, OrgCore::update_member, |m| {
            pb::UpdateMemberResponse {
                member: Some(member_to_pb(m)),
            }
        })
        .await
    }

    async fn remove_member(
        &self,
        request: Request<pb::RemoveMemberRequest>,
    ) -> Result<Response<pb::RemoveMemberResponse>, Status> {
        unary(&self.0, request, OrgCore::remove_member, |m| {
            pb::RemoveMemberResponse {
                member: Some(member_to_pb(m)),
            }
        })
        .await
    }

    async fn leave_organization(
        &self,
        request: Request<pb::LeaveOrganizationRequest>,
    ) -> Result<Response<pb::LeaveOrganizationResponse>, Status> {
        unary(&self.0, request, OrgCore::leave_organization, |m| {
            pb::LeaveOrganizationResponse {
                member: Some(member_to_pb(m)),
            }
        })
        .await
    }
}
