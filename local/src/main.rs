//! `chatlogger-local`: the one-process local stack behind `make dev`.
//! Provisions the local AWS endpoint (moto), seeds the demo org, and serves
//! every route of every function on one port until Ctrl-C.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use chatlogger::{
    adapters::load_jwt_keyring,
    aws::{Aws, Budget},
    export::{ExportReader, worker::ExportWorker},
    http::BrowserPolicy,
    store::DynamoStore,
    sweep, telemetry,
};
use chatlogger_local::{
    aggregator::LocalAggregator, app, export_poller::ExportPoller, provision, seed,
};
use clap::Parser;

/// How often the local stack sweeps deleted chats (more often than on AWS:
/// a sweep finds nothing to do cheaply).
const LOCAL_SWEEP_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Parser)]
#[command(about = "Serve every chatlogger route locally against the local AWS endpoint")]
struct Args {
    /// Environment file with the local stack's settings.
    #[arg(long, default_value = ".env.local")]
    env_file: String,
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Provision and seed, then exit (for `cargo lambda watch`, which serves
    /// the functions itself).
    #[arg(long)]
    provision_only: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if let Err(error) = dotenvy::from_filename(&args.env_file) {
        return Err(format!("could not read {}: {error}", args.env_file).into());
    }
    telemetry::init();

    // Provisioning and seeding never see injected faults; everything that
    // serves does, when CHATLOGGER_FAULTS asks for them (docs/operations.md,
    // "Fault injection").
    let setup = Aws::load_with(Budget::interactive(), None).await;
    let resources = provision::Resources::from_env()?;
    provision::provision(&setup, &resources).await?;
    let seed_store = DynamoStore::new(setup.dynamodb(), resources.table.clone());
    let aws = Aws::load(Budget::interactive()).await?;
    let store = Arc::new(DynamoStore::new(aws.dynamodb(), resources.table.clone()));

    if args.provision_only {
        // `cargo lambda watch` serves the functions, on :9000 by default.
        print_seed(&seed_store, "http://127.0.0.1:9000").await?;
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|error| {
            format!(
                "cannot listen on {}: {error} (is another `make dev` running?)",
                args.listen
            )
        })?;
    let base_url = format!("http://{}", args.listen);
    print_seed(&seed_store, &base_url).await?;
    println!("chatlogger is serving every route on {base_url} (Ctrl-C stops it)");
    println!("Dashboard: {base_url}/");
    println!("the local analytics aggregator's lag: {base_url}/local/health");

    // The aggregator, reading moto's stream with the template's cadence: the
    // dashboard's analytics follow ingest within 10 to 45 s.
    let aggregator = LocalAggregator::open(&aws, store.clone())
        .await
        .map_err(|error| format!("cannot read the table's stream: {error}"))?;
    let aggregator_status = aggregator.status();
    tokio::spawn(aggregator.run());

    // The deleted-chat sweeper, on a timer as EventBridge runs it on AWS.
    let sweeper_store = store.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(LOCAL_SWEEP_INTERVAL);
        loop {
            every.tick().await;
            let now = time::OffsetDateTime::now_utc();
            if let Err(error) = sweep::sweep_deleted_chats(&*sweeper_store, now).await {
                tracing::error!(error = ?error, "deleted-chat sweep failed");
            }
        }
    });

    let keys = load_jwt_keyring(aws.sdk()).await?;
    let browser = BrowserPolicy::from_env()?;
    let (queue_url, exports) = provision::exports(&aws, &resources).await?;
    // The export worker, fed by polling the queue as Lambda's trigger would.
    let worker = ExportWorker::new(
        store.clone(),
        ExportReader::new(store.clone()),
        exports.bucket.clone(),
        exports.queue.clone(),
        chatlogger_local::EXPORT_MAX_RECEIVE_COUNT,
    );
    let poller = ExportPoller::new(aws.sqs(), queue_url, worker, Duration::from_secs(5));
    tokio::spawn(poller.run());
    // Connect info: the sign-in throttle counts failures per client address.
    let service = app(store, keys, browser, exports)
        .merge(chatlogger_local::local_health(aggregator_status))
        .into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn print_seed(store: &DynamoStore, base_url: &str) -> Result<(), Box<dyn std::error::Error>> {
    match seed::seed_demo(store).await? {
        Some(credentials) => println!("{}", credentials.banner(base_url)),
        None => println!(
            "\nThe demo org already exists (its key was printed when it was first seeded).\n"
        ),
    }
    Ok(())
}
