//! Memberships: which accounts belong to which organization, with which
//! roles. The last owner can neither leave, be removed nor be demoted.

pub mod grpc;
pub mod store;

use chrono::{DateTime, Utc};
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::Refusal;
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::tx::{WriteOptions, WriteTx};
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, OrgAccess};
use crate::catalog::roles;
use crate::changes::{self, kind};
use crate::error::{Error, Result};
use crate::model::Caller;
use crate::organizations::check_etag;
use crate::rpcs;
use crate::service::OrgCore;

/// A member as the domain sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Organization.
    pub organization: Uuid,
    /// Account id.
    pub account: Uuid,
    /// Account email.
    pub email: String,
    /// Account display name.
    pub display_name: String,
    /// Role ids, sorted.
    pub roles: Vec<String>,
    /// Join time.
    pub join_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Version (etag).
    pub version: i64,
}

impl Member {
    /// `organizations/{org}/members/{account}`.
    pub fn name(&self) -> String {
        member_name(self.organization, self.account)
    }
}

loopback_runtime::resource_name! {
    /// `organizations/{org}/members/{account}`, parsed.
    pub struct MemberName = "members", account: Uuid;
}

/// ListMembers, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListMembers {
    /// The organization.
    pub organization: Uuid,
    /// Size and position.
    pub page: PageRequest,
}

/// UpdateMember, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateMember {
    /// The member.
    pub name: MemberName,
    /// The new role ids, sorted, without repeats.
    pub roles: Vec<String>,
    /// The etag the caller read, if any.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// RemoveMember, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveMember {
    /// The member.
    pub name: MemberName,
    /// The etag the caller read, if any.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// LeaveOrganization, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaveOrganization {
    /// The organization the caller leaves.
    pub organization: Uuid,
    /// Check only.
    pub validate_only: bool,
}

fn member_name(org: Uuid, account: Uuid) -> String {
    format!("organizations/{org}/members/{account}")
}

fn last_owner(member: &Member, what: &str) -> Error {
    Error::precondition(
        "LAST_OWNER",
        format!(
            "{} is the last owner of organizations/{}: {what} would leave it without one; make someone else an owner first",
            member.email, member.organization
        ),
    )
}

/// Adds `account` to `org` with `roles`.
pub async fn add(conn: &impl Conn, org: Uuid, account: Uuid, roles: &[&str]) -> Result<()> {
    store::add(conn, org, account, roles).await
}

/// One member, if `account` belongs to `org`.
pub async fn find(conn: &impl Conn, org: Uuid, account: Uuid) -> Result<Option<Member>> {
    store::find(conn, org, account).await
}

/// The member of `org` whose account has `email`, if any.
pub async fn find_by_email(conn: &impl Conn, org: Uuid, email: &str) -> Result<Option<Member>> {
    store::find_by_email(conn, org, email).await
}

/// The role ids `account` holds in `org` (none when not a member).
pub async fn role_ids(conn: &impl Conn, org: Uuid, account: Uuid) -> Result<Vec<String>> {
    store::role_ids(conn, org, account).await
}

/// Number of members of `org`.
pub async fn count(conn: &impl Conn, org: Uuid) -> Result<i64> {
    store::count(conn, org).await
}

impl OrgCore {
    /// Refuses unless `access` holds every permission of `member`'s roles:
    /// nobody may change or remove someone more powerful than themselves.
    async fn require_outranks(
        &self,
        conn: &impl Conn,
        access: &OrgAccess,
        member: &Member,
    ) -> Result<()> {
        let checked = self
            .check_grantable(conn, access, &member.roles, "member.roles")
            .await;
        match checked {
            Err(Error::Refused(Refusal::PermissionDeniedBecause { permission, .. })) => {
                Err(Refusal::PermissionDeniedBecause {
                    message: format!(
                        "{} holds {permission}, which you do not: you cannot change their membership",
                        member.email
                    ),
                    permission,
                    reason: "PERMISSION_ESCALATION",
                }
                .into())
            }
            other => other,
        }
    }

    /// A member of `name.organization`, checked against the caller's etag.
    async fn member_for_change(
        &self,
        conn: &impl Conn,
        name: MemberName,
        etag: Option<i64>,
    ) -> Result<Member> {
        let member = store::find(conn, name.organization, name.account)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))?;
        check_etag(&member.name(), etag, member.version)?;
        Ok(member)
    }

    /// Lists members.
    pub async fn list_members(
        &self,
        principal: &Principal,
        input: ListMembers,
    ) -> Result<Page<Member>> {
        let caller = self.caller(principal).await?;
        let org = input.organization;
        self.authorize(self.db(), &caller, &rpcs::LIST_MEMBERS, org, Deleted::Hide)
            .await?;
        let rows = store::list(self.db(), org, &input.page).await?;
        Ok(input.page.page(rows, |m| m.account.to_string()))
    }

    /// One member.
    pub async fn get_member(&self, principal: &Principal, name: MemberName) -> Result<Member> {
        let caller = self.caller(principal).await?;
        let org = name.organization;
        self.authorize(self.db(), &caller, &rpcs::GET_MEMBER, org, Deleted::Hide)
            .await?;
        store::find(self.db(), org, name.account)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }

    /// Replaces a member's roles.
    pub async fn update_member(
        &self,
        principal: &Principal,
        input: UpdateMember,
    ) -> Result<Member> {
        let rpc = &rpcs::UPDATE_MEMBER;
        let org = input.name.organization;
        let caller = self.caller(principal).await?;
        let options = WriteOptions::validate_only(input.validate_only);
        let mut tx = self.begin_write(org, rpc, &caller, options).await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, org, Deleted::Hide)
            .await?;
        let member = self
            .member_for_change(tx.conn(), input.name, input.etag)
            .await?;
        self.check_grantable(tx.conn(), &access, &input.roles, "member.roles")
            .await?;
        self.require_outranks(tx.conn(), &access, &member).await?;
        let was_owner = member.roles.iter().any(|r| r == roles::OWNER);
        let stays_owner = input.roles.iter().any(|r| r == roles::OWNER);
        if was_owner && !stays_owner && store::owner_count(tx.conn(), org).await? <= 1 {
            return Err(last_owner(&member, "removing the owner role"));
        }
        let account = member.account;
        if !store::set_roles(tx.conn(), org, account, &input.roles, member.version).await? {
            return Err(Error::etag_mismatch(member.name()));
        }
        changes::append(tx.conn(), org, kind::MEMBERSHIP).await?;
        tx.audit(
            member.name(),
            json!({ "from": member.roles, "to": input.roles }),
        );
        let updated = store::find(tx.conn(), org, account)
            .await?
            .ok_or_else(|| Error::not_found(member.name()))?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Removes a member.
    pub async fn remove_member(
        &self,
        principal: &Principal,
        input: RemoveMember,
    ) -> Result<Member> {
        let rpc = &rpcs::REMOVE_MEMBER;
        let org = input.name.organization;
        let caller = self.caller(principal).await?;
        let options = WriteOptions::validate_only(input.validate_only);
        let tx = self.begin_write(org, rpc, &caller, options).await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, org, Deleted::Hide)
            .await?;
        let member = self
            .member_for_change(tx.conn(), input.name, input.etag)
            .await?;
        self.require_outranks(tx.conn(), &access, &member).await?;
        self.end_membership(tx, member, "removing them").await
    }

    /// The calling account leaves an organization.
    pub async fn leave_organization(
        &self,
        principal: &Principal,
        input: LeaveOrganization,
    ) -> Result<Member> {
        let rpc = &rpcs::LEAVE_ORGANIZATION;
        let org = input.organization;
        let caller = self.caller_of(principal, rpc).await?;
        let Caller::Account(account) = &caller else {
            return Err(Error::principal_kind("account"));
        };
        let options = WriteOptions::validate_only(input.validate_only);
        let tx = self.begin_write(org, rpc, &caller, options).await?;
        // Membership is all it takes to leave; no permission is needed.
        self.authorize(tx.conn(), &caller, rpc, org, Deleted::Hide)
            .await?;
        let member = store::find(tx.conn(), org, account.id)
            .await?
            .ok_or_else(|| Error::not_found(crate::model::organization_name(org)))?;
        self.end_membership(tx, member, "leaving").await
    }

    /// Ends `member`'s membership inside `tx` (never the last owner's).
    async fn end_membership(&self, mut tx: WriteTx, member: Member, what: &str) -> Result<Member> {
        let org = member.organization;
        if member.roles.iter().any(|r| r == roles::OWNER)
            && store::owner_count(tx.conn(), org).await? <= 1
        {
            return Err(last_owner(&member, what));
        }
        if !store::remove(tx.conn(), org, member.account, member.version).await? {
            return Err(Error::etag_mismatch(member.name()));
        }
        changes::append(tx.conn(), org, kind::MEMBERSHIP).await?;
        tx.audit(
            member.name(),
            json!({ "email": member.email, "roles": member.roles }),
        );
        tx.commit().await?;
        Ok(member)
    }
}
