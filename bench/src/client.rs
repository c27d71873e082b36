//! A minimal AWS JSON 1.1 client for the CloudWatch Logs API (no signing: fluoro accepts any).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

#[derive(Clone)]
pub struct AwsJsonClient {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: String,
}

impl AwsJsonClient {
    pub fn new(port: u16) -> Self {
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(64).build_http();
        Self { client, uri: format!("http://127.0.0.1:{port}/") }
    }

    /// Sends a pre-serialized body; returns the status and the reply text.
    pub async fn call_raw(&self, operation: &str, body: Bytes) -> anyhow::Result<(u16, String)> {
        let request = hyper::Request::post(&self.uri)
            .header("x-amz-target", format!("Logs_20140328.{operation}"))
            .header("content-type", "application/x-amz-json-1.1")
            .body(Full::new(body))?;
        let response = self.client.request(request).await?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    pub async fn call(&self, operation: &str, body: Value) -> anyhow::Result<Value> {
        let (status, reply) = self.call_raw(operation, Bytes::from(serde_json::to_vec(&body)?)).await?;
        if status != 200 {
            anyhow::bail!("{operation} failed with {status}: {reply}");
        }
        Ok(serde_json::from_str(&reply)?)
    }
}
