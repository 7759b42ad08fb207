//! Invites: bringing people into an organization by email. Inviting is a
//! setup action; pending invites count against `max_members`; tokens are
//! random, returned once and stored only as a hash.

pub mod grpc;
pub mod store;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::Refusal;
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::tx::WriteOptions;
use rand::RngCore as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::access::{Deleted, OrgAccess, Permissions, check_status};
use crate::changes::{self, kind};
use crate::error::{Error, Result};
use crate::memberships::{self, Member, ProjectRoles};
use crate::model::Caller;
use crate::policy::LifecycleState;
use crate::rpcs;
use crate::service::OrgCore;

/// The limit members and pending invites count against.
pub const LIMIT: &str = "max_members";

/// Stored invite states (EXPIRED is also derived from the expire time).
pub mod state {
    /// Waiting.
    pub const PENDING: &str = "PENDING";
    /// Accepted.
    pub const ACCEPTED: &str = "ACCEPTED";
    /// Revoked.
    pub const REVOKED: &str = "REVOKED";
    /// Expired.
    pub const EXPIRED: &str = "EXPIRED";
}

/// An invite as the domain sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// Lower-cased email.
    pub email: String,
    /// Organization role ids.
    pub roles: Vec<String>,
    /// Project roles, by project.
    pub project_roles: Vec<ProjectRoles>,
    /// Effective state: PENDING past its expire time reads as EXPIRED.
    pub state: &'static str,
    /// Who invited (audit id).
    pub inviter: String,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Token expiry.
    pub expire_time: DateTime<Utc>,
    /// Accepting account.
    pub accepted_by: Option<Uuid>,
    /// Version.
    pub version: i64,
}

impl Invite {
    /// `organizations/{org}/invites/{id}`.
    pub fn name(&self) -> String {
        invite_name(self.organization, self.id)
    }
}

loopback_runtime::resource_name! {
    /// `organizations/{org}/invites/{id}`, parsed.
    pub struct InviteName = "invites", id: Uuid;
}

/// CreateInvite, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateInvite {
    /// The organization.
    pub organization: Uuid,
    /// Lower-cased email.
    pub email: String,
    /// Organization role ids, sorted (empty for a project-only invite).
    pub roles: Vec<String>,
    /// Project roles, in request order (see `UpdateMember`).
    pub project_roles: Vec<ProjectRoles>,
    /// Validity, when not the deployment default.
    pub ttl: Option<Duration>,
    /// Check only.
    pub validate_only: bool,
}

/// ListInvites, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListInvites {
    /// The organization.
    pub organization: Uuid,
    /// Only invites in this effective state.
    pub state: Option<&'static str>,
    /// Size and position.
    pub page: PageRequest,
}

/// RevokeInvite, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevokeInvite {
    /// The invite.
    pub name: InviteName,
    /// Check only.
    pub validate_only: bool,
}

/// ResendInvite, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResendInvite {
    /// The invite.
    pub name: InviteName,
    /// Validity, when not the deployment default.
    pub ttl: Option<Duration>,
}

/// AcceptInvite, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptInvite {
    /// The token from the invitation.
    pub token: String,
}

/// An invite with its token (empty for a validate-only create).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedInvite {
    /// The invite.
    pub invite: Invite,
    /// The token, shown only now.
    pub token: String,
}

fn invite_name(org: Uuid, id: Uuid) -> String {
    format!("organizations/{org}/invites/{id}")
}

/// A fresh random token and its hash.
fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("lbinv_{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_token(&token);
    (token, hash)
}

/// The stored form of a token.
fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Pending, unexpired invites of `org`, optionally excluding one.
pub async fn count_pending(conn: &impl Conn, org: Uuid, except: Option<Uuid>) -> Result<i64> {
    store::count_pending(conn, org, except).await
}

/// Deletes every invite of `org`, in any state (the organization is being
/// purged: call it inside the purge's write transaction). Returns how many
/// went.
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<u64> {
    store::purge_organization(conn, org).await
}

/// Takes `project` out of every invite of `org` (the project is being
/// purged: call it inside the purge's write transaction): a pending invite
/// no longer offers roles on it, and an invite that granted nothing else
/// goes. Returns how many invites changed or went.
pub async fn remove_project(conn: &impl Conn, org: Uuid, project: Uuid) -> Result<u64> {
    store::remove_project(conn, org, project).await
}

/// Refuses with LIMIT_REACHED unless one more member fits, counting
/// members and pending invites (except `except`).
async fn check_member_limit(
    conn: &impl Conn,
    access: &OrgAccess,
    except: Option<Uuid>,
) -> Result<()> {
    let org = access.organization.id;
    let usage =
        memberships::count(conn, org).await? + store::count_pending(conn, org, except).await?;
    let limit = access.organization.capabilities.limit(LIMIT);
    if usage >= limit {
        return Err(Refusal::LimitReached {
            organization: access.organization.name(),
            limit: LIMIT.into(),
            limit_value: limit,
            usage,
        }
        .into());
    }
    Ok(())
}

/// Why an invite in `invite.state` cannot be used or changed.
fn not_pending(invite: &Invite) -> Error {
    match invite.state {
        state::ACCEPTED => Error::precondition(
            "INVITE_ALREADY_USED",
            format!("{} was already accepted", invite.name()),
        ),
        state::REVOKED => Error::precondition(
            "INVITE_REVOKED",
            format!("{} was revoked: ask for a new invite", invite.name()),
        ),
        _ => Error::precondition(
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
    /// One invite, NOT_FOUND when missing.
    async fn invite_in(&self, conn: &impl Conn, name: InviteName) -> Result<Invite> {
        store::find(conn, name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }

    /// Invites `email` with `roles`. Returns the invite and its token (empty
    /// with `validate_only`).
    pub async fn create_invite(
        &self,
        principal: &Principal,
        input: CreateInvite,
    ) -> Result<IssuedInvite> {
        let rpc = &rpcs::CREATE_INVITE;
        let org = input.organization;
        let caller = self.caller(principal).await?;
        let options = WriteOptions::validate_only(input.validate_only);
        let mut tx = self.begin_write(org, rpc, &caller, options).await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, org, Deleted::Hide)
            .await?;
        self.check_grantable(tx.conn(), &access, &input.roles, "invite.roles")
            .await?;
        self.check_project_roles(
            tx.conn(),
            &access,
            &input.project_roles,
            "invite.project_roles",
        )
        .await?;
        let email = input.email;
        if let Some(member) = memberships::find_by_email(tx.conn(), org, &email).await? {
            return Err(Error::already_exists(format!(
                "{email} is already a member ({})",
                member.name()
            )));
        }
        if let Some(pending) = store::find_pending_for_email(tx.conn(), org, &email).await? {
            return Err(Error::already_exists(format!(
                "{email} already has a pending invite ({}): resend or revoke it",
                pending.name()
            )));
        }
        check_member_limit(tx.conn(), &access, None).await?;
        let now = Utc::now();
        let (token, hash) = new_token();
        let invite = Invite {
            id: Uuid::now_v7(),
            organization: org,
            email,
            roles: input.roles,
            project_roles: ProjectRoles::normalized(&input.project_roles),
            state: state::PENDING,
            inviter: caller.audit_id(),
            create_time: now,
            update_time: now,
            expire_time: now + input.ttl.unwrap_or(self.settings().invite_ttl),
            accepted_by: None,
            version: 1,
        };
        store::insert(tx.conn(), &invite, &hash).await?;
        tx.audit(
            invite.name(),
            json!({
                "email": invite.email,
                "roles": invite.roles,
                "project_roles": memberships::audit_bindings(org, &invite.project_roles),
            }),
        );
        let name = InviteName {
            organization: org,
            id: invite.id,
        };
        let created = self.invite_in(tx.conn(), name).await?;
        let validate_only = tx.validate_only();
        tx.commit().await?;
        Ok(IssuedInvite {
            invite: created,
            token: if validate_only { String::new() } else { token },
        })
    }

    /// Lists invites, optionally in one effective state.
    pub async fn list_invites(
        &self,
        principal: &Principal,
        input: ListInvites,
    ) -> Result<Page<Invite>> {
        let caller = self.caller(principal).await?;
        let org = input.organization;
        self.authorize(self.db(), &caller, &rpcs::LIST_INVITES, org, Deleted::Hide)
            .await?;
        let rows = store::list(self.db(), org, input.state, &input.page).await?;
        Ok(input.page.page(rows, |i| i.id.to_string()))
    }

    /// One invite.
    pub async fn get_invite(&self, principal: &Principal, name: InviteName) -> Result<Invite> {
        let caller = self.caller(principal).await?;
        let org = name.organization;
        self.authorize(self.db(), &caller, &rpcs::GET_INVITE, org, Deleted::Hide)
            .await?;
        self.invite_in(self.db(), name).await
    }

    /// Revokes a pending invite.
    pub async fn revoke_invite(
        &self,
        principal: &Principal,
        input: RevokeInvite,
    ) -> Result<Invite> {
        let rpc = &rpcs::REVOKE_INVITE;
        let name = input.name;
        let caller = self.caller(principal).await?;
        let options = WriteOptions::validate_only(input.validate_only);
        let mut tx = self
            .begin_write(name.organization, rpc, &caller, options)
            .await?;
        self.authorize(tx.conn(), &caller, rpc, name.organization, Deleted::Hide)
            .await?;
        let invite = self.invite_in(tx.conn(), name).await?;
        if invite.state != state::PENDING && invite.state != state::EXPIRED {
            return Err(not_pending(&invite));
        }
        if !store::transition(tx.conn(), &invite, state::REVOKED, None, None, None).await? {
            return Err(Error::etag_mismatch(invite.name()));
        }
        tx.audit(invite.name(), json!({ "email": invite.email }));
        let revoked = self.invite_in(tx.conn(), name).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// Rotates a pending (or expired) invite's token and restarts its expiry.
    pub async fn resend_invite(
        &self,
        principal: &Principal,
        input: ResendInvite,
    ) -> Result<IssuedInvite> {
        let rpc = &rpcs::RESEND_INVITE;
        let name = input.name;
        let caller = self.caller(principal).await?;
        let mut tx = self
            .begin_write(name.organization, rpc, &caller, WriteOptions::plain())
            .await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, name.organization, Deleted::Hide)
            .await?;
        let invite = self.invite_in(tx.conn(), name).await?;
        match invite.state {
            state::PENDING => {}
            // An expired invite stopped counting against max_members.
            state::EXPIRED => check_member_limit(tx.conn(), &access, Some(invite.id)).await?,
            _ => return Err(not_pending(&invite)),
        }
        let (token, hash) = new_token();
        let expire = Utc::now() + input.ttl.unwrap_or(self.settings().invite_ttl);
        let moved = store::transition(
            tx.conn(),
            &invite,
            state::PENDING,
            Some(&hash),
            Some(expire),
            None,
        )
        .await?;
        if !moved {
            return Err(Error::etag_mismatch(invite.name()));
        }
        tx.audit(invite.name(), json!({ "email": invite.email }));
        let resent = self.invite_in(tx.conn(), name).await?;
        tx.commit().await?;
        Ok(IssuedInvite {
            invite: resent,
            token,
        })
    }

    /// Accepts an invite by its token, making the caller a member.
    pub async fn accept_invite(
        &self,
        principal: &Principal,
        input: AcceptInvite,
    ) -> Result<Member> {
        let rpc = &rpcs::ACCEPT_INVITE;
        let caller = self.caller_of(principal, rpc).await?;
        let Caller::Account(account) = &caller else {
            return Err(Error::principal_kind("account"));
        };
        let not_found = || Error::not_found("invite");
        let hash = hash_token(&input.token);
        let found = store::find_by_token_hash(self.db(), &hash)
            .await?
            .ok_or_else(not_found)?;
        let org = found.organization;
        let mut tx = self
            .begin_write(org, rpc, &caller, WriteOptions::plain())
            .await?;
        // Re-read under the lock: a concurrent accept, revoke or resend wins.
        let invite = store::find_by_token_hash(tx.conn(), &hash)
            .await?
            .ok_or_else(not_found)?;
        // The caller is not a member yet: the organization is read as it is.
        let organization = self
            .load_organization(tx.conn(), org)
            .await?
            .filter(|o| o.state != LifecycleState::Deleted)
            .ok_or_else(not_found)?;
        if invite.state != state::PENDING {
            return Err(not_pending(&invite));
        }
        if !invite.email.eq_ignore_ascii_case(&account.email) {
            return Err(Refusal::PermissionDeniedBecause {
                permission: String::new(),
                reason: "INVITE_EMAIL_MISMATCH",
                message: "this invite was sent to another email address: sign in with the invited address".into(),
            }
            .into());
        }
        check_status(&organization, rpc.class, rpc.method)?;
        if memberships::find(tx.conn(), org, account.id)
            .await?
            .is_some()
        {
            return Err(Error::already_exists(format!(
                "you are already a member of {}",
                organization.name()
            )));
        }
        let access = OrgAccess {
            organization,
            permissions: Permissions::Set(Default::default()),
            projects: Default::default(),
        };
        check_member_limit(tx.conn(), &access, Some(invite.id)).await?;
        // Projects purged since the invite was sent are skipped; an invite
        // left granting nothing cannot make a member.
        let mut bindings = Vec::new();
        for binding in &invite.project_roles {
            if crate::projects::find(tx.conn(), org, binding.project)
                .await?
                .is_some()
            {
                bindings.push(binding.clone());
            }
        }
        if invite.roles.is_empty() && bindings.is_empty() {
            return Err(Error::precondition(
                "INVITE_PROJECTS_GONE",
                format!(
                    "{} granted roles only on projects that no longer exist: ask for a new invite",
                    invite.name()
                ),
            ));
        }
        let roles: Vec<&str> = invite.roles.iter().map(String::as_str).collect();
        memberships::add(tx.conn(), org, account.id, &roles).await?;
        memberships::add_project_roles(tx.conn(), org, account.id, &bindings).await?;
        let accepted = store::transition(
            tx.conn(),
            &invite,
            state::ACCEPTED,
            None,
            None,
            Some(account.id),
        )
        .await?;
        if !accepted {
            return Err(Error::etag_mismatch(invite.name()));
        }
        changes::append(tx.conn(), org, kind::MEMBERSHIP).await?;
        tx.audit(
            invite.name(),
            json!({
                "email": invite.email,
                "roles": invite.roles,
                "project_roles": memberships::audit_bindings(org, &bindings),
            }),
        );
        let member = memberships::find(tx.conn(), org, account.id)
            .await?
            .ok_or_else(|| Error::Corrupt("membership vanished inside its transaction".into()))?;
        tx.commit().await?;
        Ok(member)
    }
}
