//! hyper answers a request it cannot parse (a malformed request line or header, a URI over
//! 64 KiB, headers over its buffer) by itself, before the router sees it, with the status and
//! an empty body. A FHIR client expects an OperationOutcome with every error, so the connection
//! stream recognises those answers as hyper writes them and puts the same status with an
//! OperationOutcome on the wire instead.
//!
//! Recognised: a write that is one whole response head, with a 4xx status and
//! `content-length: 0`. The router never gives a 4xx without an OperationOutcome body (and a
//! HEAD answer keeps its body's length), so only hyper's own answers look like that.

use crate::fhir::outcome::{ErrorKind, FhirError};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub struct OutcomeOnParseError<S> {
    inner: S,
    /// The answer that replaces hyper's, and how much of it is on the wire.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<S> OutcomeOnParseError<S> {
    pub fn new(inner: S) -> Self {
        OutcomeOnParseError {
            inner,
            replacement: None,
        }
    }
}

impl<S: AsyncWrite + Unpin> OutcomeOnParseError<S> {
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = &mut self.replacement {
            if *done == bytes.len() {
                self.replacement = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        Poll::Ready(Ok(()))
    }

    /// When `written` is one of hyper's own answers, starts putting its replacement on the
    /// wire and counts hyper's bytes as written: the replacement is flushed before anything
    /// else (hyper closes the connection after such an answer anyway).
    fn replaced(&mut self, cx: &mut Context<'_>, written: &[u8]) -> Option<io::Result<usize>> {
        let answer = replacement_for(written)?;
        self.replacement = Some((answer, 0));
        Some(match self.poll_replacement(cx) {
            Poll::Ready(Err(e)) => Err(e),
            _ => Ok(written.len()),
        })
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for OutcomeOnParseError<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for OutcomeOnParseError<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_replacement(cx))?;
        if let Some(written) = self.replaced(cx, buf) {
            return Poll::Ready(written);
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_replacement(cx))?;
        let mut filled = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next()) {
            if let Some(written) = self.replaced(cx, only) {
                return Poll::Ready(written);
            }
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The answer to write instead of `head` when `head` is one of hyper's bodyless 4xx answers.
fn replacement_for(head: &[u8]) -> Option<Vec<u8>> {
    // Cheap test first: every response write passes through here.
    if !head.starts_with(b"HTTP/1.1 4") || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let text = &text[..text.len() - 4];
    if text.contains("\r\n\r\n") {
        return None;
    }
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.get(9..12)?.parse().ok()?;
    let mut kept = Vec::new();
    let mut empty_body = false;
    for line in lines {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") {
            empty_body = value.trim() == "0";
        } else if !name.eq_ignore_ascii_case("content-type") {
            kept.push(line);
        }
    }
    if !empty_body {
        return None;
    }
    let body = outcome_for(status).to_operation_outcome().to_string();
    let mut out = format!(
        "{status_line}\r\ncontent-type: application/fhir+json; charset=utf-8\r\ncontent-length: {}\r\n",
        body.len()
    );
    for line in kept {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&body);
    Some(out.into_bytes())
}

fn outcome_for(status: u16) -> FhirError {
    match status {
        414 => FhirError::new(
            ErrorKind::TooLarge,
            "The request URI is longer than this server reads (64 KiB); send a long search as \
             POST [type]/_search with the parameters in a form body",
        ),
        431 => FhirError::new(
            ErrorKind::TooLarge,
            "The request's headers are larger than this server reads",
        ),
        400 => FhirError::invalid(
            "The request is not valid HTTP/1.1: its request line or a header could not be parsed",
        ),
        _ => FhirError::invalid(format!(
            "The request could not be read (HTTP {status} before the request reached the server)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn split(answer: &[u8]) -> (String, Value) {
        let text = String::from_utf8(answer.to_vec()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(length, body.len());
        (head.to_string(), serde_json::from_str(body).unwrap())
    }

    #[test]
    fn hypers_bodyless_answers_become_outcomes() {
        let hyper_414 = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Fri, 27 Nov 2026 10:46:50 GMT\r\n\r\n";
        let (head, body) = split(&replacement_for(hyper_414).unwrap());
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains("\r\nconnection: close"), "{head}");
        assert!(head.contains("\r\ndate: Fri, 27 Nov 2026"), "{head}");
        assert!(
            head.contains("content-type: application/fhir+json"),
            "{head}"
        );
        assert_eq!(body["resourceType"], "OperationOutcome");
        assert_eq!(body["issue"][0]["code"], "too-long");
        assert!(body["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("_search"));

        let hyper_400 =
            b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        let (_, body) = split(&replacement_for(hyper_400).unwrap());
        assert_eq!(body["issue"][0]["code"], "invalid");
    }

    #[test]
    fn other_writes_pass_untouched() {
        // A 4xx with its OperationOutcome, in one buffer or as the head alone.
        assert!(
            replacement_for(b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}").is_none()
        );
        assert!(
            replacement_for(b"HTTP/1.1 404 Not Found\r\ncontent-length: 120\r\n\r\n").is_none()
        );
        // Bodyless answers that are not errors.
        assert!(replacement_for(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(replacement_for(b"HTTP/1.1 304 Not Modified\r\n\r\n").is_none());
        // Body bytes that happen to look like a head.
        assert!(replacement_for(b"{\"a\":\"HTTP/1.1 400 x\r\n\r\n\"}").is_none());
        // A header without a value.
        assert!(replacement_for(b"HTTP/1.1 400 Bad Request\r\ncontent-length\r\n\r\n").is_none());
        // A 4xx head with no length (chunked).
        assert!(
            replacement_for(b"HTTP/1.1 400 Bad Request\r\ntransfer-encoding: chunked\r\n\r\n")
                .is_none()
        );
    }
}
