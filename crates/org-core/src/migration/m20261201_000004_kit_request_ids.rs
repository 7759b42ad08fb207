//! Moves create idempotency to the service kit's request-id table: the
//! request ids of organizations, projects and auth providers created
//! before the kit are copied into `kit_request_ids` (created by the kit's
//! own migration, which runs just before this one), so a retry across the
//! upgrade still finds what the first attempt made. The old columns stay
//! (shipped schema is never edited); nothing writes them any more.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KitRequestIds {
    Table,
    ScopeId,
    Method,
    RequestId,
    Resource,
    CreateTime,
}

#[derive(DeriveIden, Clone, Copy)]
enum Organizations {
    Table,
    Id,
    CreatorAccountId,
    RequestId,
    CreateTime,
}

#[derive(DeriveIden, Clone, Copy)]
enum Projects {
    Table,
    Id,
    OrganizationId,
    RequestId,
    CreateTime,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuthProviders {
    Table,
    Id,
    OrganizationId,
    RequestId,
    CreateTime,
}

/// `INSERT INTO kit_request_ids SELECT scope, method, request_id, id,
/// create_time FROM table WHERE request_id IS NOT NULL AND scope IS NOT NULL`.
fn copy(
    table: impl IntoIden,
    scope: impl IntoIden + Copy,
    method: &str,
    id: impl IntoIden,
    request_id: impl IntoIden + Copy,
    create_time: impl IntoIden,
) -> Result<InsertStatement, DbErr> {
    let select = Query::select()
        .column(scope)
        .expr(Expr::val(method))
        .column(request_id)
        .column(id)
        .column(create_time)
        .from(table)
        .and_where(Expr::col(request_id).is_not_null())
        .and_where(Expr::col(scope).is_not_null())
        .to_owned();
    Query::insert()
        .into_table(KitRequestIds::Table)
        .columns([
            KitRequestIds::ScopeId,
            KitRequestIds::Method,
            KitRequestIds::RequestId,
            KitRequestIds::Resource,
            KitRequestIds::CreateTime,
        ])
        .select_from(select)
        .map(|q| q.to_owned())
        .map_err(|e| DbErr::Migration(e.to_string()))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        // A retried create found the organization by creator and request id.
        db.execute(&copy(
            Organizations::Table,
            Organizations::CreatorAccountId,
            "CreateOrganization",
            Organizations::Id,
            Organizations::RequestId,
            Organizations::CreateTime,
        )?)
        .await?;
        db.execute(&copy(
            Projects::Table,
            Projects::OrganizationId,
            "CreateProject",
            Projects::Id,
            Projects::RequestId,
            Projects::CreateTime,
        )?)
        .await?;
        db.execute(&copy(
            AuthProviders::Table,
            AuthProviders::OrganizationId,
            "CreateAuthProvider",
            AuthProviders::Id,
            AuthProviders::RequestId,
            AuthProviders::CreateTime,
        )?)
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let delete = Query::delete()
            .from_table(KitRequestIds::Table)
            .and_where(Expr::col(KitRequestIds::Method).is_in([
                "CreateOrganization",
                "CreateProject",
                "CreateAuthProvider",
            ]))
            .to_owned();
        m.get_connection().execute(&delete).await?;
        Ok(())
    }
}
