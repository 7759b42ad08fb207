//! dns's RPC table: who may call each method and how org-core's status
//! table judges it. Every domain method starts by authorizing its row
//! ([`crate::Dns::authorize`]). Creating domains, zones, records and
//! bridges is a create action, verifying a domain a setup action, changes
//! and deletes operate actions; reads are reads.

use loopback_runtime::authz::ActionClass::{Create, Operate, Read, Setup};
use loopback_runtime::authz::{Rpc, SERVICES, perm};
use loopback_runtime::catalog as c;

/// The deployment feature network bridges belong to.
pub const NETWORK_BRIDGES: &str = "network_bridges";

loopback_runtime::rpc_table! {
    // DomainService
    CREATE_DOMAIN = "CreateDomain", perm(c::DNS_DOMAINS_CREATE), Create;
    GET_DOMAIN = "GetDomain", perm(c::DNS_DOMAINS_GET), Read;
    LIST_DOMAINS = "ListDomains", perm(c::DNS_DOMAINS_LIST), Read;
    UPDATE_DOMAIN = "UpdateDomain", perm(c::DNS_DOMAINS_UPDATE), Operate;
    DELETE_DOMAIN = "DeleteDomain", perm(c::DNS_DOMAINS_DELETE), Operate;
    VERIFY_DOMAIN = "VerifyDomain", perm(c::DNS_DOMAINS_VERIFY), Setup;
    // ZoneService
    CREATE_ZONE = "CreateZone", perm(c::DNS_ZONES_CREATE), Create;
    GET_ZONE = "GetZone", perm(c::DNS_ZONES_GET), Read;
    LIST_ZONES = "ListZones", perm(c::DNS_ZONES_LIST), Read;
    UPDATE_ZONE = "UpdateZone", perm(c::DNS_ZONES_UPDATE), Operate;
    DELETE_ZONE = "DeleteZone", perm(c::DNS_ZONES_DELETE), Operate;
    EXPORT_ZONE = "ExportZone", perm(c::DNS_ZONES_GET), Read;
    // Importing creates records (and, see IMPORT_DELETES, may remove some).
    IMPORT_ZONE = "ImportZone", perm(c::DNS_RECORDS_CREATE), Create;
    // RecordService
    CREATE_RECORD = "CreateRecord", perm(c::DNS_RECORDS_CREATE), Create;
    GET_RECORD = "GetRecord", perm(c::DNS_RECORDS_GET), Read;
    LIST_RECORDS = "ListRecords", perm(c::DNS_RECORDS_LIST), Read;
    UPDATE_RECORD = "UpdateRecord", perm(c::DNS_RECORDS_UPDATE), Operate;
    DELETE_RECORD = "DeleteRecord", perm(c::DNS_RECORDS_DELETE), Operate;
    // A batch changes records; see BATCH_CREATES and BATCH_DELETES.
    BATCH_CHANGE_RECORDS = "BatchChangeRecords", perm(c::DNS_RECORDS_UPDATE), Operate;
    // DelegationService
    CREATE_DELEGATION = "CreateDelegation", perm(c::DNS_DELEGATIONS_CREATE), Create;
    GET_DELEGATION = "GetDelegation", perm(c::DNS_DELEGATIONS_GET), Read;
    LIST_DELEGATIONS = "ListDelegations", perm(c::DNS_DELEGATIONS_LIST), Read;
    DELETE_DELEGATION = "DeleteDelegation", perm(c::DNS_DELEGATIONS_DELETE), Operate;
    // NetworkBridgeService, behind its deployment feature.
    CREATE_NETWORK_BRIDGE = "CreateNetworkBridge", perm(c::DNS_NETWORK_BRIDGES_CREATE), Create, feature = "network_bridges";
    GET_NETWORK_BRIDGE = "GetNetworkBridge", perm(c::DNS_NETWORK_BRIDGES_GET), Read, feature = "network_bridges";
    LIST_NETWORK_BRIDGES = "ListNetworkBridges", perm(c::DNS_NETWORK_BRIDGES_LIST), Read, feature = "network_bridges";
    DELETE_NETWORK_BRIDGE = "DeleteNetworkBridge", perm(c::DNS_NETWORK_BRIDGES_DELETE), Operate, feature = "network_bridges";
    // The network operator (a platform service) reports what it did.
    SET_NETWORK_BRIDGE_STATE = "SetNetworkBridgeState", SERVICES, Operate, feature = "network_bridges";
}

/// Not an RPC: what a BatchChangeRecords that creates records needs on
/// top of its own row (creating is a create action).
pub const BATCH_CREATES: Rpc = Rpc::new("BatchChangeRecords", perm(c::DNS_RECORDS_CREATE), Create);

/// Not an RPC: what a BatchChangeRecords that removes records needs on top
/// of its own row.
pub const BATCH_DELETES: Rpc = Rpc::new("BatchChangeRecords", perm(c::DNS_RECORDS_DELETE), Operate);

/// Not an RPC: what an ImportZone that removes records needs on top of its
/// own row.
pub const IMPORT_DELETES: Rpc = Rpc::new("ImportZone", perm(c::DNS_RECORDS_DELETE), Operate);

/// Not an RPC: the audit name of deleting what dns holds for an
/// organization org-core purged.
pub const PURGE_ORGANIZATION: Rpc = Rpc::new("PurgeOrganization", SERVICES, Operate);

/// Not an RPC: the audit name of deleting a purged project's zones (with
/// their records) and the delegations to it.
pub const PURGE_PROJECT: Rpc = Rpc::new("PurgeProject", SERVICES, Operate);

/// Not an RPC: the audit name of the sweep moving a domain whose
/// registration expired to EXPIRED.
pub const EXPIRE_DOMAIN: Rpc = Rpc::new("ExpireDomain", SERVICES, Operate);

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn every_dns_rpc_has_exactly_one_row_with_a_catalog_permission() {
        let set = prost_types::FileDescriptorSet::decode(loopback_proto::FILE_DESCRIPTOR_SET)
            .expect("descriptor set");
        let mut methods: Vec<String> = set
            .file
            .iter()
            .filter(|f| f.package() == "loopback.dns.v1")
            .flat_map(|f| f.service.iter())
            .flat_map(|s| s.method.iter().map(|m| m.name().to_string()))
            .collect();
        methods.sort();
        let mut rows: Vec<String> = RPCS.iter().map(|r| r.method.to_string()).collect();
        rows.sort();
        assert_eq!(methods, rows);
        for rpc in RPCS
            .iter()
            .chain([&BATCH_CREATES, &BATCH_DELETES, &IMPORT_DELETES])
        {
            if let Some(p) = rpc.permission() {
                assert!(
                    c::lookup(p).is_some(),
                    "{} checks {p}, not in the catalog",
                    rpc.method
                );
                assert!(p.starts_with("dns."), "{} checks {p}", rpc.method);
            }
        }
    }

    #[test]
    fn bridges_and_only_bridges_are_behind_their_feature() {
        for rpc in RPCS {
            assert_eq!(
                rpc.feature == Some(NETWORK_BRIDGES),
                rpc.method.contains("NetworkBridge"),
                "{}",
                rpc.method
            );
        }
    }
}
