//! Roles: the built-in roles and custom, organization-defined permission
//! bundles, plus the published permission catalog.

pub mod grpc;
pub mod store;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::{Refusal, quote};
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::tx::WriteOptions;
use serde_json::json;
use uuid::Uuid;

use crate::access::{Deleted, OrgAccess, Permissions};
use crate::catalog::{self, Permission};
use crate::changes::{self, kind};
use crate::error::{Error, Result};
use crate::memberships::ProjectRoles;
use crate::model::project_name;
use crate::organizations::check_etag;
use crate::projects;
use crate::rpcs;
use crate::service::OrgCore;

/// The limit custom roles count against.
pub const LIMIT: &str = "max_custom_roles";
/// The flag that allows custom roles.
pub const FLAG: &str = "custom_roles_allowed";

/// A custom role as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomRole {
    /// Role id.
    pub role_id: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Permissions (catalog entries only).
    pub permissions: BTreeSet<Permission>,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Version (etag).
    pub version: i64,
}

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
    pub custom: Option<(DateTime<Utc>, DateTime<Utc>, i64)>,
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

loopback_runtime::resource_name! {
    /// `organizations/{org}/roles/{role_id}`, parsed.
    pub struct RoleName = "roles", role_id: String;
}

/// What a new or updated custom role is made of, already validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleInput {
    /// Display name.
    pub display_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Permissions.
    pub permissions: Option<BTreeSet<Permission>>,
}

/// ListPermissions (it has no fields).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListPermissions;

/// ListRoles, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRoles {
    /// The organization.
    pub organization: Uuid,
    /// Size and position.
    pub page: PageRequest,
}

/// CreateRole, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRole {
    /// The new role.
    pub name: RoleName,
    /// What it is made of.
    pub role: RoleInput,
    /// Check only.
    pub validate_only: bool,
}

/// UpdateRole, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateRole {
    /// The role.
    pub name: RoleName,
    /// What changes.
    pub update: RoleInput,
    /// The etag the caller read, if any.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// DeleteRole, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRole {
    /// The role.
    pub name: RoleName,
    /// The etag the caller read, if any.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
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
        return Err(format!("{} is a built-in role", quote(id)));
    }
    Ok(())
}

fn cannot_grant(permission: Permission) -> Error {
    Refusal::PermissionDeniedBecause {
        permission: permission.to_string(),
        reason: "PERMISSION_ESCALATION",
        message: format!("you cannot grant {permission}: you do not hold it yourself"),
    }
    .into()
}

fn cannot_grant_in(permission: Permission, project: &str) -> Error {
    Refusal::PermissionDeniedBecause {
        permission: permission.to_string(),
        reason: "PERMISSION_ESCALATION",
        message: format!(
            "you cannot grant {permission} in {project}: you do not hold it there yourself"
        ),
    }
    .into()
}

/// Refuses when the organization does not allow custom roles.
fn require_flag(access: &OrgAccess) -> Result<()> {
    let allowed = access.organization.capabilities.flags.get(FLAG).copied();
    if allowed.unwrap_or(false) {
        return Ok(());
    }
    Err(Refusal::CapabilityDisabled {
        flag: FLAG.into(),
        message: format!(
            "custom roles are not enabled for {}: ask your operator to enable {FLAG}",
            access.organization.name()
        ),
    }
    .into())
}

fn built_in(name: &RoleName, what: &str) -> Error {
    Error::precondition(
        "BUILT_IN_ROLE",
        format!("{} is a built-in role and {what}", name.role_id),
    )
}

/// The permissions of any role id in `org` (empty for unknown roles).
pub async fn permissions_of(
    conn: &impl Conn,
    org: Uuid,
    role_id: &str,
) -> Result<BTreeSet<Permission>> {
    store::role_permissions(conn, org, role_id).await
}

/// Number of custom roles in `org`.
pub async fn count(conn: &impl Conn, org: Uuid) -> Result<i64> {
    store::count(conn, org).await
}

/// Deletes every custom role of `org` (the organization is being purged:
/// call it inside the purge's write transaction, after its memberships
/// went). Returns how many went.
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<u64> {
    store::purge_organization(conn, org).await
}

impl OrgCore {
    /// A custom role, NOT_FOUND when missing.
    async fn custom_role(&self, conn: &impl Conn, name: &RoleName) -> Result<CustomRole> {
        store::find(conn, name.organization, &name.role_id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }

    /// Every permission of the catalog.
    pub async fn list_permissions(
        &self,
        principal: &Principal,
        _input: ListPermissions,
    ) -> Result<&'static [(Permission, &'static str)]> {
        self.caller_of(principal, &rpcs::LIST_PERMISSIONS).await?;
        Ok(catalog::PERMISSIONS)
    }

    /// Built-in roles, then custom roles by id.
    pub async fn list_roles(
        &self,
        principal: &Principal,
        input: ListRoles,
    ) -> Result<Page<RoleView>> {
        let caller = self.caller(principal).await?;
        let org = input.organization;
        self.authorize(self.db(), &caller, &rpcs::LIST_ROLES, org, Deleted::Hide)
            .await?;
        let mut roles: Vec<RoleView> = catalog::roles::ALL
            .iter()
            .filter_map(|id| RoleView::builtin(org, id))
            .collect();
        // Custom roles are bounded by max_custom_roles, so one query
        // suffices; pages are cut from the ordered list.
        let custom = store::list(self.db(), org, None, 10_000).await?;
        roles.extend(custom.into_iter().map(|r| RoleView::custom(org, r)));
        let start = match &input.page.after {
            Some(after) => roles
                .iter()
                .position(|r| &r.role_id == after)
                .map_or(roles.len(), |i| i + 1),
            None => 0,
        };
        let limit = usize::try_from(input.page.fetch_limit()).unwrap_or(usize::MAX);
        let rest: Vec<RoleView> = roles.into_iter().skip(start).take(limit).collect();
        Ok(input.page.page(rest, |r| r.role_id.clone()))
    }

    /// One role.
    pub async fn get_role(&self, principal: &Principal, name: RoleName) -> Result<RoleView> {
        let caller = self.caller(principal).await?;
        let org = name.organization;
        self.authorize(self.db(), &caller, &rpcs::GET_ROLE, org, Deleted::Hide)
            .await?;
        if let Some(role) = RoleView::builtin(org, &name.role_id) {
            return Ok(role);
        }
        let role = self.custom_role(self.db(), &name).await?;
        Ok(RoleView::custom(org, role))
    }

    /// Creates a custom role.
    pub async fn create_role(&self, principal: &Principal, input: CreateRole) -> Result<RoleView> {
        let rpc = &rpcs::CREATE_ROLE;
        let name = input.name;
        let org = name.organization;
        let caller = self.caller(principal).await?;
        let options = WriteOptions::validate_only(input.validate_only);
        let mut tx = self.begin_write(org, rpc, &caller, options).await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, org, Deleted::Hide)
            .await?;
        require_flag(&access)?;
        let permissions = input.role.permissions.unwrap_or_default();
        access
            .permissions
            .covers(&permissions)
            .map_err(cannot_grant)?;
        if store::find(tx.conn(), org, &name.role_id).await?.is_some() {
            return Err(Error::already_exists(format!("{name} already exists")));
        }
        let limit = access.organization.capabilities.limit(LIMIT);
        let used = store::count(tx.conn(), org).await?;
        if used >= limit {
            return Err(Refusal::LimitReached {
                organization: access.organization.name(),
                limit: LIMIT.into(),
                limit_value: limit,
                usage: used,
            }
            .into());
        }
        let now = Utc::now();
        let role = CustomRole {
            display_name: input
                .role
                .display_name
                .unwrap_or_else(|| name.role_id.clone()),
            role_id: name.role_id.clone(),
            description: input.role.description.unwrap_or_default(),
            permissions,
            create_time: now,
            update_time: now,
            version: 1,
        };
        store::insert(tx.conn(), org, &role).await?;
        tx.audit(name.to_string(), json!({ "permissions": role.permissions }));
        let created = self.custom_role(tx.conn(), &name).await?;
        tx.commit().await?;
        Ok(RoleView::custom(org, created))
    }

    /// Updates a custom role (built-in roles cannot change).
    pub async fn update_role(&self, principal: &Principal, input: UpdateRole) -> Result<RoleView> {
        let rpc = &rpcs::UPDATE_ROLE;
        let name = input.name;
        let org = name.organization;
        let caller = self.caller(principal).await?;
        let options = WriteOptions::validate_only(input.validate_only);
        let mut tx = self.begin_write(org, rpc, &caller, options).await?;
        let access = self
            .authorize(tx.conn(), &caller, rpc, org, Deleted::Hide)
            .await?;
        if catalog::is_builtin_role(&name.role_id) {
            return Err(built_in(
                &name,
                "cannot change: create a custom role instead",
            ));
        }
        require_flag(&access)?;
        let role = self.custom_role(tx.conn(), &name).await?;
        check_etag(&name.to_string(), input.etag, role.version)?;
        if let Some(p) = &input.update.permissions {
            access.permissions.covers(p).map_err(cannot_grant)?;
        }
        let update = &input.update;
        if !store::update(tx.conn(), org, &name.role_id, role.version, update).await? {
            return Err(Error::etag_mismatch(name.to_string()));
        }
        // Members holding this role now have other permissions.
        changes::append(tx.conn(), org, kind::MEMBERSHIP).await?;
        tx.audit(
            name.to_string(),
            json!({ "permissions": update.permissions, "display_name": update.display_name }),
        );
        let updated = self.custom_role(tx.conn(), &name).await?;
        tx.commit().await?;
        Ok(RoleView::custom(org, updated))
    }

    /// Deletes a custom role nobody holds.
    pub async fn delete_role(&self, principal: &Principal, input: DeleteRole) -> Result<RoleView> {
        let rpc = &rpcs::DELETE_ROLE;
        let name = input.name;
        let org = name.organization;
        let caller = self.caller(principal).await?;
        let options = WriteOptions::validate_only(input.validate_only);
        let mut tx = self.begin_write(org, rpc, &caller, options).await?;
        self.authorize(tx.conn(), &caller, rpc, org, Deleted::Hide)
            .await?;
        if catalog::is_builtin_role(&name.role_id) {
            return Err(built_in(&name, "cannot be deleted"));
        }
        let role = self.custom_role(tx.conn(), &name).await?;
        check_etag(&name.to_string(), input.etag, role.version)?;
        let (members, invites) = store::usage(tx.conn(), org, &name.role_id).await?;
        if members + invites > 0 {
            return Err(Error::precondition(
                "ROLE_IN_USE",
                format!(
                    "{name} is held by {members} member(s) and granted by {invites} pending invite(s): take it away from them first"
                ),
            ));
        }
        store::delete(tx.conn(), org, &name.role_id).await?;
        tx.audit(name.to_string(), json!({}));
        tx.commit().await?;
        Ok(RoleView::custom(org, role))
    }

    /// Checks project roles granted (or held by someone the caller changes):
    /// each project is a project of `access`'s organization (live or
    /// deleted), each role exists and is not `owner`, and in each project
    /// `access` holds every permission the role grants there (its
    /// project-scoped permissions), counting the caller's organization
    /// permissions and its own roles on that project. `field` names the
    /// request field (`member.project_roles`), indexed as in `bindings`.
    pub async fn check_project_roles(
        &self,
        conn: &impl Conn,
        access: &OrgAccess,
        bindings: &[ProjectRoles],
        field: &str,
    ) -> Result<()> {
        let org = access.organization.id;
        for (i, binding) in bindings.iter().enumerate() {
            let name = project_name(org, binding.project);
            if projects::find(conn, org, binding.project).await?.is_none() {
                return Err(Error::invalid(
                    format!("{field}[{i}].project"),
                    format!(
                        "{} is not a project of {}",
                        quote(&name),
                        access.organization.name()
                    ),
                ));
            }
            let held = access
                .in_project(binding.project)
                .unwrap_or_else(|| Permissions::Set(BTreeSet::new()));
            for (j, role) in binding.roles.iter().enumerate() {
                let at = format!("{field}[{i}].roles[{j}]");
                if role == catalog::roles::OWNER {
                    return Err(Error::invalid(
                        at,
                        "owner is organization-wide: it cannot be a project role",
                    ));
                }
                if !store::exists(conn, org, role).await? {
                    return Err(Error::invalid(at, format!("unknown role {}", quote(role))));
                }
                let granted =
                    catalog::project_scoped(&store::role_permissions(conn, org, role).await?);
                held.covers(&granted)
                    .map_err(|p| cannot_grant_in(p, &name))?;
            }
        }
        Ok(())
    }

    /// Checks that every role id exists in `access`'s organization and that
    /// `access` holds every permission they carry. `field` names the
    /// request field.
    pub async fn check_grantable(
        &self,
        conn: &impl Conn,
        access: &OrgAccess,
        roles: &[String],
        field: &str,
    ) -> Result<()> {
        let org = access.organization.id;
        for (i, role) in roles.iter().enumerate() {
            if !store::exists(conn, org, role).await? {
                return Err(Error::invalid(
                    format!("{field}[{i}]"),
                    format!("unknown role {}", quote(role)),
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
