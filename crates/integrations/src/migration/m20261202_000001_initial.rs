//! The integrations service's tables.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum GitProviders {
    Table,
    Provider,
    ClientId,
    SecretKeyId,
    SecretCiphertext,
    BaseUrl,
    ApiUrl,
    RedirectUri,
    Scopes,
    UpdateTime,
}

#[derive(DeriveIden)]
enum GitOauthStates {
    Table,
    Id,
    OrganizationId,
    Provider,
    Caller,
    ConnectionId,
    VerifierKeyId,
    VerifierCiphertext,
    ExpireTime,
    CreateTime,
}

#[derive(DeriveIden)]
enum GitConnections {
    Table,
    Id,
    OrganizationId,
    Provider,
    AccountLogin,
    AccountId,
    State,
    StateReason,
    AccessKeyId,
    AccessCiphertext,
    RefreshKeyId,
    RefreshCiphertext,
    TokenExpireTime,
    Version,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum Repositories {
    Table,
    Id,
    OrganizationId,
    ConnectionId,
    FullName,
    DefaultBranch,
    CreateTime,
}

#[derive(DeriveIden)]
enum Bundles {
    Table,
    Id,
    OrganizationId,
    ProjectId,
    DisplayName,
    RepositoryId,
    Path,
    BuildSpec,
    DefinitionDigest,
    Version,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum Environments {
    Table,
    Id,
    OrganizationId,
    BundleId,
    DisplayName,
    Version,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum EnvironmentVariables {
    Table,
    Id,
    OrganizationId,
    EnvironmentId,
    Position,
    Name,
    Value,
    Secret,
    SecretKeyId,
    SecretCiphertext,
}

#[derive(DeriveIden)]
enum Revisions {
    Table,
    Id,
    OrganizationId,
    BundleId,
    CommitSha,
    DefinitionDigest,
    Path,
    BuildSpec,
    BuildOperationId,
    CreateTime,
}

#[derive(DeriveIden)]
enum Deployments {
    Table,
    Id,
    OrganizationId,
    EnvironmentId,
    RevisionId,
    State,
    OperationId,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum Operations {
    Table,
    Id,
    OrganizationId,
    Kind,
    TargetId,
    State,
    Progress,
    LogsUrl,
    ErrorMessage,
    CancelRequested,
    Attempt,
    Worker,
    LeaseId,
    LeaseExpireTime,
    LeaseSeconds,
    CreateTime,
    UpdateTime,
    EndTime,
}

#[derive(DeriveIden)]
enum MonitoringSources {
    Table,
    Id,
    OrganizationId,
    SourceType,
    DisplayName,
    Endpoint,
    Labels,
    Enabled,
    Version,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum NotificationChannels {
    Table,
    Id,
    OrganizationId,
    Kind,
    DisplayName,
    EmailAddress,
    Url,
    SecretKeyId,
    SecretCiphertext,
    EventTypes,
    Enabled,
    Version,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum NotificationEvents {
    Table,
    OrganizationId,
    EventId,
    EventType,
    Subject,
    Message,
    Attributes,
    EventTime,
    CreateTime,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    OrganizationId,
    ChannelId,
    EventId,
    EventType,
    State,
    Attempts,
    NextAttemptTime,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum DeliveryAttempts {
    Table,
    Id,
    DeliveryId,
    OrganizationId,
    Attempt,
    AttemptTime,
    Succeeded,
    HttpStatus,
    LatencyMs,
    Error,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(GitProviders::Table)
                .col(string_len(GitProviders::Provider, 16).primary_key())
                .col(string_len(GitProviders::ClientId, 255))
                .col(string_len_null(GitProviders::SecretKeyId, 64))
                .col(text_null(GitProviders::SecretCiphertext))
                .col(text(GitProviders::BaseUrl))
                .col(text(GitProviders::ApiUrl))
                .col(text(GitProviders::RedirectUri))
                .col(text(GitProviders::Scopes))
                .col(timestamp_with_time_zone(GitProviders::UpdateTime))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(GitOauthStates::Table)
                .col(string_len(GitOauthStates::Id, 64).primary_key())
                .col(string_len(GitOauthStates::OrganizationId, 36))
                .col(string_len(GitOauthStates::Provider, 16))
                .col(text(GitOauthStates::Caller))
                .col(string_len_null(GitOauthStates::ConnectionId, 36))
                .col(string_len(GitOauthStates::VerifierKeyId, 64))
                .col(text(GitOauthStates::VerifierCiphertext))
                .col(timestamp_with_time_zone(GitOauthStates::ExpireTime))
                .col(timestamp_with_time_zone(GitOauthStates::CreateTime))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(GitConnections::Table)
                .col(string_len(GitConnections::Id, 36).primary_key())
                .col(string_len(GitConnections::OrganizationId, 36))
                .col(string_len(GitConnections::Provider, 16))
                .col(text(GitConnections::AccountLogin))
                .col(string_len(GitConnections::AccountId, 64))
                .col(string_len(GitConnections::State, 32))
                .col(text(GitConnections::StateReason))
                .col(string_len(GitConnections::AccessKeyId, 64))
                .col(text(GitConnections::AccessCiphertext))
                .col(string_len_null(GitConnections::RefreshKeyId, 64))
                .col(text_null(GitConnections::RefreshCiphertext))
                .col(timestamp_with_time_zone_null(
                    GitConnections::TokenExpireTime,
                ))
                .col(big_integer(GitConnections::Version))
                .col(timestamp_with_time_zone(GitConnections::CreateTime))
                .col(timestamp_with_time_zone(GitConnections::UpdateTime))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Repositories::Table)
                .col(string_len(Repositories::Id, 36).primary_key())
                .col(string_len(Repositories::OrganizationId, 36))
                .col(string_len(Repositories::ConnectionId, 36))
                .col(string_len(Repositories::FullName, 255))
                .col(string_len(Repositories::DefaultBranch, 255))
                .col(timestamp_with_time_zone(Repositories::CreateTime))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Bundles::Table)
                .col(string_len(Bundles::Id, 36).primary_key())
                .col(string_len(Bundles::OrganizationId, 36))
                .col(string_len_null(Bundles::ProjectId, 36))
                .col(string_len(Bundles::DisplayName, 255))
                .col(string_len(Bundles::RepositoryId, 36))
                .col(text(Bundles::Path))
                .col(text(Bundles::BuildSpec))
                .col(string_len(Bundles::DefinitionDigest, 80))
                .col(big_integer(Bundles::Version))
                .col(timestamp_with_time_zone(Bundles::CreateTime))
                .col(timestamp_with_time_zone(Bundles::UpdateTime))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Environments::Table)
                .col(string_len(Environments::Id, 36).primary_key())
                .col(string_len(Environments::OrganizationId, 36))
                .col(string_len(Environments::BundleId, 36))
                .col(string_len(Environments::DisplayName, 255))
                .col(big_integer(Environments::Version))
                .col(timestamp_with_time_zone(Environments::CreateTime))
                .col(timestamp_with_time_zone(Environments::UpdateTime))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(EnvironmentVariables::Table)
                .col(string_len(EnvironmentVariables::Id, 36).primary_key())
                .col(string_len(EnvironmentVariables::OrganizationId, 36))
                .col(string_len(EnvironmentVariables::EnvironmentId, 36))
                .col(integer(EnvironmentVariables::Position))
                .col(string_len(EnvironmentVariables::Name, 255))
                .col(text_null(EnvironmentVariables::Value))
                .col(boolean(EnvironmentVariables::Secret))
                .col(string_len_null(EnvironmentVariables::SecretKeyId, 64))
                .col(text_null(EnvironmentVariables::SecretCiphertext))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Revisions::Table)
                .col(string_len(Revisions::Id, 36).primary_key())
                .col(string_len(Revisions::OrganizationId, 36))
                .col(string_len(Revisions::BundleId, 36))
                .col(string_len(Revisions::CommitSha, 40))
                .col(string_len(Revisions::DefinitionDigest, 80))
                .col(text(Revisions::Path))
                .col(text(Revisions::BuildSpec))
                .col(string_len(Revisions::BuildOperationId, 36))
                .col(timestamp_with_time_zone(Revisions::CreateTime))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Deployments::Table)
                .col(string_len(Deployments::Id, 36).primary_key())
                .col(string_len(Deployments::OrganizationId, 36))
                .col(string_len(Deployments::EnvironmentId, 36))
                .col(string_len(Deployments::RevisionId, 36))
                .col(string_len(Deployments::State, 32))
                .col(string_len(Deployments::OperationId, 36))
                .col(timestamp_with_time_zone(Deployments::CreateTime))
                .col(timestamp_with_time_zone(Deployments::UpdateTime))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Operations::Table)
                .col(string_len(Operations::Id, 36).primary_key())
                .col(string_len(Operations::OrganizationId, 36))
                .col(string_len(Operations::Kind, 16))
                .col(string_len(Operations::TargetId, 36))
                .col(string_len(Operations::State, 32))
                .col(integer(Operations::Progress))
                .col(text(Operations::LogsUrl))
                .col(text(Operations::ErrorMessage))
                .col(boolean(Operations::CancelRequested))
                .col(integer(Operations::Attempt))
                .col(text_null(Operations::Worker))
                .col(string_len_null(Operations::LeaseId, 36))
                .col(timestamp_with_time_zone_null(Operations::LeaseExpireTime))
                .col(integer(Operations::LeaseSeconds))
                .col(timestamp_with_time_zone(Operations::CreateTime))
                .col(timestamp_with_time_zone(Operations::UpdateTime))
                .col(timestamp_with_time_zone_null(Operations::EndTime))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(MonitoringSources::Table)
                .col(string_len(MonitoringSources::Id, 36).primary_key())
                .col(string_len(MonitoringSources::OrganizationId, 36))
                .col(string_len(MonitoringSources::SourceType, 64))
                .col(string_len(MonitoringSources::DisplayName, 255))
                .col(text(MonitoringSources::Endpoint))
                .col(text(MonitoringSources::Labels))
                .col(boolean(MonitoringSources::Enabled))
                .col(big_integer(MonitoringSources::Version))
                .col(timestamp_with_time_zone(MonitoringSources::CreateTime))
                .col(timestamp_with_time_zone(MonitoringSources::UpdateTime))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(NotificationChannels::Table)
                .col(string_len(NotificationChannels::Id, 36).primary_key())
                .col(string_len(NotificationChannels::OrganizationId, 36))
                .col(string_len(NotificationChannels::Kind, 16))
                .col(string_len(NotificationChannels::DisplayName, 255))
                .col(text_null(NotificationChannels::EmailAddress))
                .col(text_null(NotificationChannels::Url))
                .col(string_len_null(NotificationChannels::SecretKeyId, 64))
                .col(text_null(NotificationChannels::SecretCiphertext))
                .col(text(NotificationChannels::EventTypes))
                .col(boolean(NotificationChannels::Enabled))
                .col(big_integer(NotificationChannels::Version))
                .col(timestamp_with_time_zone(NotificationChannels::CreateTime))
                .col(timestamp_with_time_zone(NotificationChannels::UpdateTime))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(NotificationEvents::Table)
                .col(string_len(NotificationEvents::OrganizationId, 36))
                .col(string_len(NotificationEvents::EventId, 255))
                .col(string_len(NotificationEvents::EventType, 64))
                .col(text(NotificationEvents::Subject))
                .col(text(NotificationEvents::Message))
                .col(text(NotificationEvents::Attributes))
                .col(timestamp_with_time_zone(NotificationEvents::EventTime))
                .col(timestamp_with_time_zone(NotificationEvents::CreateTime))
                .primary_key(
                    Index::create()
                        .col(NotificationEvents::OrganizationId)
                        .col(NotificationEvents::EventId),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Deliveries::Table)
                .col(string_len(Deliveries::Id, 36).primary_key())
                .col(string_len(Deliveries::OrganizationId, 36))
                .col(string_len(Deliveries::ChannelId, 36))
                .col(string_len(Deliveries::EventId, 255))
                .col(string_len(Deliveries::EventType, 64))
                .col(string_len(Deliveries::State, 16))
                .col(integer(Deliveries::Attempts))
                .col(timestamp_with_time_zone(Deliveries::NextAttemptTime))
                .col(timestamp_with_time_zone(Deliveries::CreateTime))
                .col(timestamp_with_time_zone(Deliveries::UpdateTime))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(DeliveryAttempts::Table)
                .col(string_len(DeliveryAttempts::Id, 36).primary_key())
                .col(string_len(DeliveryAttempts::DeliveryId, 36))
                .col(string_len(DeliveryAttempts::OrganizationId, 36))
                .col(integer(DeliveryAttempts::Attempt))
                .col(timestamp_with_time_zone(DeliveryAttempts::AttemptTime))
                .col(boolean(DeliveryAttempts::Succeeded))
                .col(integer(DeliveryAttempts::HttpStatus))
                .col(big_integer(DeliveryAttempts::LatencyMs))
                .col(text(DeliveryAttempts::Error))
                .to_owned(),
        )
        .await?;
        for sql in INDEXES {
            m.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DeliveryAttempts::Table.into_iden(),
            Deliveries::Table.into_iden(),
            NotificationEvents::Table.into_iden(),
            NotificationChannels::Table.into_iden(),
            MonitoringSources::Table.into_iden(),
            Operations::Table.into_iden(),
            Deployments::Table.into_iden(),
            Revisions::Table.into_iden(),
            EnvironmentVariables::Table.into_iden(),
            Environments::Table.into_iden(),
            Bundles::Table.into_iden(),
            Repositories::Table.into_iden(),
            GitConnections::Table.into_iden(),
            GitOauthStates::Table.into_iden(),
            GitProviders::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// Indexes, in SQL both SQLite and PostgreSQL accept. The partial unique
/// index is what keeps exactly one ACTIVE deployment per environment,
/// whoever races.
const INDEXES: &[&str] = &[
    "CREATE UNIQUE INDEX ux_deployments_one_active ON deployments (environment_id) WHERE state = 'ACTIVE'",
    "CREATE UNIQUE INDEX ux_repositories_name ON repositories (organization_id, connection_id, full_name)",
    "CREATE UNIQUE INDEX ux_environment_variables_name ON environment_variables (environment_id, name)",
    "CREATE UNIQUE INDEX ux_revisions_commit ON revisions (bundle_id, commit_sha, definition_digest)",
    "CREATE INDEX ix_operations_queue ON operations (state, create_time)",
    "CREATE INDEX ix_deliveries_due ON deliveries (state, next_attempt_time)",
    "CREATE INDEX ix_delivery_attempts_delivery ON delivery_attempts (delivery_id, attempt)",
    "CREATE INDEX ix_bundles_org ON bundles (organization_id)",
    "CREATE INDEX ix_notification_channels_org ON notification_channels (organization_id)",
];
