//! The ops CLI against DynamoDB on moto.

use chatlogger::{
    accounts,
    domain::{ApiKeySecret, Email, Password, Slug, UserRole},
    http::ApiKeyVerifier,
    store::{ApiKeyStore, DynamoStore, PageRequest, UserStore},
};
use chatlogger_admin::{Cli, CliError, run};
use clap::Parser;
use reqwest::Method;
use serde_json::Value;
use std::sync::Arc;

use crate::{
    dashboard::{Cookies, PASSWORD},
    helpers::{new_table, sdk_config, spawn_app},
};

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
    let acme = accounts::find_org(&*store, &Slug::parse("acme").unwrap())
        .await
        .unwrap();
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
    let stored = store
        .user_by_email(acme.id, &Email::parse("ada@example.com").unwrap())
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
    let stored = store
        .user_by_email(acme.id, &Email::parse("bob@example.com").unwrap())
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
        "emails are unique in an org"
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

#[tokio::test]
async fn ops_revoke_sessions_disable_users_and_revoke_keys_in_an_emergency() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "ada@acme.example", UserRole::Admin)
        .await;
    let signed_in = |cookies: Cookies| {
        let app = &app;
        async move {
            let me = app.send(Method::GET, "/users/me", &cookies, None).await;
            let refresh = app
                .send(Method::POST, "/auth/refresh", &cookies, None)
                .await;
            (me.status, refresh.status)
        }
    };

    // Sign a user out everywhere: cookies and refresh tokens stop working,
    // a new sign-in works.
    let (first, second) = (
        app.login("ada@acme.example").await,
        app.login("ada@acme.example").await,
    );
    let ended = admin_json(
        &app.store,
        &[
            "user",
            "revoke-sessions",
            "--org",
            "acme",
            "--email",
            "Ada@Acme.example",
        ],
        "",
    )
    .await;
    assert_eq!(ended["sessions_ended"], true);
    assert_eq!(signed_in(first).await, (401, 401));
    assert_eq!(signed_in(second).await, (401, 401));
    let again = app.login("ada@acme.example").await;
    assert_eq!(
        app.send(Method::GET, "/users/me", &again, None)
            .await
            .status,
        200
    );

    // Disable: sessions end and sign-in is refused; enabling lets her sign
    // in again but revives no old session.
    let disabled = admin(
        &app.store,
        &[
            "user",
            "disable",
            "--org",
            "acme",
            "--email",
            "ada@acme.example",
        ],
        "",
    )
    .await
    .unwrap();
    assert!(
        disabled.contains("disabled; every session ended"),
        "{disabled}"
    );
    assert_eq!(signed_in(again.clone()).await, (401, 401));
    assert_eq!(
        app.login_reply("ada@acme.example", PASSWORD).await.status,
        401
    );
    admin(
        &app.store,
        &[
            "user",
            "enable",
            "--org",
            "acme",
            "--email",
            "ada@acme.example",
        ],
        "",
    )
    .await
    .unwrap();
    assert_eq!(signed_in(again).await, (401, 401), "not revived");
    app.login("ada@acme.example").await;

    // Revoke an API key: ingest refuses it.
    let keys = app
        .store
        .list_api_keys(app.acme.org.id, &PageRequest::default())
        .await
        .unwrap();
    let key_id = keys.items[0].id.to_string();
    let revoked = admin_json(
        &app.store,
        &["apikey", "revoke", "--org", "acme", "--id", &key_id],
        "",
    )
    .await;
    assert!(revoked["api_key"]["revoked_at"].is_string());
    let verified = ApiKeyVerifier::new(app.store.clone())
        .verify(Some(app.acme.key.expose()), "acme", None)
        .await;
    assert!(verified.is_err(), "the revoked key no longer authenticates");

    // Unknown users and keys are named, and nothing changes.
    assert_eq!(
        admin_error(
            &app.store,
            &[
                "user",
                "disable",
                "--org",
                "acme",
                "--email",
                "nobody@acme.example"
            ],
            ""
        )
        .await,
        "org 'acme' has no user with the email address 'nobody@acme.example'"
    );
    let missing = ulid::Ulid::new().to_string();
    assert_eq!(
        admin_error(
            &app.store,
            &["apikey", "revoke", "--org", "globex", "--id", &key_id],
            ""
        )
        .await,
        format!("org 'globex' has no API key {key_id}"),
        "another org's key is not found"
    );
    assert!(
        admin_error(
            &app.store,
            &["apikey", "revoke", "--org", "acme", "--id", &missing],
            ""
        )
        .await
        .contains("has no API key")
    );
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
