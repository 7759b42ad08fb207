//! gRPC adapter of `loopback.orgcore.v1.ProjectService`.

use std::collections::BTreeMap;

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::validation;
use tonic::{Request, Response, Status};

use super::{NewProject, ProjectUpdate};
use crate::convert::{etag, opt_timestamp, state_to_pb, timestamp};
use crate::grpc as g;
use crate::model::Project;
use crate::service::OrgCore;

/// Serves ProjectService.
#[derive(Debug, Clone)]
pub struct ProjectGrpc(pub OrgCore);

/// The wire form of a project.
pub fn project_to_pb(p: Project) -> pb::Project {
    pb::Project {
        name: p.name(),
        display_name: p.display_name,
        description: p.description,
        labels: p.labels.into_iter().collect(),
        state: state_to_pb(p.state).into(),
        create_time: Some(timestamp(p.create_time)),
        update_time: Some(timestamp(p.update_time)),
        delete_time: opt_timestamp(p.delete_time),
        purge_time: opt_timestamp(p.purge_time),
        etag: etag(p.version),
    }
}

const UPDATABLE: &[&str] = &["display_name", "description", "labels"];

fn check_labels(
    v: &mut FieldViolations,
    field: &str,
    labels: &std::collections::HashMap<String, String>,
) -> BTreeMap<String, String> {
    v.check(field, validation::labels(labels.iter()));
    labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[tonic::async_trait]
impl pb::project_service_server::ProjectService for ProjectGrpc {
    async fn create_project(
        &self,
        request: Request<pb::CreateProjectRequest>,
    ) -> Result<Response<pb::CreateProjectResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "parent", &req.parent);
        if req.project.is_none() {
            v.add("project", "is required");
        }
        let p = req.project.unwrap_or_default();
        v.check(
            "project.display_name",
            validation::display_name(&p.display_name),
        );
        v.check(
            "project.description",
            validation::bounded_text(&p.description, validation::MAX_DESCRIPTION_CHARS),
        );
        let labels = check_labels(&mut v, "project.labels", &p.labels);
        let request_id = g::request_id(&mut v, "request_id", &req.request_id);
        g::done(v)?;
        let project = self
            .0
            .create_project(
                &caller,
                org.unwrap_or_default(),
                NewProject {
                    display_name: p.display_name.trim().to_string(),
                    description: p.description,
                    labels,
                },
                request_id,
                req.validate_only,
            )
            .await?;
        Ok(Response::new(pb::CreateProjectResponse {
            project: Some(project_to_pb(project)),
        }))
    }

    async fn get_project(
        &self,
        request: Request<pb::GetProjectRequest>,
    ) -> Result<Response<pb::GetProjectResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let ids = g::child_id(&mut v, "name", &req.name, "projects");
        g::done(v)?;
        let (org, id) = ids.unwrap_or_default();
        let project = self.0.get_project(&caller, org, id).await?;
        Ok(Response::new(pb::GetProjectResponse {
            project: Some(project_to_pb(project)),
        }))
    }

    async fn list_projects(
        &self,
        request: Request<pb::ListProjectsRequest>,
    ) -> Result<Response<pb::ListProjectsResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "parent", &req.parent);
        let query = format!("projects|{}|{}", req.parent, req.show_deleted);
        let page = g::page(&mut v, req.page_size, &req.page_token, &query);
        g::done(v)?;
        let Some(page) = page else {
            return Err(Status::internal("page request missing after validation"));
        };
        let (projects, next_page_token) = self
            .0
            .list_projects(&caller, org.unwrap_or_default(), page, req.show_deleted)
            .await?;
        Ok(Response::new(pb::ListProjectsResponse {
            projects: projects.into_iter().map(project_to_pb).collect(),
            next_page_token,
        }))
    }

    async fn update_project(
        &self,
        request: Request<pb::UpdateProjectRequest>,
    ) -> Result<Response<pb::UpdateProjectResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        if req.project.is_none() {
            v.add("project", "is required");
        }
        let p = req.project.unwrap_or_default();
        let ids = g::child_id(&mut v, "project.name", &p.name, "projects");
        let version = g::etag(&mut v, "project.etag", &p.etag);
        let paths = g::update_mask(&mut v, req.update_mask.as_ref(), UPDATABLE);
        let mut update = ProjectUpdate::default();
        if paths.contains(&"display_name") {
            v.check(
                "project.display_name",
                validation::display_name(&p.display_name),
            );
            update.display_name = Some(p.display_name.trim().to_string());
        }
        if paths.contains(&"description") {
            v.check(
                "project.description",
                validation::bounded_text(&p.description, validation::MAX_DESCRIPTION_CHARS),
            );
            update.description = Some(p.description.clone());
        }
        if paths.contains(&"labels") {
            update.labels = Some(check_labels(&mut v, "project.labels", &p.labels));
        }
        g::done(v)?;
        let (org, id) = ids.unwrap_or_default();
        let project = self
            .0
            .update_project(&caller, org, id, update, version, req.validate_only)
            .await?;
        Ok(Response::new(pb::UpdateProjectResponse {
            project: Some(project_to_pb(project)),
        }))
    }

    async fn delete_project(
        &self,
        request: Request<pb::DeleteProjectRequest>,
    ) -> Result<Response<pb::DeleteProjectResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let ids = g::child_id(&mut v, "name", &req.name, "projects");
        let version = g::etag(&mut v, "etag", &req.etag);
        g::done(v)?;
        let (org, id) = ids.unwrap_or_default();
        let project = self
            .0
            .delete_project(&caller, org, id, version, req.validate_only)
            .await?;
        Ok(Response::new(pb::DeleteProjectResponse {
            project: Some(project_to_pb(project)),
        }))
    }

    async fn undelete_project(
        &self,
        request: Request<pb::UndeleteProjectRequest>,
    ) -> Result<Response<pb::UndeleteProjectResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let ids = g::child_id(&mut v, "name", &req.name, "projects");
        g::done(v)?;
        let (org, id) = ids.unwrap_or_default();
        let project = self
            .0
            .undelete_project(&caller, org, id, req.validate_only)
            .await?;
        Ok(Response::new(pb::UndeleteProjectResponse {
            project: Some(project_to_pb(project)),
        }))
    }
}
