//! `chatlogger-load`: see the crate docs (`lib.rs`) and docs/local-aws.md,
//! "Load". Exit status: 0 every target met, 1 a target missed, 2 the run
//! could not be carried out.

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use chatlogger::{
    aws::{Aws, Budget},
    config,
    store::DynamoStore,
};
use chatlogger_load::{
    LoadError,
    dashboard::{AnalyticsOutcome, Counted, Dashboard},
    freshness,
    plugin::{Plugin, PluginReport, PluginSettings},
    report::{self, Report, Targets},
    setup,
    stats::Recorder,
    target::loopback_url,
};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "chatlogger-load",
    about = "Concurrent chat plugins against a local chatlogger stack (loopback only). \
             Uses the standard AWS environment and TABLE_NAME to create its org."
)]
struct Args {
    /// The API's base URL (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    base_url: String,
    /// Concurrent plugins, each with its own chat.
    #[arg(long, default_value_t = 50)]
    plugins: usize,
    /// Messages per plugin.
    #[arg(long, default_value_t = 200)]
    messages: usize,
    /// Share of acknowledged messages re-sent blindly.
    #[arg(long, default_value_t = 0.1)]
    blind_retries: f64,
    /// Seeds the plugins' choices (contents, token counts, what to re-send).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Bound on each request, connection to last byte.
    #[arg(long, default_value_t = 10_000)]
    request_timeout_ms: u64,
    /// Attempts per request (timeouts, broken connections, 429 and 5xx are retried).
    #[arg(long, default_value_t = 4)]
    max_attempts: u32,
    /// No plugin request starts after this many seconds.
    #[arg(long, default_value_t = 900)]
    deadline_secs: u64,
    /// How long to poll the analytics after the last acknowledgement.
    #[arg(long, default_value_t = 120)]
    analytics_timeout_secs: u64,
    /// Target: p99 latency over every request.
    #[arg(long, default_value_t = 1000)]
    target_p99_ms: u64,
    /// Target: analytics exact within this many seconds of the last acknowledgement.
    #[arg(long, default_value_t = 30)]
    target_analytics_secs: u64,
    /// Freshness probes beside the load: a quiet org logging a message
    /// every 10 s and an active one logging a message a second, this many
    /// messages each, every message timed until its summary counts it
    /// (0: no probes).
    #[arg(long, env = "LOAD_FRESHNESS_MESSAGES", default_value_t = 0)]
    freshness_messages: usize,
    /// Target: p99 of a message's wait for its summary, any org.
    #[arg(long, default_value_t = 60)]
    target_freshness_secs: u64,
    /// Target: the same, for an org logging a message a second or more.
    #[arg(long, default_value_t = 20)]
    target_active_freshness_secs: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let targets = Targets {
        p99: Duration::from_millis(args.target_p99_ms),
        analytics_lag: Duration::from_secs(args.target_analytics_secs),
        freshness_p99: Duration::from_secs(args.target_freshness_secs),
        active_freshness_p99: Duration::from_secs(args.target_active_freshness_secs),
    };
    match run(&args).await {
        Ok(report) => {
            print!("{}", report.render(&targets));
            if report.verdicts(&targets).iter().all(|(_, met)| *met) {
                ExitCode::SUCCESS
            } else {
                eprintln!("load: a target was missed (see above)");
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("load: {error}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: &Args) -> Result<Report, LoadError> {
    let base = loopback_url("--base-url", &args.base_url).await?;
    // The org is created straight in the table: never let that reach real AWS.
    let endpoint = std::env::var("AWS_ENDPOINT_URL").map_err(|_| {
        LoadError::NotLoopback("AWS_ENDPOINT_URL is not set: refusing to write to real AWS".into())
    })?;
    loopback_url("AWS_ENDPOINT_URL", &endpoint).await?;
    let table = config::table_name().map_err(|e| LoadError::Setup(e.to_string()))?;
    // Without fault injection: setting up the org must not fail at random.
    let aws = Aws::load_with(Budget::interactive(), None).await;
    let store = DynamoStore::new(aws.dynamodb(), table);
    let org = setup::create_load_org(&store).await?;

    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(args.request_timeout_ms))
        .connect_timeout(Duration::from_secs(2))
        .build()
        .map_err(LoadError::http(&base))?;
    let mut dashboard = Dashboard::new(client.clone(), base.clone(), &org);
    dashboard.sign_in_now().await?;

    // The probes run beside the load, each with an org of its own.
    let mut probes = Vec::new();
    if args.freshness_messages > 0 {
        for (name, rate) in [("quiet", 0.1), ("active", 1.0)] {
            let org = setup::create_load_org(&store).await?;
            probes.push(tokio::spawn(freshness::probe(
                name,
                client.clone(),
                base.clone(),
                org,
                rate,
                args.freshness_messages,
                Duration::from_secs(args.analytics_timeout_secs),
            )));
        }
    }

    let started = Instant::now();
    let settings = PluginSettings {
        base: base.clone(),
        slug: org.slug.clone(),
        api_key: org.api_key.clone(),
        messages: args.messages,
        blind_retry_share: args.blind_retries,
        max_attempts: args.max_attempts.max(1),
        deadline: started + Duration::from_secs(args.deadline_secs),
    };
    let tasks: Vec<_> = (0..args.plugins)
        .map(|number| {
            let plugin = Plugin::new(number, settings.clone(), client.clone(), args.seed);
            tokio::spawn(plugin.run())
        })
        .collect();
    let mut plugins: Vec<PluginReport> = Vec::with_capacity(tasks.len());
    for task in tasks {
        plugins.push(task.await.expect("a plugin task does not panic"));
    }
    let last_ack = plugins
        .iter()
        .filter_map(|p| p.last_ack)
        .max()
        .unwrap_or(started);

    let acked: Vec<_> = plugins
        .iter()
        .flat_map(|p| p.acked.iter().cloned())
        .collect();
    let chats: Vec<String> = plugins.iter().filter_map(|p| p.chat_id.clone()).collect();
    let expected = Counted {
        messages: acked.len() as u64,
        chats: chats.len() as u64,
        tokens: acked.iter().map(|m| m.tokens).sum(),
        user_messages: acked.iter().filter(|m| m.role == "user").count() as u64,
        assistant_messages: acked.iter().filter(|m| m.role == "assistant").count() as u64,
    };
    let poll_for = (last_ack + Duration::from_secs(args.analytics_timeout_secs))
        .saturating_duration_since(Instant::now());
    let analytics = match dashboard.wait_for_analytics(&expected, poll_for).await? {
        AnalyticsOutcome::Exact { at } => Ok(at.saturating_duration_since(last_ack)),
        AnalyticsOutcome::NotReached { last } => Err(last),
    };

    let mut stored = Vec::new();
    for chat in &chats {
        stored.extend(dashboard.messages(chat).await?);
    }

    let mut freshness = Vec::new();
    for probe in probes {
        freshness.push(probe.await.expect("a probe task does not panic")?);
    }

    let mut requests = Recorder::default();
    let mut blind_retry_surprises = Vec::new();
    let mut refusals = Vec::new();
    let mut blind_retries = 0;
    for plugin in plugins {
        requests.merge(plugin.requests);
        blind_retries += plugin.blind_retries;
        blind_retry_surprises.extend(plugin.blind_retry_surprises);
        refusals.extend(plugin.refusals);
    }
    Ok(Report {
        title: format!(
            "chatlogger load: {} plugins x {} messages against {base} (org {})",
            args.plugins, args.messages, org.slug
        ),
        planned_messages: args.plugins * args.messages,
        acked_messages: acked.len(),
        planned_chats: args.plugins,
        chats: chats.len(),
        ingest_time: last_ack.saturating_duration_since(started),
        requests,
        blind_retries,
        blind_retry_surprises,
        refusals,
        read_back: report::compare(&acked, &stored),
        expected_analytics: expected,
        analytics,
        freshness,
    })
}
