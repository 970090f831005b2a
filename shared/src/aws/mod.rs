//! AWS SDK set-up, done once per container: the shared configuration, the
//! time budget of every AWS call, and (only when configured) fault injection.
//!
//! **Timeouts.** Every call has a connect, a per-attempt and a per-operation
//! timeout (the operation one covers all the SDK's retries and their
//! backoff), sized from the function's Lambda timeout by [`Budget`]: a hung
//! call fails, and is retried by the SDK, well before Lambda kills the
//! invocation. Lambda does not tell a function its timeout, so each `main`
//! names it ([`lambda_timeout`]; a test keeps those and `template.yaml` in
//! agreement).
//!
//! **HTTPS.** The SDK's default HTTPS client is off (it compiles aws-lc and
//! reads the system's root certificates); we build rustls on `ring` with the
//! Mozilla roots compiled in. That client is built on the first AWS request,
//! not at start-up: loading ~150 root certificates costs about 2 ms, which a
//! cold start should not pay for requests that never reach AWS, and which
//! the first request's TCP and TLS handshake dwarfs anyway.
//!
//! Everything else comes from the standard AWS environment (`AWS_REGION`,
//! credentials, and `AWS_ENDPOINT_URL` for the local stack).

pub mod faults;

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use aws_config::{
    BehaviorVersion, SdkConfig, environment::credentials::EnvironmentVariableCredentialsProvider,
    timeout::TimeoutConfig,
};
use aws_smithy_http_client::{
    Builder,
    tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode},
};
use aws_smithy_runtime_api::client::{
    http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
        SharedHttpConnector,
    },
    orchestrator::HttpRequest,
    runtime_components::RuntimeComponents,
};
use base64::{Engine, engine::general_purpose::STANDARD};

pub use faults::{FaultKind, Faults, InjectedFaults};

/// Each function's Lambda timeout, as `template.yaml` sets it (the test
/// `tests/api/timeouts.rs` keeps the two in agreement).
pub mod lambda_timeout {
    use std::time::Duration;

    /// The HTTP functions (the template's `Globals`).
    pub const HTTP: Duration = Duration::from_secs(10);
    /// The exports function: the HTTP API's integration limit.
    pub const EXPORTS: Duration = Duration::from_secs(29);
    /// The analytics aggregator: each scheduled run reads the stream for
    /// as long as a Lambda may run.
    pub const AGGREGATOR: Duration = Duration::from_secs(900);
    /// The export worker (SQS): the longest a Lambda may run.
    pub const EXPORT_WORKER: Duration = Duration::from_secs(900);
    /// The deleted-chat sweeper (scheduled).
    pub const SWEEPER: Duration = Duration::from_secs(120);
}

/// The timeouts of one kind of AWS call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening the TCP connection.
    pub connect: Duration,
    /// One attempt: sending the request and reading the whole response.
    pub attempt: Duration,
    /// The whole operation: every attempt and the backoff between them.
    pub operation: Duration,
}

/// A connect that takes longer than this means the endpoint is gone; the
/// next attempt gets a new connection.
const MAX_CONNECT: Duration = Duration::from_secs(2);
/// A DynamoDB, Streams or SQS call answers in milliseconds; this is the
/// longest one operation may take, retries included, however long the
/// function may run.
const MAX_REQUEST_OPERATION: Duration = Duration::from_secs(15);
/// An S3 call moves up to one multipart part (5 MiB): 30 s per attempt
/// is 170 KiB/s, far below what S3 does in a region.
const MAX_TRANSFER_OPERATION: Duration = Duration::from_secs(120);

impl Timeouts {
    /// An operation of at most `operation`, in attempts of a quarter of it:
    /// two attempts and the backoff between them always fit, and usually
    /// the SDK's third (its backoff is up to 1 s, then up to 2 s).
    pub fn within(operation: Duration) -> Self {
        let attempt = operation / 4;
        Self {
            connect: attempt.min(MAX_CONNECT),
            attempt,
            operation,
        }
    }

    fn config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

/// How long a process's AWS calls may take, per kind of client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// DynamoDB, DynamoDB Streams and SQS: small requests and answers.
    pub requests: Timeouts,
    /// S3, whose calls carry file parts.
    pub transfers: Timeouts,
}

impl Budget {
    /// For a Lambda function with this timeout. One operation may take a
    /// quarter of it: a request makes a few calls in a row, and the first
    /// one that fails for good ends it (503) with time to spare. Long-running
    /// functions are capped, so a hung DynamoDB call still fails in seconds.
    pub fn lambda(timeout: Duration) -> Self {
        let quarter = timeout / 4;
        Self {
            requests: Timeouts::within(quarter.min(MAX_REQUEST_OPERATION)),
            transfers: Timeouts::within(quarter.min(MAX_TRANSFER_OPERATION)),
        }
    }

    /// The local stack and the ops CLI: no Lambda timeout, a person waiting.
    pub fn interactive() -> Self {
        Self {
            requests: Timeouts::within(Duration::from_secs(30)),
            transfers: Timeouts::within(MAX_TRANSFER_OPERATION),
        }
    }
}

/// The AWS set-up of a process: the shared SDK configuration (which
/// carries the request timeouts, so every client built from it has them),
/// the budget, and the fault injector when one is configured.
#[derive(Debug, Clone)]
pub struct Aws {
    sdk: SdkConfig,
    budget: Budget,
    faults: Option<Arc<InjectedFaults>>,
}

impl Aws {
    /// From the standard AWS environment, with fault injection if
    /// `CHATLOGGER_FAULTS` asks for it (see [`Faults`]; never set on AWS).
    pub async fn load(budget: Budget) -> Result<Self, faults::FaultConfigError> {
        let faults = Faults::from_env()?;
        Ok(Self::load_with(budget, faults).await)
    }

    /// From the standard AWS environment, with exactly these faults.
    pub async fn load_with(budget: Budget, faults: Option<Faults>) -> Self {
        let lazy = LazyHttpsClient::default();
        let faults = faults.map(|faults| {
            faults.announce();
            Arc::new(InjectedFaults::new(faults))
        });
        let http_client = match &faults {
            Some(faults) => SharedHttpClient::new(faults::FaultyClient::new(lazy, faults.clone())),
            None => SharedHttpClient::new(lazy),
        };
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .timeout_config(budget.requests.config());
        // Lambda (and `.env.local`) put credentials in the environment, which is
        // the default chain's first choice anyway; naming it directly skips
        // building the rest of the chain (an STS client among it) at start-up.
        let loader = if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
            loader.credentials_provider(EnvironmentVariableCredentialsProvider::new())
        } else {
            loader
        };
        Self {
            sdk: loader.load().await,
            budget,
            faults,
        }
    }

    /// The shared configuration, for clients of other services (it carries
    /// the request timeouts).
    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// The faults injected so far, when injection is on.
    pub fn faults(&self) -> Option<&InjectedFaults> {
        self.faults.as_deref()
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    /// S3 with the transfer timeouts. With a custom endpoint (the local
    /// stack's moto) buckets are addressed by path, which moto needs; on
    /// AWS, by virtual host as S3 recommends.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk)
                .force_path_style(self.sdk.endpoint_url().is_some())
                .timeout_config(self.budget.transfers.config())
                .build(),
        )
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    /// DynamoDB Streams, which the analytics aggregator reads.
    pub fn dynamodb_streams(&self) -> aws_sdk_dynamodbstreams::Client {
        aws_sdk_dynamodbstreams::Client::new(&self.sdk)
    }
}

/// Builds the real HTTPS client when the first request is sent. The SDK asks
/// for a connector while it constructs a client, so the connector it gets is
/// lazy too.
#[derive(Debug, Default)]
struct LazyHttpsClient {
    inner: Arc<OnceLock<SharedHttpClient>>,
}

impl HttpClient for LazyHttpsClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        // The SDK asks on every request attempt: once the client exists, use it.
        if let Some(client) = self.inner.get() {
            return client.http_connector(settings, components);
        }
        SharedHttpConnector::new(LazyConnector {
            client: self.inner.clone(),
            settings: settings.clone(),
            components: components.clone(),
            connector: OnceLock::new(),
        })
    }
}

#[derive(Debug)]
struct LazyConnector {
    client: Arc<OnceLock<SharedHttpClient>>,
    settings: HttpConnectorSettings,
    components: RuntimeComponents,
    connector: OnceLock<SharedHttpConnector>,
}

impl HttpConnector for LazyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let connector = self.connector.get_or_init(|| {
            self.client
                .get_or_init(https_client)
                .http_connector(&self.settings, &self.components)
        });
        connector.call(request)
    }
}

fn https_client() -> SharedHttpClient {
    let mut roots = TrustStore::empty().with_native_roots(false);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        roots.add_pem_certificate(pem(cert.as_ref()));
    }
    let context = TlsContext::builder()
        .with_trust_store(roots)
        .build()
        .expect("static trust store is valid");
    Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https()
}

fn pem(der: &[u8]) -> Vec<u8> {
    let body = STANDARD.encode(der);
    let mut pem = String::with_capacity(body.len() + body.len() / 64 + 64);
    pem.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem.into_bytes()
}
