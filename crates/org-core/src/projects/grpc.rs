//! gRPC adapter of `loopback.orgcore.v1.ProjectService`: each RPC parses its
//! request into the domain's input, makes one domain call and maps the
//! result.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, etag, opt_timestamp, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::tx::WriteOptions;
use loopback_runtime::validation::MAX_DESCRIPTION_CHARS;
use tonic::{Request, Response, Status};

use super::{
    CreateProject, DeleteProject, ListProjects, NewProject, ProjectName, ProjectUpdate,
    UndeleteProject, UpdateProject,
};
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
        state: p.state.to_pb().into(),
        create_time: Some(timestamp(p.create_time)),
        update_time: Some(timestamp(p.update_time)),
        delete_time: opt_timestamp(p.delete_time),
        purge_time: opt_timestamp(p.purge_time),
        etag: etag(p.version),
    }
}

const UPDATABLE: &[&str] = &["display_name", "description", "labels"];

impl TryFrom<pb::CreateProjectRequest> for CreateProject {
    type Error = FieldViolations;
    fn try_from(req: pb::CreateProjectRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let p = f.message("project", req.project);
        let display_name = f.display_name("project.display_name", &p.display_name);
        let description = f.text("project.description", &p.description, MAX_DESCRIPTION_CHARS);
        let labels = f.labels("project.labels", &p.labels);
        let request_id = f.request_id("request_id", &req.request_id);
        let (organization, display_name, description, labels, request_id) =
            f.finish((organization, display_name, description, labels, request_id))?;
        Ok(Self {
            organization,
            project: NewProject {
                display_name,
                description,
                labels,
            },
            write: WriteOptions {
                request_id,
                validate_only: req.validate_only,
            },
        })
    }
}

impl TryFrom<pb::GetProjectRequest> for ProjectName {
    type Error = FieldViolations;
    fn try_from(req: pb::GetProjectRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        f.finish(name)
    }
}

impl TryFrom<pb::ListProjectsRequest> for ListProjects {
    type Error = FieldViolations;
    fn try_from(req: pb::ListProjectsRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let query = format!("projects|{}|{}", req.parent, req.show_deleted);
        let page = f.page(req.page_size, &req.page_token, &query);
        let (organization, page) = f.finish((organization, page))?;
        Ok(Self {
            organization,
            page,
            show_deleted: req.show_deleted,
        })
    }
}

impl TryFrom<pb::UpdateProjectRequest> for UpdateProject {
    type Error = FieldViolations;
    fn try_from(req: pb::UpdateProjectRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let p = f.message("project", req.project);
        let name = f.name("project.name", &p.name);
        let etag = f.etag("project.etag", &p.etag);
        let paths = f.update_mask(req.update_mask.as_ref(), UPDATABLE);
        let mut update = ProjectUpdate::default();
        if paths.contains(&"display_name") {
            update.display_name = f.display_name("project.display_name", &p.display_name);
        }
        if paths.contains(&"description") {
            update.description =
                f.text("project.description", &p.description, MAX_DESCRIPTION_CHARS);
        }
        if paths.contains(&"labels") {
            update.labels = f.labels("project.labels", &p.labels);
        }
        let (name, etag) = f.finish((name, etag))?;
        Ok(Self {
            name,
            update,
            etag,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::DeleteProjectRequest> for DeleteProject {
    type Error = FieldViolations;
    fn try_from(req: pb::DeleteProjectRequest) -> Result<Self, FieldViolations> {
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

impl TryFrom<pb::UndeleteProjectRequest> for UndeleteProject {
    type Error = FieldViolations;
    fn try_from(req: pb::UndeleteProjectRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        Ok(Self {
            name: f.finish(name)?,
            validate_only: req.validate_only,
        })
    }
}

#[tonic::async_trait]
impl pb::project_service_server::ProjectService for ProjectGrpc {
    async fn create_project(
        &self,
        request: Request<pb::CreateProjectRequest>,
    ) -> Result<Response<pb::CreateProjectResponse>, Status> {
        unary(&self.0, request, OrgCore::create_project, |p| {
            pb::CreateProjectResponse {
                project: Some(project_to_pb(p)),
            }
        })
        .await
    }

    async fn get_project(
        &self,
        request: Request<pb::GetProjectRequest>,
    ) -> Result<Response<pb::GetProjectResponse>, Status> {
        unary(&self.0, request, OrgCore::get_project, |p| {
            pb::GetProjectResponse {
                project: Some(project_to_pb(p)),
            }
        })
        .await
    }

    async fn list_projects(
        &self,
        request: Request<pb::ListProjectsRequest>,
    ) -> Result<Response<pb::ListProjectsResponse>, Status> {
        unary(&self.0, request, OrgCore::list_projects, |page| {
            let page = page.map(project_to_pb);
            pb::ListProjectsResponse {
                projects: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn update_project(
        &self,
        request: Request<pb::UpdateProjectRequest>,
    ) -> Result<Response<pb::UpdateProjectResponse>, Status> {
        unary(&self.0, request, OrgCore::update_project, |p| {
            pb::UpdateProjectResponse {
                project: Some(project_to_pb(p)),
            }
        })
        .await
    }

    async fn delete_project(
        &self,
        request: Request<pb::DeleteProjectRequest>,
    ) -> Result<Response<pb::DeleteProjectResponse>, Status> {
        unary(&self.0, request, OrgCore::delete_project, |p| {
            pb::DeleteProjectResponse {
                project: Some(project_to_pb(p)),
            }
        })
        .await
    }

    async fn undelete_project(
        &self,
        request: Request<pb::UndeleteProjectRequest>,
    ) -> Result<Response<pb::UndeleteProjectResponse>, Status> {
        unary(&self.0, request, OrgCore::undelete_project, |p| {
            pb::UndeleteProjectResponse {
                project: Some(project_to_pb(p)),
            }
        })
        .await
    }
}
