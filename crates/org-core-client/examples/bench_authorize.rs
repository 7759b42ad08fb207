//! Micro-benchmark of the cached authorize path.
//!
//! Starts loopbackd in-process (the test harness's `TestServer`, SQLite in a
//! temp dir), creates an organization, warms the client's cache, then times
//! cached `authorize` calls: first on one task, then on one task per CPU at
//! once. Run it in release:
//!
//! ```sh
//! cargo run --release -p loopback-org-core-client --example bench_authorize [-- CALLS]
//! ```

use std::error::Error;
use std::time::{Duration, Instant};

use loopback_org_core_client::{ActionClass, AuthorityClient, Config, Principal, PrincipalKind};
use loopback_tests::{Backend, TestServer};

const PERMISSION: &str = "orgcore.projects.get";

async fn cached_calls(
    client: &AuthorityClient,
    principal: &Principal,
    org: &str,
    calls: u64,
) -> Result<Duration, Box<dyn Error + Send + Sync>> {
    let start = Instant::now();
    for _ in 0..calls {
        let authorization = client
            .authorize(principal, org, PERMISSION, ActionClass::Read)
            .await?;
        std::hint::black_box(&authorization);
    }
    Ok(start.elapsed())
}

fn per_call(elapsed: Duration, calls: u64) -> f64 {
    elapsed.as_nanos() as f64 / calls as f64
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let calls: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 1_000_000,
    };
    let server = TestServer::start(Backend::Sqlite).await;
    let owner_email = "owner@example.com";
    let org = server
        .create_org(&server.account_token(owner_email), "Bench")
        .await
        .name;
    // The principal `account_token` authenticates as.
    let owner = Principal {
        kind: PrincipalKind::Account,
        subject: format!("sub-{owner_email}"),
        email: Some(owner_email.into()),
        name: None,
    };

    let client = AuthorityClient::connect(Config::new(
        format!("http://{}", server.app.addr),
        server.service_token("bench"),
    ))?;
    // Let the watch stream replay the feed first, so nothing invalidates the
    // warm entry while timing.
    let revision = client.policy(&org).await?.revision;
    while !(client.watch_connected() && client.stats().watched_revision >= revision) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let first = client
        .authorize(&owner, &org, PERMISSION, ActionClass::Read)
        .await?;
    assert!(first.is_allowed(), "{first:?}");
    let rpcs = client.stats().rpcs;

    // Warm-up, then the measured run on one task.
    cached_calls(&client, &owner, &org, calls / 10).await?;
    let elapsed = cached_calls(&client, &owner, &org, calls).await?;
    println!(
        "cached authorize, 1 task: {calls} calls in {elapsed:.2?} = {:.0} ns/call",
        per_call(elapsed, calls)
    );

    // One task per CPU at once, each doing `calls` calls.
    let tasks = std::thread::available_parallelism().map_or(2, |n| n.get());
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let client = client.clone();
            let owner = owner.clone();
            let org = org.clone();
            tokio::spawn(async move { cached_calls(&client, &owner, &org, calls).await })
        })
        .collect();
    for handle in handles {
        handle.await??;
    }
    let elapsed = start.elapsed();
    let total = calls * tasks as u64;
    println!(
        "cached authorize, {tasks} tasks: {total} calls in {elapsed:.2?} = {:.0} ns/call per task, {:.1} M checks/s in total",
        per_call(elapsed, calls),
        total as f64 / elapsed.as_secs_f64() / 1e6
    );
    let stats = client.stats();
    assert_eq!(stats.rpcs, rpcs, "every timed call was a cache hit");
    println!("RPCs during the timed runs: {}", stats.rpcs - rpcs);

    server.stop().await;
    Ok(())
}
