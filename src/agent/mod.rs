//! The agent source: a local LLM through Ollama (ollama-rs).
//!
//! A probe task reports the connection state; each question streams its answer
//! as `AgentEvent::Token`s. The newest question wins: asking again cancels the
//! answer still streaming. Nothing here can block or crash the console: an
//! unreachable Ollama is a `Degraded` state with a plain reason.

use std::time::Duration;

use futures::StreamExt;
use ollama_rs::generation::chat::request::ChatMessageRequest;
use ollama_rs::generation::chat::{ChatMessage, MessageRole};
use ollama_rs::models::ModelOptions;
use ollama_rs::Ollama;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::AgentConfig;
use crate::runtime::SourceState;

const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// A stream that sends nothing for this long is treated as stalled.
const CHUNK_TIMEOUT: Duration = Duration::from_secs(120);

const SYSTEM_PROMPT: &str =
    "You are the operations assistant inside blissful-infra, a console for \
local canary deployments, chaos experiments and logs. Answer briefly and concretely, using the \
environment context given. Suggest a next step (a key or a blissful-infra command) when useful.";

/// What the agent reports to whoever asked (the console wraps these in its
/// own messages; the agent does not know the console).
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    State(SourceState),
    /// A chunk of the streaming answer.
    Token(String),
    Done,
    Failed(String),
}

pub struct Agent {
    config: AgentConfig,
    client: Option<Ollama>,
    tx: mpsc::Sender<AgentEvent>,
    probe: Option<JoinHandle<()>>,
    answer: Option<JoinHandle<()>>,
}

impl Agent {
    /// Start probing the endpoint; states and answers go to `tx`.
    pub fn start(config: AgentConfig, tx: mpsc::Sender<AgentEvent>) -> Agent {
        let client = Ollama::try_new(config.endpoint.as_str()).ok();
        let mut agent = Agent {
            config,
            client,
            tx,
            probe: None,
            answer: None,
        };
        agent.probe = Some(agent.spawn_probe());
        agent
    }

    fn spawn_probe(&self) -> JoinHandle<()> {
        let tx = self.tx.clone();
        let client = self.client.clone();
        let endpoint = self.config.endpoint.clone();
        let models = [
            self.config.model.clone(),
            self.config.fallback_model.clone(),
        ];
        tokio::spawn(async move {
            let Some(client) = client else {
                let _ = tx
                    .send(AgentEvent::State(SourceState::Degraded(format!(
                        "invalid agent endpoint `{endpoint}` in config"
                    ))))
                    .await;
                return;
            };
            let mut backoff = Duration::from_secs(2);
            let mut last: Option<SourceState> = None;
            loop {
                let probed = probe_once(&client, &endpoint, &models).await;
                let ok = probed == SourceState::Ok;
                // Healthy: check now and then; unreachable: back off up to 30 s.
                let wait = if ok { Duration::from_secs(30) } else { backoff };
                let state = match probed {
                    SourceState::Degraded(why) => SourceState::retrying(why, wait),
                    other => other,
                };
                if last.as_ref() != Some(&state) {
                    if tx.send(AgentEvent::State(state.clone())).await.is_err() {
                        return;
                    }
                    last = Some(state);
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                if ok {
                    backoff = Duration::from_secs(2);
                }
                tokio::time::sleep(wait).await;
            }
        })
    }

    /// Ask a question; cancels any answer still streaming (newest wins).
    pub fn ask(&mut self, history: Vec<(String, String)>, context: String) {
        if let Some(h) = self.answer.take() {
            h.abort();
        }
        let tx = self.tx.clone();
        let Some(client) = self.client.clone() else {
            let endpoint = self.config.endpoint.clone();
            self.answer = Some(tokio::spawn(async move {
                let _ = tx
                    .send(AgentEvent::Failed(format!(
                        "invalid agent endpoint `{endpoint}`"
                    )))
                    .await;
            }));
            return;
        };
        let cfg = self.config.clone();
        self.answer = Some(tokio::spawn(async move {
            let event = match stream_answer(&client, &cfg, &history, &context, &tx).await {
                Ok(()) => AgentEvent::Done,
                Err(e) => AgentEvent::Failed(e),
            };
            let _ = tx.send(event).await;
        }));
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        for h in [self.probe.take(), self.answer.take()]
            .into_iter()
            .flatten()
        {
            h.abort();
        }
    }
}

async fn probe_once(client: &Ollama, endpoint: &str, models: &[String; 2]) -> SourceState {
    match tokio::time::timeout(PROBE_TIMEOUT, client.list_local_models()).await {
        Err(_) => SourceState::Degraded(format!(
            "Ollama unreachable at {endpoint}: no answer within 3s"
        )),
        Ok(Err(e)) => SourceState::Degraded(format!(
            "Ollama unreachable at {endpoint}: {}",
            short_error(&e)
        )),
        Ok(Ok(list)) => {
            let has = |m: &str| {
                list.iter()
                    .any(|l| l.name == m || l.name.split(':').next() == Some(m))
            };
            if has(&models[0]) || has(&models[1]) {
                SourceState::Ok
            } else {
                SourceState::Degraded(format!(
                    "model {} is not pulled at {endpoint}: run `ollama pull {}`",
                    models[0], models[0]
                ))
            }
        }
    }
}

/// The useful part of an error chain ("connection refused" rather than "Reqwest error").
fn short_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        chain.push(c.to_string());
        cur = c.source();
    }
    let all = chain.join(": ");
    let lower = all.to_ascii_lowercase();
    if lower.contains("connection refused") {
        "connection refused".into()
    } else if lower.contains("timed out") {
        "connection timed out".into()
    } else if lower.contains("dns") || lower.contains("failed to lookup") {
        "host name not found".into()
    } else {
        all.chars().take(200).collect()
    }
}

async fn stream_answer(
    client: &Ollama,
    cfg: &AgentConfig,
    history: &[(String, String)],
    context: &str,
    tx: &mpsc::Sender<AgentEvent>,
) -> Result<(), String> {
    let mut messages = vec![ChatMessage::new(
        MessageRole::System,
        format!("{SYSTEM_PROMPT}\n\nContext:\n{context}"),
    )];
    for (role, text) in history {
        let role = if role == "user" {
            MessageRole::User
        } else {
            MessageRole::Assistant
        };
        if !text.is_empty() {
            messages.push(ChatMessage::new(role, text.clone()));
        }
    }
    let options = ModelOptions::default()
        .temperature(cfg.temperature)
        .num_ctx(u64::from(cfg.context_window));
    let mut last_err = String::new();
    for model in [&cfg.model, &cfg.fallback_model] {
        let request =
            ChatMessageRequest::new(model.clone(), messages.clone()).options(options.clone());
        let mut stream = match client.send_chat_messages_stream(request).await {
            Ok(s) => s,
            Err(e) => {
                last_err = format!("{model}: {}", short_error(&e));
                continue;
            }
        };
        loop {
            match tokio::time::timeout(CHUNK_TIMEOUT, stream.next()).await {
                Err(_) => {
                    return Err(format!(
                        "{model} stopped answering for {}s",
                        CHUNK_TIMEOUT.as_secs()
                    ))
                }
                Ok(None) => return Ok(()),
                Ok(Some(Err(()))) => return Err(format!("{model}: the answer stream broke off")),
                Ok(Some(Ok(chunk))) => {
                    if !chunk.message.content.is_empty()
                        && tx
                            .send(AgentEvent::Token(chunk.message.content))
                            .await
                            .is_err()
                    {
                        return Ok(());
                    }
                    if chunk.done {
                        return Ok(());
                    }
                }
            }
        }
    }
    Err(format!("agent unavailable at {}: {last_err}", cfg.endpoint))
}
