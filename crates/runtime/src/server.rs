//! gRPC server bootstrap: every Loopback server serves reflection (v1 and
//! v1alpha, so both current grpcurl and 1.8.x work), `grpc.health.v1`, a
//! tracing span per call with a request id, and drains on shutdown within a
//! grace period.
//!
//! Accepted connections get `TCP_NODELAY`. tonic sets it only on listeners
//! it binds itself; on ours, Nagle's algorithm held every small response
//! until the client's delayed ACK came back, so each unary call took at
//! least ~40 ms.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::service::RoutesBuilder;
use tonic::transport::Server;
use tonic_health::ServingStatus;

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Reflection could not load the descriptor set (a build bug).
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves `routes` plus reflection and health on `listener` until `shutdown`
/// is cancelled, then lets in-flight calls finish for up to `grace`.
/// `service_names` are reported SERVING by the health service.
pub async fn serve(
    mut routes: RoutesBuilder,
    service_names: &[&str],
    listener: TcpListener,
    shutdown: CancellationToken,
    grace: Duration,
) -> Result<(), ServeError> {
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(loopback_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(loopback_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    for name in service_names {
        health_reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    routes
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(health_service);

    let server = Server::builder()
        .trace_fn(|request| {
            tracing::info_span!(
                "rpc",
                method = %request.uri().path(),
                request_id = %uuid::Uuid::now_v7(),
            )
        })
        .add_routes(routes.routes())
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(listener).map(|accepted| {
                let stream = accepted?;
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                }
                Ok::<_, std::io::Error>(stream)
            }),
            shutdown.clone().cancelled_owned(),
        );
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => Ok(result?),
        () = async {
            shutdown.cancelled().await;
            // Flip health first so load balancers stop sending new calls.
            health_reporter.set_service_status("", ServingStatus::NotServing).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_seconds = grace.as_secs(), "shutdown grace period over; closing remaining calls");
            Ok(())
        }
    }
}

/// Resolves when the process gets SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
