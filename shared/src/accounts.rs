//! Creating orgs, users and API keys, and changing users: the use cases
//! behind the ops CLI, the local demo seed and the dashboard's admin routes.
//!
//! **Session revocation.** Every session carries the user's session epoch
//! from when it was confirmed, and every request and refresh compares it
//! with the user's. These bump the epoch, so they end every session of the
//! user for good (re-enabling or promoting the user later revives none of
//! their old cookies or refresh tokens): a password change, disabling, a
//! role change that takes away any permission, and "sign out everywhere".
//! Deleting a user ends them too: a user created again with the same
//! address has a new id, which no old session names.

use crate::{
    auth::permissions::permissions,
    domain::{
        ApiKey, ApiKeyLabel, ApiKeySecret, DisplayName, Email, Org, OrgId, OrgName, Password,
        PasswordHash, Slug, User, UserRole,
    },
    store::{ApiKeyStore, Claim, OrgStore, StoreError, StoreResult, UserChanges, UserStore},
};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the slug '{0}' is already taken")]
    SlugTaken(Slug),
    #[error("the email address '{0}' is already registered")]
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

/// Issues a new API key for `org`. The secret is returned once and only its
/// hash is stored.
pub async fn create_api_key<S: ApiKeyStore + ?Sized>(
    store: &S,
    org: &Org,
    label: ApiKeyLabel,
) -> Result<(ApiKey, ApiKeySecret), AccountError> {
    let (key, secret) = ApiKey::generate(label);
    store.create_api_key(org, &key, &secret.hash()).await?;
    Ok((key, secret))
}

/// Whether `changes` must end every session of `user` (see the module
/// docs): disabling them, or a role that may not do everything their
/// current one may (admin to viewer, but also viewer to user, which loses
/// the org-wide reads).
pub fn ends_sessions(user: &User, changes: &UserChanges) -> bool {
    let disabling = changes.disabled == Some(true) && !user.disabled;
    let losing_permissions = changes
        .role
        .is_some_and(|role| !permissions(role).includes(permissions(user.role)));
    changes.end_sessions || disabling || losing_permissions
}

/// Applies `changes` to `user` (as read just before), ending their sessions
/// in the same write where [`ends_sessions`] says so. `None` when the user
/// no longer exists.
pub async fn update_user<S: UserStore + ?Sized>(
    store: &S,
    org: OrgId,
    user: &User,
    changes: UserChanges,
) -> StoreResult<Option<User>> {
    let changes = UserChanges {
        end_sessions: ends_sessions(user, &changes),
        ..changes
    };
    let updated = store.update_user(org, user.id, &changes).await?;
    if changes.end_sessions && updated.is_some() {
        tracing::info!(target_user_id = %user.id, "every session of the user ended");
    }
    Ok(updated)
}

/// "Sign out everywhere": ends every session of `user` for good.
pub async fn end_sessions<S: UserStore + ?Sized>(
    store: &S,
    org: OrgId,
    user: &User,
) -> StoreResult<Option<User>> {
    let changes = UserChanges {
        end_sessions: true,
        ..UserChanges::default()
    };
    update_user(store, org, user, changes).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn disabling_and_taking_permissions_away_end_sessions() {
        let user = |role| {
            User::new(
                Email::parse("a@b.example").unwrap(),
                role,
                PasswordHash::from_stored(String::new()),
            )
        };
        let role = |role| UserChanges {
            role: Some(role),
            ..UserChanges::default()
        };
        let admin = user(UserRole::Admin);
        assert!(ends_sessions(&admin, &role(UserRole::Viewer)));
        assert!(ends_sessions(&admin, &role(UserRole::User)));
        assert!(!ends_sessions(&admin, &role(UserRole::Admin)));
        assert!(!ends_sessions(&admin, &role(UserRole::Superadmin)));
        let viewer = user(UserRole::Viewer);
        assert!(
            ends_sessions(&viewer, &role(UserRole::User)),
            "loses org-wide reads"
        );
        assert!(!ends_sessions(&viewer, &role(UserRole::Admin)));
        let disable = UserChanges {
            disabled: Some(true),
            ..UserChanges::default()
        };
        assert!(ends_sessions(&viewer, &disable));
        let enable = UserChanges {
            disabled: Some(false),
            ..UserChanges::default()
        };
        assert!(!ends_sessions(&viewer, &enable));
        let rename = UserChanges {
            display_name: Some(DisplayName::parse("Ada").unwrap()),
            ..UserChanges::default()
        };
        assert!(!ends_sessions(&viewer, &rename));
    }

    #[tokio::test]
    async fn slugs_and_emails_are_unique() {
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
            create_user(&store, &org, email, UserRole::User, password).await,
            Err(AccountError::EmailTaken(_))
        ));
    }
}
