//! The FHIR REST routing: parses `/fhir/...` and `/payer/{id}/fhir/...` paths and dispatches
//! to the interactions. Routing is done here rather than by axum's router so that every answer,
//! the 404s and 405s included, is an OperationOutcome.

use super::negotiate::{self, Format, Output};
use super::respond::{error_response, method_not_allowed, value_bytes, Reply};
use super::App;
use crate::fhir::bundle::{etag, parse_etag};
use crate::fhir::outcome::{information, ErrorKind, FhirError, FhirResult};
use crate::fhir::{instant, resource};
use crate::interactions::{
    Criteria, HistoryRequest, Op, Outcome, PatchBody, Return, SearchScope, Target, WriteRequest,
};
use crate::partition::Partition;
use crate::store::{HistoryScope, Version};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, Response, StatusCode};
use bytes::Bytes;
use std::sync::Arc;

/// Parameters handled by the HTTP layer for every interaction.
const FORMAT_PARAMS: &[&str] = &["_format", "_pretty"];

struct Ctx {
    partition: Partition,
    method: Method,
    headers: HeaderMap,
    params: Vec<(String, String)>,
    query: Option<String>,
    /// The share of the in-flight body budget this request's body holds, until it is done.
    body_share: std::sync::Mutex<Option<tokio::sync::OwnedSemaphorePermit>>,
}

impl Ctx {
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type of the body (`Content-Type` without parameters, lower case).
    fn media_type(&self) -> String {
        self.header(header::CONTENT_TYPE)
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// The preferences of the `Prefer` header (`return=minimal`, `handling=lenient` …).
    fn prefer(&self) -> impl Iterator<Item = &str> {
        self.header(header::HeaderName::from_static("prefer"))
            .unwrap_or("")
            .split([',', ';'])
            .map(str::trim)
    }

    /// Parameters meant for the interaction (format parameters removed).
    fn interaction_params(&self) -> Vec<(String, String)> {
        self.params
            .iter()
            .filter(|(k, _)| !FORMAT_PARAMS.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

pub async fn handle(State(app): State<Arc<App>>, req: Request) -> Response<Body> {
    use futures_util::FutureExt;
    // A panic is a bug, but the client still deserves an OperationOutcome and the connection
    // (and the other requests on this worker) should not go down with it.
    match std::panic::AssertUnwindSafe(handle_request(app, req))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(_) => error_response(
            &FhirError::new(
                ErrorKind::Internal,
                "The server failed on this request; the failure has been logged",
            ),
            &Output::DEFAULT,
        ),
    }
}

async fn handle_request(app: Arc<App>, req: Request) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let query = parts.uri.query().map(str::to_string);
    let params: Vec<(String, String)> = query
        .as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let find = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let out = match negotiate::output(accept, find("_format"), find("_pretty")) {
        Ok(o) => o,
        Err(e) => return error_response(&e, &Output::DEFAULT),
    };
    let path = parts.uri.path().to_string();
    let has_body = parts.headers.contains_key(header::TRANSFER_ENCODING)
        || parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|l| l.trim() != "0");
    let result = route(
        &app,
        &path,
        parts.method,
        parts.headers,
        params,
        query,
        body,
    )
    .await;
    match result {
        Ok(reply) => reply.into_response(&out),
        Err(e) => {
            let mut response = error_response(&e, &out);
            // The request body may not have been read (a refusal can come before it): the
            // connection cannot be reused, and the client should know before it tries.
            if has_body {
                response.headers_mut().insert(
                    header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            response
        }
    }
}

fn decode_segments(path: &str) -> FhirResult<Vec<String>> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| FhirError::invalid("The URL path is not valid UTF-8"))
        })
        .collect()
}

async fn route(
    app: &App,
    path: &str,
    method: Method,
    headers: HeaderMap,
    params: Vec<(String, String)>,
    query: Option<String>,
    body: Body,
) -> FhirResult<Reply> {
    let segments = decode_segments(path)?;
    let (partition, rest) = match segments.as_slice() {
        [fhir, rest @ ..] if fhir == "fhir" => (Partition::Default, rest),
        [payer, id, fhir, rest @ ..] if payer == "payer" && fhir == "fhir" => {
            (app.fhir.payer_partition(id).await?, rest)
        }
        _ => {
            return Err(FhirError::not_found(format!(
                "Nothing is served at {path}; the FHIR base is /fhir (or /payer/{{payerId}}/fhir)"
            )))
        }
    };
    let ctx = Ctx {
        partition,
        method,
        headers,
        params,
        query,
        body_share: std::sync::Mutex::new(None),
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    if let Some(first) = rest.first() {
        if !first.starts_with('_') && !first.starts_with('$') && *first != "metadata" {
            resource::check_resource_type(first)?;
        }
    }
    let m = ctx.method.clone();
    let is_get = m == Method::GET || m == Method::HEAD;
    match rest.as_slice() {
        [] => match m {
            _ if is_get => search(app, &ctx, SearchScope::System, None).await,
            Method::POST => bundle(app, &ctx, body).await,
            _ => Ok(method_not_allowed(m.as_str(), "GET, HEAD, POST")),
        },
        ["metadata"] if is_get => Ok(Reply::json(
            StatusCode::OK,
            value_bytes(&app.fhir.capabilities(&ctx.partition)),
        )),
        ["metadata"] => Ok(method_not_allowed(m.as_str(), "GET, HEAD")),
        ["_history"] if is_get => history(app, &ctx, HistoryScope::System).await,
        ["_history"] => Ok(method_not_allowed(m.as_str(), "GET, HEAD")),
        ["_search"] if m == Method::POST => {
            search(app, &ctx, SearchScope::System, Some(body)).await
        }
        ["_search"] => Ok(method_not_allowed(m.as_str(), "POST")),
        ["$reindex"] if m == Method::POST => reindex(app, &ctx, None, None).await,
        [first, ..] if first.starts_with('$') || first.starts_with('_') => Err(
            FhirError::not_found(format!("Unknown system-level operation or path '{first}'")),
        ),
        [rt] => match m {
            _ if is_get => search(app, &ctx, SearchScope::Type(rt), None).await,
            Method::POST => create(app, &ctx, rt, body).await,
            Method::PUT => update(app, &ctx, rt, None, body).await,
            Method::DELETE => delete(app, &ctx, rt, None).await,
            Method::PATCH => patch(app, &ctx, rt, None, body).await,
            _ => Ok(method_not_allowed(
                m.as_str(),
                "GET, HEAD, POST, PUT, DELETE, PATCH",
            )),
        },
        [rt, "_history"] if is_get => history(app, &ctx, HistoryScope::Type(rt)).await,
        [_, "_history"] => Ok(method_not_allowed(m.as_str(), "GET, HEAD")),
        [rt, "_search"] if m == Method::POST => {
            search(app, &ctx, SearchScope::Type(rt), Some(body)).await
        }
        [_, "_search"] => Ok(method_not_allowed(m.as_str(), "POST")),
        [rt, "$reindex"] if m == Method::POST => reindex(app, &ctx, Some(rt), None).await,
        [_, op] if op.starts_with('$') => {
            Err(FhirError::not_found(format!("Unknown operation '{op}'")))
        }
        [rt, id] => match m {
            _ if is_get => read(app, &ctx, rt, id).await,
            Method::PUT => update(app, &ctx, rt, Some(id), body).await,
            Method::DELETE => delete(app, &ctx, rt, Some(id)).await,
            Method::PATCH => patch(app, &ctx, rt, Some(id), body).await,
            _ => Ok(method_not_allowed(
                m.as_str(),
                "GET, HEAD, PUT, DELETE, PATCH",
            )),
        },
        [rt, id, "_history"] if is_get => history(app, &ctx, HistoryScope::Instance(rt, id)).await,
        [_, _, "_history"] => Ok(method_not_allowed(m.as_str(), "GET, HEAD")),
        [rt, id, "$reindex"] if m == Method::POST => reindex(app, &ctx, Some(rt), Some(id)).await,
        [kind, id, "_search"] if m == Method::POST => {
            let scope = SearchScope::compartment(kind, id, "*");
            search(app, &ctx, scope, Some(body)).await
        }
        [_, _, "_search"] => Ok(method_not_allowed(m.as_str(), "POST")),
        [kind, id, rt] if is_get && !rt.starts_with(['_', '$']) => {
            let scope = SearchScope::compartment(kind, id, rt);
            search(app, &ctx, scope, None).await
        }
        [_, _, rt] if !rt.starts_with(['_', '$']) => {
            Ok(method_not_allowed(m.as_str(), "GET, HEAD"))
        }
        [kind, id, rt, "_search"] if m == Method::POST && !rt.starts_with(['_', '$']) => {
            let scope = SearchScope::compartment(kind, id, rt);
            search(app, &ctx, scope, Some(body)).await
        }
        [_, _, rt, "_search"] if !rt.starts_with(['_', '$']) => {
            Ok(method_not_allowed(m.as_str(), "POST"))
        }
        [rt, id, "_history", vid] if is_get => vread(app, &ctx, rt, id, vid).await,
        [_, _, "_history", _] => Ok(method_not_allowed(m.as_str(), "GET, HEAD")),
        _ => Err(FhirError::not_found(format!("Nothing is served at {path}"))),
    }
}

/// Headers every response about one version carries.
fn version_headers(reply: Reply, v: &Version) -> Reply {
    reply
        .header(header::ETAG, etag(v.version))
        .header(header::LAST_MODIFIED, instant::to_http_date(v.last_updated))
}

async fn read(app: &App, ctx: &Ctx, rt: &str, id: &str) -> FhirResult<Reply> {
    let v = app.fhir.read(&ctx.partition, rt, id).await?;
    if not_modified(ctx, &v) {
        return Ok(version_headers(Reply::new(StatusCode::NOT_MODIFIED), &v));
    }
    let body = v.body.clone().unwrap_or_default();
    Ok(version_headers(Reply::json(StatusCode::OK, body), &v))
}

/// `If-None-Match` (any listed ETag is current) or `If-Modified-Since` (not changed since).
fn not_modified(ctx: &Ctx, v: &Version) -> bool {
    if let Some(inm) = ctx.header(header::IF_NONE_MATCH) {
        return inm
            .split(',')
            .any(|t| t.trim() == "*" || parse_etag(t) == Some(v.version));
    }
    if let Some(since) = ctx
        .header(header::IF_MODIFIED_SINCE)
        .and_then(instant::parse_http_date)
    {
        // HTTP dates have whole seconds.
        return v.last_updated.div_euclid(1_000_000) <= since.div_euclid(1_000_000);
    }
    false
}

async fn vread(app: &App, ctx: &Ctx, rt: &str, id: &str, vid: &str) -> FhirResult<Reply> {
    let v = app.fhir.vread(&ctx.partition, rt, id, vid).await?;
    let body = v.body.clone().unwrap_or_default();
    Ok(version_headers(Reply::json(StatusCode::OK, body), &v))
}

async fn history(app: &App, ctx: &Ctx, scope: HistoryScope<'_>) -> FhirResult<Reply> {
    let req = HistoryRequest::parse(&ctx.interaction_params())?;
    let bundle = app.fhir.history(&ctx.partition, scope, &req).await?;
    Ok(Reply::json(StatusCode::OK, value_bytes(&bundle)))
}

/// `GET [base]/[type]?…`, or `POST …/_search` with the parameters in a form body (added to
/// those of the URL).
async fn search(
    app: &App,
    ctx: &Ctx,
    scope: SearchScope<'_>,
    form: Option<Body>,
) -> FhirResult<Reply> {
    let mut params = ctx.interaction_params();
    if let Some(body) = form {
        let media = ctx.media_type();
        let bytes = read_body(app, ctx, body).await?;
        if !bytes.is_empty() {
            if media != "application/x-www-form-urlencoded" {
                return Err(FhirError::new(
                    ErrorKind::UnsupportedMediaType,
                    format!("POST _search takes a form body (application/x-www-form-urlencoded), not '{media}'"),
                ));
            }
            params.extend(
                form_urlencoded::parse(&bytes)
                    .into_owned()
                    .filter(|(k, _)| !FORMAT_PARAMS.contains(&k.as_str())),
            );
        }
    }
    let lenient = ctx
        .prefer()
        .any(|x| x.eq_ignore_ascii_case("handling=lenient"));
    let bundle = app
        .fhir
        .search(&ctx.partition, scope, &params, lenient)
        .await?;
    Ok(Reply::json(StatusCode::OK, Bytes::from(bundle)))
}

async fn reindex(app: &App, ctx: &Ctx, rt: Option<&str>, id: Option<&str>) -> FhirResult<Reply> {
    reject_params(ctx, "$reindex")?;
    let result = app.fhir.reindex(&ctx.partition, rt, id).await?;
    Ok(Reply::json(StatusCode::OK, value_bytes(&result)))
}

/// Reads and validates a request body: size limit (413), time limit (408), media type (415),
/// then the R4 model (400).
async fn read_resource(
    app: &App,
    ctx: &Ctx,
    rt: &str,
    body: Body,
) -> FhirResult<resource::Resource> {
    let format = negotiate::input(ctx.header(header::CONTENT_TYPE))?;
    let bytes = read_body(app, ctx, body).await?;
    if bytes.is_empty() {
        return Err(FhirError::invalid(
            "The request body is empty; a resource is required",
        ));
    }
    match format {
        Format::Json => resource::parse_json(&bytes, Some(rt)),
        Format::Xml => {
            let json = fhir_model::xml_to_json(&bytes).map_err(|e| {
                FhirError::invalid(format!("The body is not a valid FHIR R4 XML resource: {e}"))
            })?;
            resource::parse_json(&json, Some(rt))
        }
    }
}

async fn read_body(app: &App, ctx: &Ctx, body: Body) -> FhirResult<Bytes> {
    let limit = app.limits.max_body_bytes;
    let too_large = || {
        FhirError::new(
            ErrorKind::TooLarge,
            format!("The request body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = ctx
        .header(header::CONTENT_LENGTH)
        .and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let deadline = tokio::time::Instant::now() + app.limits.body_timeout;
    // A body larger than the whole budget waits for all of it.
    let kib =
        (declared.unwrap_or(limit).div_ceil(1024).max(1)).min(app.body_budget_kib as usize) as u32;
    let share = tokio::time::timeout_at(deadline, app.bodies.clone().acquire_many_owned(kib))
        .await
        .map_err(|_| {
            FhirError::new(
                ErrorKind::Unavailable,
                "The server is receiving too many large request bodies at once; retry shortly",
            )
        })?
        .map_err(|_| FhirError::new(ErrorKind::Unavailable, "The server is shutting down"))?;
    *ctx.body_share.lock().unwrap_or_else(|e| e.into_inner()) = Some(share);
    match tokio::time::timeout_at(deadline, collect_limited(body, limit)).await {
        Err(_) => Err(FhirError::new(
            ErrorKind::Timeout,
            format!(
                "The request body did not arrive within {} s",
                app.limits.body_timeout.as_secs_f32()
            ),
        )),
        Ok(Ok(Some(b))) => Ok(b),
        Ok(Ok(None)) => Err(too_large()),
        Ok(Err(e)) => Err(FhirError::invalid(format!(
            "The request body could not be read: {e}"
        ))),
    }
}

/// How much of an oversized body is still read (and thrown away) before answering 413. A client
/// that is still sending when the server closes the connection gets a reset instead of the
/// answer; reading a bounded overrun lets a modestly oversized request see its 413.
const OVERRUN_DRAIN_BYTES: usize = 1024 * 1024;

/// The whole body, or `None` if it is larger than `limit`. Memory use stays within `limit`.
async fn collect_limited(mut body: Body, limit: usize) -> Result<Option<Bytes>, axum::Error> {
    use http_body_util::BodyExt;
    let mut buf = bytes::BytesMut::new();
    let mut drained = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        if drained > 0 || buf.len() + data.len() > limit {
            drained += data.len();
            if drained > OVERRUN_DRAIN_BYTES {
                return Ok(None);
            }
        } else {
            buf.extend_from_slice(&data);
        }
    }
    Ok((drained == 0).then(|| buf.freeze()))
}

/// What `Prefer: return=…` asks for, if anything.
fn prefer_return(ctx: &Ctx) -> Option<Return> {
    for p in ctx.prefer() {
        match p.strip_prefix("return=").map(|v| v.trim_matches('"')) {
            Some("minimal") => return Some(Return::Minimal),
            Some("OperationOutcome") => return Some(Return::OperationOutcome),
            Some("representation") => return Some(Return::Representation),
            _ => {}
        }
    }
    None
}

fn if_match(ctx: &Ctx) -> FhirResult<Option<u64>> {
    match ctx.header(header::IF_MATCH) {
        None => Ok(None),
        Some(v) => parse_etag(v).map(Some).ok_or_else(|| {
            FhirError::invalid(format!(
                "If-Match must be a version ETag such as W/\"3\", not '{v}'"
            ))
        }),
    }
}

/// The answer to a write: status, `Location`, `ETag`, `Last-Modified` and the body
/// `Prefer: return` asks for.
fn outcome_reply(app: &App, ctx: &Ctx, outcome: Outcome) -> Reply {
    let (status, v, message) = match outcome {
        Outcome::Deleted(deleted) => return deleted_reply(ctx, &deleted),
        Outcome::Created(v) => {
            let m = format!("Created {}/{}", v.resource_type, v.id);
            (StatusCode::CREATED, v, m)
        }
        Outcome::Updated(v) => {
            let m = format!(
                "Updated {}/{} to version {}",
                v.resource_type, v.id, v.version
            );
            (StatusCode::OK, v, m)
        }
        Outcome::Unchanged(v) => {
            let m = format!(
                "{}/{} is unchanged; it stays at version {}",
                v.resource_type, v.id, v.version
            );
            (StatusCode::OK, v, m)
        }
        Outcome::Existing(v) => {
            let m = format!(
                "{}/{} matches the If-None-Exist criteria; nothing was created",
                v.resource_type, v.id
            );
            (StatusCode::OK, v, m)
        }
    };
    let location = format!(
        "{}/{}/{}/_history/{}",
        app.fhir.base_url(&ctx.partition),
        v.resource_type,
        v.id,
        v.version
    );
    let reply = match prefer_return(ctx).unwrap_or_default() {
        Return::Minimal => Reply::new(status),
        Return::Representation => Reply::json(status, v.body.clone().unwrap_or_default()),
        Return::OperationOutcome => Reply::json(status, value_bytes(&information(message))),
    };
    version_headers(reply, &v).header(header::LOCATION, location)
}

fn deleted_reply(ctx: &Ctx, deleted: &[Version]) -> Reply {
    let message = match deleted {
        [] => "No such resource, or it was already deleted: nothing to do".to_string(),
        [v] => format!(
            "Deleted {}/{} (version {})",
            v.resource_type, v.id, v.version
        ),
        many => format!("Deleted {} resources", many.len()),
    };
    let reply = if prefer_return(ctx) == Some(Return::Minimal) {
        Reply::new(StatusCode::NO_CONTENT)
    } else {
        Reply::json(StatusCode::OK, value_bytes(&information(message)))
    };
    match deleted {
        [v] => reply.header(header::ETAG, etag(v.version)),
        _ => reply,
    }
}

/// The target of an update, patch or delete: `[type]/[id]`, or the search criteria of
/// `[type]?…` for the conditional form.
fn write_target(ctx: &Ctx, rt: &str, id: Option<&str>, what: &str) -> FhirResult<Target> {
    match id {
        Some(id) => {
            reject_params(ctx, what)?;
            Ok(Target::Id(id.to_string()))
        }
        None => Ok(Target::Criteria(Criteria::from_params(
            rt,
            ctx.interaction_params(),
            &format!("conditional {what}"),
        )?)),
    }
}

async fn write(app: &App, ctx: &Ctx, rt: &str, op: Op) -> FhirResult<Reply> {
    let request = WriteRequest {
        resource_type: rt.to_string(),
        full_url: None,
        op,
    };
    let outcome = app.fhir.write_one(&ctx.partition, request).await?;
    Ok(outcome_reply(app, ctx, outcome))
}

/// `POST [type]`, conditional with `If-None-Exist`, or with the criteria in the query
/// (`POST [type]?identifier=…`, as fhirpy's `get_or_create` sends them).
async fn create(app: &App, ctx: &Ctx, rt: &str, body: Body) -> FhirResult<Reply> {
    let params = ctx.interaction_params();
    let if_none_exist =
        match ctx.header(header::HeaderName::from_static("if-none-exist")) {
            Some(_) if !params.is_empty() => return Err(FhirError::invalid(
                "Give the conditional create's criteria in If-None-Exist or in the query, not both",
            )),
            Some(q) => Some(Criteria::parse_if_none_exist(rt, q, "If-None-Exist")?),
            None if params.is_empty() => None,
            None => Some(Criteria::from_params(rt, params, "conditional create")?),
        };
    let resource = read_resource(app, ctx, rt, body).await?;
    let op = Op::Create {
        resource,
        if_none_exist,
    };
    write(app, ctx, rt, op).await
}

async fn update(app: &App, ctx: &Ctx, rt: &str, id: Option<&str>, body: Body) -> FhirResult<Reply> {
    let target = write_target(ctx, rt, id, "update")?;
    let if_match = if_match(ctx)?;
    let resource = read_resource(app, ctx, rt, body).await?;
    let op = Op::Update {
        target,
        resource,
        if_match,
    };
    write(app, ctx, rt, op).await
}

async fn delete(app: &App, ctx: &Ctx, rt: &str, id: Option<&str>) -> FhirResult<Reply> {
    let target = write_target(ctx, rt, id, "delete")?;
    let if_match = if_match(ctx)?;
    write(app, ctx, rt, Op::Delete { target, if_match }).await
}

/// `PATCH`: a JSON Patch (`application/json-patch+json`) or a FHIRPath Patch (`Parameters`
/// in FHIR JSON or XML).
async fn patch(app: &App, ctx: &Ctx, rt: &str, id: Option<&str>, body: Body) -> FhirResult<Reply> {
    let target = write_target(ctx, rt, id, "patch")?;
    let if_match = if_match(ctx)?;
    let media = ctx.media_type();
    let patch = match media.as_str() {
        "application/json-patch+json" => PatchBody::Json(read_body(app, ctx, body).await?),
        "application/merge-patch+json" => PatchBody::Merge(read_body(app, ctx, body).await?),
        // Plain JSON: an array is a JSON Patch, a Parameters resource a FHIRPath Patch, any
        // other object a merge patch.
        "application/json" => {
            let bytes = read_body(app, ctx, body).await?;
            let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
            if first == Some(&b'[') {
                PatchBody::Json(bytes)
            } else if serde_json::from_slice::<serde_json::Value>(&bytes)
                .is_ok_and(|v| v["resourceType"] == "Parameters")
            {
                let parameters = resource::parse_json(&bytes, Some("Parameters"))?;
                PatchBody::FhirPath(serde_json::Value::Object(parameters.body))
            } else {
                PatchBody::Merge(bytes)
            }
        }
        _ => {
            let parameters = read_resource(app, ctx, "Parameters", body).await.map_err(|e| {
                if e.kind == ErrorKind::UnsupportedMediaType {
                    FhirError::new(
                        ErrorKind::UnsupportedMediaType,
                        format!("PATCH takes application/json-patch+json (JSON Patch), a FHIRPath Patch Parameters resource (application/fhir+json or application/fhir+xml) or application/merge-patch+json, not '{media}'"),
                    )
                } else {
                    e
                }
            })?;
            PatchBody::FhirPath(serde_json::Value::Object(parameters.body))
        }
    };
    let op = Op::Patch {
        target,
        patch,
        if_match,
    };
    write(app, ctx, rt, op).await
}

/// `POST [base]` with a batch or transaction Bundle.
async fn bundle(app: &App, ctx: &Ctx, body: Body) -> FhirResult<Reply> {
    reject_params(ctx, "batch/transaction")?;
    let format = negotiate::input(ctx.header(header::CONTENT_TYPE))?;
    let bytes = read_body(app, ctx, body).await?;
    if bytes.is_empty() {
        return Err(FhirError::invalid(
            "The request body is empty; a batch or transaction Bundle is required",
        ));
    }
    let json = match format {
        Format::Json => bytes.to_vec(),
        Format::Xml => fhir_model::xml_to_json(&bytes).map_err(|e| {
            FhirError::invalid(format!("The body is not a valid FHIR R4 XML Bundle: {e}"))
        })?,
    };
    let value: serde_json::Value = serde_json::from_slice(&json)
        .map_err(|e| FhirError::invalid(format!("The body is not valid JSON: {e}")))?;
    drop(json);
    drop(bytes);
    // Bundle responses list what happened; the resources come back only when asked for.
    let ret = prefer_return(ctx).unwrap_or(Return::Minimal);
    let out = app.fhir.process_bundle(&ctx.partition, value, ret).await?;
    Ok(Reply::json(StatusCode::OK, value_bytes(&out)))
}

/// Writes by id take no search parameters; refusing them is better than ignoring a condition
/// the client relies on.
fn reject_params(ctx: &Ctx, what: &str) -> FhirResult<()> {
    match ctx.interaction_params().first() {
        None => Ok(()),
        Some((k, _)) => Err(FhirError::invalid(format!(
            "The {what} interaction takes no parameter '{k}' (query: {})",
            ctx.query.as_deref().unwrap_or("")
        ))),
    }
}
