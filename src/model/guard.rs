//! The mass-deletion rule both guards share: the MP's over an inventory diff (objects a cluster
//! originated) and the agent's over a full resync (generated objects its cluster holds).

/// True when removing `gone` of `total` objects needs confirmation: more than `share` (0–1) of
/// them, and at least `min`. A share of 0 turns the rule off.
pub fn exceeds(gone: usize, total: usize, share: f64, min: usize) -> bool {
    if share <= 0.0 || gone < min.max(1) {
        return false;
    }
    #[allow(clippy::cast_precision_loss)]
    let ratio = gone as f64 / total.max(1) as f64;
    ratio > share
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_shares_are_held_small_ones_pass() {
        assert!(exceeds(6, 10, 0.5, 5));
        assert!(
            !exceeds(5, 10, 0.5, 5),
            "exactly half is not more than half"
        );
        assert!(!exceeds(4, 4, 0.5, 5), "below the minimum count");
        assert!(!exceeds(60, 100, 0.0, 5), "share 0 turns the guard off");
        assert!(exceeds(60, 100, 0.5, 5));
        assert!(!exceeds(5, 100, 0.5, 5));
    }
}
