//! Payment methods: cards as processor tokens, SEPA mandates with sealed
//! IBANs. The first one an organization adds is its default; the default
//! cannot go while invoices are open. Whether an organization has one is an
//! item of org-core's onboarding checklist, which billing reports
//! ([`onboarding`]).

pub mod card_numbers;
pub mod grpc;
pub mod onboarding;
pub mod store;

use chrono::{DateTime, Utc};
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::Refusal;
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::tx::WriteOptions;
use serde_json::json;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::{Billing, rpcs};

/// The flag that allows SEPA direct debit.
pub const SEPA_FLAG: &str = "sepa_payment_allowed";

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

/// The associated data binding a sealed secret to its row (`id` is the
/// payment method's id).
pub fn secret_aad(id: &str) -> String {
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

loopback_runtime::resource_name! {
    /// `organizations/{org}/paymentMethods/{id}`, parsed.
    pub struct PaymentMethodName = "paymentMethods", id: Uuid;
}

/// CreatePaymentMethod, validated.
#[derive(Debug, Clone)]
pub struct CreatePaymentMethod {
    /// The organization.
    pub organization: Uuid,
    /// The method and its secret.
    pub method: NewPaymentMethod,
    /// `request_id` and `validate_only`.
    pub write: WriteOptions,
}

/// ListPaymentMethods, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPaymentMethods {
    /// The organization.
    pub organization: Uuid,
    /// Size and position.
    pub page: PageRequest,
}

/// DeletePaymentMethod, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletePaymentMethod {
    /// The payment method.
    pub name: PaymentMethodName,
    /// Check only.
    pub validate_only: bool,
}

/// What the audit log may say about a payment method: never a secret.
fn audit_details(p: &PaymentMethod) -> serde_json::Value {
    match &p.details {
        Details::Card { brand, last4, .. } => {
            json!({ "kind": "card", "brand": brand, "last4": last4, "is_default": p.is_default })
        }
        Details::Sepa { iban_masked, .. } => {
            json!({ "kind": "sepa_debit", "iban_masked": iban_masked, "is_default": p.is_default })
        }
    }
}

/// Deletes every payment method of `org`, the sealed processor token or
/// IBAN with it (the organization was purged: call it inside billing's
/// purge transaction). Returns how many went.
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<u64> {
    store::purge_organization(conn, org).await
}

/// Organizations with payment methods, in id order after `after`, at most
/// `limit` (for the purge reconciliation).
pub async fn holders(conn: &impl Conn, after: Option<Uuid>, limit: u64) -> Result<Vec<Uuid>> {
    store::holders(conn, after, limit).await
}

impl Billing {
    /// Adds a payment method; the first one becomes the default. SEPA needs
    /// the organization's `sepa_payment_allowed` flag.
    pub async fn create_payment_method(
        &self,
        principal: &Principal,
        input: CreatePaymentMethod,
    ) -> Result<PaymentMethod> {
        let rpc = &rpcs::CREATE_PAYMENT_METHOD;
        let org = input.organization;
        let policy = self.authorize(principal, rpc, org).await?;
        if matches!(input.method.details, Details::Sepa { .. }) && !policy.flag(SEPA_FLAG) {
            return Err(Refusal::CapabilityDisabled {
                flag: SEPA_FLAG.into(),
                message: format!(
                    "SEPA direct debit is not enabled for organizations/{org}: ask your operator to enable {SEPA_FLAG}"
                ),
            }
            .into());
        }
        let validate_only = input.write.validate_only;
        let mut tx = self.begin_write(org, rpc, principal, input.write).await?;
        if let Some(id) = tx.replayed_id() {
            return self
                .payment_method_in(
                    tx.conn(),
                    PaymentMethodName {
                        organization: org,
                        id,
                    },
                )
                .await;
        }
        let id = Uuid::now_v7();
        let sealed = self
            .keyring()
            .seal_str(&input.method.secret, &secret_aad(&id.to_string()))
            .map_err(|e| Error::Corrupt(format!("sealing a payment secret: {e}")))?;
        let created = PaymentMethod {
            id,
            organization: org,
            details: input.method.details,
            is_default: store::count(tx.conn(), org).await? == 0,
            create_time: Utc::now(),
        };
        store::insert(tx.conn(), &created, &sealed).await?;
        store::mark_changed(tx.conn(), org).await?;
        tx.created(id);
        tx.audit(created.name(), audit_details(&created));
        tx.commit().await?;
        if !validate_only {
            self.report_payment_method_now(org).await;
        }
        Ok(created)
    }

    /// One payment method.
    pub async fn get_payment_method(
        &self,
        principal: &Principal,
        name: PaymentMethodName,
    ) -> Result<PaymentMethod> {
        self.authorize(principal, &rpcs::GET_PAYMENT_METHOD, name.organization)
            .await?;
        self.payment_method_in(self.db(), name).await
    }

    /// A page of payment methods in creation order.
    pub async fn list_payment_methods(
        &self,
        principal: &Principal,
        input: ListPaymentMethods,
    ) -> Result<Page<PaymentMethod>> {
        self.authorize(principal, &rpcs::LIST_PAYMENT_METHODS, input.organization)
            .await?;
        let rows = store::list(self.db(), input.organization, &input.page).await?;
        Ok(input.page.page(rows, |p| p.id.to_string()))
    }

    /// Makes a payment method the default.
    pub async fn set_default_payment_method(
        &self,
        principal: &Principal,
        name: PaymentMethodName,
    ) -> Result<PaymentMethod> {
        let rpc = &rpcs::SET_DEFAULT_PAYMENT_METHOD;
        self.authorize(principal, rpc, name.organization).await?;
        let mut tx = self
            .begin_write(name.organization, rpc, principal, WriteOptions::plain())
            .await?;
        self.payment_method_in(tx.conn(), name).await?;
        store::set_default(tx.conn(), name.organization, name.id).await?;
        let updated = self.payment_method_in(tx.conn(), name).await?;
        tx.audit(name.to_string(), audit_details(&updated));
        tx.commit().await?;
        Ok(updated)
    }

    /// Removes a payment method. The default cannot go while invoices are
    /// open (set another default first); otherwise, if it was the default,
    /// the oldest remaining one becomes the default.
    pub async fn delete_payment_method(
        &self,
        principal: &Principal,
        input: DeletePaymentMethod,
    ) -> Result<PaymentMethod> {
        let rpc = &rpcs::DELETE_PAYMENT_METHOD;
        let name = input.name;
        self.authorize(principal, rpc, name.organization).await?;
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let method = self.payment_method_in(tx.conn(), name).await?;
        if method.is_default {
            let open = self
                .open_invoice_count(tx.conn(), name.organization)
                .await?;
            if open > 0 {
                return Err(Refusal::precondition(
                    "DEFAULT_PAYMENT_METHOD_IN_USE",
                    format!(
                        "{name} is the default payment method and {open} invoice(s) are open: set another default first"
                    ),
                )
                .into());
            }
        }
        store::delete(tx.conn(), name.organization, name.id, method.is_default).await?;
        store::mark_changed(tx.conn(), name.organization).await?;
        tx.audit(name.to_string(), audit_details(&method));
        tx.commit().await?;
        if !input.validate_only {
            self.report_payment_method_now(name.organization).await;
        }
        Ok(method)
    }

    /// The stored secret (processor token or IBAN) of a payment method, for
    /// charging. Not reachable over the API.
    pub async fn payment_method_secret(&self, name: PaymentMethodName) -> Result<String> {
        let sealed = store::sealed_secret(self.db(), name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))?;
        self.keyring()
            .open_str(&sealed, &secret_aad(&name.id.to_string()))
            .map_err(|e| Error::Corrupt(format!("{name}: {e}")))
    }

    /// A payment method; NOT_FOUND when missing or another organization's.
    async fn payment_method_in(
        &self,
        conn: &impl Conn,
        name: PaymentMethodName,
    ) -> Result<PaymentMethod> {
        store::find(conn, name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }
}
