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

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use axum::{Router, body::Body, http::Request};
use chatlogger::{
    auth::JwtKeys,
    http::{self, BrowserPolicy, Dashboard},
    store::DynamoStore,
};
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
    let template: serde_norway::Value =
        serde_norway::from_str(&project_file("template.yaml")).unwrap();
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
    let mut routes: Routes = chatlogger_docs::function_documents()
        .into_iter()
        .map(|(binary, doc)| (binary.to_owned(), document_routes(&doc)))
        .collect();
    // SQS-triggered: no HTTP routes.
    routes.insert("export-worker".to_owned(), BTreeSet::new());
    // Stream-triggered: no HTTP routes.
    routes.insert("aggregator".to_owned(), BTreeSet::new());
    // The dashboard's pages and assets: not API routes, so not in the document.
    routes.insert(
        "web".to_owned(),
        chatlogger_web::ROUTES
            .iter()
            .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
            .collect(),
    );
    // Scheduled: no HTTP routes.
    routes.insert("sweeper".to_owned(), BTreeSet::new());
    routes
}

/// Every HTTP function's router, as the local stack builds them (the store,
/// queue and bucket are never reached: no request here is authenticated).
async fn function_routers() -> BTreeMap<String, Router> {
    let aws = crate::helpers::aws().await;
    let store = Arc::new(DynamoStore::new(aws.dynamodb(), "unused"));
    let dashboard = Dashboard::new(
        store.clone(),
        JwtKeys::new(crate::helpers::TEST_JWT_SECRET).unwrap(),
        BrowserPolicy::default(),
    );
    let exports = chatlogger_local::LocalExports {
        queue: Arc::new(chatlogger::export::queue::SqsExportQueue::new(
            aws.sqs(),
            "unused",
        )),
        bucket: chatlogger::export::s3::ExportBucket::new(aws.s3(), "unused"),
    };
    chatlogger_local::function_routers(store, dashboard, exports)
        .into_iter()
        .map(|(binary, routes)| (binary.to_owned(), http::app(routes)))
        .collect()
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
    let routers = function_routers().await;
    for (binary, routes) in code_routes() {
        let router = match routers.get(&binary) {
            Some(router) => router.clone(),
            // Event-triggered functions have no HTTP routes.
            None if routes.is_empty() => continue,
            None => {
                panic!("add the router of function {binary} to chatlogger_local::function_routers")
            }
        };
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

/// The aggregator: a scheduled reader of the table's stream, with the
/// permissions, settings and alarms its exactness and failure handling
/// rely on (see `chatlogger::analytics::reader`).
#[test]
fn the_aggregator_is_wired_to_the_tables_stream() {
    let template: serde_norway::Value =
        serde_norway::from_str(&project_file("template.yaml")).unwrap();
    let function = &template["Resources"]["AggregatorFunction"];
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("aggregator")
    );
    let properties = &function["Properties"];
    let text = |value: &serde_norway::Value| serde_norway::to_string(value).unwrap();
    let events: Vec<&serde_norway::Value> = properties["Events"]
        .as_mapping()
        .expect("the aggregator has events")
        .values()
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["Type"].as_str(), Some("Schedule"));
    // Every minute: a run ends a minute before its timeout, and the next
    // invocation waits up to 90 s to take over, so the stream is never
    // left unread.
    assert_eq!(
        events[0]["Properties"]["Schedule"].as_str(),
        Some("rate(1 minute)")
    );
    assert_eq!(properties["Timeout"].as_u64(), Some(900));
    // One reader and its successor.
    assert_eq!(properties["ReservedConcurrentExecutions"].as_u64(), Some(2));
    let stream = text(&properties["Environment"]["Variables"]["STREAM_ARN"]);
    assert!(stream.contains("ChatTable.StreamArn"), "{stream}");
    let policies = text(&properties["Policies"]);
    for action in [
        "dynamodb:DescribeStream",
        "dynamodb:GetShardIterator",
        "dynamodb:GetRecords",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    ] {
        assert!(policies.contains(action), "{action}: {policies}");
    }
    // The alarms watch the fields the aggregator logs.
    for (filter, field) in [
        ("AggregatorParkedMetric", "analytics_parked"),
        ("AggregatorUnreadableMetric", "analytics_unreadable"),
        ("AggregatorRoundsMetric", "aggregator_round"),
        ("AggregatorLagMetric", "aggregator_round"),
    ] {
        let pattern = template["Resources"][filter]["Properties"]["FilterPattern"]
            .as_str()
            .unwrap();
        assert!(pattern.contains(field), "{filter}: {pattern}");
    }
    let lag =
        &template["Resources"]["AggregatorLagMetric"]["Properties"]["MetricTransformations"][0];
    assert_eq!(lag["MetricValue"].as_str(), Some("$.lag_s"));
    assert_eq!(
        template["Resources"]["AggregatorStalledAlarm"]["Properties"]["TreatMissingData"].as_str(),
        Some("breaching")
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

/// The outer guards: API Gateway throttles both APIs before any function
/// runs; ingest and the export worker have reserved (and capped)
/// concurrency, so neither can take the dashboard functions' share; and
/// Lambda drops its own INFO lines while keeping the request line.
#[test]
fn the_template_guards_ingest_and_keeps_logs_small() {
    let template: serde_norway::Value =
        serde_norway::from_str(&project_file("template.yaml")).unwrap();
    let resources = &template["Resources"];
    for api in ["HttpApi", "PluginApi"] {
        let settings = &resources[api]["Properties"]["DefaultRouteSettings"];
        for limit in ["ThrottlingRateLimit", "ThrottlingBurstLimit"] {
            assert!(!settings[limit].is_null(), "{api} has no {limit}");
        }
    }
    // The plugin API answers its own CORS (per publishable key), so it has
    // no CorsConfiguration; the dashboard's has.
    assert!(resources["PluginApi"]["Properties"]["CorsConfiguration"].is_null());
    assert!(!resources["HttpApi"]["Properties"]["CorsConfiguration"].is_null());
    for function in ["IngestFunction", "ExportWorkerFunction"] {
        assert!(
            !resources[function]["Properties"]["ReservedConcurrentExecutions"].is_null(),
            "{function} has no reserved concurrency"
        );
    }
    // Every ingest route is on the plugin API.
    for (name, event) in resources["IngestFunction"]["Properties"]["Events"]
        .as_mapping()
        .unwrap()
    {
        let path = event["Properties"]["Path"].as_str().unwrap();
        let api = serde_norway::to_string(&event["Properties"]["ApiId"]).unwrap();
        if path.starts_with("/api/") {
            assert!(api.contains("PluginApi"), "{name:?} is on {api}");
        }
    }
    let logging = &template["Globals"]["Function"]["LoggingConfig"];
    assert_eq!(logging["LogFormat"].as_str(), Some("JSON"));
    assert_eq!(logging["SystemLogLevel"].as_str(), Some("WARN"));
    assert_eq!(logging["ApplicationLogLevel"].as_str(), Some("INFO"));
}
