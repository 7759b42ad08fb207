//! The usage of dns's limits, reported to org-core: every write that
//! changes a count records the new count in `usage_reports` inside its own
//! transaction (so the count and the change commit together, revision by
//! revision), and [`relay`] sends what org-core has not taken yet to its
//! `QuotaService.ReportUsage`, at once after each commit and again after an
//! outage. org-core keeps the report with the highest revision, so a
//! report sent twice or late changes nothing. Enforcement stays in dns's
//! own write transactions; this only feeds `GetOrganizationUsage`.

pub mod store;

use std::time::Duration;

use loopback_org_core_client::AuthorityError;
use loopback_runtime::db::Conn;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::Dns;
use crate::error::Result;

/// Zones in the organization.
pub const MAX_ZONES: &str = "max_dns_zones";
/// Records in one zone: dns reports the organization's fullest zone.
pub const MAX_RECORDS_PER_ZONE: &str = "max_dns_records_per_zone";
/// Network bridges in the organization (in any state).
pub const MAX_BRIDGES: &str = "max_network_bridges";

/// Poll interval when no commit wakes the relay.
const POLL: Duration = Duration::from_secs(2);
/// Longest pause after failed reports.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Reports sent per round.
const BATCH: u64 = 100;

/// Records that `org` now uses `usage` units of `limit`, inside the write
/// transaction that changed it.
pub async fn record(conn: &impl Conn, org: Uuid, limit: &str, usage: i64) -> Result<()> {
    store::upsert(conn, org, limit, usage).await
}

impl Dns {
    /// Sends every count org-core has not taken yet; returns how many were
    /// sent. An unreachable org-core leaves them for the next round.
    pub async fn report_usage_once(&self) -> std::result::Result<usize, String> {
        let pending = store::pending(self.db(), BATCH)
            .await
            .map_err(|e| e.to_string())?;
        for report in &pending {
            let org = format!("organizations/{}", report.organization);
            match self
                .authority()
                .report_usage(&org, &report.limit, report.usage, report.revision)
                .await
            {
                Ok(_) => {}
                Err(AuthorityError::Unavailable(cause)) => return Err(cause),
                // org-core will never take it (the organization is gone):
                // nothing to retry.
                Err(other) => {
                    tracing::warn!(organization = %org, limit = %report.limit, error = %other, "org-core refused a usage report; dropping it");
                }
            }
            store::mark_reported(
                self.db(),
                report.organization,
                &report.limit,
                report.revision,
            )
            .await
            .map_err(|e| e.to_string())?;
        }
        Ok(pending.len())
    }
}

/// Reports usage until `shutdown`: at once after each commit, otherwise
/// every few seconds; after a failure it backs off (doubling up to 10 s).
pub async fn relay(dns: Dns, mut committed: watch::Receiver<u64>, shutdown: CancellationToken) {
    let mut backoff = Duration::ZERO;
    loop {
        let pause = match dns.report_usage_once().await {
            Ok(n) if n as u64 == BATCH => Duration::ZERO,
            Ok(_) => {
                backoff = Duration::ZERO;
                POLL
            }
            Err(e) => {
                backoff = (backoff * 2).clamp(Duration::from_millis(200), MAX_BACKOFF);
                tracing::debug!(error = %e, retry_in = ?backoff, "usage report failed");
                backoff
            }
        };
        if pause.is_zero() {
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = committed.changed(), if backoff.is_zero() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// Removes the usage counts of a purged organization; returns how many rows
/// went.
pub async fn purge_organization(conn: &impl Conn, org: Uuid) -> Result<u64> {
    store::delete_organization(conn, org).await
}

/// The organizations holding usage counts, in order after `after`, at most
/// `limit`.
pub async fn holders(conn: &impl Conn, after: Option<Uuid>, limit: u64) -> Result<Vec<Uuid>> {
    store::holders(conn, after, limit).await
}
