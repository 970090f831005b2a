//! The cost bench's output: the table (every row beside its floor), the
//! targets (met or not), what each row's dollars come from, and
//! `target/bench/cost.json`.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::{
    pricing::Row,
    traffic::{Mode, PROFILES},
};

/// A single request's total may be at most this, per profile.
fn single_target(profile: &str) -> f64 {
    match profile {
        "quiet" => 2.60,
        "typical" => 2.40,
        _ => 2.30,
    }
}
const BATCH_TARGET: f64 = 0.90;
const ANALYTICS_TARGET: f64 = 0.20;
const LOOKUPS_QUIET_TARGET: f64 = 0.10;
/// 32 shards may cost at most this much more (or less) than 4.
const SHARDS_TOLERANCE: f64 = 0.05;
const FRESH_P99: f64 = 60.0;
/// For orgs logging at least a message a second.
const FRESH_ACTIVE_P99: f64 = 20.0;

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT MET" }
}

fn total_target(row: &Row) -> f64 {
    match row.mode {
        Mode::Single => single_target(row.profile),
        Mode::Batch => BATCH_TARGET,
    }
}

fn fresh_target(row: &Row) -> f64 {
    if row.rate >= 1.0 {
        FRESH_ACTIVE_P99
    } else {
        FRESH_P99
    }
}

pub fn print_table(rows: &[Row]) {
    println!(
        "$ per million messages | {:<7} {:<6} {:>3} | {:>6} {:>6} {:>9} {:>7} {:>10} {:>9} {:>6} | {:>6} {:>6} {:>7} | {:>13} | targets",
        "profile",
        "mode",
        "sh",
        "api",
        "lambda",
        "ingest_db",
        "lookups",
        "rate_limit",
        "analytics",
        "logs",
        "TOTAL",
        "floor",
        "target",
        "fresh p50/p99"
    );
    for row in rows {
        let u = &row.usd;
        let mut missed = Vec::new();
        if u.total() > total_target(row) {
            missed.push("total");
        }
        if u.analytics > ANALYTICS_TARGET {
            missed.push("analytics");
        }
        if row.profile == "quiet" && u.lookups > LOOKUPS_QUIET_TARGET {
            missed.push("lookups");
        }
        if row.fresh_p99 > fresh_target(row) {
            missed.push("freshness");
        }
        println!(
            "                       | {:<7} {:<6} {:>3} | {:>6.3} {:>6.3} {:>9.3} {:>7.3} {:>10.3} {:>9.3} {:>6.3} | {:>6.3} {:>6.3} {:>7.2} | {:>5.1}s/{:>5.1}s | {}",
            row.profile,
            row.mode.name(),
            row.shards,
            u.api,
            u.lambda,
            u.ingest_db,
            u.lookups,
            u.rate_limit,
            u.analytics,
            u.logs,
            u.total(),
            row.floor,
            total_target(row),
            row.fresh_p50,
            row.fresh_p99,
            if missed.is_empty() {
                "met".to_owned()
            } else {
                format!("NOT MET: {}", missed.join(", "))
            }
        );
    }
}

/// Each target, over every row it applies to.
pub fn print_targets(rows: &[Row]) {
    println!("targets:");
    let worst = |filter: &dyn Fn(&Row) -> bool, value: &dyn Fn(&Row) -> f64| {
        rows.iter()
            .filter(|r| filter(r))
            .map(value)
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let analytics = worst(&|_| true, &|r| r.usd.analytics);
    println!(
        "  analytics <= ${ANALYTICS_TARGET:.2} in every row: {} (at most ${analytics:.3})",
        met(analytics <= ANALYTICS_TARGET)
    );
    for profile in PROFILES {
        let target = single_target(profile.name);
        let total = worst(
            &|r| r.profile == profile.name && r.mode == Mode::Single,
            &|r| r.usd.total(),
        );
        if total.is_finite() {
            println!(
                "  single, {}: total <= ${target:.2}: {} (at most ${total:.3})",
                profile.name,
                met(total <= target)
            );
        }
    }
    let batch = worst(&|r| r.mode == Mode::Batch, &|r| r.usd.total());
    if batch.is_finite() {
        println!(
            "  batches: total <= ${BATCH_TARGET:.2} in every profile: {} (at most ${batch:.3})",
            met(batch <= BATCH_TARGET)
        );
    }
    for four in rows.iter().filter(|r| r.shards == 4) {
        let Some(many) = rows
            .iter()
            .find(|r| r.shards == 32 && r.profile == four.profile && r.mode == four.mode)
        else {
            continue;
        };
        let change = many.usd.total() / four.usd.total() - 1.0;
        println!(
            "  {} {}: 32 shards within 5% of 4: {} ({:+.2}%: ${:.3} vs ${:.3})",
            four.profile,
            four.mode.name(),
            met(change.abs() <= SHARDS_TOLERANCE),
            change * 100.0,
            many.usd.total(),
            four.usd.total()
        );
    }
    let lookups = worst(&|r| r.profile == "quiet", &|r| r.usd.lookups);
    if lookups.is_finite() {
        println!(
            "  lookups <= ${LOOKUPS_QUIET_TARGET:.2} for quiet orgs: {} (at most ${lookups:.3})",
            met(lookups <= LOOKUPS_QUIET_TARGET)
        );
    }
    for profile in PROFILES {
        let p99 = worst(&|r| r.profile == profile.name, &|r| r.fresh_p99);
        if !p99.is_finite() {
            continue;
        }
        let target = if profile.rate >= 1.0 {
            FRESH_ACTIVE_P99
        } else {
            FRESH_P99
        };
        println!(
            "  freshness, {} ({} msg/s an org): p99 <= {target:.0} s: {} (at most {p99:.1} s)",
            profile.name,
            profile.rate,
            met(p99 <= target)
        );
    }
}

/// Per message, what each row's dollars come from.
pub fn print_details(rows: &[Row]) {
    println!(
        "per message          |  msgs  req/msg  Lambda ms/req (CPU ms, trips)  log B/req | DynamoDB req | ingest WRU RRU | lookups WRU RRU | rate WRU | analytics WRU RRU GetRecords req | commits rounds hand-overs | analytics $/M, hand-over per 900 s"
    );
    for row in rows {
        let d = &row.detail;
        println!(
            "{:<7} {:<6} {:>3}   | {:>6} {:>7.4} {:>6.2} ({:>6.3}, {:>5.2}) {:>9.0} | {:>12.4} | {:>6.4} {:>6.4} | {:>6.4} {:>6.4} | {:>8.4} | {:>6.4} {:>6.4} {:>8.5} {:>6.4} | {:>6} {:>5} {:>3} | {}",
            row.profile,
            row.mode.name(),
            row.shards,
            d.messages,
            d.requests_per_message,
            d.lambda_ms_per_request,
            d.cpu_ms_per_request,
            d.round_trips_per_request,
            d.log_bytes_per_request,
            d.dynamodb_requests,
            d.ingest_wru,
            d.ingest_rru,
            d.lookups_wru,
            d.lookups_rru,
            d.rate_limit_wru,
            d.analytics_wru,
            d.analytics_rru,
            d.get_records,
            d.analytics_requests,
            d.commits,
            d.rounds,
            d.handovers,
            row.analytics_amortized
                .map_or_else(|| "-".to_owned(), |usd| format!("{usd:.3}")),
        );
    }
}

/// Where `cost.json` goes: `target/bench/`, under `CARGO_TARGET_DIR` when set.
pub fn json_path() -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    target.join("bench").join("cost.json")
}

pub fn json(rows: &[Row], storage_per_million_per_month: f64, run: Value) -> Value {
    let profiles: Vec<Value> = rows
        .iter()
        .map(|row| {
            let u = &row.usd;
            json!({
                "profile": row.profile,
                "mode": row.mode.name(),
                "shards": row.shards,
                "usd_per_million": {
                    "api": u.api,
                    "lambda": u.lambda,
                    "ingest_db": u.ingest_db,
                    "lookups": u.lookups,
                    "rate_limit": u.rate_limit,
                    "analytics": u.analytics,
                    "logs": u.logs,
                    "total": u.total(),
                },
                "floor_usd_per_million": row.floor,
                "analytics_handover_every_900s_usd_per_million": row.analytics_amortized,
                "freshness_s": {"p50": row.fresh_p50, "p99": row.fresh_p99},
                "messages": row.detail.messages,
            })
        })
        .collect();
    json!({
        "profiles": profiles,
        "storage_usd_per_million_per_month": storage_per_million_per_month,
        "run": run,
    })
}
