//! `invoice_lines`: the lines of an invoice, in order.

use sea_orm::entity::prelude::*;

/// An invoice line row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoice_lines")]
pub struct Model {
    /// The invoice.
    #[sea_orm(primary_key, auto_increment = false)]
    pub invoice_id: String,
    /// Position on the invoice, from 0.
    #[sea_orm(primary_key, auto_increment = false)]
    pub position: i32,
    /// `usage` or `tax`.
    pub kind: String,
    /// Project id, or empty.
    pub project_id: String,
    /// Meter, or empty.
    pub meter: String,
    /// Description.
    pub description: String,
    /// Quantity.
    pub quantity: i64,
    /// Price per unit in minor units.
    pub unit_price: i64,
    /// Amount in minor units.
    pub amount: i64,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
