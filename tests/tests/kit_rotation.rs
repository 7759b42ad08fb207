//! Acceptance (service kit): `loopbackd rotate-secrets --add-key
//! --remove-old-keys` re-seals every service's secrets — org-core's identity
//! provider secrets and billing's IBANs and processor tokens — so after a
//! restart with only the new key, each still opens, read back through the
//! service that owns it.

use loopback_billing::Billing;
use loopback_billing::payment_methods::PaymentMethodName;
use loopback_org_core::OrgCore;
use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::secrets::Keyring;
use loopback_tests::{Backend, TestServer, backend_tests, requests};
use sea_orm::{ConnectionTrait as _, Database, Statement};

async fn key_ids(url: &str, sql: &str, column: &str) -> Vec<String> {
    let db = Database::connect(url).await.unwrap();
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        sql.to_string(),
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| r.try_get::<String>("", column).unwrap())
    .collect()
}

async fn rotation_reseals_every_services_secrets(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        &["--default-flag=sepa_payment_allowed=true,sso_allowed=true"],
    )
    .await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;

    let provider = server
        .auth_providers(&owner)
        .create_auth_provider(pb::CreateAuthProviderRequest {
            parent: org.name.clone(),
            auth_provider: Some(pb::AuthProvider {
                display_name: "Corporate SSO".into(),
                config: Some(pb::auth_provider::Config::Oidc(pb::OidcConfig {
                    issuer_uri: "https://login.example.com".into(),
                    client_id: "loopback".into(),
                    client_secret: "idp-secret".into(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .auth_provider
        .unwrap();
    let mut created = Vec::new();
    for request in [
        requests::card(&org.name, "tok_visa_4242"),
        requests::sepa(&org.name, "DE89 3704 0044 0532 0130 00"),
    ] {
        let method = server
            .payment_methods(&owner)
            .create_payment_method(request)
            .await
            .unwrap()
            .into_inner()
            .payment_method
            .unwrap();
        created.push(method);
    }

    let config = server.config();
    let key_file = server
        .data_dir()
        .join(loopback_runtime::config::DEV_SECRET_KEY_FILE);
    let old_kid = Keyring::from_key_file(&key_file)
        .unwrap()
        .primary_key_id()
        .to_string();
    let (core_url, billing_url) = (server.database_url.clone(), server.billing_database_url());
    let _data = server.stop_keeping_data().await;

    let done = loopbackd::rotate_secrets(&config, true, true)
        .await
        .unwrap();
    assert_eq!(
        (done.resealed, done.current),
        (3, 0),
        "one IdP secret, two payment secrets"
    );
    let new = Keyring::from_key_file(&key_file).unwrap();
    assert_eq!(
        new.key_ids(),
        [new.primary_key_id().to_string()],
        "the old key is gone"
    );
    assert_ne!(new.primary_key_id(), old_kid);

    // Restarted with only the new key, each service opens its own secrets.
    let restarted = loopbackd::Loopbackd::start(config).await.unwrap();
    let (org_id, provider_id) =
        loopback_runtime::validation::child_name(&provider.name, "authProviders").unwrap();
    let idp_secret = restarted
        .service::<OrgCore>()
        .unwrap()
        .auth_provider_client_secret(org_id, provider_id)
        .await
        .unwrap();
    assert_eq!(idp_secret.as_deref(), Some("idp-secret"));
    let billing = restarted.service::<Billing>().unwrap();
    for (method, expected) in created
        .iter()
        .zip(["tok_visa_4242", "DE89370400440532013000"])
    {
        let (organization, id) =
            loopback_runtime::validation::child_name(&method.name, "paymentMethods").unwrap();
        let secret = billing
            .payment_method_secret(PaymentMethodName { organization, id })
            .await
            .unwrap();
        assert_eq!(secret, expected);
    }
    // Every sealed column of both services is under the new key.
    let mut kids = key_ids(
        &core_url,
        "SELECT client_secret_key_id FROM auth_providers",
        "client_secret_key_id",
    )
    .await;
    kids.extend(
        key_ids(
            &billing_url,
            "SELECT secret_key_id FROM payment_methods",
            "secret_key_id",
        )
        .await,
    );
    assert_eq!(kids.len(), 3);
    assert!(kids.iter().all(|k| k == new.primary_key_id()), "{kids:?}");
    restarted.stop().await.unwrap();
}

backend_tests!(rotation_reseals_every_services_secrets);
