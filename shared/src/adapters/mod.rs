//! Adapters for the AWS services other than DynamoDB (whose adapter is
//! `crate::store::dynamo`). Each holds its SDK client and implements a port
//! of the use case that needs it, so the use cases are tested without AWS:
//!
//! - [`s3`]: export files ([`crate::export::ExportFiles`]);
//! - [`sqs`]: the export queue ([`crate::export::queue::ExportQueue`]);
//! - [`secrets_manager`]: the JWT signing keys
//!   ([`crate::auth::keyring::SigningKeySource`]).

pub mod s3;
pub mod secrets_manager;
pub mod sqs;

pub use s3::ExportBucket;
pub use secrets_manager::{jwt_keyring, load_jwt_keyring};
pub use sqs::SqsExportQueue;
