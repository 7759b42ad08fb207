//! Invoices: one per organization and billing period, priced from usage ×
//! the price book by [`Billing::priced_usage_on`] (the very numbers a cost
//! summary shows), with a status machine and per-organization gap-free
//! numbers.
//!
//! Concurrency: every invoice write runs in the kit's write transaction,
//! whose organization lock makes invoice writes of one organization run one
//! at a time, so a number, once taken, is always committed with its
//! invoice. Usage for a period whose invoice is no longer a draft is billed
//! in the next period that still has a draft (see [`Billing::record_usage`]);
//! on PostgreSQL an advisory lock, taken shared by usage ingestion and
//! exclusive by invoice writes, keeps an event from slipping into a period
//! while its invoice is being finalized.

pub mod export;
pub mod grpc;
pub mod store;

use chrono::{DateTime, Utc};
use loopback_runtime::auth::Principal;
use loopback_runtime::authz::Rpc;
use loopback_runtime::db::Conn;
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::tx::WriteOptions;
use serde_json::json;
use uuid::Uuid;

use loopback_org_core_client::{AuthorityDenied, LegalProfile};

use crate::costs::CostLine;
use crate::error::{Error, Result};
use crate::{Billing, rpcs};

/// Where an invoice is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InvoiceStatus {
    /// Follows the usage until finalized.
    Draft,
    /// Finalized and numbered; immutable.
    Open,
    /// Paid.
    Paid,
    /// Cancelled.
    Void,
    /// Will not be paid.
    Uncollectible,
}

impl InvoiceStatus {
    /// Every status.
    pub const ALL: [InvoiceStatus; 5] = [
        Self::Draft,
        Self::Open,
        Self::Paid,
        Self::Void,
        Self::Uncollectible,
    ];

    /// The stored (and error metadata) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Open => "open",
            Self::Paid => "paid",
            Self::Void => "void",
            Self::Uncollectible => "uncollectible",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The status `action` leads to from this one, if it is allowed.
    pub fn after(self, action: Action) -> Option<InvoiceStatus> {
        match (self, action) {
            (Self::Draft, Action::Generate) => Some(Self::Draft),
            (Self::Draft, Action::Finalize) => Some(Self::Open),
            (Self::Draft | Self::Open, Action::Void) => Some(Self::Void),
            (Self::Open, Action::MarkPaid) => Some(Self::Paid),
            (Self::Open, Action::MarkUncollectible) => Some(Self::Uncollectible),
            _ => None,
        }
    }

    /// The verbs this status allows.
    pub fn allowed_actions(self) -> Vec<Action> {
        Action::ALL
            .into_iter()
            .filter(|a| self.after(*a).is_some())
            .collect()
    }
}

/// A verb on an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Refresh the draft from the usage.
    Generate,
    /// Draft → open, numbered.
    Finalize,
    /// Open → paid.
    MarkPaid,
    /// Draft or open → void.
    Void,
    /// Open → uncollectible.
    MarkUncollectible,
}

impl Action {
    /// Every verb.
    pub const ALL: [Action; 5] = [
        Self::Generate,
        Self::Finalize,
        Self::Void,
        Self::MarkPaid,
        Self::MarkUncollectible,
    ];

    /// The name in `allowed_actions` and error metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generate => "generate",
            Self::Finalize => "finalize",
            Self::MarkPaid => "mark_paid",
            Self::Void => "void",
            Self::MarkUncollectible => "mark_uncollectible",
        }
    }

    /// The status the verb leads to.
    pub fn target(self) -> InvoiceStatus {
        match self {
            Self::Generate => InvoiceStatus::Draft,
            Self::Finalize => InvoiceStatus::Open,
            Self::MarkPaid => InvoiceStatus::Paid,
            Self::Void => InvoiceStatus::Void,
            Self::MarkUncollectible => InvoiceStatus::Uncollectible,
        }
    }
}

/// What a line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// Usage of a meter by a project (or the organization).
    Usage,
    /// Tax on the subtotal.
    Tax,
}

impl LineKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Usage => "usage",
            Self::Tax => "tax",
        }
    }
}

/// One invoice line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLine {
    /// What it is for.
    pub kind: LineKind,
    /// Project id, empty for organization-level usage and tax.
    pub project: String,
    /// Meter, empty for tax.
    pub meter: String,
    /// For people.
    pub description: String,
    /// Quantity (0 for tax).
    pub quantity: i64,
    /// Unit price in minor units (0 for tax).
    pub unit_price: i64,
    /// Amount in minor units.
    pub amount: i64,
}

/// Who an invoice is addressed to: the organization's legal profile as it
/// was when the invoice was finalized.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BillTo {
    /// Registered legal name.
    pub legal_name: String,
    /// Street address lines.
    pub address_lines: Vec<String>,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_code: String,
    /// Region.
    pub region: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// Tax id (in the EU the VAT number); empty if none.
    pub tax_id: String,
    /// Where the invoice is sent.
    pub billing_email: String,
}

impl From<LegalProfile> for BillTo {
    fn from(p: LegalProfile) -> Self {
        Self {
            legal_name: p.legal_name,
            address_lines: p.address_lines,
            city: p.city,
            postal_code: p.postal_code,
            region: p.region,
            country: p.country,
            tax_id: p.tax_id,
            billing_email: p.billing_email,
        }
    }
}

/// An invoice with its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// `YYYY-MM`.
    pub period: String,
    /// InvoiceStatus.
    pub status: InvoiceStatus,
    /// Number, once finalized.
    pub number: Option<String>,
    /// ISO 4217 currency.
    pub currency: String,
    /// Usage lines (by project, then meter), then the tax line.
    pub lines: Vec<InvoiceLine>,
    /// Sum of the usage lines.
    pub subtotal: i64,
    /// Tax.
    pub tax: i64,
    /// Tax rate in basis points.
    pub tax_rate_bps: u32,
    /// Subtotal plus tax.
    pub total: i64,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
    /// Finalized.
    pub finalize_time: Option<DateTime<Utc>>,
    /// Marked paid.
    pub paid_time: Option<DateTime<Utc>>,
    /// Voided.
    pub void_time: Option<DateTime<Utc>>,
    /// Marked uncollectible.
    pub uncollectible_time: Option<DateTime<Utc>>,
    /// The legal profile copied on finalize; `None` on drafts and when the
    /// organization had none.
    pub bill_to: Option<BillTo>,
}

impl Invoice {
    /// `organizations/{org}/invoices/{id}`.
    pub fn name(&self) -> String {
        invoice_name(self.organization, self.id)
    }
}

/// `organizations/{org}/invoices/{id}`.
pub fn invoice_name(org: Uuid, id: Uuid) -> String {
    format!("organizations/{org}/invoices/{id}")
}

/// The number of the `n`th invoice of an organization.
pub fn invoice_number(n: i64) -> String {
    format!("INV-{n:06}")
}

/// List filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only this status.
    pub status: Option<InvoiceStatus>,
    /// Only this period.
    pub period: Option<String>,
}

loopback_runtime::resource_name! {
    /// `organizations/{org}/invoices/{id}`, parsed.
    pub struct InvoiceName = "invoices", id: Uuid;
}

/// GenerateInvoice, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateInvoice {
    /// The organization.
    pub organization: Uuid,
    /// `YYYY-MM`, not in the future.
    pub period: String,
}

/// ListInvoices, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListInvoices {
    /// The organization.
    pub organization: Uuid,
    /// Filters.
    pub filter: ListFilter,
    /// Size and position.
    pub page: PageRequest,
}

/// ExportInvoice, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportInvoice {
    /// The invoice.
    pub name: InvoiceName,
    /// JSON or HTML.
    pub format: export::Format,
}

/// Priced lines and totals, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    /// Usage lines then the tax line.
    pub lines: Vec<InvoiceLine>,
    /// Sum of the usage lines.
    pub subtotal: i64,
    /// Tax.
    pub tax: i64,
    /// Tax rate.
    pub tax_rate_bps: u32,
    /// Subtotal plus tax.
    pub total: i64,
    /// Currency.
    pub currency: String,
}

/// The period after `period` (`YYYY-MM`).
pub fn next_period(period: &str) -> Option<String> {
    let (y, m) = period.split_once('-')?;
    let (y, m): (u32, u32) = (y.parse().ok()?, m.parse().ok()?);
    Some(if m >= 12 {
        format!("{:04}-01", y + 1)
    } else {
        format!("{y:04}-{:02}", m + 1)
    })
}

/// `1900` → `19`, `1950` → `19.5`, `725` → `7.25`.
pub fn percent(bps: u32) -> String {
    let whole = bps / 100;
    match bps % 100 {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

fn transition_error(invoice: &Invoice, action: Action) -> Error {
    Error::InvalidInvoiceTransition {
        invoice: invoice.name(),
        from: invoice.status.as_str(),
        to: action.target().as_str(),
        action: action.as_str(),
    }
}

/// What a purge did to an organization's invoices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgedInvoices {
    /// Draft invoices deleted (with their lines).
    pub drafts: u64,
    /// Finalized invoices kept (open, paid, void, uncollectible, with
    /// their lines): the law requires them to be retained.
    pub finalized_kept: u64,
}

/// Deletes `org`'s draft invoices with their lines and its invoice counter
/// (no number will ever be issued to it again), keeping its finalized
/// invoices: the organization was purged. Call it first in billing's purge
/// transaction: it takes the usage lock, so no usage event is being
/// recorded for `org` meanwhile.
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<PurgedInvoices> {
    store::exclude_usage(conn, org).await?;
    let (drafts, finalized_kept) = store::purge_organization(conn, org).await?;
    Ok(PurgedInvoices {
        drafts,
        finalized_kept,
    })
}

/// Organizations with a draft invoice or an invoice counter, in id order
/// after `after`, at most `limit` (for the purge reconciliation).
pub async fn holders(conn: &impl Conn, after: Option<Uuid>, limit: u64) -> Result<Vec<Uuid>> {
    store::holders(conn, after, limit).await
}

impl Billing {
    /// Prices usage lines (as [`Billing::priced_usage_on`] returns them)
    /// into invoice lines plus the tax line.
    fn price(&self, usage: Vec<CostLine>) -> Result<Priced> {
        let book = &self.settings().price_book;
        let mut subtotal: i64 = 0;
        let mut lines = Vec::with_capacity(usage.len() + 1);
        for l in usage {
            subtotal = subtotal
                .checked_add(l.amount)
                .ok_or_else(|| Error::Corrupt("invoice subtotal overflows".into()))?;
            let description = if l.project.is_empty() {
                format!("{} (organization)", l.meter)
            } else {
                l.meter.clone()
            };
            lines.push(InvoiceLine {
                kind: LineKind::Usage,
                unit_price: book.unit_price(&l.meter),
                project: l.project,
                meter: l.meter,
                description,
                quantity: l.quantity,
                amount: l.amount,
            });
        }
        let tax = book.tax(subtotal);
        lines.push(InvoiceLine {
            kind: LineKind::Tax,
            project: String::new(),
            meter: String::new(),
            description: format!("Tax {} %", percent(book.tax_rate_bps)),
            quantity: 0,
            unit_price: 0,
            amount: tax,
        });
        Ok(Priced {
            lines,
            subtotal,
            tax,
            tax_rate_bps: book.tax_rate_bps,
            total: subtotal
                .checked_add(tax)
                .ok_or_else(|| Error::Corrupt("invoice total overflows".into()))?,
            currency: book.currency.clone(),
        })
    }

    async fn priced_on(&self, conn: &impl Conn, org: Uuid, period: &str) -> Result<Priced> {
        let usage = self.priced_usage_on(conn, org, period).await?;
        self.price(usage)
    }

    /// GenerateInvoice: creates the draft invoice of `period`, or refreshes
    /// the existing draft. Refused once the period's invoice is no longer a
    /// draft.
    pub async fn generate_invoice(
        &self,
        principal: &Principal,
        input: GenerateInvoice,
    ) -> Result<Invoice> {
        let rpc = &rpcs::GENERATE_INVOICE;
        let org = input.organization;
        self.authorize(principal, rpc, org).await?;
        let mut tx = self
            .begin_write(org, rpc, principal, WriteOptions::plain())
            .await?;
        store::exclude_usage(tx.conn(), org).await?;
        let existing = store::find_by_period(tx.conn(), org, &input.period).await?;
        if let Some(inv) = &existing
            && inv.status.after(Action::Generate).is_none()
        {
            return Err(transition_error(inv, Action::Generate));
        }
        let priced = self.priced_on(tx.conn(), org, &input.period).await?;
        let now = Utc::now();
        let id = match existing {
            Some(inv) => {
                store::reprice(tx.conn(), inv.id, &priced, now).await?;
                inv.id
            }
            None => {
                let id = Uuid::now_v7();
                store::insert_draft(tx.conn(), id, org, &input.period, &priced, now).await?;
                id
            }
        };
        let invoice = self
            .invoice_in(
                tx.conn(),
                InvoiceName {
                    organization: org,
                    id,
                },
            )
            .await?;
        tx.audit(
            invoice.name(),
            json!({ "period": invoice.period, "total": invoice.total, "currency": invoice.currency }),
        );
        tx.commit().await?;
        Ok(invoice)
    }

    /// One invoice.
    pub async fn get_invoice(&self, principal: &Principal, name: InvoiceName) -> Result<Invoice> {
        self.authorize(principal, &rpcs::GET_INVOICE, name.organization)
            .await?;
        self.invoice_in(self.db(), name).await
    }

    /// A page of invoices in creation order.
    pub async fn list_invoices(
        &self,
        principal: &Principal,
        input: ListInvoices,
    ) -> Result<Page<Invoice>> {
        self.authorize(principal, &rpcs::LIST_INVOICES, input.organization)
            .await?;
        let rows = store::list(self.db(), input.organization, &input.filter, &input.page).await?;
        Ok(input.page.page(rows, |i| i.id.to_string()))
    }

    /// An invoice rendered as a document.
    pub async fn export_invoice(
        &self,
        principal: &Principal,
        input: ExportInvoice,
    ) -> Result<export::Document> {
        self.authorize(principal, &rpcs::EXPORT_INVOICE, input.name.organization)
            .await?;
        let invoice = self.invoice_in(self.db(), input.name).await?;
        Ok(export::render(&invoice, input.format))
    }

    /// FinalizeInvoice: reprices the lines one last time, takes the
    /// organization's next invoice number and copies the organization's
    /// legal profile as the bill-to, in the same transaction. The profile
    /// is read from org-core first (outside the organization's lock); if
    /// org-core cannot be asked, the invoice stays a draft
    /// (AUTHORITY_UNAVAILABLE).
    pub async fn finalize_invoice(
        &self,
        principal: &Principal,
        name: InvoiceName,
    ) -> Result<Invoice> {
        self.transition(principal, &rpcs::FINALIZE_INVOICE, name, Action::Finalize)
            .await
    }

    /// MarkInvoicePaid.
    pub async fn mark_invoice_paid(
        &self,
        principal: &Principal,
        name: InvoiceName,
    ) -> Result<Invoice> {
        self.transition(principal, &rpcs::MARK_INVOICE_PAID, name, Action::MarkPaid)
            .await
    }

    /// VoidInvoice.
    pub async fn void_invoice(&self, principal: &Principal, name: InvoiceName) -> Result<Invoice> {
        self.transition(principal, &rpcs::VOID_INVOICE, name, Action::Void)
            .await
    }

    /// MarkInvoiceUncollectible.
    pub async fn mark_invoice_uncollectible(
        &self,
        principal: &Principal,
        name: InvoiceName,
    ) -> Result<Invoice> {
        self.transition(
            principal,
            &rpcs::MARK_INVOICE_UNCOLLECTIBLE,
            name,
            Action::MarkUncollectible,
        )
        .await
    }

    /// Applies a status verb, audited with the status it left and reached.
    async fn transition(
        &self,
        principal: &Principal,
        rpc: &Rpc,
        name: InvoiceName,
        action: Action,
    ) -> Result<Invoice> {
        let org = name.organization;
        self.authorize(principal, rpc, org).await?;
        let bill_to = if action == Action::Finalize {
            self.authority()
                .legal_profile(&format!("organizations/{org}"))
                .await
                .map_err(AuthorityDenied::from)?
                .map(BillTo::from)
        } else {
            None
        };
        let mut tx = self
            .begin_write(org, rpc, principal, WriteOptions::plain())
            .await?;
        store::exclude_usage(tx.conn(), org).await?;
        let invoice = self.invoice_in(tx.conn(), name).await?;
        let Some(to) = invoice
            .status
            .after(action)
            .filter(|_| action != Action::Generate)
        else {
            return Err(transition_error(&invoice, action));
        };
        let now = Utc::now();
        let number = if action == Action::Finalize {
            let priced = self.priced_on(tx.conn(), org, &invoice.period).await?;
            store::reprice(tx.conn(), name.id, &priced, now).await?;
            store::set_bill_to(tx.conn(), name.id, bill_to.as_ref()).await?;
            Some(invoice_number(store::take_number(tx.conn(), org).await?))
        } else {
            None
        };
        if !store::set_status(tx.conn(), name.id, invoice.status, to, number.clone(), now).await? {
            // Cannot happen under the lock; refuse rather than guess.
            return Err(transition_error(&invoice, action));
        }
        let updated = self.invoice_in(tx.conn(), name).await?;
        tx.audit(
            name.to_string(),
            json!({
                "from": invoice.status.as_str(),
                "to": to.as_str(),
                "number": number,
                "total": updated.total,
                "bill_to": bill_to.as_ref().map(|b| &b.legal_name),
            }),
        );
        tx.commit().await?;
        Ok(updated)
    }

    /// How many of `org`'s invoices are open (for the payment methods'
    /// default rule).
    pub async fn open_invoice_count(&self, conn: &impl Conn, org: Uuid) -> Result<u64> {
        store::count_open(conn, org).await
    }

    /// Held (shared) by a transaction recording usage for `org`, so an
    /// invoice cannot be finalized between the usage's check that its
    /// period is still open and its commit (PostgreSQL; SQLite has one
    /// writer).
    pub async fn hold_invoices_open(&self, conn: &impl Conn, org: Uuid) -> Result<()> {
        store::lock_shared(conn, org).await
    }

    /// An invoice; NOT_FOUND when missing or another organization's.
    async fn invoice_in(&self, conn: &impl Conn, name: InvoiceName) -> Result<Invoice> {
        store::find(conn, name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }

    /// The period usage of `period` is billed in: `period` itself, or the
    /// first later one whose invoice is still a draft (or not generated).
    pub async fn billing_period(
        &self,
        conn: &impl Conn,
        org: Uuid,
        period: &str,
    ) -> Result<String> {
        let closed = store::closed_periods_from(conn, org, period).await?;
        let mut p = period.to_string();
        while closed.contains(&p) {
            p = next_period(&p).ok_or_else(|| Error::Corrupt(format!("bad period {p:?}")))?;
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_machine() {
        use InvoiceStatus::{Draft, Open, Paid, Uncollectible};
        let legal: Vec<(InvoiceStatus, Action, InvoiceStatus)> = InvoiceStatus::ALL
            .into_iter()
            .flat_map(|s| {
                Action::ALL
                    .into_iter()
                    .filter_map(move |a| s.after(a).map(|t| (s, a, t)))
            })
            .collect();
        assert_eq!(
            legal,
            [
                (Draft, Action::Generate, Draft),
                (Draft, Action::Finalize, Open),
                (Draft, Action::Void, InvoiceStatus::Void),
                (Open, Action::Void, InvoiceStatus::Void),
                (Open, Action::MarkPaid, Paid),
                (Open, Action::MarkUncollectible, Uncollectible),
            ]
        );
        for s in InvoiceStatus::ALL {
            assert_eq!(InvoiceStatus::parse(s.as_str()), Some(s));
        }
        assert!(Paid.allowed_actions().is_empty());
    }

    #[test]
    fn periods_and_percentages() {
        assert_eq!(next_period("2026-12").as_deref(), Some("2027-01"));
        assert_eq!(next_period("2026-01").as_deref(), Some("2026-02"));
        assert_eq!(percent(1900), "19");
        assert_eq!(percent(1950), "19.5");
        assert_eq!(percent(725), "7.25");
        assert_eq!(percent(5), "0.05");
        assert_eq!(invoice_number(7), "INV-000007");
    }
}
