//! A fresh org per run, created through the same use cases as
//! `chatlogger-admin`: its admin (to read back through the dashboard API)
//! and its API key (for the plugins). A run's numbers are then its own.

use chatlogger::{
    accounts,
    domain::{ApiKeyLabel, Email, OrgName, Password, Slug, UserRole},
    store::DynamoStore,
};

use crate::LoadError;

/// What the plugins and the dashboard client need.
pub struct LoadOrg {
    pub slug: String,
    pub admin_email: String,
    pub admin_password: String,
    pub api_key: String,
}

pub async fn create_load_org(store: &DynamoStore) -> Result<LoadOrg, LoadError> {
    let failed = |error: &dyn std::fmt::Display| LoadError::Setup(error.to_string());
    let id = ulid::Ulid::new().to_string().to_lowercase();
    let slug = Slug::parse(&format!("load-{id}")).map_err(|e| failed(&e))?;
    let org = accounts::create_org(
        store,
        slug.clone(),
        OrgName::parse("Load test").map_err(|e| failed(&e))?,
    )
    .await
    .map_err(|e| failed(&e))?;
    let admin_email = format!("admin@{id}.load.test");
    let password = Password::generate();
    accounts::create_user(
        store,
        &org,
        Email::parse(&admin_email).map_err(|e| failed(&e))?,
        UserRole::Admin,
        password.clone(),
    )
    .await
    .map_err(|e| failed(&e))?;
    let (_, key) = accounts::create_api_key(
        store,
        &org,
        ApiKeyLabel::parse("load plugins").map_err(|e| failed(&e))?,
    )
    .await
    .map_err(|e| failed(&e))?;
    Ok(LoadOrg {
        slug: slug.to_string(),
        admin_email,
        admin_password: password.expose().to_owned(),
        api_key: key.expose().to_owned(),
    })
}
