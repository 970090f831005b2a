//! AWS SDK set-up, done once per container.
//!
//! The SDK's default HTTPS client is off (it compiles aws-lc and reads the
//! system's root certificates); we build rustls on `ring` with the Mozilla
//! roots compiled in. Everything else comes from the standard AWS environment
//! (`AWS_REGION`, credentials, and `AWS_ENDPOINT_URL` for the local stack).

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::{
    Builder,
    tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode},
};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use base64::{Engine, engine::general_purpose::STANDARD};

/// Loads the shared SDK configuration from the environment.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
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
