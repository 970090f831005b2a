//! The role table: every dashboard route, called by each role, on the
//! caller's own org and on another org, with the expected status in each
//! cell. Columns are superadmin, admin, user, viewer. "Other org" means
//! naming globex with `?org=` (only a superadmin may) or addressing a
//! globex object; its 404s carry the same body whether or not the object
//! exists.
//!
//! And the key table: every ingest route, called with each kind of API key
//! (secret or publishable, from a server or a browser origin, of the org or
//! of another org).

use chatlogger::domain::{ApiKeyLabel, UserRole};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    dashboard::{Cookies, PASSWORD},
    helpers::{TestApp, TestOrg, spawn_app},
};

const ROLES: [UserRole; 4] = [
    UserRole::Superadmin,
    UserRole::Admin,
    UserRole::User,
    UserRole::Viewer,
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scope {
    Own,
    Other,
}

#[derive(Clone, Copy, Debug)]
enum Route {
    GetMe,
    UpdateMe,
    ChangePassword,
    CreateOrg,
    ListOrgs,
    GetOrg,
    UpdateOrg,
    ListUsers,
    CreateUser,
    UpdateUser,
    DeleteUser,
    EndUserSessions,
    ListApiKeys,
    CreateApiKey,
    UpdateApiKey,
    RevokeApiKey,
    ListChats,
    GetChat,
    UpdateChat,
    DeleteChat,
    ListMessages,
    AnalyticsSummary,
    Refresh,
}

/// (route, expected on own org, expected on another org; `None` where the
/// route has no org to vary).
/// Expected statuses for superadmin, admin, user and viewer.
type Statuses = [u16; 4];

const TABLE: &[(Route, Statuses, Option<Statuses>)] = &[
    (Route::GetMe, [200, 200, 200, 200], None),
    (Route::UpdateMe, [200, 200, 200, 200], None),
    (Route::ChangePassword, [204, 204, 204, 204], None),
    (Route::CreateOrg, [201, 403, 403, 403], None),
    (Route::ListOrgs, [200, 403, 403, 403], None),
    (
        Route::GetOrg,
        [200, 200, 200, 200],
        Some([200, 404, 404, 404]),
    ),
    (
        Route::UpdateOrg,
        [200, 200, 403, 403],
        Some([200, 404, 403, 403]),
    ),
    (
        Route::ListUsers,
        [200, 200, 403, 403],
        Some([200, 404, 403, 403]),
    ),
    (
        Route::CreateUser,
        [201, 201, 403, 403],
        Some([201, 404, 403, 403]),
    ),
    (
        Route::UpdateUser,
        [200, 200, 403, 403],
        Some([200, 404, 403, 403]),
    ),
    (
        Route::DeleteUser,
        [204, 204, 403, 403],
        Some([204, 404, 403, 403]),
    ),
    (
        Route::EndUserSessions,
        [204, 204, 403, 403],
        Some([204, 404, 403, 403]),
    ),
    (
        Route::ListApiKeys,
        [200, 200, 403, 403],
        Some([200, 404, 403, 403]),
    ),
    (
        Route::CreateApiKey,
        [201, 201, 403, 403],
        Some([201, 404, 403, 403]),
    ),
    (
        Route::UpdateApiKey,
        [200, 200, 403, 403],
        Some([200, 404, 403, 403]),
    ),
    (
        Route::RevokeApiKey,
        [200, 200, 403, 403],
        Some([200, 404, 403, 403]),
    ),
    // Chats: a `user` reaches the chats whose user_id is their email (the
    // fresh chats here are theirs); deleting needs an admin.
    (
        Route::ListChats,
        [200, 200, 200, 200],
        Some([200, 404, 404, 404]),
    ),
    (
        Route::GetChat,
        [200, 200, 200, 200],
        Some([200, 404, 404, 404]),
    ),
    (
        Route::UpdateChat,
        [200, 200, 200, 403],
        Some([200, 404, 404, 403]),
    ),
    (
        Route::DeleteChat,
        [204, 204, 403, 403],
        Some([204, 404, 403, 403]),
    ),
    (
        Route::ListMessages,
        [200, 200, 200, 200],
        Some([200, 404, 404, 404]),
    ),
    // The summary covers the whole org, which a `user` may not see.
    (
        Route::AnalyticsSummary,
        [200, 200, 403, 200],
        Some([200, 404, 403, 404]),
    ),
    (Route::Refresh, [204, 204, 204, 204], None),
];

struct Request {
    method: Method,
    path: String,
    body: Option<Value>,
}

fn request(method: Method, path: impl Into<String>, body: Option<Value>) -> Request {
    Request {
        method,
        path: path.into(),
        body,
    }
}

/// A fresh object to act on, so every cell starts from the same state.
async fn fresh_user(app: &TestApp, org: &TestOrg) -> String {
    let email = format!("target-{}@example.com", ulid::Ulid::new()).to_lowercase();
    app.create_user(org, &email, UserRole::Viewer)
        .await
        .id
        .to_string()
}

async fn fresh_key(app: &TestApp, org: &TestOrg) -> String {
    let (key, _) = chatlogger::accounts::create_api_key(
        &*app.store,
        &org.org,
        ApiKeyLabel::parse("target").unwrap(),
    )
    .await
    .unwrap();
    key.id.to_string()
}

/// The `user` role's address: the fresh chats belong to it.
const USER_EMAIL: &str = "user@acme.example";

/// A fresh chat whose end user is the `user` role's email address.
async fn fresh_chat(app: &TestApp, org: &TestOrg) -> String {
    let reply = app
        .create_chat(org, &json!({"title": "Target", "user_id": USER_EMAIL}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

async fn build(app: &TestApp, route: Route, scope: Scope) -> Request {
    let org = match scope {
        Scope::Own => &app.acme,
        Scope::Other => &app.globex,
    };
    let q = match scope {
        Scope::Own => String::new(),
        Scope::Other => format!("?org={}", app.globex.org.id),
    };
    let unique = ulid::Ulid::new().to_string().to_lowercase();
    match route {
        Route::GetMe => request(Method::GET, "/users/me", None),
        Route::UpdateMe => request(
            Method::PATCH,
            "/users/me",
            Some(json!({"display_name": "Renamed"})),
        ),
        Route::ChangePassword => request(
            Method::POST,
            "/users/me/password",
            Some(json!({"current_password": PASSWORD, "new_password": PASSWORD})),
        ),
        Route::CreateOrg => request(
            Method::POST,
            "/orgs",
            Some(json!({"slug": format!("org-{unique}"), "name": "New org"})),
        ),
        Route::ListOrgs => request(Method::GET, "/orgs", None),
        Route::GetOrg => request(Method::GET, format!("/orgs/me{q}"), None),
        Route::UpdateOrg => request(
            Method::PATCH,
            format!("/orgs/me{q}"),
            Some(json!({"settings": {"theme": "dark"}})),
        ),
        Route::ListUsers => request(Method::GET, format!("/orgs/me/users{q}"), None),
        Route::CreateUser => request(
            Method::POST,
            format!("/orgs/me/users{q}"),
            Some(
                json!({"email": format!("new-{unique}@example.com"), "role": "viewer", "password": PASSWORD}),
            ),
        ),
        Route::UpdateUser => request(
            Method::PATCH,
            format!("/orgs/me/users/{}{q}", fresh_user(app, org).await),
            Some(json!({"role": "user"})),
        ),
        Route::DeleteUser => request(
            Method::DELETE,
            format!("/orgs/me/users/{}{q}", fresh_user(app, org).await),
            None,
        ),
        Route::EndUserSessions => request(
            Method::DELETE,
            format!("/orgs/me/users/{}/sessions{q}", fresh_user(app, org).await),
            None,
        ),
        Route::ListApiKeys => request(Method::GET, format!("/orgs/me/apikeys{q}"), None),
        Route::CreateApiKey => request(
            Method::POST,
            format!("/orgs/me/apikeys{q}"),
            Some(json!({"label": "widget"})),
        ),
        Route::UpdateApiKey => request(
            Method::PATCH,
            format!("/orgs/me/apikeys/{}{q}", fresh_key(app, org).await),
            Some(json!({"label": "renamed"})),
        ),
        Route::RevokeApiKey => request(
            Method::DELETE,
            format!("/orgs/me/apikeys/{}{q}", fresh_key(app, org).await),
            None,
        ),
        Route::ListChats => request(Method::GET, format!("/chats{q}"), None),
        Route::GetChat => request(
            Method::GET,
            format!("/chats/{}{q}", fresh_chat(app, org).await),
            None,
        ),
        Route::UpdateChat => request(
            Method::PATCH,
            format!("/chats/{}{q}", fresh_chat(app, org).await),
            Some(json!({"tags": ["reviewed"]})),
        ),
        Route::DeleteChat => request(
            Method::DELETE,
            format!("/chats/{}{q}", fresh_chat(app, org).await),
            None,
        ),
        Route::ListMessages => request(
            Method::GET,
            format!("/chats/{}/messages{q}", fresh_chat(app, org).await),
            None,
        ),
        Route::AnalyticsSummary => {
            request(Method::GET, format!("/analytics/orgs/me/summary{q}"), None)
        }
        Route::Refresh => request(Method::POST, "/auth/refresh", None),
    }
}

#[tokio::test]
async fn every_dashboard_route_enforces_its_minimum_role_in_every_org() {
    let app = spawn_app().await;
    let mut sessions = Vec::new();
    for role in ROLES {
        let email = format!("{role}@acme.example");
        app.create_user(&app.acme, &email, role).await;
        sessions.push(app.login(&email).await);
    }

    let mut failures = Vec::new();
    for (route, own, other) in TABLE {
        for (scope, expected) in [(Scope::Own, Some(own)), (Scope::Other, other.as_ref())] {
            let Some(expected) = expected else { continue };
            for (i, role) in ROLES.iter().enumerate() {
                let request = build(&app, *route, scope).await;
                let reply = app
                    .send_keeping(
                        request.method.clone(),
                        &request.path,
                        &mut sessions[i],
                        request.body.as_ref(),
                    )
                    .await;
                if reply.status != expected[i] {
                    failures.push(format!(
                        "{route:?} {scope:?} as {role}: expected {}, got {} {}",
                        expected[i], reply.status, reply.body
                    ));
                }
                if reply.status == 404 {
                    assert_eq!(reply.body["error"]["code"], "not_found");
                }
                assert_eq!(
                    reply
                        .headers
                        .get("cache-control")
                        .map(|v| v.to_str().unwrap()),
                    Some("no-store"),
                    "{route:?} as {role}"
                );
            }
        }
    }
    // Signed out, every role-guarded route is 401.
    for (route, _, _) in TABLE {
        let request = build(&app, *route, Scope::Own).await;
        let reply = app
            .send(
                request.method.clone(),
                &request.path,
                &Cookies::default(),
                request.body.as_ref(),
            )
            .await;
        if reply.status != 401 {
            failures.push(format!("{route:?} signed out: got {}", reply.status));
        }
    }
    // Logout works for every role, and ends that session.
    for (i, role) in ROLES.iter().enumerate() {
        let logout = app
            .send(Method::POST, "/auth/logout", &sessions[i], None)
            .await;
        let after = app.send(Method::GET, "/users/me", &sessions[i], None).await;
        if (logout.status, after.status) != (204, 401) {
            failures.push(format!(
                "logout as {role}: {} then {}",
                logout.status, after.status
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// What login and `GET /users/me` tell each role it may do, and which
/// roles it may give: the dashboard shows what these say, so they must
/// agree with the statuses above.
const WHAT_EACH_ROLE_MAY_DO: [(UserRole, &[&str], &[&str]); 4] = [
    (
        UserRole::Superadmin,
        &[
            "read_all_chats",
            "read_own_chats",
            "edit_all_chats",
            "edit_own_chats",
            "delete_chats",
            "read_analytics",
            "export",
            "manage_keys",
            "manage_users",
            "manage_org",
            "manage_all_orgs",
        ],
        &["superadmin", "admin", "user", "viewer"],
    ),
    (
        UserRole::Admin,
        &[
            "read_all_chats",
            "read_own_chats",
            "edit_all_chats",
            "edit_own_chats",
            "delete_chats",
            "read_analytics",
            "export",
            "manage_keys",
            "manage_users",
            "manage_org",
        ],
        &["admin", "user", "viewer"],
    ),
    (
        UserRole::User,
        &["read_own_chats", "edit_own_chats"],
        &["user"],
    ),
    (
        UserRole::Viewer,
        &[
            "read_all_chats",
            "read_own_chats",
            "read_analytics",
            "export",
        ],
        &["viewer"],
    ),
];

#[tokio::test]
async fn login_and_users_me_tell_each_role_what_it_may_do() {
    let app = spawn_app().await;
    for (role, permissions, grantable_roles) in WHAT_EACH_ROLE_MAY_DO {
        let email = format!("{role}@acme.example");
        app.create_user(&app.acme, &email, role).await;
        let login = app.login_reply(&email, PASSWORD).await;
        assert_eq!(login.status, 200, "login as {role}: {}", login.body);
        let mut cookies = Cookies::default();
        cookies.absorb(&login.set_cookies);
        let me = app.send(Method::GET, "/users/me", &cookies, None).await;
        assert_eq!(me.status, 200, "/users/me as {role}: {}", me.body);
        for (answer, body) in [("login", &login.body), ("/users/me", &me.body)] {
            assert_eq!(body["user"]["role"], role.as_str(), "{answer} as {role}");
            assert_eq!(
                body["permissions"],
                json!(permissions),
                "{answer} as {role}"
            );
            assert_eq!(
                body["grantable_roles"],
                json!(grantable_roles),
                "{answer} as {role}"
            );
        }
    }
}

#[tokio::test]
async fn another_orgs_objects_are_indistinguishable_from_missing_ones() {
    let app = spawn_app().await;
    for role in [UserRole::Superadmin, UserRole::Admin] {
        let email = format!("{role}@acme.example");
        app.create_user(&app.acme, &email, role).await;
        let session = app.login(&email).await;
        let globex_user = fresh_user(&app, &app.globex).await;
        let globex_key = fresh_key(&app, &app.globex).await;
        let missing = ulid::Ulid::new().to_string();
        let before = app.all_items().await;
        let role_change = json!({"role": "user"});
        let rename = json!({"label": "renamed"});
        for (method, foreign, absent, body) in [
            (
                Method::PATCH,
                format!("/orgs/me/users/{globex_user}"),
                format!("/orgs/me/users/{missing}"),
                Some(&role_change),
            ),
            (
                Method::DELETE,
                format!("/orgs/me/users/{globex_user}"),
                format!("/orgs/me/users/{missing}"),
                None,
            ),
            (
                Method::PATCH,
                format!("/orgs/me/apikeys/{globex_key}"),
                format!("/orgs/me/apikeys/{missing}"),
                Some(&rename),
            ),
            (
                Method::DELETE,
                format!("/orgs/me/users/{globex_user}/sessions"),
                format!("/orgs/me/users/{missing}/sessions"),
                None,
            ),
            (
                Method::DELETE,
                format!("/orgs/me/apikeys/{globex_key}"),
                format!("/orgs/me/apikeys/{missing}"),
                None,
            ),
        ] {
            let foreign = app.send(method.clone(), &foreign, &session, body).await;
            let absent = app.send(method.clone(), &absent, &session, body).await;
            assert_eq!(foreign.status, 404, "{role} {method}");
            assert_eq!(foreign.body, absent.body, "{role} {method}");
        }
        // A non-superadmin naming another org: the same 404 as a made-up org.
        let made_up = app
            .send(
                Method::GET,
                &format!("/orgs/me?org={missing}"),
                &session,
                None,
            )
            .await;
        assert_eq!(made_up.status, 404);
        if role == UserRole::Admin {
            let real = app
                .send(
                    Method::GET,
                    &format!("/orgs/me?org={}", app.globex.org.id),
                    &session,
                    None,
                )
                .await;
            assert_eq!((real.status, &real.body), (404, &made_up.body));
        }
        // Nothing of globex changed.
        let globex_pk = chatlogger::store::keys::org_pk(app.globex.org.id);
        let of_globex = |items: &[std::collections::HashMap<
            String,
            aws_sdk_dynamodb::types::AttributeValue,
        >]| {
            let mut items: Vec<String> = items
                .iter()
                .filter(|i| i.get("pk").and_then(|p| p.as_s().ok()) == Some(&globex_pk))
                .map(|i| {
                    format!(
                        "{:?}",
                        i.iter().collect::<std::collections::BTreeMap<_, _>>()
                    )
                })
                .collect();
            items.sort();
            items
        };
        assert_eq!(of_globex(&app.all_items().await), of_globex(&before));
    }
}

#[derive(Clone, Copy, Debug)]
enum IngestRoute {
    CreateChat,
    CreateMessage,
    LogBatch,
}

/// How a request is authenticated: whose key, which kind, from where.
#[derive(Clone, Copy, Debug)]
enum Caller {
    Secret,
    SecretInBrowser,
    PublishableFromItsOrigin,
    PublishableFromAnotherOrigin,
    PublishableWithoutOrigin,
    OtherOrgsSecret,
    OtherOrgsPublishable,
}

const CALLERS: [Caller; 7] = [
    Caller::Secret,
    Caller::SecretInBrowser,
    Caller::PublishableFromItsOrigin,
    Caller::PublishableFromAnotherOrigin,
    Caller::PublishableWithoutOrigin,
    Caller::OtherOrgsSecret,
    Caller::OtherOrgsPublishable,
];

/// Each ingest route on acme, by caller (in [`CALLERS`]' order).
const KEY_TABLE: &[(IngestRoute, [u16; 7])] = &[
    (IngestRoute::CreateChat, [201, 403, 201, 403, 403, 401, 401]),
    (
        IngestRoute::CreateMessage,
        [201, 403, 201, 403, 403, 401, 401],
    ),
    (IngestRoute::LogBatch, [207, 403, 207, 403, 403, 401, 401]),
];

const WIDGET_ORIGIN: &str = "https://widget.example.com";

async fn publishable_key(app: &TestApp, org: &TestOrg) -> String {
    let settings = chatlogger::domain::ApiKeySettings {
        allowed_origins: vec![chatlogger::domain::Origin::parse(WIDGET_ORIGIN).unwrap()],
        ..Default::default()
    };
    let (_, key) = chatlogger::accounts::issue_api_key(
        &*app.store,
        &org.org,
        ApiKeyLabel::parse("widget").unwrap(),
        chatlogger::domain::ApiKeyKind::Publishable,
        settings,
    )
    .await
    .unwrap();
    key.expose().to_owned()
}

#[tokio::test]
async fn every_ingest_route_takes_the_right_keys_in_every_org() {
    let app = spawn_app().await;
    let acme_publishable = publishable_key(&app, &app.acme).await;
    let globex_publishable = publishable_key(&app, &app.globex).await;
    let chat = fresh_chat(&app, &app.acme).await;
    let mut failures = Vec::new();
    for (route, expected) in KEY_TABLE {
        for (caller, expected) in CALLERS.iter().zip(expected) {
            let (key, origin) = match caller {
                Caller::Secret => (app.acme.key.expose(), None),
                Caller::SecretInBrowser => (app.acme.key.expose(), Some(WIDGET_ORIGIN)),
                Caller::PublishableFromItsOrigin => {
                    (acme_publishable.as_str(), Some(WIDGET_ORIGIN))
                }
                Caller::PublishableFromAnotherOrigin => {
                    (acme_publishable.as_str(), Some("https://other.example.com"))
                }
                Caller::PublishableWithoutOrigin => (acme_publishable.as_str(), None),
                Caller::OtherOrgsSecret => (app.globex.key.expose(), None),
                Caller::OtherOrgsPublishable => (globex_publishable.as_str(), Some(WIDGET_ORIGIN)),
            };
            let message = json!({"role": "user", "content": "hello"});
            let (url, body) = match route {
                IngestRoute::CreateChat => (app.chats_url(&app.acme), json!({})),
                IngestRoute::CreateMessage => (app.messages_url(&app.acme, &chat), message),
                IngestRoute::LogBatch => (
                    app.batch_url(&app.acme),
                    json!({"messages": [{"chat_id": chat, "role": "user", "content": "hi"}]}),
                ),
            };
            let before = (
                app.tenant_items(&app.acme).await,
                app.tenant_items(&app.globex).await,
            );
            let reply = app.plugin_post(&url, key, origin, &body).await;
            let after = (
                app.tenant_items(&app.acme).await,
                app.tenant_items(&app.globex).await,
            );
            let wrote = after != before;
            if reply.status != *expected || wrote != (reply.status < 300) {
                failures.push(format!(
                    "{route:?} as {caller:?}: expected {expected}, got {} (wrote: {wrote}) {}",
                    reply.status, reply.body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
