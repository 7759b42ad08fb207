//! Memberships: which accounts belong to which organization, with which
//! roles. The last owner can neither leave, be removed nor be demoted.

pub mod grpc;
pub mod store;

use loopback_runtime::pagination::PageRequest;
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, OrgAccess};
use crate::audit::{self, AuditRecord};
use crate::catalog::{self, roles};
use crate::changes::{self, kind};
use crate::error::{Error, Result};
use crate::model::Caller;
use crate::organizations::check_etag;
use crate::policy::ActionClass;
use crate::service::OrgCore;
use store::Member;

fn member_name(org: Uuid, account: Uuid) -> String {
    format!("organizations/{org}/members/{account}")
}

fn last_owner(member: &Member, what: &str) -> Error {
    Error::FailedPrecondition {
        reason: "LAST_OWNER",
        message: format!(
            "{} is the last owner of organizations/{}: {what} would leave it without one; make someone else an owner first",
            member.email, member.organization
        ),
    }
}

impl OrgCore {
    /// Refuses unless `access` holds every permission of `member`'s roles:
    /// nobody may change or remove someone more powerful than themselves.
    async fn require_outranks(
        &self,
        conn: &impl sea_orm::ConnectionTrait,
        access: &OrgAccess,
        member: &Member,
    ) -> Result<()> {
        self.check_grantable(conn, access, &member.roles, "member.roles").await.map_err(|e| match e {
            Error::PermissionDeniedBecause { permission, .. } => Error::PermissionDeniedBecause {
                message: format!("{} holds {permission}, which you do not: you cannot change their membership", member.email),
                permission,
                reason: "PERMISSION_ESCALATION",
            },
            other => other,
        })
    }

    /// Lists members.
    pub async fn list_members(
        &self,
        caller: &Caller,
        org: Uuid,
        page: PageRequest,
    ) -> Result<(Vec<Member>, String)> {
        let access = self
            .org_access(self.db(), caller, org, Deleted::Hide)
            .await?;
        access.require(catalog::MEMBERS_LIST, ActionClass::Read, "ListMembers")?;
        let rows = store::list(self.db(), org, &page).await?;
        Ok(page.finish(rows, |m| m.account.to_string()))
    }

    /// One member.
    pub async fn get_member(&self, caller: &Caller, org: Uuid, account: Uuid) -> Result<Member> {
        let access = self
            .org_access(self.db(), caller, org, Deleted::Hide)
            .await?;
        access.require(catalog::MEMBERS_GET, ActionClass::Read, "GetMember")?;
        store::find(self.db(), org, account)
            .await?
            .ok_or_else(|| Error::NotFound(member_name(org, account)))
    }

    /// Replaces a member's roles.
    pub async fn update_member(
        &self,
        caller: &Caller,
        org: Uuid,
        account: Uuid,
        new_roles: Vec<String>,
        etag: Option<i64>,
        validate_only: bool,
    ) -> Result<Member> {
        let txn = self.begin_locked(org).await?;
        let access = self.org_access(&txn, caller, org, Deleted::Hide).await?;
        access.require(catalog::MEMBERS_UPDATE, ActionClass::Setup, "UpdateMember")?;
        let member = store::find(&txn, org, account)
            .await?
            .ok_or_else(|| Error::NotFound(member_name(org, account)))?;
        check_etag(&member.name(), etag, member.version)?;
        self.check_grantable(&txn, &access, &new_roles, "member.roles")
            .await?;
        self.require_outranks(&txn, &access, &member).await?;
        let was_owner = member.roles.iter().any(|r| r == roles::OWNER);
        let stays_owner = new_roles.iter().any(|r| r == roles::OWNER);
        if was_owner && !stays_owner && store::owner_count(&txn, org).await? <= 1 {
            return Err(last_owner(&member, "removing the owner role"));
        }
        if !store::set_roles(&txn, org, account, &new_roles, member.version).await? {
            return Err(Error::EtagMismatch(member.name()));
        }
        changes::append(&txn, org, kind::MEMBERSHIP).await?;
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "UpdateMember",
                resource: member.name(),
                organization: Some(org),
                reason: "",
                details: json!({ "from": member.roles, "to": new_roles }),
            },
        )
        .await?;
        let updated = store::find(&txn, org, account)
            .await?
            .ok_or_else(|| Error::NotFound(member.name()))?;
        self.finish(txn, validate_only).await?;
        Ok(updated)
    }

    /// Removes a member.
    pub async fn remove_member(
        &self,
        caller: &Caller,
        org: Uuid,
        account: Uuid,
        etag: Option<i64>,
        validate_only: bool,
    ) -> Result<Member> {
        let txn = self.begin_locked(org).await?;
        let access = self.org_access(&txn, caller, org, Deleted::Hide).await?;
        access.require(catalog::MEMBERS_REMOVE, ActionClass::Setup, "RemoveMember")?;
        let member = store::find(&txn, org, account)
            .await?
            .ok_or_else(|| Error::NotFound(member_name(org, account)))?;
        check_etag(&member.name(), etag, member.version)?;
        self.require_outranks(&txn, &access, &member).await?;
        self.end_membership(
            txn,
            caller,
            member,
            "RemoveMember",
            "removing them",
            validate_only,
        )
        .await
    }

    /// The calling account leaves an organization.
    pub async fn leave_organization(
        &self,
        caller: &Caller,
        org: Uuid,
        validate_only: bool,
    ) -> Result<Member> {
        let Caller::Account(account) = caller else {
            return Err(Error::PrincipalKind("account"));
        };
        let txn = self.begin_locked(org).await?;
        // Membership is all it takes to leave; no permission is needed.
        self.org_access(&txn, caller, org, Deleted::Hide).await?;
        let member = store::find(&txn, org, account.id)
            .await?
            .ok_or_else(|| Error::NotFound(crate::model::organization_name(org)))?;
        self.end_membership(
            txn,
            caller,
            member,
            "LeaveOrganization",
            "leaving",
            validate_only,
        )
        .await
    }

    async fn end_membership(
        &self,
        txn: sea_orm::DatabaseTransaction,
        caller: &Caller,
        member: Member,
        method: &str,
        what: &str,
        validate_only: bool,
    ) -> Result<Member> {
        let org = member.organization;
        if member.roles.iter().any(|r| r == roles::OWNER)
            && store::owner_count(&txn, org).await? <= 1
        {
            return Err(last_owner(&member, what));
        }
        if !store::remove(&txn, org, member.account, member.version).await? {
            return Err(Error::EtagMismatch(member.name()));
        }
        changes::append(&txn, org, kind::MEMBERSHIP).await?;
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method,
                resource: member.name(),
                organization: Some(org),
                reason: "",
                details: json!({ "email": member.email, "roles": member.roles }),
            },
        )
        .await?;
        self.finish(txn, validate_only).await?;
        Ok(member)
    }
}
