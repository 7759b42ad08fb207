//! `invoice_counters`: per organization, the last invoice number issued and
//! the lock row every invoice write transaction updates first.

use sea_orm::entity::prelude::*;

/// A counter row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoice_counters")]
pub struct Model {
    /// Organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: String,
    /// The last invoice number issued (0 before the first).
    pub last_number: i64,
    /// Bumped by every invoice write transaction, as its first statement.
    pub lock_seq: i64,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
