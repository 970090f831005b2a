//! API keys: metadata under `ORG#<org>` / `APIKEY#<key>`, and the lookup
//! `KEYHASH#<sha256>` / `KEYHASH` that ingest reads on every (uncached)
//! request: it repeats the key's kind and settings, so that one read is all
//! ingest needs. Only the key's hash is stored.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    DynamoStore, Item,
    expr::{Cond, Update, rfc3339, s},
    from_item, keys,
    query::{Listing, page_of},
    requests::key,
    to_item,
    transaction::{Step, Transaction},
};
use crate::{
    domain::{
        ApiKey, ApiKeyGrant, ApiKeyHash, ApiKeyId, ApiKeyKind, ApiKeyLabel, ApiKeySettings, Org,
        OrgId, Slug, ingest_changes::IngestChange,
    },
    store::{ApiKeyChanges, ApiKeyStore, Claim, Page, PageRequest, Read, StoreError, StoreResult},
};

#[derive(Serialize, Deserialize)]
struct ApiKeyItem {
    pk: String,
    sk: String,
    kind: String,
    id: ApiKeyId,
    /// Keys made before there were kinds are secret keys.
    #[serde(default)]
    key_type: ApiKeyKind,
    label: ApiKeyLabel,
    #[serde(default)]
    settings: ApiKeySettings,
    prefix: String,
    /// Where the hash lookup lives, so revocation can reach it. The hash of a
    /// 256-bit random key reveals nothing; it is never sent to clients.
    key_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    last_used_at: Option<OffsetDateTime>,
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    revoked_at: Option<OffsetDateTime>,
}

impl ApiKeyItem {
    fn new(org: OrgId, key: &ApiKey, hash: &ApiKeyHash) -> Self {
        Self {
            pk: keys::org_pk(org),
            sk: keys::api_key_sk(key.id),
            kind: "apikey".into(),
            id: key.id,
            key_type: key.kind,
            label: key.label.clone(),
            settings: key.settings.clone(),
            prefix: key.prefix.clone(),
            key_hash: hash.to_hex(),
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

impl From<ApiKeyItem> for ApiKey {
    fn from(item: ApiKeyItem) -> Self {
        ApiKey {
            id: item.id,
            kind: item.key_type,
            label: item.label,
            settings: item.settings,
            prefix: item.prefix,
            created_at: item.created_at,
            last_used_at: item.last_used_at,
            revoked_at: item.revoked_at,
        }
    }
}

/// `KEYHASH#<sha256>` → the grant. Holds the org slug so an ingest request's
/// path can be checked against the key with this one read.
#[derive(Serialize, Deserialize)]
struct KeyHashItem {
    pk: String,
    sk: String,
    kind: String,
    org_id: OrgId,
    org_slug: Slug,
    key_id: ApiKeyId,
    #[serde(default)]
    revoked: bool,
    #[serde(default)]
    key_type: ApiKeyKind,
    #[serde(default)]
    settings: ApiKeySettings,
}

impl KeyHashItem {
    fn new(org: &Org, key: &ApiKey, hash: &ApiKeyHash) -> Self {
        Self {
            pk: keys::key_hash_pk(hash),
            sk: keys::KEY_HASH_SK.into(),
            kind: "keyhash".into(),
            org_id: org.id,
            org_slug: org.slug.clone(),
            key_id: key.id,
            revoked: key.revoked_at.is_some(),
            key_type: key.kind,
            settings: key.settings.clone(),
        }
    }
}

impl From<KeyHashItem> for ApiKeyGrant {
    fn from(item: KeyHashItem) -> Self {
        ApiKeyGrant {
            org_id: item.org_id,
            org_slug: item.org_slug,
            key_id: item.key_id,
            revoked: item.revoked,
            kind: item.key_type,
            settings: item.settings,
        }
    }
}

/// The hash a key's metadata item points to.
fn stored_hash(item: &ApiKeyItem) -> StoreResult<ApiKeyHash> {
    ApiKeyHash::from_hex(&item.key_hash)
        .ok_or_else(|| StoreError::Corrupt(format!("API key {}: a bad key hash", item.id)))
}

fn api_key_key(org: OrgId, id: ApiKeyId) -> Item {
    key(keys::org_pk(org), keys::api_key_sk(id))
}

impl DynamoStore {
    async fn api_key_item(&self, org: OrgId, id: ApiKeyId) -> StoreResult<Option<ApiKeyItem>> {
        self.get(api_key_key(org, id), Read::Consistent)
            .await?
            .map(from_item)
            .transpose()
    }
}

#[async_trait]
impl ApiKeyStore for DynamoStore {
    async fn create_api_key(&self, org: &Org, key: &ApiKey, hash: &ApiKeyHash) -> StoreResult<()> {
        let item = to_item(&ApiKeyItem::new(org.id, key, hash))?;
        let claim = to_item(&KeyHashItem::new(org, key, hash))?;
        let what = format!("API key {}", key.id);
        match self.create_claiming(item, claim, &what).await? {
            Claim::Created => Ok(()),
            // Two random 256-bit keys with one hash: as broken as an id collision.
            Claim::Taken => Err(StoreError::Corrupt(format!("{what}: its hash collided"))),
        }
    }

    async fn api_key_grant(&self, hash: &ApiKeyHash) -> StoreResult<Option<ApiKeyGrant>> {
        let item = self
            .get(
                key(keys::key_hash_pk(hash), keys::KEY_HASH_SK),
                Read::Consistent,
            )
            .await?;
        Ok(item
            .map(from_item::<KeyHashItem>)
            .transpose()?
            .map(ApiKeyGrant::from))
    }

    async fn touch_api_key(&self, org: OrgId, id: ApiKeyId, at: OffsetDateTime) -> StoreResult<()> {
        let update = Update::default()
            .set("last_used_at", rfc3339(at)?)
            .when(Cond::Exists);
        self.update(api_key_key(org, id), update).await?;
        Ok(())
    }

    async fn list_api_keys(&self, org: OrgId, page: &PageRequest) -> StoreResult<Page<ApiKey>> {
        let listing = Listing::partition(keys::org_pk(org), keys::API_KEY_SK_PREFIX);
        page_of(self.query_page(&listing, page).await?, |item| {
            from_item::<ApiKeyItem>(item).map(ApiKey::from)
        })
    }

    async fn api_key(&self, org: OrgId, id: ApiKeyId) -> StoreResult<Option<ApiKey>> {
        Ok(self.api_key_item(org, id).await?.map(ApiKey::from))
    }

    async fn update_api_key(
        &self,
        org: OrgId,
        id: ApiKeyId,
        changes: &ApiKeyChanges,
    ) -> StoreResult<Option<ApiKey>> {
        let Some(stored) = self.api_key_item(org, id).await? else {
            return Ok(None);
        };
        let hash = stored_hash(&stored)?;
        let hash_key = key(keys::key_hash_pk(&hash), keys::KEY_HASH_SK);
        let mut updated = ApiKey::from(stored);
        let (mut metadata, mut lookup) = (Update::default(), Update::default());
        if let Some(label) = &changes.label {
            metadata = metadata.set("label", s(label.as_str()));
            updated.label = label.clone();
        }
        if let Some(settings) = &changes.settings {
            let value: aws_sdk_dynamodb::types::AttributeValue =
                serde_dynamo::to_attribute_value(settings)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            metadata = metadata.set("settings", value.clone());
            lookup = lookup.set("settings", value);
            updated.settings = settings.clone();
        }
        let mut steps = vec![Step::Update {
            key: api_key_key(org, id),
            update: metadata.when(Cond::Exists),
        }];
        let outcome = if lookup.is_empty() {
            // A label only: ingest never reads it.
            self.transact(steps).await?
        } else {
            // The lookup is what ingest reads; the feed entry tells the
            // containers that cached it.
            steps.push(Step::Update {
                key: hash_key,
                update: lookup.when(Cond::Exists),
            });
            self.transact_noting(steps, IngestChange::ApiKey(hash))
                .await?
        };
        match outcome {
            Transaction::Committed => Ok(Some(updated)),
            // Revoked keys keep both items, so only a concurrent delete of
            // the org could get here.
            Transaction::Refused(_) => Ok(None),
        }
    }

    async fn revoke_api_key(&self, org: OrgId, id: ApiKeyId) -> StoreResult<Option<ApiKey>> {
        let Some(stored) = self.api_key_item(org, id).await? else {
            return Ok(None);
        };
        let hash = stored_hash(&stored)?;
        let hash_key = key(keys::key_hash_pk(&hash), keys::KEY_HASH_SK);
        let mut revoked = ApiKey::from(stored);
        let at = *revoked.revoked_at.get_or_insert_with(|| self.clock.now());
        let steps = vec![
            // Keeps the first revocation time when revoked twice.
            Step::Update {
                key: api_key_key(org, id),
                update: Update::default()
                    .set_if_absent("revoked_at", rfc3339(at)?)
                    .when(Cond::Exists),
            },
            Step::Update {
                key: hash_key,
                update: Update::default()
                    .set("revoked", AttributeValue::Bool(true))
                    .when(Cond::Exists),
            },
        ];
        let outcome = self
            .transact_noting(steps, IngestChange::ApiKey(hash))
            .await?;
        match outcome {
            Transaction::Committed => Ok(Some(revoked)),
            Transaction::Refused(_) => Err(StoreError::Corrupt(format!(
                "API key {id} has no hash lookup item"
            ))),
        }
    }
}
