//! Per-cycle safety caps: how many counterparts a plan may create and how many non-empty
//! values it may overwrite. Past either limit the plan is marked blocked unless
//! `allow_large`, and the cycle must write nothing.
//!
//! Pure counting. Must never drop or trim writes to fit under a cap: a half-applied large
//! change is worse than a refused one.

use super::plan::CapsReport;

/// Checks the counts against the limits.
pub fn check(
    creates: usize,
    overwrites: usize,
    max_creates: usize,
    max_overwrites: usize,
    allow_large: bool,
) -> CapsReport {
    let mut why = Vec::new();
    if creates > max_creates {
        why.push(format!(
            "{creates} creates exceed the limit of {max_creates} (sync.max_creates)"
        ));
    }
    if overwrites > max_overwrites {
        why.push(format!(
            "{overwrites} overwrites of non-empty values exceed the limit of {max_overwrites} (sync.max_overwrites)"
        ));
    }
    let exceeded = !why.is_empty();
    let reason = exceeded.then(|| {
        let mut r = why.join("; ");
        r.push_str(if allow_large {
            "; allowed by --allow-large"
        } else {
            "; nothing will be written (use --allow-large to proceed)"
        });
        r
    });
    CapsReport {
        creates,
        max_creates,
        overwrites,
        max_overwrites,
        exceeded,
        allow_large,
        blocked: exceeded && !allow_large,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_the_limits_nothing_is_blocked() {
        let c = check(5, 10, 5, 10, false);
        assert!(!c.exceeded && !c.blocked && c.reason.is_none());
    }

    #[test]
    fn over_a_limit_blocks_unless_allowed() {
        let c = check(6, 0, 5, 10, false);
        assert!(c.exceeded && c.blocked);
        assert!(
            c.reason
                .as_deref()
                .unwrap()
                .contains("6 creates exceed the limit of 5")
        );
        let c = check(0, 11, 5, 10, true);
        assert!(c.exceeded && !c.blocked);
        assert!(c.reason.as_deref().unwrap().contains("--allow-large"));
    }
}
