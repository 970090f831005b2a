//! AWS SDK set-up, done once per container.
//!
//! The SDK's default HTTPS client is off (it compiles aws-lc and reads the
//! system's root certificates); we build rustls on `ring` with the Mozilla
//! roots compiled in. That client is built on the first AWS request, not at
//! start-up: loading ~150 root certificates costs about 2 ms, which a cold
//! start should not pay for requests that never reach AWS, and which the
//! first request's TCP and TLS handshake dwarfs anyway.
//! Everything else comes from the standard AWS environment (`AWS_REGION`,
//! credentials, and `AWS_ENDPOINT_URL` for the local stack).

use std::sync::{Arc, OnceLock};

use aws_config::{
    BehaviorVersion, SdkConfig, environment::credentials::EnvironmentVariableCredentialsProvider,
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

/// Loads the shared SDK configuration from the environment.
pub async fn load_sdk_config() -> SdkConfig {
    let http_client = SharedHttpClient::new(LazyHttpsClient::default());
    let loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client);
    // Lambda (and `.env.local`) put credentials in the environment, which is
    // the default chain's first choice anyway; naming it directly skips
    // building the rest of the chain (an STS client among it) at start-up.
    let loader = if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        loader.credentials_provider(EnvironmentVariableCredentialsProvider::new())
    } else {
        loader
    };
    loader.load().await
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

/// A DynamoDB client from the shared configuration.
pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// An S3 client from the shared configuration. With a custom endpoint (the
/// local stack's moto) buckets are addressed by path, which moto needs;
/// on AWS, by virtual host as S3 recommends.
pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build(),
    )
}

/// An SQS client from the shared configuration.
pub fn sqs(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}
