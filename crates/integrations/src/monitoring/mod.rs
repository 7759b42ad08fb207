//! Monitoring sources: the catalog of probe and agent source types and each
//! organization's sources (type, endpoint, labels, enabled), the endpoint
//! validated per type under the outbound rules (https, public addresses).

pub mod grpc;
pub mod store;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use loopback_runtime::auth::Principal;
use loopback_runtime::db::Conn;
use loopback_runtime::errors::Refusal;
use loopback_runtime::pagination::{Page, PageRequest};
use loopback_runtime::tx::WriteOptions;
use serde_json::json;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::{Integrations, rpcs};

/// What a source type's endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// An https URL.
    HttpsUrl,
    /// `host:port`.
    HostPort,
    /// None: the agent pushes.
    None,
}

impl EndpointKind {
    /// Its name in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HttpsUrl => "https_url",
            Self::HostPort => "host_port",
            Self::None => "none",
        }
    }
}

/// A source type of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceType {
    /// Key.
    pub key: &'static str,
    /// Human name.
    pub display_name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Its endpoint.
    pub endpoint: EndpointKind,
}

/// The catalog, sorted by key.
pub const SOURCE_TYPES: &[SourceType] = &[
    SourceType {
        key: "http_probe",
        display_name: "HTTP probe",
        description: "Requests an https URL from Loopback's probe locations and records status, latency and certificate expiry.",
        endpoint: EndpointKind::HttpsUrl,
    },
    SourceType {
        key: "otlp_agent",
        display_name: "OpenTelemetry agent",
        description: "An OpenTelemetry collector you run pushes metrics, logs and traces (OTLP); no endpoint to reach.",
        endpoint: EndpointKind::None,
    },
    SourceType {
        key: "prometheus_scrape",
        display_name: "Prometheus scrape",
        description: "Scrapes a Prometheus metrics endpoint over https.",
        endpoint: EndpointKind::HttpsUrl,
    },
    SourceType {
        key: "tcp_probe",
        display_name: "TCP probe",
        description: "Opens a TCP connection to host:port and records whether and how fast it connects.",
        endpoint: EndpointKind::HostPort,
    },
];

/// The catalog entry of `key`.
pub fn source_type(key: &str) -> Option<&'static SourceType> {
    SOURCE_TYPES.iter().find(|t| t.key == key)
}

loopback_runtime::resource_name! {
    /// `organizations/{org}/monitoringSources/{id}`, parsed.
    pub struct SourceName = "monitoringSources", id: Uuid;
}

/// A monitoring source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization: Uuid,
    /// Catalog type.
    pub source_type: String,
    /// Human name.
    pub display_name: String,
    /// Endpoint.
    pub endpoint: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Whether it runs.
    pub enabled: bool,
    /// Version (the etag).
    pub version: i64,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

impl Source {
    /// Its resource name.
    pub fn name(&self) -> SourceName {
        SourceName {
            organization: self.organization,
            id: self.id,
        }
    }
}

/// CreateMonitoringSource, validated (the endpoint is checked by the
/// domain, per type).
#[derive(Debug, Clone)]
pub struct CreateSource {
    /// Organization.
    pub organization: Uuid,
    /// Catalog type.
    pub source_type: &'static SourceType,
    /// Human name.
    pub display_name: String,
    /// Endpoint as given.
    pub endpoint: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Enabled.
    pub enabled: bool,
    /// `request_id`, `validate_only`.
    pub write: WriteOptions,
}

/// UpdateMonitoringSource, validated (`None`: unchanged).
#[derive(Debug, Clone)]
pub struct UpdateSource {
    /// The source.
    pub name: SourceName,
    /// Expected version.
    pub etag: Option<i64>,
    /// New name.
    pub display_name: Option<String>,
    /// New endpoint.
    pub endpoint: Option<String>,
    /// New labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// New enabled.
    pub enabled: Option<bool>,
    /// Check only.
    pub validate_only: bool,
}

/// DeleteMonitoringSource, validated.
#[derive(Debug, Clone, Copy)]
pub struct DeleteSource {
    /// The source.
    pub name: SourceName,
    /// Check only.
    pub validate_only: bool,
}

/// ListMonitoringSources, validated.
#[derive(Debug, Clone)]
pub struct ListSources {
    /// Organization.
    pub organization: Uuid,
    /// Page.
    pub page: PageRequest,
}

/// ListMonitoringSourceTypes (no input).
#[derive(Debug, Clone, Copy)]
pub struct ListSourceTypes;

const ENDPOINT_FIELD: &str = "monitoring_source.endpoint";

impl Integrations {
    /// The endpoint of a source of type `t`, checked: https URLs and
    /// `host:port` must resolve only to public addresses; agents that push
    /// have none.
    async fn check_endpoint(&self, t: &SourceType, endpoint: &str) -> Result<String> {
        let checked = match t.endpoint {
            EndpointKind::None if endpoint.is_empty() => Ok(String::new()),
            EndpointKind::None => Err(format!(
                "must be empty: {} sources push, nothing is reached",
                t.key
            )),
            _ if endpoint.is_empty() => Err(format!("is required for {} sources", t.key)),
            _ if endpoint.len() > 2048 => Err("must be at most 2048 characters".into()),
            EndpointKind::HttpsUrl => self
                .outbound()
                .check_url(endpoint)
                .await
                .map(|u| u.to_string()),
            EndpointKind::HostPort => self
                .outbound()
                .check_host_port(endpoint)
                .await
                .map(|_| endpoint.to_string()),
        };
        checked.map_err(|e| Error::invalid(ENDPOINT_FIELD, e))
    }

    /// ListMonitoringSourceTypes.
    pub async fn list_monitoring_source_types(
        &self,
        principal: &Principal,
        _input: ListSourceTypes,
    ) -> Result<&'static [SourceType]> {
        self.authorize_unscoped(principal, &rpcs::LIST_MONITORING_SOURCE_TYPES)
            .await?;
        Ok(SOURCE_TYPES)
    }

    /// CreateMonitoringSource.
    pub async fn create_monitoring_source(
        &self,
        principal: &Principal,
        input: CreateSource,
    ) -> Result<Source> {
        let rpc = &rpcs::CREATE_MONITORING_SOURCE;
        let org = input.organization;
        self.authorize(principal, rpc, org).await?;
        let endpoint = self
            .check_endpoint(input.source_type, &input.endpoint)
            .await?;
        let mut tx = self.begin_write(org, rpc, principal, input.write).await?;
        if let Some(id) = tx.replayed_id() {
            return self
                .source_in(
                    tx.conn(),
                    SourceName {
                        organization: org,
                        id,
                    },
                )
                .await;
        }
        let now = Utc::now();
        let source = Source {
            id: Uuid::now_v7(),
            organization: org,
            source_type: input.source_type.key.to_string(),
            display_name: input.display_name,
            endpoint,
            labels: input.labels,
            enabled: input.enabled,
            version: 1,
            create_time: now,
            update_time: now,
        };
        store::insert(tx.conn(), &source).await?;
        tx.created(source.id);
        tx.audit(source.name().to_string(), audit_details(&source));
        tx.commit().await?;
        Ok(source)
    }

    /// GetMonitoringSource.
    pub async fn get_monitoring_source(
        &self,
        principal: &Principal,
        name: SourceName,
    ) -> Result<Source> {
        self.authorize(principal, &rpcs::GET_MONITORING_SOURCE, name.organization)
            .await?;
        self.source_in(self.db(), name).await
    }

    /// ListMonitoringSources.
    pub async fn list_monitoring_sources(
        &self,
        principal: &Principal,
        input: ListSources,
    ) -> Result<Page<Source>> {
        self.authorize(
            principal,
            &rpcs::LIST_MONITORING_SOURCES,
            input.organization,
        )
        .await?;
        let rows = store::list(self.db(), input.organization, &input.page).await?;
        Ok(input.page.page(rows, |s| s.id.to_string()))
    }

    /// UpdateMonitoringSource (etag checked).
    pub async fn update_monitoring_source(
        &self,
        principal: &Principal,
        input: UpdateSource,
    ) -> Result<Source> {
        let rpc = &rpcs::UPDATE_MONITORING_SOURCE;
        let name = input.name;
        self.authorize(principal, rpc, name.organization).await?;
        let current = self.source_in(self.db(), name).await?;
        let source_type = source_type(&current.source_type).ok_or_else(|| {
            Error::Corrupt(format!("{name}: unknown type {}", current.source_type))
        })?;
        let endpoint = match &input.endpoint {
            Some(e) => Some(self.check_endpoint(source_type, e).await?),
            None => None,
        };
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let mut s = self.source_in(tx.conn(), name).await?;
        if input.etag.is_some_and(|e| e != s.version) {
            return Err(Refusal::EtagMismatch(name.to_string()).into());
        }
        if let Some(v) = input.display_name {
            s.display_name = v;
        }
        if let Some(v) = endpoint {
            s.endpoint = v;
        }
        if let Some(v) = input.labels {
            s.labels = v;
        }
        if let Some(v) = input.enabled {
            s.enabled = v;
        }
        s.version += 1;
        s.update_time = Utc::now();
        store::update(tx.conn(), &s).await?;
        tx.audit(name.to_string(), audit_details(&s));
        tx.commit().await?;
        Ok(s)
    }

    /// DeleteMonitoringSource.
    pub async fn delete_monitoring_source(
        &self,
        principal: &Principal,
        input: DeleteSource,
    ) -> Result<Source> {
        let rpc = &rpcs::DELETE_MONITORING_SOURCE;
        let name = input.name;
        self.authorize(principal, rpc, name.organization).await?;
        let mut tx = self
            .begin_write(
                name.organization,
                rpc,
                principal,
                WriteOptions::validate_only(input.validate_only),
            )
            .await?;
        let s = self.source_in(tx.conn(), name).await?;
        store::delete(tx.conn(), name.organization, name.id).await?;
        tx.audit(name.to_string(), audit_details(&s));
        tx.commit().await?;
        Ok(s)
    }

    async fn source_in(&self, conn: &impl Conn, name: SourceName) -> Result<Source> {
        store::find(conn, name.organization, name.id)
            .await?
            .ok_or_else(|| Error::not_found(name.to_string()))
    }
}

fn audit_details(s: &Source) -> serde_json::Value {
    json!({
        "type": s.source_type,
        "display_name": s.display_name,
        "endpoint": s.endpoint,
        "labels": s.labels,
        "enabled": s.enabled,
    })
}

/// Deletes every row of `org` this module holds (its part of following an
/// organization's purge, `crate::purge`); how many rows went.
pub(crate) async fn purge_organization(
    conn: &impl loopback_runtime::db::Conn,
    org: Uuid,
) -> Result<u64> {
    store::purge_organization(conn, org).await
}

/// Organizations this module holds rows of, in id order after `after`, at
/// most `limit` per table.
pub(crate) async fn holders(
    conn: &impl loopback_runtime::db::Conn,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>> {
    store::holders(conn, after, limit).await
}
