//! Payment method storage. Secrets are stored only sealed.

use loopback_runtime::pagination::PageRequest;
use loopback_runtime::secrets::Sealed;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{Details, PaymentMethod};
use crate::entity::{onboarding_report, payment_method};
use crate::error::{Error, Result};

fn to_domain(m: payment_method::Model) -> Result<PaymentMethod> {
    let corrupt = |what: &str| Error::Corrupt(format!("payment method {}: {what}", m.id));
    let details = match m.kind.as_str() {
        "card" => Details::Card {
            brand: m.card_brand.clone().ok_or_else(|| corrupt("brand"))?,
            last4: m.card_last4.clone().ok_or_else(|| corrupt("last4"))?,
            exp_month: m.card_exp_month.ok_or_else(|| corrupt("exp_month"))?,
            exp_year: m.card_exp_year.ok_or_else(|| corrupt("exp_year"))?,
        },
        "sepa_debit" => Details::Sepa {
            iban_masked: m
                .iban_masked
                .clone()
                .ok_or_else(|| corrupt("iban_masked"))?,
            account_holder: m
                .account_holder
                .clone()
                .ok_or_else(|| corrupt("account_holder"))?,
            mandate_reference: m
                .mandate_reference
                .clone()
                .ok_or_else(|| corrupt("mandate_reference"))?,
            mandate_signature_time: m
                .mandate_signature_time
                .ok_or_else(|| corrupt("mandate_signature_time"))?,
        },
        other => return Err(corrupt(&format!("kind {other:?}"))),
    };
    Ok(PaymentMethod {
        id: Uuid::parse_str(&m.id).map_err(|_| corrupt("id"))?,
        organization: Uuid::parse_str(&m.organization_id).map_err(|_| corrupt("organization"))?,
        details,
        is_default: m.is_default,
        create_time: m.create_time,
    })
}

/// One payment method of `org`.
pub async fn find(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<Option<PaymentMethod>> {
    payment_method::Entity::find_by_id(id.to_string())
        .filter(payment_method::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

/// How many payment methods `org` has.
pub async fn count(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    Ok(payment_method::Entity::find()
        .filter(payment_method::Column::OrganizationId.eq(org.to_string()))
        .count(conn)
        .await?)
}

/// Stores a new payment method with its sealed secret.
pub async fn insert(conn: &impl ConnectionTrait, p: &PaymentMethod, secret: &Sealed) -> Result<()> {
    let mut row = payment_method::ActiveModel {
        id: Set(p.id.to_string()),
        organization_id: Set(p.organization.to_string()),
        secret_key_id: Set(secret.key_id.clone()),
        secret_ciphertext: Set(secret.ciphertext_b64()),
        is_default: Set(p.is_default),
        create_time: Set(p.create_time),
        request_id: Set(None),
        card_brand: Set(None),
        card_last4: Set(None),
        card_exp_month: Set(None),
        card_exp_year: Set(None),
        iban_masked: Set(None),
        account_holder: Set(None),
        mandate_reference: Set(None),
        mandate_signature_time: Set(None),
        kind: Set(String::new()),
    };
    match &p.details {
        Details::Card {
            brand,
            last4,
            exp_month,
            exp_year,
        } => {
            row.kind = Set("card".into());
            row.card_brand = Set(Some(brand.clone()));
            row.card_last4 = Set(Some(last4.clone()));
            row.card_exp_month = Set(Some(*exp_month));
            row.card_exp_year = Set(Some(*exp_year));
        }
        Details::Sepa {
            iban_masked,
            account_holder,
            mandate_reference,
            mandate_signature_time,
        } => {
            row.kind = Set("sepa_debit".into());
            row.iban_masked = Set(Some(iban_masked.clone()));
            row.account_holder = Set(Some(account_holder.clone()));
            row.mandate_reference = Set(Some(mandate_reference.clone()));
            row.mandate_signature_time = Set(Some(*mandate_signature_time));
        }
    }
    payment_method::Entity::insert(row)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// A page of `org`'s payment methods in creation order.
pub async fn list(
    conn: &impl ConnectionTrait,
    org: Uuid,
    page: &PageRequest,
) -> Result<Vec<PaymentMethod>> {
    let mut q = payment_method::Entity::find()
        .filter(payment_method::Column::OrganizationId.eq(org.to_string()));
    if let Some(after) = &page.after {
        q = q.filter(payment_method::Column::Id.gt(after.as_str()));
    }
    q.order_by_asc(payment_method::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// Makes `id` the only default of `org`.
pub async fn set_default(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<()> {
    payment_method::Entity::update_many()
        .col_expr(payment_method::Column::IsDefault, Expr::value(false))
        .filter(payment_method::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    payment_method::Entity::update_many()
        .col_expr(payment_method::Column::IsDefault, Expr::value(true))
        .filter(payment_method::Column::Id.eq(id.to_string()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes `id`; when it was the default, the oldest remaining method
/// becomes the default.
pub async fn delete(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
    was_default: bool,
) -> Result<()> {
    payment_method::Entity::delete_many()
        .filter(payment_method::Column::Id.eq(id.to_string()))
        .filter(payment_method::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    if was_default
        && let Some(next) = payment_method::Entity::find()
            .filter(payment_method::Column::OrganizationId.eq(org.to_string()))
            .order_by_asc(payment_method::Column::Id)
            .one(conn)
            .await?
    {
        payment_method::Entity::update_many()
            .col_expr(payment_method::Column::IsDefault, Expr::value(true))
            .filter(payment_method::Column::Id.eq(next.id))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Deletes every payment method of `org`, its sealed secret with it, and
/// its pending onboarding report (org-core forgot the organization).
/// Returns how many payment methods went.
pub async fn purge_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    onboarding_report::Entity::delete_many()
        .filter(onboarding_report::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    Ok(payment_method::Entity::delete_many()
        .filter(payment_method::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Organizations with payment methods, in id order after `after`, at most
/// `limit`.
pub async fn holders(
    conn: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    let mut q = payment_method::Entity::find()
        .select_only()
        .column(payment_method::Column::OrganizationId)
        .distinct();
    if let Some(after) = after {
        q = q.filter(payment_method::Column::OrganizationId.gt(after.to_string()));
    }
    let ids: Vec<String> = q
        .order_by_asc(payment_method::Column::OrganizationId)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    parse_ids(ids)
}

fn parse_ids(ids: Vec<String>) -> Result<Vec<Uuid>> {
    ids.iter()
        .map(|id| {
            Uuid::parse_str(id)
                .map_err(|_| Error::Corrupt(format!("payment method organization {id:?}")))
        })
        .collect()
}

/// The sealed secret of a payment method.
pub async fn sealed_secret(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<Option<Sealed>> {
    let Some(row) = payment_method::Entity::find_by_id(id.to_string())
        .filter(payment_method::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    Sealed::from_stored(&row.secret_key_id, &row.secret_ciphertext)
        .map(Some)
        .map_err(|e| Error::Corrupt(format!("payment method {id}: {e}")))
}

/// Records that `org`'s payment methods changed (inside the write): its
/// fact for org-core's onboarding checklist is pending again, at the next
/// revision.
pub async fn mark_changed(conn: &impl ConnectionTrait, org: Uuid) -> Result<()> {
    use sea_orm::sea_query::OnConflict;
    let now = chrono::Utc::now();
    onboarding_report::Entity::insert(onboarding_report::ActiveModel {
        organization_id: Set(org.to_string()),
        seq: Set(1),
        reported_seq: Set(0),
        update_time: Set(now),
    })
    .on_conflict(
        OnConflict::column(onboarding_report::Column::OrganizationId)
            .value(
                onboarding_report::Column::Seq,
                Expr::col((onboarding_report::Entity, onboarding_report::Column::Seq)).add(1),
            )
            .value(onboarding_report::Column::UpdateTime, Expr::value(now))
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Organizations whose fact org-core has not acknowledged yet, with the
/// revision to report (the oldest change first; `only` narrows it to one).
pub async fn pending_reports(
    conn: &impl ConnectionTrait,
    only: Option<Uuid>,
    limit: u64,
) -> Result<Vec<(Uuid, i64)>> {
    let mut q = onboarding_report::Entity::find().filter(
        Expr::col(onboarding_report::Column::Seq)
            .gt(Expr::col(onboarding_report::Column::ReportedSeq)),
    );
    if let Some(org) = only {
        q = q.filter(onboarding_report::Column::OrganizationId.eq(org.to_string()));
    }
    q.order_by_asc(onboarding_report::Column::UpdateTime)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| {
            let org = Uuid::parse_str(&r.organization_id).map_err(|_| {
                Error::Corrupt(format!("onboarding report {:?}", r.organization_id))
            })?;
            Ok((org, r.seq))
        })
        .collect()
}

/// Notes that org-core has `org`'s fact at revision `seq` (never going
/// back).
pub async fn acknowledge(conn: &impl ConnectionTrait, org: Uuid, seq: i64) -> Result<()> {
    onboarding_report::Entity::update_many()
        .col_expr(onboarding_report::Column::ReportedSeq, Expr::value(seq))
        .filter(onboarding_report::Column::OrganizationId.eq(org.to_string()))
        .filter(onboarding_report::Column::ReportedSeq.lt(seq))
        .exec(conn)
        .await?;
    Ok(())
}
