//! Bundles: definitions (a repository, a path, a build spec — size-capped,
//! no path traversal), environments with variables (secret values sealed,
//! write-only), immutable revisions (a commit and the definition's digest)
//! and deployments (a revision into an environment; exactly one ACTIVE per
//! environment, kept by the organization's lock and a partial unique
//! index). Revisions queue a BUILD operation, deployments a DEPLOY one.
//!
//! Bundles carry an optional project (`organizations/{org}/projects/{p}`),
//! and everything under a bundle (its environments, revisions, deployments
//! and their operations) is authorized where the bundle lives: in its
//! project's scope when it has one (`authorize_rpc_in`: a member's roles on
//! that project count, a project-only member of another project and
//! everyone once the project is deleted get NOT_FOUND naming the resource),
//! in the organization otherwise. A method reads which bundle a name
//! belongs to first (nothing of it is answered before the authority
//! decides); a name that does not exist is decided in the organization and
//! then answered NOT_FOUND. Lists show what the caller could get: the
//! organization-wide bundles when the organization allows the list, and
//! those of each project that does ([`Visible`]). How bundles follow their
//! project's deletion, restoration and purge is `crate::purge`.

pub mod grpc;
pub mod store;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use loopback_org_core_client::{AuthorityDenied, OrganizationPolicy};
use loopback_runtime::auth::Principal;
use loopback_runtime::authz::Rpc;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::Refusal;
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::tx::WriteOptions;
use serde_json::json;
use sha2_hmac::{Digest as _, Sha256};
use uuid::Uuid;

use crate::error::{Error, IN_USE, NO_DEPLOYMENT, Result};
use crate::git::RepositoryName;
use crate::notifications::{EventType, NewEvent};
use crate::operations::{OpKind, Outcome, WorkItem, WorkerVariable};
use crate::{Integrations, rpcs};

/// The limit on bundles per organization.
pub const MAX_BUNDLES: &str = "max_bundles";
/// Largest build spec, in bytes.
pub const MAX_BUILD_SPEC_BYTES: usize = 64 * 1024;
/// Longest bundle path, in bytes.
pub const MAX_PATH_BYTES: usize = 512;
/// Largest variable value, in bytes.
pub const MAX_VALUE_BYTES: usize = 32 * 1024;
/// Most variables per environment.
pub const MAX_VARIABLES: usize = 200;

/// Associated data of a secret variable's sealed value.
pub fn variable_aad(id: &str) -> String {
    format!("environmentVariables/{id}/value")
}

loopback_runtime::resource_name! {
    /// `organizations/{org}/bundles/{id}`, parsed.
    pub struct BundleName = "bundles", id: Uuid;
}
loopback_runtime::resource_name! {
    /// `organizations/{org}/environments/{id}`, parsed.
    pub struct EnvironmentName = "environments", id: Uuid;
}
loopback_runtime::resource_name! {
    /// `organizations/{org}/revisions/{id}`, parsed.
    pub struct RevisionName = "revisions", id: Uuid;
}
loopback_runtime::resource_name! {
    /// `organizations/{org}/deployments/{id}`, parsed.
    pub struct DeploymentName = "deployments", id: Uuid;
}

/// A bundle definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// Project, if any.
    pub project: Option<Uuid>,
    /// Human name.
    pub display_name: String,
    /// Repository id.
    pub repository: Uuid,
    /// Directory in the repository.
    pub path: String,
    /// Build specification.
    pub build_spec: String,
    /// `sha256:<hex>` of path and spec.
    pub digest: String,
    /// Version (the etag).
    pub version: i64,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

impl Bundle {
    /// Its resource name.
    pub fn name(&self) -> BundleName {
        BundleName {
            organization: self.organization,
            id: self.id,
        }
    }
}

/// The digest of a definition: `sha256:` and the hex SHA-256 of its path
/// and build spec.
pub fn definition_digest(path: &str, build_spec: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"path\n");
    h.update(path.as_bytes());
    h.update(b"\nbuild_spec\n");
    h.update(build_spec.as_bytes());
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A path inside a repository: relative, no `..` or `.` segments, no
/// backslashes or control characters, at most 512 bytes; trailing `/`
/// dropped. Empty is the root.
pub fn bundle_path(value: &str) -> std::result::Result<String, String> {
    let v = value.trim_end_matches('/');
    if v.len() > MAX_PATH_BYTES {
        return Err(format!("must be at most {MAX_PATH_BYTES} bytes"));
    }
    if v.is_empty() {
        return Ok(String::new());
    }
    if v.starts_with('/') || v.contains('\\') || v.chars().any(char::is_control) {
        return Err(
            "must be a relative path inside the repository (no leading '/', no '\\')".into(),
        );
    }
    if v.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err("must not contain empty, '.' or '..' segments (no path traversal)".into());
    }
    Ok(v.to_string())
}

/// A build spec of at most 64 KiB.
pub fn build_spec(value: &str) -> std::result::Result<String, String> {
    if value.len() > MAX_BUILD_SPEC_BYTES {
        return Err(format!(
            "must be at most {MAX_BUILD_SPEC_BYTES} bytes ({} given)",
            value.len()
        ));
    }
    if value.contains('\0') {
        return Err("must not contain NUL characters".into());
    }
    Ok(value.to_string())
}

/// A full commit SHA-1: 40 hexadecimal characters, stored lower case.
pub fn commit_sha(value: &str) -> std::result::Result<String, String> {
    if value.len() == 40 && value.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err("must be a full commit SHA: 40 hexadecimal characters".into())
    }
}

/// A variable name: an uppercase letter or `_`, then uppercase letters,
/// digits or `_`, at most 128 characters.
pub fn variable_name(value: &str) -> std::result::Result<(), String> {
    let mut chars = value.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_');
    if first_ok
        && value.len() <= 128
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        Ok(())
    } else {
        Err("must be an uppercase letter or '_' followed by uppercase letters, digits or '_' (at most 128)".into())
    }
}

/// A project of the organization, `organizations/{org}/projects/{id}`.
pub fn project(org: Uuid, value: &str) -> std::result::Result<Option<Uuid>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let (project_org, id) = loopback_runtime::validation::child_name(value, "projects")?;
    if project_org != org {
        return Err("must be a project of the bundle's organization".into());
    }
    Ok(Some(id))
}

/// A new bundle, parsed.
#[derive(Debug, Clone)]
pub struct NewBundle {
    /// Human name.
    pub display_name: String,
    /// Project, if any.
    pub project: Option<Uuid>,
    /// Repository.
    pub repository: RepositoryName,
    /// Path.
    pub path: String,
    /// Build spec.
    pub build_spec: String,
}

/// CreateBundle, validated.
#[derive(Debug, Clone)]
pub struct CreateBundle {
    /// Organization.
    pub organization: Uuid,
    /// The bundle.
    pub bundle: NewBundle,
    /// `request_id`, `validate_only`.
    pub write: WriteOptions,
}

/// UpdateBundle, validated (`None`: unchanged).
#[derive(Debug, Clone)]
pub struct UpdateBundle {
    /// The bundle.
    pub name: BundleName,
    /// Expected version.
    pub etag: Option<i64>,
    /// New name.
    pub display_name: Option<String>,
    /// New path.
    pub path: Option<String>,
    /// New build spec.
    pub build_spec: Option<String>,
    /// New project.
    pub project: Option<Option<Uuid>>,
    /// Check only.
    pub validate_only: bool,
}

/// Delete{Bundle,Environment}, validated.
#[derive(Debug, Clone, Copy)]
pub struct Delete<N> {
    /// The resource.
    pub name: N,
    /// Expected version.
    pub etag: Option<i64>,
    /// Check only.
    pub validate_only: bool,
}

/// A list in an organization, with an optional parent filter.
#[derive(Debug, Clone)]
pub struct ListIn<F> {
    /// Organization.
    pub organization: Uuid,
    /// Filter.
    pub filter: Option<F>,
    /// Page.
    pub page: PageRequest,
}

/// A variable as shown (secret values never).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Name.
    pub name: String,
    /// Value (empty for secrets).
    pub value: String,
    /// Secret.
    pub secret: bool,
}

/// An environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// Bundle id.
    pub bundle: Uuid,
    /// Human name.
    pub display_name: String,
    /// Variables.
    pub variables: Vec<Variable>,
    /// The ACTIVE deployment.
    pub active_deployment: Option<Uuid>,
    /// Version (the etag).
    pub version: i64,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

impl Environment {
    /// Its resource name.
    pub fn name(&self) -> EnvironmentName {
        EnvironmentName {
            organization: self.organization,
            id: self.id,
        }
    }
}

/// CreateEnvironment, validated.
#[derive(Debug, Clone)]
pub struct CreateEnvironment {
    /// Organization.
    pub organization: Uuid,
    /// The bundle.
    pub bundle: BundleName,
    /// Human name.
    pub display_name: String,
    /// Variables (secret ones with their values).
    pub variables: Vec<Variable>,
    /// `request_id`, `validate_only`.
    pub write: WriteOptions,
}

/// UpdateEnvironment, validated.
#[derive(Debug, Clone)]
pub struct UpdateEnvironment {
    /// The environment.
    pub name: EnvironmentName,
    /// Expected version.
    pub etag: Option<i64>,
    /// New name.
    pub display_name: Option<String>,
    /// New variables (a secret one with an empty value keeps its value).
    pub variables: Option<Vec<Variable>>,
    /// Check only.
    pub validate_only: bool,
}

/// A revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// Bundle id.
    pub bundle: Uuid,
    /// Commit.
    pub commit_sha: String,
    /// Definition digest then.
    pub digest: String,
    /// Path then.
    pub path: String,
    /// Build spec then.
    pub build_spec: String,
    /// Its BUILD operation.
    pub build_operation: Uuid,
    /// Created.
    pub create_time: DateTime<Utc>,
}

impl Revision {
    /// Its resource name.
    pub fn name(&self) -> RevisionName {
        RevisionName {
            organization: self.organization,
            id: self.id,
        }
    }
}

/// CreateRevision, validated.
#[derive(Debug, Clone)]
pub struct CreateRevision {
    /// Organization.
    pub organization: Uuid,
    /// The bundle.
    pub bundle: BundleName,
    /// Commit.
    pub commit_sha: String,
    /// `request_id`, `validate_only`.
    pub write: WriteOptions,
}

/// Where a deployment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentState {
    /// Its operation is queued or running.
    Pending,
    /// The environment's one active deployment.
    Active,
    /// Replaced.
    Superseded,
    /// Its operation failed.
    Failed,
    /// Its operation was cancelled.
    Cancelled,
}

impl DeploymentState {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Active => "ACTIVE",
            Self::Superseded => "SUPERSEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// From the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PENDING" => Some(Self::Pending),
            "ACTIVE" => Some(Self::Active),
            "SUPERSEDED" => Some(Self::Superseded),
            "FAILED" => Some(Self::Failed),
            "CANCELLED" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// A deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// Environment id.
    pub environment: Uuid,
    /// Revision id.
    pub revision: Uuid,
    /// State.
    pub state: DeploymentState,
    /// Its DEPLOY operation.
    pub operation: Uuid,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

impl Deployment {
    /// Its resource name.
    pub fn name(&self) -> DeploymentName {
        DeploymentName {
            organization: self.organization,
            id: self.id,
        }
    }
}

/// CreateDeployment, validated.
#[derive(Debug, Clone)]
pub struct CreateDeployment {
    /// Organization.
    pub organization: Uuid,
    /// Environment.
    pub environment: EnvironmentName,
    /// Revision.
    pub revision: RevisionName,
    /// `request_id`, `validate_only`.
    pub write: WriteOptions,
}

/// RedeployEnvironment / RollbackEnvironment, validated.
#[derive(Debug, Clone)]
pub struct Redeploy {
    /// Environment.
    pub environment: EnvironmentName,
    /// Rollback: the revision to go back to (`None`: the previous one).
    pub revision: Option<RevisionName>,
    /// `request_id`.
    pub write: WriteOptions,
}

/// Which bundles (and what is under them) one list may show: the
/// organization-wide ones when the organization allows the list, and those
/// of the listed projects, each of which allows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visible {
    /// Organization-wide bundles.
    pub organization: bool,
    /// Bundles of these projects.
    pub projects: Vec<Uuid>,
}

/// `organizations/{org}/projects/{project}`.
pub fn project_name(org: Uuid, project: Uuid) -> String {
    format!("organizations/{org}/projects/{project}")
}

fn check_etag(expected: Option<i64>, version: i64, name: &dyn std::fmt::Display) -> Result<()> {
    if expected.is_some_and(|e| e != version) {
        return Err(Refusal::EtagMismatch(name.to_string()).into());
    }
    Ok(())
}

impl Integrations {
    /// Authorizes `rpc` on something of a bundle of `org` in `project`
    /// (`None`: organization-wide): in the project's scope when there is
    /// one. A project that hides it from the caller (deleted, unknown, or
    /// not theirs) answers NOT_FOUND naming `resource`, never the project.
    pub(crate) async fn authorize_in_project(
        &self,
        principal: &Principal,
        rpc: &Rpc,
        org: Uuid,
        project: Option<Uuid>,
        resource: &(dyn std::fmt::Display + Sync),
    ) -> Result<Arc<OrganizationPolicy>> {
        let Some(project) = project else {
            return self.authorize(principal, rpc, org).await;
        };
        match self
            .authority()
            .authorize_rpc_in(principal, rpc, &project_name(org, project))
            .await
        {
            Ok(policy) => Ok(policy),
            Err(AuthorityDenied::NotFound { .. }) => Err(Error::not_found(resource.to_string())),
            Err(other) => Err(other.into()),
        }
    }

    /// The project of a bundle of `org` (`None`: organization-wide, or no
    /// such bundle, which the organization then answers NOT_FOUND for).
    pub(crate) async fn bundle_scope(&self, org: Uuid, bundle: Uuid) -> Result<Option<Uuid>> {
        Ok(store::bundle_project(self.db(), org, bundle)
            .await?
            .flatten())
    }

    async fn scope_of_bundle_of(&self, org: Uuid, bundle: Option<Uuid>) -> Result<Option<Uuid>> {
        match bundle {
            Some(b) => self.bundle_scope(org, b).await,
            None => Ok(None),
        }
    }

    /// The project of an environment's bundle (see [`Self::bundle_scope`]).
    pub(crate) async fn environment_scope(&self, name: EnvironmentName) -> Result<Option<Uuid>> {
        let org = name.organization;
        let bundle = store::environment_bundle(self.db(), org, name.id).await?;
        self.scope_of_bundle_of(org, bundle).await
    }

    /// The project of a revision's bundle (see [`Self::bundle_scope`]).
    pub(crate) async fn revision_scope(&self, name: RevisionName) -> Result<Option<Uuid>> {
        let org = name.organization;
        let bundle = store::revision_bundle(self.db(), org, name.id).await?;
        self.scope_of_bundle_of(org, bundle).await
    }

    /// The project of a deployment's bundle (see [`Self::bundle_scope`]).
    pub(crate) async fn deployment_scope(&self, name: DeploymentName) -> Result<Option<Uuid>> {
        let org = name.organization;
        let bundle = store::deployment_bundle(self.db(), org, name.id).await?;
        self.scope_of_bundle_of(org, bundle).await
    }

    /// What a list by `principal` of `rpc` in `org` may show: the
    /// organization-wide bundles when the organization allows it, and
    /// the bundles of every project of the organization's bundles that
    /// allows it (a deleted project allows nothing). When neither does,
    /// the organization's refusal (NOT_FOUND for strangers,
    /// PERMISSION_DENIED for members without the permission anywhere).
    pub(crate) async fn visible(
        &self,
        principal: &Principal,
        rpc: &Rpc,
        org: Uuid,
    ) -> Result<Visible> {
        let refused = match self.authorize(principal, rpc, org).await {
            Ok(_) => None,
            Err(e @ Error::Denied(AuthorityDenied::PermissionDenied { .. })) => Some(e),
            Err(other) => return Err(other),
        };
        let mut visible = Visible {
            organization: refused.is_none(),
            projects: Vec::new(),
        };
        for project in store::bundle_projects(self.db(), org).await? {
            match self
                .authority()
                .authorize_rpc_in(principal, rpc, &project_name(org, project))
                .await
            {
                Ok(_) => visible.projects.push(project),
                Err(
                    AuthorityDenied::NotFound { .. } | AuthorityDenied::PermissionDenied { .. },
                ) => {}
                Err(other) => return Err(other.into()),
            }
        }
        match refused {
            Some(e) if visible.projects.is_empty() => Err(e),
            _ => Ok(visible),
        }
    }

    /// CreateBundle; `max_bundles` holds under concurrency (the count runs
    /// under the organization's lock).
    pub async fn create_bundle(
        &self,
        principal: &Principal,
        input: CreateBundle,
    ) -> Result<Bundle> {
        let rpc = &rpcs::CREATE_BUNDLE;
        let org = input.organization;
        let new = input.bundle;
        // In the project, when there is one: a deleted or unknown project
        // (or one the caller is not bound to) is NOT_FOUND.
        let scope_name = match new.project {
            Some(p) => project_name(org, p),
            None => format!("organizations/{org}"),
        };
        let policy = self
            .authorize_in_project(principal, rpc, org, new.project, &scope_name)
            .await?;
        if new.repository.organization != org {
            return Err(Error::invalid(
                "bundle.repository",
                "must be a repository of the parent organization",
            ));
        }
        let mut tx = self.begin_write(org, rpc, principal, input.write).await?;
        if let Some(id) = tx.replayed_id() {
            return self
                .bundle_in(
                    tx.conn(),
                    BundleName {
                        organization: org,
                        id,
                    },
                )
                .await;
        }
        let repo = self
            .repository_in(tx.conn(), new.repository)
            .await
            .map_err(|_| {
                Error::invalid(
                    "bundle.repository",
                    format!("{} is not a linked repository", new.repository),
                )
            })?;
        let count = store::count_bundles(tx.conn(), org).await?;
        if let Some(limit) = policy.limit(MAX_BUNDLES)
            && i64::try_from(count).unwrap_or(i64::MAX) >= limit
        {
            return Err(Refusal::LimitReached {
                organization: format!("organizations/{org}"),
                limit: MAX_BUNDLES.into(),
                limit_value: limit,
                usage: i64::try_from(count).unwrap_or(i64::MAX),
            }
            .into());
        }
        let now = Utc::now();
        let bundle = Bundle {
            id: Uuid::now_v7(),
            organization: org,
            project: new.project,
            display_name: new.display_name,
            repository: repo.id,
            digest: definition_digest(&new.path, &new.build_spec),
            path: new.path,
            build_spec: new.build_spec,
            version: 1,
            create_time: now,
            update_time: now,
        };
        store::insert_bundle(tx.conn(), &bundle).await?;
        tx.created(bundle.id);
        tx.audit(bundle.name().to_string(), bundle_audit(&bundle));
        tx.commit().await?;
        Ok(bundle)
    }

    /// GetBundle.
    pub async fn get_bundle(&self, principal: &Principal, name: BundleName) -> Result<Bundle> {
        let scope = self.bundle_scope(name.organization, name.id).await?;
        self.authorize_in_project(
            principal,
            &rpcs::GET_BUNDLE,
            name.organization,
            scope,
            &name,
        )
        .await?;
        self.bundle_in(self.db(), name).await
    }

    /// ListBundles.
    pub async fn list_bundles(
        &self,
        principal: &Principal,
        input: ListIn<()>,
    ) -> Result<Page<Bundle>> {
        let visible = self
            .visible(principal, &rpcs::LIST_BUNDLES, input.organization)
            .await?;
        let rows =
            store::list_bundles(self.db(), input.organization, &visible, &input.page).await?;
        Ok(input.page.page(rows, |b| b.id.to_string()))
    }

    /// UpdateBundle (etag checked).
    pub async fn update_bundle(
        &self,
        principal: &Principal,
        input: UpdateBundle,
    ) -> Result<Bundle> {
        let rpc = &rpcs::UPDATE_BUNDLE;
        let name = input.name;
        let org = name.organization;
        let scope = self.bundle_scope(org, name.id).await?;
        self.authorize_in_project(principal, rpc, org, scope, &name)
            .await?;
        // Moving it: the caller must be allowed to change bundles where it
        // goes too (a project there must be live).
        if let Some(to) = input.project
            && to != scope
        {
            let target = match to {
                Some(p) => project_name(org, p),
                None => format!("organizations/{org}"),
            };
            self.authorize_in_project(principal, rpc, org, to, &target)
                .await?;
        }
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let mut b = self.bundle_in(tx.conn(), name).await?;
        if b.project != scope {
            // Moved since it was authorized: ask again where it is now.
            self.authorize_in_project(principal, rpc, org, b.project, &name)
                .await?;
        }
        check_etag(input.etag, b.version, &name)?;
        if let Some(v) = input.display_name {
            b.display_name = v;
        }
        if let Some(v) = input.path {
            b.path = v;
        }
        if let Some(v) = input.build_spec {
            b.build_spec = v;
        }
        if let Some(v) = input.project {
            b.project = v;
        }
        b.digest = definition_digest(&b.path, &b.build_spec);
        b.version += 1;
        b.update_time = Utc::now();
        store::update_bundle(tx.conn(), &b).await?;
        tx.audit(name.to_string(), bundle_audit(&b));
        tx.commit().await?;
        Ok(b)
    }

    /// DeleteBundle: only without environments.
    pub async fn delete_bundle(
        &self,
        principal: &Principal,
        input: Delete<BundleName>,
    ) -> Result<Bundle> {
        let rpc = &rpcs::DELETE_BUNDLE;
        let name = input.name;
        let scope = self.bundle_scope(name.organization, name.id).await?;
        self.authorize_in_project(principal, rpc, name.organization, scope, &name)
            .await?;
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let b = self.bundle_in(tx.conn(), name).await?;
        check_etag(input.etag, b.version, &name)?;
        let envs = store::environments_of_bundle(tx.conn(), name.organization, name.id).await?;
        if envs > 0 {
            return Err(Error::precondition(
                IN_USE,
                format!("{name} has {envs} environments: delete them first"),
                vec![("resource", name.to_string())],
            ));
        }
        store::delete_bundle(tx.conn(), name.organization, name.id).await?;
        tx.audit(name.to_string(), bundle_audit(&b));
        tx.commit().await?;
        Ok(b)
    }

    /// A bundle; NOT_FOUND when missing or another organization's.
    pub(crate) async fn bundle_in(&self, conn: &impl Conn, name: BundleName) -> Result<Bundle> {
        store::bundle(conn, name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }

    /// How many bundles build from a repository (UnlinkRepository asks).
    pub(crate) async fn bundles_of_repository(
        &self,
        conn: &impl Conn,
        org: Uuid,
        repository: Uuid,
    ) -> Result<u64> {
        store::bundles_of_repository(conn, org, repository).await
    }

    /// CreateEnvironment.
    pub async fn create_environment(
        &self,
        principal: &Principal,
        input: CreateEnvironment,
    ) -> Result<Environment> {
        let rpc = &rpcs::CREATE_ENVIRONMENT;
        let org = input.organization;
        let scope = if input.bundle.organization == org {
            self.bundle_scope(org, input.bundle.id).await?
        } else {
            None
        };
        self.authorize_in_project(principal, rpc, org, scope, &input.bundle)
            .await?;
        if input.bundle.organization != org {
            return Err(Error::invalid(
                "environment.bundle",
                "must be a bundle of the parent organization",
            ));
        }
        let mut tx = self.begin_write(org, rpc, principal, input.write).await?;
        if let Some(id) = tx.replayed_id() {
            return self
                .environment_in(
                    tx.conn(),
                    EnvironmentName {
                        organization: org,
                        id,
                    },
                )
                .await;
        }
        let bundle = self.bundle_in(tx.conn(), input.bundle).await.map_err(|_| {
            Error::invalid(
                "environment.bundle",
                format!("{} is not a bundle", input.bundle),
            )
        })?;
        let now = Utc::now();
        let env = Environment {
            id: Uuid::now_v7(),
            organization: org,
            bundle: bundle.id,
            display_name: input.display_name,
            variables: Vec::new(),
            active_deployment: None,
            version: 1,
            create_time: now,
            update_time: now,
        };
        store::insert_environment(tx.conn(), &env).await?;
        self.write_variables(tx.conn(), &env, &input.variables)
            .await?;
        tx.created(env.id);
        tx.audit(
            env.name().to_string(),
            environment_audit(&env, &input.variables),
        );
        let env = self.environment_in(tx.conn(), env.name()).await?;
        tx.commit().await?;
        Ok(env)
    }

    /// Replaces an environment's variables, sealing secret values; a secret
    /// sent without a value keeps the stored one.
    async fn write_variables(
        &self,
        conn: &impl Conn,
        env: &Environment,
        vars: &[Variable],
    ) -> Result<()> {
        let kept = store::sealed_variables(conn, env.id).await?;
        let mut rows = Vec::with_capacity(vars.len());
        for (i, v) in vars.iter().enumerate() {
            let id = Uuid::now_v7();
            let row = if v.secret {
                let sealed = if v.value.is_empty() {
                    // Re-seal the kept value under the new row's id.
                    let Some((old_id, sealed)) = kept
                        .iter()
                        .find(|(n, _)| *n == v.name)
                        .map(|(_, s)| s.clone())
                    else {
                        return Err(Error::invalid(
                            format!("environment.variables[{i}].value"),
                            "a new secret variable needs a value",
                        ));
                    };
                    let plain = self.open(&sealed, &variable_aad(&old_id.to_string()))?;
                    self.seal(&plain, &variable_aad(&id.to_string()))?
                } else {
                    self.seal(&v.value, &variable_aad(&id.to_string()))?
                };
                store::VariableRow {
                    id,
                    name: v.name.clone(),
                    value: None,
                    sealed: Some(sealed),
                }
            } else {
                store::VariableRow {
                    id,
                    name: v.name.clone(),
                    value: Some(v.value.clone()),
                    sealed: None,
                }
            };
            rows.push(row);
        }
        store::replace_variables(conn, env.organization, env.id, &rows).await
    }

    /// GetEnvironment.
    pub async fn get_environment(
        &self,
        principal: &Principal,
        name: EnvironmentName,
    ) -> Result<Environment> {
        let scope = self.environment_scope(name).await?;
        self.authorize_in_project(
            principal,
            &rpcs::GET_ENVIRONMENT,
            name.organization,
            scope,
            &name,
        )
        .await?;
        self.environment_in(self.db(), name).await
    }

    /// ListEnvironments.
    pub async fn list_environments(
        &self,
        principal: &Principal,
        input: ListIn<()>,
    ) -> Result<Page<Environment>> {
        let visible = self
            .visible(principal, &rpcs::LIST_ENVIRONMENTS, input.organization)
            .await?;
        let rows =
            store::list_environments(self.db(), input.organization, &visible, &input.page).await?;
        Ok(input.page.page(rows, |e| e.id.to_string()))
    }

    /// UpdateEnvironment (etag checked).
    pub async fn update_environment(
        &self,
        principal: &Principal,
        input: UpdateEnvironment,
    ) -> Result<Environment> {
        let rpc = &rpcs::UPDATE_ENVIRONMENT;
        let name = input.name;
        let scope = self.environment_scope(name).await?;
        self.authorize_in_project(principal, rpc, name.organization, scope, &name)
            .await?;
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let mut env = self.environment_in(tx.conn(), name).await?;
        check_etag(input.etag, env.version, &name)?;
        if let Some(v) = input.display_name {
            env.display_name = v;
        }
        env.version += 1;
        env.update_time = Utc::now();
        store::update_environment(tx.conn(), &env).await?;
        if let Some(vars) = &input.variables {
            self.write_variables(tx.conn(), &env, vars).await?;
        }
        tx.audit(
            name.to_string(),
            environment_audit(&env, input.variables.as_deref().unwrap_or(&env.variables)),
        );
        let env = self.environment_in(tx.conn(), name).await?;
        tx.commit().await?;
        Ok(env)
    }

    /// DeleteEnvironment, with its deployments.
    pub async fn delete_environment(
        &self,
        principal: &Principal,
        input: Delete<EnvironmentName>,
    ) -> Result<Environment> {
        let rpc = &rpcs::DELETE_ENVIRONMENT;
        let name = input.name;
        let scope = self.environment_scope(name).await?;
        self.authorize_in_project(principal, rpc, name.organization, scope, &name)
            .await?;
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let env = self.environment_in(tx.conn(), name).await?;
        check_etag(input.etag, env.version, &name)?;
        store::delete_environment(tx.conn(), name.organization, name.id).await?;
        tx.audit(
            name.to_string(),
            json!({ "display_name": env.display_name }),
        );
        tx.commit().await?;
        Ok(env)
    }

    /// An environment with its variables (secret values blank) and active
    /// deployment; NOT_FOUND when missing or another organization's.
    pub(crate) async fn environment_in(
        &self,
        conn: &impl Conn,
        name: EnvironmentName,
    ) -> Result<Environment> {
        store::environment(conn, name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }

    /// CreateRevision: fixes the bundle's definition and queues its build.
    pub async fn create_revision(
        &self,
        principal: &Principal,
        input: CreateRevision,
    ) -> Result<Revision> {
        let rpc = &rpcs::CREATE_REVISION;
        let org = input.organization;
        let scope = if input.bundle.organization == org {
            self.bundle_scope(org, input.bundle.id).await?
        } else {
            None
        };
        self.authorize_in_project(principal, rpc, org, scope, &input.bundle)
            .await?;
        if input.bundle.organization != org {
            return Err(Error::invalid(
                "revision.bundle",
                "must be a bundle of the parent organization",
            ));
        }
        let mut tx = self.begin_write(org, rpc, principal, input.write).await?;
        if let Some(id) = tx.replayed_id() {
            return self
                .revision_in(
                    tx.conn(),
                    RevisionName {
                        organization: org,
                        id,
                    },
                )
                .await;
        }
        let bundle = self.bundle_in(tx.conn(), input.bundle).await?;
        if store::revision_exists(tx.conn(), bundle.id, &input.commit_sha, &bundle.digest).await? {
            return Err(Refusal::AlreadyExists(format!(
                "{} already has a revision of commit {} with this definition",
                input.bundle, input.commit_sha
            ))
            .into());
        }
        let id = Uuid::now_v7();
        let operation = self
            .queue_operation(tx.conn(), org, OpKind::Build, id)
            .await?;
        let revision = Revision {
            id,
            organization: org,
            bundle: bundle.id,
            commit_sha: input.commit_sha,
            digest: bundle.digest,
            path: bundle.path,
            build_spec: bundle.build_spec,
            build_operation: operation,
            create_time: Utc::now(),
        };
        store::insert_revision(tx.conn(), &revision).await?;
        tx.created(id);
        tx.audit(
            revision.name().to_string(),
            json!({ "bundle": input.bundle.to_string(), "commit_sha": revision.commit_sha, "definition_digest": revision.digest }),
        );
        tx.commit().await?;
        Ok(revision)
    }

    /// GetRevision.
    pub async fn get_revision(
        &self,
        principal: &Principal,
        name: RevisionName,
    ) -> Result<Revision> {
        let scope = self.revision_scope(name).await?;
        self.authorize_in_project(
            principal,
            &rpcs::GET_REVISION,
            name.organization,
            scope,
            &name,
        )
        .await?;
        self.revision_in(self.db(), name).await
    }

    /// ListRevisions.
    pub async fn list_revisions(
        &self,
        principal: &Principal,
        input: ListIn<BundleName>,
    ) -> Result<Page<Revision>> {
        let visible = self
            .visible(principal, &rpcs::LIST_REVISIONS, input.organization)
            .await?;
        let rows = store::list_revisions(
            self.db(),
            input.organization,
            input.filter.map(|b| b.id),
            &visible,
            &input.page,
        )
        .await?;
        Ok(input.page.page(rows, |r| r.id.to_string()))
    }

    /// A revision; NOT_FOUND when missing or another organization's.
    pub(crate) async fn revision_in(
        &self,
        conn: &impl Conn,
        name: RevisionName,
    ) -> Result<Revision> {
        store::revision(conn, name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }

    /// CreateDeployment: a PENDING deployment and its DEPLOY operation.
    pub async fn create_deployment(
        &self,
        principal: &Principal,
        input: CreateDeployment,
    ) -> Result<Deployment> {
        let rpc = &rpcs::CREATE_DEPLOYMENT;
        let org = input.organization;
        let scope = if input.environment.organization == org {
            self.environment_scope(input.environment).await?
        } else {
            None
        };
        self.authorize_in_project(principal, rpc, org, scope, &input.environment)
            .await?;
        if input.environment.organization != org {
            return Err(Error::invalid(
                "deployment.environment",
                "must be an environment of the parent organization",
            ));
        }
        if input.revision.organization != org {
            return Err(Error::invalid(
                "deployment.revision",
                "must be a revision of the parent organization",
            ));
        }
        let mut tx = self.begin_write(org, rpc, principal, input.write).await?;
        if let Some(id) = tx.replayed_id() {
            return self
                .deployment_in(
                    tx.conn(),
                    DeploymentName {
                        organization: org,
                        id,
                    },
                )
                .await;
        }
        let deployment = self
            .deploy(tx.conn(), input.environment, input.revision)
            .await?;
        tx.created(deployment.id);
        tx.audit(deployment.name().to_string(), deployment_audit(&deployment));
        tx.commit().await?;
        Ok(deployment)
    }

    /// RedeployEnvironment: deploys the active revision again.
    pub async fn redeploy_environment(
        &self,
        principal: &Principal,
        input: Redeploy,
    ) -> Result<Deployment> {
        let rpc = &rpcs::REDEPLOY_ENVIRONMENT;
        let env_name = input.environment;
        let org = env_name.organization;
        let scope = self.environment_scope(env_name).await?;
        self.authorize_in_project(principal, rpc, org, scope, &env_name)
            .await?;
        let mut tx = self.begin_write(org, rpc, principal, input.write).await?;
        if let Some(id) = tx.replayed_id() {
            return self
                .deployment_in(
                    tx.conn(),
                    DeploymentName {
                        organization: org,
                        id,
                    },
                )
                .await;
        }
        let env = self.environment_in(tx.conn(), env_name).await?;
        let Some(active) = env.active_deployment else {
            return Err(Error::precondition(
                NO_DEPLOYMENT,
                format!("{env_name} has no active deployment to redeploy"),
                Vec::new(),
            ));
        };
        let active = self
            .deployment_in(
                tx.conn(),
                DeploymentName {
                    organization: org,
                    id: active,
                },
            )
            .await?;
        let deployment = self
            .deploy(
                tx.conn(),
                env_name,
                RevisionName {
                    organization: org,
                    id: active.revision,
                },
            )
            .await?;
        tx.created(deployment.id);
        tx.audit(deployment.name().to_string(), deployment_audit(&deployment));
        tx.commit().await?;
        Ok(deployment)
    }

    /// RollbackEnvironment: deploys an earlier revision (the given one, or
    /// the last one that was active before the active one).
    pub async fn rollback_environment(
        &self,
        principal: &Principal,
        input: Redeploy,
    ) -> Result<Deployment> {
        let rpc = &rpcs::ROLLBACK_ENVIRONMENT;
        let env_name = input.environment;
        let org = env_name.organization;
        let scope = self.environment_scope(env_name).await?;
        self.authorize_in_project(principal, rpc, org, scope, &env_name)
            .await?;
        let mut tx = self.begin_write(org, rpc, principal, input.write).await?;
        if let Some(id) = tx.replayed_id() {
            return self
                .deployment_in(
                    tx.conn(),
                    DeploymentName {
                        organization: org,
                        id,
                    },
                )
                .await;
        }
        let env = self.environment_in(tx.conn(), env_name).await?;
        let revision = match input.revision {
            Some(r) => r,
            None => {
                let active_revision = match env.active_deployment {
                    Some(id) => Some(
                        self.deployment_in(
                            tx.conn(),
                            DeploymentName {
                                organization: org,
                                id,
                            },
                        )
                        .await?
                        .revision,
                    ),
                    None => None,
                };
                let previous = store::previous_revision(tx.conn(), org, env.id, active_revision)
                    .await?
                    .ok_or_else(|| {
                        Error::precondition(
                            NO_DEPLOYMENT,
                            format!("{env_name} has no earlier revision to roll back to"),
                            Vec::new(),
                        )
                    })?;
                RevisionName {
                    organization: org,
                    id: previous,
                }
            }
        };
        let deployment = self.deploy(tx.conn(), env_name, revision).await?;
        tx.created(deployment.id);
        tx.audit(deployment.name().to_string(), deployment_audit(&deployment));
        tx.commit().await?;
        Ok(deployment)
    }

    /// Creates a PENDING deployment of `revision` into `environment` with
    /// its DEPLOY operation, inside the caller's transaction.
    async fn deploy(
        &self,
        conn: &impl Conn,
        environment: EnvironmentName,
        revision: RevisionName,
    ) -> Result<Deployment> {
        let env = self.environment_in(conn, environment).await?;
        let rev = self.revision_in(conn, revision).await.map_err(|_| {
            Error::invalid(
                "deployment.revision",
                format!("{revision} is not a revision"),
            )
        })?;
        if rev.bundle != env.bundle {
            return Err(Error::invalid(
                "deployment.revision",
                "must be a revision of the environment's bundle",
            ));
        }
        let id = Uuid::now_v7();
        let operation = self
            .queue_operation(conn, environment.organization, OpKind::Deploy, id)
            .await?;
        let now = Utc::now();
        let deployment = Deployment {
            id,
            organization: environment.organization,
            environment: env.id,
            revision: rev.id,
            state: DeploymentState::Pending,
            operation,
            create_time: now,
            update_time: now,
        };
        store::insert_deployment(conn, &deployment).await?;
        Ok(deployment)
    }

    /// GetDeployment.
    pub async fn get_deployment(
        &self,
        principal: &Principal,
        name: DeploymentName,
    ) -> Result<Deployment> {
        let scope = self.deployment_scope(name).await?;
        self.authorize_in_project(
            principal,
            &rpcs::GET_DEPLOYMENT,
            name.organization,
            scope,
            &name,
        )
        .await?;
        self.deployment_in(self.db(), name).await
    }

    /// ListDeployments.
    pub async fn list_deployments(
        &self,
        principal: &Principal,
        input: ListIn<EnvironmentName>,
    ) -> Result<Page<Deployment>> {
        let visible = self
            .visible(principal, &rpcs::LIST_DEPLOYMENTS, input.organization)
            .await?;
        let rows = store::list_deployments(
            self.db(),
            input.organization,
            input.filter.map(|e| e.id),
            &visible,
            &input.page,
        )
        .await?;
        Ok(input.page.page(rows, |d| d.id.to_string()))
    }

    /// A deployment; NOT_FOUND when missing or another organization's.
    pub(crate) async fn deployment_in(
        &self,
        conn: &impl Conn,
        name: DeploymentName,
    ) -> Result<Deployment> {
        store::deployment(conn, name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }

    /// The end of a DEPLOY operation, inside its write transaction (the
    /// organization's lock held): a success makes the deployment ACTIVE
    /// and supersedes the one before — unless a newer deployment is already
    /// active, then it is SUPERSEDED itself; a failure tells the
    /// organization's channels.
    pub(crate) async fn finish_deployment(
        &self,
        conn: &impl Conn,
        org: Uuid,
        id: Uuid,
        outcome: &Outcome,
    ) -> Result<()> {
        let d = self
            .deployment_in(
                conn,
                DeploymentName {
                    organization: org,
                    id,
                },
            )
            .await?;
        if d.state != DeploymentState::Pending {
            return Ok(());
        }
        let state = match outcome {
            Outcome::Succeeded => {
                let active = store::active_deployment(conn, org, d.environment).await?;
                match active {
                    Some(a) if a.id > d.id => DeploymentState::Superseded,
                    Some(a) => {
                        store::set_deployment_state(conn, a.id, DeploymentState::Superseded)
                            .await?;
                        DeploymentState::Active
                    }
                    None => DeploymentState::Active,
                }
            }
            Outcome::Failed(message) => {
                self.enqueue_event(
                    conn,
                    org,
                    NewEvent {
                        id: format!("deploy.failed/{}", d.id),
                        event_type: EventType::DeployFailed,
                        subject: format!("Deployment {} failed", d.name()),
                        message: message.clone(),
                        attributes: [
                            ("deployment".to_string(), d.name().to_string()),
                            (
                                "environment".to_string(),
                                format!("organizations/{org}/environments/{}", d.environment),
                            ),
                        ]
                        .into(),
                        event_time: Utc::now(),
                    },
                )
                .await?;
                DeploymentState::Failed
            }
            Outcome::Cancelled => DeploymentState::Cancelled,
        };
        store::set_deployment_state(conn, d.id, state).await
    }

    /// What a worker needs for an operation on `target`.
    pub(crate) async fn work_item(
        &self,
        conn: &impl Conn,
        org: Uuid,
        kind: OpKind,
        target: Uuid,
    ) -> Result<WorkItem> {
        let (revision, environment) = match kind {
            OpKind::Build => (
                self.revision_in(
                    conn,
                    RevisionName {
                        organization: org,
                        id: target,
                    },
                )
                .await?,
                None,
            ),
            OpKind::Deploy => {
                let d = self
                    .deployment_in(
                        conn,
                        DeploymentName {
                            organization: org,
                            id: target,
                        },
                    )
                    .await?;
                let r = self
                    .revision_in(
                        conn,
                        RevisionName {
                            organization: org,
                            id: d.revision,
                        },
                    )
                    .await?;
                (r, Some(d.environment))
            }
        };
        let bundle = store::bundle(conn, org, revision.bundle).await?;
        let repository = match bundle {
            Some(b) => self
                .repository_in(
                    conn,
                    RepositoryName {
                        organization: org,
                        id: b.repository,
                    },
                )
                .await
                .map(|r| r.full_name)
                .unwrap_or_default(),
            None => String::new(),
        };
        let mut variables = Vec::new();
        if let Some(env) = environment {
            for row in store::variable_rows(conn, env).await? {
                let value = match (&row.value, &row.sealed) {
                    (Some(v), _) => v.clone(),
                    (None, Some(sealed)) => {
                        self.open(sealed, &variable_aad(&row.id.to_string()))?
                    }
                    (None, None) => String::new(),
                };
                variables.push(WorkerVariable {
                    name: row.name,
                    value,
                    secret: row.sealed.is_some(),
                });
            }
        }
        Ok(WorkItem {
            repository,
            commit_sha: revision.commit_sha,
            path: revision.path,
            build_spec: revision.build_spec,
            environment: environment.map(|e| format!("organizations/{org}/environments/{e}")),
            variables,
        })
    }
}

fn bundle_audit(b: &Bundle) -> serde_json::Value {
    json!({
        "display_name": b.display_name,
        "project": b.project.map(|p| format!("organizations/{}/projects/{p}", b.organization)),
        "repository": format!("organizations/{}/repositories/{}", b.organization, b.repository),
        "path": b.path,
        "definition_digest": b.digest,
    })
}

/// Variable names and whether each is secret: never a value.
fn environment_audit(env: &Environment, vars: &[Variable]) -> serde_json::Value {
    json!({
        "display_name": env.display_name,
        "bundle": format!("organizations/{}/bundles/{}", env.organization, env.bundle),
        "variables": vars.iter().map(|v| json!({ "name": v.name, "secret": v.secret })).collect::<Vec<_>>(),
    })
}

fn deployment_audit(d: &Deployment) -> serde_json::Value {
    json!({
        "environment": format!("organizations/{}/environments/{}", d.organization, d.environment),
        "revision": format!("organizations/{}/revisions/{}", d.organization, d.revision),
        "operation": format!("organizations/{}/operations/{}", d.organization, d.operation),
    })
}

/// Deletes every row of `org` this module holds (its part of following an
/// organization's purge, `crate::purge`); how many rows went.
pub(crate) async fn purge_organization(
    conn: &impl loopback_runtime::db::Conn,
    org: Uuid,
) -> Result<u64> {
    store::purge_organization(conn, org).await
}

/// Organizations this module holds rows of, in id order after `after`, at
/// most `limit` per table.
pub(crate) async fn holders(
    conn: &impl loopback_runtime::db::Conn,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    store::holders(conn, after, limit).await
}

pub use store::PurgedProject;

/// Deletes every bundle of `org` in `project` with its environments,
/// variables, revisions and deployments (their operations are
/// `crate::operations`'); what went.
pub(crate) async fn purge_project(
    conn: &impl loopback_runtime::db::Conn,
    org: Uuid,
    project: Uuid,
) -> Result<PurgedProject> {
    store::purge_project(conn, org, project).await
}

/// The (organization, project) pairs bundles belong to, after `after`, at
/// most `limit`.
pub(crate) async fn projects_held(
    conn: &impl loopback_runtime::db::Conn,
    after: Option<(Uuid, Uuid)>,
    limit: u64,
) -> Result<Vec<(Uuid, Uuid)>> {
    store::projects_held(conn, after, limit).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_repository() {
        assert_eq!(bundle_path("services/web/").unwrap(), "services/web");
        assert_eq!(bundle_path("").unwrap(), "");
        for bad in ["../etc", "a/../../b", "/abs", "a//b", "a/./b", "a\\b"] {
            assert!(bundle_path(bad).is_err(), "{bad}");
        }
        assert!(bundle_path(&"a".repeat(513)).is_err());
    }

    #[test]
    fn shas_names_and_specs() {
        assert!(commit_sha(&"A".repeat(40)).is_ok());
        assert!(commit_sha(&"g".repeat(40)).is_err());
        assert!(commit_sha("abc").is_err());
        assert!(variable_name("DATABASE_URL").is_ok());
        assert!(variable_name("_X1").is_ok());
        for bad in ["1X", "lower", "A-B", "", "A B"] {
            assert!(variable_name(bad).is_err(), "{bad}");
        }
        assert!(build_spec(&"x".repeat(MAX_BUILD_SPEC_BYTES)).is_ok());
        assert!(build_spec(&"x".repeat(MAX_BUILD_SPEC_BYTES + 1)).is_err());
        assert_ne!(definition_digest("a", "b"), definition_digest("a\nb", ""));
    }
}
