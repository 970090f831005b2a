//! The rate limiter's shared counts: `ORG#<org>` / `USAGE#<window>`, one
//! item per org per window, holding the org's units (`units`) and each
//! key's (`key#<id>`), expiring an hour after the window. A report is one
//! `UpdateItem` that adds to them and returns the totals; a capped report
//! adds only while a key's count stays within its quota; a container's
//! first look at a window is one eventually consistent `GetItem`.

use async_trait::async_trait;

use super::{
    DynamoStore, Item,
    expr::{Cond, Update, number, number_of},
    keys,
    requests::{Updated, key},
};
use crate::{
    domain::{ApiKeyId, OrgId, limits::WINDOW_SECS},
    store::{Read, StoreError, StoreResult, UsageAdded, UsageStore, WindowUsage, units_for},
};

const ORG_UNITS: &str = "units";
/// Long enough for any container's late report; the table's TTL removes it.
const KEEP_SECS: u64 = 3600;

/// Adds the units (see the module docs), under `condition`.
fn report(
    window: u64,
    org_units: u64,
    keys: &[(ApiKeyId, u64)],
    condition: Option<Cond>,
) -> Update {
    let expires_at = (window + 1) * WINDOW_SECS + KEEP_SECS;
    let mut update = Update::default()
        .add(ORG_UNITS, number(org_units))
        .set_if_absent("expires_at", number(expires_at));
    for (key_id, units) in keys {
        update = update.add(keys::usage_key_attribute(*key_id), number(units));
    }
    match condition {
        Some(condition) => update.when(condition),
        None => update,
    }
}

fn count(item: &Item, attribute: &str) -> StoreResult<u64> {
    Ok(number_of(item, attribute)?.unwrap_or_default())
}

/// The org's count and those of `keys` (every key in the item when `None`).
fn usage_of(item: &Item, keys: Option<&[(ApiKeyId, u64)]>) -> StoreResult<WindowUsage> {
    let mut usage = WindowUsage {
        org: count(item, ORG_UNITS)?,
        ..WindowUsage::default()
    };
    match keys {
        Some(keys) => {
            for (key_id, _) in keys {
                let attribute = keys::usage_key_attribute(*key_id);
                usage.keys.insert(*key_id, count(item, &attribute)?);
            }
        }
        None => {
            for attribute in item.keys() {
                if let Some(id) = attribute.strip_prefix("key#") {
                    let id = ApiKeyId::parse(id)
                        .map_err(|_| StoreError::Corrupt(format!("usage {attribute}")))?;
                    usage.keys.insert(id, count(item, attribute)?);
                }
            }
        }
    }
    Ok(usage)
}

#[async_trait]
impl UsageStore for DynamoStore {
    async fn add_usage(
        &self,
        org: OrgId,
        window: u64,
        org_units: u64,
        keys: &[(ApiKeyId, u64)],
    ) -> StoreResult<WindowUsage> {
        let update = report(window, org_units, keys, None);
        match self
            .update(key(keys::org_pk(org), keys::usage_sk(window)), update)
            .await?
        {
            Updated::Done(item) => usage_of(&item, Some(keys)),
            Updated::Refused(_) => Err(StoreError::failed("an unconditional update was refused")),
        }
    }

    async fn add_usage_within(
        &self,
        org: OrgId,
        window: u64,
        org_units: u64,
        keys: &[(ApiKeyId, u64)],
        capped: ApiKeyId,
        max: u64,
    ) -> StoreResult<UsageAdded> {
        let adding = units_for(keys, capped);
        if adding > max {
            return Ok(UsageAdded::OverCap(self.window_usage(org, window).await?));
        }
        let attribute = keys::usage_key_attribute(capped);
        let condition = Cond::AbsentOrAtMost(attribute, number(max - adding));
        match self
            .update(
                key(keys::org_pk(org), keys::usage_sk(window)),
                report(window, org_units, keys, Some(condition)),
            )
            .await?
        {
            Updated::Done(item) => Ok(UsageAdded::Added(usage_of(&item, Some(keys))?)),
            Updated::Refused(item) => Ok(UsageAdded::OverCap(usage_of(
                &item.unwrap_or_default(),
                None,
            )?)),
        }
    }

    async fn window_usage(&self, org: OrgId, window: u64) -> StoreResult<WindowUsage> {
        let item = self
            .get(
                key(keys::org_pk(org), keys::usage_sk(window)),
                Read::Eventual,
            )
            .await?;
        usage_of(&item.unwrap_or_default(), None)
    }
}
