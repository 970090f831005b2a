//! `TestApp`: a fresh table on moto, an org with an API key, and every route
//! served over real HTTP on a free port, as `make dev` serves them.

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use chatlogger::{
    accounts,
    auth::JwtKeys,
    aws::{Aws, Budget},
    domain::{ApiKeyLabel, ApiKeySecret, Org, OrgName, Slug},
    http::BrowserPolicy,
    store::{DynamoStore, keys},
};

/// The JWT secret of every test server (tests only).
pub const TEST_JWT_SECRET: &[u8] = b"test-only-jwt-secret-0123456789abcdef";
/// The dashboard origin the test servers allow.
pub const DASHBOARD_ORIGIN: &str = "https://app.example.com";
use serde_json::Value;

/// The AWS set-up for the test moto, without faults. Panics, rather than
/// skipping, when the tests are run without it: a skipped test proves nothing.
pub async fn aws() -> Aws {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "AWS_ENDPOINT_URL is not set: run these tests with `make test`, which starts moto"
    );
    Aws::load_with(Budget::interactive(), None).await
}

/// The SDK configuration of [`aws`].
pub async fn sdk_config() -> SdkConfig {
    aws().await.sdk().clone()
}

/// A new, empty table with the production key schema.
pub async fn new_table(sdk: &SdkConfig) -> String {
    let table = format!("test-{}", ulid::Ulid::new().to_string().to_lowercase());
    chatlogger_local::provision::create_table(&aws_sdk_dynamodb::Client::new(sdk), &table)
        .await
        .expect("create the test table");
    table
}

/// Every route on one router, as `make dev` serves them, with the test
/// secret and the table's own export bucket and queue.
pub async fn local_app(store: Arc<DynamoStore>) -> axum::Router {
    local_app_with_clock(store, chatlogger::clock::system()).await
}

/// [`local_app`] with the dashboard's time counted by `clock`.
pub async fn local_app_with_clock(
    store: Arc<DynamoStore>,
    clock: chatlogger::clock::SharedClock,
) -> axum::Router {
    let (_, exports) = export_resources(&aws().await, store.table()).await;
    chatlogger_local::app_with_clock(
        store,
        JwtKeys::new(TEST_JWT_SECRET).unwrap(),
        BrowserPolicy::new(DASHBOARD_ORIGIN).unwrap(),
        exports,
        clock,
    )
}

/// The export bucket and queues of a test table (named after it, so tests
/// never share them), provisioned as the local stack provisions its own.
pub async fn export_resources(aws: &Aws, table: &str) -> (String, chatlogger_local::LocalExports) {
    let resources = export_resource_names(table);
    chatlogger_local::provision::provision_exports(aws, &resources)
        .await
        .expect("provision the test's export bucket and queues");
    chatlogger_local::provision::exports(aws, &resources)
        .await
        .expect("the test's export queue exists")
}

pub fn export_resource_names(table: &str) -> chatlogger_local::provision::Resources {
    chatlogger_local::provision::Resources {
        table: table.to_owned(),
        export_bucket: format!("{table}-exports"),
        export_queue: format!("{table}-exports"),
        export_dead_letter_queue: format!("{table}-exports-dlq"),
    }
}

pub struct TestOrg {
    pub org: Org,
    pub key: ApiKeySecret,
    pub key_id: chatlogger::domain::ApiKeyId,
}

impl TestOrg {
    pub fn slug(&self) -> &str {
        self.org.slug.as_str()
    }
}

pub async fn create_org_with_key(store: &DynamoStore, slug: &str) -> TestOrg {
    let slug = Slug::parse(slug).unwrap();
    let org = accounts::create_org(store, slug, OrgName::parse("Test org").unwrap())
        .await
        .unwrap();
    let (api_key, key) =
        accounts::create_api_key(store, &org, ApiKeyLabel::parse("tests").unwrap())
            .await
            .unwrap();
    TestOrg {
        org,
        key,
        key_id: api_key.id,
    }
}

pub struct TestApp {
    pub base_url: String,
    pub http: reqwest::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub store: Arc<DynamoStore>,
    pub table: String,
    pub acme: TestOrg,
    pub globex: TestOrg,
    /// The stack's clock (its dashboard, ingest and exports read the time
    /// from it), for the test's own workers.
    pub clock: chatlogger::clock::SharedClock,
}

/// Starts the all-in-one server on a fresh table with two orgs, `acme` and `globex`.
pub async fn spawn_app() -> TestApp {
    spawn_app_with_clock(chatlogger::clock::system()).await
}

/// [`spawn_app`] with the dashboard's time counted by `clock`.
pub async fn spawn_app_with_clock(clock: chatlogger::clock::SharedClock) -> TestApp {
    let sdk = sdk_config().await;
    let table = new_table(&sdk).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let store = Arc::new(DynamoStore::new(dynamodb.clone(), table.clone()));
    let acme = create_org_with_key(&store, "acme").await;
    let globex = create_org_with_key(&store, "globex").await;

    let base_url = serve(local_app_with_clock(store.clone(), clock.clone()).await).await;

    TestApp {
        base_url,
        http: reqwest::Client::new(),
        dynamodb,
        store,
        table,
        acme,
        globex,
        clock,
    }
}

/// Serves `app` over HTTP on a free port; returns its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move {
        axum::serve(listener, service)
            .await
            .expect("test server runs")
    });
    base_url
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// The `error.code` of a JSON error body.
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {}", self.body))
    }
}

impl TestApp {
    pub fn chats_url(&self, org: &TestOrg) -> String {
        format!("{}/api/v1/orgs/{}/chats", self.base_url, org.slug())
    }

    /// Sets an org's limits in the store (ingest applies them within 5 s,
    /// through the change feed).
    pub async fn set_limits(
        &self,
        org: chatlogger::domain::OrgId,
        limits: chatlogger::domain::limits::OrgLimits,
    ) {
        let changes = chatlogger::store::OrgChanges {
            limits: Some(limits),
            ..Default::default()
        };
        chatlogger::store::OrgStore::update_org(&*self.store, org, &changes)
            .await
            .unwrap();
    }

    pub fn batch_url(&self, org: &TestOrg) -> String {
        format!("{}/api/v1/orgs/{}/batch", self.base_url, org.slug())
    }

    /// POSTs JSON to a plugin route with `key` and, as a browser would, an
    /// `Origin`; the whole reply, headers included.
    pub async fn plugin_post(
        &self,
        url: &str,
        key: &str,
        origin: Option<&str>,
        body: &Value,
    ) -> crate::dashboard::FullReply {
        let mut request = self
            .http
            .post(url)
            .header("x-organization-api-key", key)
            .json(body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        crate::dashboard::full_reply(request.send().await.unwrap()).await
    }

    /// A browser's CORS preflight of a `POST` to `url`.
    pub async fn preflight(&self, url: &str, origin: &str) -> crate::dashboard::FullReply {
        let request = self
            .http
            .request(reqwest::Method::OPTIONS, url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,x-organization-api-key",
            );
        crate::dashboard::full_reply(request.send().await.unwrap()).await
    }

    pub fn messages_url(&self, org: &TestOrg, chat_id: &str) -> String {
        format!(
            "{}/api/v1/orgs/{}/chats/{chat_id}/messages",
            self.base_url,
            org.slug()
        )
    }

    /// POSTs JSON with an API key.
    pub async fn post(&self, url: &str, key: Option<&str>, body: &Value) -> Reply {
        let mut request = self.http.post(url).json(body);
        if let Some(key) = key {
            request = request.header("x-organization-api-key", key);
        }
        reply(request.send().await.unwrap()).await
    }

    /// POSTs a raw body with the given content type.
    pub async fn post_raw(&self, url: &str, key: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let request = self
            .http
            .post(url)
            .header("x-organization-api-key", key)
            .header("content-type", content_type)
            .body(body);
        reply(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        reply(
            self.http
                .get(format!("{}{path}", self.base_url))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn create_chat(&self, org: &TestOrg, body: &Value) -> Reply {
        self.post(&self.chats_url(org), Some(org.key.expose()), body)
            .await
    }

    pub async fn create_message(&self, org: &TestOrg, chat_id: &str, body: &Value) -> Reply {
        self.post(
            &self.messages_url(org, chat_id),
            Some(org.key.expose()),
            body,
        )
        .await
    }

    /// Every item whose partition key is exactly `pk`.
    pub async fn items_in(
        &self,
        pk: &str,
    ) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        let output = self
            .dynamodb
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        output.items.unwrap_or_default()
    }

    /// Every item in the table (tests only: production code never scans).
    pub async fn all_items(&self) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        scan(&self.dynamodb, &self.table).await
    }

    /// How many chats and messages the org has: what ingest writes.
    pub async fn tenant_items(&self, org: &TestOrg) -> usize {
        let prefix = keys::org_pk(org.org.id);
        let ingested = |item: &std::collections::HashMap<String, AttributeValue>| {
            matches!(item.get(keys::PK), Some(AttributeValue::S(pk)) if pk.starts_with(&prefix))
                && matches!(item.get("kind"), Some(AttributeValue::S(kind)) if kind == "chat" || kind == "message")
        };
        self.all_items()
            .await
            .iter()
            .filter(|item| ingested(item))
            .count()
    }
}

/// Every item in `table`, read strongly consistent in one `Scan` (tests
/// only: production code never scans).
pub async fn scan(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    let output = dynamodb
        .scan()
        .table_name(table)
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    output.items.unwrap_or_default()
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("response is not JSON ({status}): {text}"));
    Reply { status, body }
}
