//! Acceptance (dns): records. A table of bad records, each refused with
//! INVALID_ARGUMENT naming its field; names normalised; a batch with one
//! bad change applies nothing; concurrent batches made from the same
//! serial: exactly one applies, the others are ABORTED.

use loopback_proto::dns::v1 as pb;
use loopback_tests::requests::dns::{
    a, cname, create_change, create_record, create_zone, record, txt,
};
use loopback_tests::{Backend, TestServer, backend_tests, bad_fields, reason};
use pb::record::Data;
use tonic::Code;

struct Zone {
    server: TestServer,
    owner: String,
    org: String,
    zone: pb::Zone,
}

/// A verified organization with the zone `example.com.`.
async fn zone(backend: Backend) -> Zone {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    let zone = server
        .zones(&owner)
        .create_zone(create_zone(&org, "example.com"))
        .await
        .unwrap()
        .into_inner()
        .zone
        .unwrap();
    Zone {
        server,
        owner,
        org,
        zone,
    }
}

impl Zone {
    async fn create(&self, r: pb::Record) -> Result<pb::Record, tonic::Status> {
        self.server
            .records(&self.owner)
            .create_record(create_record(&self.zone.name, r))
            .await
            .map(|r| r.into_inner().record.unwrap())
    }

    async fn get(&self) -> pb::Zone {
        self.server
            .zones(&self.owner)
            .get_zone(pb::GetZoneRequest {
                name: self.zone.name.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .zone
            .unwrap()
    }
}

fn mx(owner: &str, preference: i32, exchange: &str) -> pb::Record {
    record(
        owner,
        Data::Mx(pb::MxData {
            preference,
            exchange: exchange.into(),
        }),
    )
}

fn srv(owner: &str, priority: i32, weight: i32, port: i32, target: &str) -> pb::Record {
    record(
        owner,
        Data::Srv(pb::SrvData {
            priority,
            weight,
            port,
            target: target.into(),
        }),
    )
}

fn caa(flags: i32, tag: &str, value: &str) -> pb::Record {
    record(
        "example.com.",
        Data::Caa(pb::CaaData {
            flags,
            tag: tag.into(),
            value: value.into(),
        }),
    )
}

fn aaaa(owner: &str, address: &str) -> pb::Record {
    record(
        owner,
        Data::Aaaa(pb::AaaaData {
            address: address.into(),
        }),
    )
}

fn ns(owner: &str, host: &str) -> pb::Record {
    record(owner, Data::Ns(pb::NsData { host: host.into() }))
}

fn with_ttl(mut r: pb::Record, ttl: i32) -> pb::Record {
    r.ttl = ttl;
    r
}

/// Bad records and the one field each is refused for.
fn bad_records() -> Vec<(&'static str, pb::Record, &'static str)> {
    let long_label = format!("{}.example.com.", "a".repeat(64));
    let long_txt = "x".repeat(4001);
    vec![
        ("empty owner", a("", "192.0.2.1"), "record.owner"),
        (
            "owner in another zone",
            a("www.example.org.", "192.0.2.1"),
            "record.owner",
        ),
        ("relative owner", a("www", "192.0.2.1"), "record.owner"),
        (
            "wildcard not leftmost",
            a("a.*.example.com", "192.0.2.1"),
            "record.owner",
        ),
        (
            "wildcard inside a label",
            a("*a.example.com", "192.0.2.1"),
            "record.owner",
        ),
        (
            "empty label",
            a("a..example.com", "192.0.2.1"),
            "record.owner",
        ),
        (
            "space in owner",
            a("a b.example.com", "192.0.2.1"),
            "record.owner",
        ),
        (
            "label over 63",
            a(Box::leak(long_label.into_boxed_str()), "192.0.2.1"),
            "record.owner",
        ),
        (
            "bang in owner",
            a("a!b.example.com", "192.0.2.1"),
            "record.owner",
        ),
        (
            "ttl too short",
            with_ttl(a("t1.example.com", "192.0.2.1"), 5),
            "record.ttl",
        ),
        (
            "ttl too long",
            with_ttl(a("t2.example.com", "192.0.2.1"), 700_000),
            "record.ttl",
        ),
        (
            "negative ttl",
            with_ttl(a("t3.example.com", "192.0.2.1"), -1),
            "record.ttl",
        ),
        (
            "no data",
            pb::Record {
                owner: "x.example.com".into(),
                ..Default::default()
            },
            "record.data",
        ),
        ("empty A", a("x.example.com", ""), "record.a.address"),
        (
            "A out of range",
            a("x.example.com", "256.1.1.1"),
            "record.a.address",
        ),
        (
            "A with leading zero",
            a("x.example.com", "192.0.2.01"),
            "record.a.address",
        ),
        (
            "IPv6 in an A",
            a("x.example.com", "2001:db8::1"),
            "record.a.address",
        ),
        (
            "IPv4 in an AAAA",
            aaaa("x.example.com", "192.0.2.1"),
            "record.aaaa.address",
        ),
        (
            "bad AAAA",
            aaaa("x.example.com", "2001:db8::g"),
            "record.aaaa.address",
        ),
        (
            "empty CNAME",
            cname("x.example.com", ""),
            "record.cname.target",
        ),
        (
            "wildcard CNAME target",
            cname("x.example.com", "*.example.net"),
            "record.cname.target",
        ),
        (
            "single-label CNAME target",
            cname("x.example.com", "single"),
            "record.cname.target",
        ),
        (
            "CNAME at the apex",
            cname("example.com.", "www.example.net"),
            "record.owner",
        ),
        (
            "CNAME beside an A",
            cname("www.example.com", "other.example.net"),
            "record.owner",
        ),
        (
            "A beside a CNAME",
            a("alias.example.com", "192.0.2.9"),
            "record.owner",
        ),
        (
            "negative MX preference",
            mx("m.example.com", -1, "mail.example.com"),
            "record.mx.preference",
        ),
        (
            "MX preference over 65535",
            mx("m.example.com", 65_536, "mail.example.com"),
            "record.mx.preference",
        ),
        (
            "empty MX exchange",
            mx("m.example.com", 10, ""),
            "record.mx.exchange",
        ),
        (
            "MX exchange not a FQDN",
            mx("m.example.com", 10, "mail"),
            "record.mx.exchange",
        ),
        (
            "null MX with a preference",
            mx("m.example.com", 10, "."),
            "record.mx.exchange",
        ),
        (
            "MX exchange not a hostname",
            mx("m.example.com", 10, "_mail.example.com"),
            "record.mx.exchange",
        ),
        ("empty TXT", txt("t.example.com", ""), "record.txt.text"),
        (
            "TXT over 4000 bytes",
            txt("t.example.com", Box::leak(long_txt.into_boxed_str())),
            "record.txt.text",
        ),
        (
            "TXT with a line break",
            txt("t.example.com", "a\nb"),
            "record.txt.text",
        ),
        (
            "NS host not a FQDN",
            ns("sub.example.com", "ns"),
            "record.ns.host",
        ),
        (
            "NS at the apex",
            ns("example.com.", "ns1.example.net"),
            "record.owner",
        ),
        (
            "SRV without _service._proto",
            srv("sip.example.com", 1, 1, 5060, "sip.example.com"),
            "record.owner",
        ),
        (
            "SRV with an unknown proto",
            srv("_sip._foo.example.com", 1, 1, 5060, "sip.example.com"),
            "record.owner",
        ),
        (
            "SRV port over 65535",
            srv("_sip._tcp.example.com", 1, 1, 70_000, "sip.example.com"),
            "record.srv.port",
        ),
        (
            "negative SRV priority",
            srv("_sip._tcp.example.com", -5, 1, 5060, "sip.example.com"),
            "record.srv.priority",
        ),
        (
            "SRV weight over 65535",
            srv("_sip._tcp.example.com", 1, 65_536, 5060, "sip.example.com"),
            "record.srv.weight",
        ),
        (
            "SRV target not a FQDN",
            srv("_sip._tcp.example.com", 1, 1, 5060, "x"),
            "record.srv.target",
        ),
        (
            "CAA flags 1",
            caa(1, "issue", "letsencrypt.org"),
            "record.caa.flags",
        ),
        (
            "CAA flags 256",
            caa(256, "issue", "letsencrypt.org"),
            "record.caa.flags",
        ),
        (
            "unknown CAA tag",
            caa(0, "bogus", "letsencrypt.org"),
            "record.caa.tag",
        ),
        (
            "CAA issuer not a domain",
            caa(0, "issue", "not a domain!"),
            "record.caa.value",
        ),
        (
            "CAA iodef over ftp",
            caa(0, "iodef", "ftp://x.example.com"),
            "record.caa.value",
        ),
        (
            "CAA iodef not a URL",
            caa(0, "iodef", "not a url"),
            "record.caa.value",
        ),
        ("empty CAA value", caa(0, "issue", ""), "record.caa.value"),
        (
            "duplicate in an RRset",
            a("WWW.example.com.", "192.0.2.1"),
            "record.a.address",
        ),
        (
            "TTL unlike its RRset's",
            with_ttl(a("www.example.com", "192.0.2.2"), 600),
            "record.ttl",
        ),
    ]
}

async fn bad_records_are_refused_naming_their_field(backend: Backend) {
    let z = zone(backend).await;
    z.create(a("www.example.com", "192.0.2.1")).await.unwrap();
    z.create(cname("alias.example.com", "www.example.com"))
        .await
        .unwrap();
    let before = z.get().await;
    let table = bad_records();
    assert!(table.len() >= 40, "{} bad records", table.len());
    for (what, record, field) in table {
        let err = z.create(record).await.expect_err(what);
        assert_eq!(err.code(), Code::InvalidArgument, "{what}: {err:?}");
        assert_eq!(bad_fields(&err), [field], "{what}: {err:?}");
    }
    // And in requests: the parent and request id.
    let mut request = create_record(
        "organizations/nope/zones/x",
        a("x.example.com", "192.0.2.1"),
    );
    request.request_id = "not-a-uuid".into();
    let err = z
        .server
        .records(&z.owner)
        .create_record(request)
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["parent", "request_id"]);
    let after = z.get().await;
    assert_eq!(
        (after.serial, after.record_count),
        (before.serial, before.record_count)
    );
    z.server.stop().await;
}

async fn names_are_normalised_and_ttls_follow_their_rrset(backend: Backend) {
    let z = zone(backend).await;
    let www = z
        .create(with_ttl(a("WWW.Example.COM", "192.0.2.1"), 600))
        .await
        .unwrap();
    assert_eq!(
        (www.owner.as_str(), www.ttl, www.r#type),
        ("www.example.com.", 600, pb::RecordType::A as i32)
    );
    // TTL 0: the RRset's TTL; a new RRset gets the zone's default.
    let second = z.create(a("www.example.com.", "192.0.2.2")).await.unwrap();
    assert_eq!(second.ttl, 600);
    let v6 = z
        .create(aaaa("www.example.com", "2001:DB8:0::1"))
        .await
        .unwrap();
    assert_eq!((v6.ttl, v6.rdata.as_str()), (300, "2001:db8::1"));
    let alias = z
        .create(cname("Shop.example.com", "Shops.Example.NET."))
        .await
        .unwrap();
    assert_eq!(alias.rdata, "shops.example.net.");
    let idn = z
        .create(a("bücher.example.com", "192.0.2.3"))
        .await
        .unwrap();
    assert_eq!(idn.owner, "xn--bcher-kva.example.com.");
    let wild = z
        .create(a("*.apps.example.com", "192.0.2.4"))
        .await
        .unwrap();
    assert_eq!(wild.owner, "*.apps.example.com.");
    let apex = z.create(a("@", "192.0.2.5")).await.unwrap();
    assert_eq!(apex.owner, "example.com.");
    let dkim = z
        .create(txt("s1._domainkey.example.com", &"k".repeat(300)))
        .await
        .unwrap();
    assert_eq!(
        dkim.rdata.matches('"').count(),
        4,
        "chunked: {}",
        dkim.rdata
    );
    let null_mx = z.create(mx("nomail.example.com", 0, ".")).await.unwrap();
    assert_eq!(null_mx.rdata, "0 .");

    // Filters by owner and type.
    let list = |owner: &str, t: pb::RecordType| pb::ListRecordsRequest {
        parent: z.zone.name.clone(),
        owner: owner.into(),
        r#type: t.into(),
        ..Default::default()
    };
    let at_www = z
        .server
        .records(&z.owner)
        .list_records(list("www.EXAMPLE.com", pb::RecordType::Unspecified))
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(at_www.len(), 3);
    let a_at_www = z
        .server
        .records(&z.owner)
        .list_records(list("www.example.com", pb::RecordType::A))
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(a_at_www.len(), 2);

    // Updates: moving a record checks its new place; etags guard it.
    let moved = z
        .server
        .records(&z.owner)
        .update_record(pb::UpdateRecordRequest {
            record: Some(pb::Record {
                name: second.name.clone(),
                owner: "alias2.example.com".into(),
                etag: second.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["owner".into()],
            }),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(
        (moved.owner.as_str(), moved.rdata.as_str()),
        ("alias2.example.com.", "192.0.2.2")
    );
    let stale = z
        .server
        .records(&z.owner)
        .delete_record(pb::DeleteRecordRequest {
            name: second.name.clone(),
            etag: second.etag.clone(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let onto_cname = z
        .server
        .records(&z.owner)
        .update_record(pb::UpdateRecordRequest {
            record: Some(pb::Record {
                name: moved.name.clone(),
                owner: "shop.example.com".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["owner".into()],
            }),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&onto_cname), ["record.owner"]);
    z.server
        .records(&z.owner)
        .delete_record(pb::DeleteRecordRequest {
            name: moved.name.clone(),
            etag: moved.etag.clone(),
            validate_only: false,
        })
        .await
        .unwrap();
    let zone_now = z.get().await;
    assert_eq!(zone_now.record_count, 8);
    assert_eq!(zone_now.serial, 12, "one serial per change");
    z.server.stop().await;
}

async fn a_batch_with_one_bad_change_applies_nothing(backend: Backend) {
    let z = zone(backend).await;
    let www = z.create(a("www.example.com", "192.0.2.1")).await.unwrap();
    let before = z.get().await;
    let changes = vec![
        create_change(a("one.example.com", "192.0.2.11")),
        create_change(a("two.example.com", "192.0.2.12")),
        pb::RecordChange {
            change: Some(pb::record_change::Change::Update(pb::RecordUpdate {
                record: Some(pb::Record {
                    name: www.name.clone(),
                    ttl: 900,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["ttl".into()],
                }),
            })),
        },
        create_change(cname("one.example.com", "elsewhere.example.net")),
        create_change(txt("three.example.com", "fine")),
    ];
    let batch = |changes: Vec<pb::RecordChange>, etag: &str| pb::BatchChangeRecordsRequest {
        parent: z.zone.name.clone(),
        changes,
        etag: etag.into(),
        validate_only: false,
    };
    let err = z
        .server
        .records(&z.owner)
        .batch_change_records(batch(changes.clone(), ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&err),
        ["changes[0].create.owner", "changes[3].create.owner"]
    );
    let after = z.get().await;
    assert_eq!(
        (after.serial, after.record_count),
        (before.serial, before.record_count)
    );
    let listed = z
        .server
        .records(&z.owner)
        .list_records(pb::ListRecordsRequest {
            parent: z.zone.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(listed.len(), 1, "nothing of the batch was applied");
    assert_eq!(listed[0].ttl, 300);

    // A missing record applies nothing either.
    let mut missing = changes[..3].to_vec();
    missing.push(loopback_tests::requests::dns::delete_change(&format!(
        "{}/records/{}",
        z.zone.name,
        uuid::Uuid::now_v7()
    )));
    let err = z
        .server
        .records(&z.owner)
        .batch_change_records(batch(missing, ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(z.get().await.serial, before.serial);

    // Without the bad change it applies as one: one serial, every record.
    let mut good = changes;
    good.remove(3);
    let done = z
        .server
        .records(&z.owner)
        .batch_change_records(batch(good, &before.etag))
        .await
        .unwrap()
        .into_inner();
    let zone_after = done.zone.unwrap();
    assert_eq!(
        (zone_after.serial, zone_after.record_count),
        (before.serial + 1, 4)
    );
    assert_eq!(done.records.len(), 4);
    assert_eq!(done.records[2].ttl, 900);
    z.server.stop().await;
}

async fn of_concurrent_batches_from_one_serial_exactly_one_applies(backend: Backend) {
    let z = zone(backend).await;
    let serial = z.get().await.etag;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let channel = z.server.own_connection(&z.owner).await;
        let request = pb::BatchChangeRecordsRequest {
            parent: z.zone.name.clone(),
            changes: vec![
                create_change(a(&format!("h{i}.example.com"), "192.0.2.1")),
                create_change(txt(&format!("h{i}.example.com"), "batch")),
            ],
            etag: serial.clone(),
            validate_only: false,
        };
        tasks.push(tokio::spawn(async move {
            pb::record_service_client::RecordServiceClient::new(channel)
                .batch_change_records(request)
                .await
        }));
    }
    let mut applied = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => applied += 1,
            Err(e) => {
                assert_eq!(e.code(), Code::Aborted, "{e:?}");
                assert_eq!(reason(&e).as_deref(), Some("ETAG_MISMATCH"));
            }
        }
    }
    assert_eq!(applied, 1, "exactly one batch applies");
    let after = z.get().await;
    assert_eq!((after.serial, after.record_count), (2, 2));
    let _ = &z.org;
    z.server.stop().await;
}

backend_tests!(
    bad_records_are_refused_naming_their_field,
    names_are_normalised_and_ttls_follow_their_rrset,
    a_batch_with_one_bad_change_applies_nothing,
    of_concurrent_batches_from_one_serial_exactly_one_applies,
);
