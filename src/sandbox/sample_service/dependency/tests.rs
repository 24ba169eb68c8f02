use super::*;

#[test]
fn the_breaker_opens_after_three_failures_then_tries_again_after_a_while() {
    let t0 = Instant::now();
    let mut b = Breaker::new(BreakerMode::On);
    b.failure(t0);
    b.failure(t0);
    assert_eq!(b.state(t0), BreakerState::Closed);
    b.failure(t0);
    assert_eq!(b.state(t0), BreakerState::Open);
    assert!(!b.allows(t0 + Duration::from_millis(100)));
    let later = t0 + OPEN_FOR;
    assert_eq!(b.state(later), BreakerState::HalfOpen);
    assert!(b.allows(later));
    // A failed trial opens it again at once.
    b.failure(later);
    assert_eq!(b.state(later), BreakerState::Open);
    b.success();
    assert_eq!(b.state(later), BreakerState::Closed);
    assert_eq!(BreakerState::Open.gauge(), 2.0);
}

#[test]
fn a_stuck_breaker_never_opens() {
    let t0 = Instant::now();
    let mut b = Breaker::new(BreakerMode::Stuck);
    for _ in 0..50 {
        b.failure(t0);
    }
    assert_eq!(b.state(t0), BreakerState::Closed);
    assert_eq!(BreakerMode::parse("").unwrap(), BreakerMode::On);
    assert_eq!(BreakerMode::parse("stuck").unwrap(), BreakerMode::Stuck);
    assert!(BreakerMode::parse("sometimes")
        .unwrap_err()
        .contains("on, stuck or off"));
}

fn dependency(upstream: String, mode: BreakerMode) -> Dependency {
    Dependency {
        name: "DATABASE_URL".into(),
        upstream,
        mode,
        breaker: std::sync::Mutex::new(Breaker::new(mode)),
    }
}

/// A listener that answers every line (`echo`) or accepts and never answers.
async fn listener(echo: bool) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = l.accept().await {
            if echo {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            } else {
                held.push(s);
            }
        }
    });
    addr
}

#[tokio::test]
async fn calls_succeed_against_an_echo_and_degrade_once_a_hung_dependency_opens_the_breaker() {
    let ok = dependency(listener(true).await, BreakerMode::On);
    assert_eq!(
        ok.call(|_| panic!("no retry needed")).await,
        CallOutcome::Ok
    );
    assert_eq!(ok.gauge(), Some(0.0));

    let hung = dependency(listener(false).await, BreakerMode::On);
    let mut retries = 0;
    let first = hung
        .call(|e| {
            assert!(e.contains("did not answer"), "{e}");
            retries += 1;
        })
        .await;
    assert!(matches!(first, CallOutcome::Failed(_)), "{first:?}");
    assert_eq!(retries, 1, "one retry before giving up");
    // Two more failed calls open the breaker; then requests are degraded, at once.
    for _ in 0..2 {
        let _ = hung.call(|_| {}).await;
    }
    assert_eq!(hung.gauge(), Some(2.0));
    let started = Instant::now();
    assert_eq!(
        hung.call(|_| panic!("no call while open")).await,
        CallOutcome::Degraded
    );
    assert!(started.elapsed() < CALL_TIMEOUT);

    let stuck = dependency(listener(false).await, BreakerMode::Stuck);
    for _ in 0..4 {
        assert!(matches!(stuck.call(|_| {}).await, CallOutcome::Failed(_)));
    }
    assert_eq!(stuck.gauge(), Some(0.0), "exported, never open");
    let off = dependency(listener(true).await, BreakerMode::Off);
    assert_eq!(off.gauge(), None, "no breaker, no metric");
}
