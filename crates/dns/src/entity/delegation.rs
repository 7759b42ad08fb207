//! `zone_delegations`: name patterns of organization zones delegated to a
//! project or a workspace.

use sea_orm::entity::prelude::*;

/// A delegation row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "zone_delegations")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// The zone (an organization-scope zone).
    pub zone_id: String,
    /// The pattern: a name, or `*.` and a name; canonical, trailing dot.
    pub pattern: String,
    /// The project delegated to (or the workspace's project).
    pub project_id: String,
    /// The workspace delegated to, if any.
    pub workspace_id: Option<String>,
    /// Description.
    pub description: String,
    /// Creation time.
    pub create_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
