//! The smoke check before a blue-green switch: real requests straight to the
//! new version's instances, before any user traffic reaches them.

use std::net::SocketAddr;

use crate::router::probe::get_status;

/// Requests sent in one smoke check (enough that a version failing a
/// quarter of its requests is caught nearly always).
const SMOKE_REQUESTS: usize = 40;

/// `Ok(summary)` when at most `max_error_rate` of the requests failed
/// (5xx or no answer), else why not.
pub async fn smoke_check(
    endpoints: &[SocketAddr],
    paths: &[String],
    max_error_rate: f64,
) -> Result<String, String> {
    if endpoints.is_empty() {
        return Err("smoke check: no ready instance to send requests to".into());
    }
    let default_path = ["/".to_string()];
    let paths = if paths.is_empty() {
        &default_path[..]
    } else {
        paths
    };
    let mut failed = 0usize;
    for n in 0..SMOKE_REQUESTS {
        let addr = endpoints[n % endpoints.len()];
        let path = &paths[n % paths.len()];
        match get_status(addr, path).await {
            Some(code) if code < 500 => {}
            _ => failed += 1,
        }
    }
    let rate = failed as f64 / SMOKE_REQUESTS as f64;
    let summary = format!(
        "smoke check: {failed}/{SMOKE_REQUESTS} requests failed (error rate {:.2}%, threshold {:.2}%)",
        rate * 100.0,
        max_error_rate * 100.0
    );
    if rate > max_error_rate {
        Err(summary)
    } else {
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_to_ask_fails_the_smoke_check() {
        let r = smoke_check(&[], &[], 0.01).await;
        assert!(r.unwrap_err().contains("no ready instance"));
    }

    #[tokio::test]
    async fn a_closed_port_fails_every_request() {
        // Bind then drop: the port is very likely closed afterwards.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let r = smoke_check(&[addr], &["/".into()], 0.05).await;
        let e = r.unwrap_err();
        assert!(e.contains("40/40 requests failed"), "{e}");
        assert!(e.contains("threshold 5.00%"), "{e}");
    }
}
