//! Invites, custom roles and authentication providers.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Invites {
    Table,
    Id,
    OrganizationId,
    Email,
    Roles,
    State,
    TokenHash,
    Inviter,
    CreateTime,
    UpdateTime,
    ExpireTime,
    AcceptedBy,
    Version,
}

#[derive(DeriveIden)]
enum CustomRoles {
    Table,
    OrganizationId,
    RoleId,
    DisplayName,
    Description,
    Permissions,
    CreateTime,
    UpdateTime,
    Version,
}

#[derive(DeriveIden)]
enum AuthProviders {
    Table,
    Id,
    OrganizationId,
    DisplayName,
    Kind,
    Config,
    AllowedEmailDomains,
    Enabled,
    ClientSecretKeyId,
    ClientSecretCiphertext,
    ClientSecretUpdateTime,
    CreateTime,
    UpdateTime,
    Version,
    RequestId,
}

fn id(col: impl IntoIden) -> ColumnDef {
    string_len(col, 36)
}

fn org_fk(
    table: impl IntoIden + 'static,
    column: impl IntoIden + 'static,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(Organizations::Table, Organizations::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Invites::Table)
                .col(id(Invites::Id).primary_key())
                .col(id(Invites::OrganizationId))
                .col(string_len(Invites::Email, 254))
                .col(text(Invites::Roles))
                .col(string_len(Invites::State, 32))
                .col(string_len_uniq(Invites::TokenHash, 64))
                .col(string_len(Invites::Inviter, 300))
                .col(timestamp_with_time_zone(Invites::CreateTime))
                .col(timestamp_with_time_zone(Invites::UpdateTime))
                .col(timestamp_with_time_zone(Invites::ExpireTime))
                .col(string_len_null(Invites::AcceptedBy, 36))
                .col(big_integer(Invites::Version))
                .foreign_key(&mut org_fk(Invites::Table, Invites::OrganizationId))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("invites_org_state_email")
                .table(Invites::Table)
                .col(Invites::OrganizationId)
                .col(Invites::State)
                .col(Invites::Email)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(CustomRoles::Table)
                .col(id(CustomRoles::OrganizationId))
                .col(string_len(CustomRoles::RoleId, 63))
                .col(string_len(CustomRoles::DisplayName, 800))
                .col(text(CustomRoles::Description))
                .col(text(CustomRoles::Permissions))
                .col(timestamp_with_time_zone(CustomRoles::CreateTime))
                .col(timestamp_with_time_zone(CustomRoles::UpdateTime))
                .col(big_integer(CustomRoles::Version))
                .primary_key(
                    Index::create()
                        .col(CustomRoles::OrganizationId)
                        .col(CustomRoles::RoleId),
                )
                .foreign_key(&mut org_fk(CustomRoles::Table, CustomRoles::OrganizationId))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuthProviders::Table)
                .col(id(AuthProviders::Id).primary_key())
                .col(id(AuthProviders::OrganizationId))
                .col(string_len(AuthProviders::DisplayName, 800))
                .col(string_len(AuthProviders::Kind, 16))
                .col(text(AuthProviders::Config))
                .col(text(AuthProviders::AllowedEmailDomains))
                .col(boolean(AuthProviders::Enabled))
                .col(string_len_null(AuthProviders::ClientSecretKeyId, 64))
                .col(text_null(AuthProviders::ClientSecretCiphertext))
                .col(timestamp_with_time_zone_null(
                    AuthProviders::ClientSecretUpdateTime,
                ))
                .col(timestamp_with_time_zone(AuthProviders::CreateTime))
                .col(timestamp_with_time_zone(AuthProviders::UpdateTime))
                .col(big_integer(AuthProviders::Version))
                .col(string_len_null(AuthProviders::RequestId, 36))
                .foreign_key(&mut org_fk(
                    AuthProviders::Table,
                    AuthProviders::OrganizationId,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("auth_providers_org_request_id")
                .table(AuthProviders::Table)
                .col(AuthProviders::OrganizationId)
                .col(AuthProviders::RequestId)
                .unique()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuthProviders::Table.into_iden(),
            CustomRoles::Table.into_iden(),
            Invites::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
