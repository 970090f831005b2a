//! What a simulation's counts cost, in dollars per million messages: list
//! prices (us-east-1) applied to what the run metered, nothing assumed
//! but the prices, Lambda's CPU share and DynamoDB's round-trip time.

use crate::{
    meter::{Bill, Category, Units},
    simulation::RunResult,
    traffic::Mode,
};

// us-east-1 list prices.
/// HTTP API, first 300 million requests a month
/// (<https://aws.amazon.com/api-gateway/pricing/>).
pub const API_GATEWAY_PER_MILLION_REQUESTS: f64 = 1.00;
/// Lambda requests, and Arm (Graviton) duration per GB-second, first tier
/// (<https://aws.amazon.com/lambda/pricing/>).
pub const LAMBDA_PER_MILLION_REQUESTS: f64 = 0.20;
pub const LAMBDA_ARM_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// DynamoDB on-demand, Standard table class: write and read request units
/// (<https://aws.amazon.com/dynamodb/pricing/on-demand/>).
pub const DYNAMODB_PER_MILLION_WRU: f64 = 0.625;
pub const DYNAMODB_PER_MILLION_RRU: f64 = 0.125;
/// DynamoDB Streams: $0.02 per 100,000 read request units, one per
/// `GetRecords` call; free only to Lambda triggers, which the aggregator no
/// longer is (same page).
pub const STREAMS_PER_MILLION_GET_RECORDS: f64 = 0.20;
/// Table storage, and continuous backups (point-in-time recovery, which
/// template.yaml enables), per GB-month (same page).
pub const DYNAMODB_STORAGE_PER_GB_MONTH: f64 = 0.25;
pub const PITR_PER_GB_MONTH: f64 = 0.20;
/// CloudWatch Logs ingestion, Standard class
/// (<https://aws.amazon.com/cloudwatch/pricing/>). The functions' platform
/// lines are dropped (`SystemLogLevel: WARN` in template.yaml): only their
/// own lines are billed.
pub const CLOUDWATCH_LOGS_PER_GB: f64 = 0.50;
/// Lambda gives a function one vCPU at 1,769 MB, and CPU in proportion below.
pub const MB_PER_VCPU: f64 = 1769.0;
/// The aggregator function's memory (template.yaml): it runs every second.
pub const AGGREGATOR_MEMORY_MB: f64 = 128.0;
/// Its schedule starts one invocation a minute (template.yaml).
pub const AGGREGATOR_INVOCATIONS_PER_SECOND: f64 = 1.0 / 60.0;
/// A production aggregator run's length.
const HANDOVER_S: f64 = crate::simulation::HANDOVER_EVERY.whole_seconds() as f64;
/// Bytes as billed in a GB (decimal: the larger count of GB, so no lower bill).
const GB: f64 = 1e9;

/// How ingest's Lambda time is priced: the measured CPU time slowed to the
/// function's share of a vCPU, plus a wait per DynamoDB round trip.
#[derive(Debug, Clone, Copy)]
pub struct LambdaModel {
    pub memory_mb: u64,
    pub dynamodb_ms: f64,
}

impl LambdaModel {
    fn cpu_share(&self) -> f64 {
        (self.memory_mb as f64 / MB_PER_VCPU).min(1.0)
    }

    /// One request's billed duration, in whole milliseconds.
    pub fn billed_ms(&self, cpu_ms: f64, round_trips: u64) -> u64 {
        (cpu_ms / self.cpu_share() + round_trips as f64 * self.dynamodb_ms).ceil() as u64
    }
}

/// Dollars per million messages, by category (the JSON's `usd_per_million`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Dollars {
    pub api: f64,
    pub lambda: f64,
    pub ingest_db: f64,
    pub lookups: f64,
    pub rate_limit: f64,
    pub analytics: f64,
    pub logs: f64,
}

impl Dollars {
    pub fn total(&self) -> f64 {
        self.api
            + self.lambda
            + self.ingest_db
            + self.lookups
            + self.rate_limit
            + self.analytics
            + self.logs
    }
}

/// One row of the table: a profile in a mode, read at one shard count.
#[derive(Debug, Clone)]
pub struct Row {
    pub profile: &'static str,
    /// Messages per second per org.
    pub rate: f64,
    pub mode: Mode,
    pub shards: usize,
    pub usd: Dollars,
    pub floor: f64,
    /// Analytics with the window's hand-over spread over a production
    /// run's 900 s instead (see [`amortized_analytics`]); none without a
    /// hand-over in the window.
    pub analytics_amortized: Option<f64>,
    /// Seconds from a change's write to the commit that showed it.
    pub fresh_p50: f64,
    pub fresh_p99: f64,
    pub detail: Detail,
}

/// What the dollars come from, per message.
#[derive(Debug, Clone, Copy, Default)]
pub struct Detail {
    pub messages: u64,
    pub requests_per_message: f64,
    pub lambda_ms_per_request: f64,
    pub cpu_ms_per_request: f64,
    pub round_trips_per_request: f64,
    pub log_bytes_per_request: f64,
    pub ingest_wru: f64,
    pub ingest_rru: f64,
    pub lookups_wru: f64,
    pub lookups_rru: f64,
    pub rate_limit_wru: f64,
    pub analytics_wru: f64,
    pub analytics_rru: f64,
    pub get_records: f64,
    pub dynamodb_requests: f64,
    pub analytics_requests: f64,
    pub commits: u64,
    pub handovers: u64,
    pub rounds: u64,
}

fn dynamodb(units: Units) -> f64 {
    units.write_units() as f64 * DYNAMODB_PER_MILLION_WRU / 1e6
        + units.reads.units() * DYNAMODB_PER_MILLION_RRU / 1e6
}

fn percentile(sorted: &[f64], percent: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * percent / 100.0).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The rows of one simulation, one per shard count.
pub fn rows(result: &RunResult, lambda: LambdaModel) -> Vec<Row> {
    let ingest = &result.ingest;
    let messages = ingest.messages.max(1) as f64;
    let per_million = |usd: f64| usd / messages * 1e6;
    let window_s = result.args.window.as_seconds_f64();
    let ingest_bill: &Bill = &result.ingest_bill;

    let billed_ms: u64 = ingest
        .durations
        .iter()
        .map(|(cpu, trips)| lambda.billed_ms(*cpu, *trips))
        .sum();
    let ingest_gb_s = lambda.memory_mb as f64 / 1024.0 * billed_ms as f64 / 1000.0;
    let requests = ingest.requests as f64;
    let api = requests * API_GATEWAY_PER_MILLION_REQUESTS / 1e6;
    let ingest_lambda =
        requests * LAMBDA_PER_MILLION_REQUESTS / 1e6 + ingest_gb_s * LAMBDA_ARM_PER_GB_SECOND;
    let aggregator_lambda = AGGREGATOR_MEMORY_MB / 1024.0 * window_s * LAMBDA_ARM_PER_GB_SECOND
        + window_s * AGGREGATOR_INVOCATIONS_PER_SECOND * LAMBDA_PER_MILLION_REQUESTS / 1e6;
    // The floor: each request through API Gateway and Lambda, one write
    // unit per message, and each chat's own writes (its item and its
    // index entry).
    let floor = per_million(
        requests * (API_GATEWAY_PER_MILLION_REQUESTS + LAMBDA_PER_MILLION_REQUESTS) / 1e6
            + (messages + ingest_bill.chat_create_units as f64) * DYNAMODB_PER_MILLION_WRU / 1e6,
    );

    result
        .readers
        .iter()
        .map(|(shards, reader_bill, get_records, tally)| {
            let analytics_units = reader_bill.units(Category::Analytics);
            let analytics = dynamodb(analytics_units)
                + *get_records as f64 * STREAMS_PER_MILLION_GET_RECORDS / 1e6
                + aggregator_lambda;
            let logs = (ingest.log_bytes + tally.log_bytes) as f64 / GB * CLOUDWATCH_LOGS_PER_GB;
            let usd = Dollars {
                api: per_million(api),
                lambda: per_million(ingest_lambda),
                ingest_db: per_million(dynamodb(ingest_bill.units(Category::IngestDb))),
                lookups: per_million(dynamodb(ingest_bill.units(Category::Lookups))),
                rate_limit: per_million(dynamodb(ingest_bill.units(Category::RateLimit))),
                analytics: per_million(analytics),
                logs: per_million(logs),
            };
            // A window of 900 s or more holds hand-overs at their own rate.
            let spread = window_s < HANDOVER_S;
            let analytics_amortized = tally.before_handover.filter(|_| spread).map(|first| {
                let stream = |units: Units, get_records: u64| {
                    dynamodb(units) + get_records as f64 * STREAMS_PER_MILLION_GET_RECORDS / 1e6
                };
                per_million(
                    amortized_analytics(
                        stream(first.units, first.get_records),
                        first.seconds,
                        stream(analytics_units, *get_records),
                        window_s,
                    ) + aggregator_lambda,
                )
            });
            let mut waited = tally.waited.clone();
            waited.sort_by(f64::total_cmp);
            let per_message = |n: f64| n / messages;
            let units = |category| ingest_bill.units(category);
            let detail = Detail {
                messages: ingest.messages,
                requests_per_message: per_message(requests),
                lambda_ms_per_request: billed_ms as f64 / requests.max(1.0),
                cpu_ms_per_request: ingest.cpu_ms / requests.max(1.0),
                round_trips_per_request: ingest.round_trips as f64 / requests.max(1.0),
                log_bytes_per_request: ingest.log_bytes as f64 / requests.max(1.0),
                ingest_wru: per_message(units(Category::IngestDb).write_units() as f64),
                ingest_rru: per_message(units(Category::IngestDb).reads.units()),
                lookups_wru: per_message(units(Category::Lookups).write_units() as f64),
                lookups_rru: per_message(units(Category::Lookups).reads.units()),
                rate_limit_wru: per_message(units(Category::RateLimit).write_units() as f64),
                analytics_wru: per_message(analytics_units.write_units() as f64),
                analytics_rru: per_message(analytics_units.reads.units()),
                get_records: per_message(*get_records as f64),
                dynamodb_requests: per_message(ingest_bill.total().requests as f64),
                analytics_requests: per_message(analytics_units.requests as f64),
                commits: tally.commits.committed as u64,
                handovers: tally.handovers,
                rounds: tally.rounds,
            };
            Row {
                profile: result.args.profile.name,
                rate: result.args.profile.rate,
                mode: result.args.mode,
                shards: *shards,
                usd,
                floor,
                analytics_amortized,
                fresh_p50: percentile(&waited, 50.0),
                fresh_p99: percentile(&waited, 99.0),
                detail,
            }
        })
        .collect()
}

/// A window's reader cost (DynamoDB and `GetRecords`) with its one
/// hand-over counted as production has them, once per 900 s: the part
/// before the hand-over is the steady rate; what the part after it cost
/// beyond that rate is the hand-over's extra (a new reader's reads of
/// chats and days it does not know yet), spread over 900 s.
pub fn amortized_analytics(before: f64, before_s: f64, window: f64, window_s: f64) -> f64 {
    if before_s <= 0.0 || window_s <= before_s {
        return window;
    }
    let rate = before / before_s;
    let extra = (window - before) - rate * (window_s - before_s);
    rate * window_s + extra * (window_s / HANDOVER_S).min(1.0)
}

/// Storage of a million messages for a month, point-in-time recovery included.
pub fn storage_per_million_per_month(stored_bytes_per_message: f64) -> f64 {
    stored_bytes_per_message * 1e6 / GB * (DYNAMODB_STORAGE_PER_GB_MONTH + PITR_PER_GB_MONTH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_bills_cpu_at_its_share_of_a_vcpu_and_each_round_trip_by_the_ms() {
        let model = LambdaModel {
            memory_mb: 128,
            dynamodb_ms: 6.0,
        };
        // 0.1 ms of CPU at 128/1769 of a vCPU is 1.38 ms; two trips 12 ms.
        assert_eq!(model.billed_ms(0.1, 2), 14);
        assert_eq!(model.billed_ms(0.0, 0), 0);
    }

    #[test]
    fn a_handover_extra_is_spread_over_900_s() {
        // $1 a second steady; the hand-over adds $90 after it.
        let amortized = amortized_analytics(150.0, 150.0, 150.0 + 150.0 + 90.0, 300.0);
        assert!((amortized - (300.0 + 30.0)).abs() < 1e-9, "{amortized}");
        assert_eq!(amortized_analytics(0.0, 0.0, 5.0, 300.0), 5.0);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), 50.0);
        assert_eq!(percentile(&sorted, 99.0), 99.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
    }
}
