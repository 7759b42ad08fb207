//! `deployments`: A revision deployed into an environment.

use sea_orm::entity::prelude::*;

/// A `deployments` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployments")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// The environment.
    pub environment_id: String,
    /// The revision.
    pub revision_id: String,
    /// PENDING, ACTIVE, SUPERSEDED, FAILED or CANCELLED.
    pub state: String,
    /// Its DEPLOY operation.
    pub operation_id: String,
    /// Created.
    pub create_time: DateTimeUtc,
    /// State last changed.
    pub update_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
