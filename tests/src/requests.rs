//! Requests many tests send, built once.

use loopback_proto::billing::v1 as bpb;
use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1 as tpb;

/// CreatePaymentMethod for a card known by processor token `token`.
pub fn card(parent: &str, token: &str) -> bpb::CreatePaymentMethodRequest {
    bpb::CreatePaymentMethodRequest {
        parent: parent.into(),
        payment_method: Some(bpb::PaymentMethod {
            details: Some(bpb::payment_method::Details::Card(bpb::Card {
                processor_token: token.into(),
                brand: "visa".into(),
                last4: "4242".into(),
                exp_month: 12,
                exp_year: 2031,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// CreatePaymentMethod for a SEPA mandate on `iban`.
pub fn sepa(parent: &str, iban: &str) -> bpb::CreatePaymentMethodRequest {
    bpb::CreatePaymentMethodRequest {
        parent: parent.into(),
        payment_method: Some(bpb::PaymentMethod {
            details: Some(bpb::payment_method::Details::SepaDebit(bpb::SepaDebit {
                iban: iban.into(),
                account_holder: "Acme GmbH".into(),
                mandate_reference: "MANDATE-2026-001".into(),
                mandate_signature_time: Some(prost_types::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 0,
                }),
                ..Default::default()
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// SetSpendingLimit of `amount_minor` EUR a month for organization `org`.
pub fn spending_limit(
    org: &str,
    amount_minor: i64,
    thresholds: &[i32],
    hard: bool,
) -> bpb::SetSpendingLimitRequest {
    bpb::SetSpendingLimitRequest {
        spending_limit: Some(bpb::SpendingLimit {
            name: format!("{org}/spendingLimit"),
            monthly_limit: Some(tpb::Money {
                currency_code: "EUR".into(),
                amount_minor,
            }),
            alert_thresholds_percent: thresholds.to_vec(),
            hard,
            update_time: None,
        }),
    }
}

/// RecordUsage of `quantity` vCPU hours now, idempotent by `key`.
pub fn vcpu_usage(org: &str, quantity: i64, key: &str) -> bpb::RecordUsageRequest {
    bpb::RecordUsageRequest {
        event: Some(bpb::UsageEvent {
            organization: org.into(),
            project: String::new(),
            meter: "compute.vcpu_hours".into(),
            quantity,
            event_time: Some(loopback_runtime::fields::timestamp(chrono::Utc::now())),
            idempotency_key: key.into(),
        }),
    }
}

/// A complete legal profile of organization `org` in `country` with tax id
/// `tax_id`.
pub fn legal_profile(org: &str, country: &str, tax_id: &str) -> pb::OrganizationProfile {
    pb::OrganizationProfile {
        name: format!("{org}/profile"),
        legal_name: "Acme GmbH".into(),
        address: Some(tpb::PostalAddress {
            address_lines: vec!["Hauptstraße 1".into()],
            city: "Berlin".into(),
            postal_code: "10115".into(),
            region: String::new(),
            country: country.into(),
        }),
        tax_id: tax_id.into(),
        billing_email: "billing@acme.example".into(),
        ..Default::default()
    }
}

/// UpdateOrganizationProfile of every field to `profile`.
pub fn update_profile(profile: pb::OrganizationProfile) -> pb::UpdateOrganizationProfileRequest {
    pb::UpdateOrganizationProfileRequest {
        profile: Some(profile),
        update_mask: None,
        validate_only: false,
    }
}

/// DNS requests: zones and records.
pub mod dns {
    use loopback_proto::dns::v1 as dpb;

    /// CreateZone of `dns_name` in organization `org`.
    pub fn create_zone(org: &str, dns_name: &str) -> dpb::CreateZoneRequest {
        dpb::CreateZoneRequest {
            parent: org.into(),
            zone: Some(dpb::Zone {
                dns_name: dns_name.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A record of `owner` with `data` (TTL: the default).
    pub fn record(owner: &str, data: dpb::record::Data) -> dpb::Record {
        dpb::Record {
            owner: owner.into(),
            data: Some(data),
            ..Default::default()
        }
    }

    /// An A record.
    pub fn a(owner: &str, address: &str) -> dpb::Record {
        record(
            owner,
            dpb::record::Data::A(dpb::AData {
                address: address.into(),
            }),
        )
    }

    /// A TXT record.
    pub fn txt(owner: &str, text: &str) -> dpb::Record {
        record(
            owner,
            dpb::record::Data::Txt(dpb::TxtData { text: text.into() }),
        )
    }

    /// A CNAME record.
    pub fn cname(owner: &str, target: &str) -> dpb::Record {
        record(
            owner,
            dpb::record::Data::Cname(dpb::CnameData {
                target: target.into(),
            }),
        )
    }

    /// CreateRecord of `record` in `zone`.
    pub fn create_record(zone: &str, record: dpb::Record) -> dpb::CreateRecordRequest {
        dpb::CreateRecordRequest {
            parent: zone.into(),
            record: Some(record),
            ..Default::default()
        }
    }

    /// A batch change creating `record`.
    pub fn create_change(record: dpb::Record) -> dpb::RecordChange {
        dpb::RecordChange {
            change: Some(dpb::record_change::Change::Create(record)),
        }
    }

    /// A batch change deleting the record `name`.
    pub fn delete_change(name: &str) -> dpb::RecordChange {
        dpb::RecordChange {
            change: Some(dpb::record_change::Change::Delete(dpb::RecordDelete {
                name: name.into(),
                etag: String::new(),
            })),
        }
    }

    /// CreateDelegation of `pattern` in `zone` to `target`.
    pub fn delegate(zone: &str, pattern: &str, target: &str) -> dpb::CreateDelegationRequest {
        dpb::CreateDelegationRequest {
            parent: zone.into(),
            delegation: Some(dpb::Delegation {
                pattern: pattern.into(),
                target: target.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}
