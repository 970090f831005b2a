//! Multi-item writes: every step or none, in one `TransactWriteItems`.
//! The one transaction path of the adapter.

use aws_sdk_dynamodb::{
    operation::transact_write_items::TransactWriteItemsError,
    types::{
        CancellationReason, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
        Update as UpdateStep,
    },
};

use super::{
    DynamoStore, Item, classified,
    expr::{Cond, Expressions, Update, with_condition},
    from_sdk,
};
use crate::{
    sdk_error::SdkFailure,
    store::{Claim, StoreError, StoreResult},
};

/// One action of a transaction.
#[derive(Clone)]
pub(super) enum Step {
    Put { item: Item, condition: Option<Cond> },
    Update { key: Item, update: Update },
    Delete { key: Item, condition: Option<Cond> },
}

/// What a transaction did.
pub(super) enum Transaction {
    Committed,
    /// A step's condition did not hold, so nothing was written: the index of
    /// each such step, with the item it found (if any).
    Refused(Vec<(usize, Option<Item>)>),
}

impl Transaction {
    /// The stored item step `index` found, if its condition failed.
    pub fn refused_at(&self, index: usize) -> Option<Option<&Item>> {
        match self {
            Transaction::Committed => None,
            Transaction::Refused(failed) => failed
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(_, item)| item.as_ref()),
        }
    }
}

impl DynamoStore {
    /// Puts a new item and, with it, the item that claims its unique name
    /// (a slug, an email address, a key hash): [`Claim::Taken`] when the
    /// name is claimed already. `what` names the item for a collision of
    /// its (random) id, which would mean a broken id generator.
    pub(super) async fn create_claiming(
        &self,
        item: Item,
        claim: Item,
        what: &str,
    ) -> StoreResult<Claim> {
        let new = |item| Step::Put {
            item,
            condition: Some(Cond::IsNew),
        };
        let outcome = self.transact(vec![new(item), new(claim)]).await?;
        if outcome.refused_at(0).is_some() {
            return Err(StoreError::Corrupt(format!("{what}: its id collided")));
        }
        Ok(match outcome {
            Transaction::Committed => Claim::Created,
            Transaction::Refused(_) => Claim::Taken,
        })
    }

    /// Every step or none, in one `TransactWriteItems`. A refused condition
    /// is an outcome ([`Transaction::Refused`]); throttling and conflicts
    /// with other transactions are transient errors; any other cancellation
    /// is a failure whose cause lists every step's reason.
    pub(super) async fn transact(&self, steps: Vec<Step>) -> StoreResult<Transaction> {
        let items = steps
            .into_iter()
            .map(|step| self.transact_item(step))
            .collect::<StoreResult<Vec<_>>>()?;
        let Err(error) = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        else {
            return Ok(Transaction::Committed);
        };
        let reasons = match error.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                cancelled.cancellation_reasons().to_vec()
            }
            _ => return Err(from_sdk(error)),
        };
        let code = |r: &CancellationReason| r.code().unwrap_or("None").to_owned();
        let only_conditions = reasons
            .iter()
            .all(|r| matches!(code(r).as_str(), "None" | "ConditionalCheckFailed"));
        if only_conditions {
            let refused = reasons
                .iter()
                .enumerate()
                .filter(|(_, r)| code(r) == "ConditionalCheckFailed")
                .map(|(index, r)| (index, r.item().cloned()))
                .collect();
            return Ok(Transaction::Refused(refused));
        }
        let described: Vec<String> = reasons
            .iter()
            .map(|r| match r.message() {
                Some(message) => format!("{} ({message})", code(r)),
                None => code(r),
            })
            .collect();
        let mut failure = SdkFailure::with_detail(
            &error,
            Some(format!("cancellation reasons: [{}]", described.join(", "))),
        );
        // A transaction cancelled only for capacity or by a concurrent one
        // succeeds when tried again.
        failure.transient = reasons.iter().all(|r| {
            matches!(
                code(r).as_str(),
                "None"
                    | "ConditionalCheckFailed"
                    | "ThrottlingError"
                    | "ProvisionedThroughputExceeded"
                    | "TransactionConflict"
            )
        });
        Err(classified(failure))
    }

    fn transact_item(&self, step: Step) -> StoreResult<TransactWriteItem> {
        // With a refused condition, the stored item comes back in the reason.
        let old = ReturnValuesOnConditionCheckFailure::AllOld;
        let table = &*self.table;
        let builder = TransactWriteItem::builder();
        let built = match step {
            Step::Put { item, condition } => {
                let put = Put::builder().table_name(table).set_item(Some(item));
                let put = with_condition!(put, Expressions::condition(condition.as_ref()));
                builder.put(put.return_values_on_condition_check_failure(old).build()?)
            }
            Step::Update { key, update } => {
                let (expression, expressions) = Expressions::update(&update);
                let step = UpdateStep::builder().table_name(table).set_key(Some(key));
                let step = with_condition!(step.update_expression(expression), expressions);
                builder.update(step.return_values_on_condition_check_failure(old).build()?)
            }
            Step::Delete { key, condition } => {
                let delete = Delete::builder().table_name(table).set_key(Some(key));
                let delete = with_condition!(delete, Expressions::condition(condition.as_ref()));
                builder.delete(
                    delete
                        .return_values_on_condition_check_failure(old)
                        .build()?,
                )
            }
        };
        Ok(built.build())
    }
}
