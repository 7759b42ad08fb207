//! gRPC adapters of `OperationService` and `OperationWorkerService`.

use std::time::Duration;

use loopback_proto::integrations::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, opt_timestamp, timestamp};
use loopback_runtime::rpc::unary;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{
    CancelOperation, Claim, Claimed, Complete, ListOperations, OpKind, OpState, Operation,
    OperationName, Outcome, Report, Reported, WaitOperation,
};
use crate::Integrations;

/// Serves OperationService.
#[derive(Debug, Clone)]
pub struct OperationGrpc(pub Integrations);
/// Serves OperationWorkerService.
#[derive(Debug, Clone)]
pub struct WorkerGrpc(pub Integrations);

fn kind_to_pb(k: OpKind) -> pb::OperationKind {
    match k {
        OpKind::Build => pb::OperationKind::Build,
        OpKind::Deploy => pb::OperationKind::Deploy,
    }
}

fn operation_to_pb(o: Operation) -> pb::Operation {
    pb::Operation {
        name: o.name().to_string(),
        kind: kind_to_pb(o.kind).into(),
        target: o.target_name(),
        state: match o.state {
            OpState::Queued => pb::OperationState::Queued,
            OpState::Running => pb::OperationState::Running,
            OpState::Succeeded => pb::OperationState::Succeeded,
            OpState::Failed => pb::OperationState::Failed,
            OpState::Cancelled => pb::OperationState::Cancelled,
        }
        .into(),
        progress_percent: o.progress,
        logs_url: o.logs_url,
        error_message: o.error_message,
        cancel_requested: o.cancel_requested,
        attempt: o.attempt,
        create_time: Some(timestamp(o.create_time)),
        update_time: Some(timestamp(o.update_time)),
        end_time: opt_timestamp(o.end_time),
    }
}

fn claimed_to_pb(c: Option<Claimed>) -> pb::ClaimOperationResponse {
    let Some(c) = c else {
        return pb::ClaimOperationResponse::default();
    };
    pb::ClaimOperationResponse {
        operation: Some(operation_to_pb(c.operation)),
        lease_id: c.lease_id.to_string(),
        lease_expire_time: Some(timestamp(c.lease_expire_time)),
        work: Some(pb::WorkItem {
            repository: c.work.repository,
            commit_sha: c.work.commit_sha,
            path: c.work.path,
            build_spec: c.work.build_spec,
            environment: c.work.environment.unwrap_or_default(),
            variables: c
                .work
                .variables
                .into_iter()
                .map(|v| pb::WorkerVariable {
                    name: v.name,
                    value: v.value,
                    secret: v.secret,
                })
                .collect(),
        }),
    }
}

fn duration(
    f: &mut Fields,
    field: &str,
    d: Option<prost_types::Duration>,
    default: Duration,
    max: Duration,
) -> Option<Duration> {
    let Some(d) = d else { return Some(default) };
    let parsed = u64::try_from(d.seconds)
        .ok()
        .zip(u32::try_from(d.nanos).ok())
        .map(|(s, n)| Duration::new(s, n))
        .filter(|d| *d >= Duration::from_secs(1) && *d <= max)
        .ok_or_else(|| format!("must be 1 s to {} s", max.as_secs()));
    f.take(field, parsed)
}

fn logs_url(f: &mut Fields, value: &str) -> Option<Option<String>> {
    if value.is_empty() {
        return Some(None);
    }
    let ok = value.len() <= 2048
        && url::Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "https" | "http"));
    f.take(
        "logs_url",
        ok.then(|| Some(value.to_string()))
            .ok_or("must be an http(s) URL of at most 2048 characters"),
    )
}

fn lease(f: &mut Fields, value: &str) -> Option<Uuid> {
    f.take(
        "lease_id",
        Uuid::parse_str(value).map_err(|_| "must be the lease_id ClaimOperation returned"),
    )
}

macro_rules! name_request {
    ($req:ty, $out:ty, |$name:ident, $r:ident| $build:expr) => {
        impl TryFrom<$req> for $out {
            type Error = FieldViolations;
            fn try_from($r: $req) -> Result<Self, FieldViolations> {
                let mut f = Fields::new();
                let $name = f.name("name", &$r.name);
                let $name: OperationName = f.finish($name)?;
                Ok($build)
            }
        }
    };
}

name_request!(pb::GetOperationRequest, OperationName, |name, _req| name);
name_request!(pb::CancelOperationRequest, CancelOperation, |name, _req| {
    CancelOperation { name }
});

impl TryFrom<pb::WaitOperationRequest> for WaitOperation {
    type Error = FieldViolations;
    fn try_from(req: pb::WaitOperationRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        let timeout = duration(
            &mut f,
            "timeout",
            req.timeout,
            Duration::from_secs(10),
            Duration::from_secs(60),
        );
        let (name, timeout) = f.finish((name, timeout))?;
        Ok(Self { name, timeout })
    }
}

impl TryFrom<pb::ListOperationsRequest> for ListOperations {
    type Error = FieldViolations;
    fn try_from(req: pb::ListOperationsRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let page = f.page(
            req.page_size,
            &req.page_token,
            &format!("operations|{}", req.parent),
        );
        let (organization, page) = f.finish((organization, page))?;
        Ok(Self { organization, page })
    }
}

impl TryFrom<pb::ClaimOperationRequest> for Claim {
    type Error = FieldViolations;
    fn try_from(req: pb::ClaimOperationRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let worker = f.take(
            "worker",
            Some(req.worker)
                .filter(|w| (1..=128).contains(&w.len()) && w.chars().all(|c| c.is_ascii_graphic()))
                .ok_or("is required: 1 to 128 printable characters"),
        );
        let mut kinds = Vec::new();
        for (i, k) in req.kinds.iter().enumerate() {
            match pb::OperationKind::try_from(*k) {
                Ok(pb::OperationKind::Build) => kinds.push(OpKind::Build),
                Ok(pb::OperationKind::Deploy) => kinds.push(OpKind::Deploy),
                _ => f.add(format!("kinds[{i}]"), "must be BUILD or DEPLOY"),
            }
        }
        let lease = duration(
            &mut f,
            "lease_duration",
            req.lease_duration,
            Duration::from_secs(30),
            Duration::from_secs(600),
        );
        let (worker, lease) = f.finish((worker, lease))?;
        Ok(Self {
            worker,
            kinds,
            lease,
        })
    }
}

impl TryFrom<pb::ReportProgressRequest> for Report {
    type Error = FieldViolations;
    fn try_from(req: pb::ReportProgressRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        let lease_id = lease(&mut f, &req.lease_id);
        let progress = f.take(
            "progress_percent",
            Some(req.progress_percent)
                .filter(|p| (0..=100).contains(p))
                .ok_or("must be 0 to 100"),
        );
        let logs_url = logs_url(&mut f, &req.logs_url);
        let (name, lease_id, progress, logs_url) =
            f.finish((name, lease_id, progress, logs_url))?;
        Ok(Self {
            name,
            lease_id,
            progress,
            logs_url,
        })
    }
}

impl TryFrom<pb::CompleteOperationRequest> for Complete {
    type Error = FieldViolations;
    fn try_from(req: pb::CompleteOperationRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        let lease_id = lease(&mut f, &req.lease_id);
        let error = f.text("error_message", &req.error_message, 2000);
        let outcome = match (pb::OperationState::try_from(req.result), error) {
            (Ok(pb::OperationState::Succeeded), Some(_)) => Some(Outcome::Succeeded),
            (Ok(pb::OperationState::Failed), Some(e)) => Some(Outcome::Failed(e)),
            (_, Some(_)) => f.take("result", Err("must be SUCCEEDED or FAILED")),
            (_, None) => None,
        };
        let logs_url = logs_url(&mut f, &req.logs_url);
        let (name, lease_id, outcome, logs_url) = f.finish((name, lease_id, outcome, logs_url))?;
        Ok(Self {
            name,
            lease_id,
            outcome,
            logs_url,
        })
    }
}

#[tonic::async_trait]
impl pb::operation_service_server::OperationService for OperationGrpc {
    async fn get_operation(
        &self,
        request: Request<pb::GetOperationRequest>,
    ) -> Result<Response<pb::GetOperationResponse>, Status> {
        unary(&self.0, request, Integrations::get_operation, |o| {
            pb::GetOperationResponse {
                operation: Some(operation_to_pb(o)),
            }
        })
        .await
    }

    async fn list_operations(
        &self,
        request: Request<pb::ListOperationsRequest>,
    ) -> Result<Response<pb::ListOperationsResponse>, Status> {
        unary(&self.0, request, Integrations::list_operations, |page| {
            let page = page.map(operation_to_pb);
            pb::ListOperationsResponse {
                operations: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn cancel_operation(
        &self,
        request: Request<pb::CancelOperationRequest>,
    ) -> Result<Response<pb::CancelOperationResponse>, Status> {
        unary(&self.0, request, Integrations::cancel_operation, |o| {
            pb::CancelOperationResponse {
                operation: Some(operation_to_pb(o)),
            }
        })
        .await
    }

    async fn wait_operation(
        &self,
        request: Request<pb::WaitOperationRequest>,
    ) -> Result<Response<pb::WaitOperationResponse>, Status> {
        unary(&self.0, request, Integrations::wait_operation, |o| {
            pb::WaitOperationResponse {
                operation: Some(operation_to_pb(o)),
            }
        })
        .await
    }
}

#[tonic::async_trait]
impl pb::operation_worker_service_server::OperationWorkerService for WorkerGrpc {
    async fn claim_operation(
        &self,
        request: Request<pb::ClaimOperationRequest>,
    ) -> Result<Response<pb::ClaimOperationResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::claim_operation,
            claimed_to_pb,
        )
        .await
    }

    async fn report_progress(
        &self,
        request: Request<pb::ReportProgressRequest>,
    ) -> Result<Response<pb::ReportProgressResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::report_progress,
            |r: Reported| pb::ReportProgressResponse {
                cancelled: r.cancelled,
                lease_expire_time: opt_timestamp(r.lease_expire_time),
            },
        )
        .await
    }

    async fn complete_operation(
        &self,
        request: Request<pb::CompleteOperationRequest>,
    ) -> Result<Response<pb::CompleteOperationResponse>, Status> {
        unary(&self.0, request, Integrations::complete_operation, |o| {
            pb::CompleteOperationResponse {
                operation: Some(operation_to_pb(o)),
            }
        })
        .await
    }
}
