//! Orgs: `ORG#<org>` / `ORG`, their slug claims `SLUG#<slug>` / `SLUG`, and
//! the org directory on the sparse `gsi1` index (only org items are in it).
//! A change of an org's limits (which ingest caches) is noted in the ingest
//! change feed in the same transaction.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    DynamoStore, Item,
    expr::{Cond, Update, s},
    from_item, keys,
    query::{Listing, page_of},
    requests::key,
    to_item,
    transaction::{Step, Transaction},
};
use crate::{
    domain::{
        Metadata, Org, OrgId, OrgName, Slug, ingest_changes::IngestChange, limits::OrgLimits,
    },
    store::{Claim, OrgChanges, OrgStore, Page, PageRequest, Read, StoreError, StoreResult},
};

#[derive(Serialize, Deserialize)]
struct OrgItem {
    pk: String,
    sk: String,
    kind: String,
    /// The sparse org-directory index (`gsi1`): only org items have it.
    gsi1pk: String,
    gsi1sk: String,
    id: OrgId,
    slug: Slug,
    name: OrgName,
    /// Compact JSON text, like chat metadata.
    #[serde(default = "empty_object")]
    settings: String,
    #[serde(default)]
    limits: OrgLimits,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

fn empty_object() -> String {
    "{}".into()
}

impl From<&Org> for OrgItem {
    fn from(org: &Org) -> Self {
        Self {
            pk: keys::org_pk(org.id),
            sk: keys::ORG_SK.into(),
            kind: "org".into(),
            gsi1pk: keys::ORG_DIRECTORY_PK.into(),
            gsi1sk: keys::org_pk(org.id),
            id: org.id,
            slug: org.slug.clone(),
            name: org.name.clone(),
            settings: org.settings.to_json_text(),
            limits: org.limits,
            created_at: org.created_at,
        }
    }
}

impl TryFrom<OrgItem> for Org {
    type Error = StoreError;

    fn try_from(item: OrgItem) -> Result<Self, StoreError> {
        let settings = Metadata::from_json_text(&item.settings)
            .map_err(|e| StoreError::Corrupt(format!("org {}: {e}", item.id)))?;
        Ok(Org {
            id: item.id,
            slug: item.slug,
            name: item.name,
            settings,
            limits: item.limits,
            created_at: item.created_at,
        })
    }
}

/// `SLUG#<slug>` → org id.
#[derive(Serialize, Deserialize)]
struct SlugItem {
    pk: String,
    sk: String,
    kind: String,
    org_id: OrgId,
}

impl SlugItem {
    fn new(org: &Org) -> Self {
        Self {
            pk: keys::slug_pk(&org.slug),
            sk: keys::SLUG_SK.into(),
            kind: "slug".into(),
            org_id: org.id,
        }
    }
}

fn org_from(item: Item) -> StoreResult<Org> {
    from_item::<OrgItem>(item).and_then(Org::try_from)
}

fn org_key(id: OrgId) -> Item {
    key(keys::org_pk(id), keys::ORG_SK)
}

#[async_trait]
impl OrgStore for DynamoStore {
    async fn create_org(&self, org: &Org) -> StoreResult<Claim> {
        let (item, claim) = (to_item(&OrgItem::from(org))?, to_item(&SlugItem::new(org))?);
        self.create_claiming(item, claim, &format!("org {}", org.id))
            .await
    }

    async fn org(&self, id: OrgId) -> StoreResult<Option<Org>> {
        self.get(org_key(id), Read::Consistent)
            .await?
            .map(org_from)
            .transpose()
    }

    async fn org_by_slug(&self, slug: &Slug) -> StoreResult<Option<Org>> {
        let pointer = self
            .get(key(keys::slug_pk(slug), keys::SLUG_SK), Read::Consistent)
            .await?;
        match pointer {
            Some(pointer) => self.org(from_item::<SlugItem>(pointer)?.org_id).await,
            None => Ok(None),
        }
    }

    async fn list_orgs(&self, page: &PageRequest) -> StoreResult<Page<Org>> {
        let listing = Listing::gsi1(keys::ORG_DIRECTORY_PK.to_owned(), "ORG#");
        page_of(self.query_page(&listing, page).await?, org_from)
    }

    async fn update_org(&self, id: OrgId, changes: &OrgChanges) -> StoreResult<Option<Org>> {
        let limits = changes
            .limits
            .as_ref()
            .map(serde_dynamo::to_attribute_value)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let update = Update::default()
            .set_some("name", changes.name.as_ref().map(|n| s(n.as_str())))
            .set_some(
                "settings",
                changes.settings.as_ref().map(|m| s(m.to_json_text())),
            )
            .set_some("limits", limits);
        if update.is_empty() {
            return self.org(id).await;
        }
        let update = update.when(Cond::Exists);
        if changes.limits.is_none() {
            // Nothing ingest reads: one conditional update.
            return self
                .update(org_key(id), update)
                .await?
                .applied()
                .map(org_from)
                .transpose();
        }
        // Ingest caches the limits: the change goes with its feed entry.
        let steps = vec![Step::Update {
            key: org_key(id),
            update,
        }];
        match self.transact_noting(steps, IngestChange::Org(id)).await? {
            // A transaction returns no item: read the org as it is now.
            Transaction::Committed => self.org(id).await,
            Transaction::Refused(_) => Ok(None),
        }
    }
}
