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

use aws_config::BehaviorVersion;
use aws_types::{SdkConfig, region::Region};
use axum::{Router, body::Body, http::Request};
use chatlogger::{
    adapters::{ExportBucket, SqsExportQueue},
    auth::JwtKeys,
    http::{self, BrowserPolicy, Dashboard},
    store::DynamoStore,
};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

type Routes = BTreeMap<String, BTreeSet<(String, String)>>;

/// Binary name → (METHOD, path) of each HttpApi event in template.yaml.
pub fn template_routes() -> Routes {
    let template = crate::template();
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
pub fn axum_path(path: &str) -> String {
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
    let manifest: toml::Value = toml::from_str(&crate::project_file("Cargo.toml")).unwrap();
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

/// Every HTTP function's router, as the local stack builds them, on
/// clients that cannot reach AWS: no request here gets past routing or
/// authentication, and one that tried would fail at once (no credentials,
/// and nothing listens on the endpoint).
fn function_routers() -> BTreeMap<String, Router> {
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::from_static("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .build();
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        "unused",
    ));
    let dashboard = Dashboard::new(
        store.clone(),
        JwtKeys::new(b"drift-checks-only-jwt-secret-0123456789").unwrap(),
        BrowserPolicy::default(),
    );
    let exports = chatlogger_local::LocalExports {
        queue: Arc::new(SqsExportQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            "unused",
        )),
        bucket: ExportBucket::new(aws_sdk_s3::Client::new(&sdk), "unused"),
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
    // SQS-triggered worker) are not in it. It is generated from the
    // template (`generated.rs`); this checks it parses as cargo lambda reads it.
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
    let routers = function_routers();
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

/// Every folder under `functions/` (a workspace member by the glob in
/// Cargo.toml) is one function of template.yaml, by its binary's name, and
/// the template deploys no other.
#[test]
fn every_function_folder_is_deployed_and_nothing_else_is() {
    let functions = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let mut binaries = BTreeSet::new();
    for entry in std::fs::read_dir(&functions).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let manifest: toml::Value =
            toml::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
        let bins = manifest["bin"]
            .as_array()
            .expect("a function has a [[bin]]");
        assert_eq!(bins.len(), 1, "one binary per function: {manifest:?}");
        binaries.insert(bins[0]["name"].as_str().unwrap().to_owned());
    }
    let deployed: BTreeSet<String> = template_routes().into_keys().collect();
    assert_eq!(
        binaries, deployed,
        "functions/ vs template.yaml's functions"
    );
}
