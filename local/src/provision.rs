//! Creates the local stack's AWS resources, idempotently: running it against
//! an already provisioned endpoint changes nothing. Mirrors the table, bucket
//! and queues of `template.yaml` (a test checks the table's key schema and
//! stream agree with it).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_sqs::types::QueueAttributeName;
use chatlogger::{aws::Aws, config, store::keys};

/// The names of the local resources, from the environment (`.env.local`).
#[derive(Debug, Clone)]
pub struct Resources {
    pub table: String,
    pub export_bucket: String,
    pub export_queue: String,
    pub export_dead_letter_queue: String,
}

impl Resources {
    pub fn from_env() -> Result<Self, config::MissingSetting> {
        Ok(Self {
            table: config::table_name()?,
            export_bucket: config::required("EXPORT_BUCKET")?,
            export_queue: config::required("EXPORT_QUEUE_NAME")?,
            export_dead_letter_queue: config::required("EXPORT_DLQ_NAME")?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("could not provision {resource}: {source}")]
pub struct ProvisionError {
    resource: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

fn failed(
    resource: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> ProvisionError {
    ProvisionError {
        resource: resource.to_owned(),
        source: Box::new(source),
    }
}

pub async fn provision(aws: &Aws, resources: &Resources) -> Result<(), ProvisionError> {
    create_table(&aws.dynamodb(), &resources.table).await?;
    provision_exports(aws, resources).await
}

/// The export bucket and queues alone.
pub async fn provision_exports(aws: &Aws, resources: &Resources) -> Result<(), ProvisionError> {
    create_bucket(&aws.s3(), &resources.export_bucket).await?;
    create_queues(&aws.sqs(), resources).await
}

/// The single table: `pk`/`sk` strings, on-demand, with a stream of new and
/// old images (the analytics aggregator's input) and the org-directory index.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(), ProvisionError> {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("name and type are set")
    };
    let key = |name: &str, key_type| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .expect("name and type are set")
    };
    let stream = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()
        .expect("stream_enabled is set");
    // The sparse org directory (only org items carry gsi1pk/gsi1sk).
    let org_directory = GlobalSecondaryIndex::builder()
        .index_name(keys::GSI1)
        .key_schema(key(keys::GSI1_PK, KeyType::Hash))
        .key_schema(key(keys::GSI1_SK, KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .expect("name and key schema are set");
    let result = client
        .create_table()
        .table_name(table)
        .attribute_definitions(attribute(keys::PK))
        .attribute_definitions(attribute(keys::SK))
        .attribute_definitions(attribute(keys::GSI1_PK))
        .attribute_definitions(attribute(keys::GSI1_SK))
        .key_schema(key(keys::PK, KeyType::Hash))
        .key_schema(key(keys::SK, KeyType::Range))
        .global_secondary_indexes(org_directory)
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(stream)
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(error) => Err(failed(&format!("table {table}"), error)),
    }
}

async fn create_bucket(client: &aws_sdk_s3::Client, bucket: &str) -> Result<(), ProvisionError> {
    match client.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(error)
            if error.as_service_error().is_some_and(|e| {
                e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()
            }) =>
        {
            Ok(())
        }
        Err(error) => Err(failed(&format!("bucket {bucket}"), error)),
    }
}

/// The export queue and its dead-letter queue (3 receives, as in the template).
async fn create_queues(
    client: &aws_sdk_sqs::Client,
    resources: &Resources,
) -> Result<(), ProvisionError> {
    let dlq = &resources.export_dead_letter_queue;
    let dlq_url = client
        .create_queue()
        .queue_name(dlq)
        .send()
        .await
        .map_err(|e| failed(&format!("queue {dlq}"), e))?
        .queue_url
        .unwrap_or_default();
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| failed(&format!("queue {dlq}"), e))?
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .unwrap_or_default();
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": crate::EXPORT_MAX_RECEIVE_COUNT.to_string()})
            .to_string();
    let queue = &resources.export_queue;
    client
        .create_queue()
        .queue_name(queue)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .attributes(QueueAttributeName::VisibilityTimeout, "5400")
        .send()
        .await
        .map_err(|e| failed(&format!("queue {queue}"), e))?;
    Ok(())
}

/// The URL of a queue, by name.
pub async fn queue_url(client: &aws_sdk_sqs::Client, name: &str) -> Result<String, ProvisionError> {
    client
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| failed(&format!("queue {name}"), e))?
        .queue_url
        .ok_or_else(|| failed(&format!("queue {name}"), std::io::Error::other("no URL")))
}

/// The provisioned export queue (its URL) and bucket, as the exports routes
/// and the export worker use them.
pub async fn exports(
    aws: &Aws,
    resources: &Resources,
) -> Result<(String, crate::LocalExports), ProvisionError> {
    let sqs = aws.sqs();
    let url = queue_url(&sqs, &resources.export_queue).await?;
    let queue = chatlogger::adapters::SqsExportQueue::new(sqs, url.clone());
    let bucket = chatlogger::adapters::ExportBucket::new(aws.s3(), &resources.export_bucket);
    Ok((
        url,
        crate::LocalExports {
            queue: std::sync::Arc::new(queue),
            bucket,
        },
    ))
}
