//! Acceptance (people & access): authentication providers, write-only
//! client secrets sealed at rest, and key rotation.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::secrets::Keyring;
use loopback_tests::{Backend, TestServer, backend_tests, bad_fields, metadata, reason};
use sea_orm::{ConnectionTrait as _, Database, Statement};
use tonic::Code;

fn oidc(issuer: &str, secret: &str) -> pb::AuthProvider {
    pb::AuthProvider {
        display_name: "Corporate SSO".into(),
        config: Some(pb::auth_provider::Config::Oidc(pb::OidcConfig {
            issuer_uri: issuer.into(),
            client_id: "loopback-client".into(),
            client_secret: secret.into(),
            scopes: vec!["email".into(), "profile".into()],
            ..Default::default()
        })),
        allowed_email_domains: vec!["Example.COM".into()],
        enabled: true,
        ..Default::default()
    }
}

fn create(org: &str, p: pb::AuthProvider) -> pb::CreateAuthProviderRequest {
    pb::CreateAuthProviderRequest {
        parent: org.into(),
        auth_provider: Some(p),
        ..Default::default()
    }
}

/// Every text value stored in auth_providers rows.
async fn raw_rows(server: &TestServer) -> Vec<String> {
    let db = Database::connect(&server.database_url).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id, display_name, config, allowed_email_domains, client_secret_key_id, client_secret_ciphertext FROM auth_providers"
                .to_string(),
        ))
        .await
        .unwrap();
    rows.iter()
        .flat_map(|r| {
            [
                "id",
                "display_name",
                "config",
                "allowed_email_domains",
                "client_secret_key_id",
                "client_secret_ciphertext",
            ]
            .map(|c| {
                r.try_get::<Option<String>>("", c)
                    .unwrap()
                    .unwrap_or_default()
            })
        })
        .collect()
}

async fn oidc_and_saml_providers_with_write_only_secrets(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    // Managing providers is a setup action: fine while IN_SETUP.
    let org = server.create_org(&owner, "Acme").await;
    let secret = "s3cr3t-client-secret-value";
    let err = server
        .auth_providers(&owner)
        .create_auth_provider(create(&org.name, oidc("https://login.example.com", secret)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("CAPABILITY_DISABLED"));
    assert_eq!(metadata(&err)["flag"], "sso_allowed");

    server
        .set_capabilities(
            &org.name,
            &[("max_auth_providers", 2)],
            &[("sso_allowed", true)],
        )
        .await;
    let created = server
        .auth_providers(&owner)
        .create_auth_provider(create(&org.name, oidc("https://login.example.com", secret)))
        .await
        .unwrap()
        .into_inner()
        .auth_provider
        .unwrap();
    let Some(pb::auth_provider::Config::Oidc(o)) = &created.config else {
        panic!("oidc")
    };
    assert!(o.client_secret.is_empty(), "never returned");
    assert!(o.has_client_secret);
    assert!(o.client_secret_update_time.is_some());
    assert_eq!(o.scopes, ["openid", "email", "profile"]);
    assert_eq!(created.allowed_email_domains, ["example.com"]);
    let fetched = server
        .auth_providers(&owner)
        .get_auth_provider(pb::GetAuthProviderRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .auth_provider
        .unwrap();
    assert!(format!("{fetched:?}").contains("has_client_secret: true"));
    assert!(!format!("{fetched:?}").contains(secret));
    // The raw rows hold no plaintext secret.
    assert!(raw_rows(&server).await.iter().all(|v| !v.contains(secret)));
    // The secret still decrypts for the login flow.
    let (org_id, id) =
        loopback_runtime::validation::child_name(&created.name, "authProviders").unwrap();
    assert_eq!(
        server
            .service::<loopback_org_core::OrgCore>()
            .auth_provider_client_secret(org_id, id)
            .await
            .unwrap()
            .as_deref(),
        Some(secret)
    );

    // Rotating the secret through Update; disabling it.
    let rotated = server
        .auth_providers(&owner)
        .update_auth_provider(pb::UpdateAuthProviderRequest {
            auth_provider: Some(pb::AuthProvider {
                name: created.name.clone(),
                config: Some(pb::auth_provider::Config::Oidc(pb::OidcConfig {
                    client_secret: "second-secret".into(),
                    ..Default::default()
                })),
                enabled: false,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["oidc.client_secret".into(), "enabled".into()],
            }),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .auth_provider
        .unwrap();
    assert!(!rotated.enabled);
    assert_eq!(
        server
            .service::<loopback_org_core::OrgCore>()
            .auth_provider_client_secret(org_id, id)
            .await
            .unwrap()
            .as_deref(),
        Some("second-secret")
    );
    assert!(
        raw_rows(&server)
            .await
            .iter()
            .all(|v| !v.contains("second-secret"))
    );

    // SAML with inline metadata.
    let saml = server
        .auth_providers(&owner)
        .create_auth_provider(create(
            &org.name,
            pb::AuthProvider {
                display_name: "SAML".into(),
                config: Some(pb::auth_provider::Config::Saml(pb::SamlConfig {
                    metadata_xml: "<md:EntityDescriptor entityID=\"https://idp.example.com\"/>"
                        .into(),
                    entity_id: "https://loopback.cloud/saml/acme".into(),
                    ..Default::default()
                })),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .auth_provider
        .unwrap();
    assert!(matches!(
        saml.config,
        Some(pb::auth_provider::Config::Saml(_))
    ));
    // The limit of 2 holds.
    let err = server
        .auth_providers(&owner)
        .create_auth_provider(create(&org.name, oidc("https://other.example.com", "x")))
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("LIMIT_REACHED"));

    // A viewer reads but cannot write; a stranger sees nothing.
    let (viewer, _) = server
        .add_member(&owner, &org.name, "viewer@example.com", &["viewer"])
        .await;
    let listed = server
        .auth_providers(&viewer)
        .list_auth_providers(pb::ListAuthProvidersRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .auth_providers;
    assert_eq!(listed.len(), 2);
    let err = server
        .auth_providers(&viewer)
        .delete_auth_provider(pb::DeleteAuthProviderRequest {
            name: saml.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = server
        .auth_providers(&server.account_token("stranger@example.com"))
        .get_auth_provider(pb::GetAuthProviderRequest {
            name: saml.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    server
        .auth_providers(&owner)
        .delete_auth_provider(pb::DeleteAuthProviderRequest {
            name: saml.name,
            ..Default::default()
        })
        .await
        .unwrap();
    server.stop().await;
}

async fn bad_provider_settings_are_refused_naming_the_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.create_org(&owner, "Acme").await;
    server
        .set_capabilities(&org.name, &[], &[("sso_allowed", true)])
        .await;
    let mut client = server.auth_providers(&owner);
    for issuer in [
        "http://login.example.com",
        "ftp://x.example.com",
        "not a url",
        "http://localhost:8080",
        "https://user:pw@login.example.com",
    ] {
        let err = client
            .create_auth_provider(create(&org.name, oidc(issuer, "x")))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{issuer}");
        assert_eq!(
            bad_fields(&err),
            ["auth_provider.oidc.issuer_uri"],
            "{issuer}"
        );
    }
    let saml = |xml: String, uri: &str| pb::AuthProvider {
        display_name: "SAML".into(),
        config: Some(pb::auth_provider::Config::Saml(pb::SamlConfig {
            metadata_xml: xml,
            metadata_uri: uri.into(),
            entity_id: "sp".into(),
        })),
        ..Default::default()
    };
    let huge = format!(
        "<EntityDescriptor>{}</EntityDescriptor>",
        "x".repeat(300 * 1024)
    );
    let err = client
        .create_auth_provider(create(&org.name, saml(huge, "")))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["auth_provider.saml.metadata_xml"]);
    let err = client
        .create_auth_provider(create(
            &org.name,
            saml("<EntityDescriptor/>".into(), "https://idp.example.com/md"),
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["auth_provider.saml"]);
    let mut p = oidc("https://login.example.com", "x");
    p.allowed_email_domains = vec![
        "example.com".into(),
        "not a domain".into(),
        "localhost".into(),
    ];
    p.display_name = String::new();
    let err = client
        .create_auth_provider(create(&org.name, p))
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&err),
        [
            "auth_provider.display_name",
            "auth_provider.allowed_email_domains[1]",
            "auth_provider.allowed_email_domains[2]"
        ]
    );
    server.stop().await;

    // A development deployment may allow http on loopback hosts, and only there.
    let dev = TestServer::start_with(backend, &["--allow-http-loopback-idp"]).await;
    let owner = dev.account_token("owner@example.com");
    let org = dev.create_org(&owner, "Dev").await;
    dev.set_capabilities(&org.name, &[], &[("sso_allowed", true)])
        .await;
    dev.auth_providers(&owner)
        .create_auth_provider(create(&org.name, oidc("http://127.0.0.1:5556/dex", "x")))
        .await
        .unwrap();
    let err = dev
        .auth_providers(&owner)
        .create_auth_provider(create(&org.name, oidc("http://login.example.com", "x")))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["auth_provider.oidc.issuer_uri"]);
    dev.stop().await;
}

async fn rotation_reseals_every_secret_and_the_old_key_can_go(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let mut names = Vec::new();
    for i in 0..3 {
        let org = server.create_org(&owner, &format!("Org {i}")).await;
        server
            .set_capabilities(&org.name, &[], &[("sso_allowed", true)])
            .await;
        let p = server
            .auth_providers(&owner)
            .create_auth_provider(create(
                &org.name,
                oidc("https://login.example.com", &format!("secret-{i}")),
            ))
            .await
            .unwrap()
            .into_inner()
            .auth_provider
            .unwrap();
        names.push(p.name);
    }
    let config = server.config();
    let key_file = server
        .data_dir()
        .join(loopback_runtime::config::DEV_SECRET_KEY_FILE);
    let old = Keyring::from_key_file(&key_file).unwrap();
    let old_kid = old.primary_key_id().to_string();
    let database_url = server.database_url.clone();
    let _data = server.stop_keeping_data().await;

    let done = loopbackd::rotate_secrets(&config, true, true)
        .await
        .unwrap();
    assert_eq!((done.resealed, done.current), (3, 0));
    let new = Keyring::from_key_file(&key_file).unwrap();
    assert_eq!(new.key_ids().len(), 1, "the old key was removed");
    assert_ne!(new.primary_key_id(), old_kid);
    // Running it again finds nothing to do.
    let again = loopbackd::rotate_secrets(&config, false, false)
        .await
        .unwrap();
    assert_eq!((again.resealed, again.current), (0, 3));

    // A server with only the new key decrypts every secret.
    let restarted = loopbackd::Loopbackd::start(config).await.unwrap();
    for (i, name) in names.iter().enumerate() {
        let (org, id) = loopback_runtime::validation::child_name(name, "authProviders").unwrap();
        let secret = restarted
            .service::<loopback_org_core::OrgCore>()
            .unwrap()
            .auth_provider_client_secret(org, id)
            .await
            .unwrap();
        assert_eq!(secret.as_deref(), Some(format!("secret-{i}").as_str()));
    }
    // Every row is sealed under the new key.
    let db = Database::connect(&database_url).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT client_secret_key_id FROM auth_providers".to_string(),
        ))
        .await
        .unwrap();
    for r in rows {
        let kid: String = r.try_get("", "client_secret_key_id").unwrap();
        assert_eq!(kid, new.primary_key_id());
    }
    restarted.stop().await.unwrap();
}

backend_tests!(
    oidc_and_saml_providers_with_write_only_secrets,
    bad_provider_settings_are_refused_naming_the_field,
    rotation_reseals_every_secret_and_the_old_key_can_go,
);
