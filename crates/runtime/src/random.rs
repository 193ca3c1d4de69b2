//! `Math.random` for every realm, from the host. QuickJS seeds each realm's own generator once,
//! when the realm is created: realms created before a `fork()` (an engine template's adaptor
//! realm) would hand every forked process the same numbers. The host's generator is seeded
//! from the OS on first use and again after [`reseed_random`], which a process that forks
//! calls in the child.

use std::sync::Mutex;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

static GENERATOR: Mutex<Option<SmallRng>> = Mutex::new(None);

/// A uniform number in `[0, 1)`.
pub(crate) fn next_f64() -> f64 {
    let mut slot = GENERATOR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    slot.get_or_insert_with(SmallRng::from_os_rng).random()
}

/// Forgets the generator's state: the next number comes from a generator seeded from the OS
/// again. Call it in a forked child before it runs anything.
pub fn reseed_random() {
    let mut slot = GENERATOR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *slot = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_in_range_and_differ_after_a_reseed() {
        let a: Vec<f64> = (0..4).map(|_| next_f64()).collect();
        assert!(a.iter().all(|x| (0.0..1.0).contains(x)));
        reseed_random();
        let b: Vec<f64> = (0..4).map(|_| next_f64()).collect();
        assert_ne!(a, b);
    }
}
