//! The job queue as deployed: an SQS queue in the emulator, drained the way the Lambda SQS
//! event source does it (batches of up to 10 messages as an SQS event; messages reported in
//! `batchItemFailures` stay on the queue, the others are deleted).

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message};
use serde_json::{Value, json};

/// A fresh queue in the emulator.
pub struct TestQueue {
    pub client: Client,
    pub url: String,
    pub arn: String,
}

impl TestQueue {
    pub async fn create(endpoint: &str) -> Self {
        let conf = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "static"))
            .build();
        let client = Client::from_conf(conf);
        let name = format!("ow-jobs-{}", uuid::Uuid::new_v4().simple());
        let url = client
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue URL");
        Self {
            client,
            url,
            arn: format!("arn:aws:sqs:us-east-1:123456789012:{name}"),
        }
    }

    /// Up to 10 messages, without waiting.
    pub async fn receive(&self) -> Vec<Message> {
        self.client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .visibility_timeout(60)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default()
    }

    /// Deletes the given messages.
    pub async fn delete(&self, messages: &[&Message]) {
        if messages.is_empty() {
            return;
        }
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .expect("entry")
            })
            .collect();
        self.client
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("delete");
    }

    /// The SQS event Lambda would deliver for these messages.
    pub fn event(&self, messages: &[Message]) -> Value {
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": {
                        "ApproximateReceiveCount": "1",
                        "SentTimestamp": "1795651921000",
                        "SenderId": "AROAEXAMPLE:ow-api",
                        "ApproximateFirstReceiveTimestamp": "1795651921001"
                    },
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.arn,
                    "awsRegion": "us-east-1"
                })
            })
            .collect();
        json!({ "Records": records })
    }
}
