//! Wiring: a store, the interactions over it and the HTTP server, started and stopped as one.
//! The binary and the integration tests both start the server through here.

use crate::http::{self, App, HttpLimits};
use crate::interactions::{Fhir, Limits};
use crate::store::{self, Store};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

pub const DEFAULT_STORE: &str = "sqlite:./fhird-data";

pub struct Server {
    pub root_url: String,
    listener: TcpListener,
    store: Arc<dyn Store>,
    app: Arc<App>,
}

impl Server {
    /// Opens the store and prepares to serve on `listener`. `base_url` defaults to
    /// `http://localhost:PORT`.
    pub async fn start(
        listener: TcpListener,
        store_spec: &str,
        base_url: Option<&str>,
        limits: HttpLimits,
    ) -> anyhow::Result<Server> {
        Self::start_with(listener, store_spec, base_url, limits, Limits::default()).await
    }

    /// `start` with the interaction limits (page sizes, Bundle entries, conditional deletes).
    pub async fn start_with(
        listener: TcpListener,
        store_spec: &str,
        base_url: Option<&str>,
        limits: HttpLimits,
        fhir_limits: Limits,
    ) -> anyhow::Result<Server> {
        let port = listener.local_addr()?.port();
        let root_url = base_url
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://localhost:{port}"));
        let store = store::open(store_spec).await?;
        let app = Arc::new(App::new(
            Fhir::new(store.clone(), &root_url, fhir_limits),
            limits,
        ));
        Ok(Server {
            root_url,
            listener,
            store,
            app,
        })
    }

    /// Serves until `shutdown` completes, lets in-flight requests finish, then closes the store.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let router = http::router(self.app.clone());
        http::server::serve(self.listener, router, &self.app.limits, shutdown).await;
        self.store.close().await;
    }
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
