//! billing's RPC table: who may call each method and how org-core's status
//! table judges it. Every domain method starts by authorizing its row
//! ([`crate::Billing::authorize`]).

use loopback_runtime::authz::ActionClass::{Operate, Read, Setup};
use loopback_runtime::authz::{SERVICES, perm};
use loopback_runtime::catalog as c;

loopback_runtime::rpc_table! {
    // PaymentMethodService: payment methods are organization setup.
    CREATE_PAYMENT_METHOD = "CreatePaymentMethod", perm(c::BILLING_PAYMENT_METHODS_CREATE), Setup;
    GET_PAYMENT_METHOD = "GetPaymentMethod", perm(c::BILLING_PAYMENT_METHODS_GET), Read;
    LIST_PAYMENT_METHODS = "ListPaymentMethods", perm(c::BILLING_PAYMENT_METHODS_LIST), Read;
    SET_DEFAULT_PAYMENT_METHOD = "SetDefaultPaymentMethod", perm(c::BILLING_PAYMENT_METHODS_UPDATE), Setup;
    DELETE_PAYMENT_METHOD = "DeletePaymentMethod", perm(c::BILLING_PAYMENT_METHODS_DELETE), Setup;
    // UsageService: platform services report what already happened, so no
    // status gate; the organization must exist.
    RECORD_USAGE = "RecordUsage", SERVICES, Read;
    BATCH_RECORD_USAGE = "BatchRecordUsage", SERVICES, Read;
    // CostService
    GET_COST_SUMMARY = "GetCostSummary", perm(c::BILLING_COSTS_GET), Read;
    // InvoiceService: invoice verbs operate on existing billing records.
    GENERATE_INVOICE = "GenerateInvoice", perm(c::BILLING_INVOICES_MANAGE), Operate;
    GET_INVOICE = "GetInvoice", perm(c::BILLING_INVOICES_GET), Read;
    LIST_INVOICES = "ListInvoices", perm(c::BILLING_INVOICES_LIST), Read;
    FINALIZE_INVOICE = "FinalizeInvoice", perm(c::BILLING_INVOICES_MANAGE), Operate;
    MARK_INVOICE_PAID = "MarkInvoicePaid", perm(c::BILLING_INVOICES_MANAGE), Operate;
    VOID_INVOICE = "VoidInvoice", perm(c::BILLING_INVOICES_MANAGE), Operate;
    MARK_INVOICE_UNCOLLECTIBLE = "MarkInvoiceUncollectible", perm(c::BILLING_INVOICES_MANAGE), Operate;
    EXPORT_INVOICE = "ExportInvoice", perm(c::BILLING_INVOICES_EXPORT), Read;
    // SpendingLimitService
    SET_SPENDING_LIMIT = "SetSpendingLimit", perm(c::BILLING_SPENDING_LIMITS_UPDATE), Setup;
    GET_SPENDING_STATUS = "GetSpendingStatus", perm(c::BILLING_SPENDING_LIMITS_GET), Read;
}

/// Not an RPC: the audit name of billing raising or clearing the
/// hard-limit flag at org-core when spend crosses the limit.
pub const EVALUATE_SPENDING: loopback_runtime::authz::Rpc =
    loopback_runtime::authz::Rpc::new("EvaluateSpending", SERVICES, Read);

/// Not an RPC: the audit name of billing deleting what it held for an
/// organization org-core purged.
pub const PURGE_ORGANIZATION: loopback_runtime::authz::Rpc =
    loopback_runtime::authz::Rpc::new("PurgeOrganization", SERVICES, Setup);

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn every_billing_rpc_has_exactly_one_row_with_a_catalog_permission() {
        let set = prost_types::FileDescriptorSet::decode(loopback_proto::FILE_DESCRIPTOR_SET)
            .expect("descriptor set");
        let mut methods: Vec<String> = set
            .file
            .iter()
            .filter(|f| f.package() == "loopback.billing.v1")
            .flat_map(|f| f.service.iter())
            .flat_map(|s| s.method.iter().map(|m| m.name().to_string()))
            .collect();
        methods.sort();
        let mut rows: Vec<String> = RPCS.iter().map(|r| r.method.to_string()).collect();
        rows.sort();
        assert_eq!(methods, rows);
        for rpc in RPCS {
            if let Some(p) = rpc.permission() {
                assert!(
                    c::lookup(p).is_some(),
                    "{} checks {p}, not in the catalog",
                    rpc.method
                );
            }
        }
    }
}
