//! `projects`: projects inside organizations.

use sea_orm::entity::prelude::*;

/// A project row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "projects")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Owning organization.
    pub organization_id: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Labels as a JSON object of strings.
    pub labels: String,
    /// `ACTIVE` or `DELETED`.
    pub state: String,
    /// Creation time.
    pub create_time: DateTimeUtc,
    /// Last change.
    pub update_time: DateTimeUtc,
    /// Soft-delete time.
    pub delete_time: Option<DateTimeUtc>,
    /// Purge time.
    pub purge_time: Option<DateTimeUtc>,
    /// Bumped on every change; the etag.
    pub version: i64,
    /// Idempotency key of the create.
    pub request_id: Option<String>,
    /// True when the project was deleted by its organization's forced
    /// delete, so that undeleting the organization restores exactly these.
    pub deleted_with_organization: bool,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
