//! The ops CLI against DynamoDB on moto.

use chatlogger::{
    domain::{ApiKeySecret, Email, Password},
    http::ApiKeyVerifier,
    store::{DynamoStore, UserStore},
};
use chatlogger_admin::{Cli, CliError, run};
use clap::Parser;
use serde_json::Value;
use std::sync::Arc;

use crate::helpers::{new_table, sdk_config};

async fn admin(store: &DynamoStore, args: &[&str], stdin: &str) -> Result<String, CliError> {
    let cli = Cli::try_parse_from(std::iter::once("chatlogger-admin").chain(args.iter().copied()))
        .unwrap();
    let mut out = Vec::new();
    run(&cli, store, &mut stdin.as_bytes(), &mut out).await?;
    Ok(String::from_utf8(out).unwrap())
}

async fn admin_error(store: &DynamoStore, args: &[&str], stdin: &str) -> String {
    admin(store, args, stdin)
        .await
        .expect_err("the command fails")
        .to_string()
}

async fn admin_json(store: &DynamoStore, args: &[&str], stdin: &str) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    serde_json::from_str(&admin(store, &args, stdin).await.unwrap()).unwrap()
}

#[tokio::test]
async fn ops_create_an_org_users_and_a_working_api_key() {
    let sdk = sdk_config().await;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        new_table(&sdk).await,
    ));

    let org = admin_json(
        &store,
        &["org", "create", "--name", "Acme Inc.", "--slug", "acme"],
        "",
    )
    .await;
    assert_eq!(org["org"]["slug"], "acme");
    assert_eq!(org["org"]["name"], "Acme Inc.");
    assert_eq!(
        admin_error(
            &store,
            &["org", "create", "--name", "Again", "--slug", "acme"],
            ""
        )
        .await,
        "the slug 'acme' is already taken"
    );

    // Password from stdin.
    let user = admin_json(
        &store,
        &[
            "user",
            "create",
            "--org",
            "acme",
            "--email",
            "Ada@Example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        "correct horse battery\n",
    )
    .await;
    assert_eq!(user["user"]["email"], "ada@example.com");
    assert_eq!(user["user"]["role"], "admin");
    assert!(
        user["password"].is_null(),
        "a password from stdin is not echoed"
    );
    let (_, stored) = store
        .user_by_email(&Email::parse("ada@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored
            .password_hash
            .verify(&Password::parse("correct horse battery").unwrap())
    );

    // Generated password, printed once, that verifies.
    let user = admin_json(
        &store,
        &[
            "user",
            "create",
            "--org",
            "acme",
            "--email",
            "bob@example.com",
            "--role",
            "viewer",
        ],
        "",
    )
    .await;
    let generated = Password::parse(user["password"].as_str().unwrap()).unwrap();
    let (_, stored) = store
        .user_by_email(&Email::parse("bob@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.password_hash.verify(&generated));

    let taken = admin(
        &store,
        &[
            "user",
            "create",
            "--org",
            "acme",
            "--email",
            "ada@example.com",
            "--role",
            "user",
        ],
        "",
    )
    .await;
    assert!(
        matches!(taken, Err(CliError::Account(_))),
        "emails are unique"
    );
    assert_eq!(
        admin_error(
            &store,
            &[
                "user",
                "create",
                "--org",
                "acme",
                "--email",
                "c@example.com",
                "--role",
                "user",
                "--password-stdin",
            ],
            "short\n"
        )
        .await,
        "password must be 12-256 characters"
    );
    assert_eq!(
        admin_error(
            &store,
            &["apikey", "create", "--org", "nope", "--label", "x"],
            ""
        )
        .await,
        "no org has the slug 'nope'"
    );

    // An API key: shown once, only its hash stored, and it authenticates.
    let created = admin_json(
        &store,
        &[
            "apikey",
            "create",
            "--org",
            "acme",
            "--label",
            "website widget",
        ],
        "",
    )
    .await;
    let key = ApiKeySecret::parse(created["key"].as_str().unwrap()).unwrap();
    assert_eq!(created["api_key"]["label"], "website widget");
    assert_eq!(created["api_key"]["prefix"], key.display_prefix());
    let verified = ApiKeyVerifier::new(store.clone())
        .verify(Some(key.expose()), "acme", None)
        .await
        .unwrap();
    assert_eq!(
        verified.org_id.to_string(),
        org["org"]["id"].as_str().unwrap()
    );

    let dump = format!("{:?}", store_items(&store).await);
    assert!(
        !dump.contains(key.expose()),
        "the plaintext key is not stored"
    );
    assert!(dump.contains(&key.hash().to_hex()), "its SHA-256 is");
    assert!(
        !dump.contains("correct horse battery"),
        "passwords are stored hashed"
    );
}

#[test]
fn the_cli_refuses_invalid_arguments_before_doing_anything() {
    for args in [
        vec!["org", "create", "--name", "Acme", "--slug", "Bad Slug"],
        vec!["org", "create", "--name", "", "--slug", "acme"],
        vec![
            "user",
            "create",
            "--org",
            "acme",
            "--email",
            "not-an-email",
            "--role",
            "admin",
        ],
        vec![
            "user",
            "create",
            "--org",
            "acme",
            "--email",
            "a@example.com",
            "--role",
            "owner",
        ],
        vec!["apikey", "create", "--org", "acme"],
    ] {
        let parsed =
            Cli::try_parse_from(std::iter::once("chatlogger-admin").chain(args.iter().copied()));
        assert!(parsed.is_err(), "{args:?}");
    }
}

async fn store_items(
    store: &DynamoStore,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let sdk = sdk_config().await;
    let output = aws_sdk_dynamodb::Client::new(&sdk)
        .scan()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    output.items.unwrap_or_default()
}
