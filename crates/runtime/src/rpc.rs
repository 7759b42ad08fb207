//! The shape of every gRPC adapter: take the principal the auth interceptor
//! attached, parse the request into the domain's input type
//! (`Input: TryFrom<Request, Error = FieldViolations>`, so every bad field
//! comes back in one INVALID_ARGUMENT), make one domain call, and map its
//! result to the response. An adapter method is one call of [`unary`]:
//!
//! ```ignore
//! async fn create_project(&self, request: Request<pb::CreateProjectRequest>)
//!     -> Result<Response<pb::CreateProjectResponse>, Status> {
//!     rpc::unary(&self.0, request, OrgCore::create_project, |p| pb::CreateProjectResponse {
//!         project: Some(project_to_pb(p)),
//!     })
//!     .await
//! }
//! ```
//!
//! The domain method is any `async fn(&Service, &Principal, Input) ->
//! Result<Output, Error>` whose error converts into a `Status` (each
//! service has exactly one such conversion).

use tonic::{Request, Response, Status};

use crate::auth::{self, Principal};
use crate::errors::{self, FieldViolations};

/// Parses `request` into `In`, calls `call(service, principal, input)` and
/// maps its output with `to_pb`.
pub async fn unary<S, Req, In, Out, Resp, E>(
    service: &S,
    request: Request<Req>,
    call: impl AsyncFnOnce(&S, &Principal, In) -> Result<Out, E>,
    to_pb: impl FnOnce(Out) -> Resp,
) -> Result<Response<Resp>, Status>
where
    In: TryFrom<Req, Error = FieldViolations>,
    Status: From<E>,
{
    let (principal, input) = parse(request)?;
    let output = call(service, &principal, input).await?;
    Ok(Response::new(to_pb(output)))
}

/// The principal of a request and its parsed input: the first half of
/// [`unary`], for the rare adapter (a server stream) that cannot use it.
pub fn parse<Req, In>(request: Request<Req>) -> Result<(Principal, In), Status>
where
    In: TryFrom<Req, Error = FieldViolations>,
{
    let principal = auth::principal(&request)?;
    let input = In::try_from(request.into_inner()).map_err(|v| errors::invalid_argument(&v))?;
    Ok((principal, input))
}
