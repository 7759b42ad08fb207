//! gRPC adapter of `loopback.orgcore.v1.PlanService`.

use std::collections::BTreeSet;

use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1 as tpb;
use loopback_runtime::errors::{FieldViolations, quote};
use loopback_runtime::fields::{Fields, etag, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::validation::MAX_DESCRIPTION_CHARS;
use tonic::{Request, Response, Status};

use super::{
    ChangePlan, CreatePlan, DeletePlan, ListPlans, NewPlan, PlanName, PlanUpdate, PlanView,
    UpdatePlan, parse_plan_name, validate_plan_id,
};
use crate::convert::capabilities_to_pb;
use crate::organizations::grpc::organization_to_pb;
use crate::paging::caller_page;
use crate::policy::{self, Capabilities, PlanFeatures};
use crate::service::OrgCore;

/// Serves PlanService.
#[derive(Debug, Clone)]
pub struct PlanGrpc(pub OrgCore);

/// The wire form of a plan.
pub fn plan_to_pb(view: PlanView) -> pb::Plan {
    let p = view.plan;
    let (all_features, features) = match &p.features {
        PlanFeatures::All => (true, Vec::new()),
        PlanFeatures::Only(set) => (false, set.iter().cloned().collect()),
    };
    pb::Plan {
        name: p.name(),
        display_name: p.display_name,
        description: p.description,
        self_serve: p.self_serve,
        capabilities: Some(capabilities_to_pb(&p.capabilities)),
        features,
        all_features,
        deployment_default: view.deployment_default,
        create_time: Some(timestamp(p.create_time)),
        update_time: Some(timestamp(p.update_time)),
        etag: etag(p.version),
    }
}

/// `plans/{plan}` in `field`.
pub fn plan_name(f: &mut Fields, field: &str, name: &str) -> Option<PlanName> {
    f.take(field, parse_plan_name(name))
}

const UPDATABLE: &[&str] = &[
    "display_name",
    "description",
    "self_serve",
    "capabilities",
    "features",
    "all_features",
];

/// A plan's limits and flags, each key checked against the catalog and
/// named under `field` when bad.
fn plan_capabilities(
    f: &mut Fields,
    field: &str,
    capabilities: Option<tpb::Capabilities>,
) -> Capabilities {
    let mut out = Capabilities::default();
    let Some(c) = capabilities else {
        return out;
    };
    for (key, value) in c.limits {
        let at = format!("{field}.limits[{key}]");
        if !policy::is_limit(&key) {
            f.add(at, "unknown limit");
        } else if value < 0 {
            f.add(at, "must be zero or positive");
        } else {
            out.limits.insert(key, value);
        }
    }
    for (key, value) in c.flags {
        let at = format!("{field}.flags[{key}]");
        if key == policy::SPENDING_LIMIT_REACHED {
            f.add(at, "is set by billing's spending limit, not by plans");
        } else if policy::is_flag(&key) {
            out.flags.insert(key, value);
        } else {
            f.add(at, "unknown flag");
        }
    }
    out
}

/// A plan's features: every name in the catalog, or every feature.
fn plan_features(
    f: &mut Fields,
    field: &str,
    features: &[String],
    all_features: bool,
) -> PlanFeatures {
    if all_features {
        if !features.is_empty() {
            f.add(field, "must be empty when all_features is set");
        }
        return PlanFeatures::All;
    }
    let mut set = BTreeSet::new();
    for (i, feature) in features.iter().enumerate() {
        if policy::is_feature(feature) {
            set.insert(feature.clone());
        } else {
            f.add(
                format!("{field}[{i}]"),
                format!(
                    "unknown feature {}; known: {}",
                    quote(feature),
                    policy::FEATURES.join(", ")
                ),
            );
        }
    }
    PlanFeatures::Only(set)
}

impl TryFrom<pb::CreatePlanRequest> for CreatePlan {
    type Error = FieldViolations;
    fn try_from(req: pb::CreatePlanRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let id = f.take(
            "plan_id",
            validate_plan_id(&req.plan_id).map(|()| req.plan_id.clone()),
        );
        let p = f.message("plan", req.plan);
        let display_name = f.display_name("plan.display_name", &p.display_name);
        let description = f.text("plan.description", &p.description, MAX_DESCRIPTION_CHARS);
        let capabilities = plan_capabilities(&mut f, "plan.capabilities", p.capabilities);
        let features = plan_features(&mut f, "plan.features", &p.features, p.all_features);
        let (id, display_name, description) = f.finish((id, display_name, description))?;
        Ok(Self {
            id,
            plan: NewPlan {
                display_name,
                description,
                self_serve: p.self_serve,
                capabilities,
                features,
            },
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::GetPlanRequest> for PlanName {
    type Error = FieldViolations;
    fn try_from(req: pb::GetPlanRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = plan_name(&mut f, "name", &req.name);
        f.finish(name)
    }
}

impl TryFrom<pb::ListPlansRequest> for ListPlans {
    type Error = FieldViolations;
    fn try_from(req: pb::ListPlansRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let page = caller_page(&mut f, req.page_size, &req.page_token, "plans");
        Ok(Self {
            page: f.finish(page)?,
        })
    }
}

impl TryFrom<pb::UpdatePlanRequest> for UpdatePlan {
    type Error = FieldViolations;
    fn try_from(req: pb::UpdatePlanRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let p = f.message("plan", req.plan);
        let name = plan_name(&mut f, "plan.name", &p.name);
        let etag = f.etag("plan.etag", &p.etag);
        let paths = f.update_mask(req.update_mask.as_ref(), UPDATABLE);
        let mut update = PlanUpdate::default();
        if paths.contains(&"display_name") {
            update.display_name = f.display_name("plan.display_name", &p.display_name);
        }
        if paths.contains(&"description") {
            update.description = f.text("plan.description", &p.description, MAX_DESCRIPTION_CHARS);
        }
        if paths.contains(&"self_serve") {
            update.self_serve = Some(p.self_serve);
        }
        if paths.contains(&"capabilities") {
            update.capabilities = Some(plan_capabilities(
                &mut f,
                "plan.capabilities",
                p.capabilities,
            ));
        }
        // `features` alone lists them (and so turns `all_features` off);
        // `all_features` alone switches between every feature and none.
        let (features, all) = (paths.contains(&"features"), paths.contains(&"all_features"));
        if features || all {
            let listed: &[String] = if features { &p.features } else { &[] };
            let all_features = all && p.all_features;
            update.features = Some(plan_features(&mut f, "plan.features", listed, all_features));
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

impl TryFrom<pb::DeletePlanRequest> for DeletePlan {
    type Error = FieldViolations;
    fn try_from(req: pb::DeletePlanRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = plan_name(&mut f, "name", &req.name);
        let etag = f.etag("etag", &req.etag);
        let (name, etag) = f.finish((name, etag))?;
        Ok(Self {
            name,
            etag,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::ChangePlanRequest> for ChangePlan {
    type Error = FieldViolations;
    fn try_from(req: pb::ChangePlanRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("organization", &req.organization);
        let plan = plan_name(&mut f, "plan", &req.plan);
        let etag = f.etag("etag", &req.etag);
        let (organization, plan, etag) = f.finish((organization, plan, etag))?;
        Ok(Self {
            organization,
            plan,
            etag,
            validate_only: req.validate_only,
        })
    }
}

#[tonic::async_trait]
impl pb::plan_service_server::PlanService for PlanGrpc {
    async fn create_plan(
        &self,
        request: Request<pb::CreatePlanRequest>,
    ) -> Result<Response<pb::CreatePlanResponse>, Status> {
        unary(&self.0, request, OrgCore::create_plan, |p| {
            pb::CreatePlanResponse {
                plan: Some(plan_to_pb(p)),
            }
        })
        .await
    }

    async fn get_plan(
        &self,
        request: Request<pb::GetPlanRequest>,
    ) -> Result<Response<pb::GetPlanResponse>, Status> {
        unary(&self.0, request, OrgCore::get_plan, |p| {
            pb::GetPlanResponse {
                plan: Some(plan_to_pb(p)),
            }
        })
        .await
    }

    async fn list_plans(
        &self,
        request: Request<pb::ListPlansRequest>,
    ) -> Result<Response<pb::ListPlansResponse>, Status> {
        unary(&self.0, request, OrgCore::list_plans, |page| {
            let page = page.map(plan_to_pb);
            pb::ListPlansResponse {
                plans: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn update_plan(
        &self,
        request: Request<pb::UpdatePlanRequest>,
    ) -> Result<Response<pb::UpdatePlanResponse>, Status> {
        unary(&self.0, request, OrgCore::update_plan, |p| {
            pb::UpdatePlanResponse {
                plan: Some(plan_to_pb(p)),
            }
        })
        .await
    }

    async fn delete_plan(
        &self,
        request: Request<pb::DeletePlanRequest>,
    ) -> Result<Response<pb::DeletePlanResponse>, Status> {
        unary(&self.0, request, OrgCore::delete_plan, |p| {
            pb::DeletePlanResponse {
                plan: Some(plan_to_pb(p)),
            }
        })
        .await
    }

    async fn change_plan(
        &self,
        request: Request<pb::ChangePlanRequest>,
    ) -> Result<Response<pb::ChangePlanResponse>, Status> {
        unary(&self.0, request, OrgCore::change_plan, |o| {
            pb::ChangePlanResponse {
                organization: Some(organization_to_pb(o)),
            }
        })
        .await
    }
}
