//! The leak simulation: memory that grows at a set rate up to a cap.

#[allow(unused_imports)]
use super::*;

/// Bytes to allocate this tick given what is held, the carried-over fraction,
/// the per-tick rate and the cap. Returns (bytes, new carry).
pub(super) fn growth_step(held: u64, carry: f64, per_tick: f64, cap: u64) -> (u64, f64) {
    let want = carry + per_tick.max(0.0);
    let room = cap.saturating_sub(held);
    let whole = want.floor();
    let bytes = (whole as u64).min(room);
    let carry = if room == 0 { 0.0 } else { want - whole };
    (bytes, carry)
}

/// Allocate `n` bytes and write to every page so they become resident.
pub(super) fn touch_alloc(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    let page = crate::sandbox::procstat::page_size().max(1) as usize;
    for i in (0..n).step_by(page) {
        v[i] = 1;
    }
    std::hint::black_box(v)
}

/// Simulate a leak at `memory_growth_mib_per_min` until shutdown; `None` when the rate is 0.
pub fn spawn_memory_growth(state: Arc<SampleServiceState>) -> Option<JoinHandle<()>> {
    let rate = state.opts.memory_growth_mib_per_min;
    if rate <= 0.0 {
        return None;
    }
    let per_tick = rate * 1024.0 * 1024.0 / 60.0 * MEMORY_TICK.as_secs_f64();
    let mut closing = state.closing.subscribe();
    Some(tokio::spawn(async move {
        let mut held: Vec<Vec<u8>> = Vec::new();
        let mut total = 0u64;
        let mut carry = 0.0;
        let mut capped = false;
        let mut tick = tokio::time::interval(MEMORY_TICK);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = wait_true(&mut closing) => break,
            }
            let (bytes, c) = growth_step(total, carry, per_tick, MEMORY_GROWTH_CAP);
            carry = c;
            if bytes == 0 {
                if total >= MEMORY_GROWTH_CAP && !capped {
                    capped = true;
                    state.log_lifecycle(
                        "warn",
                        "memory growth reached its 1 GiB cap",
                        json!({ "bytes": total }),
                    );
                }
                continue;
            }
            // Touching pages can take a few ms for big chunks; keep it off the async workers.
            match tokio::task::spawn_blocking(move || touch_alloc(bytes as usize)).await {
                Ok(chunk) => {
                    total += chunk.len() as u64;
                    held.push(chunk);
                    state.leaked_bytes.store(total, Ordering::Relaxed);
                }
                Err(_) => break,
            }
        }
        drop(held);
        state.leaked_bytes.store(0, Ordering::Relaxed);
    }))
}
