//! sea-orm storage of invoices, their lines and the per-organization
//! counter.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use loopback_runtime::pagination::PageRequest;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{BillTo, Invoice, InvoiceLine, InvoiceStatus, LineKind, ListFilter, Priced};
use crate::entity::{invoice, invoice_counter, invoice_line};
use crate::error::{Error, Result};

/// Advisory lock key of an organization's invoices on PostgreSQL.
fn advisory_key(org: Uuid) -> i64 {
    let v = org.as_u128();
    // Fold to 64 bits; a collision only serialises two organizations.
    let folded = ((v >> 64) as u64) ^ (v as u64) ^ 0x696e_766f_6963_6573; // "invoices"
    folded as i64
}

/// Called by every invoice write, under the organization's write lock:
/// creates the organization's counter row on first use and, on PostgreSQL,
/// takes the organization's advisory lock exclusively, which waits for
/// usage being recorded for `org` right now (see [`lock_shared`]).
pub async fn exclude_usage(conn: &impl ConnectionTrait, org: Uuid) -> Result<()> {
    invoice_counter::Entity::insert(invoice_counter::ActiveModel {
        organization_id: Set(org.to_string()),
        last_number: Set(0),
        lock_seq: Set(0),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(conn)
    .await?;
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock({})",
            advisory_key(org)
        ))
        .await?;
    }
    Ok(())
}

/// Taken (shared) by a transaction recording usage for `org` on PostgreSQL,
/// so an invoice cannot be finalized between the usage's check that its
/// period is still open and its commit. A no-op on SQLite, where the
/// recording is one statement under the database write lock.
pub async fn lock_shared(conn: &impl ConnectionTrait, org: Uuid) -> Result<()> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock_shared({})",
            advisory_key(org)
        ))
        .await?;
    }
    Ok(())
}

/// Periods from `period` on whose invoice is no longer a draft.
pub async fn closed_periods_from(
    conn: &impl ConnectionTrait,
    org: Uuid,
    period: &str,
) -> Result<BTreeSet<String>> {
    let periods: Vec<String> = invoice::Entity::find()
        .select_only()
        .column(invoice::Column::Period)
        .filter(invoice::Column::OrganizationId.eq(org.to_string()))
        .filter(invoice::Column::Period.gte(period))
        .filter(invoice::Column::Status.ne(InvoiceStatus::Draft.as_str()))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(periods.into_iter().collect())
}

/// How many invoices of `org` are open (finalized, not yet settled).
pub async fn count_open(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    use sea_orm::PaginatorTrait as _;
    Ok(invoice::Entity::find()
        .filter(invoice::Column::OrganizationId.eq(org.to_string()))
        .filter(invoice::Column::Status.eq(InvoiceStatus::Open.as_str()))
        .count(conn)
        .await?)
}

/// Deletes `org`'s draft invoices with their lines and its invoice counter,
/// keeping finalized invoices (open, paid, void, uncollectible) and their
/// lines. Call it after [`exclude_usage`]. Returns (drafts deleted,
/// finalized invoices kept).
pub async fn purge_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<(u64, u64)> {
    use sea_orm::PaginatorTrait as _;
    let drafts: Vec<String> = invoice::Entity::find()
        .select_only()
        .column(invoice::Column::Id)
        .filter(invoice::Column::OrganizationId.eq(org.to_string()))
        .filter(invoice::Column::Status.eq(InvoiceStatus::Draft.as_str()))
        .into_tuple()
        .all(conn)
        .await?;
    if !drafts.is_empty() {
        invoice_line::Entity::delete_many()
            .filter(invoice_line::Column::InvoiceId.is_in(drafts.iter().cloned()))
            .exec(conn)
            .await?;
    }
    let deleted = invoice::Entity::delete_many()
        .filter(invoice::Column::OrganizationId.eq(org.to_string()))
        .filter(invoice::Column::Status.eq(InvoiceStatus::Draft.as_str()))
        .exec(conn)
        .await?
        .rows_affected;
    invoice_counter::Entity::delete_by_id(org.to_string())
        .exec(conn)
        .await?;
    let kept = invoice::Entity::find()
        .filter(invoice::Column::OrganizationId.eq(org.to_string()))
        .count(conn)
        .await?;
    Ok((deleted, kept))
}

/// Organizations with a draft invoice or an invoice counter (what a purge
/// deletes), in id order after `after`, at most `limit`.
pub async fn holders(
    conn: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    let after = after.map(|a| a.to_string()).unwrap_or_default();
    let mut ids: Vec<String> = invoice::Entity::find()
        .select_only()
        .column(invoice::Column::OrganizationId)
        .distinct()
        .filter(invoice::Column::Status.eq(InvoiceStatus::Draft.as_str()))
        .filter(invoice::Column::OrganizationId.gt(after.as_str()))
        .order_by_asc(invoice::Column::OrganizationId)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    let counted: Vec<String> = invoice_counter::Entity::find()
        .select_only()
        .column(invoice_counter::Column::OrganizationId)
        .filter(invoice_counter::Column::OrganizationId.gt(after.as_str()))
        .order_by_asc(invoice_counter::Column::OrganizationId)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    ids.extend(counted);
    ids.sort();
    ids.dedup();
    ids.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    ids.iter()
        .map(|id| {
            Uuid::parse_str(id).map_err(|_| Error::Corrupt(format!("invoice organization {id:?}")))
        })
        .collect()
}

/// Takes the organization's next invoice number (under the organization's
/// write lock and [`exclude_usage`]).
pub async fn take_number(conn: &impl ConnectionTrait, org: Uuid) -> Result<i64> {
    invoice_counter::Entity::update_many()
        .col_expr(
            invoice_counter::Column::LastNumber,
            Expr::col(invoice_counter::Column::LastNumber).add(1),
        )
        .filter(invoice_counter::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    let counter = invoice_counter::Entity::find_by_id(org.to_string())
        .one(conn)
        .await?
        .ok_or_else(|| Error::Corrupt(format!("invoice counter of {org} missing")))?;
    Ok(counter.last_number)
}

fn line_rows(id: Uuid, priced: &Priced) -> Result<Vec<invoice_line::ActiveModel>> {
    priced
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Ok(invoice_line::ActiveModel {
                invoice_id: Set(id.to_string()),
                position: Set(i32::try_from(i)
                    .map_err(|_| Error::Corrupt("too many invoice lines".into()))?),
                kind: Set(l.kind.as_str().to_string()),
                project_id: Set(l.project.clone()),
                meter: Set(l.meter.clone()),
                description: Set(l.description.clone()),
                quantity: Set(l.quantity),
                unit_price: Set(l.unit_price),
                amount: Set(l.amount),
            })
        })
        .collect()
}

async fn insert_lines(conn: &impl ConnectionTrait, id: Uuid, priced: &Priced) -> Result<()> {
    let rows = line_rows(id, priced)?;
    // Bounded batches keep every statement under the backends' bind limits.
    for chunk in rows.chunks(500) {
        invoice_line::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

fn tax_rate(priced: &Priced) -> i32 {
    i32::try_from(priced.tax_rate_bps).unwrap_or(i32::MAX)
}

/// Inserts a new draft with its lines.
pub async fn insert_draft(
    conn: &impl ConnectionTrait,
    id: Uuid,
    org: Uuid,
    period: &str,
    priced: &Priced,
    now: DateTime<Utc>,
) -> Result<()> {
    invoice::Entity::insert(invoice::ActiveModel {
        id: Set(id.to_string()),
        organization_id: Set(org.to_string()),
        period: Set(period.to_string()),
        status: Set(InvoiceStatus::Draft.as_str().to_string()),
        number: Set(None),
        currency: Set(priced.currency.clone()),
        subtotal: Set(priced.subtotal),
        tax: Set(priced.tax),
        tax_rate_bps: Set(tax_rate(priced)),
        total: Set(priced.total),
        create_time: Set(now),
        update_time: Set(now),
        finalize_time: Set(None),
        paid_time: Set(None),
        void_time: Set(None),
        uncollectible_time: Set(None),
        bill_to: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    insert_lines(conn, id, priced).await
}

/// Replaces a draft's lines and totals. Only ever called on a draft, under
/// the organization's write lock; the status condition makes that explicit.
pub async fn reprice(
    conn: &impl ConnectionTrait,
    id: Uuid,
    priced: &Priced,
    now: DateTime<Utc>,
) -> Result<()> {
    let updated = invoice::Entity::update_many()
        .col_expr(
            invoice::Column::Currency,
            Expr::value(priced.currency.clone()),
        )
        .col_expr(invoice::Column::Subtotal, Expr::value(priced.subtotal))
        .col_expr(invoice::Column::Tax, Expr::value(priced.tax))
        .col_expr(invoice::Column::TaxRateBps, Expr::value(tax_rate(priced)))
        .col_expr(invoice::Column::Total, Expr::value(priced.total))
        .col_expr(invoice::Column::UpdateTime, Expr::value(now))
        .filter(invoice::Column::Id.eq(id.to_string()))
        .filter(invoice::Column::Status.eq(InvoiceStatus::Draft.as_str()))
        .exec(conn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(Error::Corrupt(format!(
            "invoice {id} is not a draft: its lines are final"
        )));
    }
    invoice_line::Entity::delete_many()
        .filter(invoice_line::Column::InvoiceId.eq(id.to_string()))
        .exec(conn)
        .await?;
    insert_lines(conn, id, priced).await
}

/// Copies the bill-to into a draft about to be finalized (under the
/// organization's write lock; the status condition makes sure a finalized
/// invoice's bill-to is never rewritten).
pub async fn set_bill_to(
    conn: &impl ConnectionTrait,
    id: Uuid,
    bill_to: Option<&BillTo>,
) -> Result<()> {
    let json = bill_to
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| Error::Corrupt(format!("invoice {id} bill-to: {e}")))?;
    let updated = invoice::Entity::update_many()
        .col_expr(invoice::Column::BillTo, Expr::value(json))
        .filter(invoice::Column::Id.eq(id.to_string()))
        .filter(invoice::Column::Status.eq(InvoiceStatus::Draft.as_str()))
        .exec(conn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(Error::Corrupt(format!(
            "invoice {id} is not a draft: its bill-to is final"
        )));
    }
    Ok(())
}

/// Moves an invoice from `from` to `to` (conditional on it still being
/// `from`), stamping the time of the new status and the number, if given.
/// False when it was not in `from`.
pub async fn set_status(
    conn: &impl ConnectionTrait,
    id: Uuid,
    from: InvoiceStatus,
    to: InvoiceStatus,
    number: Option<String>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut q = invoice::Entity::update_many()
        .col_expr(invoice::Column::Status, Expr::value(to.as_str()))
        .col_expr(invoice::Column::UpdateTime, Expr::value(now));
    let stamp = match to {
        InvoiceStatus::Draft => None,
        InvoiceStatus::Open => Some(invoice::Column::FinalizeTime),
        InvoiceStatus::Paid => Some(invoice::Column::PaidTime),
        InvoiceStatus::Void => Some(invoice::Column::VoidTime),
        InvoiceStatus::Uncollectible => Some(invoice::Column::UncollectibleTime),
    };
    if let Some(column) = stamp {
        q = q.col_expr(column, Expr::value(now));
    }
    if let Some(number) = number {
        q = q.col_expr(invoice::Column::Number, Expr::value(number));
    }
    let updated = q
        .filter(invoice::Column::Id.eq(id.to_string()))
        .filter(invoice::Column::Status.eq(from.as_str()))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

fn to_domain(m: invoice::Model, lines: Vec<invoice_line::Model>) -> Result<Invoice> {
    let corrupt = |what: &str| Error::Corrupt(format!("invoice {}: {what}", m.id));
    let lines = lines
        .into_iter()
        .map(|l| {
            let kind = match l.kind.as_str() {
                "usage" => LineKind::Usage,
                "tax" => LineKind::Tax,
                other => return Err(corrupt(&format!("line kind {other:?}"))),
            };
            Ok(InvoiceLine {
                kind,
                project: l.project_id,
                meter: l.meter,
                description: l.description,
                quantity: l.quantity,
                unit_price: l.unit_price,
                amount: l.amount,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let bill_to = m
        .bill_to
        .as_deref()
        .map(serde_json::from_str::<BillTo>)
        .transpose()
        .map_err(|_| corrupt("bill-to"))?;
    Ok(Invoice {
        bill_to,
        id: Uuid::parse_str(&m.id).map_err(|_| corrupt("id"))?,
        organization: Uuid::parse_str(&m.organization_id).map_err(|_| corrupt("organization"))?,
        status: InvoiceStatus::parse(&m.status).ok_or_else(|| corrupt("status"))?,
        tax_rate_bps: u32::try_from(m.tax_rate_bps).map_err(|_| corrupt("tax rate"))?,
        period: m.period,
        number: m.number,
        currency: m.currency,
        lines,
        subtotal: m.subtotal,
        tax: m.tax,
        total: m.total,
        create_time: m.create_time,
        update_time: m.update_time,
        finalize_time: m.finalize_time,
        paid_time: m.paid_time,
        void_time: m.void_time,
        uncollectible_time: m.uncollectible_time,
    })
}

/// Loads the lines of `rows` and builds the invoices, in the rows' order.
async fn with_lines(
    conn: &impl ConnectionTrait,
    rows: Vec<invoice::Model>,
) -> Result<Vec<Invoice>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut lines: HashMap<String, Vec<invoice_line::Model>> = HashMap::new();
    for l in invoice_line::Entity::find()
        .filter(invoice_line::Column::InvoiceId.is_in(ids))
        .order_by_asc(invoice_line::Column::InvoiceId)
        .order_by_asc(invoice_line::Column::Position)
        .all(conn)
        .await?
    {
        lines.entry(l.invoice_id.clone()).or_default().push(l);
    }
    rows.into_iter()
        .map(|r| {
            let own = lines.remove(&r.id).unwrap_or_default();
            to_domain(r, own)
        })
        .collect()
}

/// One invoice of `org`.
pub async fn find(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<Option<Invoice>> {
    let Some(row) = invoice::Entity::find_by_id(id.to_string())
        .filter(invoice::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(with_lines(conn, vec![row]).await?.pop())
}

/// The invoice of `org` for `period`.
pub async fn find_by_period(
    conn: &impl ConnectionTrait,
    org: Uuid,
    period: &str,
) -> Result<Option<Invoice>> {
    let Some(row) = invoice::Entity::find()
        .filter(invoice::Column::OrganizationId.eq(org.to_string()))
        .filter(invoice::Column::Period.eq(period))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(with_lines(conn, vec![row]).await?.pop())
}

/// A page of invoices of `org` in creation order.
pub async fn list(
    conn: &impl ConnectionTrait,
    org: Uuid,
    filter: &ListFilter,
    page: &PageRequest,
) -> Result<Vec<Invoice>> {
    let (after, limit) = (page.after.as_deref(), page.fetch_limit());
    let mut q = invoice::Entity::find().filter(invoice::Column::OrganizationId.eq(org.to_string()));
    if let Some(status) = filter.status {
        q = q.filter(invoice::Column::Status.eq(status.as_str()));
    }
    if let Some(period) = &filter.period {
        q = q.filter(invoice::Column::Period.eq(period.as_str()));
    }
    if let Some(after) = after {
        q = q.filter(invoice::Column::Id.gt(after));
    }
    let rows = q
        .order_by_asc(invoice::Column::Id)
        .limit(limit)
        .all(conn)
        .await?;
    with_lines(conn, rows).await
}
