//! Roles: the built-in roles and custom, organization-defined permission
//! bundles, plus the published permission catalog.

pub mod grpc;
pub mod store;

use std::collections::BTreeSet;

use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, OrgAccess};
use crate::audit::{self, AuditRecord};
use crate::catalog::{self, Permission};
use crate::changes::{self, kind};
use crate::entity::custom_role;
use crate::error::{Error, Result};
use crate::model::Caller;
use crate::organizations::check_etag;
use crate::policy::ActionClass;
use crate::service::OrgCore;
use store::CustomRole;

/// The limit custom roles count against.
pub const LIMIT: &str = "max_custom_roles";
/// The flag that allows custom roles.
pub const FLAG: &str = "custom_roles_allowed";

/// A role as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleView {
    /// The organization.
    pub organization: Uuid,
    /// Role id.
    pub role_id: String,
    /// True for built-in roles.
    pub built_in: bool,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Permissions.
    pub permissions: BTreeSet<Permission>,
    /// Custom roles: creation time, update time and version.
    pub custom: Option<(chrono::DateTime<Utc>, chrono::DateTime<Utc>, i64)>,
}

impl RoleView {
    fn builtin(org: Uuid, id: &str) -> Option<Self> {
        let (display_name, description) = catalog::builtin_role_info(id)?;
        Some(Self {
            organization: org,
            role_id: id.to_string(),
            built_in: true,
            display_name: display_name.into(),
            description: description.into(),
            permissions: catalog::builtin_role(id)?.clone(),
            custom: None,
        })
    }

    fn custom(org: Uuid, r: CustomRole) -> Self {
        Self {
            organization: org,
            role_id: r.role_id,
            built_in: false,
            display_name: r.display_name,
            description: r.description,
            permissions: r.permissions,
            custom: Some((r.create_time, r.update_time, r.version)),
        }
    }
}

/// What a new or updated custom role is made of, already validated.
#[derive(Debug, Clone, Default)]
pub struct RoleInput {
    /// Display name.
    pub display_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Permissions.
    pub permissions: Option<BTreeSet<Permission>>,
}

/// Checks a custom role id.
pub fn validate_role_id(id: &str) -> std::result::Result<(), String> {
    let ok = (3..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        return Err("must be 3 to 63 characters of lowercase letters, digits and '-', starting with a letter".into());
    }
    if catalog::is_builtin_role(id) {
        return Err(format!("{id:?} is a built-in role"));
    }
    Ok(())
}

fn cannot_grant(permission: Permission) -> Error {
    Error::PermissionDeniedBecause {
        permission: permission.to_string(),
        reason: "PERMISSION_ESCALATION",
        message: format!("you cannot grant {permission}: you do not hold it yourself"),
    }
}

/// Refuses when the organization does not allow custom roles.
fn require_flag(access: &OrgAccess) -> Result<()> {
    if access
        .organization
        .capabilities
        .flags
        .get(FLAG)
        .copied()
        .unwrap_or(false)
    {
        Ok(())
    } else {
        Err(Error::CapabilityDisabled {
            flag: FLAG,
            message: format!(
                "custom roles are not enabled for {}: ask your operator to enable {FLAG}",
                access.organization.name()
            ),
        })
    }
}

impl OrgCore {
    /// Every permission of the catalog.
    pub fn list_permissions(&self) -> &'static [(Permission, &'static str)] {
        catalog::PERMISSIONS
    }

    /// Built-in roles, then custom roles by id.
    pub async fn list_roles(&self, caller: &Caller, org: Uuid) -> Result<Vec<RoleView>> {
        let access = self
            .org_access(self.db(), caller, org, Deleted::Hide)
            .await?;
        access.require(catalog::ROLES_LIST, ActionClass::Read, "ListRoles")?;
        let mut out: Vec<RoleView> = catalog::roles::ALL
            .iter()
            .filter_map(|id| RoleView::builtin(org, id))
            .collect();
        // Custom roles are bounded by max_custom_roles, so one query suffices.
        let custom = store::list(self.db(), org, None, 10_000).await?;
        out.extend(custom.into_iter().map(|r| RoleView::custom(org, r)));
        Ok(out)
    }

    /// One role.
    pub async fn get_role(&self, caller: &Caller, org: Uuid, role_id: &str) -> Result<RoleView> {
        let access = self
            .org_access(self.db(), caller, org, Deleted::Hide)
            .await?;
        access.require(catalog::ROLES_GET, ActionClass::Read, "GetRole")?;
        if let Some(role) = RoleView::builtin(org, role_id) {
            return Ok(role);
        }
        store::find(self.db(), org, role_id)
            .await?
            .map(|r| RoleView::custom(org, r))
            .ok_or_else(|| Error::NotFound(format!("organizations/{org}/roles/{role_id}")))
    }

    /// Creates a custom role.
    pub async fn create_role(
        &self,
        caller: &Caller,
        org: Uuid,
        role_id: String,
        input: RoleInput,
        validate_only: bool,
    ) -> Result<RoleView> {
        let txn = self.begin_locked(org).await?;
        let access = self.org_access(&txn, caller, org, Deleted::Hide).await?;
        access.require(catalog::ROLES_CREATE, ActionClass::Setup, "CreateRole")?;
        require_flag(&access)?;
        let permissions = input.permissions.unwrap_or_default();
        access
            .permissions
            .covers(&permissions)
            .map_err(cannot_grant)?;
        if store::find(&txn, org, &role_id).await?.is_some() {
            return Err(Error::AlreadyExists(format!(
                "organizations/{org}/roles/{role_id} already exists"
            )));
        }
        let limit = access.organization.capabilities.limit(LIMIT);
        let used = store::count(&txn, org).await?;
        if used >= limit {
            return Err(Error::LimitReached {
                organization: access.organization.name(),
                limit: LIMIT.into(),
                limit_value: limit,
                usage: used,
            });
        }
        let now = Utc::now();
        custom_role::Entity::insert(custom_role::ActiveModel {
            organization_id: Set(org.to_string()),
            role_id: Set(role_id.clone()),
            display_name: Set(input
                .display_name
                .clone()
                .unwrap_or_else(|| role_id.clone())),
            description: Set(input.description.clone().unwrap_or_default()),
            permissions: Set(store::permissions_json(&permissions)),
            create_time: Set(now),
            update_time: Set(now),
            version: Set(1),
        })
        .exec_without_returning(&txn)
        .await?;
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "CreateRole",
                resource: format!("organizations/{org}/roles/{role_id}"),
                organization: Some(org),
                reason: "",
                details: json!({ "permissions": permissions }),
            },
        )
        .await?;
        let role = store::find(&txn, org, &role_id)
            .await?
            .ok_or_else(|| Error::Corrupt("role vanished inside its transaction".into()))?;
        self.finish(txn, validate_only).await?;
        Ok(RoleView::custom(org, role))
    }

    /// Updates a custom role (built-in roles cannot change).
    pub async fn update_role(
        &self,
        caller: &Caller,
        org: Uuid,
        role_id: &str,
        input: RoleInput,
        etag: Option<i64>,
        validate_only: bool,
    ) -> Result<RoleView> {
        let txn = self.begin_locked(org).await?;
        let access = self.org_access(&txn, caller, org, Deleted::Hide).await?;
        access.require(catalog::ROLES_UPDATE, ActionClass::Setup, "UpdateRole")?;
        let name = format!("organizations/{org}/roles/{role_id}");
        if catalog::is_builtin_role(role_id) {
            return Err(Error::FailedPrecondition {
                reason: "BUILT_IN_ROLE",
                message: format!(
                    "{role_id} is a built-in role and cannot change: create a custom role instead"
                ),
            });
        }
        require_flag(&access)?;
        let role = store::find(&txn, org, role_id)
            .await?
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        check_etag(&name, etag, role.version)?;
        let mut changes = custom_role::ActiveModel::default();
        if let Some(v) = &input.display_name {
            changes.display_name = Set(v.clone());
        }
        if let Some(v) = &input.description {
            changes.description = Set(v.clone());
        }
        if let Some(p) = &input.permissions {
            access.permissions.covers(p).map_err(cannot_grant)?;
            changes.permissions = Set(store::permissions_json(p));
        }
        changes.version = Set(role.version + 1);
        changes.update_time = Set(Utc::now());
        let updated = custom_role::Entity::update_many()
            .set(changes)
            .filter(custom_role::Column::OrganizationId.eq(org.to_string()))
            .filter(custom_role::Column::RoleId.eq(role_id))
            .filter(custom_role::Column::Version.eq(role.version))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            return Err(Error::EtagMismatch(name));
        }
        // Members holding this role now have other permissions.
        changes::append(&txn, org, kind::MEMBERSHIP).await?;
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "UpdateRole",
                resource: name.clone(),
                organization: Some(org),
                reason: "",
                details: json!({ "permissions": input.permissions, "display_name": input.display_name }),
            },
        )
        .await?;
        let role = store::find(&txn, org, role_id)
            .await?
            .ok_or_else(|| Error::NotFound(name))?;
        self.finish(txn, validate_only).await?;
        Ok(RoleView::custom(org, role))
    }

    /// Deletes a custom role nobody holds.
    pub async fn delete_role(
        &self,
        caller: &Caller,
        org: Uuid,
        role_id: &str,
        etag: Option<i64>,
        validate_only: bool,
    ) -> Result<RoleView> {
        let txn = self.begin_locked(org).await?;
        let access = self.org_access(&txn, caller, org, Deleted::Hide).await?;
        access.require(catalog::ROLES_DELETE, ActionClass::Setup, "DeleteRole")?;
        let name = format!("organizations/{org}/roles/{role_id}");
        if catalog::is_builtin_role(role_id) {
            return Err(Error::FailedPrecondition {
                reason: "BUILT_IN_ROLE",
                message: format!("{role_id} is a built-in role and cannot be deleted"),
            });
        }
        let role = store::find(&txn, org, role_id)
            .await?
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        check_etag(&name, etag, role.version)?;
        let (members, invites) = store::usage(&txn, org, role_id).await?;
        if members + invites > 0 {
            return Err(Error::FailedPrecondition {
                reason: "ROLE_IN_USE",
                message: format!(
                    "{name} is held by {members} member(s) and granted by {invites} pending invite(s): take it away from them first"
                ),
            });
        }
        custom_role::Entity::delete_many()
            .filter(custom_role::Column::OrganizationId.eq(org.to_string()))
            .filter(custom_role::Column::RoleId.eq(role_id))
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            caller,
            AuditRecord {
                method: "DeleteRole",
                resource: name,
                organization: Some(org),
                reason: "",
                details: json!({}),
            },
        )
        .await?;
        self.finish(txn, validate_only).await?;
        Ok(RoleView::custom(org, role))
    }

    /// Checks that every role id exists in `org` and that `access` holds
    /// every permission they carry. `field` names the request field.
    pub async fn check_grantable(
        &self,
        conn: &impl sea_orm::ConnectionTrait,
        access: &OrgAccess,
        roles: &[String],
        field: &str,
    ) -> Result<()> {
        let org = access.organization.id;
        for (i, role) in roles.iter().enumerate() {
            if !store::exists(conn, org, role).await? {
                return Err(Error::invalid(
                    format!("{field}[{i}]"),
                    format!("unknown role {role:?}"),
                ));
            }
            let permissions = store::role_permissions(conn, org, role).await?;
            access
                .permissions
                .covers(&permissions)
                .map_err(cannot_grant)?;
        }
        Ok(())
    }
}
