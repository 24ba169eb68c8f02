//! A bounded uniform sample of a latency stream.

use super::RESERVOIR_CAPACITY;

/// A uniform random sample of at most `capacity` values from a stream of
/// unknown length (Algorithm R): memory stays bounded whatever the run length.
#[derive(Debug)]
pub struct Reservoir {
    capacity: usize,
    seen: u64,
    items: Vec<u64>,
    rng: fastrand::Rng,
}

impl Reservoir {
    pub fn new(capacity: usize, seed: u64) -> Self {
        Reservoir {
            capacity,
            seen: 0,
            items: Vec::with_capacity(capacity.min(RESERVOIR_CAPACITY)),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn offer(&mut self, value: u64) {
        self.seen += 1;
        if self.items.len() < self.capacity {
            self.items.push(value);
        } else if self.capacity > 0 {
            // Keep the new value with probability capacity / seen.
            let j = self.rng.u64(0..self.seen);
            if let Ok(j) = usize::try_from(j) {
                if j < self.capacity {
                    self.items[j] = value;
                }
            }
        }
    }

    /// Values offered so far (kept or not).
    pub fn seen(&self) -> u64 {
        self.seen
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn samples(&self) -> &[u64] {
        &self.items
    }
    pub fn take(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservoir_stays_bounded_and_uniform() {
        let mut r = Reservoir::new(100, 9);
        for v in 0..100_000u64 {
            r.offer(v);
        }
        assert_eq!(r.len(), 100);
        assert_eq!(r.seen(), 100_000);
        // A uniform sample of 0..100000 has its mean near 50000.
        let mean = r.samples().iter().sum::<u64>() as f64 / 100.0;
        assert!((35_000.0..65_000.0).contains(&mean), "mean = {mean}");
        let mut small = Reservoir::new(10, 1);
        for v in 0..5u64 {
            small.offer(v);
        }
        assert_eq!(small.take(), vec![0, 1, 2, 3, 4]);
        assert!(small.is_empty());
        let mut none = Reservoir::new(0, 1);
        none.offer(1);
        assert_eq!((none.len(), none.seen()), (0, 1));
    }
}
