//! HTTP: the axum application, content negotiation, and the server loop with its limits.

pub mod negotiate;
mod parse_errors;
mod respond;
mod routes;
pub mod server;

use crate::interactions::Fhir;
use axum::Router;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Largest request body accepted (413 above it).
    pub max_body_bytes: usize,
    /// Time a client has to send a whole request body (408 after it).
    pub body_timeout: Duration,
    /// Time a client has to send the request line and headers (connection closed after it).
    pub header_timeout: Duration,
    /// Concurrent connections; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Request bodies all requests together may hold in memory at once; a request whose body
    /// does not fit waits (up to `body_timeout`, then 503), so many large uploads at once
    /// cannot exhaust memory. A body of unknown length counts as `max_body_bytes`.
    pub max_inflight_body_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_body_bytes: 16 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_inflight_body_bytes: 512 * 1024 * 1024,
        }
    }
}

pub struct App {
    pub fhir: Fhir,
    pub limits: HttpLimits,
    /// The in-flight body budget (`HttpLimits::max_inflight_body_bytes`) in KiB.
    bodies: Arc<tokio::sync::Semaphore>,
    body_budget_kib: u32,
}

impl App {
    pub fn new(fhir: Fhir, limits: HttpLimits) -> App {
        let kib = (limits.max_inflight_body_bytes / 1024)
            .clamp(1, u32::MAX as usize)
            .min(tokio::sync::Semaphore::MAX_PERMITS);
        App {
            fhir,
            limits,
            bodies: Arc::new(tokio::sync::Semaphore::new(kib)),
            body_budget_kib: kib as u32,
        }
    }
}

pub fn router(app: Arc<App>) -> Router {
    Router::new().fallback(routes::handle).with_state(app)
}
