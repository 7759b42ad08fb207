//! Delegations of name patterns in organization zones to projects and
//! workspaces, and an index for listing (and purging) a project's zones.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ZoneDelegations {
    Table,
    Id,
    OrganizationId,
    ZoneId,
    Pattern,
    ProjectId,
    WorkspaceId,
    Description,
    CreateTime,
}

#[derive(DeriveIden)]
enum Zones {
    Table,
    OrganizationId,
    ProjectId,
    DnsName,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ZoneDelegations::Table)
                .col(string_len(ZoneDelegations::Id, 36).primary_key())
                .col(string_len(ZoneDelegations::OrganizationId, 36))
                .col(string_len(ZoneDelegations::ZoneId, 36))
                .col(string_len(ZoneDelegations::Pattern, 255))
                .col(string_len(ZoneDelegations::ProjectId, 36))
                .col(string_len_null(ZoneDelegations::WorkspaceId, 63))
                .col(text(ZoneDelegations::Description))
                .col(timestamp_with_time_zone(ZoneDelegations::CreateTime))
                .to_owned(),
        )
        .await?;
        // A zone's delegations by pattern (lists, the overlap check).
        m.create_index(
            Index::create()
                .name("zone_delegations_zone_pattern")
                .table(ZoneDelegations::Table)
                .col(ZoneDelegations::ZoneId)
                .col(ZoneDelegations::Pattern)
                .col(ZoneDelegations::Id)
                .to_owned(),
        )
        .await?;
        // A project's delegations (purge, reconciliation).
        m.create_index(
            Index::create()
                .name("zone_delegations_org_project")
                .table(ZoneDelegations::Table)
                .col(ZoneDelegations::OrganizationId)
                .col(ZoneDelegations::ProjectId)
                .to_owned(),
        )
        .await?;
        // One scope's zones by name (ListZones of a project, purge).
        m.create_index(
            Index::create()
                .name("zones_org_project_dns_name")
                .table(Zones::Table)
                .col(Zones::OrganizationId)
                .col(Zones::ProjectId)
                .col(Zones::DnsName)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("zones_org_project_dns_name")
                .table(Zones::Table)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(ZoneDelegations::Table).to_owned())
            .await
    }
}
