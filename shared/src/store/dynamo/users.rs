//! Users: `ORG#<org>` / `USER#<user>`, and their email claims
//! `ORG#<org>` / `EMAIL#<email>` (an address is unique within an org; other
//! orgs' users with the same address are other accounts).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    DynamoStore, Item,
    expr::{Cond, Update, number, s},
    from_item, keys,
    query::{Listing, page_of},
    requests::key,
    session_item::SessionItem,
    to_item,
    transaction::{Step, Transaction},
};
use crate::{
    domain::{DisplayName, Email, OrgId, PasswordHash, Session, User, UserId, UserRole},
    store::{Claim, Page, PageRequest, Read, StoreResult, UserChanges, UserStore},
};

#[derive(Serialize, Deserialize)]
pub(super) struct UserItem {
    pk: String,
    sk: String,
    kind: String,
    id: UserId,
    email: Email,
    role: UserRole,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    display_name: Option<DisplayName>,
    password_hash: String,
    disabled: bool,
    #[serde(default)]
    session_epoch: u32,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl UserItem {
    fn new(org: OrgId, user: &User) -> Self {
        Self {
            pk: keys::org_pk(org),
            sk: keys::user_sk(user.id),
            kind: "user".into(),
            id: user.id,
            email: user.email.clone(),
            role: user.role,
            display_name: user.display_name.clone(),
            password_hash: user.password_hash.as_str().to_owned(),
            disabled: user.disabled,
            session_epoch: user.session_epoch,
            created_at: user.created_at,
        }
    }
}

impl From<UserItem> for User {
    fn from(item: UserItem) -> Self {
        User {
            id: item.id,
            email: item.email,
            role: item.role,
            display_name: item.display_name,
            password_hash: PasswordHash::from_stored(item.password_hash),
            disabled: item.disabled,
            session_epoch: item.session_epoch,
            created_at: item.created_at,
        }
    }
}

/// `ORG#<org>` / `EMAIL#<email>` → the org's user with that address.
#[derive(Serialize, Deserialize)]
struct EmailItem {
    pk: String,
    sk: String,
    kind: String,
    user_id: UserId,
}

impl EmailItem {
    fn new(org: OrgId, user: &User) -> Self {
        Self {
            pk: keys::org_pk(org),
            sk: keys::email_sk(&user.email),
            kind: "email".into(),
            user_id: user.id,
        }
    }
}

fn email_key(org: OrgId, email: &Email) -> Item {
    key(keys::org_pk(org), keys::email_sk(email))
}

pub(super) fn user_from(item: Item) -> StoreResult<User> {
    from_item::<UserItem>(item).map(User::from)
}

pub(super) fn user_key(org: OrgId, id: UserId) -> Item {
    key(keys::org_pk(org), keys::user_sk(id))
}

#[async_trait]
impl UserStore for DynamoStore {
    async fn create_user(&self, org: OrgId, user: &User) -> StoreResult<Claim> {
        let item = to_item(&UserItem::new(org, user))?;
        let claim = to_item(&EmailItem::new(org, user))?;
        self.create_claiming(item, claim, &format!("user {}", user.id))
            .await
    }

    async fn user(&self, org: OrgId, id: UserId) -> StoreResult<Option<User>> {
        self.get(user_key(org, id), Read::Consistent)
            .await?
            .map(user_from)
            .transpose()
    }

    async fn user_by_email(&self, org: OrgId, email: &Email) -> StoreResult<Option<User>> {
        let Some(pointer) = self.get(email_key(org, email), Read::Consistent).await? else {
            return Ok(None);
        };
        let pointer: EmailItem = from_item(pointer)?;
        self.user(org, pointer.user_id).await
    }

    async fn list_users(&self, org: OrgId, page: &PageRequest) -> StoreResult<Page<User>> {
        let listing = Listing::partition(keys::org_pk(org), keys::USER_SK_PREFIX);
        page_of(self.query_page(&listing, page).await?, user_from)
    }

    async fn update_user(
        &self,
        org: OrgId,
        id: UserId,
        changes: &UserChanges,
    ) -> StoreResult<Option<User>> {
        let update = Update::default()
            .set_some(
                "display_name",
                changes.display_name.as_ref().map(|n| s(n.as_str())),
            )
            .set_some("role", changes.role.map(|r| s(r.as_str())))
            .set_some("disabled", changes.disabled.map(AttributeValue::Bool));
        let update = if changes.end_sessions {
            update.increment("session_epoch", 1)
        } else {
            update
        };
        if update.is_empty() {
            return self.user(org, id).await;
        }
        self.update(user_key(org, id), update.when(Cond::Exists))
            .await?
            .applied()
            .map(user_from)
            .transpose()
    }

    async fn delete_user(&self, org: OrgId, user: &User) -> StoreResult<bool> {
        let outcome = self
            .transact(vec![
                Step::Delete {
                    key: user_key(org, user.id),
                    condition: Some(Cond::Exists),
                },
                // Free the address only if it still points at this user.
                Step::Delete {
                    key: email_key(org, &user.email),
                    condition: Some(Cond::Eq("user_id", s(user.id.to_string()))),
                },
            ])
            .await?;
        Ok(matches!(outcome, Transaction::Committed))
    }

    async fn change_password(
        &self,
        org: OrgId,
        user: &User,
        hash: &PasswordHash,
        keep: &Session,
    ) -> StoreResult<bool> {
        let outcome = self
            .transact(vec![
                Step::Update {
                    key: user_key(org, user.id),
                    update: Update::default()
                        .set("password_hash", s(hash.as_str()))
                        .set("session_epoch", number(keep.epoch))
                        .when(
                            Cond::Exists.and(Cond::Eq("session_epoch", number(user.session_epoch))),
                        ),
                },
                Step::Put {
                    item: to_item(&SessionItem::new(org, keep))?,
                    condition: Some(
                        Cond::Exists.and(Cond::Eq("revoked", AttributeValue::Bool(false))),
                    ),
                },
            ])
            .await?;
        Ok(matches!(outcome, Transaction::Committed))
    }
}
