//! `payment_methods`: cards (processor tokens) and SEPA mandates.

use sea_orm::entity::prelude::*;

/// A payment method row. The processor token and the IBAN are stored only
/// sealed (key id beside the ciphertext).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_methods")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// `card` or `sepa_debit`.
    pub kind: String,
    /// Key id that sealed `secret_ciphertext`.
    pub secret_key_id: String,
    /// The sealed processor token (cards) or IBAN (SEPA).
    pub secret_ciphertext: String,
    /// Card brand.
    pub card_brand: Option<String>,
    /// Card last four digits.
    pub card_last4: Option<String>,
    /// Card expiry month.
    pub card_exp_month: Option<i32>,
    /// Card expiry year.
    pub card_exp_year: Option<i32>,
    /// Masked IBAN.
    pub iban_masked: Option<String>,
    /// Account holder.
    pub account_holder: Option<String>,
    /// Mandate reference.
    pub mandate_reference: Option<String>,
    /// Mandate signature time.
    pub mandate_signature_time: Option<DateTimeUtc>,
    /// Whether this is the default.
    pub is_default: bool,
    /// Creation time.
    pub create_time: DateTimeUtc,
    /// Idempotency key of the create.
    pub request_id: Option<String>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
