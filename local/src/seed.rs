//! The demo org a newcomer can use at once: slug `demo`, an admin login and
//! an API key, created on first start and printed once.

use chatlogger::{
    accounts::{self, AccountError},
    domain::{ApiKeyLabel, Email, OrgName, Password, Slug, UserRole},
    store::{ApiKeyStore, OrgStore, UserStore},
};

pub const DEMO_SLUG: &str = "demo";
pub const DEMO_ADMIN_EMAIL: &str = "admin@demo.local";

/// What the seed created; the secrets exist only here, once.
pub struct DemoCredentials {
    pub slug: String,
    pub admin_email: String,
    pub admin_password: Password,
    pub api_key: chatlogger::domain::ApiKeySecret,
}

/// Seeds the demo org unless it exists; `None` when it already did.
pub async fn seed_demo<S: OrgStore + UserStore + ApiKeyStore + ?Sized>(
    store: &S,
) -> Result<Option<DemoCredentials>, AccountError> {
    let slug = Slug::parse(DEMO_SLUG).expect("valid slug");
    if store.org_by_slug(&slug).await?.is_some() {
        return Ok(None);
    }
    let org =
        accounts::create_org(store, slug, OrgName::parse("Demo").expect("valid name")).await?;
    let password = Password::generate();
    let email = Email::parse(DEMO_ADMIN_EMAIL).expect("valid email");
    accounts::create_user(store, &org, email, UserRole::Admin, password.clone()).await?;
    let label = ApiKeyLabel::parse("demo plugin").expect("valid label");
    let (_, api_key) = accounts::create_api_key(store, &org, label).await?;
    Ok(Some(DemoCredentials {
        slug: DEMO_SLUG.to_owned(),
        admin_email: DEMO_ADMIN_EMAIL.to_owned(),
        admin_password: password,
        api_key,
    }))
}

impl DemoCredentials {
    /// The start-up banner: the credentials and curl commands to paste.
    pub fn banner(&self, base_url: &str) -> String {
        let (slug, key) = (&self.slug, self.api_key.expose());
        format!(
            r#"
Demo org seeded (shown once; restart `make dev` for a fresh stack):
  org slug:        {slug}
  admin login:     {email} / {password}
  API key:         {key}

Open the dashboard at {base_url}/ and sign in to organization `{slug}` with the admin login.

Try the API:
  curl -s {base_url}/health
  curl -s -X POST {base_url}/api/v1/orgs/{slug}/chats \
    -H 'content-type: application/json' -H 'x-organization-api-key: {key}' \
    -d '{{"title": "First chat", "tags": ["demo"]}}'
  # then, with the chat's "id" from the answer:
  curl -s -X POST {base_url}/api/v1/orgs/{slug}/chats/CHAT_ID/messages \
    -H 'content-type: application/json' -H 'x-organization-api-key: {key}' \
    -d '{{"role": "user", "content": "Hello!", "latency_ms": 120, "token_count": 3}}'
  curl -s {base_url}/openapi.json

Sign in to the dashboard API (cookies kept in ./jar):
  curl -s -c jar -b jar -X POST {base_url}/auth/login -H 'x-csrf-protection: 1' \
    -H 'content-type: application/json' -d '{{"org": "{slug}", "email": "{email}", "password": "{password}"}}'
  curl -s -b jar {base_url}/users/me
  curl -s -b jar {base_url}/orgs/me/apikeys
"#,
            email = self.admin_email,
            password = self.admin_password.expose(),
        )
    }
}
