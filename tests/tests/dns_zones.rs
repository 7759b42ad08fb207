//! Acceptance (dns): zones. A zone with every record type exports (as a
//! stream) to a master file BIND's `named-checkzone` accepts and that
//! re-imports to the same records; a bad file is refused naming its line;
//! the serial moves with every change and guards changes as the etag;
//! listing stays one index range on 100,000 records.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use futures::StreamExt as _;
use loopback_dns::records::{Record, RecordData};
use loopback_proto::dns::v1 as pb;
use loopback_tests::requests::dns::{a, create_change, create_record, create_zone, record, txt};
use loopback_tests::{Backend, TestServer, backend_tests, bad_fields, reason};
use sea_orm::{ConnectionTrait as _, Database, Statement};
use tonic::Code;

/// BIND's zone checker: on PATH, or the test fails saying how to get it.
fn named_checkzone() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
            .map(|dir| dir.join("named-checkzone"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "named-checkzone is not installed: install BIND's tools (apt-get install bind9-utils); scripts/test.sh does"
        )
    })
}

fn every_type(apex: &str) -> Vec<pb::Record> {
    use pb::record::Data;
    let at = |label: &str| {
        if label.is_empty() {
            apex.to_string()
        } else {
            format!("{label}.{apex}")
        }
    };
    vec![
        a(&at("www"), "192.0.2.10"),
        record(
            &at("www"),
            Data::Aaaa(pb::AaaaData {
                address: "2001:DB8:0:0::10".into(),
            }),
        ),
        record(&at("app"), Data::Cname(pb::CnameData { target: at("www") })),
        record(
            &at(""),
            Data::Mx(pb::MxData {
                preference: 10,
                exchange: at("mail"),
            }),
        ),
        a(&at("mail"), "192.0.2.25"),
        txt(&at(""), "v=spf1 mx -all"),
        txt(&at("quoted"), "say \"hi\" to café \\o/"),
        txt(&format!("s1._domainkey.{apex}"), &"k".repeat(600)),
        record(
            &at("sub"),
            Data::Ns(pb::NsData {
                host: at("ns1.sub"),
            }),
        ),
        a(&at("ns1.sub"), "192.0.2.53"),
        record(
            &format!("_sip._tcp.{apex}"),
            Data::Srv(pb::SrvData {
                priority: 10,
                weight: 5,
                port: 5060,
                target: at("sip"),
            }),
        ),
        a(&at("sip"), "192.0.2.60"),
        record(
            &at(""),
            Data::Caa(pb::CaaData {
                flags: 0,
                tag: "issue".into(),
                value: "letsencrypt.org".into(),
            }),
        ),
        record(
            &at(""),
            Data::Caa(pb::CaaData {
                flags: 128,
                tag: "iodef".into(),
                value: "mailto:security@example.com".into(),
            }),
        ),
        a(&format!("*.apps.{apex}"), "192.0.2.80"),
    ]
}

async fn export(server: &TestServer, token: &str, zone: &str) -> (String, usize) {
    let mut stream = server
        .zones(token)
        .export_zone(pb::ExportZoneRequest { name: zone.into() })
        .await
        .unwrap()
        .into_inner();
    let mut file = String::new();
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap().content;
        assert!(chunk.len() <= 64 * 1024, "chunks stay within 64 KiB");
        assert!(chunk.ends_with('\n'), "chunks hold whole lines");
        file.push_str(&chunk);
        chunks += 1;
    }
    (file, chunks)
}

/// (owner, type, ttl, rdata) of every record of a zone, via ListRecords.
async fn records_of(
    server: &TestServer,
    token: &str,
    zone: &str,
) -> BTreeSet<(String, i32, i32, String)> {
    let mut out = BTreeSet::new();
    let mut page_token = String::new();
    loop {
        let page = server
            .records(token)
            .list_records(pb::ListRecordsRequest {
                parent: zone.into(),
                page_size: 7,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        for r in page.records {
            out.insert((r.owner, r.r#type, r.ttl, r.rdata));
        }
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

async fn batch(
    server: &TestServer,
    token: &str,
    zone: &str,
    records: Vec<pb::Record>,
) -> pb::BatchChangeRecordsResponse {
    server
        .records(token)
        .batch_change_records(pb::BatchChangeRecordsRequest {
            parent: zone.into(),
            changes: records.into_iter().map(create_change).collect(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

async fn import(
    server: &TestServer,
    token: &str,
    zone: &str,
    file: &str,
) -> Result<pb::ImportZoneResponse, tonic::Status> {
    server
        .zones(token)
        .import_zone(pb::ImportZoneRequest {
            name: zone.into(),
            zone_file: file.as_bytes().to_vec(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn every_record_type_exports_to_a_file_bind_accepts_and_reimports_to_the_same_records(
    backend: Backend,
) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let zone = server
        .zones(&owner)
        .create_zone(create_zone(&org.name, "Example.COM"))
        .await
        .unwrap()
        .into_inner()
        .zone
        .unwrap();
    assert_eq!(zone.dns_name, "example.com.");
    assert_eq!((zone.serial, zone.etag.as_str()), (1, "\"1\""));
    assert_eq!(
        zone.nameservers,
        ["ns1.loopback.cloud.", "ns2.loopback.cloud."]
    );
    let done = batch(&server, &owner, &zone.name, every_type("example.com.")).await;
    assert_eq!(
        done.zone.as_ref().unwrap().serial,
        2,
        "one batch, one serial"
    );
    assert_eq!(done.zone.as_ref().unwrap().record_count, 15);
    let types: BTreeSet<i32> = done.records.iter().map(|r| r.r#type).collect();
    assert_eq!(types.len(), 8, "every record type");

    let (file, _) = export(&server, &owner, &zone.name).await;
    assert!(
        file.contains("\tIN\tSOA\tns1.loopback.cloud. hostmaster.loopback.cloud. 2 "),
        "{file}"
    );
    assert!(
        file.contains("www.example.com.\t300\tIN\tAAAA\t2001:db8::10\n"),
        "{file}"
    );
    assert!(file.contains(r#""say \"hi\" to café \\o/""#), "{file}");
    let dkim = file
        .lines()
        .find(|l| l.starts_with("s1._domainkey"))
        .unwrap();
    assert_eq!(
        dkim.matches('"').count(),
        6,
        "600 bytes of TXT in 3 strings: {dkim}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.com.zone");
    std::fs::write(&path, &file).unwrap();
    let checked = Command::new(named_checkzone())
        .arg("example.com")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "named-checkzone refused the export:\n{}{}\n{file}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(String::from_utf8_lossy(&checked.stdout).contains("loaded serial 2"));

    // Another organization imports the file into its own zone of that name.
    let other_owner = server.account_token("other@example.com");
    let other = server.verified_org(&other_owner, "Other").await;
    let copy = server
        .zones(&other_owner)
        .create_zone(create_zone(&other.name, "example.com"))
        .await
        .unwrap()
        .into_inner()
        .zone
        .unwrap();
    let imported = import(&server, &other_owner, &copy.name, &file)
        .await
        .unwrap();
    assert_eq!(
        (
            imported.records_created,
            imported.records_deleted,
            imported.records_unchanged
        ),
        (15, 0, 0)
    );
    assert_eq!(
        records_of(&server, &other_owner, &copy.name).await,
        records_of(&server, &owner, &zone.name).await,
        "the import holds exactly the exported records"
    );

    // Importing a zone's own export changes nothing, not even the serial.
    let again = import(&server, &owner, &zone.name, &file).await.unwrap();
    assert_eq!((again.records_unchanged, again.records_created), (15, 0));
    assert_eq!(again.zone.unwrap().serial, 2);
    server.stop().await;
}

async fn a_bad_zone_file_is_refused_naming_its_lines_and_applies_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let zone = server
        .zones(&owner)
        .create_zone(create_zone(&org.name, "example.com"))
        .await
        .unwrap()
        .into_inner()
        .zone
        .unwrap();
    server
        .records(&owner)
        .create_record(create_record(
            &zone.name,
            a("keep.example.com", "192.0.2.1"),
        ))
        .await
        .unwrap();
    let file = "$ORIGIN example.com.\n$TTL 300\nwww IN A 192.0.2.1\n\n; a comment\n\
                bad IN A 300.1.1.1\nmail IN MX 10 mail.example.com.\n\
                www IN CNAME other.example.net.\nout.example.org. IN A 192.0.2.9\n\
                $INCLUDE /etc/passwd\n";
    let err = import(&server, &owner, &zone.name, file).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(bad_fields(&err).iter().all(|f| f == "zone_file"), "{err:?}");
    let details: Vec<String> = {
        use tonic_types::StatusExt as _;
        err.get_details_bad_request()
            .unwrap()
            .field_violations
            .into_iter()
            .map(|v| v.description)
            .collect()
    };
    for line in ["line 6: ", "line 9: ", "line 10: "] {
        assert!(
            details.iter().any(|d| d.starts_with(line)),
            "{line} named in {details:?}"
        );
    }
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("line 8: ") && d.contains("CNAME")),
        "{details:?}"
    );
    // Nothing changed.
    let zone_now = server
        .zones(&owner)
        .get_zone(pb::GetZoneRequest {
            name: zone.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .zone
        .unwrap();
    assert_eq!((zone_now.serial, zone_now.record_count), (2, 1));

    // Syntax errors name their line too; a file past 4 MiB is refused.
    let err = import(
        &server,
        &owner,
        &zone.name,
        "www 300 IN A 192.0.2.1\nx 300 IN TXT \"open\n",
    )
    .await
    .unwrap_err();
    assert_eq!(bad_fields(&err), ["zone_file"]);
    assert!(err.message().contains("line 2: "), "{err:?}");
    let huge = "; padding\n".repeat(430_000);
    let err = import(&server, &owner, &zone.name, &huge)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("4 MiB"), "{err:?}");

    // A good import replaces the records, all at once.
    let ok = import(
        &server,
        &owner,
        &zone.name,
        "@ 600 IN TXT \"hello\"\nwww IN A 192.0.2.7\n",
    )
    .await
    .unwrap();
    assert_eq!((ok.records_created, ok.records_deleted), (2, 1));
    let zone_now = ok.zone.unwrap();
    assert_eq!((zone_now.serial, zone_now.record_count), (3, 2));
    let records = records_of(&server, &owner, &zone.name).await;
    assert!(records.contains(&(
        "www.example.com.".into(),
        pb::RecordType::A as i32,
        600,
        "192.0.2.7".into()
    )));
    server.stop().await;
}

async fn large_zones_export_in_chunks_and_the_serial_guards_changes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    server
        .set_capabilities(&org.name, &[("max_dns_records_per_zone", 5000)], &[])
        .await;
    let zone = server
        .zones(&owner)
        .create_zone(create_zone(&org.name, "big.example.com"))
        .await
        .unwrap()
        .into_inner()
        .zone
        .unwrap();
    let file: String = (0..3000)
        .map(|i| format!("host{i} 300 IN TXT \"{}\"\n", "x".repeat(20)))
        .collect();
    // The limit reaches dns through the feed; wait for it.
    let deadline = Instant::now() + std::time::Duration::from_secs(15);
    let imported = loop {
        match import(&server, &owner, &zone.name, &file).await {
            Ok(done) => break done,
            Err(e)
                if reason(&e).as_deref() == Some("LIMIT_REACHED") && Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    };
    assert_eq!(imported.records_created, 3000);
    let (exported, chunks) = export(&server, &owner, &zone.name).await;
    assert!(chunks >= 2, "{} bytes in {chunks} chunk(s)", exported.len());
    assert_eq!(
        exported.lines().filter(|l| l.contains("\tTXT\t")).count(),
        3000
    );

    // The serial is the zone's etag: a stale one is ABORTED.
    let serial = imported.zone.unwrap().serial;
    let stale = server
        .zones(&owner)
        .update_zone(pb::UpdateZoneRequest {
            zone: Some(pb::Zone {
                name: zone.name.clone(),
                description: "x".into(),
                etag: format!("\"{}\"", serial - 1),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["description".into()],
            }),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    assert_eq!(reason(&stale).as_deref(), Some("ETAG_MISMATCH"));
    let updated = server
        .zones(&owner)
        .update_zone(pb::UpdateZoneRequest {
            zone: Some(pb::Zone {
                name: zone.name.clone(),
                description: "x".into(),
                default_ttl: 900,
                etag: format!("\"{serial}\""),
                ..Default::default()
            }),
            update_mask: None,
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .zone
        .unwrap();
    assert_eq!((updated.serial, updated.default_ttl), (serial + 1, 900));

    // validate_only writes nothing; request_id makes a create idempotent.
    let mut request = create_zone(&org.name, "second.example.com");
    request.validate_only = true;
    server
        .zones(&owner)
        .create_zone(request.clone())
        .await
        .unwrap();
    request.validate_only = false;
    request.request_id = uuid::Uuid::new_v4().to_string();
    let first = server
        .zones(&owner)
        .create_zone(request.clone())
        .await
        .unwrap()
        .into_inner();
    let retry = server
        .zones(&owner)
        .create_zone(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.zone.unwrap().name, retry.zone.unwrap().name);
    let zones = server
        .zones(&owner)
        .list_zones(pb::ListZonesRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .zones;
    assert_eq!(zones.len(), 2);

    // Deleting the zone deletes its records.
    server
        .zones(&owner)
        .delete_zone(pb::DeleteZoneRequest {
            name: zone.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let gone = server
        .records(&owner)
        .list_records(pb::ListRecordsRequest {
            parent: zone.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    server.stop().await;
}

async fn listing_a_zone_of_100_000_records_reads_one_index_range(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let zone = server
        .zones(&owner)
        .create_zone(create_zone(&org.name, "huge.example.com"))
        .await
        .unwrap()
        .into_inner()
        .zone
        .unwrap();
    let org_id: uuid::Uuid = org
        .name
        .trim_start_matches("organizations/")
        .parse()
        .unwrap();
    let zone_id: uuid::Uuid = zone.name.rsplit('/').next().unwrap().parse().unwrap();
    // 100,000 records straight through the store (not RPC by RPC): 50,000
    // names with an A and a TXT record each.
    let db = Database::connect(&server.dns_database_url()).await.unwrap();
    let now = chrono::Utc::now();
    let started = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..50_000_u32 {
        let owner_name = format!("h{i:05}.huge.example.com.");
        for data in [
            RecordData::A {
                address: std::net::Ipv4Addr::from(0x0a00_0000 + i),
            },
            RecordData::Txt {
                text: format!("host {i}"),
            },
        ] {
            batch.push(Record {
                id: uuid::Uuid::now_v7(),
                organization: org_id,
                project: None,
                zone: zone_id,
                owner: owner_name.clone(),
                ttl: 300,
                data,
                version: 1,
                create_time: now,
                update_time: now,
            });
        }
        if batch.len() >= 10_000 {
            loopback_dns::records::store::insert_many(&db, &batch)
                .await
                .unwrap();
            batch.clear();
        }
    }
    println!("inserted 100,000 records in {:?}", started.elapsed());
    if backend == Backend::Postgres {
        db.execute_unprepared("ANALYZE records").await.unwrap();
    }

    let list = |owner_filter: &str, record_type: pb::RecordType, page_token: String| {
        pb::ListRecordsRequest {
            parent: zone.name.clone(),
            page_size: 50,
            page_token,
            owner: owner_filter.into(),
            r#type: record_type.into(),
        }
    };
    let timed = Instant::now();
    let page = server
        .records(&owner)
        .list_records(list("", pb::RecordType::Txt, String::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.records.len(), 50);
    assert!(
        page.records
            .iter()
            .all(|r| r.r#type == pb::RecordType::Txt as i32)
    );
    let next = server
        .records(&owner)
        .list_records(list("", pb::RecordType::Txt, page.next_page_token.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.records.len(), 50);
    assert!(
        next.records[0].owner > page.records[49].owner,
        "keyset order"
    );
    let one = server
        .records(&owner)
        .list_records(list(
            "H49999.huge.example.com",
            pb::RecordType::Unspecified,
            String::new(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.records.len(), 2, "both records of one name");
    assert!(one.next_page_token.is_empty());
    println!(
        "three filtered pages of a 100,000-record zone ({backend:?}) in {:?}",
        timed.elapsed()
    );

    // The plan: an index range, no sort of the zone.
    let (sql, expect) = match backend {
        Backend::Sqlite => (
            format!(
                "EXPLAIN QUERY PLAN SELECT * FROM records WHERE zone_id = '{zone_id}' AND record_type = 'TXT' AND (owner, id) > ('h00100.huge.example.com.', '0') ORDER BY owner, record_type, id LIMIT 51"
            ),
            "records_zone_type_owner_id",
        ),
        Backend::Postgres => (
            format!(
                "EXPLAIN SELECT * FROM records WHERE zone_id = '{zone_id}' AND record_type = 'TXT' AND (owner, id) > ('h00100.huge.example.com.', '0') ORDER BY owner, record_type, id LIMIT 51"
            ),
            "records_zone_type_owner_id",
        ),
    };
    let plan: Vec<String> = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|row| {
            row.try_get_by_index::<String>(if backend == Backend::Sqlite { 3 } else { 0 })
                .unwrap()
        })
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains(expect), "{plan}");
    assert!(
        !plan.contains("TEMP B-TREE") && !plan.contains("Sort"),
        "{plan}"
    );
    server.stop().await;
}

backend_tests!(
    every_record_type_exports_to_a_file_bind_accepts_and_reimports_to_the_same_records,
    a_bad_zone_file_is_refused_naming_its_lines_and_applies_nothing,
    large_zones_export_in_chunks_and_the_serial_guards_changes,
    listing_a_zone_of_100_000_records_reads_one_index_range,
);
