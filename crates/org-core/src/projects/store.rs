//! Project storage.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use loopback_runtime::pagination::PageRequest;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::ProjectUpdate;
use crate::entity::project;
use crate::error::{Error, Result};
use crate::model::{Project, parse_stored_uuid};
use crate::policy::LifecycleState;

/// Builds the domain project from its row.
pub fn to_domain(m: project::Model) -> Result<Project> {
    let labels: BTreeMap<String, String> = serde_json::from_str(&m.labels)
        .map_err(|e| Error::Corrupt(format!("project {} labels: {e}", m.id)))?;
    Ok(Project {
        id: parse_stored_uuid(&m.id)?,
        organization_id: parse_stored_uuid(&m.organization_id)?,
        state: m
            .state
            .parse()
            .map_err(|e: String| Error::Corrupt(format!("project {} state: {e}", m.id)))?,
        display_name: m.display_name,
        description: m.description,
        labels,
        create_time: m.create_time,
        update_time: m.update_time,
        delete_time: m.delete_time,
        purge_time: m.purge_time,
        version: m.version,
    })
}

/// Serialises labels for storage.
fn labels_json(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".into())
}

/// One project of `org`, deleted or not.
pub async fn find(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<Option<Project>> {
    project::Entity::find_by_id(id.to_string())
        .filter(project::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

/// Live (not deleted) projects of `org`.
pub async fn count_live(conn: &impl ConnectionTrait, org: Uuid) -> Result<i64> {
    let n = project::Entity::find()
        .filter(project::Column::OrganizationId.eq(org.to_string()))
        .filter(project::Column::State.eq(LifecycleState::Active.as_str()))
        .count(conn)
        .await?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

/// The first `n` live projects of `org`, in id (creation) order.
pub async fn first_live(conn: &impl ConnectionTrait, org: Uuid, n: u64) -> Result<Vec<Project>> {
    project::Entity::find()
        .filter(project::Column::OrganizationId.eq(org.to_string()))
        .filter(project::Column::State.eq(LifecycleState::Active.as_str()))
        .order_by_asc(project::Column::Id)
        .limit(n)
        .all(conn)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// Ids of the live projects of `org`.
pub async fn live_ids(conn: &impl ConnectionTrait, org: Uuid) -> Result<Vec<Uuid>> {
    ids(
        conn,
        Condition::all()
            .add(project::Column::OrganizationId.eq(org.to_string()))
            .add(project::Column::State.eq(LifecycleState::Active.as_str())),
    )
    .await
}

/// Ids of the projects of `org` its deletion took.
pub async fn taken_with_organization_ids(
    conn: &impl ConnectionTrait,
    org: Uuid,
) -> Result<Vec<Uuid>> {
    ids(
        conn,
        Condition::all()
            .add(project::Column::OrganizationId.eq(org.to_string()))
            .add(project::Column::DeletedWithOrganization.eq(true)),
    )
    .await
}

async fn ids(conn: &impl ConnectionTrait, cond: Condition) -> Result<Vec<Uuid>> {
    project::Entity::find()
        .filter(cond)
        .order_by_asc(project::Column::Id)
        .all(conn)
        .await?
        .iter()
        .map(|p| parse_stored_uuid(&p.id))
        .collect()
}

/// Up to `limit` projects (organization, id) soft-deleted on their own
/// whose purge time is at or before `now`, soonest first. Projects an
/// organization's deletion took wait for their organization.
pub async fn due_for_purge(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<(Uuid, Uuid)>> {
    project::Entity::find()
        .filter(due(now))
        .order_by_asc(project::Column::PurgeTime)
        .order_by_asc(project::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .iter()
        .map(|p| {
            Ok((
                parse_stored_uuid(&p.organization_id)?,
                parse_stored_uuid(&p.id)?,
            ))
        })
        .collect()
}

/// Whether project `id` of `org` is due for purge at `now` (see
/// [`due_for_purge`]).
pub async fn is_due_for_purge(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(project::Entity::find_by_id(id.to_string())
        .filter(project::Column::OrganizationId.eq(org.to_string()))
        .filter(due(now))
        .count(conn)
        .await?
        > 0)
}

fn due(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(project::Column::State.eq(LifecycleState::Deleted.as_str()))
        .add(project::Column::PurgeTime.lte(now))
        .add(project::Column::DeletedWithOrganization.eq(false))
}

/// Deletes project `id` of `org`. Returns whether it existed.
pub async fn delete(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<bool> {
    let deleted = project::Entity::delete_many()
        .filter(project::Column::Id.eq(id.to_string()))
        .filter(project::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    Ok(deleted.rows_affected == 1)
}

/// Deletes every project of `org`, in any state. Returns their ids in id
/// (creation) order.
pub async fn delete_all(conn: &impl ConnectionTrait, org: Uuid) -> Result<Vec<Uuid>> {
    let all = ids(
        conn,
        Condition::all().add(project::Column::OrganizationId.eq(org.to_string())),
    )
    .await?;
    project::Entity::delete_many()
        .filter(project::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    Ok(all)
}

/// Inserts a new project row.
pub async fn insert(conn: &impl ConnectionTrait, p: &Project) -> Result<()> {
    project::Entity::insert(project::ActiveModel {
        id: Set(p.id.to_string()),
        organization_id: Set(p.organization_id.to_string()),
        display_name: Set(p.display_name.clone()),
        description: Set(p.description.clone()),
        labels: Set(labels_json(&p.labels)),
        state: Set(p.state.as_str().into()),
        create_time: Set(p.create_time),
        update_time: Set(p.update_time),
        delete_time: Set(p.delete_time),
        purge_time: Set(p.purge_time),
        version: Set(p.version),
        request_id: Set(None),
        deleted_with_organization: Set(false),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Applies `update` if the row is still at `expected_version`. Returns false
/// on a concurrent change.
pub async fn update(
    conn: &impl ConnectionTrait,
    id: Uuid,
    expected_version: i64,
    update: &ProjectUpdate,
) -> Result<bool> {
    let mut changes = project::ActiveModel::default();
    if let Some(v) = &update.display_name {
        changes.display_name = Set(v.clone());
    }
    if let Some(v) = &update.description {
        changes.description = Set(v.clone());
    }
    if let Some(v) = &update.labels {
        changes.labels = Set(labels_json(v));
    }
    save(conn, id, expected_version, changes).await
}

/// Soft-deletes one project (not as part of its organization's deletion).
/// Returns false on a concurrent change.
pub async fn set_deleted(
    conn: &impl ConnectionTrait,
    id: Uuid,
    expected_version: i64,
    now: DateTime<Utc>,
    purge: DateTime<Utc>,
) -> Result<bool> {
    let changes = project::ActiveModel {
        state: Set(LifecycleState::Deleted.as_str().into()),
        delete_time: Set(Some(now)),
        purge_time: Set(Some(purge)),
        deleted_with_organization: Set(false),
        ..Default::default()
    };
    save(conn, id, expected_version, changes).await
}

/// Makes a deleted project live again. Returns false on a concurrent change.
pub async fn set_active(
    conn: &impl ConnectionTrait,
    id: Uuid,
    expected_version: i64,
) -> Result<bool> {
    let none: Option<DateTime<Utc>> = None;
    let changes = project::ActiveModel {
        state: Set(LifecycleState::Active.as_str().into()),
        delete_time: Set(none),
        purge_time: Set(none),
        ..Default::default()
    };
    save(conn, id, expected_version, changes).await
}

/// Writes `changes` if the row is still at `expected_version`, bumping the
/// version and update time. Returns false on a concurrent change.
async fn save(
    conn: &impl ConnectionTrait,
    id: Uuid,
    expected_version: i64,
    mut changes: project::ActiveModel,
) -> Result<bool> {
    changes.version = Set(expected_version + 1);
    changes.update_time = Set(Utc::now());
    let result = project::Entity::update_many()
        .set(changes)
        .filter(project::Column::Id.eq(id.to_string()))
        .filter(project::Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Soft-deletes every live project of `org`, marking them as taken by the
/// organization's deletion. Returns how many.
pub async fn delete_all_live_with_organization(
    conn: &impl ConnectionTrait,
    org: Uuid,
    now: DateTime<Utc>,
    purge: DateTime<Utc>,
) -> Result<u64> {
    let result = project::Entity::update_many()
        .col_expr(
            project::Column::State,
            Expr::value(LifecycleState::Deleted.as_str()),
        )
        .col_expr(project::Column::DeleteTime, Expr::value(now))
        .col_expr(project::Column::PurgeTime, Expr::value(purge))
        .col_expr(project::Column::UpdateTime, Expr::value(now))
        .col_expr(project::Column::DeletedWithOrganization, Expr::value(true))
        .col_expr(
            project::Column::Version,
            Expr::col(project::Column::Version).add(1),
        )
        .filter(project::Column::OrganizationId.eq(org.to_string()))
        .filter(project::Column::State.eq(LifecycleState::Active.as_str()))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

/// Restores the projects an organization's deletion took. Returns how many.
pub async fn undelete_taken_with_organization(
    conn: &impl ConnectionTrait,
    org: Uuid,
) -> Result<u64> {
    let none: Option<DateTime<Utc>> = None;
    let result = project::Entity::update_many()
        .col_expr(
            project::Column::State,
            Expr::value(LifecycleState::Active.as_str()),
        )
        .col_expr(project::Column::DeleteTime, Expr::value(none))
        .col_expr(project::Column::PurgeTime, Expr::value(none))
        .col_expr(project::Column::UpdateTime, Expr::value(Utc::now()))
        .col_expr(project::Column::DeletedWithOrganization, Expr::value(false))
        .col_expr(
            project::Column::Version,
            Expr::col(project::Column::Version).add(1),
        )
        .filter(project::Column::OrganizationId.eq(org.to_string()))
        .filter(project::Column::DeletedWithOrganization.eq(true))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

/// One page of `org`'s projects in id (creation) order; with `only`, just
/// those ids.
pub async fn list(
    conn: &impl ConnectionTrait,
    org: Uuid,
    include_deleted: bool,
    only: Option<&[Uuid]>,
    page: &PageRequest,
) -> Result<Vec<Project>> {
    let mut cond = Condition::all().add(project::Column::OrganizationId.eq(org.to_string()));
    if let Some(ids) = only {
        cond = cond.add(project::Column::Id.is_in(ids.iter().map(Uuid::to_string)));
    }
    if !include_deleted {
        cond = cond.add(project::Column::State.eq(LifecycleState::Active.as_str()));
    }
    if let Some(after) = &page.after {
        cond = cond.add(project::Column::Id.gt(after.as_str()));
    }
    project::Entity::find()
        .filter(cond)
        .order_by_asc(project::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}
