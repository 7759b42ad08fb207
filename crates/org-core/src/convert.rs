//! Wire conversions more than one adapter needs (prost types only; no
//! storage, no rules).

use loopback_proto::r#type::v1 as tpb;
use loopback_runtime::auth::{Principal, PrincipalKind};
use loopback_runtime::fields::Fields;

use crate::policy::{Capabilities, LifecycleState, Source, Sources, VerificationStatus};

/// Wire capabilities without sources (a plan's own).
pub fn capabilities_to_pb(c: &Capabilities) -> tpb::Capabilities {
    tpb::Capabilities {
        limits: c.limits.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        flags: c.flags.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        limit_sources: Default::default(),
        flag_sources: Default::default(),
    }
}

/// Wire effective capabilities, with the layer each value comes from.
pub fn effective_capabilities_to_pb(c: &Capabilities, sources: &Sources) -> tpb::Capabilities {
    let wire = |s: &std::collections::BTreeMap<String, Source>| {
        s.iter()
            .map(|(k, v)| (k.clone(), i32::from(source_to_pb(*v))))
            .collect()
    };
    tpb::Capabilities {
        limit_sources: wire(&sources.limits),
        flag_sources: wire(&sources.flags),
        ..capabilities_to_pb(c)
    }
}

/// The wire value of a capability source.
pub fn source_to_pb(s: Source) -> tpb::CapabilitySource {
    match s {
        Source::Deployment => tpb::CapabilitySource::Deployment,
        Source::Plan => tpb::CapabilitySource::Plan,
        Source::Override => tpb::CapabilitySource::Override,
    }
}

/// An optional verification status filter: `None` inside for UNSPECIFIED.
pub fn optional_status(
    f: &mut Fields,
    field: &str,
    value: i32,
) -> Option<Option<VerificationStatus>> {
    if value == 0 {
        return Some(None);
    }
    let status = VerificationStatus::from_pb(value).ok_or("unknown verification status");
    f.take(field, status).map(Some)
}

/// An optional lifecycle state filter: `None` inside for UNSPECIFIED.
pub fn optional_state(f: &mut Fields, field: &str, value: i32) -> Option<Option<LifecycleState>> {
    if value == 0 {
        return Some(None);
    }
    f.take(field, LifecycleState::from_pb(value).ok_or("unknown state"))
        .map(Some)
}

/// A principal named in a request (the subject of an access question, the
/// actor of an audit record), under `field`.
pub fn principal_from_pb(
    f: &mut Fields,
    field: &str,
    p: Option<tpb::Principal>,
) -> Option<Principal> {
    let p = f.required(field, p)?;
    let kind = match tpb::PrincipalKind::try_from(p.kind) {
        Ok(tpb::PrincipalKind::Account) => PrincipalKind::Account,
        Ok(tpb::PrincipalKind::Service) => PrincipalKind::Service,
        Ok(tpb::PrincipalKind::Operator) => PrincipalKind::Operator,
        _ => {
            f.add(
                format!("{field}.kind"),
                "must be ACCOUNT, SERVICE or OPERATOR",
            );
            return None;
        }
    };
    if p.subject.trim().is_empty() {
        f.add(format!("{field}.subject"), "is required");
        return None;
    }
    Some(Principal {
        kind,
        subject: p.subject,
        email: (!p.email.is_empty()).then_some(p.email),
        name: None,
    })
}

/// The `reason` of an audited change: required, bounded, trimmed.
pub fn reason(f: &mut Fields, value: &str) -> Option<String> {
    let checked = loopback_runtime::validation::reason(value).map(|()| value.trim().to_string());
    f.take("reason", checked)
}
