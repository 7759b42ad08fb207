//! Limit increase request storage.

use chrono::Utc;
use loopback_runtime::pagination::PageRequest;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{LimitRequest, state};
use crate::entity::limit_increase_request as lir;
use crate::error::Result;
use crate::model::parse_stored_uuid;

fn to_domain(m: lir::Model) -> Result<LimitRequest> {
    Ok(LimitRequest {
        id: parse_stored_uuid(&m.id)?,
        organization: parse_stored_uuid(&m.organization_id)?,
        limit: m.limit_key,
        requested_value: m.requested_value,
        current_value: m.current_value,
        justification: m.justification,
        state: m.state,
        requester: m.requester,
        decided_by: m.decided_by,
        decision_reason: m.decision_reason,
        create_time: m.create_time,
        decide_time: m.decide_time,
    })
}

/// Deletes every request of `org`. Returns how many went.
pub async fn purge_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    Ok(lir::Entity::delete_many()
        .filter(lir::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected)
}

/// One request of `org`.
pub async fn find(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<Option<LimitRequest>> {
    lir::Entity::find_by_id(id.to_string())
        .filter(lir::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

/// The open request of `org` for `limit`, if any.
pub async fn find_open(
    conn: &impl ConnectionTrait,
    org: Uuid,
    limit: &str,
) -> Result<Option<LimitRequest>> {
    lir::Entity::find()
        .filter(lir::Column::OrganizationId.eq(org.to_string()))
        .filter(lir::Column::LimitKey.eq(limit))
        .filter(lir::Column::State.eq(state::OPEN))
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

/// Inserts a new request.
pub async fn insert(conn: &impl ConnectionTrait, r: &LimitRequest) -> Result<()> {
    lir::Entity::insert(lir::ActiveModel {
        id: Set(r.id.to_string()),
        organization_id: Set(r.organization.to_string()),
        limit_key: Set(r.limit.clone()),
        requested_value: Set(r.requested_value),
        current_value: Set(r.current_value),
        justification: Set(r.justification.clone()),
        state: Set(r.state.clone()),
        requester: Set(r.requester.clone()),
        decided_by: Set(r.decided_by.clone()),
        decision_reason: Set(r.decision_reason.clone()),
        create_time: Set(r.create_time),
        decide_time: Set(r.decide_time),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Records a decision on a request.
pub async fn decide(
    conn: &impl ConnectionTrait,
    id: Uuid,
    new_state: &str,
    decided_by: &str,
    reason: &str,
) -> Result<()> {
    lir::Entity::update_many()
        .col_expr(lir::Column::State, Expr::value(new_state))
        .col_expr(lir::Column::DecidedBy, Expr::value(decided_by))
        .col_expr(lir::Column::DecisionReason, Expr::value(reason))
        .col_expr(lir::Column::DecideTime, Expr::value(Utc::now()))
        .filter(lir::Column::Id.eq(id.to_string()))
        .exec(conn)
        .await?;
    Ok(())
}

/// A page of requests in creation order, of one organization or all,
/// optionally in one state.
pub async fn list(
    conn: &impl ConnectionTrait,
    org: Option<Uuid>,
    only: Option<&str>,
    page: &PageRequest,
) -> Result<Vec<LimitRequest>> {
    let mut cond = Condition::all();
    if let Some(org) = org {
        cond = cond.add(lir::Column::OrganizationId.eq(org.to_string()));
    }
    if let Some(s) = only {
        cond = cond.add(lir::Column::State.eq(s));
    }
    if let Some(after) = &page.after {
        cond = cond.add(lir::Column::Id.gt(after.as_str()));
    }
    lir::Entity::find()
        .filter(cond)
        .order_by_asc(lir::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}
