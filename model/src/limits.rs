//! Limits on a search — states, time, resident memory — and the means to
//! stop stateright's checkers when one is reached.
//!
//! stateright 0.31 offers `target_state_count` and `timeout`, but neither
//! stops where it says: a worker checks the state count only after a
//! block of 1,500 expanded states (tens of thousands of generated ones),
//! and the timeout closes the job market, which a lone breadth-first
//! worker never visits again (its whole queue is its own). Its checkers
//! have no stop handle either. So the search runs on [`Guarded`], a thin
//! wrapper around the model with a shared [`Control`]:
//!
//! - [`Guarded::within_boundary`] counts every state the checker keeps (the
//!   count stateright reports as its state count) and, past the state
//!   limit, refuses the state and stops the search: the limit is exact;
//! - once stopped, [`Guarded::actions`] offers nothing, so the states
//!   already queued are not expanded, and a hidden "always" property
//!   ([`STOP_PROPERTY`]) fails, which the checker's `finish_when` waits
//!   for: every worker ends within one block of queued states, without
//!   expanding any of them.
//!
//! Time and memory are watched by the polling loop in [`crate::run`]
//! ([`Limits::exceeded`], every 50 ms), which calls [`Control::stop`].
//! Breadth-first search keeps whole states in its queue (about 2 KB each),
//! so without a memory ceiling it grows until the kernel kills it.

use crate::model::{KwModel, KwState};
use stateright::{Expectation, Model, Path, Property};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The name of the hidden property that fails once the search is stopped.
pub const STOP_PROPERTY: &str = "(search stopped)";

/// Shared between the checker's workers and the thread that watches them.
#[derive(Debug, Default)]
pub struct Control {
    stopped: AtomicBool,
    /// Actions are offered again (after the search, to rebuild paths).
    replaying: AtomicBool,
    reason: Mutex<Option<String>>,
    kept: AtomicUsize,
    max_states: Option<usize>,
}

impl Control {
    /// A control with an optional limit on kept states.
    pub fn new(max_states: Option<usize>) -> Arc<Control> {
        Arc::new(Control {
            max_states,
            ..Control::default()
        })
    }

    /// Stops the search; the first reason given is the one reported.
    pub fn stop(&self, reason: String) {
        let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_none() {
            *r = Some(reason);
        }
        self.stopped.store(true, Ordering::SeqCst);
    }

    /// True once [`Control::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Why the search was stopped, if it was.
    pub fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// After the search: offer every action again, so that discoveries'
    /// paths can be rebuilt (the stop stays recorded).
    pub fn replay(&self) {
        self.replaying.store(true, Ordering::SeqCst);
    }

    fn blocked(&self) -> bool {
        self.is_stopped() && !self.replaying.load(Ordering::Relaxed)
    }
}

/// The model as the checker sees it: the same states, actions and
/// properties, plus the stop described in the module comment.
#[derive(Clone)]
pub struct Guarded {
    /// The model itself.
    pub inner: KwModel,
    properties: Vec<Property<KwModel>>,
    control: Arc<Control>,
}

impl Guarded {
    /// Wraps `inner`; fails if it has more properties than this wrapper
    /// can carry.
    pub fn new(inner: KwModel, control: Arc<Control>) -> Result<Guarded, String> {
        let properties = crate::wrap::checked_properties(&inner)?;
        Ok(Guarded {
            inner,
            properties,
            control,
        })
    }

    /// The names of the properties whose discovery is a failure (and the
    /// stop), for `finish_when` with stop-at-the-first-violation.
    pub fn failure_names(&self) -> std::collections::BTreeSet<&'static str> {
        self.properties
            .iter()
            .filter(|p| p.expectation.discovery_is_failure())
            .map(|p| p.name)
            .chain([STOP_PROPERTY])
            .collect()
    }
}

fn not_stopped(m: &Guarded, _: &KwState) -> bool {
    !m.control.is_stopped()
}

impl crate::wrap::Wraps for Guarded {
    fn inner(&self) -> &KwModel {
        &self.inner
    }

    fn inner_properties(&self) -> &[Property<KwModel>] {
        &self.properties
    }
}

impl Model for Guarded {
    type State = KwState;
    type Action = <KwModel as Model>::Action;

    fn init_states(&self) -> Vec<KwState> {
        self.inner.init_states()
    }

    fn actions(&self, state: &KwState, actions: &mut Vec<Self::Action>) {
        if !self.control.blocked() {
            self.inner.actions(state, actions);
        }
    }

    fn next_state(&self, last: &KwState, action: Self::Action) -> Option<KwState> {
        self.inner.next_state(last, action)
    }

    fn format_action(&self, action: &Self::Action) -> String {
        self.inner.format_action(action)
    }

    fn format_step(&self, last: &KwState, action: Self::Action) -> Option<String> {
        self.inner.format_step(last, action)
    }

    fn as_svg(&self, path: Path<KwState, Self::Action>) -> Option<String> {
        self.inner.as_svg(path)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut v = crate::wrap::properties(self);
        v.push(Property {
            expectation: Expectation::Always,
            name: STOP_PROPERTY,
            condition: not_stopped,
        });
        v
    }

    fn within_boundary(&self, state: &KwState) -> bool {
        if self.control.blocked() || !Model::within_boundary(&self.inner, state) {
            return false;
        }
        let kept = self.control.kept.fetch_add(1, Ordering::Relaxed) + 1;
        match self.control.max_states {
            Some(max) if kept > max => {
                self.control.kept.fetch_sub(1, Ordering::Relaxed);
                self.control
                    .stop(format!("state limit {} reached", thousands(max as u64)));
                false
            }
            _ => true,
        }
    }
}

/// Time and memory limits, checked from a polling loop.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Wall time allowed.
    pub time: Option<Duration>,
    /// Resident memory allowed, in bytes.
    pub memory_bytes: Option<u64>,
}

impl Limits {
    /// The reason to stop, if a limit is exceeded `elapsed` after the start.
    pub fn exceeded(&self, started: Instant) -> Option<String> {
        if let Some(t) = self.time {
            if started.elapsed() >= t {
                return Some(format!("time limit {} s reached", t.as_secs()));
            }
        }
        if let (Some(max), Some(rss)) = (self.memory_bytes, resident_bytes()) {
            if rss >= max {
                return Some(format!(
                    "memory limit {} reached: {} resident",
                    bytes_text(max),
                    bytes_text(rss)
                ));
            }
        }
        None
    }
}

/// This process's resident memory, from `/proc/self/statm` (Linux).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

/// The memory this process may use: the machine's (`MemTotal`), or its
/// control group's limit when that is lower.
pub fn available_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let total_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let total = total_kb * 1024;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    Some(cgroup.map_or(total, |c| c.min(total)))
}

/// The default memory ceiling: half of [`available_bytes`].
pub fn default_memory_limit() -> Option<u64> {
    available_bytes().map(|b| b / 2)
}

/// Parses a size: `4G`, `512M`, `1.5GiB`, `100000K`, or plain bytes.
/// Units are binary (K = 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || "not a size (expected e.g. 4G, 512M or 1.5G)".to_string();
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit
        .strip_suffix("IB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(&unit);
    let scale: u64 = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(bad()),
    };
    let bytes = number * scale as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err("must be positive".to_string());
    }
    Ok(bytes as u64)
}

/// `12.0 GiB`, `512 MiB`.
pub fn bytes_text(b: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    if b as f64 >= GIB {
        format!("{:.1} GiB", b as f64 / GIB)
    } else {
        format!("{:.0} MiB", b as f64 / MIB)
    }
}

/// `1,391,785`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("0G").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("4X").is_err());
        assert!(parse_size("-1G").is_err());
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(62738), "62,738");
        assert_eq!(thousands(1391785), "1,391,785");
    }

    #[test]
    fn resident_memory_is_readable() {
        let rss = resident_bytes().expect("/proc/self/statm");
        assert!(rss > 1 << 20, "{rss}");
        assert!(available_bytes().expect("/proc/meminfo") > rss);
    }
}
