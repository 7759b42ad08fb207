//! Invoice documents: JSON for machines and a self-contained HTML page for
//! people. Every text that reaches the HTML is escaped.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{BillTo, Invoice, InvoiceStatus, LineKind};

/// A document format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `text/html`.
    Html,
}

/// A rendered document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Media type.
    pub content_type: &'static str,
    /// The bytes.
    pub content: Vec<u8>,
    /// Suggested file name.
    pub filename: String,
}

/// Renders `invoice` as `format`.
pub fn render(invoice: &Invoice, format: Format) -> Document {
    let stem = invoice
        .number
        .clone()
        .unwrap_or_else(|| format!("draft-{}-{}", invoice.period, invoice.id));
    match format {
        Format::Json => Document {
            content_type: "application/json",
            // Serialising a json! value cannot fail.
            content: serde_json::to_vec_pretty(&to_json(invoice)).unwrap_or_default(),
            filename: format!("{stem}.json"),
        },
        Format::Html => Document {
            content_type: "text/html; charset=utf-8",
            content: to_html(invoice).into_bytes(),
            filename: format!("{stem}.html"),
        },
    }
}

fn time(t: Option<DateTime<Utc>>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| {
        json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    })
}

fn project_name(invoice: &Invoice, project: &str) -> String {
    if project.is_empty() {
        String::new()
    } else {
        format!("organizations/{}/projects/{project}", invoice.organization)
    }
}

/// The JSON document: amounts in integer minor units with the currency.
pub fn to_json(invoice: &Invoice) -> serde_json::Value {
    json!({
        "name": invoice.name(),
        "organization": format!("organizations/{}", invoice.organization),
        "invoice_number": invoice.number,
        "period": invoice.period,
        "status": invoice.status.as_str(),
        "currency": invoice.currency,
        "lines": invoice.lines.iter().map(|l| json!({
            "kind": l.kind.as_str(),
            "project": project_name(invoice, &l.project),
            "meter": l.meter,
            "description": l.description,
            "quantity": l.quantity,
            "unit_price_minor": l.unit_price,
            "amount_minor": l.amount,
        })).collect::<Vec<_>>(),
        "subtotal_minor": invoice.subtotal,
        "tax_minor": invoice.tax,
        "tax_rate_bps": invoice.tax_rate_bps,
        "total_minor": invoice.total,
        "create_time": time(Some(invoice.create_time)),
        "finalize_time": time(invoice.finalize_time),
        "paid_time": time(invoice.paid_time),
        "void_time": time(invoice.void_time),
        "uncollectible_time": time(invoice.uncollectible_time),
        "bill_to": invoice.bill_to.as_ref().map(bill_to_json),
    })
}

fn bill_to_json(b: &BillTo) -> serde_json::Value {
    json!({
        "legal_name": b.legal_name,
        "address": {
            "address_lines": b.address_lines,
            "city": b.city,
            "postal_code": b.postal_code,
            "region": b.region,
            "country": b.country,
        },
        "tax_id": b.tax_id,
        "billing_email": b.billing_email,
    })
}

/// The bill-to block of the HTML page: every line escaped.
fn bill_to_html(b: &BillTo) -> String {
    let e = escape;
    let mut lines: Vec<String> = vec![format!("<strong>{}</strong>", e(&b.legal_name))];
    lines.extend(b.address_lines.iter().map(|l| e(l)));
    let place = [b.postal_code.as_str(), b.city.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    for line in [place.as_str(), b.region.as_str(), b.country.as_str()] {
        if !line.is_empty() {
            lines.push(e(line));
        }
    }
    if !b.tax_id.is_empty() {
        lines.push(format!("Tax id: {}", e(&b.tax_id)));
    }
    if !b.billing_email.is_empty() {
        lines.push(e(&b.billing_email));
    }
    format!(
        "<section class=\"bill-to\">\n<h2>Bill to</h2>\n<address>{}</address>\n</section>\n",
        lines.join("<br>\n")
    )
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Decimal places of a currency's minor unit (ISO 4217).
fn exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// `1234` EUR minor units → `12.34 EUR`.
pub fn money(minor: i64, currency: &str) -> String {
    let exp = exponent(currency);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if exp == 0 {
        return format!("{sign}{abs} {currency}");
    }
    let unit = 10u64.pow(exp);
    format!(
        "{sign}{}.{:0width$} {currency}",
        abs / unit,
        abs % unit,
        width = exp as usize
    )
}

fn status_label(status: InvoiceStatus) -> &'static str {
    match status {
        InvoiceStatus::Draft => "Draft — not a final invoice",
        InvoiceStatus::Open => "Open — payment due",
        InvoiceStatus::Paid => "Paid",
        InvoiceStatus::Void => "Void — nothing is owed",
        InvoiceStatus::Uncollectible => "Uncollectible",
    }
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1a1a1a;margin:0;background:#f5f5f5}\
main{max-width:860px;margin:2rem auto;background:#fff;padding:2.5rem;border:1px solid #ddd}\
h1{margin:0 0 .25rem;font-size:1.6rem}.status{display:inline-block;padding:.15rem .6rem;border-radius:1rem;background:#eee;font-size:.85rem}\
.status-draft,.status-void{background:#fff3cd}.status-paid{background:#d1f0d8}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1.5rem;margin:1.5rem 0}dt{color:#666}dd{margin:0;word-break:break-all}\
table{width:100%;border-collapse:collapse;margin-top:1rem}th,td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid #e5e5e5;vertical-align:top}\
thead th{border-bottom:2px solid #1a1a1a;font-size:.85rem;text-transform:uppercase;letter-spacing:.03em}\
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.project{font-family:ui-monospace,monospace;font-size:.8rem;word-break:break-all}\
tfoot th{text-align:right;font-weight:normal}tfoot tr.total th,tfoot tr.total td{font-weight:bold;font-size:1.1rem;border-top:2px solid #1a1a1a}\
.bill-to{margin-top:1.5rem}.bill-to h2{font-size:.85rem;text-transform:uppercase;letter-spacing:.03em;color:#666;margin:0 0 .3rem}\
address{font-style:normal;line-height:1.4}footer{margin-top:2rem;color:#666;font-size:.8rem}@media print{body{background:#fff}main{border:0;margin:0}}";

fn date(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "—".to_string(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// The HTML page.
pub fn to_html(invoice: &Invoice) -> String {
    let e = escape;
    let cur = invoice.currency.as_str();
    let title = match &invoice.number {
        Some(n) => format!("Invoice {n}"),
        None => format!("Draft invoice {}", invoice.period),
    };
    let mut h = String::new();
    // Writing into a String cannot fail.
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<header>\n<h1>{title}</h1>\n\
         <span class=\"status status-{status}\">{label}</span>\n</header>\n",
        title = e(&title),
        status = invoice.status.as_str(),
        label = e(status_label(invoice.status)),
    );
    if let Some(bill_to) = &invoice.bill_to {
        h.push_str(&bill_to_html(bill_to));
    }
    let _ = write!(
        h,
        "<dl>\n<dt>Invoice number</dt><dd>{number}</dd>\n<dt>Organization</dt><dd>{org}</dd>\n\
         <dt>Billing period</dt><dd>{period} (UTC calendar month)</dd>\n<dt>Issued</dt><dd>{issued}</dd>\n\
         <dt>Currency</dt><dd>{cur}</dd>\n</dl>\n",
        number = e(invoice
            .number
            .as_deref()
            .unwrap_or("— (assigned when finalized)")),
        org = e(&format!("organizations/{}", invoice.organization)),
        period = e(&invoice.period),
        issued = e(&date(invoice.finalize_time)),
        cur = e(cur),
    );
    h.push_str(
        "<table>\n<thead><tr><th>Description</th><th>Project</th><th class=\"num\">Quantity</th>\
         <th class=\"num\">Unit price</th><th class=\"num\">Amount</th></tr></thead>\n<tbody>\n",
    );
    let usage: Vec<_> = invoice
        .lines
        .iter()
        .filter(|l| l.kind == LineKind::Usage)
        .collect();
    if usage.is_empty() {
        h.push_str("<tr><td colspan=\"5\">No usage in this period.</td></tr>\n");
    }
    for l in usage {
        let project = if l.project.is_empty() {
            "(organization)".to_string()
        } else {
            l.project.clone()
        };
        let _ = writeln!(
            h,
            "<tr><td>{desc}</td><td class=\"project\">{project}</td><td class=\"num\">{qty}</td>\
             <td class=\"num\">{unit}</td><td class=\"num\">{amount}</td></tr>",
            desc = e(&l.description),
            project = e(&project),
            qty = l.quantity,
            unit = e(&money(l.unit_price, cur)),
            amount = e(&money(l.amount, cur)),
        );
    }
    h.push_str("</tbody>\n<tfoot>\n");
    let _ = writeln!(
        h,
        "<tr><th colspan=\"4\">Subtotal</th><td class=\"num\">{}</td></tr>",
        e(&money(invoice.subtotal, cur))
    );
    for l in invoice.lines.iter().filter(|l| l.kind == LineKind::Tax) {
        let _ = writeln!(
            h,
            "<tr><th colspan=\"4\">{}</th><td class=\"num\">{}</td></tr>",
            e(&l.description),
            e(&money(l.amount, cur))
        );
    }
    let _ = writeln!(
        h,
        "<tr class=\"total\"><th colspan=\"4\">Total</th><td class=\"num\">{}</td></tr>",
        e(&money(invoice.total, cur))
    );
    let _ = write!(
        h,
        "</tfoot>\n</table>\n<footer>\n<p>{name}</p>\n<p>Usage is priced per project and meter from the price book; \
         amounts are rounded to the minor unit, tax half up.</p>\n</footer>\n</main>\n</body>\n</html>\n",
        name = e(&invoice.name()),
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoices::InvoiceLine;

    fn invoice() -> Invoice {
        let now = Utc::now();
        Invoice {
            id: uuid::Uuid::now_v7(),
            organization: uuid::Uuid::now_v7(),
            period: "2026-05".into(),
            status: InvoiceStatus::Open,
            number: Some("INV-000042".into()),
            currency: "EUR".into(),
            lines: vec![
                InvoiceLine {
                    kind: LineKind::Usage,
                    project: "<b>\"p\"&'q'</b>".into(),
                    meter: "<script>alert(1)</script>".into(),
                    description: "<script>alert(1)</script>".into(),
                    quantity: 3,
                    unit_price: 4,
                    amount: 12,
                },
                InvoiceLine {
                    kind: LineKind::Tax,
                    project: String::new(),
                    meter: String::new(),
                    description: "Tax 19 %".into(),
                    quantity: 0,
                    unit_price: 0,
                    amount: 2,
                },
            ],
            subtotal: 12,
            tax: 2,
            tax_rate_bps: 1900,
            total: 14,
            create_time: now,
            update_time: now,
            finalize_time: Some(now),
            paid_time: None,
            void_time: None,
            uncollectible_time: None,
            bill_to: Some(BillTo {
                legal_name: "<img src=x onerror=alert(1)> & Co".into(),
                address_lines: vec!["1 \"Main\" St".into()],
                city: "Berlin".into(),
                postal_code: "10115".into(),
                region: String::new(),
                country: "DE".into(),
                tax_id: "DE123456789".into(),
                billing_email: "billing@acme.example".into(),
            }),
        }
    }

    #[test]
    fn html_escapes_everything_it_shows() {
        let html = to_html(&invoice());
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;b&gt;&quot;p&quot;&amp;&#39;q&#39;&lt;/b&gt;"));
        assert!(html.contains("INV-000042"));
        assert!(html.contains("0.14 EUR"));
        assert!(!html.contains("<img"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt; &amp; Co"));
        assert!(html.contains("1 &quot;Main&quot; St"));
        assert!(html.contains("Tax id: DE123456789"));
    }

    #[test]
    fn money_uses_the_currency_exponent() {
        assert_eq!(money(1234, "EUR"), "12.34 EUR");
        assert_eq!(money(5, "EUR"), "0.05 EUR");
        assert_eq!(money(-5, "EUR"), "-0.05 EUR");
        assert_eq!(money(1234, "JPY"), "1234 JPY");
        assert_eq!(money(1234, "KWD"), "1.234 KWD");
    }

    #[test]
    fn json_carries_minor_units() {
        let v = to_json(&invoice());
        assert_eq!(v["invoice_number"], "INV-000042");
        assert_eq!(v["total_minor"], 14);
        assert_eq!(v["lines"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["bill_to"]["tax_id"], "DE123456789");
        assert_eq!(v["bill_to"]["address"]["country"], "DE");
    }
}
