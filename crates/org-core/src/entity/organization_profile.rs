//! `organization_profiles`: each organization's legal profile.

use sea_orm::entity::prelude::*;

/// A legal profile row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organization_profiles")]
pub struct Model {
    /// The organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: String,
    /// Registered legal name.
    pub legal_name: String,
    /// Street address lines, a JSON array of strings.
    pub address_lines: String,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_code: String,
    /// Region.
    pub region: String,
    /// ISO 3166-1 alpha-2, upper case; empty until set.
    pub country: String,
    /// Normalised tax id; empty when none.
    pub tax_id: String,
    /// Normalised billing email; empty until set.
    pub billing_email: String,
    /// Bumped on every change; the etag.
    pub version: i64,
    /// Last change.
    pub update_time: DateTimeUtc,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
