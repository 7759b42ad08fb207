//! gRPC adapter of `loopback.billing.v1.InvoiceService`.

use loopback_org_core_client::ActionClass;
use loopback_proto::billing::v1 as pb;
use loopback_proto::r#type::v1::Money;
use loopback_runtime::auth::{self, Principal};
use loopback_runtime::errors::FieldViolations;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::export::{self, Format};
use super::{Action, Invoice, LineKind, ListFilter, Status as InvoiceStatus};
use crate::Billing;
use crate::costs::grpc::valid_period;
use crate::grpc as g;
use crate::usage::period_of;

/// Serves InvoiceService.
#[derive(Debug, Clone)]
pub struct InvoiceGrpc(pub Billing);

/// Permission to read one invoice.
pub const PERMISSION_GET: &str = "billing.invoices.get";
/// Permission to list invoices.
pub const PERMISSION_LIST: &str = "billing.invoices.list";
/// Permission to generate, finalize, void and settle invoices.
pub const PERMISSION_MANAGE: &str = "billing.invoices.manage";
/// Permission to export invoices as documents.
pub const PERMISSION_EXPORT: &str = "billing.invoices.export";

fn status_to_pb(s: InvoiceStatus) -> pb::InvoiceStatus {
    match s {
        InvoiceStatus::Draft => pb::InvoiceStatus::Draft,
        InvoiceStatus::Open => pb::InvoiceStatus::Open,
        InvoiceStatus::Paid => pb::InvoiceStatus::Paid,
        InvoiceStatus::Void => pb::InvoiceStatus::Void,
        InvoiceStatus::Uncollectible => pb::InvoiceStatus::Uncollectible,
    }
}

/// The API view of an invoice.
pub fn to_pb(inv: Invoice) -> pb::Invoice {
    let money = |amount_minor: i64| Money {
        currency_code: inv.currency.clone(),
        amount_minor,
    };
    let lines = inv
        .lines
        .iter()
        .map(|l| pb::InvoiceLine {
            kind: match l.kind {
                LineKind::Usage => pb::InvoiceLineKind::Usage,
                LineKind::Tax => pb::InvoiceLineKind::Tax,
            }
            .into(),
            project: if l.project.is_empty() {
                String::new()
            } else {
                format!("organizations/{}/projects/{}", inv.organization, l.project)
            },
            meter: l.meter.clone(),
            description: l.description.clone(),
            quantity: l.quantity,
            unit_price: (l.kind == LineKind::Usage).then(|| money(l.unit_price)),
            amount: Some(money(l.amount)),
        })
        .collect();
    pb::Invoice {
        name: inv.name(),
        period: inv.period.clone(),
        status: status_to_pb(inv.status).into(),
        invoice_number: inv.number.clone().unwrap_or_default(),
        lines,
        subtotal: Some(money(inv.subtotal)),
        tax: Some(money(inv.tax)),
        tax_rate_bps: i32::try_from(inv.tax_rate_bps).unwrap_or(i32::MAX),
        total: Some(money(inv.total)),
        allowed_actions: inv
            .status
            .allowed_actions()
            .into_iter()
            .map(|a| a.as_str().to_string())
            .collect(),
        create_time: Some(g::timestamp(inv.create_time)),
        update_time: Some(g::timestamp(inv.update_time)),
        finalize_time: inv.finalize_time.map(g::timestamp),
        paid_time: inv.paid_time.map(g::timestamp),
        void_time: inv.void_time.map(g::timestamp),
        uncollectible_time: inv.uncollectible_time.map(g::timestamp),
    }
}

/// Parses a `YYYY-MM` period in `field`.
fn period(v: &mut FieldViolations, field: &str, value: &str) -> Option<String> {
    if valid_period(value) {
        Some(value.to_string())
    } else {
        v.add(
            field,
            "must be a billing period YYYY-MM (UTC calendar month), e.g. 2026-05",
        );
        None
    }
}

impl InvoiceGrpc {
    /// Parses `name`, then asks the authority.
    async fn authorize_name(
        &self,
        principal: &Principal,
        name: &str,
        permission: &str,
        class: ActionClass,
        rpc: &str,
    ) -> Result<(Uuid, Uuid), Status> {
        let mut v = FieldViolations::new();
        let ids = g::child_id(&mut v, "name", name, "invoices");
        g::done(v)?;
        let (org, id) = ids.ok_or_else(|| Status::internal("validated fields missing"))?;
        self.0
            .authority()
            .require(principal, &g::org_name(org), permission, class, rpc)
            .await?;
        Ok((org, id))
    }

    async fn transition(
        &self,
        principal: &Principal,
        name: &str,
        action: Action,
        rpc: &str,
    ) -> Result<pb::Invoice, Status> {
        let (org, id) = self
            .authorize_name(
                principal,
                name,
                PERMISSION_MANAGE,
                ActionClass::Operate,
                rpc,
            )
            .await?;
        Ok(to_pb(self.0.transition_invoice(org, id, action).await?))
    }
}

#[tonic::async_trait]
impl pb::invoice_service_server::InvoiceService for InvoiceGrpc {
    async fn generate_invoice(
        &self,
        request: Request<pb::GenerateInvoiceRequest>,
    ) -> Result<Response<pb::GenerateInvoiceResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "parent", &req.parent);
        let period = period(&mut v, "period", &req.period);
        if let Some(p) = &period
            && *p > period_of(chrono::Utc::now())
        {
            v.add(
                "period",
                "is in the future: invoices are generated for the current or past months",
            );
        }
        g::done(v)?;
        let (Some(org), Some(period)) = (org, period) else {
            return Err(Status::internal("validated fields missing"));
        };
        self.0
            .authority()
            .require(
                &principal,
                &g::org_name(org),
                PERMISSION_MANAGE,
                ActionClass::Operate,
                "GenerateInvoice",
            )
            .await?;
        let invoice = self.0.generate_invoice(org, &period).await?;
        Ok(Response::new(pb::GenerateInvoiceResponse {
            invoice: Some(to_pb(invoice)),
        }))
    }

    async fn get_invoice(
        &self,
        request: Request<pb::GetInvoiceRequest>,
    ) -> Result<Response<pb::GetInvoiceResponse>, Status> {
        let principal = auth::principal(&request)?;
        let (org, id) = self
            .authorize_name(
                &principal,
                &request.get_ref().name,
                PERMISSION_GET,
                ActionClass::Read,
                "GetInvoice",
            )
            .await?;
        let invoice = self.0.get_invoice(org, id).await?;
        Ok(Response::new(pb::GetInvoiceResponse {
            invoice: Some(to_pb(invoice)),
        }))
    }

    async fn list_invoices(
        &self,
        request: Request<pb::ListInvoicesRequest>,
    ) -> Result<Response<pb::ListInvoicesResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "parent", &req.parent);
        let status = match pb::InvoiceStatus::try_from(req.status) {
            Ok(pb::InvoiceStatus::Unspecified) => None,
            Ok(pb::InvoiceStatus::Draft) => Some(InvoiceStatus::Draft),
            Ok(pb::InvoiceStatus::Open) => Some(InvoiceStatus::Open),
            Ok(pb::InvoiceStatus::Paid) => Some(InvoiceStatus::Paid),
            Ok(pb::InvoiceStatus::Void) => Some(InvoiceStatus::Void),
            Ok(pb::InvoiceStatus::Uncollectible) => Some(InvoiceStatus::Uncollectible),
            Err(_) => {
                v.add("status", "is not an InvoiceStatus");
                None
            }
        };
        let period = if req.period.is_empty() {
            None
        } else {
            period(&mut v, "period", &req.period)
        };
        let query = format!("invoices|{}|{}|{}", req.parent, req.status, req.period);
        let page = g::page(&mut v, req.page_size, &req.page_token, &query);
        g::done(v)?;
        let (Some(org), Some(page)) = (org, page) else {
            return Err(Status::internal("validated fields missing"));
        };
        self.0
            .authority()
            .require(
                &principal,
                &g::org_name(org),
                PERMISSION_LIST,
                ActionClass::Read,
                "ListInvoices",
            )
            .await?;
        let (rows, next_page_token) = self
            .0
            .list_invoices(org, &ListFilter { status, period }, page)
            .await?;
        Ok(Response::new(pb::ListInvoicesResponse {
            invoices: rows.into_iter().map(to_pb).collect(),
            next_page_token,
        }))
    }

    async fn finalize_invoice(
        &self,
        request: Request<pb::FinalizeInvoiceRequest>,
    ) -> Result<Response<pb::FinalizeInvoiceResponse>, Status> {
        let principal = auth::principal(&request)?;
        let invoice = self
            .transition(
                &principal,
                &request.get_ref().name,
                Action::Finalize,
                "FinalizeInvoice",
            )
            .await?;
        Ok(Response::new(pb::FinalizeInvoiceResponse {
            invoice: Some(invoice),
        }))
    }

    async fn mark_invoice_paid(
        &self,
        request: Request<pb::MarkInvoicePaidRequest>,
    ) -> Result<Response<pb::MarkInvoicePaidResponse>, Status> {
        let principal = auth::principal(&request)?;
        let invoice = self
            .transition(
                &principal,
                &request.get_ref().name,
                Action::MarkPaid,
                "MarkInvoicePaid",
            )
            .await?;
        Ok(Response::new(pb::MarkInvoicePaidResponse {
            invoice: Some(invoice),
        }))
    }

    async fn void_invoice(
        &self,
        request: Request<pb::VoidInvoiceRequest>,
    ) -> Result<Response<pb::VoidInvoiceResponse>, Status> {
        let principal = auth::principal(&request)?;
        let invoice = self
            .transition(
                &principal,
                &request.get_ref().name,
                Action::Void,
                "VoidInvoice",
            )
            .await?;
        Ok(Response::new(pb::VoidInvoiceResponse {
            invoice: Some(invoice),
        }))
    }

    async fn mark_invoice_uncollectible(
        &self,
        request: Request<pb::MarkInvoiceUncollectibleRequest>,
    ) -> Result<Response<pb::MarkInvoiceUncollectibleResponse>, Status> {
        let principal = auth::principal(&request)?;
        let invoice = self
            .transition(
                &principal,
                &request.get_ref().name,
                Action::MarkUncollectible,
                "MarkInvoiceUncollectible",
            )
            .await?;
        Ok(Response::new(pb::MarkInvoiceUncollectibleResponse {
            invoice: Some(invoice),
        }))
    }

    async fn export_invoice(
        &self,
        request: Request<pb::ExportInvoiceRequest>,
    ) -> Result<Response<pb::ExportInvoiceResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let ids = g::child_id(&mut v, "name", &req.name, "invoices");
        let format = match pb::InvoiceExportFormat::try_from(req.format) {
            Ok(pb::InvoiceExportFormat::Json) => Some(Format::Json),
            Ok(pb::InvoiceExportFormat::Html) => Some(Format::Html),
            _ => {
                v.add(
                    "format",
                    "must be INVOICE_EXPORT_FORMAT_JSON or INVOICE_EXPORT_FORMAT_HTML",
                );
                None
            }
        };
        g::done(v)?;
        let (Some((org, id)), Some(format)) = (ids, format) else {
            return Err(Status::internal("validated fields missing"));
        };
        self.0
            .authority()
            .require(
                &principal,
                &g::org_name(org),
                PERMISSION_EXPORT,
                ActionClass::Read,
                "ExportInvoice",
            )
            .await?;
        let invoice = self.0.get_invoice(org, id).await?;
        let doc = export::render(&invoice, format);
        Ok(Response::new(pb::ExportInvoiceResponse {
            content_type: doc.content_type.to_string(),
            content: doc.content,
            filename: doc.filename,
        }))
    }
}
