//! gRPC adapter of `loopback.orgcore.v1.AuthorityService`.

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1 as tpb;
use loopback_runtime::auth::{Principal, PrincipalKind};
use loopback_runtime::errors::FieldViolations;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{Decision, OrganizationPolicy};
use crate::access::require_service_or_operator;
use crate::convert::{
    capabilities_to_pb, class_from_pb, class_to_pb, state_to_pb, status_to_pb, timestamp,
};
use crate::grpc as g;
use crate::model::parse_stored_uuid;
use crate::service::OrgCore;
use crate::{catalog, changes};

/// Serves AuthorityService.
#[derive(Debug, Clone)]
pub struct AuthorityGrpc(pub OrgCore);

/// How often a watcher polls the feed for changes made by other replicas.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Changes read per query while catching up.
const BATCH: u64 = 500;

/// The wire form of a policy.
pub fn policy_to_pb(p: OrganizationPolicy) -> pb::OrganizationPolicy {
    pb::OrganizationPolicy {
        organization: p.organization.name(),
        verification_status: status_to_pb(p.organization.verification_status).into(),
        state: state_to_pb(p.organization.state).into(),
        capabilities: Some(capabilities_to_pb(&p.organization.capabilities)),
        features: p.features,
        allowed_action_classes: p
            .allowed_classes
            .into_iter()
            .map(|c| class_to_pb(c).into())
            .collect(),
        revision: p.revision,
    }
}

fn principal_from_pb(v: &mut FieldViolations, p: Option<tpb::Principal>) -> Option<Principal> {
    let Some(p) = p else {
        v.add("principal", "is required");
        return None;
    };
    let kind = match tpb::PrincipalKind::try_from(p.kind) {
        Ok(tpb::PrincipalKind::Account) => PrincipalKind::Account,
        Ok(tpb::PrincipalKind::Service) => PrincipalKind::Service,
        Ok(tpb::PrincipalKind::Operator) => PrincipalKind::Operator,
        _ => {
            v.add("principal.kind", "must be ACCOUNT, SERVICE or OPERATOR");
            return None;
        }
    };
    if p.subject.trim().is_empty() {
        v.add("principal.subject", "is required");
        return None;
    }
    Some(Principal {
        kind,
        subject: p.subject,
        email: (!p.email.is_empty()).then_some(p.email),
        name: None,
    })
}

type WatchStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchOrganizationPoliciesResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::authority_service_server::AuthorityService for AuthorityGrpc {
    async fn authorize(
        &self,
        request: Request<pb::AuthorizeRequest>,
    ) -> Result<Response<pb::AuthorizeResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        require_service_or_operator(&caller)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let subject = principal_from_pb(&mut v, req.principal);
        let org = g::org_id(&mut v, "organization", &req.organization);
        let permission = catalog::lookup(&req.permission);
        if permission.is_none() {
            v.add(
                "permission",
                format!("{:?} is not in the permission catalog", req.permission),
            );
        }
        let class = class_from_pb(req.action_class);
        if class.is_none() {
            v.add("action_class", "must be READ, SETUP, CREATE or OPERATE");
        }
        g::done(v)?;
        let (Some(subject), Some(org), Some(permission), Some(class)) =
            (subject, org, permission, class)
        else {
            return Err(Status::internal("validated fields missing"));
        };
        let (decision, policy) = self
            .0
            .authorize(&caller, &subject, org, permission, class)
            .await?;
        let (decision, message) = match decision {
            Decision::Allow => (pb::Decision::Allow, String::new()),
            Decision::NotFound => (
                pb::Decision::DenyNotFound,
                format!("organizations/{org} not found"),
            ),
            Decision::PermissionDenied => (
                pb::Decision::DenyPermission,
                format!("the caller lacks permission {permission}"),
            ),
            Decision::EntityStatus(message) => (pb::Decision::DenyEntityStatus, message),
            Decision::SpendingLimit => (
                pb::Decision::DenySpendingLimit,
                format!("organizations/{org} reached its hard spending limit for this period"),
            ),
        };
        Ok(Response::new(pb::AuthorizeResponse {
            decision: decision.into(),
            message,
            policy: policy.map(policy_to_pb),
        }))
    }

    async fn get_organization_policy(
        &self,
        request: Request<pb::GetOrganizationPolicyRequest>,
    ) -> Result<Response<pb::GetOrganizationPolicyResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "organization", &req.organization);
        g::done(v)?;
        let policy = self
            .0
            .get_organization_policy(&caller, org.unwrap_or_default())
            .await?;
        Ok(Response::new(pb::GetOrganizationPolicyResponse {
            policy: Some(policy_to_pb(policy)),
        }))
    }

    async fn list_features(
        &self,
        request: Request<pb::ListFeaturesRequest>,
    ) -> Result<Response<pb::ListFeaturesResponse>, Status> {
        self.0.caller_of(&request).await?;
        let enabled = &self.0.settings().features;
        let mut features: Vec<pb::Feature> = crate::policy::FEATURES
            .iter()
            .map(|f| pb::Feature {
                name: f.to_string(),
                enabled: enabled.iter().any(|e| e == f),
            })
            .collect();
        features.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Response::new(pb::ListFeaturesResponse { features }))
    }

    type WatchOrganizationPoliciesStream = WatchStream;

    async fn watch_organization_policies(
        &self,
        request: Request<pb::WatchOrganizationPoliciesRequest>,
    ) -> Result<Response<Self::WatchOrganizationPoliciesStream>, Status> {
        let caller = self.0.caller_of(&request).await?;
        require_service_or_operator(&caller)?;
        let req = request.into_inner();
        if req.from_revision < 0 {
            let mut v = FieldViolations::new();
            v.add("from_revision", "must be zero or positive");
            g::done(v)?;
        }
        let (tx, rx) = mpsc::channel(64);
        let core = self.0.clone();
        tokio::spawn(async move {
            if let Err(status) = pump_changes(core, req.from_revision, &tx).await {
                let _ = tx.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Sends every change after `revision` to `tx`, then waits for more, until
/// the watcher goes away.
async fn pump_changes(
    core: OrgCore,
    mut revision: i64,
    tx: &mpsc::Sender<Result<pb::WatchOrganizationPoliciesResponse, Status>>,
) -> Result<(), Status> {
    let mut wake = core.subscribe_changes();
    let stop = core.shutdown_token();
    let compacted = changes::compacted_through(core.db()).await?;
    let latest = changes::latest(core.db()).await?;
    if revision < compacted || revision > latest {
        // The watcher's position is gone (compacted) or from another feed:
        // tell it to reload everything, then continue from now.
        let message = pb::WatchOrganizationPoliciesResponse {
            revision: latest,
            resync: true,
            ..Default::default()
        };
        if tx.send(Ok(message)).await.is_err() {
            return Ok(());
        }
        revision = latest;
    }
    loop {
        let batch = changes::after(core.db(), revision, BATCH).await?;
        let caught_up = (batch.len() as u64) < BATCH;
        for change in batch {
            let org = parse_stored_uuid(&change.organization_id)?;
            let policy = core.policy(org).await?;
            let message = pb::WatchOrganizationPoliciesResponse {
                revision: change.revision,
                organization: crate::model::organization_name(org),
                kind: change.kind,
                policy: policy.map(policy_to_pb),
                change_time: Some(timestamp(change.change_time)),
                resync: false,
            };
            if tx.send(Ok(message)).await.is_err() {
                return Ok(());
            }
            revision = change.revision;
        }
        if caught_up {
            tokio::select! {
                _ = wake.changed() => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                () = tx.closed() => return Ok(()),
                () = stop.cancelled() => return Ok(()),
            }
        }
    }
}
