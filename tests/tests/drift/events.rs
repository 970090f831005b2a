//! Every sample event in `events/` is one its function receives on Lambda:
//! an API event is a route of its function in template.yaml and converts
//! into a request as lambda_http converts it; the others parse as the SQS
//! records or the table's stream records their function reads, or are the
//! schedule that triggers it. `tests/api/events.rs` runs them all through
//! their functions against the local AWS.

use std::{collections::BTreeMap, path::Path};

use chatlogger::aws_lambda_events::event::{dynamodb, sqs::SqsEvent};
use serde_json::Value;
use serde_norway::Value as Yaml;

use crate::routes::{axum_path, template_routes};

/// Each file of `events/` and its text.
fn event_files() -> BTreeMap<String, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(&name)).unwrap();
            (name, text)
        })
        .collect()
}

/// Binary name → the types of its template events (`HttpApi`, `Schedule`),
/// and `SQS` for a queue's event source mapping.
fn template_triggers() -> BTreeMap<String, Vec<String>> {
    let template = crate::template();
    let resources = template["Resources"].as_mapping().unwrap();
    let mut triggers = BTreeMap::new();
    let mut binaries = BTreeMap::new();
    for (name, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap();
        binaries.insert(name.as_str().unwrap().to_owned(), binary.to_owned());
        let types: Vec<String> = resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter_map(|(_, event): (&Yaml, &Yaml)| event["Type"].as_str().map(str::to_owned))
            .collect();
        triggers.insert(binary.to_owned(), types);
    }
    for (_, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Lambda::EventSourceMapping") {
            continue;
        }
        let tagged = |value: &Yaml| match value {
            Yaml::Tagged(tagged) => tagged.value.as_str().map(str::to_owned),
            _ => None,
        };
        let function = tagged(&resource["Properties"]["FunctionName"]).expect("!Ref a function");
        let source = tagged(&resource["Properties"]["EventSourceArn"]).expect("!GetAtt a source");
        let source = source.trim_end_matches(".Arn");
        if resources[source]["Type"].as_str() == Some("AWS::SQS::Queue") {
            triggers
                .get_mut(&binaries[&function])
                .expect("a function of the template")
                .push("SQS".to_owned());
        }
    }
    triggers
}

/// The function an event file is for: the longest binary name it starts
/// with (`export-worker-job.json` is the worker's, not the exports API's).
fn function_of<'a>(file: &str, functions: impl IntoIterator<Item = &'a String>) -> Option<&'a str> {
    functions
        .into_iter()
        .filter(|function| file.starts_with(&format!("{function}-")))
        .max_by_key(|function| function.len())
        .map(String::as_str)
}

#[test]
fn every_sample_event_is_one_its_function_receives() {
    let routes = template_routes();
    let triggers = template_triggers();
    let files = event_files();
    assert!(!files.is_empty());
    for (file, text) in &files {
        let json: Value =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{file}: not JSON: {e}"));
        // The table's stream records, which the aggregator reads itself.
        if file.starts_with("stream-") {
            let event: dynamodb::Event =
                serde_json::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(!event.records.is_empty(), "{file}: no records");
            continue;
        }
        let function = function_of(file, triggers.keys())
            .unwrap_or_else(|| panic!("{file}: named after no function of template.yaml"));
        let has = |trigger: &str| triggers[function].iter().any(|t| t == trigger);
        if let Some(route_key) = json["routeKey"].as_str() {
            let (method, path) = route_key.split_once(' ').expect("routeKey is METHOD path");
            assert!(
                routes[function].contains(&(method.to_owned(), axum_path(path))),
                "{file}: {route_key} is not a route of {function} in template.yaml"
            );
            let request =
                lambda_http::request::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(request.method().as_str(), method, "{file}");
            assert_eq!(
                Some(request.uri().path()),
                json["rawPath"].as_str(),
                "{file}"
            );
        } else if file.ends_with("-scheduled.json") {
            assert!(has("Schedule"), "{file}: {function} runs on no schedule");
            assert_eq!(json["source"], "aws.events", "{file}");
            assert_eq!(json["detail-type"], "Scheduled Event", "{file}");
        } else {
            assert!(has("SQS"), "{file}: {function} reads no queue");
            let event: SqsEvent =
                serde_json::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(!event.records.is_empty(), "{file}: no records");
        }
    }
}
