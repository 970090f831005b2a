//! template.yaml, the `cargo lambda watch` router (Cargo.toml) and the axum
//! routers must list the same routes for the same functions, and the OpenAPI
//! document must describe exactly those routes.
//!
//! Each API function registers its routes through `utoipa_axum::OpenApiRouter`,
//! which builds the axum router and the OpenAPI paths from one list; the
//! probe below checks the built router really answers on every documented
//! route. The web function serves pages, not API: its routes are its own
//! list (`chatlogger_web::ROUTES`), probed the same way and kept out of the
//! OpenAPI document.
//!
//! Paths are compared in axum's syntax; template.yaml's greedy parameter
//! (`{path+}`, API Gateway's) is read as axum's catch-all (`{*path}`).

use std::collections::{BTreeMap, BTreeSet};

use axum::{Router, body::Body, http::Request};
use chatlogger::{
    auth::{BrowserPolicy, DashboardState, JwtKeys},
    http,
    store::{DynamoStore, MemoryStore},
};
use chatlogger_ingest::IngestState;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

type Routes = BTreeMap<String, BTreeSet<(String, String)>>;

fn project_file(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(name),
    )
    .unwrap()
}

/// Binary name → (METHOD, path) of each HttpApi event in template.yaml.
fn template_routes() -> Routes {
    let template: serde_yaml::Value = serde_yaml::from_str(&project_file("template.yaml")).unwrap();
    let mut routes = Routes::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("every function names its binary");
        let entry = routes.entry(binary.to_owned()).or_default();
        for (_, event) in resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            if event["Type"].as_str() == Some("HttpApi") {
                let method = event["Properties"]["Method"]
                    .as_str()
                    .unwrap()
                    .to_uppercase();
                let path = event["Properties"]["Path"].as_str().unwrap();
                entry.insert((method, axum_path(path)));
            }
        }
    }
    routes
}

/// API Gateway's greedy path parameter `{name+}` as axum's catch-all `{*name}`.
fn axum_path(path: &str) -> String {
    path.split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
                Some(name) => format!("{{*{name}}}"),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// Function → (METHOD, path) from `[workspace.metadata.lambda.watch.router]`.
fn watch_routes() -> Routes {
    let manifest: toml::Value = toml::from_str(&project_file("Cargo.toml")).unwrap();
    let router = &manifest["workspace"]["metadata"]["lambda"]["watch"]["router"];
    let mut routes = Routes::new();
    for (path, targets) in router.as_table().unwrap() {
        for target in targets.as_array().unwrap() {
            let function = target["function"].as_str().unwrap().to_owned();
            let method = target["method"].as_str().unwrap().to_uppercase();
            routes
                .entry(function)
                .or_default()
                .insert((method, path.clone()));
        }
    }
    routes
}

fn document_routes(doc: &utoipa::openapi::OpenApi) -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(doc).unwrap();
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.insert((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

/// Binary name → its routes, from each function crate's own document.
fn code_routes() -> Routes {
    Routes::from([
        (
            "ingest".to_owned(),
            document_routes(&chatlogger_ingest::openapi()),
        ),
        (
            "docs".to_owned(),
            document_routes(&chatlogger_docs::openapi()),
        ),
        (
            "auth".to_owned(),
            document_routes(&chatlogger_auth::openapi()),
        ),
        (
            "accounts".to_owned(),
            document_routes(&chatlogger_accounts::openapi()),
        ),
        (
            "apikeys".to_owned(),
            document_routes(&chatlogger_apikeys::openapi()),
        ),
        (
            "chats".to_owned(),
            document_routes(&chatlogger_chats::openapi()),
        ),
        (
            "analytics".to_owned(),
            document_routes(&chatlogger_analytics::openapi()),
        ),
        (
            "exports".to_owned(),
            document_routes(&chatlogger_exports::openapi()),
        ),
        (
            "web".to_owned(),
            chatlogger_web::ROUTES
                .iter()
                .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
                .collect(),
        ),
        // SQS-triggered: no HTTP routes.
        ("export-worker".to_owned(), BTreeSet::new()),
        // Stream-triggered: no HTTP routes.
        ("aggregator".to_owned(), BTreeSet::new()),
    ])
}

async fn function_router(binary: &str) -> Router {
    let dashboard = || async {
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&crate::helpers::sdk_config().await),
            "unused",
        );
        DashboardState::new(
            std::sync::Arc::new(store),
            JwtKeys::new(crate::helpers::TEST_JWT_SECRET).unwrap(),
            BrowserPolicy::default(),
        )
    };
    match binary {
        "ingest" => http::app(chatlogger_ingest::router(IngestState::new(
            std::sync::Arc::new(MemoryStore::new()),
        ))),
        "docs" => http::app(chatlogger_docs::router()),
        "web" => http::app(chatlogger_web::router()),
        "auth" => http::app(chatlogger_auth::router(dashboard().await)),
        "accounts" => http::app(chatlogger_accounts::router(dashboard().await)),
        "apikeys" => http::app(chatlogger_apikeys::router(dashboard().await)),
        "chats" => http::app(chatlogger_chats::router(dashboard().await)),
        "analytics" => http::app(chatlogger_analytics::router(dashboard().await)),
        "exports" => {
            let sdk = crate::helpers::sdk_config().await;
            let store = std::sync::Arc::new(DynamoStore::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                "unused",
            ));
            let queue = chatlogger::export::queue::SqsExportQueue::new(
                chatlogger::aws::sqs(&sdk),
                "unused",
            );
            let bucket =
                chatlogger::export::s3::ExportBucket::new(chatlogger::aws::s3(&sdk), "unused");
            http::app(chatlogger_exports::router(
                chatlogger_exports::ExportsState::new(
                    dashboard().await,
                    store,
                    std::sync::Arc::new(queue),
                    bucket,
                ),
            ))
        }
        "export-worker" => Router::new(),
        "aggregator" => Router::new(),
        other => panic!("add the router of function {other} here"),
    }
}

#[test]
fn template_watch_router_and_code_list_the_same_routes() {
    let code = code_routes();
    assert_eq!(template_routes(), code, "template.yaml vs the routers");
    // The watch router maps HTTP paths, so functions without routes (the
    // SQS-triggered worker) are not in it.
    let http_functions: Routes = code
        .into_iter()
        .filter(|(_, routes)| !routes.is_empty())
        .collect();
    assert_eq!(
        watch_routes(),
        http_functions,
        "Cargo.toml watch router vs the routers"
    );
}

/// The dashboard's pages (`/`, `/app/...`) answer HTML: an API route there
/// would be shadowed by, or shadow, a page.
#[test]
fn no_api_route_lives_under_the_dashboards_paths() {
    for (function, routes) in code_routes() {
        if function == "web" {
            continue;
        }
        for (method, path) in routes {
            assert!(
                path != "/" && path != "/app" && !path.starts_with("/app/"),
                "{function}: {method} {path} collides with the dashboard's pages"
            );
        }
    }
}

#[test]
fn the_served_document_covers_every_function() {
    let all: BTreeSet<_> = code_routes()
        .into_iter()
        .filter(|(function, _)| function != "web")
        .flat_map(|(_, routes)| routes)
        .collect();
    assert_eq!(document_routes(&chatlogger_docs::full_openapi()), all);
}

#[tokio::test]
async fn every_documented_route_is_answered_by_its_router() {
    for (binary, routes) in code_routes() {
        let router = function_router(&binary).await;
        for (method, path) in routes {
            let uri = path
                .replace("{slug}", "acme")
                .replace("{chat_id}", "01JD8Z3K4M5N6P7Q8R9S0T1V2W")
                .replace("{user_id}", "01JD8Z3K4M5N6P7Q8R9S0T1V2W")
                .replace("{key_id}", "01JD8Z3K4M5N6P7Q8R9S0T1V2W")
                .replace("{export_id}", "01JD8Z3K4M5N6P7Q8R9S0T1V2W")
                .replace("{*path}", "chats");
            let request = Request::builder()
                .method(method.as_str())
                .uri(&uri)
                .body(Body::empty())
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let code = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
            assert!(
                !matches!(
                    code.as_deref(),
                    Some("route_not_found" | "method_not_allowed")
                ),
                "{binary}: {method} {uri} is documented but not routed ({status})"
            );
        }
    }
}

/// The aggregator's stream mapping: every setting its exactness and failure
/// handling rely on (see `chatlogger::analytics::aggregator`).
#[test]
fn the_aggregator_is_wired_to_the_tables_stream() {
    let template: serde_yaml::Value = serde_yaml::from_str(&project_file("template.yaml")).unwrap();
    let function = &template["Resources"]["AggregatorFunction"];
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("aggregator")
    );
    let events: Vec<&serde_yaml::Value> = function["Properties"]["Events"]
        .as_mapping()
        .expect("the aggregator has events")
        .values()
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["Type"].as_str(), Some("DynamoDB"));
    let mapping = &events[0]["Properties"];
    let text = |key: &str| serde_yaml::to_string(&mapping[key]).unwrap();
    assert!(
        text("Stream").contains("ChatTable.StreamArn"),
        "{}",
        text("Stream")
    );
    assert_eq!(mapping["BatchSize"].as_u64(), Some(100));
    assert!(
        mapping["MaximumBatchingWindowInSeconds"]
            .as_u64()
            .is_some_and(|s| (1..=5).contains(&s))
    );
    assert_eq!(mapping["BisectBatchOnFunctionError"].as_bool(), Some(true));
    assert_eq!(
        mapping["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
    assert!(
        mapping["MaximumRetryAttempts"]
            .as_u64()
            .is_some_and(|n| (1..=100).contains(&n))
    );
    assert!(
        text("DestinationConfig").contains("AggregatorDeadLetterQueue.Arn"),
        "{}",
        text("DestinationConfig")
    );
    // Only chats and messages invoke it, so its own writes cannot.
    let filter = text("FilterCriteria");
    assert!(
        filter.contains("CHAT#") && filter.contains("MSG#"),
        "{filter}"
    );
    // The template's stream carries both images: edits and deletes are deltas.
    let table = &template["Resources"]["ChatTable"]["Properties"];
    assert_eq!(
        table["StreamSpecification"]["StreamViewType"].as_str(),
        Some("NEW_AND_OLD_IMAGES")
    );
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some("expires_at")
    );
}
