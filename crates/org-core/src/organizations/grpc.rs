//! gRPC adapter of `loopback.orgcore.v1.OrganizationService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::validation;
use tonic::{Request, Response, Status};

use super::{ListOrganizations, OrganizationUpdate};
use crate::convert::{
    capabilities_to_pb, etag, opt_timestamp, state_from_pb, state_to_pb, status_from_pb,
    status_to_pb, timestamp,
};
use crate::grpc as g;
use crate::model::OrganizationView;
use crate::service::OrgCore;

/// Serves OrganizationService.
#[derive(Debug, Clone)]
pub struct OrganizationGrpc(pub OrgCore);

/// The wire form of an organization as seen by one caller.
pub fn organization_to_pb(view: OrganizationView) -> pb::Organization {
    let o = view.organization;
    pb::Organization {
        name: o.name(),
        display_name: o.display_name,
        verification_status: status_to_pb(o.verification_status).into(),
        state: state_to_pb(o.state).into(),
        capabilities: Some(capabilities_to_pb(&o.capabilities)),
        create_time: Some(timestamp(o.create_time)),
        update_time: Some(timestamp(o.update_time)),
        delete_time: opt_timestamp(o.delete_time),
        purge_time: opt_timestamp(o.purge_time),
        etag: etag(o.version),
        allowed_actions: view.allowed_actions,
    }
}

const UPDATABLE: &[&str] = &["display_name"];

#[tonic::async_trait]
impl pb::organization_service_server::OrganizationService for OrganizationGrpc {
    async fn create_organization(
        &self,
        request: Request<pb::CreateOrganizationRequest>,
    ) -> Result<Response<pb::CreateOrganizationResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let display_name = match &req.organization {
            Some(o) => {
                v.check(
                    "organization.display_name",
                    validation::display_name(&o.display_name),
                );
                o.display_name.trim().to_string()
            }
            None => {
                v.add("organization", "is required");
                String::new()
            }
        };
        let request_id = g::request_id(&mut v, "request_id", &req.request_id);
        g::done(v)?;
        let view = self
            .0
            .create_organization(&caller, display_name, request_id, req.validate_only)
            .await?;
        Ok(Response::new(pb::CreateOrganizationResponse {
            organization: Some(organization_to_pb(view)),
        }))
    }

    async fn get_organization(
        &self,
        request: Request<pb::GetOrganizationRequest>,
    ) -> Result<Response<pb::GetOrganizationResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let id = g::org_id(&mut v, "name", &req.name);
        g::done(v)?;
        let view = self
            .0
            .get_organization(&caller, id.unwrap_or_default())
            .await?;
        Ok(Response::new(pb::GetOrganizationResponse {
            organization: Some(organization_to_pb(view)),
        }))
    }

    async fn list_organizations(
        &self,
        request: Request<pb::ListOrganizationsRequest>,
    ) -> Result<Response<pb::ListOrganizationsResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let verification_status = match req.verification_status {
            0 => None,
            n => {
                let s = status_from_pb(n);
                if s.is_none() {
                    v.add("verification_status", "unknown verification status");
                }
                s
            }
        };
        let state = match req.state {
            0 => None,
            n => {
                let s = state_from_pb(n);
                if s.is_none() {
                    v.add("state", "unknown state");
                }
                s
            }
        };
        let query = format!(
            "orgs|{}|{}|{}|{}",
            caller.page_key(),
            req.show_deleted,
            req.verification_status,
            req.state
        );
        let page = g::page(&mut v, req.page_size, &req.page_token, &query);
        g::done(v)?;
        let Some(page) = page else {
            return Err(Status::internal("page request missing after validation"));
        };
        let (views, next_page_token) = self
            .0
            .list_organizations(
                &caller,
                ListOrganizations {
                    page,
                    show_deleted: req.show_deleted,
                    verification_status,
                    state,
                },
            )
            .await?;
        Ok(Response::new(pb::ListOrganizationsResponse {
            organizations: views.into_iter().map(organization_to_pb).collect(),
            next_page_token,
        }))
    }

    async fn update_organization(
        &self,
        request: Request<pb::UpdateOrganizationRequest>,
    ) -> Result<Response<pb::UpdateOrganizationResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        if req.organization.is_none() {
            v.add("organization", "is required");
        }
        let org = req.organization.unwrap_or_default();
        let id = g::org_id(&mut v, "organization.name", &org.name);
        let version = g::etag(&mut v, "organization.etag", &org.etag);
        let paths = g::update_mask(&mut v, req.update_mask.as_ref(), UPDATABLE);
        let mut update = OrganizationUpdate::default();
        if paths.contains(&"display_name") {
            v.check(
                "organization.display_name",
                validation::display_name(&org.display_name),
            );
            update.display_name = Some(org.display_name.trim().to_string());
        }
        g::done(v)?;
        let view = self
            .0
            .update_organization(
                &caller,
                id.unwrap_or_default(),
                update,
                version,
                req.validate_only,
            )
            .await?;
        Ok(Response::new(pb::UpdateOrganizationResponse {
            organization: Some(organization_to_pb(view)),
        }))
    }

    async fn delete_organization(
        &self,
        request: Request<pb::DeleteOrganizationRequest>,
    ) -> Result<Response<pb::DeleteOrganizationResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let id = g::org_id(&mut v, "name", &req.name);
        let version = g::etag(&mut v, "etag", &req.etag);
        g::done(v)?;
        let view = self
            .0
            .delete_organization(
                &caller,
                id.unwrap_or_default(),
                version,
                req.force,
                req.validate_only,
            )
            .await?;
        Ok(Response::new(pb::DeleteOrganizationResponse {
            organization: Some(organization_to_pb(view)),
        }))
    }

    async fn undelete_organization(
        &self,
        request: Request<pb::UndeleteOrganizationRequest>,
    ) -> Result<Response<pb::UndeleteOrganizationResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let id = g::org_id(&mut v, "name", &req.name);
        g::done(v)?;
        let view = self
            .0
            .undelete_organization(&caller, id.unwrap_or_default(), req.validate_only)
            .await?;
        Ok(Response::new(pb::UndeleteOrganizationResponse {
            organization: Some(organization_to_pb(view)),
        }))
    }
}
