//! Custom role storage, and resolving any role id to its permissions.

use std::collections::BTreeSet;

use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{CustomRole, RoleInput};
use crate::catalog::{self, Permission};
use crate::entity::{custom_role, invite, membership_role, project_role_binding};
use crate::error::{Error, Result};

/// Parses stored permissions, keeping only catalog entries (a permission
/// removed from the catalog grants nothing).
fn parse_permissions(json: &str) -> Result<BTreeSet<Permission>> {
    let names: Vec<String> =
        serde_json::from_str(json).map_err(|e| Error::Corrupt(format!("role permissions: {e}")))?;
    Ok(names.iter().filter_map(|n| catalog::lookup(n)).collect())
}

/// Serialises permissions for storage.
fn permissions_json(permissions: &BTreeSet<Permission>) -> String {
    serde_json::to_string(&permissions.iter().collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

fn to_domain(m: custom_role::Model) -> Result<CustomRole> {
    Ok(CustomRole {
        permissions: parse_permissions(&m.permissions)?,
        role_id: m.role_id,
        display_name: m.display_name,
        description: m.description,
        create_time: m.create_time,
        update_time: m.update_time,
        version: m.version,
    })
}

/// One custom role.
pub async fn find(
    conn: &impl ConnectionTrait,
    org: Uuid,
    role_id: &str,
) -> Result<Option<CustomRole>> {
    custom_role::Entity::find_by_id((org.to_string(), role_id.to_string()))
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

/// Inserts a new custom role.
pub async fn insert(conn: &impl ConnectionTrait, org: Uuid, r: &CustomRole) -> Result<()> {
    custom_role::Entity::insert(custom_role::ActiveModel {
        organization_id: Set(org.to_string()),
        role_id: Set(r.role_id.clone()),
        display_name: Set(r.display_name.clone()),
        description: Set(r.description.clone()),
        permissions: Set(permissions_json(&r.permissions)),
        create_time: Set(r.create_time),
        update_time: Set(r.update_time),
        version: Set(r.version),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Applies `input` to a custom role if it is still at `expected_version`.
/// Returns false on a concurrent change.
pub async fn update(
    conn: &impl ConnectionTrait,
    org: Uuid,
    role_id: &str,
    expected_version: i64,
    input: &RoleInput,
) -> Result<bool> {
    let mut changes = custom_role::ActiveModel::default();
    if let Some(v) = &input.display_name {
        changes.display_name = Set(v.clone());
    }
    if let Some(v) = &input.description {
        changes.description = Set(v.clone());
    }
    if let Some(p) = &input.permissions {
        changes.permissions = Set(permissions_json(p));
    }
    changes.version = Set(expected_version + 1);
    changes.update_time = Set(Utc::now());
    let updated = custom_role::Entity::update_many()
        .set(changes)
        .filter(custom_role::Column::OrganizationId.eq(org.to_string()))
        .filter(custom_role::Column::RoleId.eq(role_id))
        .filter(custom_role::Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Deletes a custom role.
pub async fn delete(conn: &impl ConnectionTrait, org: Uuid, role_id: &str) -> Result<()> {
    custom_role::Entity::delete_many()
        .filter(custom_role::Column::OrganizationId.eq(org.to_string()))
        .filter(custom_role::Column::RoleId.eq(role_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes every custom role of `org`. Returns how many went.
pub async fn purge_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    Ok(custom_role::Entity::delete_many()
        .filter(custom_role::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected)
}

/// The permissions of any role id in `org` (empty for unknown roles).
pub async fn role_permissions(
    conn: &impl ConnectionTrait,
    org: Uuid,
    role_id: &str,
) -> Result<BTreeSet<Permission>> {
    if let Some(builtin) = catalog::builtin_role(role_id) {
        return Ok(builtin.clone());
    }
    Ok(find(conn, org, role_id)
        .await?
        .map(|r| r.permissions)
        .unwrap_or_default())
}

/// True when the role id exists in `org` (built-in or custom).
pub async fn exists(conn: &impl ConnectionTrait, org: Uuid, role_id: &str) -> Result<bool> {
    Ok(catalog::is_builtin_role(role_id) || find(conn, org, role_id).await?.is_some())
}

/// A page of custom roles by id.
pub async fn list(
    conn: &impl ConnectionTrait,
    org: Uuid,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<CustomRole>> {
    let mut q =
        custom_role::Entity::find().filter(custom_role::Column::OrganizationId.eq(org.to_string()));
    if let Some(after) = after {
        q = q.filter(custom_role::Column::RoleId.gt(after));
    }
    q.order_by_asc(custom_role::Column::RoleId)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// Number of custom roles in `org`.
pub async fn count(conn: &impl ConnectionTrait, org: Uuid) -> Result<i64> {
    let n = custom_role::Entity::find()
        .filter(custom_role::Column::OrganizationId.eq(org.to_string()))
        .count(conn)
        .await?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Whether a stored invite grants `role_id`, organization-wide or on a
/// project.
fn invite_grants(i: &invite::Model, role_id: &str) -> bool {
    let org_wide = serde_json::from_str::<Vec<String>>(&i.roles)
        .map(|roles| roles.iter().any(|r| r == role_id))
        .unwrap_or(false);
    let on_projects = i
        .project_roles
        .as_deref()
        .and_then(|json| serde_json::from_str::<Vec<serde_json::Value>>(json).ok())
        .is_some_and(|bindings| {
            bindings.iter().any(|b| {
                b["roles"]
                    .as_array()
                    .is_some_and(|roles| roles.iter().any(|r| r == role_id))
            })
        });
    org_wide || on_projects
}

/// How many members hold the role (in the organization or on a project),
/// and how many pending invites grant it.
pub async fn usage(conn: &impl ConnectionTrait, org: Uuid, role_id: &str) -> Result<(u64, u64)> {
    let mut holders: BTreeSet<String> = membership_role::Entity::find()
        .filter(membership_role::Column::OrganizationId.eq(org.to_string()))
        .filter(membership_role::Column::Role.eq(role_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| r.account_id)
        .collect();
    holders.extend(
        project_role_binding::Entity::find()
            .filter(project_role_binding::Column::OrganizationId.eq(org.to_string()))
            .filter(project_role_binding::Column::Role.eq(role_id))
            .all(conn)
            .await?
            .into_iter()
            .map(|b| b.account_id),
    );
    let members = holders.len() as u64;
    let pending = invite::Entity::find()
        .filter(invite::Column::OrganizationId.eq(org.to_string()))
        .filter(invite::Column::State.eq("PENDING"))
        .all(conn)
        .await?
        .into_iter()
        .filter(|i| invite_grants(i, role_id))
        .count() as u64;
    Ok((members, pending))
}
