//! The service kit moved create idempotency from per-table `request_id`
//! columns to the kit's `kit_request_ids` table. A retry that spans the
//! upgrade must still find what its first attempt made: databases at the
//! last pre-kit migration, holding creates with request ids, are upgraded by
//! loopbackd's start and the retries return the originals, creating nothing.
//! A payment method stored before onboarding existed is reported to
//! org-core's checklist after the upgrade.

use loopback_billing::entity::payment_method;
use loopback_org_core::entity::{account, membership, membership_role, organization, project};
use loopback_proto::orgcore::v1 as pb;
use loopback_tests::{Backend, TestServer, backend_tests, pg, requests};
use sea_orm::{ActiveValue::Set, Database, EntityTrait as _};
use sea_orm_migration::MigratorTrait as _;
use uuid::Uuid;

/// The last migration each service shipped before the kit.
const PRE_KIT: u32 = 3;

async fn database(backend: Backend, dir: &std::path::Path, service: &str) -> String {
    match backend {
        Backend::Sqlite => {
            loopback_runtime::db::sqlite_url(dir, &format!("{service}-old.db")).unwrap()
        }
        Backend::Postgres => pg::fresh_database().await,
    }
}

async fn retries_across_the_upgrade_find_their_original(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (core_url, billing_url) = (
        database(backend, dir.path(), "org-core").await,
        database(backend, dir.path(), "billing").await,
    );
    let (alice, org, project_id, method_id) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let (org_rid, project_rid, method_rid) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let now = chrono::Utc::now();

    // org-core as it was: an organization and a project created with request ids.
    let core = Database::connect(&core_url).await.unwrap();
    loopback_org_core::migration::Migrator::up(&core, Some(PRE_KIT))
        .await
        .unwrap();
    account::Entity::insert(account::ActiveModel {
        id: Set(alice.to_string()),
        subject: Set("sub-alice@example.com".into()),
        email: Set("alice@example.com".into()),
        display_name: Set(String::new()),
        create_time: Set(now),
    })
    .exec_without_returning(&core)
    .await
    .unwrap();
    organization::Entity::insert(organization::ActiveModel {
        id: Set(org.to_string()),
        display_name: Set("Old".into()),
        verification_status: Set("VERIFIED".into()),
        state: Set("ACTIVE".into()),
        create_time: Set(now),
        update_time: Set(now),
        delete_time: Set(None),
        purge_time: Set(None),
        version: Set(1),
        lock_seq: Set(0),
        creator_account_id: Set(Some(alice.to_string())),
        request_id: Set(Some(org_rid.to_string())),
        // Not a column yet: the plans migration adds it.
        ..Default::default()
    })
    .exec_without_returning(&core)
    .await
    .unwrap();
    membership::Entity::insert(membership::ActiveModel {
        organization_id: Set(org.to_string()),
        account_id: Set(alice.to_string()),
        create_time: Set(now),
        update_time: Set(now),
        version: Set(1),
    })
    .exec_without_returning(&core)
    .await
    .unwrap();
    membership_role::Entity::insert(membership_role::ActiveModel {
        organization_id: Set(org.to_string()),
        account_id: Set(alice.to_string()),
        role: Set("owner".into()),
    })
    .exec_without_returning(&core)
    .await
    .unwrap();
    project::Entity::insert(project::ActiveModel {
        id: Set(project_id.to_string()),
        organization_id: Set(org.to_string()),
        display_name: Set("web".into()),
        description: Set(String::new()),
        labels: Set("{}".into()),
        state: Set("ACTIVE".into()),
        create_time: Set(now),
        update_time: Set(now),
        delete_time: Set(None),
        purge_time: Set(None),
        version: Set(1),
        request_id: Set(Some(project_rid.to_string())),
        deleted_with_organization: Set(false),
    })
    .exec_without_returning(&core)
    .await
    .unwrap();

    // billing as it was: a card created with a request id.
    let billing = Database::connect(&billing_url).await.unwrap();
    loopback_billing::migration::Migrator::up(&billing, Some(PRE_KIT))
        .await
        .unwrap();
    payment_method::Entity::insert(payment_method::ActiveModel {
        id: Set(method_id.to_string()),
        organization_id: Set(org.to_string()),
        kind: Set("card".into()),
        secret_key_id: Set("k-old".into()),
        secret_ciphertext: Set("c2VhbGVk".into()),
        card_brand: Set(Some("visa".into())),
        card_last4: Set(Some("4242".into())),
        card_exp_month: Set(Some(12)),
        card_exp_year: Set(Some(2031)),
        iban_masked: Set(None),
        account_holder: Set(None),
        mandate_reference: Set(None),
        mandate_signature_time: Set(None),
        is_default: Set(true),
        create_time: Set(now),
        request_id: Set(Some(method_rid.to_string())),
    })
    .exec_without_returning(&billing)
    .await
    .unwrap();
    drop((core, billing));

    // Starting loopbackd upgrades both databases.
    let server = TestServer::start_with(
        backend,
        &[
            &format!("--org-core-database-url={core_url}"),
            &format!("--billing-database-url={billing_url}"),
        ],
    )
    .await;
    let token = server.account_token("alice@example.com");
    let org_name = format!("organizations/{org}");
    let again = server
        .orgs(&token)
        .create_organization(pb::CreateOrganizationRequest {
            organization: Some(pb::Organization {
                display_name: "Old".into(),
                ..Default::default()
            }),
            request_id: org_rid.to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    assert_eq!(again.name, org_name);
    // The plans migration put it on the built-in default plan, which
    // changes nothing about it.
    assert_eq!(again.plan, "plans/default");
    assert_eq!(
        again.capabilities.as_ref().unwrap().limits["max_projects"],
        10
    );
    let again = server
        .projects(&token)
        .create_project(pb::CreateProjectRequest {
            parent: org_name.clone(),
            project: Some(pb::Project {
                display_name: "web".into(),
                ..Default::default()
            }),
            request_id: project_rid.to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    assert_eq!(again.name, format!("{org_name}/projects/{project_id}"));
    let mut card = requests::card(&org_name, "tok_visa_4242");
    card.request_id = method_rid.to_string();
    let again = server
        .payment_methods(&token)
        .create_payment_method(card)
        .await
        .unwrap()
        .into_inner()
        .payment_method
        .unwrap();
    assert_eq!(again.name, format!("{org_name}/paymentMethods/{method_id}"));

    let listed = server
        .projects(&token)
        .list_projects(pb::ListProjectsRequest {
            parent: org_name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .projects;
    assert_eq!(listed.len(), 1, "the retries created nothing");

    // The payment method made before the upgrade reaches org-core's
    // onboarding checklist too (billing's migration left it pending).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status = server
            .onboarding(&token)
            .get_onboarding_status(pb::GetOnboardingStatusRequest {
                organization: org_name.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .onboarding_status
            .unwrap();
        if status
            .items
            .iter()
            .any(|i| i.item == "payment_method" && i.complete)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the pre-upgrade payment method never reached org-core: {status:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    server.stop().await;
}

backend_tests!(retries_across_the_upgrade_find_their_original);
