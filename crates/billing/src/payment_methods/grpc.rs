//! gRPC adapter of `loopback.billing.v1.PaymentMethodService`.

use chrono::{Datelike as _, Utc};
use iban::IbanLike as _;
use loopback_org_core_client::ActionClass;
use loopback_proto::billing::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::{auth, validation};
use tonic::{Request, Response, Status};

use super::card_numbers::contains_card_number;
use super::{Details, NewPaymentMethod, PaymentMethod, mask_iban};
use crate::Billing;
use crate::error::Error;
use crate::grpc as g;

/// Serves PaymentMethodService.
#[derive(Debug, Clone)]
pub struct PaymentMethodGrpc(pub Billing);

/// The flag that allows SEPA direct debit.
pub const SEPA_FLAG: &str = "sepa_payment_allowed";

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
            mandate_signature_time: Some(g::timestamp(mandate_signature_time)),
        }),
    };
    pb::PaymentMethod {
        name,
        details: Some(details),
        is_default: p.is_default,
        create_time: Some(g::timestamp(p.create_time)),
    }
}

/// Refuses any field that carries something like a raw card number. The
/// message never repeats the value.
fn refuse_card_numbers(v: &mut FieldViolations, fields: &[(&str, &str)]) {
    for (field, value) in fields {
        if contains_card_number(value) {
            v.add(
                *field,
                "looks like a raw card number: card numbers are never accepted; send the payment processor's token",
            );
        }
    }
}

fn card(v: &mut FieldViolations, c: &pb::Card) -> Option<NewPaymentMethod> {
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

fn sepa(v: &mut FieldViolations, s: &pb::SepaDebit) -> Option<NewPaymentMethod> {
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

#[tonic::async_trait]
impl pb::payment_method_service_server::PaymentMethodService for PaymentMethodGrpc {
    async fn create_payment_method(
        &self,
        request: Request<pb::CreatePaymentMethodRequest>,
    ) -> Result<Response<pb::CreatePaymentMethodResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let pm = req.payment_method.clone().unwrap_or_default();
        // Before anything else: no raw card number, in any field.
        let (card_fields, sepa_fields) = match &pm.details {
            Some(pb::payment_method::Details::Card(c)) => (
                vec![
                    (
                        "payment_method.card.processor_token",
                        c.processor_token.as_str(),
                    ),
                    ("payment_method.card.brand", c.brand.as_str()),
                    ("payment_method.card.last4", c.last4.as_str()),
                ],
                vec![],
            ),
            Some(pb::payment_method::Details::SepaDebit(s)) => (
                vec![],
                vec![
                    (
                        "payment_method.sepa_debit.account_holder",
                        s.account_holder.as_str(),
                    ),
                    (
                        "payment_method.sepa_debit.mandate_reference",
                        s.mandate_reference.as_str(),
                    ),
                ],
            ),
            None => (vec![], vec![]),
        };
        let mut all: Vec<(&str, &str)> = vec![
            ("parent", req.parent.as_str()),
            ("request_id", req.request_id.as_str()),
        ];
        all.extend(card_fields);
        all.extend(sepa_fields);
        refuse_card_numbers(&mut v, &all);
        let org = g::org_id(&mut v, "parent", &req.parent);
        let request_id = g::request_id(&mut v, "request_id", &req.request_id);
        let new = match &pm.details {
            Some(pb::payment_method::Details::Card(c)) => card(&mut v, c),
            Some(pb::payment_method::Details::SepaDebit(s)) => sepa(&mut v, s),
            None => {
                v.add("payment_method.details", "set card or sepa_debit");
                None
            }
        };
        g::done(v)?;
        let (Some(org), Some(new)) = (org, new) else {
            return Err(Status::internal("validated fields missing"));
        };
        let policy = self
            .0
            .authority()
            .require(
                &principal,
                &req.parent,
                "billing.paymentMethods.create",
                ActionClass::Setup,
                "CreatePaymentMethod",
            )
            .await?;
        if matches!(new.details, Details::Sepa { .. }) && !policy.flag(SEPA_FLAG) {
            return Err(Error::CapabilityDisabled {
                flag: SEPA_FLAG,
                message: format!("SEPA direct debit is not enabled for {}: ask your operator to enable {SEPA_FLAG}", req.parent),
            }
            .into());
        }
        let created = self
            .0
            .create_payment_method(org, new, request_id, req.validate_only)
            .await?;
        Ok(Response::new(pb::CreatePaymentMethodResponse {
            payment_method: Some(to_pb(created)),
        }))
    }

    async fn get_payment_method(
        &self,
        request: Request<pb::GetPaymentMethodRequest>,
    ) -> Result<Response<pb::GetPaymentMethodResponse>, Status> {
        let principal = auth::principal(&request)?;
        let mut v = FieldViolations::new();
        let ids = g::child_id(&mut v, "name", &request.get_ref().name, "paymentMethods");
        g::done(v)?;
        let (org, id) = ids.unwrap_or_default();
        self.0
            .authority()
            .require(
                &principal,
                &g::org_name(org),
                "billing.paymentMethods.get",
                ActionClass::Read,
                "GetPaymentMethod",
            )
            .await?;
        let pm = self.0.get_payment_method(org, id).await?;
        Ok(Response::new(pb::GetPaymentMethodResponse {
            payment_method: Some(to_pb(pm)),
        }))
    }

    async fn list_payment_methods(
        &self,
        request: Request<pb::ListPaymentMethodsRequest>,
    ) -> Result<Response<pb::ListPaymentMethodsResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "parent", &req.parent);
        let page = g::page(
            &mut v,
            req.page_size,
            &req.page_token,
            &format!("paymentMethods|{}", req.parent),
        );
        g::done(v)?;
        let (Some(org), Some(page)) = (org, page) else {
            return Err(Status::internal("validated fields missing"));
        };
        self.0
            .authority()
            .require(
                &principal,
                &req.parent,
                "billing.paymentMethods.list",
                ActionClass::Read,
                "ListPaymentMethods",
            )
            .await?;
        let (rows, next_page_token) = self.0.list_payment_methods(org, page).await?;
        Ok(Response::new(pb::ListPaymentMethodsResponse {
            payment_methods: rows.into_iter().map(to_pb).collect(),
            next_page_token,
        }))
    }

    async fn set_default_payment_method(
        &self,
        request: Request<pb::SetDefaultPaymentMethodRequest>,
    ) -> Result<Response<pb::SetDefaultPaymentMethodResponse>, Status> {
        let principal = auth::principal(&request)?;
        let mut v = FieldViolations::new();
        let ids = g::child_id(&mut v, "name", &request.get_ref().name, "paymentMethods");
        g::done(v)?;
        let (org, id) = ids.unwrap_or_default();
        self.0
            .authority()
            .require(
                &principal,
                &g::org_name(org),
                "billing.paymentMethods.update",
                ActionClass::Setup,
                "SetDefaultPaymentMethod",
            )
            .await?;
        let pm = self.0.set_default_payment_method(org, id).await?;
        Ok(Response::new(pb::SetDefaultPaymentMethodResponse {
            payment_method: Some(to_pb(pm)),
        }))
    }

    async fn delete_payment_method(
        &self,
        request: Request<pb::DeletePaymentMethodRequest>,
    ) -> Result<Response<pb::DeletePaymentMethodResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let ids = g::child_id(&mut v, "name", &req.name, "paymentMethods");
        g::done(v)?;
        let (org, id) = ids.unwrap_or_default();
        self.0
            .authority()
            .require(
                &principal,
                &g::org_name(org),
                "billing.paymentMethods.delete",
                ActionClass::Setup,
                "DeletePaymentMethod",
            )
            .await?;
        let pm = self
            .0
            .delete_payment_method(org, id, req.validate_only)
            .await?;
        Ok(Response::new(pb::DeletePaymentMethodResponse {
            payment_method: Some(to_pb(pm)),
        }))
    }
}
