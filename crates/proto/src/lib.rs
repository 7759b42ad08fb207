//! Generated protobuf types and gRPC services for the Loopback control plane.
//!
//! Everything here is generated at build time from `proto/` (nothing generated
//! is checked in). [`FILE_DESCRIPTOR_SET`] is the encoded descriptor set every
//! server hands to tonic-reflection so `grpcurl list/describe` work without
//! proto files.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

/// Encoded `google.protobuf.FileDescriptorSet` of every Loopback proto and its
/// imports, with source info (comments).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/loopback_descriptor.bin"));

/// Vendored `google.api` annotations and `google.rpc` error details.
pub mod google {
    /// `google.api`: field behaviour annotations.
    pub mod api {
        include!(concat!(env!("OUT_DIR"), "/google.api.rs"));
    }
    /// `google.rpc`: the error detail messages our errors carry (servers
    /// build them with tonic-types; clients may decode them with these).
    pub mod rpc {
        include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
    }
}

/// `loopback.type.v1`: types shared by every service.
pub mod r#type {
    /// Version 1.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/loopback.r#type.v1.rs"));
    }
}

/// `loopback.billing.v1`: payment methods, usage, costs, invoices, spending limits.
pub mod billing {
    /// Version 1.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/loopback.billing.v1.rs"));
    }
}

/// `loopback.dns.v1`: domains, zones, records and network bridges.
pub mod dns {
    /// Version 1.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/loopback.dns.v1.rs"));
    }
}

/// `loopback.orgcore.v1`: organizations, projects, accounts, operators and the authority.
pub mod orgcore {
    /// Version 1.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/loopback.orgcore.v1.rs"));
    }
}

/// `loopback.integrations.v1`: Git connections, bundles, operations, monitoring sources, notification channels.
pub mod integrations {
    /// Version 1.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/loopback.integrations.v1.rs"));
    }
}
