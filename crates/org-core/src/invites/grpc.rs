//! gRPC adapter of `loopback.orgcore.v1.InviteService`.

use chrono::Duration;
use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, timestamp};
use loopback_runtime::rpc::unary;
use tonic::{Request, Response, Status};

use super::{
    AcceptInvite, CreateInvite, Invite, InviteName, ListInvites, ResendInvite, RevokeInvite, state,
};
use crate::catalog::roles;
use crate::memberships::grpc::{member_to_pb, project_roles, project_roles_to_pb, role_ids};
use crate::service::OrgCore;

/// Serves InviteService.
#[derive(Debug, Clone)]
pub struct InviteGrpc(pub OrgCore);

fn state_to_pb(s: &str) -> pb::invite::State {
    match s {
        state::PENDING => pb::invite::State::Pending,
        state::ACCEPTED => pb::invite::State::Accepted,
        state::REVOKED => pb::invite::State::Revoked,
        _ => pb::invite::State::Expired,
    }
}

/// The wire form of an invite.
pub fn invite_to_pb(i: Invite) -> pb::Invite {
    let allowed_actions = match i.state {
        state::PENDING | state::EXPIRED => vec!["revoke".to_string(), "resend".to_string()],
        _ => Vec::new(),
    };
    pb::Invite {
        name: i.name(),
        project_roles: project_roles_to_pb(i.organization, i.project_roles),
        email: i.email,
        roles: i.roles,
        state: state_to_pb(i.state).into(),
        inviter: i.inviter,
        create_time: Some(timestamp(i.create_time)),
        expire_time: Some(timestamp(i.expire_time)),
        update_time: Some(timestamp(i.update_time)),
        accepted_by: i
            .accepted_by
            .map_or_else(String::new, |a| format!("accounts/{a}")),
        allowed_actions,
    }
}

/// `ttl_hours`: 0 for the default, else 1 to 720.
fn ttl(f: &mut Fields, hours: i32) -> Option<Option<Duration>> {
    let ttl = match hours {
        0 => Ok(None),
        1..=720 => Ok(Some(Duration::hours(i64::from(hours)))),
        _ => Err("must be between 1 and 720 hours (0 for the default)"),
    };
    f.take("ttl_hours", ttl)
}

/// An invite state filter: `None` inside for UNSPECIFIED.
fn state_filter(f: &mut Fields, value: i32) -> Option<Option<&'static str>> {
    let only = match pb::invite::State::try_from(value) {
        Ok(pb::invite::State::Unspecified) => Ok(None),
        Ok(pb::invite::State::Pending) => Ok(Some(state::PENDING)),
        Ok(pb::invite::State::Accepted) => Ok(Some(state::ACCEPTED)),
        Ok(pb::invite::State::Revoked) => Ok(Some(state::REVOKED)),
        Ok(pb::invite::State::Expired) => Ok(Some(state::EXPIRED)),
        Err(_) => Err("unknown invite state"),
    };
    f.take("state", only)
}

impl TryFrom<pb::CreateInviteRequest> for CreateInvite {
    type Error = FieldViolations;
    fn try_from(req: pb::CreateInviteRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let invite = f.message("invite", req.invite);
        let email = f.email("invite.email", &invite.email);
        let roles = match (invite.roles.is_empty(), invite.project_roles.is_empty()) {
            (true, true) => Some(vec![roles::MEMBER.to_string()]),
            // Project roles alone: a project-only member.
            (true, false) => Some(Vec::new()),
            _ => role_ids(&mut f, "invite.roles", &invite.roles),
        };
        let bindings = project_roles(
            &mut f,
            "invite.project_roles",
            organization,
            &invite.project_roles,
        );
        let ttl = ttl(&mut f, req.ttl_hours);
        let (organization, email, roles, project_roles, ttl) =
            f.finish((organization, email, roles, bindings, ttl))?;
        Ok(Self {
            organization,
            email,
            roles,
            project_roles,
            ttl,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::ListInvitesRequest> for ListInvites {
    type Error = FieldViolations;
    fn try_from(req: pb::ListInvitesRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let state = state_filter(&mut f, req.state);
        let query = format!("invites|{}|{}", req.parent, req.state);
        let page = f.page(req.page_size, &req.page_token, &query);
        let (organization, state, page) = f.finish((organization, state, page))?;
        Ok(Self {
            organization,
            state,
            page,
        })
    }
}

impl TryFrom<pb::GetInviteRequest> for InviteName {
    type Error = FieldViolations;
    fn try_from(req: pb::GetInviteRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        f.finish(name)
    }
}

impl TryFrom<pb::RevokeInviteRequest> for RevokeInvite {
    type Error = FieldViolations;
    fn try_from(req: pb::RevokeInviteRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        Ok(Self {
            name: f.finish(name)?,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::ResendInviteRequest> for ResendInvite {
    type Error = FieldViolations;
    fn try_from(req: pb::ResendInviteRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        let ttl = ttl(&mut f, req.ttl_hours);
        let (name, ttl) = f.finish((name, ttl))?;
        Ok(Self { name, ttl })
    }
}

impl TryFrom<pb::AcceptInviteRequest> for AcceptInvite {
    type Error = FieldViolations;
    fn try_from(req: pb::AcceptInviteRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let token = req.invite_token;
        let ok = !token.is_empty() && token.len() <= 200;
        let token = f.take(
            "invite_token",
            ok.then_some(token)
                .ok_or("is required (the token from the invitation)"),
        );
        Ok(Self {
            token: f.finish(token)?,
        })
    }
}

#[tonic::async_trait]
impl pb::invite_service_server::InviteService for InviteGrpc {
    async fn create_invite(
        &self,
        request: Request<pb::CreateInviteRequest>,
    ) -> Result<Response<pb::CreateInviteResponse>, Status> {
        unary(&self.0, request, OrgCore::create_invite, |issued| {
            pb::CreateInviteResponse {
                invite: Some(invite_to_pb(issued.invite)),
                invite_token: issued.token,
            }
        })
        .await
    }

    async fn list_invites(
        &self,
        request: Request<pb::ListInvitesRequest>,
    ) -> Result<Response<pb::ListInvitesResponse>, Status> {
        unary(&self.0, request, OrgCore::list_invites, |page| {
            let page = page.map(invite_to_pb);
            pb::ListInvitesResponse {
                invites: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn get_invite(
        &self,
        request: Request<pb::GetInviteRequest>,
    ) -> Result<Response<pb::GetInviteResponse>, Status> {
        unary(&self.0, request, OrgCore::get_invite, |i| {
            pb::GetInviteResponse {
                invite: Some(invite_to_pb(i)),
            }
        })
        .await
    }

    async fn revoke_invite(
        &self,
        request: Request<pb::RevokeInviteRequest>,
    ) -> Result<Response<pb::RevokeInviteResponse>, Status> {
        unary(&self.0, request, OrgCore::revoke_invite, |i| {
            pb::RevokeInviteResponse {
                invite: Some(invite_to_pb(i)),
            }
        })
        .await
    }

    async fn resend_invite(
        &self,
        request: Request<pb::ResendInviteRequest>,
    ) -> Result<Response<pb::ResendInviteResponse>, Status> {
        unary(&self.0, request, OrgCore::resend_invite, |issued| {
            pb::ResendInviteResponse {
                invite: Some(invite_to_pb(issued.invite)),
                invite_token: issued.token,
            }
        })
        .await
    }

    async fn accept_invite(
        &self,
        request: Request<pb::AcceptInviteRequest>,
    ) -> Result<Response<pb::AcceptInviteResponse>, Status> {
        unary(&self.0, request, OrgCore::accept_invite, |m| {
            pb::AcceptInviteResponse {
                member: Some(member_to_pb(m)),
            }
        })
        .await
    }
}
