//! Payment methods: cards as processor tokens, SEPA mandates with sealed
//! IBANs. Authorization (permission, status, flags) is decided by org-core
//! through the authority client before these run.

pub mod card_numbers;
pub mod grpc;

use chrono::{DateTime, Utc};
use loopback_runtime::db::is_unique_violation;
use loopback_runtime::pagination::PageRequest;
use loopback_runtime::secrets::Sealed;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use uuid::Uuid;

use crate::Billing;
use crate::entity::{invoice, payment_method};
use crate::error::{Error, Result};

/// What a payment method is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Details {
    /// A card, known by the processor's token.
    Card {
        /// Brand.
        brand: String,
        /// Last four digits.
        last4: String,
        /// Expiry month.
        exp_month: i32,
        /// Expiry year.
        exp_year: i32,
    },
    /// SEPA direct debit.
    Sepa {
        /// Masked IBAN.
        iban_masked: String,
        /// Account holder.
        account_holder: String,
        /// Mandate reference.
        mandate_reference: String,
        /// Mandate signature time.
        mandate_signature_time: DateTime<Utc>,
    },
}

/// A payment method as the API shows it (no secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethod {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// Details.
    pub details: Details,
    /// Whether it is the default.
    pub is_default: bool,
    /// Creation time.
    pub create_time: DateTime<Utc>,
}

impl PaymentMethod {
    /// `organizations/{org}/paymentMethods/{id}`.
    pub fn name(&self) -> String {
        format!(
            "organizations/{}/paymentMethods/{}",
            self.organization, self.id
        )
    }
}

/// A new payment method with its secret (processor token or IBAN).
#[derive(Debug, Clone)]
pub struct NewPaymentMethod {
    /// Details.
    pub details: Details,
    /// The processor token or the IBAN (electronic format).
    pub secret: String,
}

/// The associated data binding a sealed secret to its row.
pub fn secret_aad(id: Uuid) -> String {
    format!("paymentMethods/{id}/secret")
}

/// Masks an IBAN: country code and check digits, then the last four.
pub fn mask_iban(iban: &str) -> String {
    let n = iban.len();
    if n <= 8 {
        return "*".repeat(n);
    }
    format!("{}{}{}", &iban[..4], "*".repeat(n - 8), &iban[n - 4..])
}

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

impl Billing {
    async fn find_payment_method(
        &self,
        conn: &impl sea_orm::ConnectionTrait,
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

    /// Adds a payment method; the first one becomes the default.
    pub async fn create_payment_method(
        &self,
        org: Uuid,
        new: NewPaymentMethod,
        request_id: Option<String>,
        validate_only: bool,
    ) -> Result<PaymentMethod> {
        let db = self.db();
        if let Some(rid) = &request_id
            && let Some(existing) = payment_method::Entity::find()
                .filter(payment_method::Column::OrganizationId.eq(org.to_string()))
                .filter(payment_method::Column::RequestId.eq(rid.as_str()))
                .one(db)
                .await?
        {
            return to_domain(existing);
        }
        let id = Uuid::now_v7();
        let sealed = self
            .keyring()
            .seal_str(&new.secret, &secret_aad(id))
            .map_err(|e| Error::Corrupt(format!("sealing a payment secret: {e}")))?;
        let txn = db.begin().await?;
        let existing = payment_method::Entity::find()
            .filter(payment_method::Column::OrganizationId.eq(org.to_string()))
            .count(&txn)
            .await?;
        let mut row = payment_method::ActiveModel {
            id: Set(id.to_string()),
            organization_id: Set(org.to_string()),
            secret_key_id: Set(sealed.key_id.clone()),
            secret_ciphertext: Set(sealed.ciphertext_b64()),
            is_default: Set(existing == 0),
            create_time: Set(Utc::now()),
            request_id: Set(request_id.clone()),
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
        match &new.details {
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
        match payment_method::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
        {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) && request_id.is_some() => {
                drop(txn);
                let existing = payment_method::Entity::find()
                    .filter(payment_method::Column::OrganizationId.eq(org.to_string()))
                    .filter(payment_method::Column::RequestId.eq(request_id.unwrap_or_default()))
                    .one(db)
                    .await?
                    .ok_or(Error::Db(e))?;
                return to_domain(existing);
            }
            Err(e) => return Err(e.into()),
        }
        let created = self
            .find_payment_method(&txn, org, id)
            .await?
            .ok_or_else(|| {
                Error::Corrupt("payment method vanished inside its transaction".into())
            })?;
        if validate_only {
            txn.rollback().await?;
        } else {
            txn.commit().await?;
        }
        Ok(created)
    }

    /// One payment method.
    pub async fn get_payment_method(&self, org: Uuid, id: Uuid) -> Result<PaymentMethod> {
        self.find_payment_method(self.db(), org, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("organizations/{org}/paymentMethods/{id}")))
    }

    /// A page of payment methods in creation order.
    pub async fn list_payment_methods(
        &self,
        org: Uuid,
        page: PageRequest,
    ) -> Result<(Vec<PaymentMethod>, String)> {
        let mut q = payment_method::Entity::find()
            .filter(payment_method::Column::OrganizationId.eq(org.to_string()));
        if let Some(after) = &page.after {
            q = q.filter(payment_method::Column::Id.gt(after.as_str()));
        }
        let rows = q
            .order_by_asc(payment_method::Column::Id)
            .limit(page.fetch_limit())
            .all(self.db())
            .await?
            .into_iter()
            .map(to_domain)
            .collect::<Result<Vec<_>>>()?;
        Ok(page.finish(rows, |p| p.id.to_string()))
    }

    /// Makes a payment method the default.
    pub async fn set_default_payment_method(&self, org: Uuid, id: Uuid) -> Result<PaymentMethod> {
        let txn = self.db().begin().await?;
        self.find_payment_method(&txn, org, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("organizations/{org}/paymentMethods/{id}")))?;
        payment_method::Entity::update_many()
            .col_expr(payment_method::Column::IsDefault, Expr::value(false))
            .filter(payment_method::Column::OrganizationId.eq(org.to_string()))
            .exec(&txn)
            .await?;
        payment_method::Entity::update_many()
            .col_expr(payment_method::Column::IsDefault, Expr::value(true))
            .filter(payment_method::Column::Id.eq(id.to_string()))
            .exec(&txn)
            .await?;
        let updated = self
            .find_payment_method(&txn, org, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("organizations/{org}/paymentMethods/{id}")))?;
        txn.commit().await?;
        Ok(updated)
    }

    /// Removes a payment method. The default cannot go while invoices are
    /// open (set another default first); otherwise, if it was the default,
    /// the oldest remaining one becomes the default.
    pub async fn delete_payment_method(
        &self,
        org: Uuid,
        id: Uuid,
        validate_only: bool,
    ) -> Result<PaymentMethod> {
        let txn = self.db().begin().await?;
        let method = self
            .find_payment_method(&txn, org, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("organizations/{org}/paymentMethods/{id}")))?;
        if method.is_default {
            let open = invoice::Entity::find()
                .filter(invoice::Column::OrganizationId.eq(org.to_string()))
                .filter(invoice::Column::Status.eq(crate::invoices::Status::Open.as_str()))
                .count(&txn)
                .await?;
            if open > 0 {
                return Err(Error::FailedPrecondition {
                    reason: "DEFAULT_PAYMENT_METHOD_IN_USE",
                    message: format!(
                        "{} is the default payment method and {open} invoice(s) are open: set another default first",
                        method.name()
                    ),
                });
            }
        }
        payment_method::Entity::delete_many()
            .filter(payment_method::Column::Id.eq(id.to_string()))
            .exec(&txn)
            .await?;
        if method.is_default
            && let Some(next) = payment_method::Entity::find()
                .filter(payment_method::Column::OrganizationId.eq(org.to_string()))
                .order_by_asc(payment_method::Column::Id)
                .one(&txn)
                .await?
        {
            payment_method::Entity::update_many()
                .col_expr(payment_method::Column::IsDefault, Expr::value(true))
                .filter(payment_method::Column::Id.eq(next.id))
                .exec(&txn)
                .await?;
        }
        if validate_only {
            txn.rollback().await?;
        } else {
            txn.commit().await?;
        }
        Ok(method)
    }

    /// The stored secret (processor token or IBAN) of a payment method, for
    /// charging.
    pub async fn payment_method_secret(&self, org: Uuid, id: Uuid) -> Result<String> {
        let row = payment_method::Entity::find_by_id(id.to_string())
            .filter(payment_method::Column::OrganizationId.eq(org.to_string()))
            .one(self.db())
            .await?
            .ok_or_else(|| Error::NotFound(format!("organizations/{org}/paymentMethods/{id}")))?;
        let sealed = Sealed::from_stored(&row.secret_key_id, &row.secret_ciphertext)
            .map_err(|e| Error::Corrupt(format!("payment method {id}: {e}")))?;
        self.keyring()
            .open_str(&sealed, &secret_aad(id))
            .map_err(|e| Error::Corrupt(format!("payment method {id}: {e}")))
    }
}
