//! gRPC adapter of `loopback.dns.v1.ZoneService`: each RPC parses its
//! request into the domain's input, makes one domain call and maps the
//! result; ExportZone maps the domain's stream of chunks.

use futures::stream::{BoxStream, StreamExt as _};
use loopback_proto::dns::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, timestamp};
use loopback_runtime::rpc::{parse, unary};
use loopback_runtime::tx::WriteOptions;
use tonic::{Request, Response, Status};

use super::zonefile::MAX_ZONE_FILE_BYTES;
use super::{CreateZone, DeleteZone, ImportZone, Imported, ListZones, UpdateZone, Zone, ZoneName};
use crate::records::data;
use crate::{Dns, dnsname};

/// Serves ZoneService.
#[derive(Debug, Clone)]
pub struct ZoneGrpc(pub Dns);

const MAX_DESCRIPTION: usize = 1000;

/// The wire form of a zone.
pub fn zone_to_pb(z: Zone) -> pb::Zone {
    pb::Zone {
        name: z.name(),
        etag: z.etag(),
        dns_name: z.dns_name,
        description: z.description,
        default_ttl: z.default_ttl,
        serial: z.serial,
        nameservers: z.nameservers,
        record_count: z.record_count,
        create_time: Some(timestamp(z.create_time)),
        update_time: Some(timestamp(z.update_time)),
    }
}

fn default_ttl(f: &mut Fields, field: &str, ttl: i32) -> Option<Option<i32>> {
    f.take(field, data::ttl(ttl))
}

impl TryFrom<pb::CreateZoneRequest> for CreateZone {
    type Error = FieldViolations;
    fn try_from(req: pb::CreateZoneRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let parent = f.name("parent", &req.parent);
        let request_id = f.request_id("request_id", &req.request_id);
        let z = f.message("zone", req.zone);
        let dns_name = f.take("zone.dns_name", dnsname::zone_apex(&z.dns_name));
        let description = f.text("zone.description", &z.description, MAX_DESCRIPTION);
        let ttl = default_ttl(&mut f, "zone.default_ttl", z.default_ttl);
        let (parent, request_id, dns_name, description, default_ttl) =
            f.finish((parent, request_id, dns_name, description, ttl))?;
        Ok(Self {
            parent,
            dns_name,
            description,
            default_ttl,
            write: WriteOptions {
                request_id,
                validate_only: req.validate_only,
            },
        })
    }
}

impl TryFrom<pb::GetZoneRequest> for ZoneName {
    type Error = FieldViolations;
    fn try_from(req: pb::GetZoneRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        f.finish(name)
    }
}

impl TryFrom<pb::ExportZoneRequest> for ZoneName {
    type Error = FieldViolations;
    fn try_from(req: pb::ExportZoneRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        f.finish(name)
    }
}

impl TryFrom<pb::ListZonesRequest> for ListZones {
    type Error = FieldViolations;
    fn try_from(req: pb::ListZonesRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let parent = f.name("parent", &req.parent);
        let query = format!("zones|{}", req.parent);
        let page = f.page(req.page_size, &req.page_token, &query);
        let (parent, page) = f.finish((parent, page))?;
        Ok(Self { parent, page })
    }
}

impl TryFrom<pb::UpdateZoneRequest> for UpdateZone {
    type Error = FieldViolations;
    fn try_from(req: pb::UpdateZoneRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let z = f.message("zone", req.zone);
        let name = f.name("zone.name", &z.name);
        let etag = f.etag("zone.etag", &z.etag);
        let paths = f.update_mask(req.update_mask.as_ref(), &["description", "default_ttl"]);
        let description = if paths.contains(&"description") {
            f.text("zone.description", &z.description, MAX_DESCRIPTION)
                .map(Some)
        } else {
            Some(None)
        };
        let ttl = if paths.contains(&"default_ttl") {
            default_ttl(&mut f, "zone.default_ttl", z.default_ttl)
                .map(|t| Some(t.unwrap_or(super::DEFAULT_TTL)))
        } else {
            Some(None)
        };
        let (name, etag, description, default_ttl) = f.finish((name, etag, description, ttl))?;
        Ok(Self {
            name,
            etag,
            description,
            default_ttl,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::DeleteZoneRequest> for DeleteZone {
    type Error = FieldViolations;
    fn try_from(req: pb::DeleteZoneRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        let etag = f.etag("etag", &req.etag);
        let (name, etag) = f.finish((name, etag))?;
        Ok(Self {
            name,
            etag,
            validate_only: req.validate_only,
        })
    }
}

/// The file as text: within the cap and UTF-8 (the error names the line).
fn zone_file(bytes: Vec<u8>) -> Result<String, String> {
    if bytes.is_empty() {
        return Err("is required".into());
    }
    if bytes.len() > MAX_ZONE_FILE_BYTES {
        return Err(format!(
            "is {} bytes; a zone file may be at most {MAX_ZONE_FILE_BYTES} bytes (4 MiB)",
            bytes.len()
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..valid]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        format!("line {line}: is not UTF-8")
    })
}

impl TryFrom<pb::ImportZoneRequest> for ImportZone {
    type Error = FieldViolations;
    fn try_from(req: pb::ImportZoneRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        let etag = f.etag("etag", &req.etag);
        let file = f.take("zone_file", zone_file(req.zone_file));
        let (name, etag, zone_file) = f.finish((name, etag, file))?;
        Ok(Self {
            name,
            zone_file,
            etag,
            validate_only: req.validate_only,
        })
    }
}

fn imported_to_pb(i: Imported) -> pb::ImportZoneResponse {
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    pb::ImportZoneResponse {
        records_created: count(i.created),
        records_updated: count(i.updated),
        records_deleted: count(i.deleted),
        records_unchanged: count(i.unchanged),
        zone: Some(zone_to_pb(i.zone)),
    }
}

#[tonic::async_trait]
impl pb::zone_service_server::ZoneService for ZoneGrpc {
    type ExportZoneStream = BoxStream<'static, Result<pb::ExportZoneResponse, Status>>;

    async fn create_zone(
        &self,
        request: Request<pb::CreateZoneRequest>,
    ) -> Result<Response<pb::CreateZoneResponse>, Status> {
        unary(&self.0, request, Dns::create_zone, |z| {
            pb::CreateZoneResponse {
                zone: Some(zone_to_pb(z)),
            }
        })
        .await
    }

    async fn get_zone(
        &self,
        request: Request<pb::GetZoneRequest>,
    ) -> Result<Response<pb::GetZoneResponse>, Status> {
        unary(&self.0, request, Dns::get_zone, |z| pb::GetZoneResponse {
            zone: Some(zone_to_pb(z)),
        })
        .await
    }

    async fn list_zones(
        &self,
        request: Request<pb::ListZonesRequest>,
    ) -> Result<Response<pb::ListZonesResponse>, Status> {
        unary(&self.0, request, Dns::list_zones, |page| {
            let page = page.map(zone_to_pb);
            pb::ListZonesResponse {
                zones: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn update_zone(
        &self,
        request: Request<pb::UpdateZoneRequest>,
    ) -> Result<Response<pb::UpdateZoneResponse>, Status> {
        unary(&self.0, request, Dns::update_zone, |z| {
            pb::UpdateZoneResponse {
                zone: Some(zone_to_pb(z)),
            }
        })
        .await
    }

    async fn delete_zone(
        &self,
        request: Request<pb::DeleteZoneRequest>,
    ) -> Result<Response<pb::DeleteZoneResponse>, Status> {
        unary(&self.0, request, Dns::delete_zone, |z| {
            pb::DeleteZoneResponse {
                zone: Some(zone_to_pb(z)),
            }
        })
        .await
    }

    async fn export_zone(
        &self,
        request: Request<pb::ExportZoneRequest>,
    ) -> Result<Response<Self::ExportZoneStream>, Status> {
        let (principal, name) = parse(request)?;
        let chunks = self.0.export_zone(&principal, name).await?;
        let mapped = chunks.map(|chunk| {
            chunk
                .map(|content| pb::ExportZoneResponse { content })
                .map_err(Into::into)
        });
        Ok(Response::new(mapped.boxed()))
    }

    async fn import_zone(
        &self,
        request: Request<pb::ImportZoneRequest>,
    ) -> Result<Response<pb::ImportZoneResponse>, Status> {
        unary(&self.0, request, Dns::import_zone, imported_to_pb).await
    }
}
