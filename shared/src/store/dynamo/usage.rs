//! The rate limiter's shared counts: `ORG#<org>` / `USAGE#<window>`, one
//! item per org per window, holding the org's units (`units`) and each
//! key's (`key#<id>`), expiring an hour after the window. A report is one
//! `UpdateItem` that adds to them and returns the totals.

use async_trait::async_trait;

use super::{
    DynamoStore,
    expr::{Update, number},
    keys,
    requests::{Updated, key},
};
use crate::{
    domain::{ApiKeyId, OrgId, limits::WINDOW_SECS},
    store::{StoreError, StoreResult, UsageStore, WindowUsage},
};

const ORG_UNITS: &str = "units";
/// Long enough for any container's late report; the table's TTL removes it.
const KEEP_SECS: u64 = 3600;

#[async_trait]
impl UsageStore for DynamoStore {
    async fn add_usage(
        &self,
        org: OrgId,
        window: u64,
        org_units: u64,
        keys: &[(ApiKeyId, u64)],
    ) -> StoreResult<WindowUsage> {
        let expires_at = (window + 1) * WINDOW_SECS + KEEP_SECS;
        let mut update = Update::default()
            .add(ORG_UNITS, number(org_units))
            .set_if_absent("expires_at", number(expires_at));
        for (key_id, units) in keys {
            update = update.add(keys::usage_key_attribute(*key_id), number(units));
        }
        let item = match self
            .update(key(keys::org_pk(org), keys::usage_sk(window)), update)
            .await?
        {
            Updated::Done(item) => item,
            Updated::Refused(_) => {
                return Err(StoreError::failed("an unconditional update was refused"));
            }
        };
        let count = |attribute: &str| -> StoreResult<u64> {
            item.get(attribute)
                .and_then(|value| value.as_n().ok())
                .map(|n| n.parse::<u64>())
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("usage {attribute}: {e}")))
                .map(Option::unwrap_or_default)
        };
        let mut usage = WindowUsage {
            org: count(ORG_UNITS)?,
            ..WindowUsage::default()
        };
        for (key_id, _) in keys {
            usage
                .keys
                .insert(*key_id, count(&keys::usage_key_attribute(*key_id))?);
        }
        Ok(usage)
    }
}
