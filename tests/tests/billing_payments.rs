//! Acceptance (billing): payment methods. IBANs validated and sealed, SEPA
//! behind its flag, raw card numbers refused everywhere and never stored or
//! logged, tenant isolation and the status policy through the authority.

use std::io::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use loopback_billing::payment_methods::PaymentMethodName;
use loopback_proto::billing::v1 as pb;
use loopback_proto::r#type::v1::VerificationStatus;
use loopback_tests::requests::{card, sepa};
use loopback_tests::{Backend, TestServer, backend_tests, bad_fields, metadata, reason};
use sea_orm::{ConnectionTrait as _, Database, Statement};
use tonic::Code;

/// Every log line written in this test binary, at every level.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || Capture(writer.clone()))
            .try_init();
        buffer
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const VALID_IBANS: &[&str] = &[
    "DE89370400440532013000",
    "GB82 WEST 1234 5698 7654 32",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
    "BE68539007547034",
    "ES9121000418450200051332",
    "IT60X0542811101000000123456",
    "AT611904300234573201",
    "CH9300762011623852957",
    "PL61109010140000071219812874",
    "SE4550000000058398257466",
    "NO9386011117947",
    "DK5000400440116243",
    "FI2112345600000785",
];

/// Every value of every text column of payment_methods.
async fn raw_rows(server: &TestServer) -> String {
    let db = Database::connect(&server.billing_database_url())
        .await
        .unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT * FROM payment_methods".to_string(),
        ))
        .await
        .unwrap();
    let columns = [
        "id",
        "kind",
        "secret_key_id",
        "secret_ciphertext",
        "card_brand",
        "card_last4",
        "iban_masked",
        "account_holder",
        "mandate_reference",
        "request_id",
    ];
    rows.iter()
        .flat_map(|r| {
            columns.map(|c| {
                r.try_get::<Option<String>>("", c)
                    .unwrap()
                    .unwrap_or_default()
            })
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn transpose(iban: &str) -> String {
    // Swap the first pair of adjacent, different digits after the check digits.
    let mut chars: Vec<char> = iban.chars().filter(|c| !c.is_whitespace()).collect();
    for i in 4..chars.len() - 1 {
        if chars[i].is_ascii_digit() && chars[i + 1].is_ascii_digit() && chars[i] != chars[i + 1] {
            chars.swap(i, i + 1);
            break;
        }
    }
    chars.into_iter().collect()
}

fn change_digit(iban: &str) -> String {
    let mut chars: Vec<char> = iban.chars().filter(|c| !c.is_whitespace()).collect();
    let i = chars.len() - 1;
    chars[i] = if chars[i] == '9' {
        '0'
    } else {
        char::from(chars[i] as u8 + 1)
    };
    chars.into_iter().collect()
}

async fn sepa_ibans_are_validated_sealed_and_gated_by_their_flag(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    // Adding a payment method is a setup action: allowed while IN_SETUP.
    let org = server.create_org(&owner, "Acme").await;
    let err = server
        .payment_methods(&owner)
        .create_payment_method(sepa(&org.name, VALID_IBANS[0]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("CAPABILITY_DISABLED"));
    assert_eq!(metadata(&err)["flag"], "sepa_payment_allowed");

    server
        .set_capabilities(&org.name, &[], &[("sepa_payment_allowed", true)])
        .await;
    // The flag reaches billing's cache through the authority's watch feed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut validate = sepa(&org.name, VALID_IBANS[0]);
    validate.validate_only = true;
    while let Err(e) = server
        .payment_methods(&owner)
        .create_payment_method(validate.clone())
        .await
    {
        assert_eq!(reason(&e).as_deref(), Some("CAPABILITY_DISABLED"), "{e:?}");
        assert!(
            std::time::Instant::now() < deadline,
            "the flag never reached billing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut created = Vec::new();
    for iban in VALID_IBANS {
        let pm = server
            .payment_methods(&owner)
            .create_payment_method(sepa(&org.name, iban))
            .await
            .unwrap_or_else(|e| panic!("{iban}: {e:?}"))
            .into_inner()
            .payment_method
            .unwrap();
        let Some(pb::payment_method::Details::SepaDebit(s)) = &pm.details else {
            panic!("sepa")
        };
        assert!(s.iban.is_empty(), "never returned");
        let compact: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
        assert_eq!(&s.iban_masked[..4], &compact[..4]);
        assert_eq!(
            &s.iban_masked[s.iban_masked.len() - 4..],
            &compact[compact.len() - 4..]
        );
        assert!(s.iban_masked.contains('*'));
        created.push(pm);
    }
    assert!(
        created[0].is_default && !created[1].is_default,
        "the first method becomes the default"
    );

    for iban in VALID_IBANS {
        for bad in [change_digit(iban), transpose(iban)] {
            let err = server
                .payment_methods(&owner)
                .create_payment_method(sepa(&org.name, &bad))
                .await
                .unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
            assert_eq!(
                bad_fields(&err),
                ["payment_method.sepa_debit.iban"],
                "{bad}"
            );
        }
    }

    // The raw rows hold no IBAN in plaintext.
    let rows = raw_rows(&server).await;
    for iban in VALID_IBANS {
        let compact: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(!rows.contains(&compact), "{compact} stored in plaintext");
    }
    // ...yet billing can read it back to charge it.
    let (organization, id) =
        loopback_runtime::validation::child_name(&created[0].name, "paymentMethods").unwrap();
    assert_eq!(
        server
            .service::<loopback_billing::Billing>()
            .payment_method_secret(PaymentMethodName { organization, id })
            .await
            .unwrap(),
        "DE89370400440532013000"
    );
    server.stop().await;
}

async fn raw_card_numbers_are_refused_and_never_stored_or_logged(backend: Backend) {
    let logs = captured_logs();
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.create_org(&owner, "Acme").await;
    server
        .set_capabilities(&org.name, &[], &[("sepa_payment_allowed", true)])
        .await;
    let pan = "4111111111111111";
    let spaced = "4111 1111 1111 1111";
    let mut attempts = vec![
        ("payment_method.card.processor_token", card(&org.name, pan)),
        (
            "payment_method.card.processor_token",
            card(&org.name, &format!("tok_{pan}")),
        ),
    ];
    let mut holder = sepa(&org.name, VALID_IBANS[0]);
    if let Some(pb::payment_method::Details::SepaDebit(s)) = holder
        .payment_method
        .as_mut()
        .and_then(|p| p.details.as_mut())
    {
        s.account_holder = format!("Card {spaced}");
    }
    attempts.push(("payment_method.sepa_debit.account_holder", holder));
    let mut reference = sepa(&org.name, VALID_IBANS[0]);
    if let Some(pb::payment_method::Details::SepaDebit(s)) = reference
        .payment_method
        .as_mut()
        .and_then(|p| p.details.as_mut())
    {
        s.mandate_reference = "4111-1111-1111-1111".into();
    }
    attempts.push(("payment_method.sepa_debit.mandate_reference", reference));
    for (field, req) in attempts {
        let err = server
            .payment_methods(&owner)
            .create_payment_method(req)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        assert!(
            bad_fields(&err).contains(&field.to_string()),
            "{field}: {:?}",
            bad_fields(&err)
        );
        assert!(
            !err.message().contains("1111"),
            "the refusal does not echo the number"
        );
    }
    // A real token is accepted.
    server
        .payment_methods(&owner)
        .create_payment_method(card(&org.name, "tok_1QxAbCdEfGhIjK"))
        .await
        .unwrap();
    let needles = [pan, spaced, "4111-1111-1111-1111"];
    let rows = raw_rows(&server).await;
    assert!(
        needles.iter().all(|n| !rows.contains(n)),
        "no card number in any row"
    );
    server.stop().await;
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let leaks: Vec<&str> = logs
        .lines()
        .filter(|l| needles.iter().any(|n| l.contains(n)))
        .collect();
    assert!(
        leaks.is_empty(),
        "no card number in any log line: {leaks:?}"
    );
}

async fn payment_methods_are_isolated_and_follow_the_status_policy(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let first = server
        .payment_methods(&owner)
        .create_payment_method(card(&org.name, "tok_first_card"))
        .await
        .unwrap()
        .into_inner()
        .payment_method
        .unwrap();
    let second = server
        .payment_methods(&owner)
        .create_payment_method(card(&org.name, "tok_second_card"))
        .await
        .unwrap()
        .into_inner()
        .payment_method
        .unwrap();
    let made_default = server
        .payment_methods(&owner)
        .set_default_payment_method(pb::SetDefaultPaymentMethodRequest {
            name: second.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .payment_method
        .unwrap();
    assert!(made_default.is_default);
    let listed = server
        .payment_methods(&owner)
        .list_payment_methods(pb::ListPaymentMethodsRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .payment_methods;
    assert_eq!(listed.iter().filter(|p| p.is_default).count(), 1);

    // Another tenant: NOT_FOUND for everything.
    let stranger = server.account_token("stranger@example.com");
    let _theirs = server.verified_org(&stranger, "Theirs").await;
    let err = server
        .payment_methods(&stranger)
        .get_payment_method(pb::GetPaymentMethodRequest {
            name: first.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = server
        .payment_methods(&stranger)
        .create_payment_method(card(&org.name, "tok_intruder"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = server
        .payment_methods(&stranger)
        .delete_payment_method(pb::DeletePaymentMethodRequest {
            name: first.name.clone(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // A viewer reads but cannot add; a billing admin can.
    let (viewer, _) = server
        .add_member(&owner, &org.name, "viewer@example.com", &["viewer"])
        .await;
    server
        .payment_methods(&viewer)
        .list_payment_methods(pb::ListPaymentMethodsRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let err = server
        .payment_methods(&viewer)
        .create_payment_method(card(&org.name, "tok_viewer"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let (billing_admin, _) = server
        .add_member(&owner, &org.name, "ba@example.com", &["billing_admin"])
        .await;
    server
        .payment_methods(&billing_admin)
        .create_payment_method(card(&org.name, "tok_billing_admin"))
        .await
        .unwrap();

    // BLOCKED: writes refused with ENTITY_STATUS (through the authority), reads still work.
    server
        .set_status(&org.name, VerificationStatus::Blocked)
        .await;
    let mut refused = None;
    for _ in 0..50 {
        match server
            .payment_methods(&owner)
            .create_payment_method(card(&org.name, "tok_blocked"))
            .await
        {
            Err(e) => {
                refused = Some(e);
                break;
            }
            // The authority cache learns of the change from the watch feed.
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    let err = refused.expect("refused once the block reaches billing");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("ENTITY_STATUS"));
    server
        .payment_methods(&owner)
        .get_payment_method(pb::GetPaymentMethodRequest {
            name: first.name.clone(),
        })
        .await
        .unwrap();
    let _ = std::io::stderr().flush();
    server.stop().await;
}

async fn the_default_payment_method_stays_while_invoices_are_open(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let first = server
        .payment_methods(&owner)
        .create_payment_method(card(&org.name, "tok_first_card"))
        .await
        .unwrap()
        .into_inner()
        .payment_method
        .unwrap();
    let second = server
        .payment_methods(&owner)
        .create_payment_method(card(&org.name, "tok_second_card"))
        .await
        .unwrap()
        .into_inner()
        .payment_method
        .unwrap();
    assert!(first.is_default);
    let period = loopback_billing::usage::period_of(chrono::Utc::now());
    let draft = server
        .invoices(&owner)
        .generate_invoice(pb::GenerateInvoiceRequest {
            parent: org.name.clone(),
            period,
        })
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    let open = server
        .invoices(&owner)
        .finalize_invoice(pb::FinalizeInvoiceRequest { name: draft.name })
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    assert_eq!(open.status(), pb::InvoiceStatus::Open);
    let err = server
        .payment_methods(&owner)
        .delete_payment_method(pb::DeletePaymentMethodRequest {
            name: first.name.clone(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(
        reason(&err).as_deref(),
        Some("DEFAULT_PAYMENT_METHOD_IN_USE")
    );
    // Another default first, then the old one can go.
    server
        .payment_methods(&owner)
        .set_default_payment_method(pb::SetDefaultPaymentMethodRequest {
            name: second.name.clone(),
        })
        .await
        .unwrap();
    server
        .payment_methods(&owner)
        .delete_payment_method(pb::DeletePaymentMethodRequest {
            name: first.name,
            validate_only: false,
        })
        .await
        .unwrap();
    server.stop().await;
}

backend_tests!(
    the_default_payment_method_stays_while_invoices_are_open,
    sepa_ibans_are_validated_sealed_and_gated_by_their_flag,
    raw_card_numbers_are_refused_and_never_stored_or_logged,
    payment_methods_are_isolated_and_follow_the_status_policy,
);
