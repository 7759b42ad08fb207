//! gRPC adapter of `loopback.orgcore.v1.MembershipService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::{FieldViolations, quote};
use loopback_runtime::fields::{Fields, etag, timestamp};
use loopback_runtime::rpc::unary;
use tonic::{Request, Response, Status};

use loopback_runtime::names::ResourceName as _;
use uuid::Uuid;

use super::{
    LeaveOrganization, ListMembers, Member, MemberName, ProjectRoles, RemoveMember, UpdateMember,
};
use crate::catalog::roles;
use crate::model::project_name;
use crate::projects::ProjectName;
use crate::service::OrgCore;

/// Most projects one member (or invite) may hold roles on in one request.
const MAX_PROJECT_ROLES: usize = 1000;

/// Serves MembershipService.
#[derive(Debug, Clone)]
pub struct MembershipGrpc(pub OrgCore);

/// The wire form of a member.
pub fn member_to_pb(m: Member) -> pb::Member {
    pb::Member {
        name: m.name(),
        project_roles: project_roles_to_pb(m.organization, m.project_roles),
        account: format!("accounts/{}", m.account),
        email: m.email,
        display_name: m.display_name,
        roles: m.roles,
        join_time: Some(timestamp(m.join_time)),
        update_time: Some(timestamp(m.update_time)),
        etag: etag(m.version),
    }
}

/// The wire form of project roles.
pub fn project_roles_to_pb(org: Uuid, bindings: Vec<ProjectRoles>) -> Vec<pb::ProjectRoles> {
    bindings
        .into_iter()
        .map(|b| pb::ProjectRoles {
            project: project_name(org, b.project),
            roles: b.roles,
        })
        .collect()
}

/// Whether a role id is well-formed.
fn is_role_id(role: &str) -> bool {
    (1..=63).contains(&role.len())
        && role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Project roles (`field` is e.g. `member.project_roles`): each project a
/// project of `org` (when known), listed once, with at least one
/// well-formed role, no repeats, never `owner`. Kept in request order.
pub fn project_roles(
    f: &mut Fields,
    field: &str,
    org: Option<Uuid>,
    list: &[pb::ProjectRoles],
) -> Option<Vec<ProjectRoles>> {
    let mut v = Fields::new();
    if list.len() > MAX_PROJECT_ROLES {
        v.add(
            field,
            format!("at most {MAX_PROJECT_ROLES} projects per request"),
        );
    }
    let mut out: Vec<ProjectRoles> = Vec::new();
    for (i, binding) in list.iter().take(MAX_PROJECT_ROLES).enumerate() {
        let at = format!("{field}[{i}]");
        let project = match ProjectName::parse(&binding.project) {
            Ok(p) if org.is_some_and(|o| o != p.organization) => {
                v.add(
                    format!("{at}.project"),
                    format!(
                        "{} is not a project of this organization",
                        quote(&binding.project)
                    ),
                );
                None
            }
            Ok(p) if out.iter().any(|b| b.project == p.id) => {
                v.add(
                    format!("{at}.project"),
                    format!("{} is listed twice", quote(&binding.project)),
                );
                None
            }
            Ok(p) => Some(p.id),
            Err(e) => {
                v.add(format!("{at}.project"), e);
                None
            }
        };
        if binding.roles.is_empty() {
            v.add(format!("{at}.roles"), "at least one role is required");
        }
        let mut roles_here: Vec<String> = Vec::new();
        for (j, role) in binding.roles.iter().enumerate() {
            let bad = if !is_role_id(role) {
                Some(format!("{} is not a role id", quote(role)))
            } else if role == roles::OWNER {
                Some("owner is organization-wide: it cannot be a project role".into())
            } else if roles_here.contains(role) {
                Some(format!("{} is listed twice", quote(role)))
            } else {
                None
            };
            match bad {
                Some(description) => v.add(format!("{at}.roles[{j}]"), description),
                None => roles_here.push(role.clone()),
            }
        }
        if let Some(project) = project {
            out.push(ProjectRoles {
                project,
                roles: roles_here,
            });
        }
    }
    match v.into_result() {
        Ok(()) => Some(out),
        Err(bad) => {
            f.extend(bad);
            None
        }
    }
}

/// A list of role ids (non-empty, no duplicates, well-formed), sorted.
pub fn role_ids(f: &mut Fields, field: &str, roles: &[String]) -> Option<Vec<String>> {
    let mut v = Fields::new();
    if roles.is_empty() {
        v.add(field, "at least one role is required");
    }
    let out = some_role_ids(&mut v, field, roles);
    match v.into_result() {
        Ok(()) => out,
        Err(bad) => {
            f.extend(bad);
            None
        }
    }
}

/// A list of role ids (possibly empty, no duplicates, well-formed), sorted.
pub fn some_role_ids(f: &mut Fields, field: &str, roles: &[String]) -> Option<Vec<String>> {
    let mut v = Fields::new();
    let mut out: Vec<String> = Vec::new();
    for (i, role) in roles.iter().enumerate() {
        if !is_role_id(role) {
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
        // An empty mask means `roles`, as before project roles existed, so
        // an old client never wipes project roles it does not know about.
        let paths = match req.update_mask.as_ref() {
            Some(mask) if !mask.paths.is_empty() => {
                f.update_mask(Some(mask), &["roles", "project_roles"])
            }
            _ => vec!["roles"],
        };
        // Emptiness is judged with the member's other roles, in the domain.
        let roles = if paths.contains(&"roles") {
            some_role_ids(&mut f, "member.roles", &m.roles).map(Some)
        } else {
            Some(None)
        };
        let org = name.as_ref().map(|n: &MemberName| n.organization);
        let bindings = if paths.contains(&"project_roles") {
            project_roles(&mut f, "member.project_roles", org, &m.project_roles).map(Some)
        } else {
            Some(None)
        };
        let (name, etag, roles, project_roles) = f.finish((name, etag, roles, bindings))?;
        Ok(Self {
            name,
            roles,
            project_roles,
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
