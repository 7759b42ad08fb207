//! gRPC adapter of `loopback.billing.v1.InvoiceService`.

use loopback_proto::billing::v1 as pb;
use loopback_proto::r#type::v1::Money;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, timestamp};
use loopback_runtime::rpc::unary;
use tonic::{Request, Response, Status};

use super::export::{Document, Format};
use super::{
    BillTo, ExportInvoice, GenerateInvoice, Invoice, InvoiceName, InvoiceStatus, LineKind,
    ListFilter, ListInvoices,
};
use crate::Billing;
use crate::costs::grpc::valid_period;
use crate::usage::period_of;

/// Serves InvoiceService.
#[derive(Debug, Clone)]
pub struct InvoiceGrpc(pub Billing);

fn status_to_pb(s: InvoiceStatus) -> pb::InvoiceStatus {
    match s {
        InvoiceStatus::Draft => pb::InvoiceStatus::Draft,
        InvoiceStatus::Open => pb::InvoiceStatus::Open,
        InvoiceStatus::Paid => pb::InvoiceStatus::Paid,
        InvoiceStatus::Void => pb::InvoiceStatus::Void,
        InvoiceStatus::Uncollectible => pb::InvoiceStatus::Uncollectible,
    }
}

/// The API view of a bill-to.
fn bill_to_pb(b: BillTo) -> pb::BillTo {
    pb::BillTo {
        legal_name: b.legal_name,
        address: Some(loopback_proto::r#type::v1::PostalAddress {
            address_lines: b.address_lines,
            city: b.city,
            postal_code: b.postal_code,
            region: b.region,
            country: b.country,
        }),
        tax_id: b.tax_id,
        billing_email: b.billing_email,
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
        create_time: Some(timestamp(inv.create_time)),
        update_time: Some(timestamp(inv.update_time)),
        finalize_time: inv.finalize_time.map(timestamp),
        paid_time: inv.paid_time.map(timestamp),
        void_time: inv.void_time.map(timestamp),
        uncollectible_time: inv.uncollectible_time.map(timestamp),
        bill_to: inv.bill_to.clone().map(bill_to_pb),
    }
}

/// A `YYYY-MM` period in `field`.
fn period(f: &mut Fields, field: &str, value: &str) -> Option<String> {
    let valid = valid_period(value).then(|| value.to_string());
    f.take(
        field,
        valid.ok_or("must be a billing period YYYY-MM (UTC calendar month), e.g. 2026-05"),
    )
}

/// `organizations/{org}/invoices/{id}` in `name`.
fn invoice_name(name: &str) -> Result<InvoiceName, FieldViolations> {
    let mut f = Fields::new();
    let name = f.name("name", name);
    f.finish(name)
}

/// Requests that name one invoice and nothing else.
macro_rules! names_an_invoice {
    ($($request:ident),+) => {$(
        impl TryFrom<pb::$request> for InvoiceName {
            type Error = FieldViolations;
            fn try_from(req: pb::$request) -> Result<Self, FieldViolations> {
                invoice_name(&req.name)
            }
        }
    )+};
}

names_an_invoice!(
    GetInvoiceRequest,
    FinalizeInvoiceRequest,
    MarkInvoicePaidRequest,
    VoidInvoiceRequest,
    MarkInvoiceUncollectibleRequest
);

impl TryFrom<pb::GenerateInvoiceRequest> for GenerateInvoice {
    type Error = FieldViolations;
    fn try_from(req: pb::GenerateInvoiceRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let period = match period(&mut f, "period", &req.period) {
            Some(p) if p > period_of(chrono::Utc::now()) => f.take(
                "period",
                Err("is in the future: invoices are generated for the current or past months"),
            ),
            p => p,
        };
        let (organization, period) = f.finish((organization, period))?;
        Ok(Self {
            organization,
            period,
        })
    }
}

impl TryFrom<pb::ListInvoicesRequest> for ListInvoices {
    type Error = FieldViolations;
    fn try_from(req: pb::ListInvoicesRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let status = match pb::InvoiceStatus::try_from(req.status) {
            Ok(pb::InvoiceStatus::Unspecified) => Some(None),
            Ok(pb::InvoiceStatus::Draft) => Some(Some(InvoiceStatus::Draft)),
            Ok(pb::InvoiceStatus::Open) => Some(Some(InvoiceStatus::Open)),
            Ok(pb::InvoiceStatus::Paid) => Some(Some(InvoiceStatus::Paid)),
            Ok(pb::InvoiceStatus::Void) => Some(Some(InvoiceStatus::Void)),
            Ok(pb::InvoiceStatus::Uncollectible) => Some(Some(InvoiceStatus::Uncollectible)),
            Err(_) => f.take("status", Err("is not an InvoiceStatus")),
        };
        let period = match req.period.as_str() {
            "" => Some(None),
            p => period(&mut f, "period", p).map(Some),
        };
        let query = format!("invoices|{}|{}|{}", req.parent, req.status, req.period);
        let page = f.page(req.page_size, &req.page_token, &query);
        let (organization, status, period, page) =
            f.finish((organization, status, period, page))?;
        Ok(Self {
            organization,
            filter: ListFilter { status, period },
            page,
        })
    }
}

impl TryFrom<pb::ExportInvoiceRequest> for ExportInvoice {
    type Error = FieldViolations;
    fn try_from(req: pb::ExportInvoiceRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        let format = match pb::InvoiceExportFormat::try_from(req.format) {
            Ok(pb::InvoiceExportFormat::Json) => Some(Format::Json),
            Ok(pb::InvoiceExportFormat::Html) => Some(Format::Html),
            _ => f.take(
                "format",
                Err("must be INVOICE_EXPORT_FORMAT_JSON or INVOICE_EXPORT_FORMAT_HTML"),
            ),
        };
        let (name, format) = f.finish((name, format))?;
        Ok(Self { name, format })
    }
}

fn document_to_pb(doc: Document) -> pb::ExportInvoiceResponse {
    pb::ExportInvoiceResponse {
        content_type: doc.content_type.to_string(),
        content: doc.content,
        filename: doc.filename,
    }
}

#[tonic::async_trait]
impl pb::invoice_service_server::InvoiceService for InvoiceGrpc {
    async fn generate_invoice(
        &self,
        request: Request<pb::GenerateInvoiceRequest>,
    ) -> Result<Response<pb::GenerateInvoiceResponse>, Status> {
        unary(&self.0, request, Billing::generate_invoice, |i| {
            pb::GenerateInvoiceResponse {
                invoice: Some(to_pb(i)),
            }
        })
        .await
    }

    async fn get_invoice(
        &self,
        request: Request<pb::GetInvoiceRequest>,
    ) -> Result<Response<pb::GetInvoiceResponse>, Status> {
        unary(&self.0, request, Billing::get_invoice, |i| {
            pb::GetInvoiceResponse {
                invoice: Some(to_pb(i)),
            }
        })
        .await
    }

    async fn list_invoices(
        &self,
        request: Request<pb::ListInvoicesRequest>,
    ) -> Result<Response<pb::ListInvoicesResponse>, Status> {
        unary(&self.0, request, Billing::list_invoices, |page| {
            let page = page.map(to_pb);
            pb::ListInvoicesResponse {
                invoices: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn finalize_invoice(
        &self,
        request: Request<pb::FinalizeInvoiceRequest>,
    ) -> Result<Response<pb::FinalizeInvoiceResponse>, Status> {
        unary(&self.0, request, Billing::finalize_invoice, |i| {
            pb::FinalizeInvoiceResponse {
                invoice: Some(to_pb(i)),
            }
        })
        .await
    }

    async fn mark_invoice_paid(
        &self,
        request: Request<pb::MarkInvoicePaidRequest>,
    ) -> Result<Response<pb::MarkInvoicePaidResponse>, Status> {
        unary(&self.0, request, Billing::mark_invoice_paid, |i| {
            pb::MarkInvoicePaidResponse {
                invoice: Some(to_pb(i)),
            }
        })
        .await
    }

    async fn void_invoice(
        &self,
        request: Request<pb::VoidInvoiceRequest>,
    ) -> Result<Response<pb::VoidInvoiceResponse>, Status> {
        unary(&self.0, request, Billing::void_invoice, |i| {
            pb::VoidInvoiceResponse {
                invoice: Some(to_pb(i)),
            }
        })
        .await
    }

    async fn mark_invoice_uncollectible(
        &self,
        request: Request<pb::MarkInvoiceUncollectibleRequest>,
    ) -> Result<Response<pb::MarkInvoiceUncollectibleResponse>, Status> {
        unary(&self.0, request, Billing::mark_invoice_uncollectible, |i| {
            pb::MarkInvoiceUncollectibleResponse {
                invoice: Some(to_pb(i)),
            }
        })
        .await
    }

    async fn export_invoice(
        &self,
        request: Request<pb::ExportInvoiceRequest>,
    ) -> Result<Response<pb::ExportInvoiceResponse>, Status> {
        unary(&self.0, request, Billing::export_invoice, document_to_pb).await
    }
}
