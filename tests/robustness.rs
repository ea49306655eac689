//! Hostile and unlucky conditions: slow or lying clients, oversized input, a server killed in
//! the middle of writes, the database going away and coming back.

use crate::common;

use common::{expect, expect_outcome, fresh_mongo_spec, TestServer};
use fhird::http::HttpLimits;
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn short_timeouts() -> HttpLimits {
    HttpLimits {
        body_timeout: Duration::from_secs(1),
        header_timeout: Duration::from_secs(1),
        max_body_bytes: 1024 * 1024,
        ..HttpLimits::default()
    }
}

fn addr_of(s: &TestServer) -> String {
    s.root.trim_start_matches("http://").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_arrives_times_out_with_408() {
    let s = TestServer::sqlite_with(short_timeouts()).await;
    let addr = addr_of(&s);
    let started = Instant::now();
    let response = tokio::task::spawn_blocking(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(
            b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: 1000\r\n\r\n{\"resourceType\":",
        )
        .unwrap();
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("OperationOutcome"), "{response}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Nothing was stored and the server still works.
    let h = expect(s.get("_history").await, 200).await;
    assert!(h.get("entry").is_none());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_that_never_finish_lose_the_connection() {
    let s = TestServer::sqlite_with(short_timeouts()).await;
    let addr = addr_of(&s);
    let started = Instant::now();
    let closed = tokio::task::spawn_blocking(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .unwrap();
        let mut buf = Vec::new();
        // Either a 408 or a plain close: the connection must end.
        c.read_to_end(&mut buf).is_ok()
    })
    .await
    .unwrap();
    assert!(closed);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    expect(s.get("metadata").await, 200).await;
    s.stop().await;
}

/// Requests hyper refuses before the router sees them (an unparseable request line or header,
/// a URI over 64 KiB, too many headers) still get their status with an OperationOutcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_hyper_cannot_parse_get_an_outcome() {
    let s = TestServer::sqlite_with(short_timeouts()).await;
    let long_uri = format!(
        "GET /fhir/Patient?name={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let many_headers = format!(
        "GET /fhir/Patient HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..200)
            .map(|i| format!("X-H{i}: 1\r\n"))
            .collect::<String>()
    );
    let cases = [
        ("GARBAGE\r\n\r\n".to_string(), "400", "invalid"),
        (
            "GET /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".to_string(),
            "400",
            "invalid",
        ),
        (long_uri, "414", "too-long"),
        (many_headers, "431", "too-long"),
    ];
    for (request, status, code) in cases {
        let addr = addr_of(&s);
        let response = tokio::task::spawn_blocking(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            c.write_all(request.as_bytes()).unwrap();
            let mut out = Vec::new();
            let _ = c.read_to_end(&mut out);
            String::from_utf8(out).unwrap()
        })
        .await
        .unwrap();
        let (head, body) = response.split_once("\r\n\r\n").expect(&response);
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
        assert!(
            head.contains("content-type: application/fhir+json"),
            "{head}"
        );
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let outcome: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{body}");
        assert_eq!(outcome["issue"][0]["code"], code, "{body}");
    }
    // Ordinary answers on the same server are untouched, errors and HEAD included.
    expect_outcome(s.get("Patient/nope").await, 404, "").await;
    let head = s.client.head(s.url("Patient/nope")).send().await.unwrap();
    assert_eq!(head.status(), 404);
    expect(s.get("metadata").await, 200).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_without_reading_them_whole() {
    let s = TestServer::sqlite_with(short_timeouts()).await;
    // A declared length over the limit is refused at once.
    let addr = addr_of(&s);
    let response = tokio::task::spawn_blocking(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(
            b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: 10000000000\r\n\r\n",
        )
        .unwrap();
        let mut r = BufReader::new(c);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        head
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    // The unread body makes the connection unusable; the answer says so.
    assert!(
        response.to_ascii_lowercase().contains("connection: close"),
        "{response}"
    );
    // A chunked body with no declared length is refused once it passes the limit (1 MiB here);
    // a modest overrun is read and discarded so the client gets to see the answer.
    let chunk = vec![b' '; 64 * 1024];
    let stream =
        futures_util::stream::iter((0..20).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let r = s
        .client
        .post(s.url("Patient"))
        .header("content-type", "application/fhir+json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    expect_outcome(r, 413, "larger than the limit").await;
    // An endless chunked body is cut off, not buffered: the server answers and closes.
    let addr = addr_of(&s);
    let answered = tokio::task::spawn_blocking(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(
            b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .unwrap();
        let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
        // 200 MiB offered; the server must stop reading long before.
        for _ in 0..3200 {
            if c.write_all(chunk.as_bytes()).is_err() {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(answered, "the server read 200 MiB of an over-limit body");
    expect(s.get("metadata").await, 200).await;
    s.stop().await;
}

/// Many large uploads at once share a bounded memory budget: a request whose body does not
/// fit waits for the others (here: until the stalled ones time out), requests without a body
/// are not held up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_share_a_bounded_budget() {
    // The stalled uploads hold the budget for 4 s: a request that waited for it takes seconds,
    // one that did not takes milliseconds, far apart even on a loaded machine.
    let s = TestServer::sqlite_with(HttpLimits {
        max_inflight_body_bytes: 2 * 1024 * 1024,
        body_timeout: Duration::from_secs(4),
        ..short_timeouts()
    })
    .await;
    let mut holders = Vec::new();
    for _ in 0..2 {
        let addr = addr_of(&s);
        holders.push(tokio::task::spawn_blocking(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            c.write_all(
                b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: 1048576\r\n\r\n{",
            )
            .unwrap();
            let mut out = Vec::new();
            let _ = c.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    expect(s.get("metadata").await, 200).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a GET waited for the body budget: {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let r = s.post("Patient", &json!({"resourceType": "Patient"})).await;
    let waited = started.elapsed();
    expect(r, 201).await;
    assert!(
        waited >= Duration::from_secs(2),
        "the upload did not wait: {waited:?}"
    );
    for h in holders {
        assert!(h.await.unwrap().starts_with("HTTP/1.1 408"));
    }
    s.stop().await;
}

/// The real binary, started on a store.
struct Fhird {
    child: Child,
    root: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Fhird {
    fn start(store: &str, port: u16) -> Fhird {
        let child = Command::new(env!("CARGO_BIN_EXE_fhird"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--store",
                store,
            ])
            .env("FHIRD_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let root = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "fhird did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Fhird { child, root }
    }

    fn kill_hard(mut self) {
        self.child.kill().unwrap(); // SIGKILL: no chance to flush anything
        self.child.wait().unwrap();
    }
}

impl Drop for Fhird {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes concurrently, kills the server with SIGKILL in the middle, restarts it on the same
/// store, and checks that every write that was acknowledged is there.
async fn killed_mid_write_loses_no_acknowledged_write(store: &str) {
    let port = free_port();
    let server = Fhird::start(store, port);
    let client = reqwest::Client::new();
    let url = format!("{}/fhir/Observation", server.root);
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, url, acked) = (client.clone(), url.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let body = json!({"resourceType": "Observation", "status": "final",
                    "code": {"text": format!("writer {w} n {i}")}, "valueQuantity": {"value": 1.50}});
                let r = client
                    .post(&url)
                    .header("content-type", "application/fhir+json")
                    .header("prefer", "return=minimal")
                    .body(serde_json::to_vec(&body).unwrap())
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let loc = r.headers()["location"].to_str().unwrap().to_string();
                        acked.lock().unwrap().push(loc);
                    }
                    _ => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill_hard();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 20,
        "only {} writes before the kill",
        acked.len()
    );

    let server = Fhird::start(store, port);
    for loc in &acked {
        let r = client.get(loc).send().await.unwrap();
        assert_eq!(
            r.status().as_u16(),
            200,
            "acknowledged write {loc} was lost"
        );
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_mid_write_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    killed_mid_write_loses_no_acknowledged_write(&format!("sqlite:{}", dir.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_killed_mid_write_loses_no_acknowledged_write() {
    killed_mid_write_loses_no_acknowledged_write(&fresh_mongo_spec()).await;
}

/// A SecantusDB of this test's own, so it can be stopped and started again.
struct Secantus {
    child: Child,
    port: u16,
}

impl Secantus {
    fn start(dir: &std::path::Path, port: u16) -> Secantus {
        let child = Command::new("secantusd-rs")
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--storage-path",
            ])
            .arg(dir)
            .args(["--log-file-max", "16MB", "--log-level", "WARNING"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("secantusd-rs on PATH (scripts/test.sh installs it)");
        // Owned by the guard at once, so a failed start still reaps the process.
        let mut guard = Secantus { child, port };
        let mut out = BufReader::new(guard.child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "secantusd-rs exited");
            if let Some(p) = line
                .trim()
                .rsplit(':')
                .next()
                .filter(|_| line.contains("listening on"))
            {
                guard.port = p.parse().unwrap();
                // Keep draining its output so it never blocks on a full pipe.
                std::thread::spawn(move || {
                    let mut sink = String::new();
                    while out.read_line(&mut sink).unwrap_or(0) > 0 {
                        sink.clear();
                    }
                });
                return guard;
            }
        }
    }

    fn stop(mut self) {
        sigterm(self.child.id());
        self.child.wait().unwrap();
    }
}

fn sigterm(pid: u32) {
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
}

impl Drop for Secantus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_returns_to_work_after_the_database_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = Secantus::start(dir.path(), 0);
    let port = db.port;
    let s = TestServer::start(
        &format!("mongodb://127.0.0.1:{port}/?db=restart"),
        HttpLimits::default(),
    )
    .await;
    let p = json!({"resourceType": "Patient", "id": "keep", "active": true});
    expect(s.put("Patient/keep", &p).await, 201).await;

    db.stop();
    let started = Instant::now();
    expect_outcome(s.get("Patient/keep").await, 503, "unavailable").await;
    let p2 = json!({"resourceType": "Patient", "id": "keep", "active": false});
    expect_outcome(s.put("Patient/keep", &p2).await, 503, "unavailable").await;
    assert!(started.elapsed() < Duration::from_secs(30));

    let _db = Secantus::start(dir.path(), port);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = s.get("Patient/keep").await;
        if r.status().as_u16() == 200 {
            assert_eq!(r.json::<serde_json::Value>().await.unwrap()["active"], true);
            break;
        }
        assert!(Instant::now() < deadline, "the server did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Writes work again, and the refused one left nothing behind.
    let v = expect(s.put("Patient/keep", &p2).await, 200).await;
    assert_eq!(v["meta"]["versionId"], "2");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = Fhird::start(&format!("sqlite:{}", dir.path().display()), port);
    // A request whose body is still on its way when the signal arrives.
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = br#"{"resourceType":"Patient","id":"late","active":true}"#;
    let head = format!(
        "PUT /fhir/Patient/late HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(&body[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    sigterm(server.child.id());
    std::thread::sleep(Duration::from_millis(300));
    // New connections are no longer accepted…
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still accepting after SIGTERM"
    );
    // …but the request in flight completes.
    c.write_all(&body[10..]).unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 201"), "{out}");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "fhird exited with {status}");
    // The write is there after a restart.
    let server = Fhird::start(&format!("sqlite:{}", dir.path().display()), port);
    let r = reqwest::get(format!("{}/fhir/Patient/late", server.root))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
