//! gRPC adapter of `MonitoringService`.

use loopback_proto::integrations::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, etag, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::tx::WriteOptions;
use tonic::{Request, Response, Status};

use super::{
    CreateSource, DeleteSource, ListSourceTypes, ListSources, Source, SourceName, SourceType,
    UpdateSource, source_type,
};
use crate::Integrations;

/// Serves MonitoringService.
#[derive(Debug, Clone)]
pub struct MonitoringGrpc(pub Integrations);

fn source_to_pb(s: Source) -> pb::MonitoringSource {
    pb::MonitoringSource {
        name: s.name().to_string(),
        r#type: s.source_type,
        display_name: s.display_name,
        endpoint: s.endpoint,
        labels: s.labels.into_iter().collect(),
        enabled: s.enabled,
        etag: etag(s.version),
        create_time: Some(timestamp(s.create_time)),
        update_time: Some(timestamp(s.update_time)),
    }
}

fn type_to_pb(t: &SourceType) -> pb::MonitoringSourceType {
    pb::MonitoringSourceType {
        r#type: t.key.into(),
        display_name: t.display_name.into(),
        description: t.description.into(),
        endpoint_kind: t.endpoint.as_str().into(),
    }
}

impl TryFrom<pb::ListMonitoringSourceTypesRequest> for ListSourceTypes {
    type Error = FieldViolations;
    fn try_from(_: pb::ListMonitoringSourceTypesRequest) -> Result<Self, FieldViolations> {
        Ok(Self)
    }
}

impl TryFrom<pb::CreateMonitoringSourceRequest> for CreateSource {
    type Error = FieldViolations;
    fn try_from(req: pb::CreateMonitoringSourceRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let s = f.message("monitoring_source", req.monitoring_source);
        let kind = f.take(
            "monitoring_source.type",
            source_type(&s.r#type).ok_or("must be a type from ListMonitoringSourceTypes"),
        );
        let display_name = f.display_name("monitoring_source.display_name", &s.display_name);
        let labels = f.labels("monitoring_source.labels", &s.labels);
        let request_id = f.request_id("request_id", &req.request_id);
        let (organization, source_type, display_name, labels, request_id) =
            f.finish((organization, kind, display_name, labels, request_id))?;
        Ok(Self {
            organization,
            source_type,
            display_name,
            endpoint: s.endpoint,
            labels,
            enabled: s.enabled,
            write: WriteOptions {
                request_id,
                validate_only: req.validate_only,
            },
        })
    }
}

impl TryFrom<pb::UpdateMonitoringSourceRequest> for UpdateSource {
    type Error = FieldViolations;
    fn try_from(req: pb::UpdateMonitoringSourceRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let s = f.message("monitoring_source", req.monitoring_source);
        let name = f.name::<SourceName>("monitoring_source.name", &s.name);
        let etag = f.etag("monitoring_source.etag", &s.etag);
        let paths = f.update_mask(
            req.update_mask.as_ref(),
            &["display_name", "endpoint", "labels", "enabled"],
        );
        let (mut display_name, mut endpoint, mut labels, mut enabled) = (None, None, None, None);
        for p in paths {
            match p {
                "display_name" => {
                    display_name = f.display_name("monitoring_source.display_name", &s.display_name)
                }
                "endpoint" => endpoint = Some(s.endpoint.clone()),
                "labels" => labels = f.labels("monitoring_source.labels", &s.labels),
                "enabled" => enabled = Some(s.enabled),
                _ => {}
            }
        }
        let (name, etag) = f.finish((name, etag))?;
        Ok(Self {
            name,
            etag,
            display_name,
            endpoint,
            labels,
            enabled,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::GetMonitoringSourceRequest> for SourceName {
    type Error = FieldViolations;
    fn try_from(req: pb::GetMonitoringSourceRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        f.finish(name)
    }
}

impl TryFrom<pb::DeleteMonitoringSourceRequest> for DeleteSource {
    type Error = FieldViolations;
    fn try_from(req: pb::DeleteMonitoringSourceRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        Ok(Self {
            name: f.finish(name)?,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::ListMonitoringSourcesRequest> for ListSources {
    type Error = FieldViolations;
    fn try_from(req: pb::ListMonitoringSourcesRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let page = f.page(
            req.page_size,
            &req.page_token,
            &format!("monitoringSources|{}", req.parent),
        );
        let (organization, page) = f.finish((organization, page))?;
        Ok(Self { organization, page })
    }
}

#[tonic::async_trait]
impl pb::monitoring_service_server::MonitoringService for MonitoringGrpc {
    async fn list_monitoring_source_types(
        &self,
        request: Request<pb::ListMonitoringSourceTypesRequest>,
    ) -> Result<Response<pb::ListMonitoringSourceTypesResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::list_monitoring_source_types,
            |all| pb::ListMonitoringSourceTypesResponse {
                types: all.iter().map(type_to_pb).collect(),
            },
        )
        .await
    }

    async fn create_monitoring_source(
        &self,
        request: Request<pb::CreateMonitoringSourceRequest>,
    ) -> Result<Response<pb::CreateMonitoringSourceResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::create_monitoring_source,
            |s| pb::CreateMonitoringSourceResponse {
                monitoring_source: Some(source_to_pb(s)),
            },
        )
        .await
    }

    async fn get_monitoring_source(
        &self,
        request: Request<pb::GetMonitoringSourceRequest>,
    ) -> Result<Response<pb::GetMonitoringSourceResponse>, Status> {
        unary(&self.0, request, Integrations::get_monitoring_source, |s| {
            pb::GetMonitoringSourceResponse {
                monitoring_source: Some(source_to_pb(s)),
            }
        })
        .await
    }

    async fn list_monitoring_sources(
        &self,
        request: Request<pb::ListMonitoringSourcesRequest>,
    ) -> Result<Response<pb::ListMonitoringSourcesResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::list_monitoring_sources,
            |page| {
                let page = page.map(source_to_pb);
                pb::ListMonitoringSourcesResponse {
                    monitoring_sources: page.items,
                    next_page_token: page.next_page_token,
                }
            },
        )
        .await
    }

    async fn update_monitoring_source(
        &self,
        request: Request<pb::UpdateMonitoringSourceRequest>,
    ) -> Result<Response<pb::UpdateMonitoringSourceResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::update_monitoring_source,
            |s| pb::UpdateMonitoringSourceResponse {
                monitoring_source: Some(source_to_pb(s)),
            },
        )
        .await
    }

    async fn delete_monitoring_source(
        &self,
        request: Request<pb::DeleteMonitoringSourceRequest>,
    ) -> Result<Response<pb::DeleteMonitoringSourceResponse>, Status> {
        unary(
            &self.0,
            request,
            Integrations::delete_monitoring_source,
            |s| pb::DeleteMonitoringSourceResponse {
                monitoring_source: Some(source_to_pb(s)),
            },
        )
        .await
    }
}
