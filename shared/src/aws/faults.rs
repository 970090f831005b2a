//! Fault injection: makes a share of AWS calls fail the way AWS calls do,
//! to prove that nothing is lost, doubled or left half-done when they do.
//! Off unless configured: `CHATLOGGER_FAULTS=rate=0.1` (the local stack
//! and tests only; `template.yaml` never sets it, and a test checks that).
//!
//! The spec is comma-separated `key=value` pairs:
//! - `rate` (required): the share of HTTP requests to AWS that fail, 0-1;
//! - `kinds`: `+`-separated, default all of
//!   - `server`: HTTP 500 (`InternalServerError` / `InternalFailure` in
//!     JSON for DynamoDB, Streams and SQS; `InternalError` in S3's XML);
//!   - `throttle`: HTTP 400 `ThrottlingException` (SQS `RequestThrottled`;
//!     S3 503 `SlowDown`);
//!   - `timeout`: the endpoint never answers, until the SDK's attempt
//!     timeout gives up on it;
//!   - `reset`: the connection is reset (a connector I/O error);
//! - `after` (default 0.5): the share of `server`, `timeout` and `reset`
//!   faults that strike *after* the request reached AWS, so the call took
//!   effect but its answer was lost. The others strike before sending, so
//!   the call did not happen. Throttling always strikes before.
//! - `seed`: the random sequence (default: from the clock; logged, to replay).
//!
//! Faults are injected below the SDK (a wrapper around its HTTP client), so
//! the SDK's retries, timeouts and error parsing all see them as real.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use aws_smithy_runtime_api::{
    client::{
        connection::{CaptureSmithyConnection, ConnectionMetadata},
        http::{
            HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings,
            SharedHttpClient, SharedHttpConnector,
        },
        orchestrator::{HttpRequest, HttpResponse},
        result::ConnectorError,
        runtime_components::RuntimeComponents,
    },
    http::StatusCode,
};
use aws_smithy_types::body::SdkBody;

/// The environment variable that turns fault injection on.
pub const FAULTS_ENV: &str = "CHATLOGGER_FAULTS";

/// How long a `timeout` fault keeps a call waiting if nothing gives up on
/// it first. Every client has an attempt timeout far shorter than this.
const HANG: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    Server,
    Throttle,
    Timeout,
    Reset,
}

impl FaultKind {
    pub const ALL: [Self; 4] = [Self::Server, Self::Throttle, Self::Timeout, Self::Reset];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Throttle => "throttle",
            Self::Timeout => "timeout",
            Self::Reset => "reset",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// Whether the fault can strike once the call took effect. A throttled
    /// request is refused before anything happens.
    fn can_strike_after(self) -> bool {
        self != Self::Throttle
    }
}

/// When a fault strikes, relative to the request reaching AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPhase {
    /// The request was never sent: the call had no effect.
    Before,
    /// The request was sent and answered, and the answer was lost.
    After,
}

/// Which faults to inject, and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    pub rate: f64,
    pub kinds: Vec<FaultKind>,
    pub after: f64,
    pub seed: u64,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{FAULTS_ENV} is invalid ({0}); expected e.g. rate=0.1,kinds=server+throttle+timeout+reset,after=0.5,seed=7"
)]
pub struct FaultConfigError(String);

impl Faults {
    /// `rate` of all calls failing, every kind, half of them after the call.
    pub fn new(rate: f64, seed: u64) -> Self {
        Self {
            rate,
            kinds: FaultKind::ALL.to_vec(),
            after: 0.5,
            seed,
        }
    }

    /// The faults `CHATLOGGER_FAULTS` asks for, if it is set and not empty.
    pub fn from_env() -> Result<Option<Self>, FaultConfigError> {
        match std::env::var(FAULTS_ENV) {
            Ok(spec) if !spec.trim().is_empty() => Self::parse(&spec).map(Some),
            _ => Ok(None),
        }
    }

    pub fn parse(spec: &str) -> Result<Self, FaultConfigError> {
        let bad = |what: String| FaultConfigError(what);
        let share = |key: &str, value: &str| -> Result<f64, FaultConfigError> {
            value
                .parse::<f64>()
                .ok()
                .filter(|share| (0.0..=1.0).contains(share))
                .ok_or_else(|| bad(format!("{key} must be a number from 0 to 1, got {value:?}")))
        };
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |elapsed| elapsed.as_nanos() as u64);
        let mut faults = Self::new(f64::NAN, clock);
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad(format!("{pair:?} is not key=value")))?;
            match key.trim() {
                "rate" => faults.rate = share(key, value)?,
                "after" => faults.after = share(key, value)?,
                "seed" => {
                    faults.seed = value
                        .parse()
                        .map_err(|_| bad(format!("seed must be an integer, got {value:?}")))?;
                }
                "kinds" => {
                    faults.kinds = value
                        .split('+')
                        .map(|name| {
                            FaultKind::parse(name.trim())
                                .ok_or_else(|| bad(format!("unknown fault kind {name:?}")))
                        })
                        .collect::<Result<_, _>>()?;
                }
                other => return Err(bad(format!("unknown setting {other:?}"))),
            }
        }
        if faults.rate.is_nan() {
            return Err(bad("rate is required".into()));
        }
        if faults.kinds.is_empty() {
            return Err(bad("kinds is empty".into()));
        }
        Ok(faults)
    }

    /// Says loudly that calls will fail on purpose, and how to replay them.
    pub(super) fn announce(&self) {
        tracing::warn!(
            faults = %self,
            "FAULT INJECTION IS ON: AWS calls will fail on purpose ({FAULTS_ENV})"
        );
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<&str> = self.kinds.iter().map(|kind| kind.as_str()).collect();
        write!(
            f,
            "rate={},kinds={},after={},seed={}",
            self.rate,
            kinds.join("+"),
            self.after,
            self.seed
        )
    }
}

/// The injector of a process: decides which requests fail and counts them.
#[derive(Debug)]
pub struct InjectedFaults {
    faults: Faults,
    /// splitmix64 state: lock-free, and the same sequence for the same seed.
    state: AtomicU64,
    /// Injected so far, by kind and phase.
    counts: [[AtomicU64; 2]; 4],
}

impl InjectedFaults {
    pub(super) fn new(faults: Faults) -> Self {
        Self {
            state: AtomicU64::new(faults.seed),
            faults,
            counts: Default::default(),
        }
    }

    pub fn config(&self) -> &Faults {
        &self.faults
    }

    /// How many faults of this kind struck in this phase so far.
    pub fn count(&self, kind: FaultKind, phase: FaultPhase) -> u64 {
        self.counts[kind as usize][phase as usize].load(Ordering::Relaxed)
    }

    pub fn total(&self) -> u64 {
        self.counts
            .iter()
            .flatten()
            .map(|count| count.load(Ordering::Relaxed))
            .sum()
    }

    /// A uniform number in [0, 1).
    fn random(&self) -> f64 {
        let mut z = self
            .state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether this request fails, how and when: decided before it is sent.
    fn decide(&self) -> Option<(FaultKind, FaultPhase)> {
        if self.random() >= self.faults.rate {
            return None;
        }
        let kinds = &self.faults.kinds;
        let kind = kinds[((self.random() * kinds.len() as f64) as usize).min(kinds.len() - 1)];
        let phase = if kind.can_strike_after() && self.random() < self.faults.after {
            FaultPhase::After
        } else {
            FaultPhase::Before
        };
        self.counts[kind as usize][phase as usize].fetch_add(1, Ordering::Relaxed);
        Some((kind, phase))
    }
}

/// Wraps the SDK's HTTP client so its connectors inject faults.
#[derive(Debug)]
pub(super) struct FaultyClient {
    inner: SharedHttpClient,
    faults: Arc<InjectedFaults>,
}

impl FaultyClient {
    pub(super) fn new(inner: impl HttpClient + 'static, faults: Arc<InjectedFaults>) -> Self {
        Self {
            inner: SharedHttpClient::new(inner),
            faults,
        }
    }
}

impl HttpClient for FaultyClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultyConnector {
            inner: self.inner.http_connector(settings, components),
            faults: self.faults.clone(),
        })
    }
}

#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    faults: Arc<InjectedFaults>,
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let Some((kind, phase)) = self.faults.decide() else {
            return self.inner.call(request);
        };
        let protocol = Protocol::of(&request);
        tracing::debug!(
            fault = kind.as_str(),
            ?phase,
            ?protocol,
            "injecting an AWS fault"
        );
        match phase {
            FaultPhase::Before => {
                // The SDK closes a connection that failed this way; there is
                // none, so it gets one to close (else it logs an error).
                if let Some(capture) = request.extension::<CaptureSmithyConnection>() {
                    capture.set_connection_retriever(|| {
                        Some(
                            ConnectionMetadata::builder()
                                .proxied(false)
                                .poison_fn(|| {})
                                .build(),
                        )
                    });
                }
                HttpConnectorFuture::new(strike(kind, protocol))
            }
            FaultPhase::After => {
                let sent = self.inner.call(request);
                HttpConnectorFuture::new(async move {
                    // The call took effect (or failed on its own); its answer is lost.
                    sent.await?;
                    strike(kind, protocol).await
                })
            }
        }
    }
}

/// How the service of a request reports errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// JSON 1.0 (`x-amz-target`): DynamoDB, DynamoDB Streams, SQS.
    Json { sqs: bool },
    /// REST-XML: S3.
    Xml,
}

impl Protocol {
    fn of(request: &HttpRequest) -> Self {
        match request.headers().get("x-amz-target") {
            Some(target) => Self::Json {
                sqs: target.starts_with("AmazonSQS."),
            },
            None => Self::Xml,
        }
    }
}

async fn strike(kind: FaultKind, protocol: Protocol) -> Result<HttpResponse, ConnectorError> {
    match kind {
        FaultKind::Server | FaultKind::Throttle => Ok(error_response(kind, protocol)),
        FaultKind::Timeout => {
            tokio::time::sleep(HANG).await;
            Err(ConnectorError::timeout(
                "injected fault: the endpoint never answered".into(),
            ))
        }
        FaultKind::Reset => Err(ConnectorError::io(Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected fault: connection reset by peer",
        )))),
    }
}

/// The error answer the service itself sends for this kind of fault.
fn error_response(kind: FaultKind, protocol: Protocol) -> HttpResponse {
    const MESSAGE: &str = "injected fault (CHATLOGGER_FAULTS)";
    let (status, code, content_type, body) = match protocol {
        Protocol::Json { sqs } => {
            let (status, code, namespace) = match (kind, sqs) {
                (FaultKind::Throttle, false) => (
                    400,
                    "ThrottlingException",
                    "com.amazonaws.dynamodb.v20120810",
                ),
                (FaultKind::Throttle, true) => (400, "RequestThrottled", "com.amazonaws.sqs"),
                (_, false) => (
                    500,
                    "InternalServerError",
                    "com.amazonaws.dynamodb.v20120810",
                ),
                (_, true) => (500, "InternalFailure", "com.amazonaws.sqs"),
            };
            let body =
                serde_json::json!({"__type": format!("{namespace}#{code}"), "message": MESSAGE});
            (status, code, "application/x-amz-json-1.0", body.to_string())
        }
        Protocol::Xml => {
            let (status, code) = match kind {
                FaultKind::Throttle => (503, "SlowDown"),
                _ => (500, "InternalError"),
            };
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{MESSAGE}</Message><RequestId>injected</RequestId></Error>"
            );
            (status, code, "application/xml", body)
        }
    };
    let mut response = HttpResponse::new(
        StatusCode::try_from(status).expect("a valid status"),
        SdkBody::from(body),
    );
    let headers = response.headers_mut();
    headers.insert("content-type", content_type);
    headers.insert("x-amzn-requestid", "injected");
    if matches!(protocol, Protocol::Json { .. }) {
        headers.insert("x-amzn-errortype", code);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_defaults_and_refuse_mistakes() {
        let faults = Faults::parse("rate=0.1").unwrap();
        assert_eq!(
            (faults.rate, faults.kinds.len(), faults.after),
            (0.1, 4, 0.5)
        );
        let faults = Faults::parse("rate=0.25, kinds=throttle+reset, after=0, seed=7").unwrap();
        assert_eq!(
            faults,
            Faults {
                rate: 0.25,
                kinds: vec![FaultKind::Throttle, FaultKind::Reset],
                after: 0.0,
                seed: 7
            }
        );
        assert_eq!(Faults::parse(&faults.to_string()).unwrap(), faults);
        for bad in [
            "",
            "kinds=server",
            "rate=2",
            "rate=x",
            "rate=0.1,kinds=slow",
            "rate=0.1,kinds=",
            "rate=0.1,colour=red",
            "rate=0.1,after",
        ] {
            assert!(Faults::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_rate_holds_and_throttles_never_strike_after() {
        let injected = InjectedFaults::new(Faults::parse("rate=0.1,seed=42").unwrap());
        let decisions: Vec<_> = (0..20_000).map(|_| injected.decide()).collect();
        let failed = decisions.iter().flatten().count();
        assert!((1_800..2_200).contains(&failed), "{failed} of 20000");
        assert_eq!(injected.total(), failed as u64);
        for kind in FaultKind::ALL {
            assert!(injected.count(kind, FaultPhase::Before) > 0, "{kind:?}");
        }
        assert_eq!(injected.count(FaultKind::Throttle, FaultPhase::After), 0);
        assert!(injected.count(FaultKind::Reset, FaultPhase::After) > 0);
        // The same seed, the same sequence.
        let again = InjectedFaults::new(Faults::parse("rate=0.1,seed=42").unwrap());
        let replay: Vec<_> = (0..20_000).map(|_| again.decide()).collect();
        assert_eq!(replay, decisions);
    }

    #[test]
    fn error_answers_are_what_each_service_sends() {
        let dynamodb = error_response(FaultKind::Throttle, Protocol::Json { sqs: false });
        assert_eq!(dynamodb.status().as_u16(), 400);
        let body: serde_json::Value =
            serde_json::from_slice(dynamodb.body().bytes().unwrap()).unwrap();
        assert_eq!(
            body["__type"],
            "com.amazonaws.dynamodb.v20120810#ThrottlingException"
        );
        let s3 = error_response(FaultKind::Server, Protocol::Xml);
        assert_eq!(s3.status().as_u16(), 500);
        let xml = std::str::from_utf8(s3.body().bytes().unwrap()).unwrap();
        assert!(xml.contains("<Code>InternalError</Code>"));
        let sqs = error_response(FaultKind::Throttle, Protocol::Json { sqs: true });
        assert_eq!(
            sqs.headers().get("x-amzn-errortype"),
            Some("RequestThrottled")
        );
    }
}
