//! Progress of long work (the first backfill): an indicatif bar when standard error is a
//! terminal, periodic `info` log lines otherwise (containers, systemd, CI).
//!
//! Owns the presentation only; the caller says how far it got. Must never print customer
//! data, and never slow the work: updates are counters, lines are rate-limited.

use crate::cycle::{ProgressHook, Stage};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a log line is written when there is no terminal.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// A progress reporter for one piece of work.
#[derive(Debug)]
pub struct Progress {
    label: String,
    total: Option<u64>,
    done: u64,
    started: Instant,
    sink: Sink,
}

#[derive(Debug)]
enum Sink {
    Bar(ProgressBar),
    Log { last: Instant, every: Duration },
}

/// Whether a log line is due: `every` has passed since the last one.
pub fn line_due(last: Instant, now: Instant, every: Duration) -> bool {
    now.saturating_duration_since(last) >= every
}

/// The text of a progress log line.
pub fn line(label: &str, done: u64, total: Option<u64>, elapsed: Duration) -> String {
    let rate = if elapsed.as_secs_f64() > 0.0 {
        done as f64 / elapsed.as_secs_f64()
    } else {
        0.0
    };
    match total {
        Some(t) if t > 0 => format!(
            "{label}: {done}/{t} ({:.0}%), {rate:.0}/s",
            (done as f64) * 100.0 / (t as f64)
        ),
        _ => format!("{label}: {done} done, {rate:.0}/s"),
    }
}

impl Progress {
    /// A bar on a terminal, log lines otherwise. `total` is `None` when unknown.
    pub fn new(label: impl Into<String>, total: Option<u64>) -> Self {
        Self::with_sink(label, total, std::io::stderr().is_terminal(), LOG_EVERY)
    }

    /// Log lines every `every`, whatever standard error is (for tests and services).
    pub fn logging(label: impl Into<String>, total: Option<u64>, every: Duration) -> Self {
        Self::with_sink(label, total, false, every)
    }

    fn with_sink(label: impl Into<String>, total: Option<u64>, bar: bool, every: Duration) -> Self {
        let label = label.into();
        let sink = if bar {
            let pb = match total {
                Some(t) => ProgressBar::new(t),
                None => ProgressBar::new_spinner(),
            };
            let template = if total.is_some() {
                "{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})"
            } else {
                "{spinner} {msg} {pos} ({per_sec})"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                pb.set_style(style.progress_chars("=> "));
            }
            pb.set_message(label.clone());
            pb.enable_steady_tick(Duration::from_millis(200));
            Sink::Bar(pb)
        } else {
            Sink::Log {
                last: Instant::now(),
                every,
            }
        };
        Self {
            label,
            total,
            done: 0,
            started: Instant::now(),
            sink,
        }
    }

    /// Records `n` more items done.
    pub fn inc(&mut self, n: u64) {
        self.done = self.done.saturating_add(n);
        match &mut self.sink {
            Sink::Bar(pb) => pb.inc(n),
            Sink::Log { last, every } => {
                let now = Instant::now();
                if line_due(*last, now, *every) {
                    *last = now;
                    tracing::info!(
                        "{}",
                        line(&self.label, self.done, self.total, self.started.elapsed())
                    );
                }
            }
        }
    }

    /// Items done so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Ends the bar (or writes a last line).
    pub fn finish(self) {
        let text = line(&self.label, self.done, self.total, self.started.elapsed());
        match self.sink {
            Sink::Bar(pb) => pb.finish_with_message(format!("{} done", self.label)),
            Sink::Log { .. } => tracing::info!("{text} (finished)"),
        }
    }
}

/// Stages with fewer items than this show no progress (a routine cycle stays quiet; the
/// first backfill, which lists every record, does not).
pub const MIN_TOTAL: u64 = 200;

/// What the cycle hook does on one progress call (see [`StageTracker`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageEvent {
    /// A stage of `total` items starts showing progress.
    Start { stage: Stage, total: u64 },
    /// The shown stage got `by` items further.
    Advance { stage: Stage, by: u64 },
    /// The shown stage ends (done, replaced by another stage, or restarted) at `done`.
    Finish { stage: Stage, done: u64 },
}

/// The cycle hook's decisions, kept apart from the bar and the log lines: which stage is
/// shown, when it starts, advances and finishes. A stage change or a count going back (a
/// new run of the same stage, e.g. the follow-up apply) finishes the shown stage first.
#[derive(Debug)]
pub struct StageTracker {
    min_total: u64,
    /// The stage shown: (stage, done so far).
    current: Option<(Stage, u64)>,
}

impl StageTracker {
    /// Stages with fewer than `min_total` items are not shown.
    pub fn new(min_total: u64) -> Self {
        StageTracker {
            min_total,
            current: None,
        }
    }

    /// What to show for the progress call `(stage, done, total)`.
    pub fn observe(&mut self, stage: Stage, done: u64, total: u64) -> Vec<StageEvent> {
        let mut events = vec![];
        let restart = match self.current {
            Some((s, d)) => s != stage || done < d,
            None => true,
        };
        if restart {
            if let Some((s, d)) = self.current.take() {
                events.push(StageEvent::Finish { stage: s, done: d });
            }
            if total < self.min_total {
                return events;
            }
            self.current = Some((stage, 0));
            events.push(StageEvent::Start { stage, total });
        }
        if let Some((s, d)) = self.current.as_mut() {
            let by = done.saturating_sub(*d);
            if by > 0 {
                *d += by;
                events.push(StageEvent::Advance { stage: *s, by });
            }
            if done >= total {
                events.push(StageEvent::Finish {
                    stage: *s,
                    done: *d,
                });
                self.current = None;
            }
        }
        events
    }
}

/// A cycle [`ProgressHook`] showing each stage of at least `min_total` items with a
/// [`Progress`] (a bar on a terminal, log lines otherwise), finished when the stage ends or
/// another begins; [`StageTracker`] decides, this only draws.
pub fn cycle_hook(min_total: u64) -> ProgressHook {
    let state: Mutex<(StageTracker, Option<Progress>)> =
        Mutex::new((StageTracker::new(min_total), None));
    ProgressHook::new(move |stage, done, total| {
        let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
        let (tracker, shown) = &mut *guard;
        for event in tracker.observe(stage, done, total) {
            match event {
                StageEvent::Start { stage, total } => {
                    *shown = Some(Progress::new(stage.label(), Some(total)));
                }
                StageEvent::Advance { by, .. } => {
                    if let Some(p) = shown.as_mut() {
                        p.inc(by);
                    }
                }
                StageEvent::Finish { .. } => {
                    if let Some(p) = shown.take() {
                        p.finish();
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_show_share_and_rate() {
        assert_eq!(
            line("backfill hubspot", 250, Some(1000), Duration::from_secs(5)),
            "backfill hubspot: 250/1000 (25%), 50/s"
        );
        assert_eq!(
            line("backfill", 30, None, Duration::from_secs(3)),
            "backfill: 30 done, 10/s"
        );
        assert_eq!(line("x", 0, Some(0), Duration::ZERO), "x: 0 done, 0/s");
    }

    #[test]
    fn lines_are_rate_limited() {
        let t0 = Instant::now();
        let every = Duration::from_secs(10);
        assert!(!line_due(t0, t0 + Duration::from_secs(9), every));
        assert!(line_due(t0, t0 + Duration::from_secs(10), every));
        let mut p = Progress::logging("x", Some(10), Duration::from_secs(3600));
        p.inc(4);
        p.inc(6);
        assert_eq!(p.done(), 10);
        p.finish();
    }
}
