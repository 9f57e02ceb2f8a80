//! Every response of the agent's kube client passes through a JSON depth limiter.
//!
//! serde_json refuses documents nested deeper than 128 levels, and kube decodes a whole list
//! as one document. A single CR nested that deep (the apiserver takes up to 10,000 levels in a
//! free-form field; the webhook denies it, but it may have been down) would make every list of
//! its kind fail, so after a restart the agent would never finish its initial list: no CR of
//! that kind, and through readiness no CR at all, would be served again. The limiter replaces
//! any object or array deeper than [`MAX_DEPTH`] with a marker string while the bytes stream
//! by; the CR then decodes, fails L1's nesting limit (32 levels), and is marked Stalled like
//! any other invalid CR, and its kind is served as usual. Kubernetes objects are never nested
//! anywhere near this deep, so nothing else is touched.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// Deepest object or array passed through, counted from the top of the response (a list adds
/// three levels above an object's own: the list, `items`, the item).
pub const MAX_DEPTH: usize = 100;

/// What stands in for a subtree nested deeper than [`MAX_DEPTH`].
pub const MARKER: &[u8] = b"\"tsbridge: nested deeper than 100 levels\"";

/// The depth limiter's state over one response body (which may hold many JSON documents, as
/// a watch stream does). It never looks back, so any split of the bytes into chunks gives
/// the same output.
#[derive(Debug, Default, Clone)]
pub struct Limiter {
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Inside a replaced subtree: how many of its objects and arrays are open.
    skipping: usize,
}

impl Limiter {
    /// Appends the limited form of `input` to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &byte in input {
            if self.in_string {
                if self.skipping == 0 {
                    out.push(byte);
                }
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            if self.skipping > 0 {
                match byte {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.skipping += 1,
                    b'}' | b']' => self.skipping -= 1,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => {
                    self.in_string = true;
                    out.push(byte);
                }
                b'{' | b'[' if self.depth >= MAX_DEPTH => {
                    self.skipping = 1;
                    out.extend_from_slice(MARKER);
                }
                b'{' | b'[' => {
                    self.depth += 1;
                    out.push(byte);
                }
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    out.push(byte);
                }
                _ => out.push(byte),
            }
        }
    }
}

/// A response body read through a [`Limiter`].
#[derive(Debug)]
pub struct Limited<B> {
    inner: B,
    limiter: Limiter,
}

impl<B> Limited<B> {
    /// Wraps `inner`.
    pub fn new(inner: B) -> Limited<B> {
        Limited {
            inner,
            limiter: Limiter::default(),
        }
    }
}

impl<B> Body for Limited<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    let mut out = Vec::with_capacity(data.len());
                    this.limiter.feed(&data, &mut out);
                    Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        // The length may change; nothing is promised.
        SizeHint::default()
    }
}

/// The agent's kube client for `config`: kube's default stack, every response body limited.
pub fn client(config: kube::Config) -> Result<kube::Client, kube::Error> {
    let limit = tower::util::MapResponseLayer::new(
        |response: http::Response<Box<kube::client::DynBody>>| {
            let (mut parts, body) = response.into_parts();
            // The body may shrink: its old length no longer holds.
            parts.headers.remove(http::header::CONTENT_LENGTH);
            http::Response::from_parts(parts, Limited::new(body))
        },
    );
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&limit)
        .build())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn limited(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut limiter = Limiter::default();
        let mut out = Vec::new();
        for part in input.chunks(chunk) {
            limiter.feed(part, &mut out);
        }
        out
    }

    fn deep(levels: usize) -> Value {
        let mut value = json!("leaf");
        for _ in 0..levels {
            value = json!({ "a": [value] });
        }
        value
    }

    #[test]
    fn ordinary_json_passes_unchanged_in_any_chunking() {
        let text = serde_json::to_vec(&json!({
            "items": [{ "metadata": { "name": "x" }, "spec": {
                "s": "quotes \" and brackets [{ }] \\\\ and \\\" inside", "n": [1, 2.5, null, true],
            } }],
        }))
        .expect("JSON");
        for chunk in [1, 2, 3, 7, text.len()] {
            assert_eq!(limited(&text, chunk), text, "chunks of {chunk}");
        }
    }

    #[test]
    fn deep_subtrees_become_a_marker_and_the_rest_stays() {
        // A watch stream: one event too deep for serde_json between two ordinary ones.
        let events = [
            json!({ "type": "ADDED", "object": { "name": "before" } }),
            json!({ "type": "ADDED", "object": { "name": "deep", "spec": deep(150) } }),
            json!({ "type": "ADDED", "object": { "name": "after" } }),
        ];
        let mut stream = Vec::new();
        for event in &events {
            stream.extend(serde_json::to_vec(event).expect("JSON"));
            stream.push(b'\n');
        }
        assert!(serde_json::from_slice::<Value>(&stream[stream.len() / 3..]).is_err());
        for chunk in [1, 5, 4096] {
            let out = limited(&stream, chunk);
            let decoded: Vec<Value> = serde_json::Deserializer::from_slice(&out)
                .into_iter()
                .collect::<Result<_, _>>()
                .expect("every event decodes");
            assert_eq!(decoded[0], events[0]);
            assert_eq!(decoded[2], events[2]);
            let mut cursor = &decoded[1]["object"]["spec"];
            let mut depth = 3;
            while let Some(inner) = cursor.get("a").or_else(|| cursor.get(0)) {
                cursor = inner;
                depth += 1;
            }
            assert_eq!(
                depth,
                MAX_DEPTH + 1,
                "the marker stands where the limit was passed"
            );
            assert_eq!(
                cursor.as_str(),
                Some("tsbridge: nested deeper than 100 levels")
            );
        }
    }
}
