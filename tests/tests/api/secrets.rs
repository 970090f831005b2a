//! Secrets: the JWT signing keys come from Secrets Manager (on moto), with
//! rotation; responses with secrets or a user's data are not cached. (That
//! the template passes only the secret's ARN and grants reading that one
//! secret is checked in `tests/drift/template.rs`.)

use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use chatlogger::{
    adapters::jwt_keyring,
    auth::jwt::{JwtConfigError, SECRET_ID_VARIABLE, SECRET_VARIABLE},
    domain::{OrgId, SessionId, UserId, UserRole},
};
use serde_json::json;

use reqwest::Method;

use crate::{
    dashboard::{Cookies, PASSWORD},
    helpers::{sdk_config, spawn_app},
};

const FIRST_KEY: &str = "first-signing-key-0123456789abcdefghijklmnop";
const SECOND_KEY: &str = "second-signing-key-0123456789abcdefghijklmno";

fn secret_json(key: &str) -> String {
    json!({ "signing_key": key }).to_string()
}

/// A new secret on moto holding `key`, as the template creates it.
async fn new_secret(client: &Client, key: &str) -> String {
    let name = format!("jwt-{}", ulid::Ulid::new());
    let created = client
        .create_secret()
        .name(&name)
        .secret_string(secret_json(key))
        .send()
        .await
        .unwrap();
    created.arn().unwrap().to_owned()
}

fn kid(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn keys_come_from_secrets_manager_and_survive_a_rotation() {
    let sdk = sdk_config().await;
    let client = Client::new(&sdk);
    let arn = new_secret(&client, FIRST_KEY).await;
    let (org, user, session) = (OrgId::new(), UserId::new(), SessionId::new());

    // A container started before the rotation.
    let warm = jwt_keyring(&sdk, Some(arn.clone()), None)
        .await
        .unwrap()
        .with_reload_interval(Duration::ZERO);
    let old_token = warm.issue(org, user, session);
    assert_eq!(warm.verify(&old_token).await.unwrap().sid, session);

    // Rotate: the new value becomes AWSCURRENT, the old one AWSPREVIOUS.
    client
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(secret_json(SECOND_KEY))
        .send()
        .await
        .unwrap();

    // A container started after it signs with the new key and still
    // accepts tokens of the old one.
    let cold = jwt_keyring(&sdk, Some(arn.clone()), None).await.unwrap();
    let new_token = cold.issue(org, user, session);
    assert_ne!(kid(&new_token), kid(&old_token), "tokens name their key");
    assert_eq!(cold.verify(&old_token).await.unwrap().sid, session);
    assert_eq!(cold.verify(&new_token).await.unwrap().sid, session);

    // The warm container meets a token of the new key: it reads the
    // secret again and accepts it, and keeps accepting the old one.
    assert_eq!(warm.verify(&new_token).await.unwrap().sid, session);
    assert_eq!(warm.verify(&old_token).await.unwrap().sid, session);
    assert_eq!(kid(&warm.issue(org, user, session)), kid(&new_token));

    // With the default interval a container does not reload at once: a
    // token naming an unknown key is simply refused.
    let rotated_again = jwt_keyring(&sdk, Some(arn.clone()), None).await.unwrap();
    client
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(secret_json("a third signing key, 0123456789abcdefghij"))
        .send()
        .await
        .unwrap();
    let newest = jwt_keyring(&sdk, Some(arn), None)
        .await
        .unwrap()
        .issue(org, user, session);
    assert!(rotated_again.verify(&newest).await.is_none());
}

#[tokio::test]
async fn exactly_one_key_source_must_be_configured() {
    let sdk = sdk_config().await;
    let client = Client::new(&sdk);
    let arn = new_secret(&client, FIRST_KEY).await;
    let local = jwt_keyring(&sdk, None, Some(FIRST_KEY.into()))
        .await
        .unwrap();
    let from_manager = jwt_keyring(&sdk, Some(arn.clone()), None).await.unwrap();
    let (org, user, session) = (OrgId::new(), UserId::new(), SessionId::new());
    let token = local.issue(org, user, session);
    assert!(from_manager.verify(&token).await.is_some(), "the same key");

    let refused = [
        (Some(arn.clone()), Some(FIRST_KEY.to_owned())),
        (None, None),
        (None, Some("too short".to_owned())),
        (Some(format!("{arn}-missing")), None),
    ];
    let errors: Vec<String> = futures_of(&sdk, refused).await;
    assert!(errors[0].contains("both set"), "{}", errors[0]);
    assert!(errors[1].contains(SECRET_ID_VARIABLE) && errors[1].contains(SECRET_VARIABLE));
    assert!(errors[2].contains("at least 32 bytes"), "{}", errors[2]);
    assert!(errors[3].contains("Secrets Manager"), "{}", errors[3]);

    // A secret that is not the expected JSON is named, never quoted.
    let plain = new_secret(&client, FIRST_KEY).await;
    client
        .put_secret_value()
        .secret_id(&plain)
        .secret_string(FIRST_KEY)
        .send()
        .await
        .unwrap();
    let error = jwt_keyring(&sdk, Some(plain), None).await.err().unwrap();
    assert!(matches!(error, JwtConfigError::Malformed(_)), "{error}");
    assert!(!error.to_string().contains(FIRST_KEY));
}

async fn futures_of<const N: usize>(
    sdk: &aws_config::SdkConfig,
    settings: [(Option<String>, Option<String>); N],
) -> Vec<String> {
    let mut errors = Vec::new();
    for (secret_id, secret) in settings {
        let outcome = jwt_keyring(sdk, secret_id, secret).await;
        errors.push(outcome.err().expect("refused").to_string());
    }
    errors
}

#[tokio::test]
async fn responses_with_secrets_or_a_users_data_are_never_cached() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "admin@acme.example", UserRole::Admin)
        .await;
    let no_store = |headers: &reqwest::header::HeaderMap| {
        headers
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let wrong = app
        .login_reply("admin@acme.example", "not the password")
        .await;
    assert_eq!(
        (wrong.status, no_store(&wrong.headers)),
        (401, Some("no-store".into()))
    );
    let login = app.login_reply("admin@acme.example", PASSWORD).await;
    assert_eq!(
        (login.status, no_store(&login.headers)),
        (200, Some("no-store".into()))
    );
    let mut session = app.login("admin@acme.example").await;
    // Refreshed cookies, a new API key (the secret), the user, the org's
    // keys and exports, and the refusals too.
    let mut replies = vec![
        app.send_keeping(Method::POST, "/auth/refresh", &mut session, None)
            .await,
    ];
    for (method, path, body) in [
        (
            Method::POST,
            "/orgs/me/apikeys",
            Some(json!({"label": "widget"})),
        ),
        (Method::GET, "/users/me", None),
        (Method::GET, "/orgs/me/apikeys", None),
        (Method::GET, "/exports/orgs/me", None),
        (
            Method::POST,
            "/exports/orgs/me",
            Some(json!({"format": "json"})),
        ),
    ] {
        replies.push(app.send(method, path, &session, body.as_ref()).await);
    }
    replies.push(
        app.send(Method::GET, "/users/me", &Cookies::default(), None)
            .await,
    );
    replies.push(app.send(Method::POST, "/auth/logout", &session, None).await);
    for reply in replies {
        assert!(reply.status < 500, "{}", reply.body);
        assert_eq!(
            no_store(&reply.headers).as_deref(),
            Some("no-store"),
            "{}",
            reply.status
        );
    }
}
