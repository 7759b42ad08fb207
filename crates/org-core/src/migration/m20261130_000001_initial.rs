//! Organizations, projects, accounts, memberships, capability overrides,
//! the audit log and the policy change feed.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    DisplayName,
    VerificationStatus,
    State,
    CreateTime,
    UpdateTime,
    DeleteTime,
    PurgeTime,
    Version,
    LockSeq,
    CreatorAccountId,
    RequestId,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
    OrganizationId,
    DisplayName,
    Description,
    Labels,
    State,
    CreateTime,
    UpdateTime,
    DeleteTime,
    PurgeTime,
    Version,
    RequestId,
    DeletedWithOrganization,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Subject,
    Email,
    DisplayName,
    CreateTime,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    OrganizationId,
    AccountId,
    CreateTime,
    UpdateTime,
    Version,
}

#[derive(DeriveIden)]
enum MembershipRoles {
    Table,
    OrganizationId,
    AccountId,
    Role,
}

#[derive(DeriveIden)]
enum CapabilityOverrides {
    Table,
    OrganizationId,
    Key,
    LimitValue,
    FlagValue,
    UpdateTime,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    Time,
    Actor,
    Service,
    Method,
    Resource,
    OrganizationId,
    Reason,
    Details,
}

#[derive(DeriveIden)]
enum PolicyChanges {
    Table,
    Revision,
    OrganizationId,
    Kind,
    ChangeTime,
}

fn id(col: impl IntoIden) -> ColumnDef {
    string_len(col, 36)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Organizations::Table)
                .col(id(Organizations::Id).primary_key())
                .col(string_len(Organizations::DisplayName, 800))
                .col(string_len(Organizations::VerificationStatus, 32))
                .col(string_len(Organizations::State, 32))
                .col(timestamp_with_time_zone(Organizations::CreateTime))
                .col(timestamp_with_time_zone(Organizations::UpdateTime))
                .col(timestamp_with_time_zone_null(Organizations::DeleteTime))
                .col(timestamp_with_time_zone_null(Organizations::PurgeTime))
                .col(big_integer(Organizations::Version))
                .col(big_integer(Organizations::LockSeq).default(0))
                .col(string_len_null(Organizations::CreatorAccountId, 36))
                .col(string_len_null(Organizations::RequestId, 36))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("organizations_creator_request_id")
                .table(Organizations::Table)
                .col(Organizations::CreatorAccountId)
                .col(Organizations::RequestId)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Accounts::Table)
                .col(id(Accounts::Id).primary_key())
                .col(string_len_uniq(Accounts::Subject, 255))
                .col(string_len(Accounts::Email, 254))
                .col(string_len(Accounts::DisplayName, 800))
                .col(timestamp_with_time_zone(Accounts::CreateTime))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("accounts_email")
                .table(Accounts::Table)
                .col(Accounts::Email)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Projects::Table)
                .col(id(Projects::Id).primary_key())
                .col(id(Projects::OrganizationId))
                .col(string_len(Projects::DisplayName, 800))
                .col(text(Projects::Description))
                .col(text(Projects::Labels))
                .col(string_len(Projects::State, 32))
                .col(timestamp_with_time_zone(Projects::CreateTime))
                .col(timestamp_with_time_zone(Projects::UpdateTime))
                .col(timestamp_with_time_zone_null(Projects::DeleteTime))
                .col(timestamp_with_time_zone_null(Projects::PurgeTime))
                .col(big_integer(Projects::Version))
                .col(string_len_null(Projects::RequestId, 36))
                .col(boolean(Projects::DeletedWithOrganization).default(false))
                .foreign_key(
                    ForeignKey::create()
                        .from(Projects::Table, Projects::OrganizationId)
                        .to(Organizations::Table, Organizations::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("projects_org_request_id")
                .table(Projects::Table)
                .col(Projects::OrganizationId)
                .col(Projects::RequestId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("projects_org_state_id")
                .table(Projects::Table)
                .col(Projects::OrganizationId)
                .col(Projects::State)
                .col(Projects::Id)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Memberships::Table)
                .col(id(Memberships::OrganizationId))
                .col(id(Memberships::AccountId))
                .col(timestamp_with_time_zone(Memberships::CreateTime))
                .col(timestamp_with_time_zone(Memberships::UpdateTime))
                .col(big_integer(Memberships::Version))
                .primary_key(
                    Index::create()
                        .col(Memberships::OrganizationId)
                        .col(Memberships::AccountId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Memberships::Table, Memberships::OrganizationId)
                        .to(Organizations::Table, Organizations::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Memberships::Table, Memberships::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("memberships_account")
                .table(Memberships::Table)
                .col(Memberships::AccountId)
                .col(Memberships::OrganizationId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(MembershipRoles::Table)
                .col(id(MembershipRoles::OrganizationId))
                .col(id(MembershipRoles::AccountId))
                .col(string_len(MembershipRoles::Role, 64))
                .primary_key(
                    Index::create()
                        .col(MembershipRoles::OrganizationId)
                        .col(MembershipRoles::AccountId)
                        .col(MembershipRoles::Role),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(
                            MembershipRoles::Table,
                            (MembershipRoles::OrganizationId, MembershipRoles::AccountId),
                        )
                        .to(
                            Memberships::Table,
                            (Memberships::OrganizationId, Memberships::AccountId),
                        )
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(CapabilityOverrides::Table)
                .col(id(CapabilityOverrides::OrganizationId))
                .col(string_len(CapabilityOverrides::Key, 64))
                .col(big_integer_null(CapabilityOverrides::LimitValue))
                .col(boolean_null(CapabilityOverrides::FlagValue))
                .col(timestamp_with_time_zone(CapabilityOverrides::UpdateTime))
                .primary_key(
                    Index::create()
                        .col(CapabilityOverrides::OrganizationId)
                        .col(CapabilityOverrides::Key),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(
                            CapabilityOverrides::Table,
                            CapabilityOverrides::OrganizationId,
                        )
                        .to(Organizations::Table, Organizations::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .col(id(AuditEvents::Id).primary_key())
                .col(timestamp_with_time_zone(AuditEvents::Time))
                .col(string_len(AuditEvents::Actor, 300))
                .col(string_len(AuditEvents::Service, 64))
                .col(string_len(AuditEvents::Method, 128))
                .col(string_len(AuditEvents::Resource, 512))
                .col(string_len_null(AuditEvents::OrganizationId, 36))
                .col(text(AuditEvents::Reason))
                .col(text(AuditEvents::Details))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("audit_events_org_id")
                .table(AuditEvents::Table)
                .col(AuditEvents::OrganizationId)
                .col(AuditEvents::Id)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PolicyChanges::Table)
                .col(big_pk_auto(PolicyChanges::Revision))
                .col(id(PolicyChanges::OrganizationId))
                .col(string_len(PolicyChanges::Kind, 64))
                .col(timestamp_with_time_zone(PolicyChanges::ChangeTime))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PolicyChanges::Table.into_iden(),
            AuditEvents::Table.into_iden(),
            CapabilityOverrides::Table.into_iden(),
            MembershipRoles::Table.into_iden(),
            Memberships::Table.into_iden(),
            Projects::Table.into_iden(),
            Accounts::Table.into_iden(),
            Organizations::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
