//! HTTP: the axum application, content negotiation, and the server loop with its limits.

pub mod negotiate;
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
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_body_bytes: 16 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(30),
            max_connections: 4096,
        }
    }
}

pub struct App {
    pub fhir: Fhir,
    pub limits: HttpLimits,
}

pub fn router(app: Arc<App>) -> Router {
    Router::new().fallback(routes::handle).with_state(app)
}
