//! A plain-HTTP view of the fake for tests: JSON requests and a reader for
//! newline-delimited streams (watch events, followed logs).

use std::time::Duration;

use serde_json::{json, Value};

use super::FakeKube;

/// A reqwest client with a 20 s timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// GET; the status code and the body as JSON (null if not JSON).
pub async fn get_json(kube: &FakeKube, path: &str) -> (u16, Value) {
    let resp = client()
        .get(format!("{}{path}", kube.url()))
        .send()
        .await
        .unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap_or(Value::Null))
}

/// POST a JSON body; the status code and the JSON body.
pub async fn post_json(kube: &FakeKube, path: &str, body: &Value) -> (u16, Value) {
    let resp = client()
        .post(format!("{}{path}", kube.url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap_or(Value::Null))
}

/// PATCH with this content type; the status code and the JSON body.
pub async fn patch(kube: &FakeKube, path: &str, content_type: &str, body: &str) -> (u16, Value) {
    let resp = client()
        .patch(format!("{}{path}", kube.url()))
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap())
}

/// Reads a chunked newline-delimited stream line by line.
pub struct Lines {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl Lines {
    /// GET `path` and expect 200.
    pub async fn open(kube: &FakeKube, path: &str) -> Lines {
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", kube.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        Lines {
            resp,
            buf: Vec::new(),
        }
    }

    /// The next line, `None` at the end of the stream.
    pub async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(String::from_utf8(line[..i].to_vec()).unwrap());
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.resp.chunk())
                .await
                .expect("stream stalled");
            match chunk {
                Ok(Some(c)) => self.buf.extend_from_slice(&c),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    pub async fn event(&mut self) -> Value {
        let line = self.next().await.expect("an event");
        serde_json::from_str(&line).unwrap()
    }

    /// The next event that is not a BOOKMARK.
    pub async fn change(&mut self) -> Value {
        loop {
            let ev = self.event().await;
            if ev["type"] != "BOOKMARK" {
                return ev;
            }
        }
    }
}

/// The `name`s of the entries of `doc[field]` (`resources`, `groups`).
pub fn names<'a>(doc: &'a Value, field: &str) -> Vec<&'a str> {
    doc[field]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect()
}

/// The entry of `doc[field]` with this `name`.
pub fn named<'a>(doc: &'a Value, field: &str, name: &str) -> &'a Value {
    doc[field]
        .as_array()
        .expect("a list")
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {field}"))
}

/// `v` is a failure `Status` with this code and reason.
pub fn assert_status(v: &Value, code: u64, reason: &str) {
    assert_eq!(v["kind"], "Status", "{v}");
    assert_eq!(v["apiVersion"], "v1");
    assert_eq!(v["metadata"], json!({}));
    assert_eq!(v["status"], "Failure");
    assert_eq!(v["reason"], reason);
    assert_eq!(v["code"], code);
    assert!(v["message"].is_string());
}
