//! gRPC adapter of `loopback.orgcore.v1.AuthProviderService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::{FieldViolations, quote};
use loopback_runtime::fields::{Fields, etag, opt_timestamp, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::tx::WriteOptions;
use tonic::{Request, Response, Status};

use super::{
    AuthProvider, AuthProviderName, AuthProviderUpdate, ConfigChange, CreateAuthProvider,
    DeleteAuthProvider, HTTPS_ONLY, ListAuthProviders, NewAuthProvider, ProviderConfig,
    UpdateAuthProvider,
};
use crate::service::OrgCore;

/// Serves AuthProviderService.
#[derive(Debug, Clone)]
pub struct AuthProviderGrpc(pub OrgCore);

/// Largest SAML metadata document accepted.
pub const MAX_SAML_XML_BYTES: usize = 256 * 1024;

/// The wire form of a provider; the client secret never appears.
pub fn provider_to_pb(p: AuthProvider) -> pb::AuthProvider {
    let name = p.name();
    let config = match p.config {
        ProviderConfig::Oidc {
            issuer_uri,
            client_id,
            scopes,
        } => pb::auth_provider::Config::Oidc(pb::OidcConfig {
            issuer_uri,
            client_id,
            client_secret: String::new(),
            has_client_secret: p.has_client_secret,
            client_secret_update_time: opt_timestamp(p.client_secret_update_time),
            scopes,
        }),
        ProviderConfig::Saml {
            metadata_uri,
            metadata_xml,
            entity_id,
        } => pb::auth_provider::Config::Saml(pb::SamlConfig {
            metadata_uri,
            metadata_xml,
            entity_id,
        }),
    };
    pb::AuthProvider {
        name,
        display_name: p.display_name,
        config: Some(config),
        allowed_email_domains: p.allowed_email_domains,
        enabled: p.enabled,
        create_time: Some(timestamp(p.create_time)),
        update_time: Some(timestamp(p.update_time)),
        etag: etag(p.version),
    }
}

/// Checks an IdP URL: https, or http on a loopback host, which is noted in
/// `loopback` for the domain to allow only in development deployments.
fn idp_url(f: &mut Fields, loopback: &mut Vec<String>, field: &str, value: &str) {
    let Ok(parsed) = url::Url::parse(value) else {
        return f.add(field, "must be an absolute URL");
    };
    if value.len() > 2048 {
        return f.add(field, "must be at most 2048 characters");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() || parsed.fragment().is_some() {
        return f.add(field, "must not contain credentials or a fragment");
    }
    let on_loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match parsed.scheme() {
        "https" if parsed.host_str().is_some() => {}
        "http" if on_loopback => loopback.push(field.to_string()),
        _ => f.add(field, HTTPS_ONLY),
    }
}

fn plain(f: &mut Fields, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        f.add(field, "is required");
    } else if value.len() > max || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        f.add(
            field,
            format!("must be 1 to {max} characters without spaces"),
        );
    }
}

fn scopes(f: &mut Fields, field: &str, scopes: &[String]) -> Vec<String> {
    if scopes.len() > 20 {
        f.add(field, "at most 20 scopes");
    }
    for (i, s) in scopes.iter().enumerate() {
        plain(f, &format!("{field}[{i}]"), s, 128);
    }
    let mut out: Vec<String> = scopes.to_vec();
    if !out.iter().any(|s| s == "openid") {
        out.insert(0, "openid".into());
    }
    out.dedup();
    out
}

fn domains(f: &mut Fields, field: &str, domains: &[String]) -> Vec<String> {
    if domains.len() > 50 {
        f.add(field, "at most 50 domains");
    }
    let mut out = Vec::new();
    for (i, d) in domains.iter().enumerate() {
        // url::Host applies IDNA, so internationalised domains are stored in
        // their ASCII form.
        match url::Host::parse(d.trim()) {
            Ok(url::Host::Domain(ascii)) if ascii.contains('.') && !ascii.ends_with('.') => {
                out.push(ascii)
            }
            _ => f.add(
                format!("{field}[{i}]"),
                format!("{} is not a domain name", quote(d)),
            ),
        }
    }
    out.sort();
    out.dedup();
    out
}

fn saml_xml(f: &mut Fields, field: &str, xml: &str) {
    if xml.len() > MAX_SAML_XML_BYTES {
        f.add(
            field,
            format!("must be at most {} KiB", MAX_SAML_XML_BYTES / 1024),
        );
    } else if !xml.trim_start().starts_with('<') || !xml.contains("EntityDescriptor") {
        f.add(
            field,
            "must be a SAML metadata document (an EntityDescriptor)",
        );
    }
}

/// A new provider's settings, each bad field named.
fn new_provider(
    f: &mut Fields,
    loopback: &mut Vec<String>,
    p: pb::AuthProvider,
) -> Option<NewAuthProvider> {
    let display_name = f.display_name("auth_provider.display_name", &p.display_name);
    let mut client_secret = None;
    let config = match p.config {
        Some(pb::auth_provider::Config::Oidc(o)) => {
            idp_url(f, loopback, "auth_provider.oidc.issuer_uri", &o.issuer_uri);
            plain(f, "auth_provider.oidc.client_id", &o.client_id, 255);
            if !o.client_secret.is_empty() {
                plain(
                    f,
                    "auth_provider.oidc.client_secret",
                    &o.client_secret,
                    1024,
                );
                client_secret = Some(o.client_secret);
            }
            Some(ProviderConfig::Oidc {
                scopes: scopes(f, "auth_provider.oidc.scopes", &o.scopes),
                issuer_uri: o.issuer_uri,
                client_id: o.client_id,
            })
        }
        Some(pb::auth_provider::Config::Saml(s)) => {
            match (s.metadata_uri.is_empty(), s.metadata_xml.is_empty()) {
                (false, true) => idp_url(
                    f,
                    loopback,
                    "auth_provider.saml.metadata_uri",
                    &s.metadata_uri,
                ),
                (true, false) => saml_xml(f, "auth_provider.saml.metadata_xml", &s.metadata_xml),
                _ => f.add(
                    "auth_provider.saml",
                    "set exactly one of metadata_uri and metadata_xml",
                ),
            }
            plain(f, "auth_provider.saml.entity_id", &s.entity_id, 1024);
            Some(ProviderConfig::Saml {
                metadata_uri: s.metadata_uri,
                metadata_xml: s.metadata_xml,
                entity_id: s.entity_id,
            })
        }
        None => {
            f.add("auth_provider.config", "set oidc or saml");
            None
        }
    };
    let allowed_email_domains = domains(
        f,
        "auth_provider.allowed_email_domains",
        &p.allowed_email_domains,
    );
    Some(NewAuthProvider {
        display_name: display_name?,
        config: config?,
        client_secret,
        allowed_email_domains,
        enabled: p.enabled,
    })
}

/// The update of one `update_mask` path.
fn update_path(
    f: &mut Fields,
    loopback: &mut Vec<String>,
    update: &mut AuthProviderUpdate,
    path: &str,
    p: &pb::AuthProvider,
) {
    let default_oidc = pb::OidcConfig::default();
    let default_saml = pb::SamlConfig::default();
    let (oidc, saml) = match &p.config {
        Some(pb::auth_provider::Config::Oidc(o)) => (o, &default_saml),
        Some(pb::auth_provider::Config::Saml(s)) => (&default_oidc, s),
        None => (&default_oidc, &default_saml),
    };
    let changes = &mut update.config_changes;
    match path {
        "display_name" => {
            update.display_name = f.display_name("auth_provider.display_name", &p.display_name);
        }
        "enabled" => update.enabled = Some(p.enabled),
        "allowed_email_domains" => {
            let field = "auth_provider.allowed_email_domains";
            update.allowed_email_domains = Some(domains(f, field, &p.allowed_email_domains));
        }
        "oidc.issuer_uri" => {
            idp_url(
                f,
                loopback,
                "auth_provider.oidc.issuer_uri",
                &oidc.issuer_uri,
            );
            changes.push(ConfigChange::IssuerUri(oidc.issuer_uri.clone()));
        }
        "oidc.client_id" => {
            plain(f, "auth_provider.oidc.client_id", &oidc.client_id, 255);
            changes.push(ConfigChange::ClientId(oidc.client_id.clone()));
        }
        "oidc.client_secret" => {
            plain(
                f,
                "auth_provider.oidc.client_secret",
                &oidc.client_secret,
                1024,
            );
            update.client_secret = Some(oidc.client_secret.clone());
        }
        "oidc.scopes" => {
            let scopes = scopes(f, "auth_provider.oidc.scopes", &oidc.scopes);
            changes.push(ConfigChange::Scopes(scopes));
        }
        "saml.metadata_uri" => {
            if !saml.metadata_uri.is_empty() {
                let field = "auth_provider.saml.metadata_uri";
                idp_url(f, loopback, field, &saml.metadata_uri);
            }
            changes.push(ConfigChange::MetadataUri(saml.metadata_uri.clone()));
        }
        "saml.metadata_xml" => {
            if !saml.metadata_xml.is_empty() {
                saml_xml(f, "auth_provider.saml.metadata_xml", &saml.metadata_xml);
            }
            changes.push(ConfigChange::MetadataXml(saml.metadata_xml.clone()));
        }
        "saml.entity_id" => {
            plain(f, "auth_provider.saml.entity_id", &saml.entity_id, 1024);
            changes.push(ConfigChange::EntityId(saml.entity_id.clone()));
        }
        _ => {}
    }
}

const UPDATABLE: &[&str] = &[
    "display_name",
    "enabled",
    "allowed_email_domains",
    "oidc.issuer_uri",
    "oidc.client_id",
    "oidc.client_secret",
    "oidc.scopes",
    "saml.metadata_uri",
    "saml.metadata_xml",
    "saml.entity_id",
];

impl TryFrom<pb::CreateAuthProviderRequest> for CreateAuthProvider {
    type Error = FieldViolations;
    fn try_from(req: pb::CreateAuthProviderRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let mut loopback = Vec::new();
        let organization = f.organization("parent", &req.parent);
        let p = f.message("auth_provider", req.auth_provider);
        let provider = new_provider(&mut f, &mut loopback, p);
        let request_id = f.request_id("request_id", &req.request_id);
        let (organization, provider, request_id) =
            f.finish((organization, provider, request_id))?;
        Ok(Self {
            organization,
            provider,
            http_loopback_fields: loopback,
            write: WriteOptions {
                request_id,
                validate_only: req.validate_only,
            },
        })
    }
}

impl TryFrom<pb::GetAuthProviderRequest> for AuthProviderName {
    type Error = FieldViolations;
    fn try_from(req: pb::GetAuthProviderRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        f.finish(name)
    }
}

impl TryFrom<pb::ListAuthProvidersRequest> for ListAuthProviders {
    type Error = FieldViolations;
    fn try_from(req: pb::ListAuthProvidersRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let query = format!("authProviders|{}", req.parent);
        let page = f.page(req.page_size, &req.page_token, &query);
        let (organization, page) = f.finish((organization, page))?;
        Ok(Self { organization, page })
    }
}

impl TryFrom<pb::UpdateAuthProviderRequest> for UpdateAuthProvider {
    type Error = FieldViolations;
    fn try_from(req: pb::UpdateAuthProviderRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let mut loopback = Vec::new();
        let p = f.message("auth_provider", req.auth_provider);
        let name = f.name("auth_provider.name", &p.name);
        let etag = f.etag("auth_provider.etag", &p.etag);
        let mask = req.update_mask.as_ref();
        let paths = if mask.is_none_or(|m| m.paths.is_empty()) {
            f.add("update_mask", "name the fields to change");
            Vec::new()
        } else {
            f.update_mask(mask, UPDATABLE)
        };
        let mut update = AuthProviderUpdate::default();
        for path in paths {
            update_path(&mut f, &mut loopback, &mut update, path, &p);
        }
        let (name, etag) = f.finish((name, etag))?;
        Ok(Self {
            name,
            update,
            http_loopback_fields: loopback,
            etag,
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::DeleteAuthProviderRequest> for DeleteAuthProvider {
    type Error = FieldViolations;
    fn try_from(req: pb::DeleteAuthProviderRequest) -> Result<Self, FieldViolations> {
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

#[tonic::async_trait]
impl pb::auth_provider_service_server::AuthProviderService for AuthProviderGrpc {
    async fn create_auth_provider(
        &self,
        request: Request<pb::CreateAuthProviderRequest>,
    ) -> Result<Response<pb::CreateAuthProviderResponse>, Status> {
        unary(&self.0, request, OrgCore::create_auth_provider, |p| {
            pb::CreateAuthProviderResponse {
                auth_provider: Some(provider_to_pb(p)),
            }
        })
        .await
    }

    async fn get_auth_provider(
        &self,
        request: Request<pb::GetAuthProviderRequest>,
    ) -> Result<Response<pb::GetAuthProviderResponse>, Status> {
        unary(&self.0, request, OrgCore::get_auth_provider, |p| {
            pb::GetAuthProviderResponse {
                auth_provider: Some(provider_to_pb(p)),
            }
        })
        .await
    }

    async fn list_auth_providers(
        &self,
        request: Request<pb::ListAuthProvidersRequest>,
    ) -> Result<Response<pb::ListAuthProvidersResponse>, Status> {
        unary(&self.0, request, OrgCore::list_auth_providers, |page| {
            let page = page.map(provider_to_pb);
            pb::ListAuthProvidersResponse {
                auth_providers: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn update_auth_provider(
        &self,
        request: Request<pb::UpdateAuthProviderRequest>,
    ) -> Result<Response<pb::UpdateAuthProviderResponse>, Status> {
        unary(&self.0, request, OrgCore::update_auth_provider, |p| {
            pb::UpdateAuthProviderResponse {
                auth_provider: Some(provider_to_pb(p)),
            }
        })
        .await
    }

    async fn delete_auth_provider(
        &self,
        request: Request<pb::DeleteAuthProviderRequest>,
    ) -> Result<Response<pb::DeleteAuthProviderResponse>, Status> {
        unary(&self.0, request, OrgCore::delete_auth_provider, |p| {
            pb::DeleteAuthProviderResponse {
                auth_provider: Some(provider_to_pb(p)),
            }
        })
        .await
    }
}
