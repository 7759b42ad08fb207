//! Custom role storage, and resolving any role id to its permissions.

use std::collections::BTreeSet;

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::catalog::{self, Permission};
use crate::entity::{custom_role, invite, membership_role};
use crate::error::{Error, Result};

/// A custom role.
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
    pub create_time: chrono::DateTime<chrono::Utc>,
    /// Last change.
    pub update_time: chrono::DateTime<chrono::Utc>,
    /// Version (etag).
    pub version: i64,
}

/// Parses stored permissions, keeping only catalog entries (a permission
/// removed from the catalog grants nothing).
pub fn parse_permissions(json: &str) -> Result<BTreeSet<Permission>> {
    let names: Vec<String> =
        serde_json::from_str(json).map_err(|e| Error::Corrupt(format!("role permissions: {e}")))?;
    Ok(names.iter().filter_map(|n| catalog::lookup(n)).collect())
}

/// Serialises permissions for storage.
pub fn permissions_json(permissions: &BTreeSet<Permission>) -> String {
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

/// How many members hold the role, and how many pending invites grant it.
pub async fn usage(conn: &impl ConnectionTrait, org: Uuid, role_id: &str) -> Result<(u64, u64)> {
    let members = membership_role::Entity::find()
        .filter(membership_role::Column::OrganizationId.eq(org.to_string()))
        .filter(membership_role::Column::Role.eq(role_id))
        .count(conn)
        .await?;
    let pending = invite::Entity::find()
        .filter(invite::Column::OrganizationId.eq(org.to_string()))
        .filter(invite::Column::State.eq("PENDING"))
        .all(conn)
        .await?
        .into_iter()
        .filter(|i| {
            serde_json::from_str::<Vec<String>>(&i.roles)
                .map(|roles| roles.iter().any(|r| r == role_id))
                .unwrap_or(false)
        })
        .count() as u64;
    Ok((members, pending))
}
