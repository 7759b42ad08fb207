//! Build and deploy operations: QUEUED → RUNNING → SUCCEEDED, FAILED or
//! CANCELLED. External workers claim them with a lease (a compare-and-set
//! on the row, so two workers never run one operation at once), report
//! progress (renewing the lease, hearing about a cancel) and complete them.
//! An operation whose lease expires goes back to the queue; its old
//! worker's next report is refused (LEASE_LOST).

pub mod grpc;
pub mod store;

use std::time::Duration;

use chrono::{DateTime, Utc};
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::tx::WriteOptions;
use serde_json::json;
use uuid::Uuid;

use crate::bundles::{DeploymentName, RevisionName, Visible};
use crate::error::{Error, LEASE_LOST, OPERATION_DONE, Result};
use crate::{Integrations, rpcs};

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Builds a revision.
    Build,
    /// Deploys a deployment.
    Deploy,
}

impl OpKind {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Build => "BUILD",
            Self::Deploy => "DEPLOY",
        }
    }

    /// From the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "BUILD" => Some(Self::Build),
            "DEPLOY" => Some(Self::Deploy),
            _ => None,
        }
    }
}

/// Where an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpState {
    /// Waiting for a worker.
    Queued,
    /// Leased to a worker.
    Running,
    /// Done.
    Succeeded,
    /// Done, unsuccessfully.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl OpState {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// From the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "QUEUED" => Some(Self::Queued),
            "RUNNING" => Some(Self::Running),
            "SUCCEEDED" => Some(Self::Succeeded),
            "FAILED" => Some(Self::Failed),
            "CANCELLED" => Some(Self::Cancelled),
            _ => None,
        }
    }

    /// Whether it ended.
    pub fn is_done(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It worked.
    Succeeded,
    /// It failed, saying why.
    Failed(String),
    /// It was cancelled.
    Cancelled,
}

loopback_runtime::resource_name! {
    /// `organizations/{org}/operations/{id}`, parsed.
    pub struct OperationName = "operations", id: Uuid;
}

/// An operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// Kind.
    pub kind: OpKind,
    /// Revision (BUILD) or deployment (DEPLOY) id.
    pub target: Uuid,
    /// State.
    pub state: OpState,
    /// 0 to 100.
    pub progress: i32,
    /// Logs.
    pub logs_url: String,
    /// Why it failed.
    pub error_message: String,
    /// A cancel was asked for while running.
    pub cancel_requested: bool,
    /// Claims so far.
    pub attempt: i32,
    /// The current lease.
    pub lease_id: Option<Uuid>,
    /// When the lease ends.
    pub lease_expire_time: Option<DateTime<Utc>>,
    /// How long a report renews the lease for, in seconds.
    pub lease_seconds: i32,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
    /// Ended.
    pub end_time: Option<DateTime<Utc>>,
}

impl Operation {
    /// Its resource name.
    pub fn name(&self) -> OperationName {
        OperationName {
            organization: self.organization,
            id: self.id,
        }
    }

    /// The resource it works on.
    pub fn target_name(&self) -> String {
        let collection = match self.kind {
            OpKind::Build => "revisions",
            OpKind::Deploy => "deployments",
        };
        format!(
            "organizations/{}/{collection}/{}",
            self.organization, self.target
        )
    }
}

/// A variable handed to a deploy worker.
#[derive(Clone, PartialEq, Eq)]
pub struct WorkerVariable {
    /// Name.
    pub name: String,
    /// Value (secrets opened).
    pub value: String,
    /// Secret.
    pub secret: bool,
}

impl std::fmt::Debug for WorkerVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerVariable")
            .field("name", &self.name)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

/// What a worker needs to run an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    /// Repository path at the provider.
    pub repository: String,
    /// Commit.
    pub commit_sha: String,
    /// Bundle path.
    pub path: String,
    /// Build spec.
    pub build_spec: String,
    /// DEPLOY: the environment.
    pub environment: Option<String>,
    /// DEPLOY: its variables.
    pub variables: Vec<WorkerVariable>,
}

/// ListOperations, validated.
#[derive(Debug, Clone)]
pub struct ListOperations {
    /// Organization.
    pub organization: Uuid,
    /// Page.
    pub page: PageRequest,
}

/// WaitOperation, validated.
#[derive(Debug, Clone, Copy)]
pub struct WaitOperation {
    /// The operation.
    pub name: OperationName,
    /// At most this long.
    pub timeout: Duration,
}

/// CancelOperation, validated.
#[derive(Debug, Clone, Copy)]
pub struct CancelOperation {
    /// The operation.
    pub name: OperationName,
}

/// ClaimOperation, validated.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The worker's id.
    pub worker: String,
    /// Only these kinds (empty: any).
    pub kinds: Vec<OpKind>,
    /// Lease length.
    pub lease: Duration,
}

/// A claimed operation.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The operation (RUNNING).
    pub operation: Operation,
    /// The lease.
    pub lease_id: Uuid,
    /// When it ends unless renewed.
    pub lease_expire_time: DateTime<Utc>,
    /// What to run.
    pub work: WorkItem,
}

/// ReportProgress, validated.
#[derive(Debug, Clone)]
pub struct Report {
    /// The operation.
    pub name: OperationName,
    /// The lease.
    pub lease_id: Uuid,
    /// 0 to 100.
    pub progress: i32,
    /// Logs, if known.
    pub logs_url: Option<String>,
}

/// What a report hears back.
#[derive(Debug, Clone, Copy)]
pub struct Reported {
    /// The operation was cancelled: stop.
    pub cancelled: bool,
    /// When the renewed lease ends.
    pub lease_expire_time: Option<DateTime<Utc>>,
}

/// CompleteOperation, validated.
#[derive(Debug, Clone)]
pub struct Complete {
    /// The operation.
    pub name: OperationName,
    /// The lease.
    pub lease_id: Uuid,
    /// SUCCEEDED or FAILED.
    pub outcome: Outcome,
    /// Logs, if known.
    pub logs_url: Option<String>,
}

fn lease_lost(name: OperationName) -> Error {
    Error::precondition(
        LEASE_LOST,
        format!("the lease on {name} is no longer yours: stop working on it"),
        vec![("operation", name.to_string())],
    )
}

impl Integrations {
    /// Queues a new operation inside the caller's write transaction.
    pub(crate) async fn queue_operation(
        &self,
        conn: &impl Conn,
        org: Uuid,
        kind: OpKind,
        target: Uuid,
    ) -> Result<Uuid> {
        let now = Utc::now();
        let op = Operation {
            id: Uuid::now_v7(),
            organization: org,
            kind,
            target,
            state: OpState::Queued,
            progress: 0,
            logs_url: String::new(),
            error_message: String::new(),
            cancel_requested: false,
            attempt: 0,
            lease_id: None,
            lease_expire_time: None,
            lease_seconds: 0,
            create_time: now,
            update_time: now,
            end_time: None,
        };
        store::insert(conn, &op).await?;
        Ok(op.id)
    }

    /// The project of the bundle an operation works for (`None`:
    /// organization-wide, or no such operation, which the organization
    /// then answers NOT_FOUND for): operations are authorized there.
    pub(crate) async fn operation_scope(&self, name: OperationName) -> Result<Option<Uuid>> {
        let org = name.organization;
        let Some(op) = store::operation(self.db(), org, name.id).await? else {
            return Ok(None);
        };
        match op.kind {
            OpKind::Build => {
                self.revision_scope(RevisionName {
                    organization: org,
                    id: op.target,
                })
                .await
            }
            OpKind::Deploy => {
                self.deployment_scope(DeploymentName {
                    organization: org,
                    id: op.target,
                })
                .await
            }
        }
    }

    /// Authorizes `rpc` on an operation where its bundle lives.
    async fn authorize_operation(
        &self,
        principal: &Principal,
        rpc: &loopback_runtime::authz::Rpc,
        name: OperationName,
    ) -> Result<()> {
        let scope = self.operation_scope(name).await?;
        self.authorize_in_project(principal, rpc, name.organization, scope, &name)
            .await?;
        Ok(())
    }

    /// GetOperation.
    pub async fn get_operation(
        &self,
        principal: &Principal,
        name: OperationName,
    ) -> Result<Operation> {
        self.authorize_operation(principal, &rpcs::GET_OPERATION, name)
            .await?;
        self.operation_in(self.db(), name).await
    }

    /// ListOperations, newest first.
    pub async fn list_operations(
        &self,
        principal: &Principal,
        input: ListOperations,
    ) -> Result<Page<Operation>> {
        let visible: Visible = self
            .visible(principal, &rpcs::LIST_OPERATIONS, input.organization)
            .await?;
        let rows = store::list(self.db(), input.organization, &visible, &input.page).await?;
        Ok(input.page.page(rows, |o| o.id.to_string()))
    }

    /// WaitOperation: until done or the timeout, whichever comes first.
    pub async fn wait_operation(
        &self,
        principal: &Principal,
        input: WaitOperation,
    ) -> Result<Operation> {
        self.authorize_operation(principal, &rpcs::WAIT_OPERATION, input.name)
            .await?;
        let deadline = tokio::time::Instant::now() + input.timeout;
        let mut committed = self.committed();
        loop {
            let op = self.operation_in(self.db(), input.name).await?;
            let now = tokio::time::Instant::now();
            if op.state.is_done() || now >= deadline {
                return Ok(op);
            }
            let pause = (deadline - now).min(Duration::from_millis(250));
            tokio::select! {
                _ = committed.changed() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// CancelOperation: a queued one ends at once; a running one is
    /// flagged and ends when its worker next reports.
    pub async fn cancel_operation(
        &self,
        principal: &Principal,
        input: CancelOperation,
    ) -> Result<Operation> {
        let rpc = &rpcs::CANCEL_OPERATION;
        let name = input.name;
        self.authorize_operation(principal, rpc, name).await?;
        let mut tx = self
            .begin_write(name.organization, rpc, principal, WriteOptions::plain())
            .await?;
        let mut op = self.operation_in(tx.conn(), name).await?;
        if op.state == OpState::Queued && store::cancel_queued(tx.conn(), op.id).await? {
            if op.kind == OpKind::Deploy {
                self.finish_deployment(
                    tx.conn(),
                    name.organization,
                    op.target,
                    &Outcome::Cancelled,
                )
                .await?;
            }
        } else {
            op = self.operation_in(tx.conn(), name).await?;
            if op.state.is_done() {
                return Err(Error::precondition(
                    OPERATION_DONE,
                    format!("{name} already ended ({})", op.state.as_str()),
                    vec![("state", op.state.as_str().to_string())],
                ));
            }
            store::request_cancel(tx.conn(), op.id).await?;
        }
        tx.audit(
            name.to_string(),
            json!({ "kind": op.kind.as_str(), "target": op.target_name() }),
        );
        let op = self.operation_in(tx.conn(), name).await?;
        tx.commit().await?;
        Ok(op)
    }

    /// ClaimOperation: the oldest queued operation, or one whose lease
    /// expired; `None` when there is none.
    pub async fn claim_operation(
        &self,
        principal: &Principal,
        input: Claim,
    ) -> Result<Option<Claimed>> {
        self.authorize_unscoped(principal, &rpcs::CLAIM_OPERATION)
            .await?;
        let lease_seconds = i32::try_from(input.lease.as_secs()).unwrap_or(i32::MAX);
        // Losing a race means someone else got that one: try the next.
        for _ in 0..50 {
            let now = Utc::now();
            let Some(op) = store::next_claimable(self.db(), &input.kinds, now).await? else {
                return Ok(None);
            };
            let lease_id = Uuid::now_v7();
            let expire = now + chrono::Duration::from_std(input.lease).unwrap_or_default();
            if !store::try_claim(
                self.db(),
                &op,
                &input.worker,
                lease_id,
                expire,
                lease_seconds,
            )
            .await?
            {
                continue;
            }
            self.notify_committed();
            let work = self
                .work_item(self.db(), op.organization, op.kind, op.target)
                .await?;
            let operation = self.operation_in(self.db(), op.name()).await?;
            return Ok(Some(Claimed {
                operation,
                lease_id,
                lease_expire_time: expire,
                work,
            }));
        }
        Ok(None)
    }

    /// ReportProgress: renews the lease; a cancelled operation ends here
    /// and says so.
    pub async fn report_progress(&self, principal: &Principal, input: Report) -> Result<Reported> {
        let rpc = &rpcs::REPORT_PROGRESS;
        let name = input.name;
        self.authorize(principal, rpc, name.organization).await?;
        let op = self.operation_in(self.db(), name).await?;
        if op.lease_id != Some(input.lease_id) {
            return Err(lease_lost(name));
        }
        match op.state {
            OpState::Cancelled => {
                return Ok(Reported {
                    cancelled: true,
                    lease_expire_time: None,
                });
            }
            OpState::Running => {}
            _ => return Err(lease_lost(name)),
        }
        if op.cancel_requested {
            let mut tx = self
                .begin_write(name.organization, rpc, principal, WriteOptions::plain())
                .await?;
            if !store::finish(
                tx.conn(),
                op.id,
                input.lease_id,
                OpState::Cancelled,
                "",
                None,
            )
            .await?
            {
                return Err(lease_lost(name));
            }
            if op.kind == OpKind::Deploy {
                self.finish_deployment(
                    tx.conn(),
                    name.organization,
                    op.target,
                    &Outcome::Cancelled,
                )
                .await?;
            }
            tx.audit(
                name.to_string(),
                json!({ "state": OpState::Cancelled.as_str() }),
            );
            tx.commit().await?;
            return Ok(Reported {
                cancelled: true,
                lease_expire_time: None,
            });
        }
        let expire = Utc::now() + chrono::Duration::seconds(i64::from(op.lease_seconds.max(1)));
        if !store::renew(
            self.db(),
            op.id,
            input.lease_id,
            input.progress,
            input.logs_url.as_deref(),
            expire,
        )
        .await?
        {
            return Err(lease_lost(name));
        }
        self.notify_committed();
        Ok(Reported {
            cancelled: false,
            lease_expire_time: Some(expire),
        })
    }

    /// CompleteOperation: ends it (CANCELLED instead when a cancel was
    /// asked for meanwhile); a DEPLOY's deployment follows.
    pub async fn complete_operation(
        &self,
        principal: &Principal,
        input: Complete,
    ) -> Result<Operation> {
        let rpc = &rpcs::COMPLETE_OPERATION;
        let name = input.name;
        self.authorize(principal, rpc, name.organization).await?;
        let mut tx = self
            .begin_write(name.organization, rpc, principal, WriteOptions::plain())
            .await?;
        let op = self.operation_in(tx.conn(), name).await?;
        if op.lease_id != Some(input.lease_id) || op.state != OpState::Running {
            return Err(lease_lost(name));
        }
        let outcome = if op.cancel_requested {
            Outcome::Cancelled
        } else {
            input.outcome
        };
        let (state, error) = match &outcome {
            Outcome::Succeeded => (OpState::Succeeded, String::new()),
            Outcome::Failed(e) => (OpState::Failed, e.clone()),
            Outcome::Cancelled => (OpState::Cancelled, String::new()),
        };
        if !store::finish(
            tx.conn(),
            op.id,
            input.lease_id,
            state,
            &error,
            input.logs_url.as_deref(),
        )
        .await?
        {
            return Err(lease_lost(name));
        }
        if op.kind == OpKind::Deploy {
            self.finish_deployment(tx.conn(), name.organization, op.target, &outcome)
                .await?;
        }
        tx.audit(
            name.to_string(),
            json!({ "kind": op.kind.as_str(), "target": op.target_name(), "state": state.as_str(), "error_message": error }),
        );
        let op = self.operation_in(tx.conn(), name).await?;
        tx.commit().await?;
        Ok(op)
    }

    /// Puts operations whose lease expired back in the queue (or ends them,
    /// when a cancel was asked for). A background job; claims also take
    /// expired leases themselves.
    pub async fn requeue_expired_leases(&self) -> Result<()> {
        for op in store::expired(self.db(), Utc::now()).await? {
            let Some(lease) = op.lease_id else { continue };
            if op.cancel_requested {
                let tx = self
                    .begin_own_write(op.organization, &rpcs::CANCEL_OPERATION)
                    .await?;
                if store::finish(tx.conn(), op.id, lease, OpState::Cancelled, "", None).await?
                    && op.kind == OpKind::Deploy
                {
                    self.finish_deployment(
                        tx.conn(),
                        op.organization,
                        op.target,
                        &Outcome::Cancelled,
                    )
                    .await?;
                }
                tx.commit().await?;
            } else if store::requeue(self.db(), op.id, lease).await? {
                self.notify_committed();
            }
        }
        Ok(())
    }

    /// An operation; NOT_FOUND when missing or another organization's.
    pub(crate) async fn operation_in(
        &self,
        conn: &impl Conn,
        name: OperationName,
    ) -> Result<Operation> {
        store::operation(conn, name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }
}

/// Deletes every row of `org` this module holds (its part of following an
/// organization's purge, `crate::purge`); how many rows went.
pub(crate) async fn purge_organization(
    conn: &impl loopback_runtime::db::Conn,
    org: Uuid,
) -> Result<u64> {
    store::purge_organization(conn, org).await
}

/// Organizations this module holds rows of, in id order after `after`, at
/// most `limit` per table.
pub(crate) async fn holders(
    conn: &impl loopback_runtime::db::Conn,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    store::holders(conn, after, limit).await
}

/// Deletes `org`'s operations working on `targets` (revisions and
/// deployments a project's purge deleted); how many went.
pub(crate) async fn delete_for_targets(
    conn: &impl loopback_runtime::db::Conn,
    org: Uuid,
    targets: &[Uuid],
) -> Result<u64> {
    store::delete_for_targets(conn, org, targets).await
}

impl Integrations {
    /// Ends the unfinished operations of `org`'s bundles in `project`,
    /// which was deleted, as `service:integrations`: a queued one (and its
    /// deployment) is CANCELLED at once, a running one is flagged and its
    /// worker hears it at its next report. Restoring the project does not
    /// restart them (redeploy to). Idempotent; returns how many it ended
    /// or flagged.
    pub async fn cancel_project_operations(&self, org: Uuid, project: Uuid) -> Result<u64> {
        let visible = Visible {
            organization: false,
            projects: vec![project],
        };
        let pending = store::unfinished(self.db(), org, &visible).await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_own_write(org, &rpcs::CANCEL_OPERATION).await?;
        let mut n = 0;
        for op in store::unfinished(tx.conn(), org, &visible).await? {
            if op.state == OpState::Queued && store::cancel_queued(tx.conn(), op.id).await? {
                if op.kind == OpKind::Deploy {
                    self.finish_deployment(tx.conn(), org, op.target, &Outcome::Cancelled)
                        .await?;
                }
            } else {
                store::request_cancel(tx.conn(), op.id).await?;
            }
            tx.audit_with_reason(
                op.name().to_string(),
                "its project was deleted",
                json!({ "kind": op.kind.as_str(), "target": op.target_name() }),
            );
            n += 1;
        }
        tx.commit().await?;
        Ok(n)
    }
}
