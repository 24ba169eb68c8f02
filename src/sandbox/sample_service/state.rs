//! Shared state of one instance: options, readiness, request metrics and
//! the domain events its WebSocket streams.

#[allow(unused_imports)]
use super::*;

pub(super) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(super) fn now_rfc3339_millis() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Serialize)]
pub(super) struct RequestLog<'a> {
    pub(super) ts: String,
    pub(super) level: &'a str,
    pub(super) msg: &'a str,
    pub(super) method: &'a str,
    pub(super) path: &'a str,
    pub(super) status: u16,
    pub(super) duration_ms: f64,
    pub(super) version: &'a str,
    pub(super) instance: &'a str,
    pub(super) request_id: &'a str,
}

// ---------------------------------------------------------------------------
// State and metrics

#[derive(Debug, Default)]
pub(super) struct ServiceMetrics {
    /// (method, route, status) -> count; labels come from fixed sets so the map stays small.
    pub(super) requests: HashMap<(&'static str, &'static str, u16), u64>,
    pub(super) durations: HashMap<&'static str, BucketHistogram>,
}

/// Shared state of one sample-service instance.
#[derive(Debug)]
pub struct SampleServiceState {
    pub(super) opts: SampleServiceOptions,
    pub(super) logs: LogSink,
    pub(super) events: broadcast::Sender<Arc<str>>,
    pub(super) ready: AtomicBool,
    pub(super) closing: watch::Sender<bool>,
    pub(super) metrics: Mutex<ServiceMetrics>,
    pub(super) leaked_bytes: AtomicU64,
    pub(super) events_skipped: AtomicU64,
}

impl SampleServiceState {
    pub fn new(opts: SampleServiceOptions, logs: LogSink) -> Arc<Self> {
        Self::with_event_capacity(opts, logs, EVENT_CAPACITY)
    }

    /// As [`SampleServiceState::new`] with a chosen per-subscriber event buffer.
    pub fn with_event_capacity(
        opts: SampleServiceOptions,
        logs: LogSink,
        capacity: usize,
    ) -> Arc<Self> {
        let (events, _) = broadcast::channel(capacity.max(1));
        let (closing, _) = watch::channel(false);
        Arc::new(SampleServiceState {
            opts: opts.normalized(),
            logs,
            events,
            ready: AtomicBool::new(false),
            closing,
            metrics: Mutex::new(ServiceMetrics::default()),
            leaked_bytes: AtomicU64::new(0),
            events_skipped: AtomicU64::new(0),
        })
    }

    pub fn options(&self) -> &SampleServiceOptions {
        &self.opts
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Stop reporting ready, end event streams and the memory growth task.
    pub fn begin_shutdown(&self) {
        self.set_ready(false);
        self.closing.send_replace(true);
    }

    /// Bytes currently held by the memory-growth simulation.
    pub fn leaked_bytes(&self) -> u64 {
        self.leaked_bytes.load(Ordering::Relaxed)
    }

    /// Events a lagging WebSocket subscriber had to skip, summed over subscribers.
    pub fn events_skipped(&self) -> u64 {
        self.events_skipped.load(Ordering::Relaxed)
    }

    /// Publish a domain event to WebSocket subscribers (none listening is fine).
    pub fn publish(&self, event: &DomainEvent) {
        if let Ok(text) = serde_json::to_string(event) {
            let _ = self.events.send(Arc::from(text));
        }
    }

    /// A JSON lifecycle line (`started`, `stopping`, ...) with extra fields.
    pub fn log_lifecycle(&self, level: &str, msg: &str, extra: serde_json::Value) {
        let mut line = json!({
            "ts": now_rfc3339_millis(),
            "level": level,
            "msg": msg,
            "version": self.opts.version,
            "instance": self.opts.instance,
        });
        if let (Some(obj), serde_json::Value::Object(extra)) = (line.as_object_mut(), extra) {
            obj.extend(extra);
        }
        self.logs.emit(line.to_string());
    }

    pub(super) fn record(&self, method: &'static str, route: &'static str, status: u16, secs: f64) {
        if let Ok(mut m) = self.metrics.lock() {
            *m.requests.entry((method, route, status)).or_insert(0) += 1;
            m.durations.entry(route).or_default().observe(secs);
        }
    }

    /// Prometheus text exposition of this instance.
    pub fn render_metrics(&self, rss_bytes: Option<u64>) -> String {
        let mut out = String::with_capacity(4096);
        let (mut requests, mut durations) = match self.metrics.lock() {
            Ok(m) => (
                m.requests.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
                m.durations
                    .iter()
                    .map(|(k, v)| (*k, v.clone()))
                    .collect::<Vec<_>>(),
            ),
            Err(_) => (Vec::new(), Vec::new()),
        };
        requests.sort();
        durations.sort_by(|a, b| a.0.cmp(b.0));

        write_header(
            &mut out,
            "http_requests_total",
            "counter",
            "HTTP requests handled, by method, route and status.",
        );
        for ((method, path, status), n) in &requests {
            let status = status.to_string();
            write_sample(
                &mut out,
                "http_requests_total",
                &[("method", method), ("path", path), ("status", &status)],
                *n as f64,
            );
        }
        write_header(
            &mut out,
            "http_request_duration_seconds",
            "histogram",
            "HTTP request duration, by route.",
        );
        for (path, h) in &durations {
            h.write(&mut out, "http_request_duration_seconds", &[("path", path)]);
        }
        if let Some(gauge) = self
            .opts
            .dependency
            .as_ref()
            .and_then(|d| d.gauge().map(|g| (d, g)))
        {
            let (d, value) = gauge;
            write_header(
                &mut out,
                "circuit_breaker_state",
                "gauge",
                "Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open.",
            );
            write_sample(
                &mut out,
                "circuit_breaker_state",
                &[("dependency", d.name.as_str())],
                value,
            );
        }
        if let Some(rss) = rss_bytes {
            write_header(
                &mut out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
            );
            write_sample(&mut out, "process_resident_memory_bytes", &[], rss as f64);
        }
        write_header(
            &mut out,
            "app_version_info",
            "gauge",
            "Version of this instance (always 1).",
        );
        write_sample(
            &mut out,
            "app_version_info",
            &[
                ("version", &self.opts.version),
                ("instance", &self.opts.instance),
            ],
            1.0,
        );
        write_header(
            &mut out,
            "sample_memory_growth_bytes",
            "gauge",
            "Memory held by the simulated leak.",
        );
        write_sample(
            &mut out,
            "sample_memory_growth_bytes",
            &[],
            self.leaked_bytes() as f64,
        );
        write_header(
            &mut out,
            "sample_ws_events_skipped_total",
            "counter",
            "Events skipped by lagging WebSocket subscribers.",
        );
        write_sample(
            &mut out,
            "sample_ws_events_skipped_total",
            &[],
            self.events_skipped() as f64,
        );
        write_header(
            &mut out,
            "sample_log_lines_dropped_total",
            "counter",
            "Log lines dropped because the log buffer was full.",
        );
        write_sample(
            &mut out,
            "sample_log_lines_dropped_total",
            &[],
            self.logs.dropped() as f64,
        );
        out
    }
}

/// A domain event streamed on `/ws/events`.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainEvent {
    pub event_id: String,
    pub aggregate_id: String,
    pub occurred_at: String,
    pub event_type: String,
    pub payload: serde_json::Value,
}

impl DomainEvent {
    pub fn greeting(name: &str, message: &str) -> Self {
        DomainEvent {
            event_id: random_uuid(),
            aggregate_id: name.to_string(),
            occurred_at: now_rfc3339_millis(),
            event_type: "greeting.created".to_string(),
            payload: json!({ "name": name, "message": message }),
        }
    }
}

/// A random id in UUID v4 layout.
pub(super) fn random_uuid() -> String {
    let a = fastrand::u64(..);
    let b = fastrand::u64(..);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

pub(super) fn random_hex16() -> String {
    format!("{:016x}", fastrand::u64(..))
}
