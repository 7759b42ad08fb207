//! Membership storage.

use chrono::Utc;
use loopback_runtime::pagination::PageRequest;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::Member;
use crate::catalog::roles;
use crate::entity::{account, membership, membership_role};
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
        .filter(membership_role::Column::AccountId.is_in(account_ids))
        .order_by_asc(membership_role::Column::Role)
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

/// Replaces a member's roles if the membership is still at `expected_version`.
pub async fn set_roles(
    conn: &impl ConnectionTrait,
    org: Uuid,
    account: Uuid,
    roles: &[String],
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
    membership_role::Entity::delete_many()
        .filter(membership_role::Column::OrganizationId.eq(org.to_string()))
        .filter(membership_role::Column::AccountId.eq(account.to_string()))
        .exec(conn)
        .await?;
    let refs: Vec<&str> = roles.iter().map(String::as_str).collect();
    insert_roles(conn, org, account, &refs).await?;
    Ok(true)
}

/// Removes a membership (its roles go with it) if still at `expected_version`.
pub async fn remove(
    conn: &impl ConnectionTrait,
    org: Uuid,
    account: Uuid,
    expected_version: i64,
) -> Result<bool> {
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
