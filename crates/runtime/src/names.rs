//! Resource names under an organization, `organizations/{org}/{collection}/{id}`:
//! [`resource_name!`](crate::resource_name) declares the parsed form of one,
//! and [`Fields::name`](crate::fields::Fields::name) parses it naming the
//! field.

/// A parsed resource name.
pub trait ResourceName: Sized {
    /// Parses the canonical form; the error says what it must look like.
    fn parse(name: &str) -> Result<Self, String>;
}

/// Declares the parsed name of a resource directly under an organization:
/// a struct with `organization` and the id field given, `Display` as the
/// canonical name, and [`ResourceName`]. The id is a UUID (`: Uuid`) or a
/// caller-chosen id (`: String`, lowercase letters, digits, `-`, `_`).
///
/// ```
/// loopback_runtime::resource_name! {
///     /// `organizations/{org}/zones/{zone}`, parsed.
///     pub struct ZoneName = "zones", id: Uuid;
/// }
/// use loopback_runtime::names::ResourceName as _;
/// let org = uuid::Uuid::now_v7();
/// let zone = uuid::Uuid::now_v7();
/// let name = ZoneName::parse(&format!("organizations/{org}/zones/{zone}")).unwrap();
/// assert_eq!((name.organization, name.id), (org, zone));
/// assert_eq!(name.to_string(), format!("organizations/{org}/zones/{zone}"));
/// assert!(ZoneName::parse("organizations/x/zones/y").is_err());
/// ```
#[macro_export]
macro_rules! resource_name {
    ($(#[$doc:meta])* $vis:vis struct $name:ident = $collection:literal, $id:ident: Uuid;) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis struct $name {
            /// The organization.
            pub organization: $crate::uuid::Uuid,
            /// The resource's id.
            pub $id: $crate::uuid::Uuid,
        }

        impl $crate::names::ResourceName for $name {
            fn parse(name: &str) -> Result<Self, String> {
                $crate::validation::child_name(name, $collection)
                    .map(|(organization, $id)| Self { organization, $id })
            }
        }

        $crate::resource_name!(@display $name, $collection, $id);
    };
    ($(#[$doc:meta])* $vis:vis struct $name:ident = $collection:literal, $id:ident: String;) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        $vis struct $name {
            /// The organization.
            pub organization: $crate::uuid::Uuid,
            /// The resource's caller-chosen id.
            pub $id: String,
        }

        impl $crate::names::ResourceName for $name {
            fn parse(name: &str) -> Result<Self, String> {
                $crate::validation::child_name_with_id(name, $collection)
                    .map(|(organization, $id)| Self { organization, $id })
            }
        }

        $crate::resource_name!(@display $name, $collection, $id);
    };
    (@display $name:ident, $collection:literal, $id:ident) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "organizations/{}/{}/{}", self.organization, $collection, self.$id)
            }
        }
    };
}
