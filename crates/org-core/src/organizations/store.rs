//! Organization storage: rows, capability overrides, the serialising lock.

use std::collections::HashMap;

use chrono::Utc;
use loopback_runtime::pagination::PageRequest;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait as _,
};
use uuid::Uuid;

use crate::config::Settings;
use crate::entity::{capability_override, membership, organization};
use crate::error::{Error, Result};
use crate::model::{Organization, parse_stored_uuid};
use crate::policy::{Capabilities, LifecycleState, VerificationStatus};

/// Builds the domain organization from its row and overrides.
pub fn to_domain(
    m: organization::Model,
    settings: &Settings,
    overrides: Option<&Capabilities>,
) -> Result<Organization> {
    let corrupt =
        |what: &str, e: String| Error::Corrupt(format!("organization {}: {what}: {e}", m.id));
    Ok(Organization {
        id: parse_stored_uuid(&m.id)?,
        verification_status: m
            .verification_status
            .parse::<VerificationStatus>()
            .map_err(|e| corrupt("verification_status", e))?,
        state: m
            .state
            .parse::<LifecycleState>()
            .map_err(|e| corrupt("state", e))?,
        capabilities: match overrides {
            Some(o) => settings.defaults.with_overrides(o),
            None => settings.defaults.clone(),
        },
        display_name: m.display_name,
        create_time: m.create_time,
        update_time: m.update_time,
        delete_time: m.delete_time,
        purge_time: m.purge_time,
        version: m.version,
    })
}

/// Capability overrides of the given organizations.
pub async fn overrides_for(
    conn: &impl ConnectionTrait,
    ids: &[String],
) -> Result<HashMap<String, Capabilities>> {
    let rows = capability_override::Entity::find()
        .filter(capability_override::Column::OrganizationId.is_in(ids.iter().cloned()))
        .all(conn)
        .await?;
    let mut out: HashMap<String, Capabilities> = HashMap::new();
    for row in rows {
        let caps = out.entry(row.organization_id).or_default();
        if let Some(v) = row.limit_value {
            caps.limits.insert(row.key, v);
        } else if let Some(v) = row.flag_value {
            caps.flags.insert(row.key, v);
        }
    }
    Ok(out)
}

/// Turns rows into domain organizations, loading their overrides in one query.
pub async fn to_domain_many(
    conn: &impl ConnectionTrait,
    settings: &Settings,
    rows: Vec<organization::Model>,
) -> Result<Vec<Organization>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let overrides = overrides_for(conn, &ids).await?;
    rows.into_iter()
        .map(|row| {
            let o = overrides.get(&row.id);
            to_domain(row, settings, o)
        })
        .collect()
}

/// One organization with its effective capabilities, deleted or not.
pub async fn load(
    conn: &impl ConnectionTrait,
    settings: &Settings,
    id: Uuid,
) -> Result<Option<Organization>> {
    let Some(row) = organization::Entity::find_by_id(id.to_string())
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let overrides = overrides_for(conn, std::slice::from_ref(&row.id)).await?;
    let o = overrides.get(&row.id);
    to_domain(row, settings, o).map(Some)
}

/// The organization `creator` created with `request_id`, if any.
pub async fn find_by_request(
    conn: &impl ConnectionTrait,
    creator: Uuid,
    request_id: &str,
) -> Result<Option<organization::Model>> {
    Ok(organization::Entity::find()
        .filter(organization::Column::CreatorAccountId.eq(creator.to_string()))
        .filter(organization::Column::RequestId.eq(request_id))
        .one(conn)
        .await?)
}

/// Takes the organization's row lock for the rest of the transaction, so
/// that limit checks in concurrent transactions on the same organization run
/// one after another (on PostgreSQL a row lock; on SQLite the write lock).
/// Returns false when the organization does not exist.
pub async fn lock(conn: &impl ConnectionTrait, id: Uuid) -> Result<bool> {
    let result = organization::Entity::update_many()
        .col_expr(
            organization::Column::LockSeq,
            Expr::col(organization::Column::LockSeq).add(1),
        )
        .filter(organization::Column::Id.eq(id.to_string()))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Writes `changes` if the row is still at `expected_version`, bumping the
/// version and update time. Returns false on a concurrent change.
pub async fn save(
    conn: &impl ConnectionTrait,
    id: Uuid,
    expected_version: i64,
    mut changes: organization::ActiveModel,
) -> Result<bool> {
    changes.version = Set(expected_version + 1);
    changes.update_time = Set(Utc::now());
    let result = organization::Entity::update_many()
        .set(changes)
        .filter(organization::Column::Id.eq(id.to_string()))
        .filter(organization::Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// What a list of organizations is restricted to.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only organizations this account is a member of.
    pub member: Option<Uuid>,
    /// Include soft-deleted organizations.
    pub include_deleted: bool,
    /// Only this verification status.
    pub verification_status: Option<VerificationStatus>,
    /// Only this state.
    pub state: Option<LifecycleState>,
}

/// One page of organizations in id (creation) order.
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: &ListFilter,
    page: &PageRequest,
) -> Result<Vec<organization::Model>> {
    let mut cond = Condition::all();
    if let Some(member) = filter.member {
        let member_orgs = membership::Entity::find()
            .select_only()
            .column(membership::Column::OrganizationId)
            .filter(membership::Column::AccountId.eq(member.to_string()))
            .into_query();
        cond = cond.add(organization::Column::Id.in_subquery(member_orgs));
    }
    if !filter.include_deleted {
        cond = cond.add(organization::Column::State.ne(LifecycleState::Deleted.as_str()));
    }
    if let Some(s) = filter.verification_status {
        cond = cond.add(organization::Column::VerificationStatus.eq(s.as_str()));
    }
    if let Some(s) = filter.state {
        cond = cond.add(organization::Column::State.eq(s.as_str()));
    }
    if let Some(after) = &page.after {
        cond = cond.add(organization::Column::Id.gt(after.as_str()));
    }
    Ok(organization::Entity::find()
        .filter(cond)
        .order_by_asc(organization::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?)
}

/// Sets (or with `None`, removes) one capability override.
pub async fn set_override(
    conn: &impl ConnectionTrait,
    org: Uuid,
    key: &str,
    limit_value: Option<i64>,
    flag_value: Option<bool>,
) -> Result<()> {
    capability_override::Entity::delete_many()
        .filter(capability_override::Column::OrganizationId.eq(org.to_string()))
        .filter(capability_override::Column::Key.eq(key))
        .exec(conn)
        .await?;
    if limit_value.is_some() || flag_value.is_some() {
        capability_override::Entity::insert(capability_override::ActiveModel {
            organization_id: Set(org.to_string()),
            key: Set(key.to_string()),
            limit_value: Set(limit_value),
            flag_value: Set(flag_value),
            update_time: Set(Utc::now()),
        })
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}
