//! gRPC adapter of `loopback.orgcore.v1.RoleService`.

use std::collections::BTreeSet;

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::validation;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{RoleInput, RoleView, validate_role_id};
use crate::catalog::{self, Permission};
use crate::convert::{etag, timestamp};
use crate::grpc as g;
use crate::service::OrgCore;

/// Serves RoleService.
#[derive(Debug, Clone)]
pub struct RoleGrpc(pub OrgCore);

/// The wire form of a role.
pub fn role_to_pb(r: RoleView) -> pb::Role {
    let (create_time, update_time, version) = match r.custom {
        Some((c, u, v)) => (Some(timestamp(c)), Some(timestamp(u)), etag(v)),
        None => (None, None, String::new()),
    };
    pb::Role {
        name: format!("organizations/{}/roles/{}", r.organization, r.role_id),
        display_name: r.display_name,
        description: r.description,
        permissions: r.permissions.into_iter().map(String::from).collect(),
        built_in: r.built_in,
        create_time,
        update_time,
        etag: version,
    }
}

fn role_name(v: &mut FieldViolations, field: &str, name: &str) -> Option<(Uuid, String)> {
    match validation::child_name_with_id(name, "roles") {
        Ok(ids) => Some(ids),
        Err(e) => {
            v.add(field, e);
            None
        }
    }
}

fn permissions(v: &mut FieldViolations, field: &str, names: &[String]) -> BTreeSet<Permission> {
    let mut out = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        match catalog::lookup(name) {
            Some(p) => {
                out.insert(p);
            }
            None => v.add(
                format!("{field}[{i}]"),
                format!("unknown permission {name:?}; see ListPermissions"),
            ),
        }
    }
    out
}

fn texts(v: &mut FieldViolations, role: &pb::Role, prefix: &str) {
    if !role.display_name.is_empty() {
        v.check(
            &format!("{prefix}.display_name"),
            validation::display_name(&role.display_name),
        );
    }
    v.check(
        &format!("{prefix}.description"),
        validation::bounded_text(&role.description, validation::MAX_DESCRIPTION_CHARS),
    );
}

const UPDATABLE: &[&str] = &["display_name", "description", "permissions"];

#[tonic::async_trait]
impl pb::role_service_server::RoleService for RoleGrpc {
    async fn list_permissions(
        &self,
        request: Request<pb::ListPermissionsRequest>,
    ) -> Result<Response<pb::ListPermissionsResponse>, Status> {
        self.0.caller_of(&request).await?;
        Ok(Response::new(pb::ListPermissionsResponse {
            permissions: self
                .0
                .list_permissions()
                .iter()
                .map(|(name, description)| pb::Permission {
                    name: name.to_string(),
                    description: description.to_string(),
                })
                .collect(),
        }))
    }

    async fn list_roles(
        &self,
        request: Request<pb::ListRolesRequest>,
    ) -> Result<Response<pb::ListRolesResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "parent", &req.parent);
        let page = g::page(
            &mut v,
            req.page_size,
            &req.page_token,
            &format!("roles|{}", req.parent),
        );
        g::done(v)?;
        let (Some(org), Some(page)) = (org, page) else {
            return Err(Status::internal("validated fields missing"));
        };
        let roles = self.0.list_roles(&caller, org).await?;
        // Roles are few (bounded by max_custom_roles); page over the ordered list.
        let start = match &page.after {
            Some(after) => roles
                .iter()
                .position(|r| &r.role_id == after)
                .map_or(roles.len(), |i| i + 1),
            None => 0,
        };
        let rest: Vec<RoleView> = roles
            .into_iter()
            .skip(start)
            .take(page.fetch_limit() as usize)
            .collect();
        let (rows, next_page_token) = page.finish(rest, |r| r.role_id.clone());
        Ok(Response::new(pb::ListRolesResponse {
            roles: rows.into_iter().map(role_to_pb).collect(),
            next_page_token,
        }))
    }

    async fn get_role(
        &self,
        request: Request<pb::GetRoleRequest>,
    ) -> Result<Response<pb::GetRoleResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let name = role_name(&mut v, "name", &req.name);
        g::done(v)?;
        let Some((org, role_id)) = name else {
            return Err(Status::internal("validated fields missing"));
        };
        let role = self.0.get_role(&caller, org, &role_id).await?;
        Ok(Response::new(pb::GetRoleResponse {
            role: Some(role_to_pb(role)),
        }))
    }

    async fn create_role(
        &self,
        request: Request<pb::CreateRoleRequest>,
    ) -> Result<Response<pb::CreateRoleResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "parent", &req.parent);
        v.check("role_id", validate_role_id(&req.role_id));
        if req.role.is_none() {
            v.add("role", "is required");
        }
        let role = req.role.unwrap_or_default();
        texts(&mut v, &role, "role");
        let perms = permissions(&mut v, "role.permissions", &role.permissions);
        if role.permissions.is_empty() {
            v.add("role.permissions", "a role needs at least one permission");
        }
        g::done(v)?;
        let Some(org) = org else {
            return Err(Status::internal("validated fields missing"));
        };
        let input = RoleInput {
            display_name: (!role.display_name.is_empty())
                .then(|| role.display_name.trim().to_string()),
            description: Some(role.description),
            permissions: Some(perms),
        };
        let created = self
            .0
            .create_role(&caller, org, req.role_id, input, req.validate_only)
            .await?;
        Ok(Response::new(pb::CreateRoleResponse {
            role: Some(role_to_pb(created)),
        }))
    }

    async fn update_role(
        &self,
        request: Request<pb::UpdateRoleRequest>,
    ) -> Result<Response<pb::UpdateRoleResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        if req.role.is_none() {
            v.add("role", "is required");
        }
        let role = req.role.unwrap_or_default();
        let name = role_name(&mut v, "role.name", &role.name);
        let version = g::etag(&mut v, "role.etag", &role.etag);
        let paths = g::update_mask(&mut v, req.update_mask.as_ref(), UPDATABLE);
        let mut input = RoleInput::default();
        if paths.contains(&"display_name") {
            v.check(
                "role.display_name",
                validation::display_name(&role.display_name),
            );
            input.display_name = Some(role.display_name.trim().to_string());
        }
        if paths.contains(&"description") {
            v.check(
                "role.description",
                validation::bounded_text(&role.description, validation::MAX_DESCRIPTION_CHARS),
            );
            input.description = Some(role.description.clone());
        }
        if paths.contains(&"permissions") {
            if role.permissions.is_empty() {
                v.add("role.permissions", "a role needs at least one permission");
            }
            input.permissions = Some(permissions(&mut v, "role.permissions", &role.permissions));
        }
        g::done(v)?;
        let Some((org, role_id)) = name else {
            return Err(Status::internal("validated fields missing"));
        };
        let updated = self
            .0
            .update_role(&caller, org, &role_id, input, version, req.validate_only)
            .await?;
        Ok(Response::new(pb::UpdateRoleResponse {
            role: Some(role_to_pb(updated)),
        }))
    }

    async fn delete_role(
        &self,
        request: Request<pb::DeleteRoleRequest>,
    ) -> Result<Response<pb::DeleteRoleResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let name = role_name(&mut v, "name", &req.name);
        let version = g::etag(&mut v, "etag", &req.etag);
        g::done(v)?;
        let Some((org, role_id)) = name else {
            return Err(Status::internal("validated fields missing"));
        };
        let deleted = self
            .0
            .delete_role(&caller, org, &role_id, version, req.validate_only)
            .await?;
        Ok(Response::new(pb::DeleteRoleResponse {
            role: Some(role_to_pb(deleted)),
        }))
    }
}
