//! X-Ray and OpenTelemetry traces: identifiers, segment documents and their validation, trace
//! assembly (compiled documents, inferred segments, root causes, summaries), the filter-expression
//! language, and the service graph. Pure code shared by the collector (validation, service-map
//! rollups) and the query side (every read API).

pub mod document;
pub mod error;
pub mod filter;
pub mod graph;
pub mod ids;
pub mod otlp;
pub mod rootcause;
pub mod sampling;
pub mod schema;
pub mod summary;
pub mod trace;

pub use document::{DocumentError, MAX_DOCUMENT_BYTES, SegmentDoc, parse_documents};
pub use error::XrayError;
pub use ids::{SegmentId, TraceId};
pub use trace::Trace;
