//! Conversions between domain values and their wire (prost) forms that more
//! than one adapter needs.

use loopback_proto::r#type::v1 as tpb;

use crate::policy::{ActionClass, Capabilities, LifecycleState, VerificationStatus};

pub use loopback_runtime::fields::{etag, opt_timestamp, timestamp};

/// Wire verification status.
pub fn status_to_pb(s: VerificationStatus) -> tpb::VerificationStatus {
    match s {
        VerificationStatus::InSetup => tpb::VerificationStatus::InSetup,
        VerificationStatus::Verified => tpb::VerificationStatus::Verified,
        VerificationStatus::Pending => tpb::VerificationStatus::Pending,
        VerificationStatus::Waitlist => tpb::VerificationStatus::Waitlist,
        VerificationStatus::Blocked => tpb::VerificationStatus::Blocked,
    }
}

/// Domain verification status; `None` for UNSPECIFIED or unknown numbers.
pub fn status_from_pb(v: i32) -> Option<VerificationStatus> {
    match tpb::VerificationStatus::try_from(v).ok()? {
        tpb::VerificationStatus::Unspecified => None,
        tpb::VerificationStatus::InSetup => Some(VerificationStatus::InSetup),
        tpb::VerificationStatus::Verified => Some(VerificationStatus::Verified),
        tpb::VerificationStatus::Pending => Some(VerificationStatus::Pending),
        tpb::VerificationStatus::Waitlist => Some(VerificationStatus::Waitlist),
        tpb::VerificationStatus::Blocked => Some(VerificationStatus::Blocked),
    }
}

/// Wire state.
pub fn state_to_pb(s: LifecycleState) -> tpb::State {
    match s {
        LifecycleState::Active => tpb::State::Active,
        LifecycleState::Inactive => tpb::State::Inactive,
        LifecycleState::Deleted => tpb::State::Deleted,
    }
}

/// Domain state; `None` for UNSPECIFIED or unknown numbers.
pub fn state_from_pb(v: i32) -> Option<LifecycleState> {
    match tpb::State::try_from(v).ok()? {
        tpb::State::Unspecified => None,
        tpb::State::Active => Some(LifecycleState::Active),
        tpb::State::Inactive => Some(LifecycleState::Inactive),
        tpb::State::Deleted => Some(LifecycleState::Deleted),
    }
}

/// Wire action class.
pub fn class_to_pb(c: ActionClass) -> tpb::ActionClass {
    match c {
        ActionClass::Read => tpb::ActionClass::Read,
        ActionClass::Setup => tpb::ActionClass::Setup,
        ActionClass::Create => tpb::ActionClass::Create,
        ActionClass::Operate => tpb::ActionClass::Operate,
    }
}

/// Domain action class; `None` for UNSPECIFIED or unknown numbers.
pub fn class_from_pb(v: i32) -> Option<ActionClass> {
    match tpb::ActionClass::try_from(v).ok()? {
        tpb::ActionClass::Unspecified => None,
        tpb::ActionClass::Read => Some(ActionClass::Read),
        tpb::ActionClass::Setup => Some(ActionClass::Setup),
        tpb::ActionClass::Create => Some(ActionClass::Create),
        tpb::ActionClass::Operate => Some(ActionClass::Operate),
    }
}

/// Wire capabilities.
pub fn capabilities_to_pb(c: &Capabilities) -> tpb::Capabilities {
    tpb::Capabilities {
        limits: c.limits.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        flags: c.flags.iter().map(|(k, v)| (k.clone(), *v)).collect(),
    }
}
