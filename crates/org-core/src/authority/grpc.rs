//! gRPC adapter of `loopback.orgcore.v1.AuthorityService`.

use std::pin::Pin;

use futures::{Stream, StreamExt as _};
use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::authz::ActionClass;
use loopback_runtime::errors::{FieldViolations, quote};
use loopback_runtime::fields::{Fields, opt_timestamp, timestamp};
use loopback_runtime::names::ResourceName as _;
use loopback_runtime::rpc::{parse, unary};
use tonic::{Request, Response, Status};

use super::{
    AccessAnswer, AccessQuestion, Availability, Decision, Feature, GetOrganizationPolicy,
    GetProjectState, ListFeatures, OrganizationPolicy, PolicyEvent, ProjectState, Scope,
    WatchOrganizationPolicies,
};
use crate::catalog;
use crate::convert::{effective_capabilities_to_pb, principal_from_pb};
use crate::model::{organization_name, project_name};
use crate::projects::ProjectName;
use crate::service::OrgCore;

/// Serves AuthorityService.
#[derive(Debug, Clone)]
pub struct AuthorityGrpc(pub OrgCore);

/// The wire form of a policy.
pub fn policy_to_pb(p: OrganizationPolicy) -> pb::OrganizationPolicy {
    pb::OrganizationPolicy {
        organization: p.organization.name(),
        verification_status: p.organization.verification_status.to_pb().into(),
        state: p.organization.state.to_pb().into(),
        capabilities: Some(effective_capabilities_to_pb(
            &p.organization.capabilities,
            &p.organization.capability_sources,
        )),
        features: p.features,
        allowed_action_classes: p
            .allowed_classes
            .into_iter()
            .map(|c| c.to_pb().into())
            .collect(),
        revision: p.revision,
        plan: p.organization.plan.name(),
        plan_display_name: p.organization.plan.display_name,
        deployment_features: p.deployment_features,
    }
}

fn answer_to_pb(a: AccessAnswer) -> pb::AuthorizeResponse {
    let decision = match a.decision {
        Decision::Allow => pb::Decision::Allow,
        Decision::NotFound => pb::Decision::DenyNotFound,
        Decision::PermissionDenied => pb::Decision::DenyPermission,
        Decision::EntityStatus => pb::Decision::DenyEntityStatus,
        Decision::SpendingLimit => pb::Decision::DenySpendingLimit,
    };
    pb::AuthorizeResponse {
        decision: decision.into(),
        message: a.message,
        policy: a.policy.map(policy_to_pb),
    }
}

fn feature_to_pb(f: Feature) -> pb::Feature {
    let availability = match f.availability {
        None => pb::FeatureAvailability::Unspecified,
        Some(Availability::Available) => pb::FeatureAvailability::Available,
        Some(Availability::DisabledInDeployment) => pb::FeatureAvailability::DisabledInDeployment,
        Some(Availability::NotInPlan) => pb::FeatureAvailability::NotInPlan,
    };
    pb::Feature {
        name: f.name,
        enabled: f.enabled,
        availability: availability.into(),
    }
}

fn event_to_pb(e: PolicyEvent) -> pb::WatchOrganizationPoliciesResponse {
    match e {
        PolicyEvent::Resync { revision } => pb::WatchOrganizationPoliciesResponse {
            revision,
            resync: true,
            ..Default::default()
        },
        PolicyEvent::Change {
            revision,
            organization,
            kind,
            project,
            policy,
            change_time,
        } => pb::WatchOrganizationPoliciesResponse {
            revision,
            organization: organization_name(organization),
            kind,
            policy: policy.map(|p| policy_to_pb(*p)),
            change_time: Some(timestamp(change_time)),
            resync: false,
            project: project.map_or_else(String::new, |p| project_name(organization, p)),
        },
    }
}

fn project_state_to_pb(p: ProjectState) -> pb::GetProjectStateResponse {
    pb::GetProjectStateResponse {
        project: p.project.to_string(),
        state: p.state.to_pb().into(),
        delete_time: opt_timestamp(p.delete_time),
        purge_time: opt_timestamp(p.purge_time),
        revision: p.revision,
    }
}

/// A workspace id: 1 to 63 characters of lowercase letters, digits, `-`
/// and `_` (a canonical UUID fits).
fn workspace_id(id: &str) -> Result<String, String> {
    let ok = (1..=63).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(id.to_string())
    } else {
        Err(format!(
            "workspace id {} must be 1 to 63 characters of lowercase letters, digits, '-' and '_'",
            quote(id)
        ))
    }
}

/// `resource` of an Authorize request: empty (the organization), a project
/// or a workspace under a project, in `organization` (when that parsed).
fn scope(resource: &str, organization: Option<uuid::Uuid>) -> Result<Scope, String> {
    if resource.is_empty() {
        return Ok(Scope::Organization);
    }
    const SHAPE: &str = "must be empty, organizations/{organization}/projects/{project} or organizations/{organization}/projects/{project}/workspaces/{workspace}";
    let (project, workspace) = match resource.split_once("/workspaces/") {
        Some((project, workspace)) => (project, Some(workspace_id(workspace)?)),
        None => (resource, None),
    };
    let project = ProjectName::parse(project).map_err(|e| format!("{SHAPE}: {e}"))?;
    if organization.is_some_and(|org| org != project.organization) {
        return Err("must be in the organization named by `organization`".into());
    }
    Ok(match workspace {
        Some(workspace) => Scope::Workspace { project, workspace },
        None => Scope::Project(project),
    })
}

impl TryFrom<pb::AuthorizeRequest> for AccessQuestion {
    type Error = FieldViolations;
    fn try_from(req: pb::AuthorizeRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let subject = principal_from_pb(&mut f, "principal", req.principal);
        let organization = f.organization("organization", &req.organization);
        let permission = catalog::lookup(&req.permission).ok_or_else(|| {
            format!(
                "{} is not in the permission catalog",
                quote(&req.permission)
            )
        });
        let permission = f.take("permission", permission);
        let class =
            ActionClass::from_pb(req.action_class).ok_or("must be READ, SETUP, CREATE or OPERATE");
        let class = f.take("action_class", class);
        let scope = f.take("resource", scope(&req.resource, organization));
        let (subject, organization, permission, class, scope) =
            f.finish((subject, organization, permission, class, scope))?;
        Ok(Self {
            subject,
            organization,
            scope,
            permission,
            class,
        })
    }
}

impl TryFrom<pb::GetOrganizationPolicyRequest> for GetOrganizationPolicy {
    type Error = FieldViolations;
    fn try_from(req: pb::GetOrganizationPolicyRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("organization", &req.organization);
        Ok(Self {
            organization: f.finish(organization)?,
        })
    }
}

impl TryFrom<pb::GetProjectStateRequest> for GetProjectState {
    type Error = FieldViolations;
    fn try_from(req: pb::GetProjectStateRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let project = f.name("project", &req.project);
        Ok(Self {
            project: f.finish(project)?,
        })
    }
}

impl TryFrom<pb::ListFeaturesRequest> for ListFeatures {
    type Error = FieldViolations;
    fn try_from(req: pb::ListFeaturesRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.optional_organization("organization", &req.organization);
        Ok(Self {
            organization: f.finish(organization)?,
        })
    }
}

impl TryFrom<pb::WatchOrganizationPoliciesRequest> for WatchOrganizationPolicies {
    type Error = FieldViolations;
    fn try_from(req: pb::WatchOrganizationPoliciesRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let from = req.from_revision;
        let from = f.take(
            "from_revision",
            (from >= 0)
                .then_some(from)
                .ok_or("must be zero or positive"),
        );
        Ok(Self {
            from_revision: f.finish(from)?,
        })
    }
}

type WatchStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchOrganizationPoliciesResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::authority_service_server::AuthorityService for AuthorityGrpc {
    async fn authorize(
        &self,
        request: Request<pb::AuthorizeRequest>,
    ) -> Result<Response<pb::AuthorizeResponse>, Status> {
        unary(&self.0, request, OrgCore::decide, answer_to_pb).await
    }

    async fn get_organization_policy(
        &self,
        request: Request<pb::GetOrganizationPolicyRequest>,
    ) -> Result<Response<pb::GetOrganizationPolicyResponse>, Status> {
        unary(&self.0, request, OrgCore::get_organization_policy, |p| {
            pb::GetOrganizationPolicyResponse {
                policy: Some(policy_to_pb(p)),
            }
        })
        .await
    }

    async fn get_project_state(
        &self,
        request: Request<pb::GetProjectStateRequest>,
    ) -> Result<Response<pb::GetProjectStateResponse>, Status> {
        unary(
            &self.0,
            request,
            OrgCore::get_project_state,
            project_state_to_pb,
        )
        .await
    }

    async fn list_features(
        &self,
        request: Request<pb::ListFeaturesRequest>,
    ) -> Result<Response<pb::ListFeaturesResponse>, Status> {
        unary(&self.0, request, OrgCore::list_features, |features| {
            pb::ListFeaturesResponse {
                features: features.into_iter().map(feature_to_pb).collect(),
            }
        })
        .await
    }

    type WatchOrganizationPoliciesStream = WatchStream;

    async fn watch_organization_policies(
        &self,
        request: Request<pb::WatchOrganizationPoliciesRequest>,
    ) -> Result<Response<Self::WatchOrganizationPoliciesStream>, Status> {
        let (principal, input) = parse(request)?;
        let events = self
            .0
            .watch_organization_policies(&principal, input)
            .await?;
        let stream = events.map(|e| e.map(event_to_pb).map_err(Into::into));
        Ok(Response::new(Box::pin(stream)))
    }
}
