//! The dashboard's CSRF defence and CORS policy end to end.

use chatlogger::domain::UserRole;
use reqwest::Method;
use serde_json::json;

use crate::{
    dashboard::{PASSWORD, full_reply},
    helpers::{DASHBOARD_ORIGIN, spawn_app},
};

#[tokio::test]
async fn state_changing_requests_without_the_csrf_header_change_nothing() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "ada@acme.example", UserRole::Admin)
        .await;
    let cookies = app.login("ada@acme.example").await;
    let session = cookies.session.clone().unwrap();
    let url = format!("{}/orgs/me/apikeys", app.base_url);
    let keys_before = app
        .send(Method::GET, "/orgs/me/apikeys", &cookies, None)
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .len();

    let cookie = format!("__Host-chatlogger_session={session}");
    let without_header = app
        .http
        .post(&url)
        .header("cookie", &cookie)
        .json(&json!({"label": "csrf"}))
        .send()
        .await
        .unwrap();
    let cross_site = app
        .http
        .post(&url)
        .header("cookie", &cookie)
        .header("x-csrf-protection", "1")
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"label": "csrf"}))
        .send()
        .await
        .unwrap();
    let login_without_header = app
        .http
        .post(format!("{}/auth/login", app.base_url))
        .json(&json!({"org": "acme", "email": "ada@acme.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    for response in [without_header, cross_site, login_without_header] {
        let reply = full_reply(response).await;
        assert_eq!(reply.status, 403);
        assert_eq!(reply.error_code(), "csrf_rejected");
        assert!(reply.set_cookies.is_empty());
    }
    let keys_after = app
        .send(Method::GET, "/orgs/me/apikeys", &cookies, None)
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(keys_after, keys_before);
}

#[tokio::test]
async fn cors_admits_only_the_dashboard_origins_with_credentials() {
    let app = spawn_app().await;
    let preflight = |origin: &'static str| {
        app.http
            .request(Method::OPTIONS, format!("{}/orgs/me/apikeys", app.base_url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,x-csrf-protection",
            )
            .send()
    };
    let allowed = preflight(DASHBOARD_ORIGIN).await.unwrap();
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        DASHBOARD_ORIGIN
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
}
