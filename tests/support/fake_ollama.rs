//! FAKE Ollama server for tests only (never part of the product). It replays
//! the documented Ollama HTTP API formats: `GET /api/tags` and the NDJSON
//! stream of `POST /api/chat`, including the 404 error body for a missing model.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use blissful_infra::agent::{Agent, AgentEvent};
use blissful_infra::config::AgentConfig;
use tokio::sync::mpsc;

use super::serving::{bind_free, Restartable};

#[derive(Clone, Default)]
pub struct FakeOllama {
    /// Models reported by /api/tags.
    pub models: Vec<String>,
    /// Chunks streamed for every chat answer.
    pub answer_chunks: Vec<String>,
    /// Chat requests received (raw JSON), for assertions.
    pub requests: Arc<Mutex<Vec<serde_json::Value>>>,
    /// When not empty, the n-th chat answer (the last one for later
    /// questions) is these NDJSON lines byte for byte, each sent on its own
    /// after `chunk_gap`, then the closing `done` line: a hostile model's
    /// stream, invalid UTF-8 and all.
    pub raw_answers: Vec<Vec<Vec<u8>>>,
    pub chunk_gap: Duration,
}

/// One streamed chat line whose content is `content` JSON-escaped by hand:
/// `"`, `\` and C0 controls are escaped, every other byte (invalid UTF-8
/// too) is left as it is.
pub fn raw_chat_line(model: &str, content: &[u8]) -> Vec<u8> {
    let mut line = format!(
        r#"{{"model":"{model}","created_at":"2026-11-23T10:00:00.000000000Z","message":{{"role":"assistant","content":""#
    )
    .into_bytes();
    for &b in content {
        match b {
            b'"' => line.extend_from_slice(b"\\\""),
            b'\\' => line.extend_from_slice(b"\\\\"),
            0..=0x1f | 0x7f => line.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => line.push(b),
        }
    }
    line.extend_from_slice(br#""},"done":false}"#);
    line
}

pub async fn serve(fake: FakeOllama) -> SocketAddr {
    let server = FakeOllamaServer::start(fake).await;
    let addr = server.addr;
    // Serves until the test ends.
    std::mem::forget(server);
    addr
}

/// An agent under test: the agent, the events it sends, and the chat
/// requests its fake Ollama received.
pub struct AgentUnderTest {
    pub agent: Agent,
    pub events: mpsc::Receiver<AgentEvent>,
    pub requests: Arc<Mutex<Vec<serde_json::Value>>>,
}

/// Serve a fake Ollama that offers `models` and streams `chunks` for every
/// answer, and start an agent pointed at it.
pub async fn agent_against(models: &[&str], chunks: &[&str]) -> AgentUnderTest {
    let fake = FakeOllama {
        models: models.iter().map(|m| m.to_string()).collect(),
        answer_chunks: chunks.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    };
    let requests = fake.requests.clone();
    let addr = serve(fake).await;
    let (agent, events) = agent_at(addr);
    AgentUnderTest {
        agent,
        events,
        requests,
    }
}

/// An agent with the default settings pointed at `addr`, and its events.
pub fn agent_at(addr: SocketAddr) -> (Agent, mpsc::Receiver<AgentEvent>) {
    let cfg = AgentConfig {
        endpoint: format!("http://{addr}"),
        ..Default::default()
    };
    let (tx, rx) = mpsc::channel(64);
    (Agent::start(cfg, tx), rx)
}

/// A fake Ollama that can go away and come back on the same address.
pub struct FakeOllamaServer {
    pub addr: SocketAddr,
    serving: Restartable,
}

impl FakeOllamaServer {
    pub async fn start(fake: FakeOllama) -> FakeOllamaServer {
        let listener = bind_free("fake ollama").await;
        let app = Router::new()
            .route("/api/tags", get(tags))
            .route("/api/chat", post(chat))
            .with_state(fake);
        let serving = Restartable::serve("fake ollama", listener, app);
        FakeOllamaServer {
            addr: serving.addr(),
            serving,
        }
    }

    /// Stop answering: the port refuses connections, open ones are closed.
    pub async fn stop(&mut self) {
        self.serving.stop().await;
    }

    /// Answer again on the same address.
    pub async fn restart(&mut self) {
        self.serving.restart().await;
    }
}

async fn tags(State(f): State<FakeOllama>) -> impl IntoResponse {
    let models: Vec<serde_json::Value> = f
        .models
        .iter()
        .map(|m| {
            serde_json::json!({
                "name": m, "model": m, "modified_at": "2026-10-01T10:00:00.000000000Z",
                "size": 2019393189u64, "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
                "details": {"format": "gguf", "family": "llama", "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}
            })
        })
        .collect();
    Json(serde_json::json!({ "models": models }))
}

async fn chat(State(f): State<FakeOllama>, Json(req): Json<serde_json::Value>) -> Response {
    let model = req["model"].as_str().unwrap_or_default().to_string();
    let asked = {
        let mut requests = f.requests.lock().expect("lock");
        requests.push(req);
        requests.len()
    };
    let known = f
        .models
        .iter()
        .any(|m| m == &model || m.split(':').next() == Some(model.as_str()));
    if !known {
        let body = serde_json::json!({ "error": format!("model \"{model}\" not found, try pulling it first") });
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    }
    if let Some(lines) = f
        .raw_answers
        .get(asked - 1)
        .or(f.raw_answers.last())
        .cloned()
    {
        return raw_stream(lines, done_line(&model), f.chunk_gap);
    }
    let mut ndjson = String::new();
    for chunk in &f.answer_chunks {
        let line = serde_json::json!({
            "model": model, "created_at": "2026-11-23T10:00:00.000000000Z",
            "message": {"role": "assistant", "content": chunk}, "done": false
        });
        ndjson.push_str(&line.to_string());
        ndjson.push('\n');
    }
    ndjson.push_str(&done_line(&model));
    ndjson.push('\n');
    Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(Body::from(ndjson))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The closing line of a chat stream.
fn done_line(model: &str) -> String {
    serde_json::json!({
        "model": model, "created_at": "2026-11-23T10:00:01.000000000Z",
        "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop",
        "total_duration": 4883583458u64, "load_duration": 1334875u64, "prompt_eval_count": 26,
        "prompt_eval_duration": 342546000u64, "eval_count": 282, "eval_duration": 4535599000u64
    })
    .to_string()
}

/// `lines` then `done`, each with its newline as one chunk of the body.
fn raw_stream(lines: Vec<Vec<u8>>, done: String, gap: Duration) -> Response {
    let mut chunks: Vec<Vec<u8>> = lines;
    chunks.push(done.into_bytes());
    let stream = futures::stream::unfold(chunks.into_iter(), move |mut rest| async move {
        let mut chunk = rest.next()?;
        chunk.push(b'\n');
        tokio::time::sleep(gap).await;
        Some((
            Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(chunk)),
            rest,
        ))
    });
    Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
