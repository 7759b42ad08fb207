//! Invites: bringing people into an organization by email. Inviting is a
//! setup action; pending invites count against `max_members`; tokens are
//! random, returned once and stored only as a hash.

pub mod grpc;
pub mod store;

use chrono::Utc;
use loopback_runtime::pagination::PageRequest;
use sea_orm::ActiveValue::Set;
use sea_orm::EntityTrait;
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, OrgAccess};
use crate::audit::{self, AuditRecord};
use crate::catalog;
use crate::changes::{self, kind};
use crate::entity::invite;
use crate::error::{Error, Result};
use crate::memberships::{self, store::Member};
use crate::model::Caller;
use crate::organizations::store as org_store;
use crate::policy::ActionClass;
use crate::service::OrgCore;
use store::{Invite, state};

/// The limit members and pending invites count against.
pub const LIMIT: &str = "max_members";

fn invite_name(org: Uuid, id: Uuid) -> String {
    format!("organizations/{org}/invites/{id}")
}

/// Refuses with LIMIT_REACHED unless one more member fits, counting
/// members and pending invites (except `except`).
async fn check_member_limit(
    conn: &impl sea_orm::ConnectionTrait,
    access: &OrgAccess,
    except: Option<Uuid>,
) -> Result<()> {
    let org = access.organization.id;
    let usage = memberships::store::count(conn, org).await?
        + store::count_pending(conn, org, except).await?;
    let limit = access.organization.capabilities.limit(LIMIT);
    if usage >= limit {
        return Err(Error::LimitReached {
            organization: access.organization.name(),
            limit: LIMIT.into(),
            limit_value: limit,
            usage,
        });
    }
    Ok(())
}

fn precondition(reason: &'static str, message: String) -> Error {
    Error::FailedPrecondition { reason, message }
}

/// Why an invite in `invite.state` cannot be used or changed.
fn not_pending(invite: &Invite) -> Error {
    match invite.state {
        state::ACCEPTED => precondition(
            "INVITE_ALREADY_USED",
            format!("{} was already accepted", invite.name()),
        ),
        state::REVOKED => precondition(
            "INVITE_REVOKED",
            format!("{} was revoked: ask for a new invite", invite.name()),
        ),
        _ => precondition(
            "INVITE_EXPIRED",
            format!(
                "{} expired at {}: ask for it to be resent",
                invite.name(),
                invite.expire_time.to_rfc3339()
            ),
        ),
    }
}

impl OrgCore {
    /// Invites `email` with `roles`. Returns the invite and its token (empty
    /// with `validate_only`).
    pub async fn create_invite(
        &self,
        caller: &Caller,
        org: Uuid,
        email: String,
        roles: Vec<String>,
        ttl: Option<chrono::Duration>,
        validate_only: bool,
    ) -> Result<(Invite, String)> {
        let txn = self.begin_locked(org).await?;
        let access = self.org_access(&txn, caller, org, Deleted::Hide).await?;
        access.require(catalog::INVITES_CREATE, ActionClass::Setup, "CreateInvite")?;
        self.check_grantable(&txn, &access, &roles, "invite.roles")
            .await?;
        if let Some(member) = memberships::store::find_by_email(&txn, org, &email).await? {
            return Err(Error::AlreadyExists(format!(
                "{} is already a member ({})",
                email,
                member.name()
            )));
        }
        if let Some(pending) = store::find_pending_for_email(&txn, org, &email).await? {
            return Err(Error::AlreadyExists(format!(
                "{email} already has a pending invite ({}): resend or revoke it",
                pending.name()
            )));
        }
        check_member_limit(&txn, &access, None).await?;
        let now = Utc::now();
        let id = Uuid::now_v7();
        let (token, hash) = store::new_token();
        invite::Entity::insert(invite::ActiveModel {
            id: Set(id.to_string()),
            organization_id: Set(org.to_string()),
            email: Set(email.clone()),
            roles: Set(serde_json::to_string(&roles).unwrap_or_else(|_| "[]".into())),
            state: Set(state::PENDING.into()),
            token_hash: Set(hash),
            inviter: Set(caller.audit_id()),
            create_time: Set(now),
            update_time: Set(now),
            expire_time: Set(now + ttl.unwrap_or(self.settings().invite_ttl)),
            accepted_by: Set(None),
            version: Set(1),
        })
        .exec_without_returning(&txn)
        .await?;
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "CreateInvite",
                resource: invite_name(org, id),
                organization: Some(org),
                reason: "",
                details: json!({ "email": email, "roles": roles }),
            },
        )
        .await?;
        let created = store::find(&txn, org, id)
            .await?
            .ok_or_else(|| Error::Corrupt("invite vanished inside its transaction".into()))?;
        self.finish(txn, validate_only).await?;
        Ok((created, if validate_only { String::new() } else { token }))
    }

    /// Lists invites, optionally in one effective state.
    pub async fn list_invites(
        &self,
        caller: &Caller,
        org: Uuid,
        only: Option<&'static str>,
        page: PageRequest,
    ) -> Result<(Vec<Invite>, String)> {
        let access = self
            .org_access(self.db(), caller, org, Deleted::Hide)
            .await?;
        access.require(catalog::INVITES_LIST, ActionClass::Read, "ListInvites")?;
        let rows = store::list(self.db(), org, only, &page).await?;
        Ok(page.finish(rows, |i| i.id.to_string()))
    }

    /// One invite.
    pub async fn get_invite(&self, caller: &Caller, org: Uuid, id: Uuid) -> Result<Invite> {
        let access = self
            .org_access(self.db(), caller, org, Deleted::Hide)
            .await?;
        access.require(catalog::INVITES_LIST, ActionClass::Read, "GetInvite")?;
        store::find(self.db(), org, id)
            .await?
            .ok_or_else(|| Error::NotFound(invite_name(org, id)))
    }

    /// Revokes a pending invite.
    pub async fn revoke_invite(
        &self,
        caller: &Caller,
        org: Uuid,
        id: Uuid,
        validate_only: bool,
    ) -> Result<Invite> {
        let txn = self.begin_locked(org).await?;
        let access = self.org_access(&txn, caller, org, Deleted::Hide).await?;
        access.require(catalog::INVITES_REVOKE, ActionClass::Setup, "RevokeInvite")?;
        let invite = store::find(&txn, org, id)
            .await?
            .ok_or_else(|| Error::NotFound(invite_name(org, id)))?;
        if invite.state != state::PENDING && invite.state != state::EXPIRED {
            return Err(not_pending(&invite));
        }
        if !store::transition(&txn, &invite, state::REVOKED, None, None, None).await? {
            return Err(Error::EtagMismatch(invite.name()));
        }
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "RevokeInvite",
                resource: invite.name(),
                organization: Some(org),
                reason: "",
                details: json!({ "email": invite.email }),
            },
        )
        .await?;
        let revoked = store::find(&txn, org, id)
            .await?
            .ok_or_else(|| Error::NotFound(invite.name()))?;
        self.finish(txn, validate_only).await?;
        Ok(revoked)
    }

    /// Rotates a pending (or expired) invite's token and restarts its expiry.
    pub async fn resend_invite(
        &self,
        caller: &Caller,
        org: Uuid,
        id: Uuid,
        ttl: Option<chrono::Duration>,
    ) -> Result<(Invite, String)> {
        let txn = self.begin_locked(org).await?;
        let access = self.org_access(&txn, caller, org, Deleted::Hide).await?;
        access.require(catalog::INVITES_CREATE, ActionClass::Setup, "ResendInvite")?;
        let invite = store::find(&txn, org, id)
            .await?
            .ok_or_else(|| Error::NotFound(invite_name(org, id)))?;
        match invite.state {
            state::PENDING => {}
            // An expired invite stopped counting against max_members.
            state::EXPIRED => check_member_limit(&txn, &access, Some(id)).await?,
            _ => return Err(not_pending(&invite)),
        }
        let (token, hash) = store::new_token();
        let expire = Utc::now() + ttl.unwrap_or(self.settings().invite_ttl);
        if !store::transition(
            &txn,
            &invite,
            state::PENDING,
            Some(&hash),
            Some(expire),
            None,
        )
        .await?
        {
            return Err(Error::EtagMismatch(invite.name()));
        }
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "ResendInvite",
                resource: invite.name(),
                organization: Some(org),
                reason: "",
                details: json!({ "email": invite.email }),
            },
        )
        .await?;
        let resent = store::find(&txn, org, id)
            .await?
            .ok_or_else(|| Error::NotFound(invite.name()))?;
        self.finish(txn, false).await?;
        Ok((resent, token))
    }

    /// Accepts an invite by its token, making the caller a member.
    pub async fn accept_invite(&self, caller: &Caller, token: &str) -> Result<Member> {
        let Caller::Account(account) = caller else {
            return Err(Error::PrincipalKind("account"));
        };
        let not_found = || Error::NotFound("invite".into());
        let hash = store::hash_token(token);
        let found = store::find_by_token_hash(self.db(), &hash)
            .await?
            .ok_or_else(not_found)?;
        let org = found.organization;
        let txn = self.begin_locked(org).await?;
        // Re-read under the lock: a concurrent accept, revoke or resend wins.
        let invite = store::find_by_token_hash(&txn, &hash)
            .await?
            .ok_or_else(not_found)?;
        let Some(organization) = org_store::load(&txn, self.settings(), org).await? else {
            return Err(not_found());
        };
        if organization.state == crate::policy::LifecycleState::Deleted {
            return Err(not_found());
        }
        if invite.state != state::PENDING {
            return Err(not_pending(&invite));
        }
        if !invite.email.eq_ignore_ascii_case(&account.email) {
            return Err(Error::PermissionDeniedBecause {
                permission: String::new(),
                reason: "INVITE_EMAIL_MISMATCH",
                message: "this invite was sent to another email address: sign in with the invited address".into(),
            });
        }
        crate::access::check_status(&organization, ActionClass::Setup, "AcceptInvite")?;
        if memberships::store::find(&txn, org, account.id)
            .await?
            .is_some()
        {
            return Err(Error::AlreadyExists(format!(
                "you are already a member of {}",
                organization.name()
            )));
        }
        let access = OrgAccess {
            organization,
            permissions: crate::access::Permissions::Set(Default::default()),
        };
        check_member_limit(&txn, &access, Some(invite.id)).await?;
        let roles: Vec<&str> = invite.roles.iter().map(String::as_str).collect();
        memberships::store::add(&txn, org, account.id, &roles).await?;
        if !store::transition(&txn, &invite, state::ACCEPTED, None, None, Some(account.id)).await? {
            return Err(Error::EtagMismatch(invite.name()));
        }
        changes::append(&txn, org, kind::MEMBERSHIP).await?;
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "AcceptInvite",
                resource: invite.name(),
                organization: Some(org),
                reason: "",
                details: json!({ "email": invite.email, "roles": invite.roles }),
            },
        )
        .await?;
        let member = memberships::store::find(&txn, org, account.id)
            .await?
            .ok_or_else(|| Error::Corrupt("membership vanished inside its transaction".into()))?;
        self.finish(txn, false).await?;
        Ok(member)
    }
}
