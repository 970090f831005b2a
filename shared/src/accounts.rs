//! Creating orgs, users and API keys: the use cases behind the ops CLI, the
//! local demo seed and the dashboard's admin routes. (Changing a user, which
//! may end their sessions, is `auth::sessions::change_user`.)
use crate::{
    domain::{
        ApiKey, ApiKeyKind, ApiKeyLabel, ApiKeySecret, ApiKeySettings, DisplayName, Email, Org,
        OrgId, OrgName, Password, PasswordHash, Slug, User, UserRole,
    },
    store::{ApiKeyStore, Claim, OrgStore, StoreError, UserStore},
};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the slug '{0}' is already taken")]
    SlugTaken(Slug),
    /// Another user of the same org has the address (other orgs' users
    /// are other accounts, and never make this error).
    #[error("a user of this org already has the email address '{0}'")]
    EmailTaken(Email),
    #[error("no org has the slug '{0}'")]
    OrgNotFound(Slug),
    /// The password hashing task did not finish (it panicked).
    #[error("the password could not be hashed")]
    Hashing(#[source] tokio::task::JoinError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn create_org<S: OrgStore + ?Sized>(
    store: &S,
    slug: Slug,
    name: OrgName,
) -> Result<Org, AccountError> {
    let org = Org::new(slug, name);
    match store.create_org(&org).await? {
        Claim::Created => Ok(org),
        Claim::Taken => Err(AccountError::SlugTaken(org.slug)),
    }
}

pub async fn find_org<S: OrgStore + ?Sized>(store: &S, slug: &Slug) -> Result<Org, AccountError> {
    store
        .org_by_slug(slug)
        .await?
        .ok_or_else(|| AccountError::OrgNotFound(slug.clone()))
}

/// Creates a user in `org`. The argon2id hash runs on a blocking thread.
pub async fn create_user<S: UserStore + ?Sized>(
    store: &S,
    org: &Org,
    email: Email,
    role: UserRole,
    password: Password,
) -> Result<User, AccountError> {
    create_named_user(store, org.id, email, role, None, password).await
}

/// [`create_user`] with a display name, for the dashboard.
pub async fn create_named_user<S: UserStore + ?Sized>(
    store: &S,
    org: OrgId,
    email: Email,
    role: UserRole,
    display_name: Option<DisplayName>,
    password: Password,
) -> Result<User, AccountError> {
    let hash = hash_password(password).await?;
    let mut user = User::new(email, role, hash);
    user.display_name = display_name;
    match store.create_user(org, &user).await? {
        Claim::Created => Ok(user),
        Claim::Taken => Err(AccountError::EmailTaken(user.email)),
    }
}

/// argon2id on a blocking thread: tens of milliseconds of CPU by design.
pub async fn hash_password(password: Password) -> Result<PasswordHash, AccountError> {
    tokio::task::spawn_blocking(move || password.hash())
        .await
        .map_err(AccountError::Hashing)
}

/// Issues a new secret key for `org`. The key is returned once and only its
/// hash is stored.
pub async fn create_api_key<S: ApiKeyStore + ?Sized>(
    store: &S,
    org: &Org,
    label: ApiKeyLabel,
) -> Result<(ApiKey, ApiKeySecret), AccountError> {
    issue_api_key(
        store,
        org,
        label,
        ApiKeyKind::Secret,
        ApiKeySettings::default(),
    )
    .await
}

/// Issues a new key of `kind` for `org`, with `settings` (already checked
/// for the kind: [`ApiKeySettings::for_kind`]).
pub async fn issue_api_key<S: ApiKeyStore + ?Sized>(
    store: &S,
    org: &Org,
    label: ApiKeyLabel,
    kind: ApiKeyKind,
    settings: ApiKeySettings,
) -> Result<(ApiKey, ApiKeySecret), AccountError> {
    let (key, secret) = ApiKey::generate_with(label, kind, settings);
    store.create_api_key(org, &key, &secret.hash()).await?;
    Ok((key, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn slugs_are_unique_and_emails_unique_per_org() {
        let store = MemoryStore::new();
        let slug = Slug::parse("acme").unwrap();
        let org = create_org(&store, slug.clone(), OrgName::parse("Acme").unwrap())
            .await
            .unwrap();
        assert!(matches!(
            create_org(&store, slug.clone(), OrgName::parse("Other").unwrap()).await,
            Err(AccountError::SlugTaken(_))
        ));
        assert_eq!(find_org(&store, &slug).await.unwrap(), org);

        let email = Email::parse("ada@example.com").unwrap();
        let password = Password::parse("correct horse battery").unwrap();
        create_user(
            &store,
            &org,
            email.clone(),
            UserRole::Admin,
            password.clone(),
        )
        .await
        .unwrap();
        assert!(matches!(
            create_user(
                &store,
                &org,
                email.clone(),
                UserRole::User,
                password.clone()
            )
            .await,
            Err(AccountError::EmailTaken(_))
        ));
        let other = create_org(
            &store,
            Slug::parse("globex").unwrap(),
            OrgName::parse("Globex").unwrap(),
        )
        .await
        .unwrap();
        create_user(&store, &other, email, UserRole::User, password)
            .await
            .expect("another org's user with the same address is another account");
    }
}
