//! The local stack: provisioning matches the template and is idempotent; the
//! demo seed creates a working org once.

use std::sync::Arc;

use aws_sdk_sqs::types::QueueAttributeName;
use chatlogger::{
    domain::{Email, Slug, UserRole},
    http::ApiKeyVerifier,
    store::{DynamoStore, OrgStore, UserStore},
};
use chatlogger_local::{provision, seed};

use crate::helpers::sdk_config;

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

#[tokio::test]
async fn provisioning_is_idempotent_and_matches_the_template() {
    let aws = crate::helpers::aws().await;
    let sdk = aws.sdk();
    let resources = provision::Resources {
        table: unique("table"),
        export_bucket: unique("bucket"),
        export_queue: unique("queue"),
        export_dead_letter_queue: unique("dlq"),
    };
    provision::provision(&aws, &resources).await.unwrap();
    provision::provision(&aws, &resources)
        .await
        .expect("a second run changes nothing and succeeds");

    let table = aws_sdk_dynamodb::Client::new(sdk)
        .describe_table()
        .table_name(&resources.table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let local_keys: Vec<(String, String)> = table
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect();
    let stream = table.stream_specification().unwrap();

    let template: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap(),
    )
    .unwrap();
    let declared = &template["Resources"]["ChatTable"]["Properties"];
    let declared_keys: Vec<(String, String)> = declared["KeySchema"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap().to_owned(),
                k["KeyType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(local_keys, declared_keys);
    assert_eq!(
        stream.stream_view_type().unwrap().as_str(),
        declared["StreamSpecification"]["StreamViewType"]
            .as_str()
            .unwrap()
    );
    assert_eq!(declared["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));

    aws.s3()
        .head_bucket()
        .bucket(&resources.export_bucket)
        .send()
        .await
        .expect("bucket exists");
    let sqs = aws.sqs();
    let queue_url = sqs
        .get_queue_url()
        .queue_name(&resources.export_queue)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let redrive = &attributes[&QueueAttributeName::RedrivePolicy];
    assert!(
        redrive.contains(&resources.export_dead_letter_queue),
        "{redrive}"
    );
}

#[tokio::test]
async fn the_demo_seed_creates_a_working_org_once() {
    let sdk = sdk_config().await;
    let table = crate::helpers::new_table(&sdk).await;
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table));

    let credentials = seed::seed_demo(store.as_ref())
        .await
        .unwrap()
        .expect("first start seeds");
    assert!(
        seed::seed_demo(store.as_ref()).await.unwrap().is_none(),
        "second start does not"
    );

    let key = ApiKeyVerifier::new(store.clone())
        .verify(Some(credentials.api_key.expose()), "demo", None)
        .await;
    assert!(key.is_ok(), "the printed key works for the demo org");
    let demo = store
        .org_by_slug(&Slug::parse(seed::DEMO_SLUG).unwrap())
        .await
        .unwrap()
        .expect("the demo org");
    let admin = store
        .user_by_email(demo.id, &Email::parse(seed::DEMO_ADMIN_EMAIL).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(admin.role, UserRole::Admin);
    assert!(admin.password_hash.verify(&credentials.admin_password));

    let banner = credentials.banner("http://127.0.0.1:3000");
    assert!(banner.contains(credentials.api_key.expose()));
    assert!(banner.contains("curl -s -X POST http://127.0.0.1:3000/api/v1/orgs/demo/chats"));
    assert!(
        banner.contains("Open the dashboard at http://127.0.0.1:3000/ "),
        "{banner}"
    );
}
