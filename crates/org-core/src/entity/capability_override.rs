//! `capability_overrides`: per-organization limit and flag overrides.

use sea_orm::entity::prelude::*;

/// One override.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "capability_overrides")]
pub struct Model {
    /// Organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: String,
    /// Limit or flag key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// Value of a limit override.
    pub limit_value: Option<i64>,
    /// Value of a flag override.
    pub flag_value: Option<bool>,
    /// When it was set.
    pub update_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
