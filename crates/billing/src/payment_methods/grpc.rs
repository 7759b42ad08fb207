//! gRPC adapter of `loopback.billing.v1.PaymentMethodService`: each RPC
//! parses its request into the domain's input, makes one domain call and
//! maps the result. Card numbers are refused here, before anything else
//! sees them.

use chrono::{Datelike as _, Utc};
use iban::IbanLike as _;
use loopback_proto::billing::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::tx::WriteOptions;
use loopback_runtime::validation;
use tonic::{Request, Response, Status};

use super::card_numbers::contains_card_number;
use super::{
    CreatePaymentMethod, DeletePaymentMethod, Details, ListPaymentMethods, NewPaymentMethod,
    PaymentMethod, PaymentMethodName, mask_iban,
};
use crate::Billing;

/// Serves PaymentMethodService.
#[derive(Debug, Clone)]
pub struct PaymentMethodGrpc(pub Billing);

const BRANDS: &[&str] = &[
    "visa",
    "mastercard",
    "amex",
    "discover",
    "diners",
    "jcb",
    "unionpay",
    "maestro",
];

fn to_pb(p: PaymentMethod) -> pb::PaymentMethod {
    let name = p.name();
    let details = match p.details {
        Details::Card {
            brand,
            last4,
            exp_month,
            exp_year,
        } => pb::payment_method::Details::Card(pb::Card {
            processor_token: String::new(),
            brand,
            last4,
            exp_month,
            exp_year,
        }),
        Details::Sepa {
            iban_masked,
            account_holder,
            mandate_reference,
            mandate_signature_time,
        } => pb::payment_method::Details::SepaDebit(pb::SepaDebit {
            iban: String::new(),
            iban_masked,
            account_holder,
            mandate_reference,
            mandate_signature_time: Some(timestamp(mandate_signature_time)),
        }),
    };
    pb::PaymentMethod {
        name,
        details: Some(details),
        is_default: p.is_default,
        create_time: Some(timestamp(p.create_time)),
    }
}

/// Refuses any field that carries something like a raw card number. The
/// message never repeats the value.
fn refuse_card_numbers(f: &mut Fields, fields: &[(&str, &str)]) {
    for (field, value) in fields {
        if contains_card_number(value) {
            f.add(
                *field,
                "looks like a raw card number: card numbers are never accepted; send the payment processor's token",
            );
        }
    }
}

/// Every free-text field of a create request, where a card number might hide.
fn text_fields(req: &pb::CreatePaymentMethodRequest) -> Vec<(&'static str, &str)> {
    // A well-formed organization name or request id is a UUID, whose
    // all-digit groups can happen to pass Luhn: only scan them when they are
    // not the UUIDs they should be.
    let mut all = Vec::new();
    let org_id = req.parent.strip_prefix("organizations/").unwrap_or("");
    if uuid::Uuid::parse_str(org_id).is_err() {
        all.push(("parent", req.parent.as_str()));
    }
    if uuid::Uuid::parse_str(&req.request_id).is_err() {
        all.push(("request_id", req.request_id.as_str()));
    }
    match req.payment_method.as_ref().and_then(|p| p.details.as_ref()) {
        Some(pb::payment_method::Details::Card(c)) => all.extend([
            (
                "payment_method.card.processor_token",
                c.processor_token.as_str(),
            ),
            ("payment_method.card.brand", c.brand.as_str()),
            ("payment_method.card.last4", c.last4.as_str()),
        ]),
        Some(pb::payment_method::Details::SepaDebit(s)) => all.extend([
            (
                "payment_method.sepa_debit.account_holder",
                s.account_holder.as_str(),
            ),
            (
                "payment_method.sepa_debit.mandate_reference",
                s.mandate_reference.as_str(),
            ),
        ]),
        None => {}
    }
    all
}

fn card(v: &mut Fields, c: &pb::Card) -> Option<NewPaymentMethod> {
    let token_ok = (4..=255).contains(&c.processor_token.len())
        && c.processor_token
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
        && c.processor_token.chars().any(|ch| ch.is_ascii_alphabetic());
    if !token_ok && !contains_card_number(&c.processor_token) {
        v.add(
            "payment_method.card.processor_token",
            "must be the payment processor's token: 4 to 255 letters, digits, '_' or '-'",
        );
    }
    let brand = c.brand.trim().to_lowercase();
    if !BRANDS.contains(&brand.as_str()) {
        v.add(
            "payment_method.card.brand",
            format!("must be one of {}", BRANDS.join(", ")),
        );
    }
    if c.last4.len() != 4 || !c.last4.chars().all(|ch| ch.is_ascii_digit()) {
        v.add("payment_method.card.last4", "must be the last four digits");
    }
    if !(1..=12).contains(&c.exp_month) {
        v.add("payment_method.card.exp_month", "must be 1 to 12");
    }
    let now = Utc::now();
    let (year, month) = (now.year(), i32::try_from(now.month()).unwrap_or(12));
    if c.exp_year < year || c.exp_year > year + 30 || (c.exp_year == year && c.exp_month < month) {
        v.add(
            "payment_method.card.exp_year",
            "the card has expired or the year is not plausible",
        );
    }
    Some(NewPaymentMethod {
        details: Details::Card {
            brand,
            last4: c.last4.clone(),
            exp_month: c.exp_month,
            exp_year: c.exp_year,
        },
        secret: c.processor_token.clone(),
    })
}

fn sepa(v: &mut Fields, s: &pb::SepaDebit) -> Option<NewPaymentMethod> {
    let compact: String = s
        .iban
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    let iban = match compact.parse::<iban::Iban>() {
        Ok(iban) => Some(iban.electronic_str().to_string()),
        Err(_) => {
            v.add(
                "payment_method.sepa_debit.iban",
                "is not a valid IBAN (wrong length for its country or failed checksum)",
            );
            None
        }
    };
    v.check(
        "payment_method.sepa_debit.account_holder",
        validation::display_name(&s.account_holder),
    );
    let reference_ok = (1..=35).contains(&s.mandate_reference.len())
        && s.mandate_reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+?/-:().,' ".contains(c));
    if !reference_ok {
        v.add(
            "payment_method.sepa_debit.mandate_reference",
            "must be 1 to 35 characters of letters, digits and +?/-:().,' or space",
        );
    }
    let signed = match &s.mandate_signature_time {
        Some(t) => chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
            .filter(|t| *t <= Utc::now()),
        None => None,
    };
    if signed.is_none() {
        v.add(
            "payment_method.sepa_debit.mandate_signature_time",
            "is required and must not be in the future",
        );
    }
    let iban = iban?;
    Some(NewPaymentMethod {
        details: Details::Sepa {
            iban_masked: mask_iban(&iban),
            account_holder: s.account_holder.trim().to_string(),
            mandate_reference: s.mandate_reference.clone(),
            mandate_signature_time: signed?,
        },
        secret: iban,
    })
}

impl TryFrom<pb::CreatePaymentMethodRequest> for CreatePaymentMethod {
    type Error = FieldViolations;
    fn try_from(req: pb::CreatePaymentMethodRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        // Before anything else: no raw card number, in any field.
        refuse_card_numbers(&mut f, &text_fields(&req));
        let organization = f.organization("parent", &req.parent);
        let request_id = f.request_id("request_id", &req.request_id);
        let method = match req.payment_method.and_then(|p| p.details) {
            Some(pb::payment_method::Details::Card(c)) => card(&mut f, &c),
            Some(pb::payment_method::Details::SepaDebit(s)) => sepa(&mut f, &s),
            None => f.take("payment_method.details", Err("set card or sepa_debit")),
        };
        let (organization, request_id, method) = f.finish((organization, request_id, method))?;
        Ok(Self {
            organization,
            method,
            write: WriteOptions {
                request_id,
                validate_only: req.validate_only,
            },
        })
    }
}

impl TryFrom<pb::GetPaymentMethodRequest> for PaymentMethodName {
    type Error = FieldViolations;
    fn try_from(req: pb::GetPaymentMethodRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        f.finish(name)
    }
}

impl TryFrom<pb::SetDefaultPaymentMethodRequest> for PaymentMethodName {
    type Error = FieldViolations;
    fn try_from(req: pb::SetDefaultPaymentMethodRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        f.finish(name)
    }
}

impl TryFrom<pb::ListPaymentMethodsRequest> for ListPaymentMethods {
    type Error = FieldViolations;
    fn try_from(req: pb::ListPaymentMethodsRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let query = format!("paymentMethods|{}", req.parent);
        let page = f.page(req.page_size, &req.page_token, &query);
        let (organization, page) = f.finish((organization, page))?;
        Ok(Self { organization, page })
    }
}

impl TryFrom<pb::DeletePaymentMethodRequest> for DeletePaymentMethod {
    type Error = FieldViolations;
    fn try_from(req: pb::DeletePaymentMethodRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        Ok(Self {
            name: f.finish(name)?,
            validate_only: req.validate_only,
        })
    }
}

#[tonic::async_trait]
impl pb::payment_method_service_server::PaymentMethodService for PaymentMethodGrpc {
    async fn create_payment_method(
        &self,
        request: Request<pb::CreatePaymentMethodRequest>,
    ) -> Result<Response<pb::CreatePaymentMethodResponse>, Status> {
        unary(&self.0, request, Billing::create_payment_method, |p| {
            pb::CreatePaymentMethodResponse {
                payment_method: Some(to_pb(p)),
            }
        })
        .await
    }

    async fn get_payment_method(
        &self,
        request: Request<pb::GetPaymentMethodRequest>,
    ) -> Result<Response<pb::GetPaymentMethodResponse>, Status> {
        unary(&self.0, request, Billing::get_payment_method, |p| {
            pb::GetPaymentMethodResponse {
                payment_method: Some(to_pb(p)),
            }
        })
        .await
    }

    async fn list_payment_methods(
        &self,
        request: Request<pb::ListPaymentMethodsRequest>,
    ) -> Result<Response<pb::ListPaymentMethodsResponse>, Status> {
        unary(&self.0, request, Billing::list_payment_methods, |page| {
            let page = page.map(to_pb);
            pb::ListPaymentMethodsResponse {
                payment_methods: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn set_default_payment_method(
        &self,
        request: Request<pb::SetDefaultPaymentMethodRequest>,
    ) -> Result<Response<pb::SetDefaultPaymentMethodResponse>, Status> {
        unary(&self.0, request, Billing::set_default_payment_method, |p| {
            pb::SetDefaultPaymentMethodResponse {
                payment_method: Some(to_pb(p)),
            }
        })
        .await
    }

    async fn delete_payment_method(
        &self,
        request: Request<pb::DeletePaymentMethodRequest>,
    ) -> Result<Response<pb::DeletePaymentMethodResponse>, Status> {
        unary(&self.0, request, Billing::delete_payment_method, |p| {
            pb::DeletePaymentMethodResponse {
                payment_method: Some(to_pb(p)),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_whose_digit_groups_pass_luhn_are_not_card_numbers() {
        // 41111111-1111-1111 reads as the Visa test number 4111 1111 1111 1111.
        let id = "41111111-1111-1111-a111-111111111111";
        let req = pb::CreatePaymentMethodRequest {
            parent: format!("organizations/{id}"),
            request_id: id.into(),
            ..Default::default()
        };
        assert!(text_fields(&req).is_empty());
        let not_a_name = pb::CreatePaymentMethodRequest {
            parent: "organizations/4111-1111-1111-1111".into(),
            ..Default::default()
        };
        let scanned = text_fields(&not_a_name);
        assert!(
            scanned
                .iter()
                .any(|(field, value)| *field == "parent" && contains_card_number(value))
        );
    }
}
