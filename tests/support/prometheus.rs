//! The real Prometheus (the Debian `prometheus` binary) as a child process
//! scraping given targets every second, killed when dropped. It can be
//! stopped and started again on the same port and storage, for drills where
//! the source goes away and comes back.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

pub struct Prometheus {
    child: Option<tokio::process::Child>,
    pub dir: tempfile::TempDir,
    pub url: String,
    port: u16,
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub fn require_prometheus() {
    match std::process::Command::new("prometheus")
        .arg("--version")
        .output()
    {
        Ok(out) if out.status.success() => {}
        other => panic!(
            "the `prometheus` binary is required by this test but could not be run \
             ({other:?}); install it with `apt-get install -y prometheus` \
             (scripts/test.sh does this)"
        ),
    }
}

/// Start Prometheus scraping `target` every second; returns once it is ready.
pub async fn start_prometheus(target: SocketAddr) -> Prometheus {
    Prometheus::start(&[target.to_string()]).await
}

impl Prometheus {
    /// Start Prometheus scraping `targets` (`host:port`) every second.
    pub async fn start(targets: &[String]) -> Prometheus {
        require_prometheus();
        let dir = tempfile::tempdir().unwrap();
        let list = targets
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        std::fs::write(
            dir.path().join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: router\n    static_configs:\n      - targets: [{list}]\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let mut p = Prometheus {
            child: None,
            dir,
            url: format!("http://127.0.0.1:{port}"),
            port,
        };
        p.restart().await;
        p
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Kill it (SIGKILL) and wait until it is gone; its port refuses connections.
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Start it (again) on the same port and storage; returns once it is ready.
    pub async fn restart(&mut self) {
        self.stop().await;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("prometheus.log"))
            .unwrap();
        let child = tokio::process::Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                self.dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("prometheus exited with {status}:\n{}", self.log());
            }
            let ready = http
                .get(format!("{}/-/ready", self.url))
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready after 60 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
