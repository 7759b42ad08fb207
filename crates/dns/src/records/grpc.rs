//! gRPC adapter of `loopback.dns.v1.RecordService`: each RPC parses its
//! request into the domain's input — every record field checked for its
//! type and named by its path (`record.mx.exchange`,
//! `changes[3].create.ttl`) — makes one domain call and maps the result.

use loopback_proto::dns::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::tx::WriteOptions;
use tonic::{Request, Response, Status};

use super::data::{self, RecordData, RecordType};
use super::{
    BatchChangeRecords, BatchResult, Change, CreateRecord, DeleteRecord, ListRecords, MAX_BATCH,
    NewRecord, Owner, Record, RecordName, RecordPatch, RecordRemoval, UpdateRecord,
};
use crate::zones::grpc::zone_to_pb;
use crate::{Dns, dnsname};

/// Serves RecordService.
#[derive(Debug, Clone)]
pub struct RecordGrpc(pub Dns);

/// The wire type of a record type.
pub fn type_to_pb(t: RecordType) -> pb::RecordType {
    match t {
        RecordType::A => pb::RecordType::A,
        RecordType::Aaaa => pb::RecordType::Aaaa,
        RecordType::Cname => pb::RecordType::Cname,
        RecordType::Mx => pb::RecordType::Mx,
        RecordType::Txt => pb::RecordType::Txt,
        RecordType::Ns => pb::RecordType::Ns,
        RecordType::Srv => pb::RecordType::Srv,
        RecordType::Caa => pb::RecordType::Caa,
    }
}

fn data_to_pb(d: RecordData) -> pb::record::Data {
    use pb::record::Data;
    match d {
        RecordData::A { address } => Data::A(pb::AData {
            address: address.to_string(),
        }),
        RecordData::Aaaa { address } => Data::Aaaa(pb::AaaaData {
            address: address.to_string(),
        }),
        RecordData::Cname { target } => Data::Cname(pb::CnameData { target }),
        RecordData::Mx {
            preference,
            exchange,
        } => Data::Mx(pb::MxData {
            preference: i32::from(preference),
            exchange,
        }),
        RecordData::Txt { text } => Data::Txt(pb::TxtData { text }),
        RecordData::Ns { host } => Data::Ns(pb::NsData { host }),
        RecordData::Srv {
            priority,
            weight,
            port,
            target,
        } => Data::Srv(pb::SrvData {
            priority: i32::from(priority),
            weight: i32::from(weight),
            port: i32::from(port),
            target,
        }),
        RecordData::Caa { flags, tag, value } => Data::Caa(pb::CaaData {
            flags: i32::from(flags),
            tag,
            value,
        }),
    }
}

/// The wire form of a record.
pub fn record_to_pb(r: Record) -> pb::Record {
    pb::Record {
        name: r.name(),
        etag: r.etag(),
        r#type: type_to_pb(r.record_type()).into(),
        rdata: r.data.presentation(),
        owner: r.owner,
        ttl: r.ttl,
        data: Some(data_to_pb(r.data)),
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
    }
}

/// The owner of a record in a request: `@` or an absolute name.
fn owner(f: &mut Fields, field: &str, owner: &str) -> Option<Owner> {
    if owner.trim() == "@" {
        return Some(Owner::Apex);
    }
    f.take(field, dnsname::any_owner_name(owner))
        .map(Owner::Name)
}

/// A record's data, every part checked and named under `path`.
fn record_data(f: &mut Fields, path: &str, d: Option<pb::record::Data>) -> Option<RecordData> {
    use pb::record::Data;
    let at = |part: &str| format!("{path}.{part}");
    match d {
        None => f.take(
            &at("data"),
            Err("set one kind of data: a, aaaa, cname, mx, txt, ns, srv or caa"),
        ),
        Some(Data::A(a)) => f
            .take(&at("a.address"), data::ipv4(&a.address))
            .map(|address| RecordData::A { address }),
        Some(Data::Aaaa(a)) => f
            .take(&at("aaaa.address"), data::ipv6(&a.address))
            .map(|address| RecordData::Aaaa { address }),
        Some(Data::Cname(c)) => f
            .take(&at("cname.target"), dnsname::target_name(&c.target))
            .map(|target| RecordData::Cname { target }),
        Some(Data::Ns(n)) => f
            .take(&at("ns.host"), dnsname::hostname(&n.host))
            .map(|host| RecordData::Ns { host }),
        Some(Data::Txt(t)) => f
            .take(&at("txt.text"), data::txt_text(&t.text))
            .map(|text| RecordData::Txt { text }),
        Some(Data::Mx(mx)) => {
            let preference = f.take(&at("mx.preference"), data::u16_field(mx.preference));
            let exchange = f.take(
                &at("mx.exchange"),
                data::mx_exchange(&mx.exchange, preference.unwrap_or(1)),
            );
            Some(RecordData::Mx {
                preference: preference?,
                exchange: exchange?,
            })
        }
        Some(Data::Srv(srv)) => {
            let priority = f.take(&at("srv.priority"), data::u16_field(srv.priority));
            let weight = f.take(&at("srv.weight"), data::u16_field(srv.weight));
            let port = f.take(&at("srv.port"), data::u16_field(srv.port));
            let target = f.take(&at("srv.target"), data::srv_target(&srv.target));
            Some(RecordData::Srv {
                priority: priority?,
                weight: weight?,
                port: port?,
                target: target?,
            })
        }
        Some(Data::Caa(caa)) => {
            let flags = f.take(&at("caa.flags"), data::caa_flags(caa.flags));
            let tag = f.take(&at("caa.tag"), data::caa_tag(&caa.tag));
            let value = match &tag {
                Some(tag) => f.take(&at("caa.value"), data::caa_value(tag, &caa.value)),
                None => None,
            };
            Some(RecordData::Caa {
                flags: flags?,
                tag: tag?,
                value: value?,
            })
        }
    }
}

/// A record to create, from `r` at `path`.
fn new_record(f: &mut Fields, path: &str, r: pb::Record) -> Option<NewRecord> {
    let owner = owner(f, &format!("{path}.owner"), &r.owner);
    let ttl = f.take(&format!("{path}.ttl"), data::ttl(r.ttl));
    let data = record_data(f, path, r.data);
    Some(NewRecord {
        field: path.to_string(),
        owner: owner?,
        ttl: ttl?,
        data: data?,
    })
}

/// A change of a record, from `r` and its mask at `path`.
fn patch(
    f: &mut Fields,
    path: &str,
    r: pb::Record,
    mask: Option<&prost_types::FieldMask>,
) -> Option<RecordPatch> {
    let name = f.name(&format!("{path}.name"), &r.name);
    let etag = f.etag(&format!("{path}.etag"), &r.etag);
    let mut scoped = Fields::new();
    let paths = scoped.update_mask(mask, &["owner", "ttl", "data"]);
    if let Err(bad) = scoped.into_result() {
        f.extend(bad);
    }
    let owner = if paths.contains(&"owner") {
        owner(f, &format!("{path}.owner"), &r.owner).map(Some)
    } else {
        Some(None)
    };
    let ttl = if paths.contains(&"ttl") {
        f.take(&format!("{path}.ttl"), data::ttl(r.ttl)).map(Some)
    } else {
        Some(None)
    };
    let data = if paths.contains(&"data") {
        record_data(f, path, r.data).map(Some)
    } else {
        Some(None)
    };
    Some(RecordPatch {
        field: path.to_string(),
        name: name?,
        etag: etag?,
        owner: owner?,
        ttl: ttl?,
        data: data?,
    })
}

impl TryFrom<pb::CreateRecordRequest> for CreateRecord {
    type Error = FieldViolations;
    fn try_from(req: pb::CreateRecordRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let zone = f.name("parent", &req.parent);
        let request_id = f.request_id("request_id", &req.request_id);
        let r = f.message("record", req.record);
        let record = new_record(&mut f, "record", r);
        let (zone, request_id, record) = f.finish((zone, request_id, record))?;
        Ok(Self {
            zone,
            record,
            write: WriteOptions {
                request_id,
                validate_only: req.validate_only,
            },
        })
    }
}

impl TryFrom<pb::GetRecordRequest> for RecordName {
    type Error = FieldViolations;
    fn try_from(req: pb::GetRecordRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        f.finish(name)
    }
}

impl TryFrom<pb::ListRecordsRequest> for ListRecords {
    type Error = FieldViolations;
    fn try_from(req: pb::ListRecordsRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let zone = f.name("parent", &req.parent);
        let owner = if req.owner.is_empty() {
            Some(None)
        } else {
            f.take("owner", dnsname::any_owner_name(&req.owner))
                .map(Some)
        };
        let record_type = match pb::RecordType::try_from(req.r#type) {
            Ok(pb::RecordType::Unspecified) => Ok(None),
            Ok(t) => t
                .as_str_name()
                .strip_prefix("RECORD_TYPE_")
                .and_then(|s| s.parse::<RecordType>().ok())
                .map(Some)
                .ok_or("is not a record type"),
            Err(_) => Err("is not a record type"),
        };
        let record_type = f.take("type", record_type);
        let query = format!("records|{}|{}|{}", req.parent, req.owner, req.r#type);
        let page = f.page(req.page_size, &req.page_token, &query);
        let (zone, owner, record_type, page) = f.finish((zone, owner, record_type, page))?;
        Ok(Self {
            zone,
            owner,
            record_type,
            page,
        })
    }
}

impl TryFrom<pb::UpdateRecordRequest> for UpdateRecord {
    type Error = FieldViolations;
    fn try_from(req: pb::UpdateRecordRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let r = f.message("record", req.record);
        let patch = patch(&mut f, "record", r, req.update_mask.as_ref());
        Ok(Self {
            patch: f.finish(patch)?,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::DeleteRecordRequest> for DeleteRecord {
    type Error = FieldViolations;
    fn try_from(req: pb::DeleteRecordRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        let etag = f.etag("etag", &req.etag);
        let (name, etag) = f.finish((name, etag))?;
        Ok(Self {
            removal: RecordRemoval {
                field: String::new(),
                name,
                etag,
            },
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::BatchChangeRecordsRequest> for BatchChangeRecords {
    type Error = FieldViolations;
    fn try_from(req: pb::BatchChangeRecordsRequest) -> Result<Self, FieldViolations> {
        use pb::record_change::Change as C;
        let mut f = Fields::new();
        let zone = f.name("parent", &req.parent);
        let etag = f.etag("etag", &req.etag);
        if req.changes.is_empty() || req.changes.len() > MAX_BATCH {
            f.add("changes", format!("must hold 1 to {MAX_BATCH} changes"));
        }
        let mut changes = Vec::with_capacity(req.changes.len());
        for (i, change) in req.changes.into_iter().enumerate() {
            let at = format!("changes[{i}]");
            let parsed = match change.change {
                Some(C::Create(r)) => {
                    new_record(&mut f, &format!("{at}.create"), r).map(Change::Create)
                }
                Some(C::Update(u)) => {
                    let path = format!("{at}.update.record");
                    let r = f.message(&path, u.record);
                    patch(&mut f, &path, r, u.update_mask.as_ref()).map(Change::Update)
                }
                Some(C::Delete(d)) => {
                    let path = format!("{at}.delete");
                    let name = f.name(&format!("{path}.name"), &d.name);
                    let etag = f.etag(&format!("{path}.etag"), &d.etag);
                    match (name, etag) {
                        (Some(name), Some(etag)) => Some(Change::Delete(RecordRemoval {
                            field: path,
                            name,
                            etag,
                        })),
                        _ => None,
                    }
                }
                None => f.take(&at, Err("set create, update or delete")),
            };
            changes.extend(parsed);
        }
        let (zone, etag) = f.finish((zone, etag))?;
        Ok(Self {
            zone,
            changes,
            etag,
            validate_only: req.validate_only,
        })
    }
}

fn batch_to_pb(b: BatchResult) -> pb::BatchChangeRecordsResponse {
    pb::BatchChangeRecordsResponse {
        zone: Some(zone_to_pb(b.zone)),
        records: b.records.into_iter().map(record_to_pb).collect(),
    }
}

#[tonic::async_trait]
impl pb::record_service_server::RecordService for RecordGrpc {
    async fn create_record(
        &self,
        request: Request<pb::CreateRecordRequest>,
    ) -> Result<Response<pb::CreateRecordResponse>, Status> {
        unary(&self.0, request, Dns::create_record, |r| {
            pb::CreateRecordResponse {
                record: Some(record_to_pb(r)),
            }
        })
        .await
    }

    async fn get_record(
        &self,
        request: Request<pb::GetRecordRequest>,
    ) -> Result<Response<pb::GetRecordResponse>, Status> {
        unary(&self.0, request, Dns::get_record, |r| {
            pb::GetRecordResponse {
                record: Some(record_to_pb(r)),
            }
        })
        .await
    }

    async fn list_records(
        &self,
        request: Request<pb::ListRecordsRequest>,
    ) -> Result<Response<pb::ListRecordsResponse>, Status> {
        unary(&self.0, request, Dns::list_records, |page| {
            let page = page.map(record_to_pb);
            pb::ListRecordsResponse {
                records: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn update_record(
        &self,
        request: Request<pb::UpdateRecordRequest>,
    ) -> Result<Response<pb::UpdateRecordResponse>, Status> {
        unary(&self.0, request, Dns::update_record, |r| {
            pb::UpdateRecordResponse {
                record: Some(record_to_pb(r)),
            }
        })
        .await
    }

    async fn delete_record(
        &self,
        request: Request<pb::DeleteRecordRequest>,
    ) -> Result<Response<pb::DeleteRecordResponse>, Status> {
        unary(&self.0, request, Dns::delete_record, |r| {
            pb::DeleteRecordResponse {
                record: Some(record_to_pb(r)),
            }
        })
        .await
    }

    async fn batch_change_records(
        &self,
        request: Request<pb::BatchChangeRecordsRequest>,
    ) -> Result<Response<pb::BatchChangeRecordsResponse>, Status> {
        unary(&self.0, request, Dns::batch_change_records, batch_to_pb).await
    }
}
