//! Usage counts and how far org-core has taken them.

use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::entity::usage_report;
use crate::error::{Error, Result};

/// A count waiting for org-core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Organization.
    pub organization: Uuid,
    /// Limit key.
    pub limit: String,
    /// Units in use.
    pub usage: i64,
    /// Its revision.
    pub revision: i64,
}

/// Stores `usage` as the next revision of `org`'s count of `limit`.
pub async fn upsert(conn: &impl ConnectionTrait, org: Uuid, limit: &str, usage: i64) -> Result<()> {
    let row = usage_report::ActiveModel {
        organization_id: Set(org.to_string()),
        limit_key: Set(limit.to_string()),
        usage: Set(usage),
        revision: Set(1),
        reported_revision: Set(0),
        update_time: Set(Utc::now()),
    };
    usage_report::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                usage_report::Column::OrganizationId,
                usage_report::Column::LimitKey,
            ])
            .update_columns([
                usage_report::Column::Usage,
                usage_report::Column::UpdateTime,
            ])
            .value(
                usage_report::Column::Revision,
                Expr::col((usage_report::Entity, usage_report::Column::Revision)).add(1),
            )
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Counts org-core has not taken yet, oldest change first.
pub async fn pending(conn: &impl ConnectionTrait, limit: u64) -> Result<Vec<Pending>> {
    usage_report::Entity::find()
        .filter(
            Expr::col(usage_report::Column::Revision)
                .gt(Expr::col(usage_report::Column::ReportedRevision)),
        )
        .order_by_asc(usage_report::Column::UpdateTime)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| {
            Ok(Pending {
                organization: Uuid::parse_str(&r.organization_id).map_err(|_| {
                    Error::Corrupt(format!("usage report of {:?}", r.organization_id))
                })?,
                limit: r.limit_key,
                usage: r.usage,
                revision: r.revision,
            })
        })
        .collect()
}

/// Notes that org-core has taken `revision` of `org`'s count of `limit`.
pub async fn mark_reported(
    conn: &impl ConnectionTrait,
    org: Uuid,
    limit: &str,
    revision: i64,
) -> Result<()> {
    usage_report::Entity::update_many()
        .col_expr(
            usage_report::Column::ReportedRevision,
            Expr::value(revision),
        )
        .filter(usage_report::Column::OrganizationId.eq(org.to_string()))
        .filter(usage_report::Column::LimitKey.eq(limit))
        .filter(usage_report::Column::ReportedRevision.lt(revision))
        .exec(conn)
        .await?;
    Ok(())
}

/// Removes an organization's usage counts (it was purged: org-core will
/// never take them).
pub async fn delete_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    Ok(usage_report::Entity::delete_many()
        .filter(usage_report::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Distinct organizations with usage counts, after `after`, at most
/// `limit`.
pub async fn holders(
    conn: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    let mut q = usage_report::Entity::find()
        .select_only()
        .column(usage_report::Column::OrganizationId)
        .distinct();
    if let Some(after) = after {
        q = q.filter(usage_report::Column::OrganizationId.gt(after.to_string()));
    }
    let rows: Vec<String> = q
        .order_by_asc(usage_report::Column::OrganizationId)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    rows.iter()
        .map(|o| Uuid::parse_str(o).map_err(|_| Error::Corrupt(format!("usage org {o}"))))
        .collect()
}
