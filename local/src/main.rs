//! `chatlogger-local`: the one-process local stack behind `make dev`.
//! Provisions the local AWS endpoint (moto), seeds the demo org, and serves
//! every route of every function on one port until Ctrl-C.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use chatlogger::export::worker::ExportWorker;
use chatlogger::{
    auth::{BrowserPolicy, JwtKeys},
    aws,
    store::DynamoStore,
    telemetry,
};
use chatlogger_local::{app, export_poller::ExportPoller, provision, seed, stream::StreamPoller};
use clap::Parser;

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

    let sdk = aws::load_sdk_config().await;
    let resources = provision::Resources::from_env()?;
    provision::provision(&sdk, &resources).await?;
    let store = Arc::new(DynamoStore::new(
        aws::dynamodb(&sdk),
        resources.table.clone(),
    ));

    if args.provision_only {
        // `cargo lambda watch` serves the functions, on :9000 by default.
        print_seed(&store, "http://127.0.0.1:9000").await?;
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
    print_seed(&store, &base_url).await?;
    println!("chatlogger is serving every route on {base_url} (Ctrl-C stops it)");
    println!("Dashboard: {base_url}/");

    // The aggregator, fed from moto's stream: the dashboard's analytics
    // follow ingest within a second or so.
    let poller = StreamPoller::open(&sdk, &resources.table)
        .await
        .map_err(|error| format!("cannot read the table's stream: {error}"))?;
    let aggregator_store = store.clone();
    tokio::spawn(async move { poller.run(&*aggregator_store).await });

    let keys = JwtKeys::from_env()?;
    let browser = BrowserPolicy::from_env()?;
    let (queue_url, exports) = provision::exports(&sdk, &resources).await?;
    // The export worker, fed by polling the queue as Lambda's trigger would.
    let worker = ExportWorker::new(
        store.clone(),
        store.clone(),
        exports.bucket.clone(),
        chatlogger_local::EXPORT_MAX_RECEIVE_COUNT,
    );
    let poller = ExportPoller::new(aws::sqs(&sdk), queue_url, worker, Duration::from_secs(5));
    tokio::spawn(poller.run());
    // Connect info: the sign-in throttle counts failures per client address.
    let service =
        app(store, keys, browser, exports).into_make_service_with_connect_info::<SocketAddr>();
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
