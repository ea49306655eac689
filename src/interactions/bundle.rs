//! Batch and transaction Bundles posted to a FHIR base (https://hl7.org/fhir/R4/http.html#transaction).
//!
//! A transaction's writes go through `write_all` as one atomic set (deletes, creates, then
//! updates and patches; `fullUrl`s and conditional references resolved), then its reads run.
//! A batch runs every entry on its own, in order, and answers each with its own status.

use super::conditional::Criteria;
use super::write::{EntryError, Op, Outcome, PatchBody, Target, WriteRequest};
use super::{Fhir, HistoryRequest, SearchScope};
use crate::fhir::bundle::{etag, parse_etag};
use crate::fhir::outcome::{information, ErrorKind, FhirError, FhirResult};
use crate::fhir::resource::{check_resource_type, validate_value, Resource};
use crate::fhir::{element_types, instant};
use crate::partition::Partition;
use crate::store::{HistoryScope, Version};
use serde_json::{json, Map, Value};

/// What a client asked to get back for each write (`Prefer: return=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Return {
    Minimal,
    #[default]
    Representation,
    OperationOutcome,
}

/// A Bundle entry's request, parsed.
enum Request {
    Write(WriteRequest),
    Read(Read),
}

struct Read {
    url: String,
    if_none_match: Option<u64>,
    /// `ifModifiedSince`, in microseconds.
    if_modified_since: Option<i64>,
}

/// One entry of the response Bundle.
struct Response {
    status: String,
    resource: Option<Value>,
    location: Option<String>,
    etag: Option<String>,
    last_modified: Option<String>,
    outcome: Option<Value>,
}

impl Response {
    fn status(status: &str) -> Response {
        Response {
            status: status.to_string(),
            resource: None,
            location: None,
            etag: None,
            last_modified: None,
            outcome: None,
        }
    }

    fn error(e: &FhirError) -> Response {
        let (code, text) = e.kind.http_status();
        Response {
            outcome: Some(e.to_operation_outcome()),
            ..Response::status(&format!("{code} {text}"))
        }
    }

    fn about(mut self, v: &Version) -> Response {
        self.etag = Some(etag(v.version));
        self.last_modified = Some(instant::to_fhir_instant(v.last_updated));
        self
    }

    fn into_json(self) -> Value {
        let mut r = Map::new();
        r.insert("status".into(), json!(self.status));
        if let Some(l) = self.location {
            r.insert("location".into(), json!(l));
        }
        if let Some(e) = self.etag {
            r.insert("etag".into(), json!(e));
        }
        if let Some(l) = self.last_modified {
            r.insert("lastModified".into(), json!(l));
        }
        if let Some(o) = self.outcome {
            r.insert("outcome".into(), o);
        }
        let mut entry = Map::new();
        if let Some(res) = self.resource {
            entry.insert("resource".into(), res);
        }
        entry.insert("response".into(), Value::Object(r));
        Value::Object(entry)
    }
}

/// The response entry of a write.
fn written(outcome: &Outcome, ret: Return) -> Response {
    let (status, v, message) = match outcome {
        Outcome::Created(v) => (
            "201 Created",
            v,
            format!("Created {}/{}", v.resource_type, v.id),
        ),
        Outcome::Updated(v) => (
            "200 OK",
            v,
            format!(
                "Updated {}/{} to version {}",
                v.resource_type, v.id, v.version
            ),
        ),
        Outcome::Unchanged(v) => (
            "200 OK",
            v,
            format!(
                "{}/{} is unchanged (version {})",
                v.resource_type, v.id, v.version
            ),
        ),
        Outcome::Existing(v) => (
            "200 OK",
            v,
            format!(
                "{}/{} matches the condition; nothing was created",
                v.resource_type, v.id
            ),
        ),
        Outcome::Deleted(vs) => {
            let mut r = Response::status("204 No Content");
            if let [one] = vs.as_slice() {
                r = r.about(one);
            }
            if ret == Return::OperationOutcome {
                r.outcome = Some(information(format!("Deleted {} resource(s)", vs.len())));
            }
            return r;
        }
    };
    let mut r = Response::status(status).about(v);
    r.location = Some(format!(
        "{}/{}/_history/{}",
        v.resource_type, v.id, v.version
    ));
    match ret {
        Return::Minimal => {}
        Return::Representation => r.resource = super::stored_json(v).ok(),
        Return::OperationOutcome => r.outcome = Some(information(message)),
    }
    r
}

fn entry_label(entry: &Value) -> String {
    let req = &entry["request"];
    format!(
        "{} {}",
        req["method"].as_str().unwrap_or("?"),
        req["url"].as_str().unwrap_or("?")
    )
}

fn response_bundle(kind: &str, entries: Vec<Response>) -> Value {
    json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": kind,
        "meta": {"lastUpdated": instant::to_fhir_instant(instant::next_micros())},
        "entry": entries.into_iter().map(Response::into_json).collect::<Vec<_>>(),
    })
}

impl Fhir {
    /// `POST [base]` with a batch or transaction Bundle; returns the response Bundle.
    pub async fn process_bundle(
        &self,
        p: &Partition,
        bundle: Value,
        ret: Return,
    ) -> FhirResult<Value> {
        let Value::Object(mut bundle) = bundle else {
            return Err(FhirError::invalid("The body must be a Bundle resource"));
        };
        if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
            return Err(FhirError::invalid(
                "Only a Bundle of type batch or transaction can be posted to the FHIR base",
            ));
        }
        let kind = bundle
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if kind != "batch" && kind != "transaction" {
            return Err(FhirError::at(
                ErrorKind::Invalid,
                "Bundle.type",
                format!("A Bundle posted to the FHIR base must be a batch or a transaction, not '{kind}' (store other Bundles with POST [base]/Bundle)"),
            ));
        }
        let entries = match bundle.remove("entry") {
            None => Vec::new(),
            Some(Value::Array(a)) => a,
            Some(_) => {
                return Err(FhirError::at(
                    ErrorKind::Invalid,
                    "Bundle.entry",
                    "Bundle.entry must be an array",
                ))
            }
        };
        let max = self.limits.max_bundle_entries;
        if entries.len() > max {
            return Err(FhirError::new(
                ErrorKind::TooLarge,
                format!(
                    "The Bundle has {} entries; this server takes at most {max} in one Bundle",
                    entries.len()
                ),
            ));
        }
        // The Bundle around the entries is validated on its own; each resource is validated
        // with its entry, so that an error names the entry.
        let mut shell = bundle.clone();
        let shells: Vec<Value> = entries
            .iter()
            .filter_map(|e| {
                let e: Map<String, Value> = e
                    .as_object()?
                    .iter()
                    .filter(|(k, _)| *k != "resource")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                // An entry with nothing but a resource fails on its own, below.
                (!e.is_empty()).then_some(Value::Object(e))
            })
            .collect();
        if !shells.is_empty() {
            shell.insert("entry".into(), Value::Array(shells));
        }
        validate_value(Value::Object(shell))?;

        let base = self.base_url(p);
        let labels: Vec<String> = entries.iter().map(entry_label).collect();
        let parsed: Vec<FhirResult<Request>> = entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| parse_entry(e, &base).map_err(|err| err.in_entry(i, &labels[i])))
            .collect();
        if kind == "batch" {
            let mut out = Vec::with_capacity(parsed.len());
            for r in parsed {
                out.push(match r {
                    Err(e) => Response::error(&e),
                    Ok(Request::Write(w)) => match self.write_one(p, w).await {
                        Ok(o) => written(&o, ret),
                        Err(e) => Response::error(&e),
                    },
                    Ok(Request::Read(r)) => self
                        .read_entry(p, &r)
                        .await
                        .unwrap_or_else(|e| Response::error(&e)),
                });
            }
            return Ok(response_bundle("batch-response", out));
        }

        let mut writes = Vec::new();
        let mut write_at = Vec::new();
        let mut reads = Vec::new();
        for (i, r) in parsed.into_iter().enumerate() {
            match r? {
                Request::Write(w) => {
                    writes.push(w);
                    write_at.push(i);
                }
                Request::Read(r) => reads.push((i, r)),
            }
        }
        let outcomes = self.write_all(p, &writes).await.map_err(
            |EntryError { index, error }| match index {
                Some(k) => error.in_entry(write_at[k], &labels[write_at[k]]),
                None => error,
            },
        )?;
        let mut out: Vec<Option<Response>> = (0..labels.len()).map(|_| None).collect();
        for (k, o) in outcomes.iter().enumerate() {
            out[write_at[k]] = Some(written(o, ret));
        }
        for (i, r) in reads {
            // A read that fails is reported in its entry; the writes have already committed.
            out[i] = Some(
                self.read_entry(p, &r)
                    .await
                    .unwrap_or_else(|e| Response::error(&e)),
            );
        }
        Ok(response_bundle(
            "transaction-response",
            out.into_iter().flatten().collect(),
        ))
    }

    /// A GET (or HEAD) entry: read, vread, search, history or capabilities.
    async fn read_entry(&self, p: &Partition, r: &Read) -> FhirResult<Response> {
        let (path, query) = r.url.split_once('?').unwrap_or((&r.url, ""));
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let params = &params;
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let ok = |v: Value| {
            Ok(Response {
                resource: Some(v),
                ..Response::status("200 OK")
            })
        };
        let version = |v: Version| {
            // As on a plain read: If-None-Match decides when given, else If-Modified-Since
            // (whole seconds, as HTTP dates have).
            let unchanged = match (r.if_none_match, r.if_modified_since) {
                (Some(n), _) => n == v.version,
                (None, Some(since)) => {
                    v.last_updated.div_euclid(1_000_000) <= since.div_euclid(1_000_000)
                }
                (None, None) => false,
            };
            if unchanged {
                return Ok(Response::status("304 Not Modified").about(&v));
            }
            Ok(Response {
                resource: super::stored_json(&v).ok(),
                ..Response::status("200 OK").about(&v)
            })
        };
        let search = |scope| async move {
            let bytes = self.search(p, scope, params, false).await?;
            serde_json::from_slice::<Value>(&bytes)
                .map_err(|e| FhirError::new(ErrorKind::Internal, e.to_string()))
        };
        let history = |scope| async move {
            let req = HistoryRequest::parse(params)?;
            self.history(p, scope, &req).await
        };
        match segs.as_slice() {
            [] => ok(search(SearchScope::System).await?),
            ["metadata"] => ok(self.capabilities(p)),
            ["_history"] => ok(history(HistoryScope::System).await?),
            [rt] => ok(search(SearchScope::Type(rt)).await?),
            [rt, "_history"] => ok(history(HistoryScope::Type(rt)).await?),
            [rt, id] => version(self.read(p, rt, id).await?),
            [rt, id, "_history"] => ok(history(HistoryScope::Instance(rt, id)).await?),
            [rt, id, "_history", vid] => version(self.vread(p, rt, id, vid).await?),
            [kind, id, rt] => ok(search(SearchScope::compartment(kind, id, rt)).await?),
            _ => Err(FhirError::not_found(format!(
                "Nothing is served at '{}'",
                r.url
            ))),
        }
    }
}

/// Where an entry's `request.url` points: `Type`, `Type/id` or `Type?criteria` (relative, or
/// absolute under this server's base).
enum Url {
    Type(String),
    Instance(String, String),
    Conditional(Criteria),
}

fn parse_url(url: &str, base: &str, method: &str) -> FhirResult<Url> {
    let rel = url
        .strip_prefix(base)
        .map(|r| r.trim_start_matches('/'))
        .unwrap_or(url);
    // An absolute URL on another base (a Bundle written for another server) names the
    // resource by its last `Type/id` segments, as the spec's own examples expect.
    let rel = match rel.split_once("://") {
        Some((_, rest)) if !rest.contains('?') => {
            let segs: Vec<&str> = rest.rsplitn(3, '/').collect();
            match segs.as_slice() {
                [id, rt, _] if element_types::is_resource_type(rt) => {
                    &rel[rel.len() - id.len() - rt.len() - 1..]
                }
                _ => {
                    return Err(FhirError::invalid(format!(
                        "request.url '{url}' does not end in Type/id"
                    )))
                }
            }
        }
        Some(_) => {
            return Err(FhirError::invalid(format!(
                "request.url '{url}' is not on this server (its base is {base})"
            )))
        }
        None => rel,
    };
    if rel.split(['/', '?']).any(|s| s.starts_with('$')) {
        return Err(FhirError::new(
            ErrorKind::NotImplemented,
            format!("Operations in Bundles ('{url}') are not supported by this server"),
        ));
    }
    if let Some((rt, query)) = rel.split_once('?') {
        return Ok(Url::Conditional(Criteria::parse(
            rt,
            query,
            &format!("conditional {method}"),
        )?));
    }
    let segs: Vec<&str> = rel.split('/').collect();
    match segs.as_slice() {
        [rt] => {
            check_resource_type(rt)?;
            Ok(Url::Type(rt.to_string()))
        }
        [rt, id] => {
            check_resource_type(rt)?;
            Ok(Url::Instance(rt.to_string(), id.to_string()))
        }
        _ => Err(FhirError::invalid(format!(
            "request.url '{url}' is not a {method} URL (Type, Type/id or Type?criteria)"
        ))),
    }
}

fn entry_resource(entry: &mut Map<String, Value>, rt: Option<&str>) -> FhirResult<Resource> {
    let Some(value) = entry.remove("resource") else {
        return Err(FhirError::invalid(
            "This request needs a resource in the entry",
        ));
    };
    let r = validate_value(value)?;
    if let Some(rt) = rt.filter(|rt| *rt != r.resource_type) {
        return Err(FhirError::at(
            ErrorKind::Invalid,
            "resourceType",
            format!(
                "The resource is a {} but request.url is for {rt}",
                r.resource_type
            ),
        ));
    }
    Ok(r)
}

fn entry_if_match(req: &Value) -> FhirResult<Option<u64>> {
    match req.get("ifMatch").and_then(Value::as_str) {
        None => Ok(None),
        Some(v) => parse_etag(v).map(Some).ok_or_else(|| {
            FhirError::invalid(format!(
                "request.ifMatch must be a version ETag such as W/\"3\", not '{v}'"
            ))
        }),
    }
}

fn target(url: Url, method: &str) -> FhirResult<(String, Target)> {
    match url {
        Url::Instance(rt, id) => Ok((rt, Target::Id(id))),
        Url::Conditional(c) => Ok((c.resource_type.clone(), Target::Criteria(c))),
        Url::Type(rt) => Err(FhirError::invalid(format!(
            "{method} needs Type/id or Type?criteria in request.url, not '{rt}'"
        ))),
    }
}

/// The patch document of a PATCH entry: a `Parameters` resource (FHIRPath Patch) or a
/// `Binary` holding a JSON Patch.
fn entry_patch(entry: &mut Map<String, Value>) -> FhirResult<PatchBody> {
    let r = entry_resource(entry, None)?;
    match r.resource_type.as_str() {
        "Parameters" => Ok(PatchBody::FhirPath(Value::Object(r.body))),
        "Binary" => {
            let ct = r.body.get("contentType").and_then(Value::as_str).unwrap_or("");
            if !ct.starts_with("application/json-patch+json") {
                return Err(FhirError::invalid(format!(
                    "A Binary patch must have contentType application/json-patch+json, not '{ct}'"
                )));
            }
            let data = r.body.get("data").and_then(Value::as_str).unwrap_or("");
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.split_whitespace().collect::<String>())
                .map_err(|_| FhirError::invalid("The Binary patch's data is not base64"))?;
            Ok(PatchBody::Json(bytes.into()))
        }
        other => Err(FhirError::invalid(format!(
            "A PATCH entry carries a Parameters (FHIRPath Patch) or a Binary (JSON Patch), not a {other}"
        ))),
    }
}

fn parse_entry(entry: Value, base: &str) -> FhirResult<Request> {
    let Value::Object(mut entry) = entry else {
        return Err(FhirError::invalid("A Bundle entry must be an object"));
    };
    let req = entry.get("request").cloned().unwrap_or(Value::Null);
    let method = req.get("method").and_then(Value::as_str).unwrap_or("");
    let Some(url) = req.get("url").and_then(Value::as_str) else {
        return Err(FhirError::invalid(
            "Every entry of a batch or transaction needs request.method and request.url",
        ));
    };
    let full_url = entry
        .get("fullUrl")
        .and_then(Value::as_str)
        .map(str::to_string);
    let if_match = entry_if_match(&req)?;
    let op = match method {
        "GET" | "HEAD" => {
            let url = url
                .strip_prefix(base)
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(url);
            return Ok(Request::Read(Read {
                url: url.to_string(),
                if_none_match: req
                    .get("ifNoneMatch")
                    .and_then(Value::as_str)
                    .and_then(parse_etag),
                if_modified_since: req
                    .get("ifModifiedSince")
                    .and_then(Value::as_str)
                    .and_then(instant::parse_fhir_instant),
            }));
        }
        "POST" => {
            let Url::Type(rt) = parse_url(url, base, method)? else {
                return Err(FhirError::invalid(format!(
                    "A POST entry's request.url is the resource type, not '{url}'"
                )));
            };
            let resource = entry_resource(&mut entry, Some(&rt))?;
            let if_none_exist = match req.get("ifNoneExist").and_then(Value::as_str) {
                None => None,
                Some(q) => Some(Criteria::parse_if_none_exist(&rt, q, "ifNoneExist")?),
            };
            (
                rt,
                Op::Create {
                    resource,
                    if_none_exist,
                },
            )
        }
        "PUT" => {
            let (rt, target) = target(parse_url(url, base, method)?, method)?;
            let resource = entry_resource(&mut entry, Some(&rt))?;
            (
                rt,
                Op::Update {
                    target,
                    resource,
                    if_match,
                },
            )
        }
        "PATCH" => {
            let (rt, target) = target(parse_url(url, base, method)?, method)?;
            let patch = entry_patch(&mut entry)?;
            (
                rt,
                Op::Patch {
                    target,
                    patch,
                    if_match,
                },
            )
        }
        "DELETE" => {
            let (rt, target) = target(parse_url(url, base, method)?, method)?;
            (rt, Op::Delete { target, if_match })
        }
        other => {
            return Err(FhirError::invalid(format!(
                "request.method '{other}' is not one of GET, HEAD, POST, PUT, PATCH, DELETE"
            )))
        }
    };
    let (resource_type, op) = op;
    Ok(Request::Write(WriteRequest {
        resource_type,
        full_url,
        op,
    }))
}
