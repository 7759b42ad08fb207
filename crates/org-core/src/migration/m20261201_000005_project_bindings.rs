//! Project-scoped access and the project lifecycle on the feed:
//! `project_role_bindings` (roles a member holds on one project),
//! `invites.project_roles` (the project roles an invite grants) and
//! `policy_changes.project_id` (the project a `project_*` change is about).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Memberships {
    Table,
    OrganizationId,
    AccountId,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ProjectRoleBindings {
    Table,
    OrganizationId,
    ProjectId,
    AccountId,
    Role,
}

#[derive(DeriveIden)]
enum Invites {
    Table,
    ProjectRoles,
}

#[derive(DeriveIden)]
enum PolicyChanges {
    Table,
    ProjectId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ProjectRoleBindings::Table)
                .col(string_len(ProjectRoleBindings::OrganizationId, 36))
                .col(string_len(ProjectRoleBindings::ProjectId, 36))
                .col(string_len(ProjectRoleBindings::AccountId, 36))
                .col(string_len(ProjectRoleBindings::Role, 64))
                .primary_key(
                    Index::create()
                        .col(ProjectRoleBindings::OrganizationId)
                        .col(ProjectRoleBindings::ProjectId)
                        .col(ProjectRoleBindings::AccountId)
                        .col(ProjectRoleBindings::Role),
                )
                // A binding belongs to a membership: it goes with it.
                .foreign_key(
                    ForeignKey::create()
                        .from(
                            ProjectRoleBindings::Table,
                            (
                                ProjectRoleBindings::OrganizationId,
                                ProjectRoleBindings::AccountId,
                            ),
                        )
                        .to(
                            Memberships::Table,
                            (Memberships::OrganizationId, Memberships::AccountId),
                        )
                        .on_delete(ForeignKeyAction::Cascade),
                )
                // ...and to a project: it goes when the project is purged.
                .foreign_key(
                    ForeignKey::create()
                        .from(ProjectRoleBindings::Table, ProjectRoleBindings::ProjectId)
                        .to(Projects::Table, Projects::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        // Access checks read one member's bindings in one organization.
        m.create_index(
            Index::create()
                .name("project_role_bindings_member")
                .table(ProjectRoleBindings::Table)
                .col(ProjectRoleBindings::OrganizationId)
                .col(ProjectRoleBindings::AccountId)
                .to_owned(),
        )
        .await?;
        // A role in use cannot be deleted: count its holders.
        m.create_index(
            Index::create()
                .name("project_role_bindings_role")
                .table(ProjectRoleBindings::Table)
                .col(ProjectRoleBindings::OrganizationId)
                .col(ProjectRoleBindings::Role)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Invites::Table)
                .add_column(text_null(Invites::ProjectRoles))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(PolicyChanges::Table)
                .add_column(string_len_null(PolicyChanges::ProjectId, 36))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(PolicyChanges::Table)
                .drop_column(PolicyChanges::ProjectId)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Invites::Table)
                .drop_column(Invites::ProjectRoles)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(ProjectRoleBindings::Table).to_owned())
            .await?;
        Ok(())
    }
}
