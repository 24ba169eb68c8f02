//! Followers: the logs and stats of each running container.

use super::*;
use crate::logparse::split_timestamp;

pub(super) fn ensure_followers(inner: &Arc<Inner>, docker: &Docker, v: &ContainerView) {
    let mut all = lock(&inner.followers);
    let f = all.entry(v.id.clone()).or_default();
    if f.logs.as_ref().is_none_or(|t| t.is_finished()) {
        let since = f.last_log_ns;
        f.logs = Some(tokio::spawn(follow_logs(
            inner.clone(),
            docker.clone(),
            v.clone(),
            since,
        )));
    }
    if f.stats.as_ref().is_none_or(|t| t.is_finished()) {
        f.stats = Some(tokio::spawn(follow_stats(
            inner.clone(),
            docker.clone(),
            v.id.clone(),
        )));
    }
}

async fn follow_logs(inner: Arc<Inner>, docker: Docker, v: ContainerView, since_ns: i64) {
    let (since, tail) = if since_ns > 0 {
        ((since_ns / 1_000_000_000) as i32, "all".to_string())
    } else {
        (0, INITIAL_TAIL.to_string())
    };
    let mut stream = docker.logs(
        &v.id,
        Some(LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            timestamps: true,
            since,
            tail,
            ..Default::default()
        }),
    );
    let env: Arc<str> = Arc::from(ENV_NAME);
    let version: Arc<str> = Arc::from(v.version.as_str());
    let instance: Arc<str> = Arc::from(v.display.as_str());
    let mut last_ns = since_ns;
    while let Some(item) = stream.next().await {
        let Ok(out) = item else { break };
        let bytes = out.into_bytes();
        for raw in bytes.split(|b| *b == b'\n') {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.is_empty() {
                continue;
            }
            let (ts_ns, body) = split_timestamp(raw);
            if let Some(ns) = ts_ns {
                // Shared with any other follower of this container (one may
                // still be draining an old connection): each line once.
                let mut all = lock(&inner.followers);
                let seen = all
                    .get(&v.id)
                    .map_or(last_ns, |f| f.last_log_ns.max(last_ns));
                if ns <= seen {
                    continue; // already seen before a reconnect
                }
                last_ns = ns;
                if let Some(f) = all.get_mut(&v.id) {
                    f.last_log_ns = ns;
                }
            }
            if body.is_empty() {
                continue;
            }
            inner.push_log(body_line(body, ts_ns, [&env, &version, &instance]));
        }
    }
}

/// The text of a log line (after its timestamp) as a `LogLine`, cut at
/// `MAX_LINE_BYTES`; its time is the engine's timestamp, else now.
pub(crate) fn body_line(body: &[u8], ts_ns: Option<i64>, labels: [&Arc<str>; 3]) -> LogLine {
    let [env, version, instance] = labels;
    let cut = body.len() > MAX_LINE_BYTES;
    let body = &body[..body.len().min(MAX_LINE_BYTES)];
    let now = ts_ns.map(|n| n / 1_000_000).unwrap_or_else(now_ms);
    let line = parse_log_line(body, env, version, instance, now);
    if cut {
        line.with_suffix(" …[truncated]")
    } else {
        line
    }
}

/// CPU in percent of one core and memory in MiB from one stats sample.
pub fn stats_point(s: &ContainerStatsResponse, ts: EpochMillis) -> Option<MetricPoint> {
    let cpu = s.cpu_stats.as_ref()?;
    let pre = s.precpu_stats.as_ref();
    let total = cpu.cpu_usage.as_ref()?.total_usage?;
    let pre_total = pre
        .and_then(|p| p.cpu_usage.as_ref())
        .and_then(|u| u.total_usage)
        .unwrap_or(0);
    let system = cpu.system_cpu_usage.unwrap_or(0);
    let pre_system = pre.and_then(|p| p.system_cpu_usage).unwrap_or(0);
    let online = cpu
        .online_cpus
        .map(u64::from)
        .or_else(|| {
            cpu.cpu_usage
                .as_ref()
                .and_then(|u| u.percpu_usage.as_ref())
                .map(|p| p.len() as u64)
        })
        .filter(|n| *n > 0)
        .unwrap_or(1);
    let cpu_pct = if pre_total > 0 && system > pre_system && total >= pre_total {
        (total - pre_total) as f64 / (system - pre_system) as f64 * online as f64 * 100.0
    } else {
        0.0
    };
    let mem = s.memory_stats.as_ref();
    let usage = mem.and_then(|m| m.usage).unwrap_or(0);
    let cache = mem
        .and_then(|m| m.stats.as_ref())
        .and_then(|st| {
            st.get("total_inactive_file")
                .or_else(|| st.get("inactive_file"))
                .or_else(|| st.get("cache"))
                .copied()
        })
        .unwrap_or(0);
    let mem_mib = usage.saturating_sub(cache) as f64 / (1024.0 * 1024.0);
    Some(MetricPoint {
        ts,
        cpu_pct,
        mem_mib,
        ..Default::default()
    })
}

async fn follow_stats(inner: Arc<Inner>, docker: Docker, id: String) {
    let mut stream = docker.stats(
        &id,
        Some(StatsOptions {
            stream: true,
            one_shot: false,
        }),
    );
    while let Some(item) = stream.next().await {
        let Ok(s) = item else { break };
        let Some(point) = stats_point(&s, now_ms()) else {
            continue;
        };
        let display = {
            let mut st = inner.state();
            let Some(c) = st.containers.get(&id) else {
                return;
            };
            if !c.running {
                return;
            }
            let d = c.display.clone();
            st.stats.insert(id.clone(), point.clone());
            d
        };
        inner.emit(RuntimeEvent::Metrics {
            env: ENV_NAME.into(),
            version: display,
            point,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_memory_from_a_stats_sample() {
        let json = serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 3_000_000_000u64},
                          "system_cpu_usage": 20_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000u64},
                             "system_cpu_usage": 18_000_000_000u64},
            "memory_stats": {"usage": 300 * 1024 * 1024, "stats": {"cache": 100 * 1024 * 1024}}
        });
        let s: ContainerStatsResponse = serde_json::from_value(json).unwrap();
        let p = stats_point(&s, 5).unwrap();
        // 1 s of CPU over 2 s of two CPUs' system time = one full core.
        assert!((p.cpu_pct - 100.0).abs() < 1e-9, "{}", p.cpu_pct);
        assert!((p.mem_mib - 200.0).abs() < 1e-9, "{}", p.mem_mib);
        assert_eq!(p.ts, 5);
    }
}
