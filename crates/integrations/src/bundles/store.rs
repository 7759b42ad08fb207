//! Bundle, environment, variable, revision and deployment storage.

use chrono::Utc;
use loopback_runtime::pagination::PageRequest;
use loopback_runtime::secrets::Sealed;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel as _, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait as _,
};
use uuid::Uuid;

use super::{Bundle, Deployment, DeploymentState, Environment, Revision, Variable, Visible};
use crate::entity::{bundle, deployment, environment, environment_variable, revision};
use crate::error::{Error, Result};

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("bundles: {what}"))
}

fn uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| corrupt(format!("bad id {s:?}")))
}

fn bundle_to_domain(m: bundle::Model) -> Result<Bundle> {
    Ok(Bundle {
        id: uuid(&m.id)?,
        organization: uuid(&m.organization_id)?,
        project: m.project_id.as_deref().map(uuid).transpose()?,
        display_name: m.display_name,
        repository: uuid(&m.repository_id)?,
        path: m.path,
        build_spec: m.build_spec,
        digest: m.definition_digest,
        version: m.version,
        create_time: m.create_time,
        update_time: m.update_time,
    })
}

fn bundle_row(b: &Bundle) -> bundle::ActiveModel {
    bundle::ActiveModel {
        id: Set(b.id.to_string()),
        organization_id: Set(b.organization.to_string()),
        project_id: Set(b.project.map(|p| p.to_string())),
        display_name: Set(b.display_name.clone()),
        repository_id: Set(b.repository.to_string()),
        path: Set(b.path.clone()),
        build_spec: Set(b.build_spec.clone()),
        definition_digest: Set(b.digest.clone()),
        version: Set(b.version),
        create_time: Set(b.create_time),
        update_time: Set(b.update_time),
    }
}

/// Stores a new bundle.
pub async fn insert_bundle(conn: &impl ConnectionTrait, b: &Bundle) -> Result<()> {
    bundle::Entity::insert(bundle_row(b))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Writes a bundle.
pub async fn update_bundle(conn: &impl ConnectionTrait, b: &Bundle) -> Result<()> {
    bundle::Entity::update(bundle_row(b)).exec(conn).await?;
    Ok(())
}

/// Which bundle rows a [`Visible`] lets through (nothing when it lets
/// nothing through).
pub fn visible_bundles(v: &Visible) -> Condition {
    let mut c = Condition::any();
    if v.organization {
        c = c.add(bundle::Column::ProjectId.is_null());
    }
    if !v.projects.is_empty() {
        c = c.add(bundle::Column::ProjectId.is_in(v.projects.iter().map(Uuid::to_string)));
    }
    if !v.organization && v.projects.is_empty() {
        c = c.add(Expr::cust("1 = 0"));
    }
    c
}

/// The ids of `org`'s bundles a [`Visible`] lets through.
pub fn visible_bundle_ids(org: Uuid, v: &Visible) -> SelectStatement {
    bundle::Entity::find()
        .select_only()
        .column(bundle::Column::Id)
        .filter(bundle::Column::OrganizationId.eq(org.to_string()))
        .filter(visible_bundles(v))
        .into_query()
}

/// The ids of `org`'s revisions of bundles a [`Visible`] lets through.
pub fn visible_revision_ids(org: Uuid, v: &Visible) -> SelectStatement {
    revision::Entity::find()
        .select_only()
        .column(revision::Column::Id)
        .filter(revision::Column::OrganizationId.eq(org.to_string()))
        .filter(revision::Column::BundleId.in_subquery(visible_bundle_ids(org, v)))
        .into_query()
}

/// The ids of `org`'s deployments of bundles a [`Visible`] lets through.
pub fn visible_deployment_ids(org: Uuid, v: &Visible) -> SelectStatement {
    deployment::Entity::find()
        .select_only()
        .column(deployment::Column::Id)
        .filter(deployment::Column::OrganizationId.eq(org.to_string()))
        .filter(deployment::Column::RevisionId.in_subquery(visible_revision_ids(org, v)))
        .into_query()
}

/// The project of one bundle of `org`: `None` when there is no such
/// bundle, `Some(None)` for an organization-wide one.
pub async fn bundle_project(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<Option<Option<Uuid>>> {
    let row: Option<Option<String>> = bundle::Entity::find_by_id(id.to_string())
        .filter(bundle::Column::OrganizationId.eq(org.to_string()))
        .select_only()
        .column(bundle::Column::ProjectId)
        .into_tuple()
        .one(conn)
        .await?;
    row.map(|p| p.as_deref().map(uuid).transpose()).transpose()
}

/// The bundle of one environment of `org`.
pub async fn environment_bundle(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<Option<Uuid>> {
    let row: Option<String> = environment::Entity::find_by_id(id.to_string())
        .filter(environment::Column::OrganizationId.eq(org.to_string()))
        .select_only()
        .column(environment::Column::BundleId)
        .into_tuple()
        .one(conn)
        .await?;
    row.as_deref().map(uuid).transpose()
}

/// The bundle of one revision of `org`.
pub async fn revision_bundle(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<Option<Uuid>> {
    let row: Option<String> = revision::Entity::find_by_id(id.to_string())
        .filter(revision::Column::OrganizationId.eq(org.to_string()))
        .select_only()
        .column(revision::Column::BundleId)
        .into_tuple()
        .one(conn)
        .await?;
    row.as_deref().map(uuid).transpose()
}

/// The bundle of one deployment of `org` (its revision's).
pub async fn deployment_bundle(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<Option<Uuid>> {
    let row: Option<String> = deployment::Entity::find_by_id(id.to_string())
        .filter(deployment::Column::OrganizationId.eq(org.to_string()))
        .select_only()
        .column(deployment::Column::RevisionId)
        .into_tuple()
        .one(conn)
        .await?;
    match row.as_deref().map(uuid).transpose()? {
        Some(revision) => revision_bundle(conn, org, revision).await,
        None => Ok(None),
    }
}

/// The projects `org`'s bundles belong to, each once.
pub async fn bundle_projects(conn: &impl ConnectionTrait, org: Uuid) -> Result<Vec<Uuid>> {
    let ids: Vec<Option<String>> = bundle::Entity::find()
        .select_only()
        .column(bundle::Column::ProjectId)
        .distinct()
        .filter(bundle::Column::OrganizationId.eq(org.to_string()))
        .filter(bundle::Column::ProjectId.is_not_null())
        .order_by_asc(bundle::Column::ProjectId)
        .into_tuple()
        .all(conn)
        .await?;
    ids.iter().flatten().map(|p| uuid(p)).collect()
}

/// One bundle of `org`.
pub async fn bundle(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<Option<Bundle>> {
    bundle::Entity::find_by_id(id.to_string())
        .filter(bundle::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
        .map(bundle_to_domain)
        .transpose()
}

/// How many bundles `org` has.
pub async fn count_bundles(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    Ok(bundle::Entity::find()
        .filter(bundle::Column::OrganizationId.eq(org.to_string()))
        .count(conn)
        .await?)
}

/// How many bundles build from a repository.
pub async fn bundles_of_repository(
    conn: &impl ConnectionTrait,
    org: Uuid,
    repository: Uuid,
) -> Result<u64> {
    Ok(bundle::Entity::find()
        .filter(bundle::Column::OrganizationId.eq(org.to_string()))
        .filter(bundle::Column::RepositoryId.eq(repository.to_string()))
        .count(conn)
        .await?)
}

/// A page of `org`'s bundles `visible` lets through, in creation order.
pub async fn list_bundles(
    conn: &impl ConnectionTrait,
    org: Uuid,
    visible: &Visible,
    page: &PageRequest,
) -> Result<Vec<Bundle>> {
    let mut q = bundle::Entity::find()
        .filter(bundle::Column::OrganizationId.eq(org.to_string()))
        .filter(visible_bundles(visible));
    if let Some(after) = &page.after {
        q = q.filter(bundle::Column::Id.gt(after.as_str()));
    }
    q.order_by_asc(bundle::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(bundle_to_domain)
        .collect()
}

/// Deletes a bundle and its revisions.
pub async fn delete_bundle(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<()> {
    revision::Entity::delete_many()
        .filter(revision::Column::OrganizationId.eq(org.to_string()))
        .filter(revision::Column::BundleId.eq(id.to_string()))
        .exec(conn)
        .await?;
    bundle::Entity::delete_many()
        .filter(bundle::Column::Id.eq(id.to_string()))
        .filter(bundle::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    Ok(())
}

/// How many environments a bundle has.
pub async fn environments_of_bundle(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<u64> {
    Ok(environment::Entity::find()
        .filter(environment::Column::OrganizationId.eq(org.to_string()))
        .filter(environment::Column::BundleId.eq(id.to_string()))
        .count(conn)
        .await?)
}

/// A variable as stored.
#[derive(Debug, Clone)]
pub struct VariableRow {
    /// Id (binds the sealed value).
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Plain value.
    pub value: Option<String>,
    /// Sealed value.
    pub sealed: Option<Sealed>,
}

/// Every variable row of an environment, in order.
pub async fn variable_rows(conn: &impl ConnectionTrait, env: Uuid) -> Result<Vec<VariableRow>> {
    environment_variable::Entity::find()
        .filter(environment_variable::Column::EnvironmentId.eq(env.to_string()))
        .order_by_asc(environment_variable::Column::Position)
        .all(conn)
        .await?
        .into_iter()
        .map(|m| {
            let sealed = match (&m.secret_key_id, &m.secret_ciphertext) {
                (Some(k), Some(c)) => Some(Sealed::from_stored(k, c).map_err(corrupt)?),
                _ => None,
            };
            Ok(VariableRow {
                id: uuid(&m.id)?,
                name: m.name,
                value: m.value,
                sealed,
            })
        })
        .collect()
}

/// The sealed values of an environment's secret variables, by name.
pub async fn sealed_variables(
    conn: &impl ConnectionTrait,
    env: Uuid,
) -> Result<Vec<(String, (Uuid, Sealed))>> {
    Ok(variable_rows(conn, env)
        .await?
        .into_iter()
        .filter_map(|r| r.sealed.map(|s| (r.name, (r.id, s))))
        .collect())
}

/// Replaces an environment's variables.
pub async fn replace_variables(
    conn: &impl ConnectionTrait,
    org: Uuid,
    env: Uuid,
    rows: &[VariableRow],
) -> Result<()> {
    environment_variable::Entity::delete_many()
        .filter(environment_variable::Column::EnvironmentId.eq(env.to_string()))
        .exec(conn)
        .await?;
    for (i, r) in rows.iter().enumerate() {
        environment_variable::Entity::insert(environment_variable::ActiveModel {
            id: Set(r.id.to_string()),
            organization_id: Set(org.to_string()),
            environment_id: Set(env.to_string()),
            position: Set(i32::try_from(i).unwrap_or(i32::MAX)),
            name: Set(r.name.clone()),
            value: Set(r.value.clone()),
            secret: Set(r.sealed.is_some()),
            secret_key_id: Set(r.sealed.as_ref().map(|s| s.key_id.clone())),
            secret_ciphertext: Set(r.sealed.as_ref().map(Sealed::ciphertext_b64)),
        })
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

async fn environment_to_domain(
    conn: &impl ConnectionTrait,
    m: environment::Model,
) -> Result<Environment> {
    let id = uuid(&m.id)?;
    let org = uuid(&m.organization_id)?;
    let variables = variable_rows(conn, id)
        .await?
        .into_iter()
        .map(|r| Variable {
            secret: r.sealed.is_some(),
            value: r.value.unwrap_or_default(),
            name: r.name,
        })
        .collect();
    Ok(Environment {
        id,
        organization: org,
        bundle: uuid(&m.bundle_id)?,
        display_name: m.display_name,
        variables,
        active_deployment: active_deployment(conn, org, id).await?.map(|d| d.id),
        version: m.version,
        create_time: m.create_time,
        update_time: m.update_time,
    })
}

/// Stores a new environment (without variables).
pub async fn insert_environment(conn: &impl ConnectionTrait, e: &Environment) -> Result<()> {
    environment::Entity::insert(environment::ActiveModel {
        id: Set(e.id.to_string()),
        organization_id: Set(e.organization.to_string()),
        bundle_id: Set(e.bundle.to_string()),
        display_name: Set(e.display_name.clone()),
        version: Set(e.version),
        create_time: Set(e.create_time),
        update_time: Set(e.update_time),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Writes an environment's own fields.
pub async fn update_environment(conn: &impl ConnectionTrait, e: &Environment) -> Result<()> {
    let Some(row) = environment::Entity::find_by_id(e.id.to_string())
        .one(conn)
        .await?
    else {
        return Err(Error::not_found(e.name().to_string()));
    };
    let mut row = row.into_active_model();
    row.display_name = Set(e.display_name.clone());
    row.version = Set(e.version);
    row.update_time = Set(e.update_time);
    environment::Entity::update(row).exec(conn).await?;
    Ok(())
}

/// One environment of `org`, with variables and active deployment.
pub async fn environment(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<Option<Environment>> {
    match environment::Entity::find_by_id(id.to_string())
        .filter(environment::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
    {
        Some(m) => Ok(Some(environment_to_domain(conn, m).await?)),
        None => Ok(None),
    }
}

/// A page of `org`'s environments of bundles `visible` lets through, in
/// creation order.
pub async fn list_environments(
    conn: &impl ConnectionTrait,
    org: Uuid,
    visible: &Visible,
    page: &PageRequest,
) -> Result<Vec<Environment>> {
    let mut q = environment::Entity::find()
        .filter(environment::Column::OrganizationId.eq(org.to_string()))
        .filter(environment::Column::BundleId.in_subquery(visible_bundle_ids(org, visible)));
    if let Some(after) = &page.after {
        q = q.filter(environment::Column::Id.gt(after.as_str()));
    }
    let rows = q
        .order_by_asc(environment::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for m in rows {
        out.push(environment_to_domain(conn, m).await?);
    }
    Ok(out)
}

/// Deletes an environment, its variables and deployments.
pub async fn delete_environment(conn: &impl ConnectionTrait, org: Uuid, id: Uuid) -> Result<()> {
    environment_variable::Entity::delete_many()
        .filter(environment_variable::Column::EnvironmentId.eq(id.to_string()))
        .exec(conn)
        .await?;
    deployment::Entity::delete_many()
        .filter(deployment::Column::OrganizationId.eq(org.to_string()))
        .filter(deployment::Column::EnvironmentId.eq(id.to_string()))
        .exec(conn)
        .await?;
    environment::Entity::delete_many()
        .filter(environment::Column::Id.eq(id.to_string()))
        .filter(environment::Column::OrganizationId.eq(org.to_string()))
        .exec(conn)
        .await?;
    Ok(())
}

fn revision_to_domain(m: revision::Model) -> Result<Revision> {
    Ok(Revision {
        id: uuid(&m.id)?,
        organization: uuid(&m.organization_id)?,
        bundle: uuid(&m.bundle_id)?,
        commit_sha: m.commit_sha,
        digest: m.definition_digest,
        path: m.path,
        build_spec: m.build_spec,
        build_operation: uuid(&m.build_operation_id)?,
        create_time: m.create_time,
    })
}

/// Whether a revision of this commit and definition exists.
pub async fn revision_exists(
    conn: &impl ConnectionTrait,
    bundle: Uuid,
    sha: &str,
    digest: &str,
) -> Result<bool> {
    Ok(revision::Entity::find()
        .filter(revision::Column::BundleId.eq(bundle.to_string()))
        .filter(revision::Column::CommitSha.eq(sha))
        .filter(revision::Column::DefinitionDigest.eq(digest))
        .count(conn)
        .await?
        > 0)
}

/// Stores a revision.
pub async fn insert_revision(conn: &impl ConnectionTrait, r: &Revision) -> Result<()> {
    revision::Entity::insert(revision::ActiveModel {
        id: Set(r.id.to_string()),
        organization_id: Set(r.organization.to_string()),
        bundle_id: Set(r.bundle.to_string()),
        commit_sha: Set(r.commit_sha.clone()),
        definition_digest: Set(r.digest.clone()),
        path: Set(r.path.clone()),
        build_spec: Set(r.build_spec.clone()),
        build_operation_id: Set(r.build_operation.to_string()),
        create_time: Set(r.create_time),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// One revision of `org`.
pub async fn revision(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<Option<Revision>> {
    revision::Entity::find_by_id(id.to_string())
        .filter(revision::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
        .map(revision_to_domain)
        .transpose()
}

/// A page of `org`'s revisions (optionally one bundle's) of bundles
/// `visible` lets through, in creation order.
pub async fn list_revisions(
    conn: &impl ConnectionTrait,
    org: Uuid,
    bundle: Option<Uuid>,
    visible: &Visible,
    page: &PageRequest,
) -> Result<Vec<Revision>> {
    let mut q = revision::Entity::find()
        .filter(revision::Column::OrganizationId.eq(org.to_string()))
        .filter(revision::Column::BundleId.in_subquery(visible_bundle_ids(org, visible)));
    if let Some(b) = bundle {
        q = q.filter(revision::Column::BundleId.eq(b.to_string()));
    }
    if let Some(after) = &page.after {
        q = q.filter(revision::Column::Id.gt(after.as_str()));
    }
    q.order_by_asc(revision::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(revision_to_domain)
        .collect()
}

fn deployment_to_domain(m: deployment::Model) -> Result<Deployment> {
    Ok(Deployment {
        id: uuid(&m.id)?,
        organization: uuid(&m.organization_id)?,
        environment: uuid(&m.environment_id)?,
        revision: uuid(&m.revision_id)?,
        state: DeploymentState::parse(&m.state).ok_or_else(|| corrupt("deployment state"))?,
        operation: uuid(&m.operation_id)?,
        create_time: m.create_time,
        update_time: m.update_time,
    })
}

/// Stores a deployment.
pub async fn insert_deployment(conn: &impl ConnectionTrait, d: &Deployment) -> Result<()> {
    deployment::Entity::insert(deployment::ActiveModel {
        id: Set(d.id.to_string()),
        organization_id: Set(d.organization.to_string()),
        environment_id: Set(d.environment.to_string()),
        revision_id: Set(d.revision.to_string()),
        state: Set(d.state.as_str().to_string()),
        operation_id: Set(d.operation.to_string()),
        create_time: Set(d.create_time),
        update_time: Set(d.update_time),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// One deployment of `org`.
pub async fn deployment(
    conn: &impl ConnectionTrait,
    org: Uuid,
    id: Uuid,
) -> Result<Option<Deployment>> {
    deployment::Entity::find_by_id(id.to_string())
        .filter(deployment::Column::OrganizationId.eq(org.to_string()))
        .one(conn)
        .await?
        .map(deployment_to_domain)
        .transpose()
}

/// The environment's ACTIVE deployment.
pub async fn active_deployment(
    conn: &impl ConnectionTrait,
    org: Uuid,
    env: Uuid,
) -> Result<Option<Deployment>> {
    deployment::Entity::find()
        .filter(deployment::Column::OrganizationId.eq(org.to_string()))
        .filter(deployment::Column::EnvironmentId.eq(env.to_string()))
        .filter(deployment::Column::State.eq(DeploymentState::Active.as_str()))
        .one(conn)
        .await?
        .map(deployment_to_domain)
        .transpose()
}

/// The revision of the newest SUPERSEDED deployment of the environment
/// whose revision differs from `current`: what a rollback goes back to.
pub async fn previous_revision(
    conn: &impl ConnectionTrait,
    org: Uuid,
    env: Uuid,
    current: Option<Uuid>,
) -> Result<Option<Uuid>> {
    let mut q = deployment::Entity::find()
        .filter(deployment::Column::OrganizationId.eq(org.to_string()))
        .filter(deployment::Column::EnvironmentId.eq(env.to_string()))
        .filter(deployment::Column::State.eq(DeploymentState::Superseded.as_str()));
    if let Some(c) = current {
        q = q.filter(deployment::Column::RevisionId.ne(c.to_string()));
    }
    q.order_by_desc(deployment::Column::Id)
        .one(conn)
        .await?
        .map(|m| uuid(&m.revision_id))
        .transpose()
}

/// Sets a deployment's state.
pub async fn set_deployment_state(
    conn: &impl ConnectionTrait,
    id: Uuid,
    state: DeploymentState,
) -> Result<()> {
    deployment::Entity::update_many()
        .col_expr(deployment::Column::State, Expr::value(state.as_str()))
        .col_expr(deployment::Column::UpdateTime, Expr::value(Utc::now()))
        .filter(deployment::Column::Id.eq(id.to_string()))
        .exec(conn)
        .await?;
    Ok(())
}

/// A page of `org`'s deployments (optionally one environment's) of
/// bundles `visible` lets through, in creation order.
pub async fn list_deployments(
    conn: &impl ConnectionTrait,
    org: Uuid,
    env: Option<Uuid>,
    visible: &Visible,
    page: &PageRequest,
) -> Result<Vec<Deployment>> {
    let mut q = deployment::Entity::find()
        .filter(deployment::Column::OrganizationId.eq(org.to_string()))
        .filter(deployment::Column::RevisionId.in_subquery(visible_revision_ids(org, visible)));
    if let Some(e) = env {
        q = q.filter(deployment::Column::EnvironmentId.eq(e.to_string()));
    }
    if let Some(after) = &page.after {
        q = q.filter(deployment::Column::Id.gt(after.as_str()));
    }
    q.order_by_asc(deployment::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?
        .into_iter()
        .map(deployment_to_domain)
        .collect()
}

/// Deletes every bundle of `org` with its environments, variables (secret
/// values with them), revisions and deployments; how many rows went.
pub async fn purge_organization(conn: &impl ConnectionTrait, org: Uuid) -> Result<u64> {
    use crate::store::delete_of_organization as delete;
    Ok(delete::<environment_variable::Entity>(
        conn,
        environment_variable::Column::OrganizationId,
        org,
    )
    .await?
        + delete::<deployment::Entity>(conn, deployment::Column::OrganizationId, org).await?
        + delete::<revision::Entity>(conn, revision::Column::OrganizationId, org).await?
        + delete::<environment::Entity>(conn, environment::Column::OrganizationId, org).await?
        + delete::<bundle::Entity>(conn, bundle::Column::OrganizationId, org).await?)
}

/// Organizations with bundle rows, in id order after `after`, at most
/// `limit`.
pub async fn holders(
    conn: &impl ConnectionTrait,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    use crate::store::organizations_of as of;
    let mut all = of::<bundle::Entity>(conn, bundle::Column::OrganizationId, after, limit).await?;
    all.extend(
        of::<environment::Entity>(conn, environment::Column::OrganizationId, after, limit).await?,
    );
    all.extend(
        of::<environment_variable::Entity>(
            conn,
            environment_variable::Column::OrganizationId,
            after,
            limit,
        )
        .await?,
    );
    all.extend(of::<revision::Entity>(conn, revision::Column::OrganizationId, after, limit).await?);
    all.extend(
        of::<deployment::Entity>(conn, deployment::Column::OrganizationId, after, limit).await?,
    );
    Ok(all)
}

/// What a project's purge deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgedProject {
    /// Bundles deleted.
    pub bundles: Vec<Uuid>,
    /// Environments deleted.
    pub environments: Vec<Uuid>,
    /// Revisions deleted (their BUILD operations are the caller's).
    pub revisions: Vec<Uuid>,
    /// Deployments deleted (their DEPLOY operations are the caller's).
    pub deployments: Vec<Uuid>,
    /// Variables deleted.
    pub variables: u64,
}

async fn ids_where<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    id: E::Column,
    cond: Condition,
) -> Result<Vec<Uuid>> {
    let ids: Vec<String> = E::find()
        .select_only()
        .column(id)
        .filter(cond)
        .into_tuple()
        .all(conn)
        .await?;
    ids.iter().map(|i| uuid(i)).collect()
}

/// Deletes every bundle of `org` in `project`, with its environments,
/// variables, revisions and deployments.
pub async fn purge_project(
    conn: &impl ConnectionTrait,
    org: Uuid,
    project: Uuid,
) -> Result<PurgedProject> {
    let of_org = |c: bundle::Column| c.eq(org.to_string());
    let bundles = ids_where::<bundle::Entity>(
        conn,
        bundle::Column::Id,
        Condition::all()
            .add(of_org(bundle::Column::OrganizationId))
            .add(bundle::Column::ProjectId.eq(project.to_string())),
    )
    .await?;
    let mut purged = PurgedProject::default();
    for chunk in bundles.chunks(200) {
        let chunk_ids = || chunk.iter().map(Uuid::to_string);
        let environments = ids_where::<environment::Entity>(
            conn,
            environment::Column::Id,
            Condition::all()
                .add(environment::Column::OrganizationId.eq(org.to_string()))
                .add(environment::Column::BundleId.is_in(chunk_ids())),
        )
        .await?;
        let revisions = ids_where::<revision::Entity>(
            conn,
            revision::Column::Id,
            Condition::all()
                .add(revision::Column::OrganizationId.eq(org.to_string()))
                .add(revision::Column::BundleId.is_in(chunk_ids())),
        )
        .await?;
        let deployments = ids_where::<deployment::Entity>(
            conn,
            deployment::Column::Id,
            Condition::all()
                .add(deployment::Column::OrganizationId.eq(org.to_string()))
                .add(
                    deployment::Column::EnvironmentId
                        .is_in(environments.iter().map(Uuid::to_string)),
                ),
        )
        .await?;
        for env in &environments {
            purged.variables += environment_variable::Entity::delete_many()
                .filter(environment_variable::Column::EnvironmentId.eq(env.to_string()))
                .exec(conn)
                .await?
                .rows_affected;
        }
        deployment::Entity::delete_many()
            .filter(deployment::Column::OrganizationId.eq(org.to_string()))
            .filter(
                deployment::Column::EnvironmentId.is_in(environments.iter().map(Uuid::to_string)),
            )
            .exec(conn)
            .await?;
        environment::Entity::delete_many()
            .filter(environment::Column::OrganizationId.eq(org.to_string()))
            .filter(environment::Column::BundleId.is_in(chunk_ids()))
            .exec(conn)
            .await?;
        revision::Entity::delete_many()
            .filter(revision::Column::OrganizationId.eq(org.to_string()))
            .filter(revision::Column::BundleId.is_in(chunk_ids()))
            .exec(conn)
            .await?;
        bundle::Entity::delete_many()
            .filter(bundle::Column::OrganizationId.eq(org.to_string()))
            .filter(bundle::Column::Id.is_in(chunk_ids()))
            .exec(conn)
            .await?;
        purged.environments.extend(environments);
        purged.revisions.extend(revisions);
        purged.deployments.extend(deployments);
    }
    purged.bundles = bundles;
    Ok(purged)
}

/// The (organization, project) pairs bundles belong to, each once, after
/// `after` in that order, at most `limit`.
pub async fn projects_held(
    conn: &impl ConnectionTrait,
    after: Option<(Uuid, Uuid)>,
    limit: u64,
) -> Result<Vec<(Uuid, Uuid)>> {
    let mut q = bundle::Entity::find()
        .select_only()
        .column(bundle::Column::OrganizationId)
        .column(bundle::Column::ProjectId)
        .distinct()
        .filter(bundle::Column::ProjectId.is_not_null());
    if let Some((org, project)) = after {
        q = q.filter(
            Condition::any()
                .add(bundle::Column::OrganizationId.gt(org.to_string()))
                .add(
                    Condition::all()
                        .add(bundle::Column::OrganizationId.eq(org.to_string()))
                        .add(bundle::Column::ProjectId.gt(project.to_string())),
                ),
        );
    }
    let rows: Vec<(String, Option<String>)> = q
        .order_by_asc(bundle::Column::OrganizationId)
        .order_by_asc(bundle::Column::ProjectId)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    rows.iter()
        .filter_map(|(o, p)| p.as_ref().map(|p| (o, p)))
        .map(|(o, p)| Ok((uuid(o)?, uuid(p)?)))
        .collect()
}
