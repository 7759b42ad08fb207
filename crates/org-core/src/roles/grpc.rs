//! gRPC adapter of `loopback.orgcore.v1.RoleService`.

use std::collections::BTreeSet;

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::{FieldViolations, quote};
use loopback_runtime::fields::{Fields, etag, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::validation::MAX_DESCRIPTION_CHARS;
use tonic::{Request, Response, Status};

use super::{
    CreateRole, DeleteRole, ListPermissions, ListRoles, RoleInput, RoleName, RoleView, UpdateRole,
    validate_role_id,
};
use crate::catalog::{self, Permission};
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

/// Catalog permissions, each unknown one named; a role needs at least one.
fn permissions(f: &mut Fields, field: &str, names: &[String]) -> Option<BTreeSet<Permission>> {
    let mut v = Fields::new();
    let mut out = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        match catalog::lookup(name) {
            Some(p) => {
                out.insert(p);
            }
            None => v.add(
                format!("{field}[{i}]"),
                format!("unknown permission {}; see ListPermissions", quote(name)),
            ),
        }
    }
    if names.is_empty() {
        v.add(field, "a role needs at least one permission");
    }
    match v.into_result() {
        Ok(()) => Some(out),
        Err(bad) => {
            f.extend(bad);
            None
        }
    }
}

const UPDATABLE: &[&str] = &["display_name", "description", "permissions"];

impl TryFrom<pb::ListPermissionsRequest> for ListPermissions {
    type Error = FieldViolations;
    fn try_from(_: pb::ListPermissionsRequest) -> Result<Self, FieldViolations> {
        Ok(Self)
    }
}

impl TryFrom<pb::ListRolesRequest> for ListRoles {
    type Error = FieldViolations;
    fn try_from(req: pb::ListRolesRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let query = format!("roles|{}", req.parent);
        let page = f.page(req.page_size, &req.page_token, &query);
        let (organization, page) = f.finish((organization, page))?;
        Ok(Self { organization, page })
    }
}

impl TryFrom<pb::GetRoleRequest> for RoleName {
    type Error = FieldViolations;
    fn try_from(req: pb::GetRoleRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        f.finish(name)
    }
}

impl TryFrom<pb::CreateRoleRequest> for CreateRole {
    type Error = FieldViolations;
    fn try_from(req: pb::CreateRoleRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let role_id = f.take(
            "role_id",
            validate_role_id(&req.role_id).map(|()| req.role_id),
        );
        let role = f.message("role", req.role);
        // The display name is optional here: the role id stands in for it.
        let display_name = if role.display_name.is_empty() {
            Some(None)
        } else {
            f.display_name("role.display_name", &role.display_name)
                .map(Some)
        };
        let description = f.text("role.description", &role.description, MAX_DESCRIPTION_CHARS);
        let permissions = permissions(&mut f, "role.permissions", &role.permissions);
        let (organization, role_id, display_name, description, permissions) = f.finish((
            organization,
            role_id,
            display_name,
            description,
            permissions,
        ))?;
        Ok(Self {
            name: RoleName {
                organization,
                role_id,
            },
            role: RoleInput {
                display_name,
                description: Some(description),
                permissions: Some(permissions),
            },
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::UpdateRoleRequest> for UpdateRole {
    type Error = FieldViolations;
    fn try_from(req: pb::UpdateRoleRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let role = f.message("role", req.role);
        let name = f.name("role.name", &role.name);
        let etag = f.etag("role.etag", &role.etag);
        let paths = f.update_mask(req.update_mask.as_ref(), UPDATABLE);
        let mut update = RoleInput::default();
        if paths.contains(&"display_name") {
            update.display_name = f.display_name("role.display_name", &role.display_name);
        }
        if paths.contains(&"description") {
            update.description =
                f.text("role.description", &role.description, MAX_DESCRIPTION_CHARS);
        }
        if paths.contains(&"permissions") {
            update.permissions = permissions(&mut f, "role.permissions", &role.permissions);
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

impl TryFrom<pb::DeleteRoleRequest> for DeleteRole {
    type Error = FieldViolations;
    fn try_from(req: pb::DeleteRoleRequest) -> Result<Self, FieldViolations> {
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

#[tonic::async_trait]
impl pb::role_service_server::RoleService for RoleGrpc {
    async fn list_permissions(
        &self,
        request: Request<pb::ListPermissionsRequest>,
    ) -> Result<Response<pb::ListPermissionsResponse>, Status> {
        unary(&self.0, request, OrgCore::list_permissions, |all| {
            let permission = |(name, description): &(&str, &str)| pb::Permission {
                name: name.to_string(),
                description: description.to_string(),
                project_scoped: crate::catalog::is_project_scoped(name),
            };
            pb::ListPermissionsResponse {
                permissions: all.iter().map(permission).collect(),
            }
        })
        .await
    }

    async fn list_roles(
        &self,
        request: Request<pb::ListRolesRequest>,
    ) -> Result<Response<pb::ListRolesResponse>, Status> {
        unary(&self.0, request, OrgCore::list_roles, |page| {
            let page = page.map(role_to_pb);
            pb::ListRolesResponse {
                roles: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn get_role(
        &self,
        request: Request<pb::GetRoleRequest>,
    ) -> Result<Response<pb::GetRoleResponse>, Status> {
        unary(&self.0, request, OrgCore::get_role, |r| {
            pb::GetRoleResponse {
                role: Some(role_to_pb(r)),
            }
        })
        .await
    }

    async fn create_role(
        &self,
        request: Request<pb::CreateRoleRequest>,
    ) -> Result<Response<pb::CreateRoleResponse>, Status> {
        unary(&self.0, request, OrgCore::create_role, |r| {
            pb::CreateRoleResponse {
                role: Some(role_to_pb(r)),
            }
        })
        .await
    }

    async fn update_role(
        &self,
        request: Request<pb::UpdateRoleRequest>,
    ) -> Result<Response<pb::UpdateRoleResponse>, Status> {
        unary(&self.0, request, OrgCore::update_role, |r| {
            pb::UpdateRoleResponse {
                role: Some(role_to_pb(r)),
            }
        })
        .await
    }

    async fn delete_role(
        &self,
        request: Request<pb::DeleteRoleRequest>,
    ) -> Result<Response<pb::DeleteRoleResponse>, Status> {
        unary(&self.0, request, OrgCore::delete_role, |r| {
            pb::DeleteRoleResponse {
                role: Some(role_to_pb(r)),
            }
        })
        .await
    }
}
