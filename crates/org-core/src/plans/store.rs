//! Plan storage. Limits, flags and features are JSON columns of one row.

use std::collections::{BTreeMap, BTreeSet};

use loopback_runtime::pagination::PageRequest;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::{Plan, PlanUpdate};
use crate::entity::plan;
use crate::error::{Error, Result};
use crate::policy::{Capabilities, PlanFeatures};

/// Which plans a list returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visible {
    /// Every plan (operators and services).
    All,
    /// Self-serve plans and these (the plans of the caller's organizations).
    SelfServeAnd(BTreeSet<String>),
}

fn corrupt(id: &str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("plan {id} {what}: {e}"))
}

/// Builds the domain plan from its row.
pub fn to_domain(m: plan::Model) -> Result<Plan> {
    let limits: BTreeMap<String, i64> =
        serde_json::from_str(&m.limits).map_err(|e| corrupt(&m.id, "limits", e))?;
    let flags: BTreeMap<String, bool> =
        serde_json::from_str(&m.flags).map_err(|e| corrupt(&m.id, "flags", e))?;
    let features: BTreeSet<String> =
        serde_json::from_str(&m.features).map_err(|e| corrupt(&m.id, "features", e))?;
    Ok(Plan {
        id: m.id,
        display_name: m.display_name,
        description: m.description,
        self_serve: m.self_serve,
        capabilities: Capabilities { limits, flags },
        features: if m.all_features {
            PlanFeatures::All
        } else {
            PlanFeatures::Only(features)
        },
        create_time: m.create_time,
        update_time: m.update_time,
        version: m.version,
    })
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// `(all_features, features JSON)` of a feature set.
fn features_columns(features: &PlanFeatures) -> (bool, String) {
    match features {
        PlanFeatures::All => (true, "[]".into()),
        PlanFeatures::Only(set) => (false, json(set)),
    }
}

fn active_model(p: &Plan) -> plan::ActiveModel {
    let (all_features, features) = features_columns(&p.features);
    plan::ActiveModel {
        id: Set(p.id.clone()),
        display_name: Set(p.display_name.clone()),
        description: Set(p.description.clone()),
        self_serve: Set(p.self_serve),
        all_features: Set(all_features),
        limits: Set(json(&p.capabilities.limits)),
        flags: Set(json(&p.capabilities.flags)),
        features: Set(features),
        create_time: Set(p.create_time),
        update_time: Set(p.update_time),
        version: Set(p.version),
    }
}

/// One plan.
pub async fn find(conn: &impl ConnectionTrait, id: &str) -> Result<Option<Plan>> {
    plan::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

/// One plan, row-locked until the transaction ends on PostgreSQL (SQLite
/// has one writer, which serialises the same way): shared by those that
/// move an organization onto it, exclusive for changing or deleting it, so
/// a plan cannot be deleted while an organization is being moved onto it.
pub async fn find_locked(
    conn: &impl ConnectionTrait,
    id: &str,
    exclusive: bool,
) -> Result<Option<Plan>> {
    let query = plan::Entity::find_by_id(id);
    let query = if exclusive {
        query.lock_exclusive()
    } else {
        query.lock_shared()
    };
    query.one(conn).await?.map(to_domain).transpose()
}

/// The plans with these ids (missing ones are left out).
pub async fn find_many(conn: &impl ConnectionTrait, ids: &BTreeSet<String>) -> Result<Vec<Plan>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    plan::Entity::find()
        .filter(plan::Column::Id.is_in(ids.iter().cloned()))
        .all(conn)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// Inserts a new plan.
pub async fn insert(conn: &impl ConnectionTrait, p: &Plan) -> Result<()> {
    plan::Entity::insert(active_model(p))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Inserts `p` unless a plan with its id exists (replicas starting at once
/// may both try). Returns whether it was inserted.
pub async fn insert_if_missing(conn: &impl ConnectionTrait, p: &Plan) -> Result<bool> {
    let inserted = plan::Entity::insert(active_model(p))
        .on_conflict(OnConflict::column(plan::Column::Id).do_nothing().to_owned())
        .exec_without_returning(conn)
        .await;
    match inserted {
        Ok(n) => Ok(n > 0),
        Err(sea_orm::DbErr::RecordNotInserted) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Applies `update` if the row is still at `expected_version`, bumping the
/// version and update time. Returns false on a concurrent change.
pub async fn update(
    conn: &impl ConnectionTrait,
    id: &str,
    expected_version: i64,
    update: &PlanUpdate,
) -> Result<bool> {
    let mut changes = plan::ActiveModel::default();
    if let Some(v) = &update.display_name {
        changes.display_name = Set(v.clone());
    }
    if let Some(v) = &update.description {
        changes.description = Set(v.clone());
    }
    if let Some(v) = update.self_serve {
        changes.self_serve = Set(v);
    }
    if let Some(c) = &update.capabilities {
        changes.limits = Set(json(&c.limits));
        changes.flags = Set(json(&c.flags));
    }
    if let Some(f) = &update.features {
        let (all_features, features) = features_columns(f);
        changes.all_features = Set(all_features);
        changes.features = Set(features);
    }
    changes.version = Set(expected_version + 1);
    changes.update_time = Set(chrono::Utc::now());
    let result = plan::Entity::update_many()
        .set(changes)
        .filter(plan::Column::Id.eq(id))
        .filter(plan::Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Deletes the plan if it is still at `expected_version`. Returns false on
/// a concurrent change.
pub async fn delete(conn: &impl ConnectionTrait, id: &str, expected_version: i64) -> Result<bool> {
    let result = plan::Entity::delete_many()
        .filter(plan::Column::Id.eq(id))
        .filter(plan::Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// One page of the plans `visible` allows, in id order.
pub async fn list(
    conn: &impl ConnectionTrait,
    visible: &Visible,
    page: &PageRequest,
) -> Result<Vec<Plan>> {
    let mut cond = Condition::all();
    if let Visible::SelfServeAnd(ids) = visible {
        cond = cond.add(
            Condition::any()
                .add(plan::Column::SelfServe.eq(true))
                .add(plan::Column::Id.is_in(ids.iter().cloned())),
        );
    }
    if let Some(after) = &page.after {
        cond = cond.add(plan::Column::Id.gt(after.as_str()));
    }
    plan::Entity::find()
        .filter(cond)
        .order_by_asc(plan::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}
