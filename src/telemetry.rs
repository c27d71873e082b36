//! fluoro traces itself (off by default): with `self_trace_endpoint` set, every AWS and
//! native API request becomes a SERVER span and every Insights run an INTERNAL span, exported
//! over OTLP/gRPC with `opentelemetry-otlp` to any endpoint, fluoro's own included. The OTLP
//! ingest routes are never traced, so exporting to itself cannot feed on its own spans.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::trace::{FutureExt, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracerProvider;

/// Installs the global tracer provider exporting to `endpoint` (`http://host:port`).
pub fn init(endpoint: &str, service_name: &str) -> anyhow::Result<SdkTracerProvider> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic().with_endpoint(endpoint).build()?;
    let processor = opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
        exporter,
        opentelemetry_sdk::runtime::Tokio,
    )
    .build();
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service_name.to_owned()).build();
    let provider = SdkTracerProvider::builder().with_span_processor(processor).with_resource(resource).build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(provider)
}

/// The operation a request names: the `X-Amz-Target` operation, else the path.
fn operation(request: &Request) -> String {
    if let Some(target) = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    request.uri().path().to_owned()
}

/// Axum middleware: one SERVER span per request (except OTLP ingest, metrics and health).
pub async fn trace_requests(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path.starts_with("/v1/") || path == "/metrics" || path == "/health" {
        return next.run(request).await;
    }
    let tracer = opentelemetry::global::tracer("fluoro.http");
    let name = operation(&request);
    let span = tracer
        .span_builder(name.clone())
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", request.method().to_string()),
            KeyValue::new("url.path", request.uri().path().to_owned()),
            KeyValue::new("fluoro.operation", name),
        ])
        .start(&tracer);
    let cx = Context::current_with_span(span);
    let response = next.run(request).with_context(cx.clone()).await;
    let span = cx.span();
    let status = response.status().as_u16();
    span.set_attribute(KeyValue::new("http.response.status_code", status as i64));
    if status >= 500 {
        span.set_status(Status::error(format!("HTTP {status}")));
    }
    span.end();
    response
}
