//! The source: one connection to the engine, the project's containers
//! listed and followed through the events stream, reconnecting with backoff.

use super::event_note::{event_note, event_subject};
use super::follow::ensure_followers;
use super::*;

async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

enum Ended {
    Stopped,
    Lost(String),
}

pub(super) async fn run_source(inner: Arc<Inner>) {
    let mut stop = inner.stop.subscribe();
    let mut backoff = BACKOFF_MIN;
    loop {
        if inner.is_stopping() {
            return;
        }
        if inner.state().source.is_none() {
            inner.set_source(SourceState::Connecting);
        }
        match engine::connect_to(inner.opts.docker_host.as_deref()).await {
            Ok(docker) => {
                backoff = BACKOFF_MIN;
                let ended = run_connected(&inner, docker, &mut stop).await;
                inner.client.send_replace(None);
                pause_followers(&inner);
                match ended {
                    Ended::Stopped => return,
                    Ended::Lost(reason) => inner.set_source(SourceState::retrying(
                        format!("connection lost: {reason}"),
                        backoff,
                    )),
                }
            }
            Err(e) => {
                inner.set_source(SourceState::retrying(e, backoff));
                // Wake `connect`, which waits for the first attempt to settle.
                inner.client.send_replace(None);
            }
        }
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn run_connected(
    inner: &Arc<Inner>,
    docker: Docker,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    let mut filters = engine::label_filters(&[(PROJECT_LABEL, &inner.opts.project)]);
    filters.insert("type".into(), vec!["container".into()]);
    // Subscribe before listing so nothing between the two is missed.
    let mut events = docker
        .events(Some(EventsOptions {
            // The request goes out when first polled, after the listing
            // below; `since` replays what happened in between.
            since: Some((chrono::Utc::now().timestamp() - 1).to_string()),
            filters: Some(filters),
            ..Default::default()
        }))
        .boxed();
    if let Err(e) = resync(inner, &docker).await {
        return Ended::Lost(e.to_string());
    }
    inner.set_source(SourceState::Ok);
    inner.client.send_replace(Some(docker.clone()));
    inner.emit_status();
    let mut tick = tokio::time::interval(RESYNC_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stopped(stop) => return Ended::Stopped,
            ev = events.next() => match ev {
                Some(Ok(msg)) => handle_event(inner, &docker, msg).await,
                Some(Err(e)) => return Ended::Lost(strip_all(&e.to_string())),
                None => return Ended::Lost("the events stream ended".into()),
            },
            _ = tick.tick() => {
                if let Err(e) = resync(inner, &docker).await {
                    return Ended::Lost(e.to_string());
                }
            }
        }
    }
}

/// List the project's containers, inspect each, start followers for the
/// running ones, forget the removed ones.
async fn resync(inner: &Arc<Inner>, docker: &Docker) -> Result<(), DockerError> {
    let list = engine::project_containers(docker, &inner.opts.project, None).await?;
    let mut views = BTreeMap::new();
    for c in &list {
        let Some(id) = c.id.as_deref() else { continue };
        match engine::inspect(docker, id).await {
            Ok(i) => {
                views.insert(id.to_string(), ContainerView::from_inspect(&i));
            }
            // Removed between list and inspect.
            Err(DockerError::Api { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let changed = {
        let mut st = inner.state();
        let changed = !st.synced || st.containers != views;
        st.containers = views.clone();
        st.stats.retain(|id, _| views.contains_key(id));
        st.synced = true;
        if changed {
            st.last_change = now_ms();
        }
        changed
    };
    {
        let mut f = lock(&inner.followers);
        f.retain(|id, fl| {
            let keep = views.contains_key(id);
            if !keep {
                if let Some(t) = fl.logs.take() {
                    t.abort();
                }
                if let Some(t) = fl.stats.take() {
                    t.abort();
                }
            }
            keep
        });
    }
    for v in views.values().filter(|v| v.running) {
        ensure_followers(inner, docker, v);
    }
    delivery::containers_changed(inner);
    if changed {
        inner.emit_status();
    }
    Ok(())
}

pub(crate) async fn refresh_container(
    inner: &Arc<Inner>,
    docker: &Docker,
    id: &str,
) -> Option<ContainerView> {
    match docker.inspect_container(id, None).await {
        Ok(i) => {
            let v = ContainerView::from_inspect(&i);
            {
                let mut st = inner.state();
                st.containers.insert(id.to_string(), v.clone());
                st.last_change = now_ms();
            }
            if v.running {
                ensure_followers(inner, docker, &v);
            }
            delivery::containers_changed(inner);
            inner.emit_status();
            Some(v)
        }
        // The engine is unreachable: what is known of the container (and
        // where its logs were read up to) stays until it answers again.
        Err(e) if !is_not_found(&e) => None,
        Err(_) => {
            {
                let mut st = inner.state();
                st.containers.remove(id);
                st.stats.remove(id);
                st.last_change = now_ms();
            }
            if let Some(f) = lock(&inner.followers).remove(id) {
                if let Some(t) = f.logs {
                    t.abort();
                }
                if let Some(t) = f.stats {
                    t.abort();
                }
            }
            delivery::containers_changed(inner);
            inner.emit_status();
            None
        }
    }
}

/// One timeline entry (a finished one-stage pipeline run) for a container event.
fn timeline(inner: &Inner, title: String, stage: &str, failed: Option<String>, detail: String) {
    let now = now_ms();
    let mut run = PipelineRun::new(
        inner.next_id(),
        PipelineKind::Container,
        ENV_NAME,
        &title,
        &[stage],
        now,
    );
    let status = match failed {
        Some(r) => StageStatus::Failed(r),
        None => StageStatus::Succeeded,
    };
    run.finish_stage(0, status.clone(), detail, now);
    run.finish(status, now);
    inner.upsert_pipeline(run);
}

async fn handle_event(inner: &Arc<Inner>, docker: &Docker, msg: EventMessage) {
    let Some((id, _)) = event_subject(&msg) else {
        return;
    };
    let known = inner.state().containers.get(&id).map(|c| c.display.clone());
    let view = refresh_container(inner, docker, &id).await;
    let display = view.as_ref().map(|v| v.display.clone()).or(known.clone());
    if let Some(n) = event_note(&msg, view.as_ref(), known) {
        if let (Some(name), "die") = (display, n.stage) {
            inner.state().last_died.insert(name, crate::clock::now_ms());
        }
        inner.log(n.level, &n.log);
        timeline(inner, n.title, n.stage, n.failed, n.detail);
    }
}

/// The engine answered that the container does not exist.
fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
