//! The vocabulary of the authority, shared by org-core (which decides) and
//! every other service (which asks): action classes, verification status,
//! lifecycle state, and the table each service keeps of its RPCs.
//!
//! This is vocabulary only. Which class a status allows is decided in one
//! place, org-core's status table; nothing here judges.

use std::fmt;
use std::str::FromStr;

use loopback_proto::r#type::v1 as tpb;

use crate::catalog::Permission;

/// The class of an action, which the status table judges (DESIGN.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionClass {
    /// Reading anything. Answered from a stale cache while the authority is
    /// unreachable.
    Read,
    /// Organization profile, people, roles, auth providers, payment
    /// methods, domains.
    Setup,
    /// New projects and infrastructure.
    Create,
    /// Changing or deleting existing projects and infrastructure.
    Operate,
}

impl ActionClass {
    /// Every class, in table order.
    pub const ALL: [ActionClass; 4] = [Self::Read, Self::Setup, Self::Create, Self::Operate];

    /// Lower-case name used in messages and error metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Setup => "setup",
            Self::Create => "create",
            Self::Operate => "operate",
        }
    }

    /// True for every class but [`ActionClass::Read`]: these fail closed
    /// once a cached policy is stale and the authority cannot be reached.
    pub fn is_write(self) -> bool {
        self != Self::Read
    }

    /// The wire value.
    pub fn to_pb(self) -> tpb::ActionClass {
        match self {
            Self::Read => tpb::ActionClass::Read,
            Self::Setup => tpb::ActionClass::Setup,
            Self::Create => tpb::ActionClass::Create,
            Self::Operate => tpb::ActionClass::Operate,
        }
    }

    /// From the wire; `None` for UNSPECIFIED or a number this build does
    /// not know.
    pub fn from_pb(value: i32) -> Option<Self> {
        match tpb::ActionClass::try_from(value).ok()? {
            tpb::ActionClass::Read => Some(Self::Read),
            tpb::ActionClass::Setup => Some(Self::Setup),
            tpb::ActionClass::Create => Some(Self::Create),
            tpb::ActionClass::Operate => Some(Self::Operate),
            tpb::ActionClass::Unspecified => None,
        }
    }
}

impl fmt::Display for ActionClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Verification (business) status of an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerificationStatus {
    /// Onboarding incomplete.
    InSetup,
    /// Normal operations.
    Verified,
    /// Manual review.
    Pending,
    /// Waiting for capacity.
    Waitlist,
    /// Blocked by an operator.
    Blocked,
}

/// Lifecycle state of an organization or project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleState {
    /// In use.
    Active,
    /// Suspended: read only.
    Inactive,
    /// Soft-deleted: invisible except to operators and Undelete.
    Deleted,
}

/// The name other services know the lifecycle state by.
pub type State = LifecycleState;

macro_rules! string_enum {
    ($ty:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value.
            pub const ALL: &'static [$ty] = &[$(Self::$variant),+];

            /// The stored spelling, which is also the wire name without the
            /// enum's prefix (`IN_SETUP`, `ACTIVE`, ...).
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s { $($text => Ok(Self::$variant),)+ other => Err(format!("unknown value {other:?}")) }
            }
        }
    };
}

string_enum!(VerificationStatus {
    InSetup => "IN_SETUP",
    Verified => "VERIFIED",
    Pending => "PENDING",
    Waitlist => "WAITLIST",
    Blocked => "BLOCKED",
});

string_enum!(LifecycleState {
    Active => "ACTIVE",
    Inactive => "INACTIVE",
    Deleted => "DELETED",
});

impl VerificationStatus {
    /// The wire value.
    pub fn to_pb(self) -> tpb::VerificationStatus {
        match self {
            Self::InSetup => tpb::VerificationStatus::InSetup,
            Self::Verified => tpb::VerificationStatus::Verified,
            Self::Pending => tpb::VerificationStatus::Pending,
            Self::Waitlist => tpb::VerificationStatus::Waitlist,
            Self::Blocked => tpb::VerificationStatus::Blocked,
        }
    }

    /// From the wire; `None` for UNSPECIFIED or an unknown number.
    pub fn from_pb(value: i32) -> Option<Self> {
        match tpb::VerificationStatus::try_from(value).ok()? {
            tpb::VerificationStatus::Unspecified => None,
            tpb::VerificationStatus::InSetup => Some(Self::InSetup),
            tpb::VerificationStatus::Verified => Some(Self::Verified),
            tpb::VerificationStatus::Pending => Some(Self::Pending),
            tpb::VerificationStatus::Waitlist => Some(Self::Waitlist),
            tpb::VerificationStatus::Blocked => Some(Self::Blocked),
        }
    }
}

impl LifecycleState {
    /// The wire value.
    pub fn to_pb(self) -> tpb::State {
        match self {
            Self::Active => tpb::State::Active,
            Self::Inactive => tpb::State::Inactive,
            Self::Deleted => tpb::State::Deleted,
        }
    }

    /// From the wire; `None` for UNSPECIFIED or an unknown number.
    pub fn from_pb(value: i32) -> Option<Self> {
        match tpb::State::try_from(value).ok()? {
            tpb::State::Unspecified => None,
            tpb::State::Active => Some(Self::Active),
            tpb::State::Inactive => Some(Self::Inactive),
            tpb::State::Deleted => Some(Self::Deleted),
        }
    }
}

/// Who may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callers {
    /// Whoever holds the permission in the organization: members by their
    /// roles, services their read set, operators everything.
    Permission(Permission),
    /// Operators only (Loopback staff verbs).
    Operators,
    /// Services and operators (platform callers: usage, quotas, the
    /// authority itself).
    Services,
    /// Accounts only: the method acts on the caller's own account
    /// (creating an organization, accepting an invite, leaving).
    Accounts,
    /// Any authenticated caller; the method scopes what it answers to the
    /// caller (e.g. listing the caller's organizations).
    Anyone,
}

/// Members holding `permission` (see [`Callers::Permission`]).
pub const fn perm(permission: Permission) -> Callers {
    Callers::Permission(permission)
}

/// [`Callers::Operators`].
pub const OPERATORS: Callers = Callers::Operators;
/// [`Callers::Services`].
pub const SERVICES: Callers = Callers::Services;
/// [`Callers::Accounts`].
pub const ACCOUNTS: Callers = Callers::Accounts;
/// [`Callers::Anyone`].
pub const ANYONE: Callers = Callers::Anyone;

/// One row of a service's RPC table: what a method needs before it runs.
/// Every domain method starts by authorizing its row, so the permission,
/// the action class and the feature of every RPC are data a test can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rpc {
    /// The method, e.g. `CreatePaymentMethod` (audit records name it).
    pub method: &'static str,
    /// Who may call it: usually one permission from the catalog.
    pub callers: Callers,
    /// How the status table judges it.
    pub class: ActionClass,
    /// The deployment feature it belongs to, if it can be switched off.
    pub feature: Option<&'static str>,
}

impl Rpc {
    /// A method with its callers and class, in no feature.
    pub const fn new(method: &'static str, callers: Callers, class: ActionClass) -> Self {
        Self {
            method,
            callers,
            class,
            feature: None,
        }
    }

    /// The same method, behind a deployment feature.
    pub const fn in_feature(mut self, feature: &'static str) -> Self {
        self.feature = Some(feature);
        self
    }

    /// The permission it checks, when it is gated by one.
    pub const fn permission(&self) -> Option<Permission> {
        match self.callers {
            Callers::Permission(p) => Some(p),
            _ => None,
        }
    }
}

/// Declares a service's RPC table: one `Rpc` constant per method and
/// `RPCS`, the list of them all (which tests compare with the protos).
///
/// ```
/// use loopback_runtime::authz::{perm, ActionClass::{Read, Setup}, SERVICES};
/// use loopback_runtime::catalog;
/// loopback_runtime::rpc_table! {
///     GET_PAYMENT_METHOD = "GetPaymentMethod", perm(catalog::BILLING_PAYMENT_METHODS_GET), Read;
///     CREATE_PAYMENT_METHOD = "CreatePaymentMethod", perm(catalog::BILLING_PAYMENT_METHODS_CREATE), Setup;
///     RECORD_USAGE = "RecordUsage", SERVICES, Read;
/// }
/// assert_eq!(RPCS.len(), 3);
/// assert_eq!(CREATE_PAYMENT_METHOD.class, Setup);
/// ```
#[macro_export]
macro_rules! rpc_table {
    ($($konst:ident = $method:literal, $callers:expr, $class:expr $(, feature = $feature:literal)?;)+) => {
        $(
            #[doc = concat!("`", $method, "`.")]
            pub const $konst: $crate::authz::Rpc =
                $crate::authz::Rpc::new($method, $callers, $class)$(.in_feature($feature))?;
        )+
        /// Every RPC of the service.
        pub const RPCS: &[$crate::authz::Rpc] = &[$($konst),+];
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_wire_values_round_trip() {
        for s in VerificationStatus::ALL {
            assert_eq!(s.as_str().parse::<VerificationStatus>(), Ok(*s));
            assert_eq!(VerificationStatus::from_pb(s.to_pb().into()), Some(*s));
        }
        for s in LifecycleState::ALL {
            assert_eq!(s.as_str().parse::<LifecycleState>(), Ok(*s));
            assert_eq!(LifecycleState::from_pb(s.to_pb().into()), Some(*s));
        }
        for c in ActionClass::ALL {
            assert_eq!(ActionClass::from_pb(c.to_pb().into()), Some(c));
        }
        assert_eq!(ActionClass::from_pb(0), None);
        assert_eq!(VerificationStatus::from_pb(99), None);
    }
}
