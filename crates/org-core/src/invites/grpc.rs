//! gRPC adapter of `loopback.orgcore.v1.InviteService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::validation;
use tonic::{Request, Response, Status};

use super::store::{Invite, state};
use crate::catalog::roles;
use crate::convert::timestamp;
use crate::grpc as g;
use crate::memberships::grpc::{member_to_pb, role_ids};
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
        state::PENDING => vec!["revoke".to_string(), "resend".to_string()],
        state::EXPIRED => vec!["revoke".to_string(), "resend".to_string()],
        _ => Vec::new(),
    };
    pb::Invite {
        name: i.name(),
        email: i.email,
        roles: i.roles,
        state: state_to_pb(i.state).into(),
        inviter: i.inviter,
        create_time: Some(timestamp(i.create_time)),
        expire_time: Some(timestamp(i.expire_time)),
        update_time: Some(timestamp(i.update_time)),
        accepted_by: i
            .accepted_by
            .map(|a| format!("accounts/{a}"))
            .unwrap_or_default(),
        allowed_actions,
    }
}

fn ttl(v: &mut FieldViolations, field: &str, hours: i32) -> Option<chrono::Duration> {
    match hours {
        0 => None,
        1..=720 => Some(chrono::Duration::hours(i64::from(hours))),
        _ => {
            v.add(field, "must be between 1 and 720 hours (0 for the default)");
            None
        }
    }
}

#[tonic::async_trait]
impl pb::invite_service_server::InviteService for InviteGrpc {
    async fn create_invite(
        &self,
        request: Request<pb::CreateInviteRequest>,
    ) -> Result<Response<pb::CreateInviteResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "parent", &req.parent);
        if req.invite.is_none() {
            v.add("invite", "is required");
        }
        let invite = req.invite.unwrap_or_default();
        let email = match validation::email(&invite.email) {
            Ok(e) => e,
            Err(e) => {
                v.add("invite.email", e);
                String::new()
            }
        };
        let roles = if invite.roles.is_empty() {
            vec![roles::MEMBER.to_string()]
        } else {
            role_ids(&mut v, "invite.roles", &invite.roles)
        };
        let ttl = ttl(&mut v, "ttl_hours", req.ttl_hours);
        g::done(v)?;
        let (created, invite_token) = self
            .0
            .create_invite(
                &caller,
                org.unwrap_or_default(),
                email,
                roles,
                ttl,
                req.validate_only,
            )
            .await?;
        Ok(Response::new(pb::CreateInviteResponse {
            invite: Some(invite_to_pb(created)),
            invite_token,
        }))
    }

    async fn list_invites(
        &self,
        request: Request<pb::ListInvitesRequest>,
    ) -> Result<Response<pb::ListInvitesResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "parent", &req.parent);
        let only = match pb::invite::State::try_from(req.state) {
            Ok(pb::invite::State::Unspecified) => None,
            Ok(pb::invite::State::Pending) => Some(state::PENDING),
            Ok(pb::invite::State::Accepted) => Some(state::ACCEPTED),
            Ok(pb::invite::State::Revoked) => Some(state::REVOKED),
            Ok(pb::invite::State::Expired) => Some(state::EXPIRED),
            Err(_) => {
                v.add("state", "unknown invite state");
                None
            }
        };
        let page = g::page(
            &mut v,
            req.page_size,
            &req.page_token,
            &format!("invites|{}|{}", req.parent, req.state),
        );
        g::done(v)?;
        let (Some(org), Some(page)) = (org, page) else {
            return Err(Status::internal("validated fields missing"));
        };
        let (invites, next_page_token) = self.0.list_invites(&caller, org, only, page).await?;
        Ok(Response::new(pb::ListInvitesResponse {
            invites: invites.into_iter().map(invite_to_pb).collect(),
            next_page_token,
        }))
    }

    async fn get_invite(
        &self,
        request: Request<pb::GetInviteRequest>,
    ) -> Result<Response<pb::GetInviteResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let ids = g::child_id(&mut v, "name", &req.name, "invites");
        g::done(v)?;
        let (org, id) = ids.unwrap_or_default();
        let invite = self.0.get_invite(&caller, org, id).await?;
        Ok(Response::new(pb::GetInviteResponse {
            invite: Some(invite_to_pb(invite)),
        }))
    }

    async fn revoke_invite(
        &self,
        request: Request<pb::RevokeInviteRequest>,
    ) -> Result<Response<pb::RevokeInviteResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let ids = g::child_id(&mut v, "name", &req.name, "invites");
        g::done(v)?;
        let (org, id) = ids.unwrap_or_default();
        let invite = self
            .0
            .revoke_invite(&caller, org, id, req.validate_only)
            .await?;
        Ok(Response::new(pb::RevokeInviteResponse {
            invite: Some(invite_to_pb(invite)),
        }))
    }

    async fn resend_invite(
        &self,
        request: Request<pb::ResendInviteRequest>,
    ) -> Result<Response<pb::ResendInviteResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let ids = g::child_id(&mut v, "name", &req.name, "invites");
        let ttl = ttl(&mut v, "ttl_hours", req.ttl_hours);
        g::done(v)?;
        let (org, id) = ids.unwrap_or_default();
        let (invite, invite_token) = self.0.resend_invite(&caller, org, id, ttl).await?;
        Ok(Response::new(pb::ResendInviteResponse {
            invite: Some(invite_to_pb(invite)),
            invite_token,
        }))
    }

    async fn accept_invite(
        &self,
        request: Request<pb::AcceptInviteRequest>,
    ) -> Result<Response<pb::AcceptInviteResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        if req.invite_token.is_empty() || req.invite_token.len() > 200 {
            let mut v = FieldViolations::new();
            v.add(
                "invite_token",
                "is required (the token from the invitation)",
            );
            g::done(v)?;
        }
        let member = self.0.accept_invite(&caller, &req.invite_token).await?;
        Ok(Response::new(pb::AcceptInviteResponse {
            member: Some(member_to_pb(member)),
        }))
    }
}
