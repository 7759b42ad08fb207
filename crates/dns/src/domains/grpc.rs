//! gRPC adapter of `loopback.dns.v1.DomainService`: each RPC parses its
//! request into the domain's input, makes one domain call and maps the
//! result.

use loopback_proto::dns::v1 as pb;
use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::{Fields, opt_timestamp, timestamp};
use loopback_runtime::rpc::unary;
use loopback_runtime::tx::WriteOptions;
use tonic::{Request, Response, Status};

use super::{
    CreateDomain, DeleteDomain, Domain, DomainName, DomainState, ListDomains, UpdateDomain,
};
use crate::{Dns, dnsname};

/// Serves DomainService.
#[derive(Debug, Clone)]
pub struct DomainGrpc(pub Dns);

const MAX_REGISTRAR: usize = 200;

fn state_to_pb(state: DomainState) -> pb::domain::State {
    match state {
        DomainState::PendingVerification => pb::domain::State::PendingVerification,
        DomainState::Verified => pb::domain::State::Verified,
        DomainState::Expired => pb::domain::State::Expired,
    }
}

fn to_pb(d: Domain) -> pb::Domain {
    pb::Domain {
        name: d.name(),
        unicode_name: dnsname::to_unicode(&d.domain_name),
        verification_record: d.verification_record(),
        allowed_actions: d.allowed_actions().into_iter().map(String::from).collect(),
        etag: d.etag(),
        state: state_to_pb(d.state).into(),
        domain_name: d.domain_name,
        registrar: d.registrar,
        registration_time: opt_timestamp(d.registration_time),
        expire_time: opt_timestamp(d.expire_time),
        auto_renew: d.auto_renew,
        verification_token: d.verification_token,
        verify_time: opt_timestamp(d.verify_time),
        create_time: Some(timestamp(d.create_time)),
        update_time: Some(timestamp(d.update_time)),
    }
}

impl TryFrom<pb::CreateDomainRequest> for CreateDomain {
    type Error = FieldViolations;
    fn try_from(req: pb::CreateDomainRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let request_id = f.request_id("request_id", &req.request_id);
        let d = f.message("domain", req.domain);
        let domain_name = f.take(
            "domain.domain_name",
            dnsname::registrable_domain(&d.domain_name),
        );
        let registrar = f.text("domain.registrar", d.registrar.trim(), MAX_REGISTRAR);
        let registration_time = f.time("domain.registration_time", d.registration_time);
        let expire_time = f.time("domain.expire_time", d.expire_time);
        let (organization, request_id, domain_name, registrar, registration_time, expire_time) = f
            .finish((
                organization,
                request_id,
                domain_name,
                registrar,
                registration_time,
                expire_time,
            ))?;
        Ok(Self {
            organization,
            domain_name,
            registrar,
            registration_time,
            expire_time,
            auto_renew: d.auto_renew,
            write: WriteOptions {
                request_id,
                validate_only: req.validate_only,
            },
        })
    }
}

impl TryFrom<pb::GetDomainRequest> for DomainName {
    type Error = FieldViolations;
    fn try_from(req: pb::GetDomainRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        f.finish(name)
    }
}

impl TryFrom<pb::VerifyDomainRequest> for DomainName {
    type Error = FieldViolations;
    fn try_from(req: pb::VerifyDomainRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let name = f.name("name", &req.name);
        f.finish(name)
    }
}

impl TryFrom<pb::ListDomainsRequest> for ListDomains {
    type Error = FieldViolations;
    fn try_from(req: pb::ListDomainsRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let organization = f.organization("parent", &req.parent);
        let state = match pb::domain::State::try_from(req.state) {
            Ok(pb::domain::State::Unspecified) => Ok(None),
            Ok(pb::domain::State::PendingVerification) => {
                Ok(Some(DomainState::PendingVerification))
            }
            Ok(pb::domain::State::Verified) => Ok(Some(DomainState::Verified)),
            Ok(pb::domain::State::Expired) => Ok(Some(DomainState::Expired)),
            Err(_) => Err("is not a domain state"),
        };
        let state = f.take("state", state);
        let query = format!("domains|{}|{}", req.parent, req.state);
        let page = f.page(req.page_size, &req.page_token, &query);
        let (organization, state, page) = f.finish((organization, state, page))?;
        Ok(Self {
            organization,
            state,
            page,
        })
    }
}

impl TryFrom<pb::UpdateDomainRequest> for UpdateDomain {
    type Error = FieldViolations;
    fn try_from(req: pb::UpdateDomainRequest) -> Result<Self, FieldViolations> {
        let mut f = Fields::new();
        let d = f.message("domain", req.domain);
        let name = f.name("domain.name", &d.name);
        let etag = f.etag("domain.etag", &d.etag);
        let paths = f.update_mask(
            req.update_mask.as_ref(),
            &[
                "registrar",
                "registration_time",
                "expire_time",
                "auto_renew",
            ],
        );
        let registrar = if paths.contains(&"registrar") {
            f.text("domain.registrar", d.registrar.trim(), MAX_REGISTRAR)
                .map(Some)
        } else {
            Some(None)
        };
        let registration_time = if paths.contains(&"registration_time") {
            f.time("domain.registration_time", d.registration_time)
                .map(Some)
        } else {
            Some(None)
        };
        let expire_time = if paths.contains(&"expire_time") {
            f.time("domain.expire_time", d.expire_time).map(Some)
        } else {
            Some(None)
        };
        let (name, etag, registrar, registration_time, expire_time) =
            f.finish((name, etag, registrar, registration_time, expire_time))?;
        Ok(Self {
            name,
            etag,
            registrar,
            registration_time,
            expire_time,
            auto_renew: paths.contains(&"auto_renew").then_some(d.auto_renew),
            validate_only: req.validate_only,
        })
    }
}

impl TryFrom<pb::DeleteDomainRequest> for DeleteDomain {
    type Error = FieldViolations;
    fn try_from(req: pb::DeleteDomainRequest) -> Result<Self, FieldViolations> {
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
impl pb::domain_service_server::DomainService for DomainGrpc {
    async fn create_domain(
        &self,
        request: Request<pb::CreateDomainRequest>,
    ) -> Result<Response<pb::CreateDomainResponse>, Status> {
        unary(&self.0, request, Dns::create_domain, |d| {
            pb::CreateDomainResponse {
                domain: Some(to_pb(d)),
            }
        })
        .await
    }

    async fn get_domain(
        &self,
        request: Request<pb::GetDomainRequest>,
    ) -> Result<Response<pb::GetDomainResponse>, Status> {
        unary(&self.0, request, Dns::get_domain, |d| {
            pb::GetDomainResponse {
                domain: Some(to_pb(d)),
            }
        })
        .await
    }

    async fn list_domains(
        &self,
        request: Request<pb::ListDomainsRequest>,
    ) -> Result<Response<pb::ListDomainsResponse>, Status> {
        unary(&self.0, request, Dns::list_domains, |page| {
            let page = page.map(to_pb);
            pb::ListDomainsResponse {
                domains: page.items,
                next_page_token: page.next_page_token,
            }
        })
        .await
    }

    async fn update_domain(
        &self,
        request: Request<pb::UpdateDomainRequest>,
    ) -> Result<Response<pb::UpdateDomainResponse>, Status> {
        unary(&self.0, request, Dns::update_domain, |d| {
            pb::UpdateDomainResponse {
                domain: Some(to_pb(d)),
            }
        })
        .await
    }

    async fn delete_domain(
        &self,
        request: Request<pb::DeleteDomainRequest>,
    ) -> Result<Response<pb::DeleteDomainResponse>, Status> {
        unary(&self.0, request, Dns::delete_domain, |d| {
            pb::DeleteDomainResponse {
                domain: Some(to_pb(d)),
            }
        })
        .await
    }

    async fn verify_domain(
        &self,
        request: Request<pb::VerifyDomainRequest>,
    ) -> Result<Response<pb::VerifyDomainResponse>, Status> {
        unary(&self.0, request, Dns::verify_domain, |d| {
            pb::VerifyDomainResponse {
                domain: Some(to_pb(d)),
            }
        })
        .await
    }
}
