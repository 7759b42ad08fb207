//! Membership storage.

use chrono::Utc;
use loopback_runtime::pagination::PageRequest;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{Member, ProjectRoles};
use crate::catalog::roles;
use crate::entity::{account, membership, membership_role, project_role_binding};
use crate::error::{Error, Result};
use crate::model::parse_stored_uuid;

/// Adds `account` to `org` with `roles`.
pub async fn add(
    conn: &impl ConnectionTrait,
    org: Uuid,
    account: Uuid,
    roles: &[&str],
) -> Result<()> {
    let now = Utc::now();
    membership::Entity::insert(membership::ActiveModel {
        organization_id: Set(org.to_string()),
        account_id: Set(account.to_string()),
        create_time: Set(now),
        update_time: Set(now),
        version: Set(1),
    })
    .exec_without_returning(conn)
    .await?;
    insert_roles(conn, org, account, roles).await
}

async fn insert_roles(
    conn: &impl ConnectionTrait,
    org: Uuid,
    account: Uuid,
    roles: &[&str],
) -> Result<()> {
    for role in roles {
        membership_role::Entity::insert(membership_role::ActiveModel {
            organization_id: Set(org.to_string()),
            account_id: Set(account.to_string()),
            role: Set((*role).to_string()),
        })
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

async fn insert_bindings(
    conn: &impl ConnectionTrait,
    org: Uuid,
    account: Uuid,
    bindings: &[ProjectRoles],
) -> Result<()> {
    for binding in bindings {
        for role in &binding.roles {
            project_role_binding::Entity::insert(project_role_binding::ActiveModel {
                organization_id: Set(org.to_string()),
                project_id: Set(binding.project.to_string()),
                account_id: Set(account.to_string()),
                role: Set(role.clone()),
            })
            .exec_without_returning(conn)
            .await?;
        }
    }
    Ok(())
}

/// Groups binding rows (ordered by project, then role) into project roles.
fn group_bindings<'a>(
    rows: impl IntoIterator<Item = &'a project_role_binding::Model>,
) -> Result<Vec<ProjectRoles>> {
    let mut out: Vec<ProjectRoles> = Vec::new();
    for row in rows {
        let project = parse_stored_uuid(&row.project_id)?;
        match out.last_mut() {
            Some(last) if last.project == project => last.roles.push(row.role.clone()),
            _ => out.push(ProjectRoles {
                project,
                roles: vec![row.role.clone()],
            }),
        }
    }
    Ok(out)
}

async fn assemble(
    conn: &impl ConnectionTrait,
    rows: Vec<membership::Model>,
) -> Result<Vec<Member>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let org = rows[0].organization_id.clone();
    let account_ids: Vec<String> = rows.iter().map(|r| r.account_id.clone()).collect();
    let accounts = account::Entity::find()
        .filter(account::Column::Id.is_in(account_ids.clone()))
        .all(conn)
        .await?;
    let role_rows = membership_role::Entity::find()
        .filter(membership_role::Column::OrganizationId.eq(org))
        .filter(membership_role::Column::AccountId.is_in(account_ids.clone()))
        .order_by_asc(membership_role::Column::Role)
        .all(conn)
        .await?;
    let binding_rows = project_role_binding::Entity::find()
        .filter(project_role_binding::Column::OrganizationId.eq(rows[0].organization_id.clone()))
        .filter(project_role_binding::Column::AccountId.is_in(account_ids))
        .order_by_asc(project_role_binding::Column::ProjectId)
        .order_by_asc(project_role_binding::Column::Role)
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|m| {
            let acct = accounts
                .iter()
                .find(|a| a.id == m.account_id)
                .ok_or_else(|| {
                    Error::Corrupt(format!("membership of unknown account {}", m.account_id))
                })?;
            Ok(Member {
                organization: parse_stored_uuid(&m.organization_id)?,
                account: parse_stored_uuid(&m.account_id)?,
                email: acct.email.clone(),
                display_name: acct.display_name.clone(),
                roles: role_rows
                    .iter()
                    .filter(|r| r.account_id == m.account_id)
                    .map(|r| r.role.clone())
                    .collect(),
                project_roles: group_bindings(
                    binding_rows.iter().filter(|b| b.account_id == m.account_id),
                )?,
                join_time: m.create_time,
                update_time: m.update_time,
                version: m.version,
            })
        })
        .collect()
}

/// One member.
pub async fn find(conn: &impl ConnectionTrait, org: Uuid, account: Uuid) -> Result<Option<Member>> {
    let Some(row) = membership::Entity::find_by_id((org.to_string(), account.to_string()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(assemble(conn, vec![row]).await?.pop())
}

/// The member of `org` whose account has `email`, if any.
pub async fn find_by_email(
    conn: &impl ConnectionTrait,
    org: Uuid,
    email: &str,
) -> Result<Option<Member>> {
    let accounts = account::Entity::find()
        .filter(account::Column::Email.eq(email))
        .all(conn)
        .await?;
    for a in accounts {
        if let Some(m) = find(conn, org, parse_stored_uuid(&a.id)?).await? {
            return Ok(Some(m));
        }
    }
    Ok(None)
}

/// A page of members by account id.
pub async fn list(
    conn: &impl ConnectionTrait,
    org: Uuid,
    page: &PageRequest,
) -> Result<Vec<Member>> {
    let mut q =
        membership::Entity::find().filter(membership::Column::OrganizationId.eq(org.to_string()));
    if let Some(after) = &page.after {
        q = q.filter(membership::Column::AccountId.gt(after.as_str()));
    }
    let rows = q
        .order_by_asc(membership::Column::AccountId)
        .limit(page.fetch_limit())
        .all(conn)
        .await?;
    assemble(conn, rows).await
}

/// The role ids `account` holds in `org` (none when not a member).
pub async fn role_ids(
    conn: &impl ConnectionTrait,
    org: Uuid,
    account: Uuid,
) -> Result<Vec<String>> {
    Ok(membership_role::Entity::find()
        .filter(membership_role::Column::OrganizationId.eq(org.to_string()))
        .filter(membership_role::Column::AccountId.eq(account.to_string()))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| r.role)
        .collect())
}

/// The roles `account` holds on single projects of `org`, by project.
pub async fn project_roles(
    conn: &impl ConnectionTrait,
    org: Uuid,
    account: Uuid,
) -> Result<Vec<ProjectRoles>> {
    let rows = project_role_binding::Entity::find()
        .filter(project_role_binding::Column::OrganizationId.eq(org.to_string()))
        .filter(project_role_binding::Column::AccountId.eq(account.to_string()))
        .order_by_asc(project_role_binding::Column::ProjectId)
        .order_by_asc(project_role_binding::Column::Role)
        .all(conn)
        .await?;
    group_bindings(&rows)
}

/// Adds project role bindings to an existing membership.
pub async fn add_project_roles(
    conn: &impl ConnectionTrait,
    org: Uuid,
    account: Uuid,
    bindings: &[ProjectRoles],
) -> Result<()> {
    insert_bindings(conn, org, account, bindings).await
}

/// Removes every binding on `project` of `org`, then the memberships this
/// leaves without any role. Returns how many bindings were removed.
pub async fn remove_project_bindings(
    conn: &impl ConnectionTrait,
    org: Uuid,
    project: Uuid,
) -> Result<u64> {
    let bound: Vec<String> = project_role_binding::Entity::find()
        .filter(project_role_binding::Column::OrganizationId.eq(org.to_string()))
        .filter(project_role_binding::Column::ProjectId.eq(project.to_string()))
        .all(conn)
        .await?
        .into_iter()
        .map(|b| b.account_id)
        .collect();
    let removed = project_role_binding::Entity::delete_many()
        .filter(project_role_binding::Column::OrganizationId.eq(org.to_string()))
        .filter(project_role_binding::Column::ProjectId.eq(project.to_string()))
        .exec(conn)
        .await?
        .rows_affected;
    for account in bound {
        let roles = membership_role::Entity::find()
            .filter(membership_role::Column::OrganizationId.eq(org.to_string()))
            .filter(membership_role::Column::AccountId.eq(account.as_str()))
            .count(conn)
            .await?;
        let bindings = project_role_binding::Entity::find()
            .filter(project_role_binding::Column::OrganizationId.eq(org.to_string()))
            .filter(project_role_binding::Column::AccountId.eq(account.as_str()))
            .count(conn)
            .await?;
        if roles == 0 && bindings == 0 {
            membership::Entity::delete_many()
                .filter(membership::Column::OrganizationId.eq(org.to_string()))
                .filter(membership::Column::AccountId.eq(account.as_str()))
                .exec(conn)
                .await?;
        }
    }
    Ok(removed)
}

/// Deletes every membership of `org` with its roles and project roles.
/// Returns how many memberships went.
pub async fn purge_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    project_role_binding::Entity::delete_many()
        .filter(project_role_binding::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    membership_role::Entity::delete_many()
        .filter(membership_role::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    Ok(membership::Entity::delete_many()
        .filter(membership::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Number of members of `org`.
pub async fn count(conn: &impl ConnectionTrait, org: Uuid) -> Result<i64> {
    let n = membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(org.to_string()))
        .count(conn)
        .await?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Number of owners of `org`.
pub async fn owner_count(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    Ok(membership_role::Entity::find()
        .filter(membership_role::Column::OrganizationId.eq(org.to_string()))
        .filter(membership_role::Column::Role.eq(roles::OWNER))
        .count(conn)
        .await?)
}

/// Replaces a member's organization roles and/or project roles (each when
/// given) if the membership is still at `expected_version`.
pub async fn set_roles(
    conn: &impl ConnectionTrait,
    org: Uuid,
    account: Uuid,
    roles: Option<&[String]>,
    project_roles: Option<&[ProjectRoles]>,
    expected_version: i64,
) -> Result<bool> {
    let updated = membership::Entity::update_many()
        .set(membership::ActiveModel {
            version: Set(expected_version + 1),
            update_time: Set(Utc::now()),
            ..Default::default()
        })
        .filter(membership::Column::OrganizationId.eq(org.to_string()))
        .filter(membership::Column::AccountId.eq(account.to_string()))
        .filter(membership::Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    if updated.rows_affected != 1 {
        return Ok(false);
    }
    if let Some(roles) = roles {
        membership_role::Entity::delete_many()
            .filter(membership_role::Column::OrganizationId.eq(org.to_string()))
            .filter(membership_role::Column::AccountId.eq(account.to_string()))
            .exec(conn)
            .await?;
        let refs: Vec<&str> = roles.iter().map(String::as_str).collect();
        insert_roles(conn, org, account, &refs).await?;
    }
    if let Some(bindings) = project_roles {
        project_role_binding::Entity::delete_many()
            .filter(project_role_binding::Column::OrganizationId.eq(org.to_string()))
            .filter(project_role_binding::Column::AccountId.eq(account.to_string()))
            .exec(conn)
            .await?;
        insert_bindings(conn, org, account, bindings).await?;
    }
    Ok(true)
}

/// Removes a membership (its roles and project roles go with it) if still
/// at `expected_version`.
pub async fn remove(
    conn: &impl ConnectionTrait,
    org: Uuid,
    account: Uuid,
    expected_version: i64,
) -> Result<bool> {
    project_role_binding::Entity::delete_many()
        .filter(project_role_binding::Column::OrganizationId.eq(org.to_string()))
        .filter(project_role_binding::Column::AccountId.eq(account.to_string()))
        .exec(conn)
        .await?;
    membership_role::Entity::delete_many()
        .filter(membership_role::Column::OrganizationId.eq(org.to_string()))
        .filter(membership_role::Column::AccountId.eq(account.to_string()))
        .exec(conn)
        .await?;
    let deleted = membership::Entity::delete_many()
        .filter(membership::Column::OrganizationId.eq(org.to_string()))
        .filter(membership::Column::AccountId.eq(account.to_string()))
        .filter(membership::Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    Ok(deleted.rows_affected == 1)
}
