//! `domain_claims`: which organization a verified domain name belongs to.

use sea_orm::entity::prelude::*;

/// A claim row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "domain_claims")]
pub struct Model {
    /// The verified name (primary key: one holder per name).
    #[sea_orm(primary_key, auto_increment = false)]
    pub domain_name: String,
    /// The holder.
    pub organization_id: String,
    /// The holder's domain record.
    pub domain_id: String,
    /// When it was verified.
    pub claim_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
