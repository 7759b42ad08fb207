//! Domains and their ownership claims, zones (with a nullable project for
//! project-scoped zones), records (indexed for keyset pages by owner name
//! and type), network bridges, and the usage counts waiting to be reported
//! to org-core.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Domains {
    Table,
    Id,
    OrganizationId,
    DomainName,
    Registrar,
    RegistrationTime,
    ExpireTime,
    AutoRenew,
    State,
    VerificationToken,
    VerifyTime,
    Version,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum DomainClaims {
    Table,
    DomainName,
    OrganizationId,
    DomainId,
    ClaimTime,
}

#[derive(DeriveIden)]
enum Zones {
    Table,
    Id,
    OrganizationId,
    ProjectId,
    DnsName,
    Description,
    DefaultTtl,
    Serial,
    RecordCount,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum Records {
    Table,
    Id,
    ZoneId,
    OrganizationId,
    Owner,
    RecordType,
    Ttl,
    Data,
    Version,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum NetworkBridges {
    Table,
    Id,
    OrganizationId,
    DisplayName,
    State,
    StateReason,
    EndpointA,
    EndpointB,
    Version,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum UsageReports {
    Table,
    OrganizationId,
    LimitKey,
    Usage,
    Revision,
    ReportedRevision,
    UpdateTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Domains::Table)
                .col(string_len(Domains::Id, 36).primary_key())
                .col(string_len(Domains::OrganizationId, 36))
                .col(string_len(Domains::DomainName, 253))
                .col(string_len(Domains::Registrar, 800))
                .col(timestamp_with_time_zone_null(Domains::RegistrationTime))
                .col(timestamp_with_time_zone_null(Domains::ExpireTime))
                .col(boolean(Domains::AutoRenew))
                .col(string_len(Domains::State, 32))
                .col(string_len(Domains::VerificationToken, 128))
                .col(timestamp_with_time_zone_null(Domains::VerifyTime))
                .col(big_integer(Domains::Version))
                .col(timestamp_with_time_zone(Domains::CreateTime))
                .col(timestamp_with_time_zone(Domains::UpdateTime))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("domains_org_name")
                .table(Domains::Table)
                .col(Domains::OrganizationId)
                .col(Domains::DomainName)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("domains_state_expiry")
                .table(Domains::Table)
                .col(Domains::State)
                .col(Domains::ExpireTime)
                .to_owned(),
        )
        .await?;
        // One row per verified name: the primary key makes "a verified
        // name belongs to one organization" hold across organizations
        // (whose writes do not share a lock).
        m.create_table(
            Table::create()
                .table(DomainClaims::Table)
                .col(string_len(DomainClaims::DomainName, 253).primary_key())
                .col(string_len(DomainClaims::OrganizationId, 36))
                .col(string_len(DomainClaims::DomainId, 36))
                .col(timestamp_with_time_zone(DomainClaims::ClaimTime))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Zones::Table)
                .col(string_len(Zones::Id, 36).primary_key())
                .col(string_len(Zones::OrganizationId, 36))
                // Set for project-scoped zones; NULL for organization zones.
                .col(string_len_null(Zones::ProjectId, 36))
                .col(string_len(Zones::DnsName, 255))
                .col(text(Zones::Description))
                .col(integer(Zones::DefaultTtl))
                .col(big_integer(Zones::Serial))
                .col(big_integer(Zones::RecordCount))
                .col(timestamp_with_time_zone(Zones::CreateTime))
                .col(timestamp_with_time_zone(Zones::UpdateTime))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("zones_org_dns_name")
                .table(Zones::Table)
                .col(Zones::OrganizationId)
                .col(Zones::DnsName)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Records::Table)
                .col(string_len(Records::Id, 36).primary_key())
                .col(string_len(Records::ZoneId, 36))
                .col(string_len(Records::OrganizationId, 36))
                .col(string_len(Records::Owner, 255))
                .col(string_len(Records::RecordType, 8))
                .col(integer(Records::Ttl))
                .col(text(Records::Data))
                .col(big_integer(Records::Version))
                .col(timestamp_with_time_zone(Records::CreateTime))
                .col(timestamp_with_time_zone(Records::UpdateTime))
                .to_owned(),
        )
        .await?;
        // Keyset pages by (owner, type, id), optionally of one owner.
        m.create_index(
            Index::create()
                .name("records_zone_owner_type_id")
                .table(Records::Table)
                .col(Records::ZoneId)
                .col(Records::Owner)
                .col(Records::RecordType)
                .col(Records::Id)
                .to_owned(),
        )
        .await?;
        // The same pages when only one type is asked for.
        m.create_index(
            Index::create()
                .name("records_zone_type_owner_id")
                .table(Records::Table)
                .col(Records::ZoneId)
                .col(Records::RecordType)
                .col(Records::Owner)
                .col(Records::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(NetworkBridges::Table)
                .col(string_len(NetworkBridges::Id, 36).primary_key())
                .col(string_len(NetworkBridges::OrganizationId, 36))
                .col(string_len(NetworkBridges::DisplayName, 800))
                .col(string_len(NetworkBridges::State, 32))
                .col(text(NetworkBridges::StateReason))
                .col(text(NetworkBridges::EndpointA))
                .col(text(NetworkBridges::EndpointB))
                .col(big_integer(NetworkBridges::Version))
                .col(timestamp_with_time_zone(NetworkBridges::CreateTime))
                .col(timestamp_with_time_zone(NetworkBridges::UpdateTime))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("network_bridges_org_id")
                .table(NetworkBridges::Table)
                .col(NetworkBridges::OrganizationId)
                .col(NetworkBridges::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UsageReports::Table)
                .col(string_len(UsageReports::OrganizationId, 36))
                .col(string_len(UsageReports::LimitKey, 64))
                .col(big_integer(UsageReports::Usage))
                .col(big_integer(UsageReports::Revision))
                .col(big_integer(UsageReports::ReportedRevision))
                .col(timestamp_with_time_zone(UsageReports::UpdateTime))
                .primary_key(
                    Index::create()
                        .col(UsageReports::OrganizationId)
                        .col(UsageReports::LimitKey),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            UsageReports::Table.into_iden(),
            NetworkBridges::Table.into_iden(),
            Records::Table.into_iden(),
            Zones::Table.into_iden(),
            DomainClaims::Table.into_iden(),
            Domains::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
