//! `environment_variables`: A variable of an environment; secret values sealed.

use sea_orm::entity::prelude::*;

/// A `environment_variables` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "environment_variables")]
pub struct Model {
    /// UUIDv7 (binds the sealed value).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// The environment.
    pub environment_id: String,
    /// Order within the environment.
    pub position: i32,
    /// Variable name.
    pub name: String,
    /// Plain value (non-secret variables).
    #[sea_orm(column_type = "Text")]
    pub value: Option<String>,
    /// Whether the value is secret.
    pub secret: bool,
    /// Key id that sealed a secret value.
    pub secret_key_id: Option<String>,
    /// The sealed secret value.
    #[sea_orm(column_type = "Text")]
    pub secret_ciphertext: Option<String>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
