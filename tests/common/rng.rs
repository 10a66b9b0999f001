//! A tiny deterministic generator (xorshift64) for building test and benchmark layouts; shared
//! by the integration tests and the benchmarks with `#[path]`.

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    #[allow(dead_code)] // not every user needs it
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
