//! `make bench` for what logging a message costs, everything billed: a
//! simulation in simulated time of three tenant profiles (1,000 orgs at
//! 0.1 message/s, 100 at 1/s, 10 at 10/s), each with single requests and
//! with batches of 100, through the real ingest routers and the real
//! analytics reader at 1, 4 and 32 stream shards, against the production
//! `DynamoStore` on moto with every DynamoDB request metered
//! ([`crate::simulation`], [`crate::meter`]). Its counts are priced at list
//! prices ([`crate::pricing`]) and printed beside the floor, with the
//! targets ([`crate::report`]); `target/bench/cost.json` keeps them.
//!
//! What is assumed rather than measured: the prices, Lambda's CPU share at
//! 128 MB (its handler CPU is measured in process on this machine), and
//! 6 ms per DynamoDB round trip (moto's latency says nothing of DynamoDB's).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Instant,
};

use serde_json::json;
use time::Duration;

use crate::{
    logs::LogBytes,
    pricing::{self, LambdaModel, Row},
    report,
    simulation::{self, RunResult, SimArgs},
    traffic::{Mode, PROFILES},
};

pub struct CostArgs {
    pub memory_mb: u64,
    pub dynamodb_ms: f64,
    pub warmup_s: u64,
    pub seconds: u64,
    pub profiles: Vec<String>,
    pub modes: Vec<String>,
    pub seed: u64,
    /// moto servers to run simulations on, one simulation at a time each
    /// (empty: `AWS_ENDPOINT_URL`'s).
    pub endpoints: Vec<String>,
}

/// The 5-minute ingest caches need this long to reach their steady state.
const MIN_WARMUP_S: u64 = 300;

pub async fn run(args: CostArgs) {
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") else {
        panic!("run through `make bench`, which starts moto");
    };
    if args.warmup_s < MIN_WARMUP_S {
        eprintln!(
            "warning: a warm-up shorter than the ingest caches' {MIN_WARMUP_S} s: the figures are not a steady state's"
        );
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: a debug build: the handler CPU time (and so Lambda's cost) is overstated"
        );
    }
    let endpoints = if args.endpoints.is_empty() {
        vec![endpoint]
    } else {
        args.endpoints.clone()
    };
    let started = Instant::now();
    let mut seeds = fastrand::Rng::with_seed(args.seed);
    let mut simulations = Vec::new();
    for profile in PROFILES
        .into_iter()
        .filter(|p| args.profiles.iter().any(|name| name == p.name))
    {
        for mode in Mode::ALL
            .into_iter()
            .filter(|m| args.modes.iter().any(|name| name == m.name()))
        {
            simulations.push(SimArgs {
                profile,
                mode,
                warmup: Duration::seconds(args.warmup_s as i64),
                window: Duration::seconds(args.seconds as i64),
                seed: seeds.u64(..),
            });
        }
    }
    // moto is single-threaded: each server runs one simulation at a time,
    // on a thread of its own (one current-thread runtime: a request's CPU
    // time is its thread's, and a simulation's order is deterministic).
    let queue = Arc::new(Mutex::new(VecDeque::from(simulations)));
    let workers: Vec<_> = endpoints
        .into_iter()
        .enumerate()
        .map(|(n, endpoint)| {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("cost-simulation-{n}"))
                .stack_size(64 << 20)
                .spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime")
                        .block_on(work(endpoint, queue, started))
                })
                .expect("start a simulation thread")
        })
        .collect();
    let mut results = Vec::new();
    for worker in workers {
        match worker.join() {
            Ok(done) => results.extend(done),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
    // The table's order: profiles, then modes, as listed.
    results.sort_by_key(|r| {
        (
            PROFILES.iter().position(|p| p.name == r.args.profile.name),
            r.args.mode,
        )
    });
    report_all(&args, &results, started);
}

/// Runs simulations from `queue` against the moto at `endpoint` until none is left.
async fn work(
    endpoint: String,
    queue: Arc<Mutex<VecDeque<SimArgs>>>,
    started: Instant,
) -> Vec<RunResult> {
    let aws = chatlogger::aws::Aws::load_with(chatlogger::aws::Budget::interactive(), None).await;
    // This server's, not `AWS_ENDPOINT_URL`'s: set in code, it wins over
    // the environment.
    let mut sdk = aws.sdk().to_builder().endpoint_url(&endpoint);
    sdk.insert_origin("endpoint_url", aws_types::origin::Origin::shared_config());
    let sdk = sdk.build();
    let logs = LogBytes::default();
    let _subscriber = logs.install();
    let mut results = Vec::new();
    loop {
        let Some(sim) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else {
            return results;
        };
        eprintln!(
            "cost: {} {} on {endpoint} ({:.0} s so far)",
            sim.profile.name,
            sim.mode.name(),
            started.elapsed().as_secs_f64()
        );
        let result = simulation::run(&sdk, sim, &logs).await;
        eprintln!(
            "cost: {} {} done in {:.0} s: {} messages billed; {} orgs' summaries exact at every shard count",
            sim.profile.name,
            sim.mode.name(),
            result.wall.as_secs_f64(),
            result.ingest.messages,
            result.checked_orgs
        );
        results.push(result);
    }
}

fn report_all(args: &CostArgs, results: &[RunResult], started: Instant) {
    let lambda = LambdaModel {
        memory_mb: args.memory_mb,
        dynamodb_ms: args.dynamodb_ms,
    };
    let rows: Vec<Row> = results
        .iter()
        .flat_map(|r| pricing::rows(r, lambda))
        .collect();
    // The largest of the profiles (they differ only by their aggregates).
    let storage = results
        .iter()
        .map(|r| pricing::storage_per_million_per_month(r.stored_bytes_per_message))
        .fold(0.0, f64::max);
    let checked: Vec<_> = results
        .iter()
        .map(|r| {
            json!({
                "profile": r.args.profile.name,
                "mode": r.args.mode.name(),
                "orgs_checked_exact": r.checked_orgs,
                "stored_bytes_per_message": r.stored_bytes_per_message,
                "wall_s": r.wall.as_secs_f64(),
            })
        })
        .collect();

    println!(
        "cost per million messages: {} s metered after {} s of warm-up (simulated), every DynamoDB request billed by item size; Lambda at {} MB (handler CPU measured here, scaled to its share of a vCPU, + {} ms per DynamoDB round trip); prices us-east-1",
        args.seconds, args.warmup_s, args.memory_mb, args.dynamodb_ms
    );
    report::print_table(&rows);
    report::print_targets(&rows);
    println!(
        "storage: ${storage:.3} per million messages per month (messages, chats, their index entries and aggregates, 100 bytes of overhead an item, ${}/GB-month and point-in-time recovery ${}/GB-month; the largest of the profiles); not in the totals",
        pricing::DYNAMODB_STORAGE_PER_GB_MONTH,
        pricing::PITR_PER_GB_MONTH
    );
    report::print_details(&rows);
    println!(
        "notes: analytics = its DynamoDB units + GetRecords (${}/M calls) + its Lambda (128 MB every second + a scheduled invocation a minute); each reader hands over every 900 s, and a window shorter than that holds one hand-over (so it is counted {}x as often as in production); logs = ingest's line per request + the aggregator's line per round; freshness = from a change's write (a batch's: its flush) to the commit that showed it",
        pricing::STREAMS_PER_MILLION_GET_RECORDS,
        if args.seconds < 900 {
            format!("{:.1}", 900.0 / args.seconds as f64)
        } else {
            "1".into()
        },
    );
    let path = report::json_path();
    let run = json!({
        "window_s": args.seconds,
        "warmup_s": args.warmup_s,
        "seed": args.seed,
        "lambda_memory_mb": args.memory_mb,
        "dynamodb_round_trip_ms": args.dynamodb_ms,
        "simulations": checked,
        "wall_s": started.elapsed().as_secs_f64(),
    });
    std::fs::create_dir_all(path.parent().expect("a directory")).expect("create target/bench");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&report::json(&rows, storage, run)).expect("JSON"),
    )
    .expect("write cost.json");
    println!(
        "wrote {} ({:.0} s)",
        path.display(),
        started.elapsed().as_secs_f64()
    );
}
