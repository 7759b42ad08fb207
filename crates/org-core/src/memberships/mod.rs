//! Memberships: which accounts belong to which organization, with which
//! roles: organization roles (everywhere in it) and project roles (in one
//! project; only their project-scoped permissions apply there). Every member
//! keeps at least one of either. The last owner can neither leave, be
//! removed nor be demoted; `owner` is never a project role.

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
use crate::model::{Caller, project_name};
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
    /// Organization role ids, sorted.
    pub roles: Vec<String>,
    /// Project roles, by project.
    pub project_roles: Vec<ProjectRoles>,
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

/// Roles held on one project of the member's organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRoles {
    /// The project's id.
    pub project: Uuid,
    /// Role ids (never `owner`): sorted when read back, in request order
    /// when asked for (so errors name the request's indexes).
    pub roles: Vec<String>,
}

impl ProjectRoles {
    /// The list sorted by project, each role list sorted: the stored order.
    pub fn normalized(list: &[ProjectRoles]) -> Vec<ProjectRoles> {
        let mut out: Vec<ProjectRoles> = list
            .iter()
            .map(|b| {
                let mut roles = b.roles.clone();
                roles.sort();
                ProjectRoles {
                    project: b.project,
                    roles,
                }
            })
            .collect();
        out.sort_by_key(|b| b.project);
        out
    }
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
    /// The new organization role ids, sorted, without repeats (when the
    /// mask names `roles`; possibly empty).
    pub roles: Option<Vec<String>>,
    /// The new project roles, in request order, projects of the member's
    /// organization without repeats, roles well-formed and not `owner`
    /// (when the mask names `project_roles`).
    pub project_roles: Option<Vec<ProjectRoles>>,
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

/// Adds project role bindings to `account`'s membership of `org`.
pub async fn add_project_roles(
    conn: &impl Conn,
    org: Uuid,
    account: Uuid,
    bindings: &[ProjectRoles],
) -> Result<()> {
    store::add_project_roles(conn, org, account, &ProjectRoles::normalized(bindings)).await
}

/// The roles `account` holds on single projects of `org` (none when not a
/// member), by project.
pub async fn project_roles(
    conn: &impl Conn,
    org: Uuid,
    account: Uuid,
) -> Result<Vec<ProjectRoles>> {
    store::project_roles(conn, org, account).await
}

/// Removes every project role binding on `project` of `org` (the project
/// is being purged; call it inside the purge's write transaction). A member
/// who held nothing but roles on that project stops being a member, so
/// every member keeps a role. Appends a `membership` change when anything
/// was removed. Returns how many bindings were removed.
pub async fn remove_project_bindings(conn: &impl Conn, org: Uuid, project: Uuid) -> Result<u64> {
    let removed = store::remove_project_bindings(conn, org, project).await?;
    if removed > 0 {
        changes::append(conn, org, kind::MEMBERSHIP).await?;
    }
    Ok(removed)
}

/// Removes every membership of `org` with its organization and project
/// roles (the organization is being purged; call it inside the purge's
/// write transaction). The members' accounts stay: an account is a
/// person's login, not the organization's data. Returns how many
/// memberships went.
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<u64> {
    store::purge_organization(conn, org).await
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
    /// Refuses unless `access` holds every permission of `member`'s roles,
    /// and in each project every permission `member`'s roles there grant:
    /// nobody may change or remove someone more powerful than themselves.
    async fn require_outranks(
        &self,
        conn: &impl Conn,
        access: &OrgAccess,
        member: &Member,
    ) -> Result<()> {
        let mut checked = self
            .check_grantable(conn, access, &member.roles, "member.roles")
            .await;
        if checked.is_ok() {
            checked = self
                .check_project_roles(conn, access, &member.project_roles, "member.project_roles")
                .await;
        }
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
        let new_roles = input.roles.as_ref().unwrap_or(&member.roles);
        let new_bindings = match &input.project_roles {
            Some(bindings) => ProjectRoles::normalized(bindings),
            None => member.project_roles.clone(),
        };
        if new_roles.is_empty() && new_bindings.is_empty() {
            return Err(Error::invalid(
                "member.roles",
                "a member keeps at least one organization role or one project role: to take everything away, remove the member",
            ));
        }
        if let Some(roles) = &input.roles {
            self.check_grantable(tx.conn(), &access, roles, "member.roles")
                .await?;
        }
        if let Some(bindings) = &input.project_roles {
            self.check_project_roles(tx.conn(), &access, bindings, "member.project_roles")
                .await?;
        }
        self.require_outranks(tx.conn(), &access, &member).await?;
        let was_owner = member.roles.iter().any(|r| r == roles::OWNER);
        let stays_owner = new_roles.iter().any(|r| r == roles::OWNER);
        if was_owner && !stays_owner && store::owner_count(tx.conn(), org).await? <= 1 {
            return Err(last_owner(&member, "removing the owner role"));
        }
        let account = member.account;
        let saved = store::set_roles(
            tx.conn(),
            org,
            account,
            input.roles.as_deref(),
            input
                .project_roles
                .as_ref()
                .map(|_| new_bindings.as_slice()),
            member.version,
        )
        .await?;
        if !saved {
            return Err(Error::etag_mismatch(member.name()));
        }
        changes::append(tx.conn(), org, kind::MEMBERSHIP).await?;
        tx.audit(
            member.name(),
            json!({
                "from": { "roles": member.roles, "project_roles": audit_bindings(org, &member.project_roles) },
                "to": { "roles": new_roles, "project_roles": audit_bindings(org, &new_bindings) },
            }),
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
            json!({
                "email": member.email,
                "roles": member.roles,
                "project_roles": audit_bindings(org, &member.project_roles),
            }),
        );
        tx.commit().await?;
        Ok(member)
    }
}

/// Project roles as the audit log records them: `{project name: roles}`.
pub fn audit_bindings(org: Uuid, bindings: &[ProjectRoles]) -> serde_json::Value {
    bindings
        .iter()
        .map(|b| (project_name(org, b.project), json!(b.roles)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}
