//! gRPC adapter of `loopback.orgcore.v1.AuthProviderService`.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::validation;
use tonic::{Request, Response, Status};

use super::{AuthProvider, ConfigChange, ProviderConfig, ProviderInput};
use crate::convert::{etag, opt_timestamp, timestamp};
use crate::grpc as g;
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

/// Checks an IdP URL: https, or http on a loopback host when allowed.
fn idp_url(v: &mut FieldViolations, field: &str, value: &str, allow_http_loopback: bool) {
    let parsed = match url::Url::parse(value) {
        Ok(u) => u,
        Err(_) => return v.add(field, "must be an absolute URL"),
    };
    if value.len() > 2048 {
        return v.add(field, "must be at most 2048 characters");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() || parsed.fragment().is_some() {
        return v.add(field, "must not contain credentials or a fragment");
    }
    let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match parsed.scheme() {
        "https" if parsed.host_str().is_some() => {}
        "http" if loopback && allow_http_loopback => {}
        _ => v.add(
            field,
            "must be an https URL (http only for loopback hosts in development)",
        ),
    }
}

fn plain(v: &mut FieldViolations, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        v.add(field, "is required");
    } else if value.len() > max || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        v.add(
            field,
            format!("must be 1 to {max} characters without spaces"),
        );
    }
}

fn scopes(v: &mut FieldViolations, field: &str, scopes: &[String]) -> Vec<String> {
    if scopes.len() > 20 {
        v.add(field, "at most 20 scopes");
    }
    for (i, s) in scopes.iter().enumerate() {
        plain(v, &format!("{field}[{i}]"), s, 128);
    }
    let mut out: Vec<String> = scopes.to_vec();
    if !out.iter().any(|s| s == "openid") {
        out.insert(0, "openid".into());
    }
    out.dedup();
    out
}

fn domains(v: &mut FieldViolations, field: &str, domains: &[String]) -> Vec<String> {
    if domains.len() > 50 {
        v.add(field, "at most 50 domains");
    }
    let mut out = Vec::new();
    for (i, d) in domains.iter().enumerate() {
        // url::Host applies IDNA, so internationalised domains are stored in
        // their ASCII form.
        match url::Host::parse(d.trim()) {
            Ok(url::Host::Domain(ascii)) if ascii.contains('.') && !ascii.ends_with('.') => {
                out.push(ascii)
            }
            _ => v.add(
                format!("{field}[{i}]"),
                format!("{d:?} is not a domain name"),
            ),
        }
    }
    out.sort();
    out.dedup();
    out
}

fn saml_xml(v: &mut FieldViolations, field: &str, xml: &str) {
    if xml.len() > MAX_SAML_XML_BYTES {
        v.add(
            field,
            format!("must be at most {} KiB", MAX_SAML_XML_BYTES / 1024),
        );
    } else if !xml.trim_start().starts_with('<') || !xml.contains("EntityDescriptor") {
        v.add(
            field,
            "must be a SAML metadata document (an EntityDescriptor)",
        );
    }
}

impl AuthProviderGrpc {
    fn allow_http(&self) -> bool {
        self.0.settings().allow_http_loopback_idp
    }

    fn create_input(&self, v: &mut FieldViolations, p: &pb::AuthProvider) -> ProviderInput {
        v.check(
            "auth_provider.display_name",
            validation::display_name(&p.display_name),
        );
        let allow_http = self.allow_http();
        let mut client_secret = None;
        let config = match &p.config {
            Some(pb::auth_provider::Config::Oidc(o)) => {
                idp_url(
                    v,
                    "auth_provider.oidc.issuer_uri",
                    &o.issuer_uri,
                    allow_http,
                );
                plain(v, "auth_provider.oidc.client_id", &o.client_id, 255);
                if !o.client_secret.is_empty() {
                    plain(
                        v,
                        "auth_provider.oidc.client_secret",
                        &o.client_secret,
                        1024,
                    );
                    client_secret = Some(o.client_secret.clone());
                }
                Some(ProviderConfig::Oidc {
                    issuer_uri: o.issuer_uri.clone(),
                    client_id: o.client_id.clone(),
                    scopes: scopes(v, "auth_provider.oidc.scopes", &o.scopes),
                })
            }
            Some(pb::auth_provider::Config::Saml(s)) => {
                match (s.metadata_uri.is_empty(), s.metadata_xml.is_empty()) {
                    (false, true) => idp_url(
                        v,
                        "auth_provider.saml.metadata_uri",
                        &s.metadata_uri,
                        allow_http,
                    ),
                    (true, false) => {
                        saml_xml(v, "auth_provider.saml.metadata_xml", &s.metadata_xml)
                    }
                    _ => v.add(
                        "auth_provider.saml",
                        "set exactly one of metadata_uri and metadata_xml",
                    ),
                }
                plain(v, "auth_provider.saml.entity_id", &s.entity_id, 1024);
                Some(ProviderConfig::Saml {
                    metadata_uri: s.metadata_uri.clone(),
                    metadata_xml: s.metadata_xml.clone(),
                    entity_id: s.entity_id.clone(),
                })
            }
            None => {
                v.add("auth_provider.config", "set oidc or saml");
                None
            }
        };
        ProviderInput {
            display_name: Some(p.display_name.trim().to_string()),
            config,
            config_changes: Vec::new(),
            client_secret,
            allowed_email_domains: Some(domains(
                v,
                "auth_provider.allowed_email_domains",
                &p.allowed_email_domains,
            )),
            enabled: Some(p.enabled),
        }
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

#[tonic::async_trait]
impl pb::auth_provider_service_server::AuthProviderService for AuthProviderGrpc {
    async fn create_auth_provider(
        &self,
        request: Request<pb::CreateAuthProviderRequest>,
    ) -> Result<Response<pb::CreateAuthProviderResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "parent", &req.parent);
        if req.auth_provider.is_none() {
            v.add("auth_provider", "is required");
        }
        let input = self.create_input(&mut v, &req.auth_provider.unwrap_or_default());
        let request_id = g::request_id(&mut v, "request_id", &req.request_id);
        g::done(v)?;
        let created = self
            .0
            .create_auth_provider(
                &caller,
                org.unwrap_or_default(),
                input,
                request_id,
                req.validate_only,
            )
            .await?;
        Ok(Response::new(pb::CreateAuthProviderResponse {
            auth_provider: Some(provider_to_pb(created)),
        }))
    }

    async fn get_auth_provider(
        &self,
        request: Request<pb::GetAuthProviderRequest>,
    ) -> Result<Response<pb::GetAuthProviderResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let ids = g::child_id(&mut v, "name", &req.name, "authProviders");
        g::done(v)?;
        let (org, id) = ids.unwrap_or_default();
        let p = self.0.get_auth_provider(&caller, org, id).await?;
        Ok(Response::new(pb::GetAuthProviderResponse {
            auth_provider: Some(provider_to_pb(p)),
        }))
    }

    async fn list_auth_providers(
        &self,
        request: Request<pb::ListAuthProvidersRequest>,
    ) -> Result<Response<pb::ListAuthProvidersResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let org = g::org_id(&mut v, "parent", &req.parent);
        let page = g::page(
            &mut v,
            req.page_size,
            &req.page_token,
            &format!("authProviders|{}", req.parent),
        );
        g::done(v)?;
        let (Some(org), Some(page)) = (org, page) else {
            return Err(Status::internal("validated fields missing"));
        };
        let (providers, next_page_token) = self.0.list_auth_providers(&caller, org, page).await?;
        Ok(Response::new(pb::ListAuthProvidersResponse {
            auth_providers: providers.into_iter().map(provider_to_pb).collect(),
            next_page_token,
        }))
    }

    async fn update_auth_provider(
        &self,
        request: Request<pb::UpdateAuthProviderRequest>,
    ) -> Result<Response<pb::UpdateAuthProviderResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        if req.auth_provider.is_none() {
            v.add("auth_provider", "is required");
        }
        let p = req.auth_provider.unwrap_or_default();
        let ids = g::child_id(&mut v, "auth_provider.name", &p.name, "authProviders");
        let version = g::etag(&mut v, "auth_provider.etag", &p.etag);
        let paths = if req.update_mask.as_ref().is_none_or(|m| m.paths.is_empty()) {
            v.add("update_mask", "name the fields to change");
            Vec::new()
        } else {
            g::update_mask(&mut v, req.update_mask.as_ref(), UPDATABLE)
        };
        let allow_http = self.allow_http();
        let oidc = match &p.config {
            Some(pb::auth_provider::Config::Oidc(o)) => o.clone(),
            _ => pb::OidcConfig::default(),
        };
        let saml = match &p.config {
            Some(pb::auth_provider::Config::Saml(s)) => s.clone(),
            _ => pb::SamlConfig::default(),
        };
        let mut input = ProviderInput::default();
        for path in paths {
            match path {
                "display_name" => {
                    v.check(
                        "auth_provider.display_name",
                        validation::display_name(&p.display_name),
                    );
                    input.display_name = Some(p.display_name.trim().to_string());
                }
                "enabled" => input.enabled = Some(p.enabled),
                "allowed_email_domains" => {
                    input.allowed_email_domains = Some(domains(
                        &mut v,
                        "auth_provider.allowed_email_domains",
                        &p.allowed_email_domains,
                    ))
                }
                "oidc.issuer_uri" => {
                    idp_url(
                        &mut v,
                        "auth_provider.oidc.issuer_uri",
                        &oidc.issuer_uri,
                        allow_http,
                    );
                    input
                        .config_changes
                        .push(ConfigChange::IssuerUri(oidc.issuer_uri.clone()));
                }
                "oidc.client_id" => {
                    plain(&mut v, "auth_provider.oidc.client_id", &oidc.client_id, 255);
                    input
                        .config_changes
                        .push(ConfigChange::ClientId(oidc.client_id.clone()));
                }
                "oidc.client_secret" => {
                    plain(
                        &mut v,
                        "auth_provider.oidc.client_secret",
                        &oidc.client_secret,
                        1024,
                    );
                    input.client_secret = Some(oidc.client_secret.clone());
                }
                "oidc.scopes" => input.config_changes.push(ConfigChange::Scopes(scopes(
                    &mut v,
                    "auth_provider.oidc.scopes",
                    &oidc.scopes,
                ))),
                "saml.metadata_uri" => {
                    if !saml.metadata_uri.is_empty() {
                        idp_url(
                            &mut v,
                            "auth_provider.saml.metadata_uri",
                            &saml.metadata_uri,
                            allow_http,
                        );
                    }
                    input
                        .config_changes
                        .push(ConfigChange::MetadataUri(saml.metadata_uri.clone()));
                }
                "saml.metadata_xml" => {
                    if !saml.metadata_xml.is_empty() {
                        saml_xml(
                            &mut v,
                            "auth_provider.saml.metadata_xml",
                            &saml.metadata_xml,
                        );
                    }
                    input
                        .config_changes
                        .push(ConfigChange::MetadataXml(saml.metadata_xml.clone()));
                }
                "saml.entity_id" => {
                    plain(
                        &mut v,
                        "auth_provider.saml.entity_id",
                        &saml.entity_id,
                        1024,
                    );
                    input
                        .config_changes
                        .push(ConfigChange::EntityId(saml.entity_id.clone()));
                }
                _ => {}
            }
        }
        g::done(v)?;
        let (org, id) = ids.unwrap_or_default();
        let updated = self
            .0
            .update_auth_provider(&caller, org, id, input, version, req.validate_only)
            .await?;
        Ok(Response::new(pb::UpdateAuthProviderResponse {
            auth_provider: Some(provider_to_pb(updated)),
        }))
    }

    async fn delete_auth_provider(
        &self,
        request: Request<pb::DeleteAuthProviderRequest>,
    ) -> Result<Response<pb::DeleteAuthProviderResponse>, Status> {
        let caller = self.0.caller_of(&request).await?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let ids = g::child_id(&mut v, "name", &req.name, "authProviders");
        let version = g::etag(&mut v, "etag", &req.etag);
        g::done(v)?;
        let (org, id) = ids.unwrap_or_default();
        let deleted = self
            .0
            .delete_auth_provider(&caller, org, id, version, req.validate_only)
            .await?;
        Ok(Response::new(pb::DeleteAuthProviderResponse {
            auth_provider: Some(provider_to_pb(deleted)),
        }))
    }
}
