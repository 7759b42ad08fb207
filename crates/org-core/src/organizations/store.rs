//! Organization storage: rows and capability overrides.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use loopback_runtime::pagination::PageRequest;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait as _,
};
use uuid::Uuid;

use super::{ListFilter, Override};
use crate::entity::{capability_override, membership, organization};
use crate::error::{Error, Result};
use crate::model::{Organization, parse_stored_uuid};
use crate::policy::{Capabilities, LifecycleState, VerificationStatus};

/// An organization as stored: the row with its overrides and the id of its
/// plan. The domain resolves the plan into effective capabilities
/// ([`super::resolve`]).
#[derive(Debug, Clone)]
pub struct StoredOrganization {
    /// The organization; its capabilities, sources and plan are not
    /// resolved yet.
    pub organization: Organization,
    /// Its plan's id.
    pub plan_id: String,
    /// Its per-organization overrides.
    pub overrides: Capabilities,
}

/// Builds the stored organization from its row and overrides.
fn to_domain(
    m: organization::Model,
    overrides: Option<&Capabilities>,
) -> Result<StoredOrganization> {
    let corrupt =
        |what: &str, e: String| Error::Corrupt(format!("organization {}: {what}: {e}", m.id));
    let organization = Organization {
        id: parse_stored_uuid(&m.id)?,
        verification_status: m
            .verification_status
            .parse::<VerificationStatus>()
            .map_err(|e| corrupt("verification_status", e))?,
        state: m
            .state
            .parse::<LifecycleState>()
            .map_err(|e| corrupt("state", e))?,
        capabilities: Capabilities::default(),
        capability_sources: Default::default(),
        plan: Default::default(),
        display_name: m.display_name,
        create_time: m.create_time,
        update_time: m.update_time,
        delete_time: m.delete_time,
        purge_time: m.purge_time,
        version: m.version,
    };
    Ok(StoredOrganization {
        organization,
        plan_id: m.plan_id,
        overrides: overrides.cloned().unwrap_or_default(),
    })
}

/// Capability overrides of the given organizations.
async fn overrides_for(
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

/// Turns rows into stored organizations, loading their overrides in one
/// query.
async fn to_domain_many(
    conn: &impl ConnectionTrait,
    rows: Vec<organization::Model>,
) -> Result<Vec<StoredOrganization>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let overrides = overrides_for(conn, &ids).await?;
    rows.into_iter()
        .map(|row| {
            let o = overrides.get(&row.id);
            to_domain(row, o)
        })
        .collect()
}

/// One organization with its overrides and plan id, deleted or not.
pub async fn load(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<StoredOrganization>> {
    let Some(row) = organization::Entity::find_by_id(id.to_string())
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(to_domain_many(conn, vec![row]).await?.pop())
}

/// Inserts a new organization created by `creator`, on plan `plan_id`.
pub async fn insert(
    conn: &impl ConnectionTrait,
    o: &Organization,
    creator: Uuid,
    plan_id: &str,
) -> Result<()> {
    organization::Entity::insert(organization::ActiveModel {
        id: Set(o.id.to_string()),
        display_name: Set(o.display_name.clone()),
        verification_status: Set(o.verification_status.as_str().into()),
        state: Set(o.state.as_str().into()),
        create_time: Set(o.create_time),
        update_time: Set(o.update_time),
        delete_time: Set(o.delete_time),
        purge_time: Set(o.purge_time),
        version: Set(o.version),
        lock_seq: Set(0),
        creator_account_id: Set(Some(creator.to_string())),
        // Retries are recognised by the service kit's request ids now.
        request_id: Set(None),
        plan_id: Set(plan_id.to_string()),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Writes `changes` if the row is still at `expected_version`, bumping the
/// version and update time. Returns false on a concurrent change.
async fn save(
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

/// Sets the display name (when given). Returns false on a concurrent change.
pub async fn update_profile(
    conn: &impl ConnectionTrait,
    id: Uuid,
    expected_version: i64,
    display_name: Option<&str>,
) -> Result<bool> {
    let mut changes = organization::ActiveModel::default();
    if let Some(name) = display_name {
        changes.display_name = Set(name.to_string());
    }
    save(conn, id, expected_version, changes).await
}

/// Bumps the version only (after a change stored elsewhere, e.g. overrides).
/// Returns false on a concurrent change.
pub async fn touch(conn: &impl ConnectionTrait, id: Uuid, expected_version: i64) -> Result<bool> {
    save(
        conn,
        id,
        expected_version,
        organization::ActiveModel::default(),
    )
    .await
}

/// Sets the verification status. Returns false on a concurrent change.
pub async fn set_verification_status(
    conn: &impl ConnectionTrait,
    id: Uuid,
    expected_version: i64,
    status: VerificationStatus,
) -> Result<bool> {
    let changes = organization::ActiveModel {
        verification_status: Set(status.as_str().into()),
        ..Default::default()
    };
    save(conn, id, expected_version, changes).await
}

/// Sets the lifecycle state to ACTIVE or INACTIVE. Returns false on a
/// concurrent change.
pub async fn set_state(
    conn: &impl ConnectionTrait,
    id: Uuid,
    expected_version: i64,
    state: LifecycleState,
) -> Result<bool> {
    let changes = organization::ActiveModel {
        state: Set(state.as_str().into()),
        ..Default::default()
    };
    save(conn, id, expected_version, changes).await
}

/// Soft-deletes the organization. Returns false on a concurrent change.
pub async fn set_deleted(
    conn: &impl ConnectionTrait,
    id: Uuid,
    expected_version: i64,
    now: DateTime<Utc>,
    purge: DateTime<Utc>,
) -> Result<bool> {
    let changes = organization::ActiveModel {
        state: Set(LifecycleState::Deleted.as_str().into()),
        delete_time: Set(Some(now)),
        purge_time: Set(Some(purge)),
        ..Default::default()
    };
    save(conn, id, expected_version, changes).await
}

/// Makes a deleted organization active again. Returns false on a
/// concurrent change.
pub async fn set_active(
    conn: &impl ConnectionTrait,
    id: Uuid,
    expected_version: i64,
) -> Result<bool> {
    let none: Option<DateTime<Utc>> = None;
    let changes = organization::ActiveModel {
        state: Set(LifecycleState::Active.as_str().into()),
        delete_time: Set(none),
        purge_time: Set(none),
        ..Default::default()
    };
    save(conn, id, expected_version, changes).await
}

/// Moves the organization to plan `plan_id`. Returns false on a
/// concurrent change.
pub async fn set_plan(
    conn: &impl ConnectionTrait,
    id: Uuid,
    expected_version: i64,
    plan_id: &str,
) -> Result<bool> {
    let changes = organization::ActiveModel {
        plan_id: Set(plan_id.to_string()),
        ..Default::default()
    };
    save(conn, id, expected_version, changes).await
}

/// How many organizations (deleted ones included) are on plan `plan_id`.
pub async fn count_on_plan(conn: &impl ConnectionTrait, plan_id: &str) -> Result<u64> {
    Ok(organization::Entity::find()
        .filter(organization::Column::PlanId.eq(plan_id))
        .count(conn)
        .await?)
}

/// The ids of every organization (deleted ones included) on plan `plan_id`.
pub async fn ids_on_plan(conn: &impl ConnectionTrait, plan_id: &str) -> Result<Vec<Uuid>> {
    organization::Entity::find()
        .select_only()
        .column(organization::Column::Id)
        .filter(organization::Column::PlanId.eq(plan_id))
        .order_by_asc(organization::Column::Id)
        .into_tuple::<String>()
        .all(conn)
        .await?
        .iter()
        .map(|id| parse_stored_uuid(id))
        .collect()
}

/// The plan ids of the live organizations `account` is a member of.
pub async fn plan_ids_of_member(
    conn: &impl ConnectionTrait,
    account: Uuid,
) -> Result<BTreeSet<String>> {
    let member_orgs = membership::Entity::find()
        .select_only()
        .column(membership::Column::OrganizationId)
        .filter(membership::Column::AccountId.eq(account.to_string()))
        .into_query();
    Ok(organization::Entity::find()
        .select_only()
        .column(organization::Column::PlanId)
        .distinct()
        .filter(organization::Column::Id.in_subquery(member_orgs))
        .filter(organization::Column::State.ne(LifecycleState::Deleted.as_str()))
        .into_tuple::<String>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

/// One page of organizations in id (creation) order, fetched with the
/// page's fetch limit.
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: &ListFilter,
    page: &PageRequest,
) -> Result<Vec<StoredOrganization>> {
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
    let rows = organization::Entity::find()
        .filter(cond)
        .order_by_asc(organization::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?;
    to_domain_many(conn, rows).await
}

/// Up to `limit` soft-deleted organizations whose purge time is at or
/// before `now`, soonest first.
pub async fn due_for_purge(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    organization::Entity::find()
        .filter(organization::Column::State.eq(LifecycleState::Deleted.as_str()))
        .filter(organization::Column::PurgeTime.lte(now))
        .order_by_asc(organization::Column::PurgeTime)
        .order_by_asc(organization::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .iter()
        .map(|o| parse_stored_uuid(&o.id))
        .collect()
}

/// Deletes the organization's capability overrides and its row. Returns
/// whether the row existed.
pub async fn delete(conn: &impl ConnectionTrait, id: Uuid) -> Result<bool> {
    capability_override::Entity::delete_many()
        .filter(capability_override::Column::OrganizationId.eq(id.to_string()))
        .exec(conn)
        .await?;
    let deleted = organization::Entity::delete_by_id(id.to_string())
        .exec(conn)
        .await?;
    Ok(deleted.rows_affected == 1)
}

/// Sets (or resets) one capability override.
pub async fn set_override(
    conn: &impl ConnectionTrait,
    org: Uuid,
    key: &str,
    value: Override,
) -> Result<()> {
    capability_override::Entity::delete_many()
        .filter(capability_override::Column::OrganizationId.eq(org.to_string()))
        .filter(capability_override::Column::Key.eq(key))
        .exec(conn)
        .await?;
    let (limit_value, flag_value) = match value {
        Override::Limit(v) => (Some(v), None),
        Override::Flag(v) => (None, Some(v)),
        Override::Reset => return Ok(()),
    };
    capability_override::Entity::insert(capability_override::ActiveModel {
        organization_id: Set(org.to_string()),
        key: Set(key.to_string()),
        limit_value: Set(limit_value),
        flag_value: Set(flag_value),
        update_time: Set(Utc::now()),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
