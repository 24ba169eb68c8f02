//! The agent source against a fake Ollama (tests/support/fake_ollama.rs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::Duration;

use blissful_infra::agent::AgentEvent;
use blissful_infra::runtime::SourceState;
use support::fake_ollama::{agent_against, agent_at, AgentUnderTest};
use tokio::sync::mpsc;

async fn next_agent_event(rx: &mut mpsc::Receiver<AgentEvent>) -> AgentEvent {
    match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
        Ok(Some(ev)) => ev,
        other => panic!("no agent event: {other:?}"),
    }
}

#[tokio::test]
async fn streams_an_answer_and_sends_context_redacted_by_the_caller() {
    let AgentUnderTest {
        mut agent,
        events: mut rx,
        requests,
    } = agent_against(&["llama3.2:latest"], &["The canary ", "failed on p99."]).await;
    assert_eq!(
        next_agent_event(&mut rx).await,
        AgentEvent::State(SourceState::Ok)
    );

    agent.ask(
        vec![("user".into(), "why was v3 rolled back?".into())],
        "env staging".into(),
    );
    let mut text = String::new();
    loop {
        match next_agent_event(&mut rx).await {
            AgentEvent::Token(t) => text.push_str(&t),
            AgentEvent::Done => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(text, "The canary failed on p99.");
    let reqs = requests.lock().expect("lock").clone();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["model"], "llama3.2");
    assert_eq!(reqs[0]["stream"], true);
    let msgs = reqs[0]["messages"].as_array().expect("messages");
    assert!(msgs[0]["content"]
        .as_str()
        .unwrap_or_default()
        .contains("env staging"));
    assert_eq!(
        msgs.last().expect("last")["content"],
        "why was v3 rolled back?"
    );
}

#[tokio::test]
async fn falls_back_to_the_fallback_model() {
    let AgentUnderTest {
        mut agent,
        events: mut rx,
        requests,
    } = agent_against(&["qwen2.5:0.5b"], &["ok"]).await;
    assert_eq!(
        next_agent_event(&mut rx).await,
        AgentEvent::State(SourceState::Ok)
    );
    agent.ask(vec![("user".into(), "hi".into())], String::new());
    assert_eq!(
        next_agent_event(&mut rx).await,
        AgentEvent::Token("ok".into())
    );
    assert_eq!(next_agent_event(&mut rx).await, AgentEvent::Done);
    let models: Vec<String> = requests
        .lock()
        .expect("lock")
        .iter()
        .map(|r| r["model"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        models,
        vec!["llama3.2".to_string(), "qwen2.5:0.5b".to_string()]
    );
}

#[tokio::test]
async fn unreachable_endpoint_is_reported_plainly() {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let (mut agent, mut rx) = agent_at(addr);
    match next_agent_event(&mut rx).await {
        AgentEvent::State(SourceState::Degraded(reason)) => {
            assert!(reason.contains("unreachable"), "{reason}");
            assert!(reason.contains(&addr.to_string()), "{reason}");
        }
        other => panic!("expected Degraded, got {other:?}"),
    }
    agent.ask(vec![("user".into(), "hi".into())], String::new());
    match next_agent_event(&mut rx).await {
        AgentEvent::Failed(e) => assert!(e.contains("unavailable"), "{e}"),
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_model_is_named() {
    let mut under = agent_against(&["mistral:7b"], &[]).await;
    match next_agent_event(&mut under.events).await {
        AgentEvent::State(SourceState::Degraded(reason)) => {
            assert!(reason.contains("ollama pull llama3.2"), "{reason}")
        }
        other => panic!("expected Degraded, got {other:?}"),
    }
}
