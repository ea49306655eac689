//! Test harness: the real fhird (store + axum app) on a real TCP port, over a real SQLite
//! directory or a real MongoDB-wire server (SecantusDB, started by scripts/test.sh, URI in
//! `FHIRD_TEST_MONGODB`).
#![allow(dead_code)]

use fhird::config::Server;
use fhird::http::HttpLimits;
use fhird::interactions::Limits;
use reqwest::{Client, Method, Response};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::oneshot;

pub struct TestServer {
    pub root: String,
    pub base: String,
    pub client: Client,
    pub store_spec: String,
    shutdown: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

/// The unpacked official R4 examples (hl7.fhir.r4.examples@4.0.1 `package/`).
pub fn examples_dir() -> std::path::PathBuf {
    let dir = std::env::var("FHIR_R4_EXAMPLES").expect(
        "FHIR_R4_EXAMPLES is not set: run scripts/test.sh (it unpacks hl7.fhir.r4.examples@4.0.1) \
         or point it at the unpacked package/ directory",
    );
    std::path::PathBuf::from(dir)
}

pub fn mongo_uri() -> String {
    std::env::var("FHIRD_TEST_MONGODB").expect(
        "FHIRD_TEST_MONGODB is not set: run the tests through scripts/test.sh, which starts \
         the MongoDB-wire server, or set it to mongodb://HOST:PORT",
    )
}

/// A MongoDB store spec with a database of its own, so tests never see each other's data.
pub fn fresh_mongo_spec() -> String {
    let uri = mongo_uri();
    let sep = if uri.contains('?') { "&" } else { "/?" };
    let uri = uri.trim_end_matches('/');
    format!("{uri}{sep}db=t_{}", uuid::Uuid::new_v4().simple())
}

impl TestServer {
    pub async fn sqlite() -> TestServer {
        Self::sqlite_with(HttpLimits::default()).await
    }

    pub async fn sqlite_with(limits: HttpLimits) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let spec = format!("sqlite:{}", dir.path().display());
        let mut s = Self::start(&spec, limits).await;
        s._dir = Some(dir);
        s
    }

    pub async fn mongodb() -> TestServer {
        Self::mongodb_with(HttpLimits::default()).await
    }

    pub async fn mongodb_with(limits: HttpLimits) -> TestServer {
        Self::start(&fresh_mongo_spec(), limits).await
    }

    pub async fn start(spec: &str, limits: HttpLimits) -> TestServer {
        Self::start_with(spec, limits, Limits::default()).await
    }

    /// A server on a fresh store of the same kind as `like` ("sqlite" or "mongodb") with
    /// the given interaction limits.
    pub async fn fresh_with(kind: &str, fhir: Limits) -> TestServer {
        Self::fresh(kind, HttpLimits::default(), fhir).await
    }

    /// `fresh_with`, with HTTP limits too.
    pub async fn fresh(kind: &str, http: HttpLimits, fhir: Limits) -> TestServer {
        if kind == "sqlite" {
            let dir = tempfile::tempdir().unwrap();
            let spec = format!("sqlite:{}", dir.path().display());
            let mut s = Self::start_with(&spec, http, fhir).await;
            s._dir = Some(dir);
            s
        } else {
            Self::start_with(&fresh_mongo_spec(), http, fhir).await
        }
    }

    pub async fn start_with(spec: &str, limits: HttpLimits, fhir: Limits) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let root = format!("http://127.0.0.1:{port}");
        let server = Server::start_with(listener, spec, Some(&root), limits, fhir)
            .await
            .expect("server starts");
        let (tx, rx) = oneshot::channel::<()>();
        let done = tokio::spawn(server.run_until(async {
            let _ = rx.await;
        }));
        TestServer {
            base: format!("{root}/fhir"),
            root,
            // The server closes a connection that brings no request within its header
            // timeout (30 s), idle keep-alive ones included; a pooled connection reused just
            // as that happens fails with IncompleteMessage (seen once in CI, when a slow
            // MongoDB search kept the other store's connection idle). So the pool forgets
            // idle connections sooner.
            client: Client::builder()
                .timeout(Duration::from_secs(60))
                .pool_idle_timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            store_spec: spec.to_string(),
            shutdown: Some(tx),
            done: Some(done),
            _dir: None,
        }
    }

    /// Stops the server gracefully and waits for the store to close.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(d) = self.done.take() {
            let _ = d.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else if path.starts_with('/') {
            format!("{}{path}", self.root)
        } else {
            format!("{}/{path}", self.base)
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut rb = self.client.request(method, self.url(path));
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/fhir+json")
                .body(serde_json::to_vec(b).unwrap());
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, None, &[]).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PUT, path, Some(body), &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path, None, &[]).await
    }

    /// Sends raw bytes with a given content type.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Response {
        let mut rb = self.client.request(method, self.url(path)).body(body);
        if let Some(ct) = content_type {
            rb = rb.header("content-type", ct);
        }
        rb.send().await.expect("request sent")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Asserts the status and returns the body as JSON.
pub async fn expect(resp: Response, status: u16) -> Value {
    let got = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(got, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"))
    }
}

/// The URL of a Bundle's link with this relation (`next`, `previous`, …).
pub fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)
        .map(|l| l["url"].as_str().unwrap().to_string())
}

/// Asserts an OperationOutcome error with `status` whose text mentions `needle`.
pub async fn expect_outcome(resp: Response, status: u16, needle: &str) -> Value {
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = expect(resp, status).await;
    assert!(ct.starts_with("application/fhir+json"), "content-type {ct}");
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    let text = body.to_string();
    assert!(
        text.contains(needle),
        "outcome does not mention {needle:?}: {text}"
    );
    body
}

/// Runs each named async test function against both stores.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let s = $crate::common::TestServer::sqlite().await;
                super::$name(&s).await;
                s.stop().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mongodb() {
                let s = $crate::common::TestServer::mongodb().await;
                super::$name(&s).await;
                s.stop().await;
            }
        }
    )*};
}
