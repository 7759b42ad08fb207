//! gRPC adapters of `BundleService`, `EnvironmentService`,
//! `RevisionService` and `DeploymentService`.

use std::collections::HashSet;

use loopback_proto::integrations::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, etag, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::tx::WriteOptions;
use tonic::{Request, Response, Status};

use super::{
    Bundle, BundleName, CreateBundle, CreateDeployment, CreateEnvironment, CreateRevision, Delete,
    Deployment, DeploymentName, DeploymentState, Environment, EnvironmentName, ListIn,
    MAX_VALUE_BYTES, MAX_VARIABLES, NewBundle, Redeploy, Revision, RevisionName, UpdateBundle,
    UpdateEnvironment, Variable,
};
use crate::Integrations;
use crate::git::RepositoryName;

/// Serves BundleService.
#[derive(Debug, Clone)]
pub struct BundleGrpc(pub Integrations);
/// Serves EnvironmentService.
#[derive(Debug, Clone)]
pub struct EnvironmentGrpc(pub Integrations);
/// Serves RevisionService.
#[derive(Debug, Clone)]
pub struct RevisionGrpc(pub Integrations);
/// Serves DeploymentService.
#[derive(Debug, Clone)]
pub struct DeploymentGrpc(pub Integrations);

fn bundle_to_pb(b: Bundle) -> pb::Bundle {
    pb::Bundle {
        name: b.name().to_string(),
        display_name: b.display_name,
        project: b
            .project
            .map(|p| format!("organizations/{}/projects/{p}", b.organization))
            .unwrap_or_default(),
        repository: format!(
            "organizations/{}/repositories/{}",
            b.organization, b.repository
        ),
        path: b.path,
        build_spec: b.build_spec,
        definition_digest: b.digest,
        etag: etag(b.version),
        create_time: Some(timestamp(b.create_time)),
        update_time: Some(timestamp(b.update_time)),
    }
}

fn environment_to_pb(e: Environment) -> pb::Environment {
    pb::Environment {
        name: e.name().to_string(),
        bundle: format!("organizations/{}/bundles/{}", e.organization, e.bundle),
        display_name: e.display_name,
        variables: e
            .variables
            .into_iter()
            .map(|v| pb::Variable {
                name: v.name,
                value: if v.secret { String::new() } else { v.value },
                secret: v.secret,
            })
            .collect(),
        active_deployment: e
            .active_deployment
            .map(|d| format!("organizations/{}/deployments/{d}", e.organization))
            .unwrap_or_default(),
        etag: etag(e.version),
        create_time: Some(timestamp(e.create_time)),
        update_time: Some(timestamp(e.update_time)),
    }
}

fn revision_to_pb(r: Revision) -> pb::Revision {
    pb::Revision {
        name: r.name().to_string(),
        bundle: format!("organizations/{}/bundles/{}", r.organization, r.bundle),
        commit_sha: r.commit_sha,
        definition_digest: r.digest,
        build_operation: format!(
            "organizations/{}/operations/{}",
            r.organization, r.build_operation
        ),
        create_time: Some(timestamp(r.create_time)),
    }
}

fn deployment_to_pb(d: Deployment) -> pb::Deployment {
    pb::Deployment {
        name: d.name().to_string(),
        environment: format!(
            "organizations/{}/environments/{}",
            d.organization, d.environment
        ),
        revision: format!("organizations/{}/revisions/{}", d.organization, d.revision),
        state: match d.state {
            DeploymentState::Pending => pb::DeploymentState::Pending,
            DeploymentState::Active => pb::DeploymentState::Active,
            DeploymentState::Superseded => pb::DeploymentState::Superseded,
            DeploymentState::Failed => pb::DeploymentState::Failed,
            DeploymentState::Cancelled => pb::DeploymentState::Cancelled,
        }
        .into(),
        operation: format!(
            "organizations/{}/operations/{}",
            d.organization, d.operation
        ),
        create_time: Some(timestamp(d.create_time)),
        update_time: Some(timestamp(d.update_time)),
    }
}

fn variables(f: &mut Fields, vars: Vec<pb::Variable>, create: bool) -> Option<Vec<Variable>> {
    if vars.len() > MAX_VARIABLES {
        f.add(
            "environment.variables",
            format!("at most {MAX_VARIABLES} variables"),
        );
        return None;
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(vars.len());
    for (i, v) in vars.into_iter().enumerate() {
        f.check(
            &format!("environment.variables[{i}].name"),
            super::variable_name(&v.name),
        );
        if !seen.insert(v.name.clone()) {
            f.add(format!("environment.variables[{i}].name"), "is repeated");
        }
        if v.value.len() > MAX_VALUE_BYTES {
            f.add(
                format!("environment.variables[{i}].value"),
                format!("must be at most {MAX_VALUE_BYTES} bytes"),
            );
        } else if v.value.contains('\0') {
            f.add(
                format!("environment.variables[{i}].value"),
                "must not contain NUL characters",
            );
        }
        if create && v.secret && v.value.is_empty() {
            f.add(
                format!("environment.variables[{i}].value"),
                "a secret variable needs a value",
            );
        }
        out.push(Variable {
            name: v.name,
            value: v.value,
            secret: v.secret,
        });
    }
    Some(out)
}

fn write(request_id: Option<String>, validate_only: bool) -> WriteOptions {
    WriteOptions {
        request_id,
        validate_only,
    }
}

fn list_query(
    parent: &str,
    filter: &str,
    size: i32,
    token: &str,
    what: &str,
) -> (
    Fields,
    Option<uuid::Uuid>,
    Option<loopback_runtime::pagination::PageRequest>,
) {
    let mut f = Fields::new();
    let organization = f.organization("parent", parent);
    let page = f.page(size, token, &format!("{what}|{parent}|{filter}"));
    (f, organization, page)
}

impl TryFrom<pb::CreateBundleRequest> for CreateBundle {
    type Error = FieldViolations;
    fn try_from(req: pb::CreateBundleRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let b = f.message("bundle", req.bundle);
        let display_name = f.display_name("bundle.display_name", &b.display_name);
        let repository = f.name::<RepositoryName>("bundle.repository", &b.repository);
        let path = f.take("bundle.path", super::bundle_path(&b.path));
        let build_spec = f.take("bundle.build_spec", super::build_spec(&b.build_spec));
        let project = match organization {
            Some(org) => f.take("bundle.project", super::project(org, &b.project)),
            None => Some(None),
        };
        let request_id = f.request_id("request_id", &req.request_id);
        let (organization, display_name, repository, path, build_spec, project, request_id) = f
            .finish((
                organization,
                display_name,
                repository,
                path,
                build_spec,
                project,
                request_id,
            ))?;
        Ok(Self {
            organization,
            bundle: NewBundle {
                display_name,
                project,
                repository,
                path,
                build_spec,
            },
            write: write(request_id, req.validate_only),
        })
    }
}

impl TryFrom<pb::UpdateBundleRequest> for UpdateBundle {
    type Error = FieldViolations;
    fn try_from(req: pb::UpdateBundleRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let b = f.message("bundle", req.bundle);
        let name = f.name::<BundleName>("bundle.name", &b.name);
        let etag = f.etag("bundle.etag", &b.etag);
        let paths = f.update_mask(
            req.update_mask.as_ref(),
            &["display_name", "path", "build_spec", "project"],
        );
        let (mut display_name, mut path, mut build_spec, mut project) = (None, None, None, None);
        for p in paths {
            match p {
                "display_name" => {
                    display_name = f.display_name("bundle.display_name", &b.display_name)
                }
                "path" => path = f.take("bundle.path", super::bundle_path(&b.path)),
                "build_spec" => {
                    build_spec = f.take("bundle.build_spec", super::build_spec(&b.build_spec))
                }
                "project" => {
                    if let Some(n) = name {
                        project =
                            f.take("bundle.project", super::project(n.organization, &b.project));
                    }
                }
                _ => {}
            }
        }
        let (name, etag) = f.finish((name, etag))?;
        Ok(Self {
            name,
            etag,
            display_name,
            path,
            build_spec,
            project,
            validate_only: req.validate_only,
        })
    }
}

macro_rules! name_request {
    ($req:ty, $out:ty) => {
        impl TryFrom<$req> for $out {
            type Error = FieldViolations;
            fn try_from(req: $req) -> Result<Self, FieldViolations> {
                let mut f = Fields::new();
                let name = f.name("name", &req.name);
                f.finish(name)
            }
        }
    };
}

name_request!(pb::GetBundleRequest, BundleName);
name_request!(pb::GetEnvironmentRequest, EnvironmentName);
name_request!(pb::GetRevisionRequest, RevisionName);
name_request!(pb::GetDeploymentRequest, DeploymentName);

macro_rules! delete_request {
    ($req:ty, $name:ty) => {
        impl TryFrom<$req> for Delete<$name> {
            type Error = FieldViolations;
            fn try_from(req: $req) -> Result<Self, FieldViolations> {
                let mut f = Fields::new();
                let name = f.name("name", &req.name);
                let etag = f.etag("etag", &req.etag);
                let (name, etag) = f.finish((name, etag))?;
                Ok(Self {
                    name,
                    etag,
                    validate_only: req.validate_only,
                })
            }
        }
    };
}

delete_request!(pb::DeleteBundleRequest, BundleName);
delete_request!(pb::DeleteEnvironmentRequest, EnvironmentName);

impl TryFrom<pb::ListBundlesRequest> for ListIn<()> {
    type Error = FieldViolations;
    fn try_from(req: pb::ListBundlesRequest) -> Result<Self, FieldViolations> {
        let (f, organization, page) =
            list_query(&req.parent, "", req.page_size, &req.page_token, "bundles");
        let (organization, page) = f.finish((organization, page))?;
        Ok(Self {
            organization,
            filter: None,
            page,
        })
    }
}

impl TryFrom<pb::ListEnvironmentsRequest> for ListIn<()> {
    type Error = FieldViolations;
    fn try_from(req: pb::ListEnvironmentsRequest) -> Result<Self, FieldViolations> {
        let (f, organization, page) = list_query(
            &req.parent,
            "",
            req.page_size,
            &req.page_token,
            "environments",
        );
        let (organization, page) = f.finish((organization, page))?;
        Ok(Self {
            organization,
            filter: None,
            page,
        })
    }
}

impl TryFrom<pb::ListRevisionsRequest> for ListIn<BundleName> {
    type Error = FieldViolations;
    fn try_from(req: pb::ListRevisionsRequest) -> Result<Self, FieldViolations> {
        let (mut f, organization, page) = list_query(
            &req.parent,
            &req.bundle,
            req.page_size,
            &req.page_token,
            "revisions",
        );
        let filter = if req.bundle.is_empty() {
            Some(None)
        } else {
            f.name::<BundleName>("bundle", &req.bundle).map(Some)
        };
        let (organization, page, filter) = f.finish((organization, page, filter))?;
        Ok(Self {
            organization,
            filter,
            page,
        })
    }
}

impl TryFrom<pb::ListDeploymentsRequest> for ListIn<EnvironmentName> {
    type Error = FieldViolations;
    fn try_from(req: pb::ListDeploymentsRequest) -> Result<Self, FieldViolations> {
        let (mut f, organization, page) = list_query(
            &req.parent,
            &req.environment,
            req.page_size,
            &req.page_token,
            "deployments",
        );
        let filter = if req.environment.is_empty() {
            Some(None)
        } else {
            f.name::<EnvironmentName>("environment", &req.environment)
                .map(Some)
        };
        let (organization, page, filter) = f.finish((organization, page, filter))?;
        Ok(Self {
            organization,
            filter,
            page,
        })
    }
}

impl TryFrom<pb::CreateEnvironmentRequest> for CreateEnvironment {
    type Error = FieldViolations;
    fn try_from(req: pb::CreateEnvironmentRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let e = f.message("environment", req.environment);
        let bundle = f.name::<BundleName>("environment.bundle", &e.bundle);
        let display_name = f.display_name("environment.display_name", &e.display_name);
        let vars = variables(&mut f, e.variables, true);
        let request_id = f.request_id("request_id", &req.request_id);
        let (organization, bundle, display_name, variables, request_id) =
            f.finish((organization, bundle, display_name, vars, request_id))?;
        Ok(Self {
            organization,
            bundle,
            display_name,
            variables,
            write: write(request_id, req.validate_only),
        })
    }
}

impl TryFrom<pb::UpdateEnvironmentRequest> for UpdateEnvironment {
    type Error = FieldViolations;
    fn try_from(req: pb::UpdateEnvironmentRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let e = f.message("environment", req.environment);
        let name = f.name::<EnvironmentName>("environment.name", &e.name);
        let etag = f.etag("environment.etag", &e.etag);
        let paths = f.update_mask(req.update_mask.as_ref(), &["display_name", "variables"]);
        let (mut display_name, mut vars) = (None, None);
        let mut given = Some(e.variables);
        for p in paths {
            match p {
                "display_name" => {
                    display_name = f.display_name("environment.display_name", &e.display_name)
                }
                "variables" => vars = given.take().and_then(|v| variables(&mut f, v, false)),
                _ => {}
            }
        }
        let (name, etag) = f.finish((name, etag))?;
        Ok(Self {
            name,
            etag,
            display_name,
            variables: vars,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::CreateRevisionRequest> for CreateRevision {
    type Error = FieldViolations;
    fn try_from(req: pb::CreateRevisionRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let r = f.message("revision", req.revision);
        let bundle = f.name::<BundleName>("revision.bundle", &r.bundle);
        let commit_sha = f.take("revision.commit_sha", super::commit_sha(&r.commit_sha));
        let request_id = f.request_id("request_id", &req.request_id);
        let (organization, bundle, commit_sha, request_id) =
            f.finish((organization, bundle, commit_sha, request_id))?;
        Ok(Self {
            organization,
            bundle,
            commit_sha,
            write: write(request_id, req.validate_only),
        })
    }
}

impl TryFrom<pb::CreateDeploymentRequest> for CreateDeployment {
    type Error = FieldViolations;
    fn try_from(req: pb::CreateDeploymentRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let d = f.message("deployment", req.deployment);
        let environment = f.name::<EnvironmentName>("deployment.environment", &d.environment);
        let revision = f.name::<RevisionName>("deployment.revision", &d.revision);
        let request_id = f.request_id("request_id", &req.request_id);
        let (organization, environment, revision, request_id) =
            f.finish((organization, environment, revision, request_id))?;
        Ok(Self {
            organization,
            environment,
            revision,
            write: write(request_id, req.validate_only),
        })
    }
}

impl TryFrom<pb::RedeployEnvironmentRequest> for Redeploy {
    type Error = FieldViolations;
    fn try_from(req: pb::RedeployEnvironmentRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let environment = f.name::<EnvironmentName>("environment", &req.environment);
        let request_id = f.request_id("request_id", &req.request_id);
        let (environment, request_id) = f.finish((environment, request_id))?;
        Ok(Self {
            environment,
            revision: None,
            write: write(request_id, false),
        })
    }
}

impl TryFrom<pb::RollbackEnvironmentRequest> for Redeploy {
    type Error = FieldViolations;
    fn try_from(req: pb::RollbackEnvironmentRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let environment = f.name::<EnvironmentName>("environment", &req.environment);
        let revision = if req.revision.is_empty() {
            Some(None)
        } else {
            f.name::<RevisionName>("revision", &req.revision).map(Some)
        };
        let request_id = f.request_id("request_id", &req.request_id);
        let (environment, revision, request_id) = f.finish((environment, revision, request_id))?;
        if revision.is_some_and(|r| r.organization != environment.organization) {
            return Err(FieldViolations::single(
                "revision",
                "must be a revision of the environment's organization",
            ));
        }
        Ok(Self {
            environment,
            revision,
            write: write(request_id, false),
        })
    }
}

#[tonic::async_trait]
impl pb::bundle_service_server::BundleService for BundleGrpc {
    async fn create_bundle(
        &self,
        request: Request<pb::CreateBundleRequest>,
    ) -> Result<Response<pb::CreateBundleResponse>, Status> {
        unary(&self.0, request, Integrations::create_bundle, |b| {
            pb::CreateBundleResponse {
                bundle: Some(bundle_to_pb(b)),
            }
        })
        .await
    }

    async fn get_bundle(
        &self,
        request: Request<pb::GetBundleRequest>,
    ) -> Result<Response<pb::GetBundleResponse>, Status> {
        unary(&self.0, request, Integrations::get_bundle, |b| {
            pb::GetBundleResponse {
                bundle: Some(bundle_to_pb(b)),
            }
        })
        .await
    }

    async fn list_bundles(
        &self,
        request: Request<pb::ListBundlesRequest>,
    ) -> Result<Response<pb::ListBundlesResponse>, Status> {
        unary(&self.0, request, Integrations::list_bundles, |page| {
            let page = page.map(bundle_to_pb);
            pb::ListBundlesResponse {
                bundles: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn update_bundle(
        &self,
        request: Request<pb::UpdateBundleRequest>,
    ) -> Result<Response<pb::UpdateBundleResponse>, Status> {
        unary(&self.0, request, Integrations::update_bundle, |b| {
            pb::UpdateBundleResponse {
                bundle: Some(bundle_to_pb(b)),
            }
        })
        .await
    }

    async fn delete_bundle(
        &self,
        request: Request<pb::DeleteBundleRequest>,
    ) -> Result<Response<pb::DeleteBundleResponse>, Status> {
        unary(&self.0, request, Integrations::delete_bundle, |b| {
            pb::DeleteBundleResponse {
                bundle: Some(bundle_to_pb(b)),
            }
        })
        .await
    }
}

#[tonic::async_trait]
impl pb::environment_service_server::EnvironmentService for EnvironmentGrpc {
    async fn create_environment(
        &self,
        request: Request<pb::CreateEnvironmentRequest>,
    ) -> Result<Response<pb::CreateEnvironmentResponse>, Status> {
        unary(&self.0, request, Integrations::create_environment, |e| {
            pb::CreateEnvironmentResponse {
                environment: Some(environment_to_pb(e)),
            }
        })
        .await
    }

    async fn get_environment(
        &self,
        request: Request<pb::GetEnvironmentRequest>,
    ) -> Result<Response<pb::GetEnvironmentResponse>, Status> {
        unary(&self.0, request, Integrations::get_environment, |e| {
            pb::GetEnvironmentResponse {
                environment: Some(environment_to_pb(e)),
            }
        })
        .await
    }

    async fn list_environments(
        &self,
        request: Request<pb::ListEnvironmentsRequest>,
    ) -> Result<Response<pb::ListEnvironmentsResponse>, Status> {
        unary(&self.0, request, Integrations::list_environments, |page| {
            let page = page.map(environment_to_pb);
            pb::ListEnvironmentsResponse {
                environments: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn update_environment(
        &self,
        request: Request<pb::UpdateEnvironmentRequest>,
    ) -> Result<Response<pb::UpdateEnvironmentResponse>, Status> {
        unary(&self.0, request, Integrations::update_environment, |e| {
            pb::UpdateEnvironmentResponse {
                environment: Some(environment_to_pb(e)),
            }
        })
        .await
    }

    async fn delete_environment(
        &self,
        request: Request<pb::DeleteEnvironmentRequest>,
    ) -> Result<Response<pb::DeleteEnvironmentResponse>, Status> {
        unary(&self.0, request, Integrations::delete_environment, |e| {
            pb::DeleteEnvironmentResponse {
                environment: Some(environment_to_pb(e)),
            }
        })
        .await
    }
}

#[tonic::async_trait]
impl pb::revision_service_server::RevisionService for RevisionGrpc {
    async fn create_revision(
        &self,
        request: Request<pb::CreateRevisionRequest>,
    ) -> Result<Response<pb::CreateRevisionResponse>, Status> {
        unary(&self.0, request, Integrations::create_revision, |r| {
            pb::CreateRevisionResponse {
                revision: Some(revision_to_pb(r)),
            }
        })
        .await
    }

    async fn get_revision(
        &self,
        request: Request<pb::GetRevisionRequest>,
    ) -> Result<Response<pb::GetRevisionResponse>, Status> {
        unary(&self.0, request, Integrations::get_revision, |r| {
            pb::GetRevisionResponse {
                revision: Some(revision_to_pb(r)),
            }
        })
        .await
    }

    async fn list_revisions(
        &self,
        request: Request<pb::ListRevisionsRequest>,
    ) -> Result<Response<pb::ListRevisionsResponse>, Status> {
        unary(&self.0, request, Integrations::list_revisions, |page| {
            let page = page.map(revision_to_pb);
            pb::ListRevisionsResponse {
                revisions: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }
}

#[tonic::async_trait]
impl pb::deployment_service_server::DeploymentService for DeploymentGrpc {
    async fn create_deployment(
        &self,
        request: Request<pb::CreateDeploymentRequest>,
    ) -> Result<Response<pb::CreateDeploymentResponse>, Status> {
        unary(&self.0, request, Integrations::create_deployment, |d| {
            pb::CreateDeploymentResponse {
                deployment: Some(deployment_to_pb(d)),
            }
        })
        .await
    }

    async fn get_deployment(
        &self,
        request: Request<pb::GetDeploymentRequest>,
    ) -> Result<Response<pb::GetDeploymentResponse>, Status> {
        unary(&self.0, request, Integrations::get_deployment, |d| {
            pb::GetDeploymentResponse {
                deployment: Some(deployment_to_pb(d)),
            }
        })
        .await
    }

    async fn list_deployments(
        &self,
        request: Request<pb::ListDeploymentsRequest>,
    ) -> Result<Response<pb::ListDeploymentsResponse>, Status> {
        unary(&self.0, request, Integrations::list_deployments, |page| {
            let page = page.map(deployment_to_pb);
            pb::ListDeploymentsResponse {
                deployments: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn redeploy_environment(
        &self,
        request: Request<pb::RedeployEnvironmentRequest>,
    ) -> Result<Response<pb::RedeployEnvironmentResponse>, Status> {
        unary(&self.0, request, Integrations::redeploy_environment, |d| {
            pb::RedeployEnvironmentResponse {
                deployment: Some(deployment_to_pb(d)),
            }
        })
        .await
    }

    async fn rollback_environment(
        &self,
        request: Request<pb::RollbackEnvironmentRequest>,
    ) -> Result<Response<pb::RollbackEnvironmentResponse>, Status> {
        unary(&self.0, request, Integrations::rollback_environment, |d| {
            pb::RollbackEnvironmentResponse {
                deployment: Some(deployment_to_pb(d)),
            }
        })
        .await
    }
}
