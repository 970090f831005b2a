//! template.yaml agrees with what the code assumes: each function's wiring,
//! timeouts, permissions and guards.

use std::time::Duration;

use chatlogger::{
    auth::jwt::{SECRET_ID_VARIABLE, SECRET_VARIABLE},
    aws::{Budget, lambda_timeout},
    domain::export::{ExportFormat, ExportJob},
};
use serde_norway::Value as Yaml;

use crate::template;

/// The aggregator: a scheduled reader of the table's stream, with the
/// permissions, settings and alarms its exactness and failure handling
/// rely on (see `chatlogger::analytics::reader`).
#[test]
fn the_aggregator_is_wired_to_the_tables_stream() {
    let template = template();
    let function = &template["Resources"]["AggregatorFunction"];
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("aggregator")
    );
    let properties = &function["Properties"];
    let text = |value: &Yaml| serde_norway::to_string(value).unwrap();
    let events: Vec<&Yaml> = properties["Events"]
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

/// The unauthenticated dashboard routes (`/health`, `/auth/*`) have route
/// throttles of their own, below the dashboard's default, so a flood of
/// them is refused at API Gateway before a function runs.
#[test]
fn unauthenticated_routes_have_lower_throttles_of_their_own() {
    let template = template();
    let resources = &template["Resources"];
    let default = &resources["HttpApi"]["Properties"]["DefaultRouteSettings"];
    let number = |value: &serde_norway::Value| value.as_f64().expect("a number");
    let mut found = Vec::new();
    for (_, resource) in resources.as_mapping().unwrap() {
        for (_, event) in resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            let path = event["Properties"]["Path"].as_str().unwrap_or_default();
            if event["Type"].as_str() != Some("HttpApi")
                || !(path == "/health" || path.starts_with("/auth/"))
            {
                continue;
            }
            let settings = &event["Properties"]["RouteSettings"];
            for limit in ["ThrottlingRateLimit", "ThrottlingBurstLimit"] {
                assert!(
                    number(&settings[limit]) < number(&default[limit]),
                    "{path}: {limit} must be below the dashboard's default"
                );
            }
            found.push(path.to_owned());
        }
    }
    found.sort();
    assert_eq!(
        found,
        ["/auth/login", "/auth/logout", "/auth/refresh", "/health"]
    );
}

/// The outer guards: API Gateway throttles both APIs before any function
/// runs; ingest and the export worker have reserved (and capped)
/// concurrency, so neither can take the dashboard functions' share; and
/// Lambda drops its own INFO lines while keeping the request line.
#[test]
fn the_template_guards_ingest_and_keeps_logs_small() {
    let template = template();
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

/// The export worker's queue, lease, retries and bucket, as the code assumes them.
#[test]
fn the_template_runs_the_worker_as_the_code_expects() {
    let template = template();
    let resources = &template["Resources"];
    let worker = &resources["ExportWorkerFunction"]["Properties"];
    let queue = &resources["ExportQueue"]["Properties"];
    let timeout = worker["Timeout"].as_u64().unwrap();
    assert_eq!(
        timeout,
        chatlogger::export::worker::JOB_LEASE.as_secs(),
        "the job lease is the worker's longest run"
    );
    assert!(queue["VisibilityTimeout"].as_u64().unwrap() >= 6 * timeout);
    let max_receives = queue["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap();
    assert_eq!(
        worker["Environment"]["Variables"]["EXPORT_MAX_RECEIVE_COUNT"].as_str(),
        Some(max_receives.to_string().as_str())
    );
    assert_eq!(
        max_receives,
        u64::from(chatlogger_local::EXPORT_MAX_RECEIVE_COUNT)
    );
    let trigger = &resources["ExportWorkerQueueMapping"]["Properties"];
    assert_eq!(
        trigger["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
    assert!(is_ref(&trigger["FunctionName"], "ExportWorkerFunction"));
    // Fairness: one org's exports never hold every worker, and a job it
    // cannot run yet waits on this queue.
    let workers = worker["ReservedConcurrentExecutions"].as_u64().unwrap();
    assert!(
        u64::from(chatlogger::export::worker::SLOTS_PER_ORG) < workers,
        "an org runs fewer exports at once than there are workers"
    );
    assert!(is_ref(
        &worker["Environment"]["Variables"]["EXPORT_QUEUE_URL"],
        "ExportQueue"
    ));
    let bucket = &resources["ExportBucket"]["Properties"];
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"][flag].as_bool(),
            Some(true)
        );
    }
    assert!(bucket["BucketEncryption"].is_mapping());
    // Export objects live under the prefix the lifecycle rule expires.
    let expiry = &bucket["LifecycleConfiguration"]["Rules"][0];
    assert_eq!(expiry["Status"].as_str(), Some("Enabled"));
    assert!(!expiry["ExpirationInDays"].is_null());
    let job = ExportJob::new(
        ExportFormat::Csv,
        Default::default(),
        chatlogger::domain::UserId::new(),
        time::OffsetDateTime::now_utc(),
    );
    assert!(
        job.object_key(chatlogger::domain::OrgId::new())
            .starts_with(expiry["Prefix"].as_str().unwrap())
    );
    assert!(resources["ExportDeadLetterAlarm"].is_mapping());
}

/// Each function's AWS budget ([`Budget::lambda`]) is sized for its
/// timeout in the template, and no function is deployed with faults.
#[test]
fn every_function_is_budgeted_for_its_template_timeout() {
    let template = template();
    let default = template["Globals"]["Function"]["Timeout"].as_u64().unwrap();
    // Fault injection is for the local stack and tests: never deployed.
    let environment =
        |properties: &Yaml| serde_norway::to_string(&properties["Environment"]).unwrap();
    assert!(!environment(&template["Globals"]["Function"]).contains("CHATLOGGER_FAULTS"));
    let mut seen = 0;
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap();
        let budgeted = match binary {
            // The docs function makes no AWS calls; it runs with the default.
            "ingest" | "auth" | "accounts" | "apikeys" | "chats" | "analytics" | "docs" | "web" => {
                lambda_timeout::HTTP
            }
            "exports" => lambda_timeout::EXPORTS,
            "aggregator" => lambda_timeout::AGGREGATOR,
            "export-worker" => lambda_timeout::EXPORT_WORKER,
            "sweeper" => lambda_timeout::SWEEPER,
            other => panic!("{other} has no AWS budget: add it to chatlogger::aws::lambda_timeout"),
        };
        let properties = &resource["Properties"];
        let timeout = properties["Timeout"].as_u64().unwrap_or(default);
        assert_eq!(
            Duration::from_secs(timeout),
            budgeted,
            "{name:?}: template.yaml and lambda_timeout disagree"
        );
        assert!(
            !environment(properties).contains("CHATLOGGER_FAULTS"),
            "{name:?}"
        );
        // A hung call fails, with time to answer, well before Lambda stops the function.
        let budget = Budget::lambda(budgeted);
        for timeouts in [budget.requests, budget.transfers] {
            assert!(timeouts.operation * 4 <= budgeted, "{name:?}");
            assert!(timeouts.attempt * 4 <= timeouts.operation);
            assert!(timeouts.connect <= timeouts.attempt);
        }
        seen += 1;
    }
    assert_eq!(seen, 12, "every function of template.yaml is budgeted");
    // A DynamoDB call never hangs for long, however long the function may
    // run; an S3 part upload gets more.
    let worker = Budget::lambda(lambda_timeout::EXPORT_WORKER);
    assert_eq!(worker.requests.operation, Duration::from_secs(15));
    assert_eq!(worker.transfers.operation, Duration::from_secs(120));
}

/// `!Ref Name` in the template.
fn is_ref(value: &Yaml, name: &str) -> bool {
    match value {
        Yaml::Tagged(tagged) => tagged.tag == "Ref" && tagged.value.as_str() == Some(name),
        _ => false,
    }
}

/// The dashboard functions get the JWT secret's ARN, never the key, and
/// may read that one secret; the others may read none.
#[test]
fn functions_get_the_secrets_arn_and_may_read_only_that_secret() {
    let template = template();
    let dashboard_functions = [
        "auth",
        "accounts",
        "apikeys",
        "chats",
        "analytics",
        "exports",
    ];
    let mut seen = Vec::new();
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap();
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap();
        let env = &resource["Properties"]["Environment"]["Variables"];
        assert!(
            env.get(SECRET_VARIABLE).is_none(),
            "{name}: the key itself must not be in the configuration"
        );
        let statements: Vec<&Yaml> = resource["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|policy| policy["Statement"].as_sequence().into_iter().flatten())
            .collect();
        let secret_statements: Vec<&&Yaml> = statements
            .iter()
            .filter(|s| format!("{:?}", s["Action"]).contains("secretsmanager"))
            .collect();
        match env.get(SECRET_ID_VARIABLE) {
            Some(secret_id) => {
                assert!(is_ref(secret_id, "JwtSecret"), "{name}: {secret_id:?}");
                assert_eq!(secret_statements.len(), 1, "{name}");
                let statement = secret_statements[0];
                let actions = statement["Action"].as_sequence().unwrap();
                assert_eq!(actions.len(), 1, "{name}: read only");
                assert_eq!(actions[0].as_str(), Some("secretsmanager:GetSecretValue"));
                assert!(
                    is_ref(&statement["Resource"], "JwtSecret"),
                    "{name}: that one secret"
                );
                assert_eq!(statement["Effect"].as_str(), Some("Allow"));
                seen.push(binary.to_owned());
            }
            None => assert!(secret_statements.is_empty(), "{name} reads no secret"),
        }
    }
    seen.sort();
    let mut expected: Vec<String> = dashboard_functions.iter().map(|f| f.to_string()).collect();
    expected.sort();
    assert_eq!(seen, expected);
}

/// Ingest faces the internet with keys anyone may copy (publishable ones):
/// its writes are limited to tenant items (partition keys `ORG#...`), so
/// even a flaw in it could not write a global item: a key hash, a slug, the
/// change feed, a sign-in counter. Reads (the key check) stay allowed.
#[test]
fn ingest_writes_only_tenant_items() {
    let template = template();
    let statements: Vec<&Yaml> = template["Resources"]["IngestFunction"]["Properties"]["Policies"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|policy| policy["Statement"].as_sequence().into_iter().flatten())
        .collect();
    let writes = [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    ];
    let mut writing = 0;
    for statement in statements {
        let actions: Vec<&str> = statement["Action"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(Yaml::as_str)
            .collect();
        assert!(
            !actions
                .iter()
                .any(|a| a.contains("BatchWrite") || a.contains("Transact") || *a == "dynamodb:*"),
            "ingest needs no batch, transaction or wildcard writes: {actions:?}"
        );
        if actions.iter().any(|action| writes.contains(action)) {
            writing += 1;
            let leading =
                &statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
            let prefixes: Vec<&str> = leading
                .as_sequence()
                .map(|p| p.iter().filter_map(Yaml::as_str).collect())
                .unwrap_or_default();
            assert_eq!(
                prefixes,
                ["ORG#*"],
                "{actions:?} must be limited to ORG# items"
            );
        }
    }
    assert_eq!(writing, 1, "one statement holds ingest's writes");
}

/// No SAM event attaches a managed policy that allows every resource: an
/// `SQS`, `DynamoDB` or `Kinesis` event adds one (for example
/// AWSLambdaSQSQueueExecutionRole, `Resource: *`). Queues are read through
/// an explicit event source mapping, whose function may poll that queue
/// alone.
#[test]
fn no_event_source_grants_every_resource() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    for (name, resource) in resources {
        for (event, spec) in resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            let kind = spec["Type"].as_str().unwrap_or_default();
            assert!(
                !["SQS", "DynamoDB", "Kinesis", "MSK", "MQ"].contains(&kind),
                "{name:?} {event:?}: a {kind} event attaches a managed policy with Resource: *"
            );
        }
        if resource["Type"].as_str() != Some("AWS::Lambda::EventSourceMapping") {
            continue;
        }
        let Yaml::Tagged(function) = &resource["Properties"]["FunctionName"] else {
            panic!("{name:?}: FunctionName is a !Ref");
        };
        let Yaml::Tagged(source) = &resource["Properties"]["EventSourceArn"] else {
            panic!("{name:?}: EventSourceArn is a !GetAtt");
        };
        let function = &template["Resources"][function.value.as_str().unwrap()];
        let polls = function["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|policy| policy["Statement"].as_sequence().into_iter().flatten())
            .find(|statement| format!("{:?}", statement["Action"]).contains("sqs:ReceiveMessage"))
            .unwrap_or_else(|| panic!("{name:?}: its function may not poll the queue"));
        match &polls["Resource"] {
            Yaml::Tagged(resource) => assert_eq!(resource.value, source.value, "{name:?}"),
            other => panic!("{name:?}: polls {other:?}, not its queue alone"),
        }
    }
}

/// SAM's generated roles attach AWSLambdaBasicExecutionRole (CloudWatch
/// Logs on `*`). Every role is capped by one permissions boundary: logs
/// only into the functions' own log groups, and only the services they
/// call. The boundary must also allow every action a function's policies
/// grant, or that call would be denied in AWS while passing locally.
#[test]
fn a_permissions_boundary_keeps_every_function_to_its_logs_and_services() {
    let template = template();
    assert!(
        is_ref(
            &template["Globals"]["Function"]["PermissionsBoundary"],
            "FunctionPermissionsBoundary"
        ),
        "every function gets the boundary"
    );
    let boundary = &template["Resources"]["FunctionPermissionsBoundary"];
    assert_eq!(boundary["Type"].as_str(), Some("AWS::IAM::ManagedPolicy"));
    let statements = boundary["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    let actions_of = |statement: &Yaml| -> Vec<String> {
        statement["Action"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    };
    let mut log_groups = Vec::new();
    let mut allowed = Vec::new();
    for statement in statements {
        assert_eq!(statement["Effect"].as_str(), Some("Allow"));
        assert!(statement.get("NotAction").is_none());
        let actions = actions_of(statement);
        if actions.iter().any(|a| a.starts_with("logs:")) {
            assert_eq!(actions, ["logs:CreateLogStream", "logs:PutLogEvents"]);
            for resource in statement["Resource"].as_sequence().unwrap() {
                let Yaml::Tagged(arn) = resource else {
                    panic!("a log group's !GetAtt, not {resource:?}");
                };
                assert_eq!(arn.tag, "GetAtt");
                let name = arn.value.as_str().unwrap();
                log_groups.push(name.strip_suffix(".Arn").unwrap().to_owned());
            }
        } else {
            assert!(
                !actions.iter().any(|a| a == "*"),
                "{actions:?}: name the services"
            );
            allowed.extend(actions);
        }
    }
    let allows = |action: &str| {
        allowed.iter().any(|a| match a.strip_suffix('*') {
            Some(prefix) => action.starts_with(prefix),
            None => a == action,
        })
    };
    let mut function_groups = Vec::new();
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let Yaml::Tagged(group) = &resource["Properties"]["LoggingConfig"]["LogGroup"] else {
            panic!("{name:?}: a log group of its own (!Ref)");
        };
        function_groups.push(group.value.as_str().unwrap().to_owned());
        for statement in resource["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|policy| policy["Statement"].as_sequence().into_iter().flatten())
        {
            for action in actions_of(statement) {
                assert!(allows(&action), "{name:?}: the boundary denies {action}");
            }
        }
    }
    log_groups.sort();
    function_groups.sort();
    assert_eq!(log_groups, function_groups);
}
