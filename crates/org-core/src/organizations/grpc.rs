//! gRPC adapter of `loopback.orgcore.v1.OrganizationService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, etag, opt_timestamp, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::tx::WriteOptions;
use tonic::{Request, Response, Status};

use super::{
    CreateOrganization, DeleteOrganization, GetOrganization, ListOrganizations, OrganizationUpdate,
    UndeleteOrganization, UpdateOrganization,
};
use crate::convert::{effective_capabilities_to_pb, optional_state, optional_status};
use crate::model::OrganizationView;
use crate::paging::caller_page;
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
        verification_status: o.verification_status.to_pb().into(),
        state: o.state.to_pb().into(),
        capabilities: Some(effective_capabilities_to_pb(
            &o.capabilities,
            &o.capability_sources,
        )),
        create_time: Some(timestamp(o.create_time)),
        update_time: Some(timestamp(o.update_time)),
        delete_time: opt_timestamp(o.delete_time),
        purge_time: opt_timestamp(o.purge_time),
        etag: etag(o.version),
        allowed_actions: view.allowed_actions,
        plan: o.plan.name(),
        plan_display_name: o.plan.display_name,
    }
}

const UPDATABLE: &[&str] = &["display_name"];

impl TryFrom<pb::CreateOrganizationRequest> for CreateOrganization {
    type Error = FieldViolations;
    fn try_from(req: pb::CreateOrganizationRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        // A missing organization is named alone: it has no name to check.
        let display_name = match &req.organization {
            Some(o) => f.display_name("organization.display_name", &o.display_name),
            None => f.required("organization", None),
        };
        let request_id = f.request_id("request_id", &req.request_id);
        let (display_name, request_id) = f.finish((display_name, request_id))?;
        Ok(Self {
            display_name,
            write: WriteOptions {
                request_id,
                validate_only: req.validate_only,
            },
        })
    }
}

impl TryFrom<pb::GetOrganizationRequest> for GetOrganization {
    type Error = FieldViolations;
    fn try_from(req: pb::GetOrganizationRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let id = f.organization("name", &req.name);
        Ok(Self { id: f.finish(id)? })
    }
}

impl TryFrom<pb::ListOrganizationsRequest> for ListOrganizations {
    type Error = FieldViolations;
    fn try_from(req: pb::ListOrganizationsRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let verification_status =
            optional_status(&mut f, "verification_status", req.verification_status);
        let state = optional_state(&mut f, "state", req.state);
        let query = format!(
            "orgs|{}|{}|{}",
            req.show_deleted, req.verification_status, req.state
        );
        let page = caller_page(&mut f, req.page_size, &req.page_token, &query);
        let (verification_status, state, page) = f.finish((verification_status, state, page))?;
        Ok(Self {
            page,
            show_deleted: req.show_deleted,
            verification_status,
            state,
        })
    }
}

impl TryFrom<pb::UpdateOrganizationRequest> for UpdateOrganization {
    type Error = FieldViolations;
    fn try_from(req: pb::UpdateOrganizationRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let o = f.message("organization", req.organization);
        let id = f.organization("organization.name", &o.name);
        let etag = f.etag("organization.etag", &o.etag);
        let paths = f.update_mask(req.update_mask.as_ref(), UPDATABLE);
        let mut update = OrganizationUpdate::default();
        if paths.contains(&"display_name") {
            update.display_name = f.display_name("organization.display_name", &o.display_name);
        }
        let (id, etag) = f.finish((id, etag))?;
        Ok(Self {
            id,
            update,
            etag,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::DeleteOrganizationRequest> for DeleteOrganization {
    type Error = FieldViolations;
    fn try_from(req: pb::DeleteOrganizationRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let id = f.organization("name", &req.name);
        let etag = f.etag("etag", &req.etag);
        let (id, etag) = f.finish((id, etag))?;
        Ok(Self {
            id,
            etag,
            force: req.force,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::UndeleteOrganizationRequest> for UndeleteOrganization {
    type Error = FieldViolations;
    fn try_from(req: pb::UndeleteOrganizationRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let id = f.organization("name", &req.name);
        Ok(Self {
            id: f.finish(id)?,
            validate_only: req.validate_only,
        })
    }
}

#[tonic::async_trait]
impl pb::organization_service_server::OrganizationService for OrganizationGrpc {
    async fn create_organization(
        &self,
        request: Request<pb::CreateOrganizationRequest>,
    ) -> Result<Response<pb::CreateOrganizationResponse>, Status> {
        unary(&self.0, request, OrgCore::create_organization, |o| {
            pb::CreateOrganizationResponse {
                organization: Some(organization_to_pb(o)),
            }
        })
        .await
    }

    async fn get_organization(
        &self,
        request: Request<pb::GetOrganizationRequest>,
    ) -> Result<Response<pb::GetOrganizationResponse>, Status> {
        unary(&self.0, request, OrgCore::get_organization, |o| {
            pb::GetOrganizationResponse {
                organization: Some(organization_to_pb(o)),
            }
        })
        .await
    }

    async fn list_organizations(
        &self,
        request: Request<pb::ListOrganizationsRequest>,
    ) -> Result<Response<pb::ListOrganizationsResponse>, Status> {
        unary(&self.0, request, OrgCore::list_organizations, |page| {
            let page = page.map(organization_to_pb);
            pb::ListOrganizationsResponse {
                organizations: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn update_organization(
        &self,
        request: Request<pb::UpdateOrganizationRequest>,
    ) -> Result<Response<pb::UpdateOrganizationResponse>, Status> {
        unary(&self.0, request, OrgCore::update_organization, |o| {
            pb::UpdateOrganizationResponse {
                organization: Some(organization_to_pb(o)),
            }
        })
        .await
    }

    async fn delete_organization(
        &self,
        request: Request<pb::DeleteOrganizationRequest>,
    ) -> Result<Response<pb::DeleteOrganizationResponse>, Status> {
        unary(&self.0, request, OrgCore::delete_organization, |o| {
            pb::DeleteOrganizationResponse {
                organization: Some(organization_to_pb(o)),
            }
        })
        .await
    }

    async fn undelete_organization(
        &self,
        request: Request<pb::UndeleteOrganizationRequest>,
    ) -> Result<Response<pb::UndeleteOrganizationResponse>, Status> {
        unary(&self.0, request, OrgCore::undelete_organization, |o| {
            pb::UndeleteOrganizationResponse {
                organization: Some(organization_to_pb(o)),
            }
        })
        .await
    }
}
