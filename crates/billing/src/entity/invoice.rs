//! `invoices`: one per organization and billing period.

use sea_orm::entity::prelude::*;

/// An invoice row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoices")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// Billing period `YYYY-MM`.
    pub period: String,
    /// `draft`, `open`, `paid`, `void` or `uncollectible`.
    pub status: String,
    /// Invoice number, assigned on finalize.
    pub number: Option<String>,
    /// ISO 4217 currency.
    pub currency: String,
    /// Sum of the usage lines in minor units.
    pub subtotal: i64,
    /// Tax in minor units.
    pub tax: i64,
    /// Tax rate in basis points.
    pub tax_rate_bps: i32,
    /// Subtotal plus tax.
    pub total: i64,
    /// Creation time.
    pub create_time: DateTimeUtc,
    /// Last change.
    pub update_time: DateTimeUtc,
    /// When it was finalized.
    pub finalize_time: Option<DateTimeUtc>,
    /// When it was marked paid.
    pub paid_time: Option<DateTimeUtc>,
    /// When it was voided.
    pub void_time: Option<DateTimeUtc>,
    /// When it was marked uncollectible.
    pub uncollectible_time: Option<DateTimeUtc>,
    /// The organization's legal profile when it was finalized (JSON); NULL
    /// on drafts and when there was none.
    pub bill_to: Option<String>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
