//! `kraftwerk bench-check`: both engines on the same configurations, side by
//! side. Each run is a child process (`kraftwerk check ... --json`), so that
//! its peak memory is its own (`wait4`'s `ru_maxrss`). It prints figures and
//! asserts nothing; the machine's load average is printed with them, since
//! on a shared machine the figures move with it.

use std::process::{Command, Stdio};

/// One child run's figures.
struct Figures {
    unique: u64,
    states: u64,
    elapsed_ms: u64,
    rss_kib: i64,
    complete: bool,
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The runs of each configuration: stateright; the kraftwerk engine on
/// stateright's view (the same states, so states/s compare); and the
/// kraftwerk engine as `kraftwerk check --engine kraftwerk` runs it (the
/// wall time a user waits for the same verdicts).
const ENGINES: [(&str, &[&str]); 3] = [
    ("stateright", &["--engine", "stateright"]),
    (
        "kraftwerk",
        &["--engine", "kraftwerk", "--view", "stateright"],
    ),
    ("kw-default", &["--engine", "kraftwerk"]),
];

/// Runs `kraftwerk check FLAGS ENGINE-FLAGS --json` in a child.
fn run_child(flags: &[String], engine: &[&str]) -> Result<Figures, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find kraftwerk: {e}"))?;
    let child = Command::new(exe)
        .arg("check")
        .args(flags)
        .args(engine)
        .args(["--strategy", "dfs", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start kraftwerk check: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.expect("piped");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut out).map_err(|e| e.to_string())?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value, and wait4 writes only
    // into the two locals it is given, for a child this process started
    // and has not waited for.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if waited != pid {
        return Err("wait4 failed".into());
    }
    let last = out.lines().last().unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(last)
        .map_err(|_| format!("kraftwerk check {} printed no JSON line", flags.join(" ")))?;
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    Ok(Figures {
        unique: n("unique_states"),
        states: n("states"),
        elapsed_ms: n("elapsed_ms"),
        rss_kib: usage.ru_maxrss,
        complete: v["complete"].as_bool().unwrap_or(false),
    })
}

fn rate(f: &Figures) -> f64 {
    f.states as f64 / (f.elapsed_ms.max(1) as f64 / 1000.0)
}

/// Runs every configuration (model flags, one string each) on both
/// engines with `extra` checker flags; returns the exit code.
pub fn bench_check(configs: &[String], extra: &[String]) -> i32 {
    let configs: Vec<String> = if configs.is_empty() {
        crate::cli::default_suite()
            .iter()
            .map(|c| c.args().join(" "))
            .collect()
    } else {
        configs.to_vec()
    };
    println!("load average at start: {}", load_average());
    println!(
        "{:<44} {:<10} {:>10} {:>11} {:>10} {:>8} {:>8} {:>9} {:>9}",
        "config", "engine", "unique", "states", "states/s", "wall s", "RSS MiB", "complete", "load"
    );
    let mut totals = [0u64; 3];
    for c in &configs {
        let mut flags: Vec<String> = c.split_whitespace().map(String::from).collect();
        flags.extend(extra.iter().cloned());
        let mut figs = Vec::new();
        for (k, (engine, engine_flags)) in ENGINES.iter().enumerate() {
            match run_child(&flags, engine_flags) {
                Ok(f) => {
                    println!(
                        "{:<44} {:<10} {:>10} {:>11} {:>10.0} {:>8.2} {:>8.1} {:>9} {:>9}",
                        c,
                        engine,
                        f.unique,
                        f.states,
                        rate(&f),
                        f.elapsed_ms as f64 / 1000.0,
                        f.rss_kib as f64 / 1024.0,
                        if f.complete { "yes" } else { "NO" },
                        load_average().split(' ').next().unwrap_or("?"),
                    );
                    totals[k] += f.elapsed_ms;
                    figs.push(f);
                }
                Err(e) => {
                    eprintln!("kraftwerk: error: {e}");
                    return crate::cli::EXIT_CHECKER;
                }
            }
        }
        if let [sr, kw, kd] = &figs[..] {
            println!(
                "{:<44} kraftwerk/stateright: states/s x{:.2} (same view), wall time x{:.2} shorter \
                 (x{:.2} with the default view), unique {} / {} / {}",
                "",
                rate(kw) / rate(sr),
                sr.elapsed_ms as f64 / kw.elapsed_ms.max(1) as f64,
                sr.elapsed_ms as f64 / kd.elapsed_ms.max(1) as f64,
                sr.unique,
                kw.unique,
                kd.unique
            );
        }
    }
    println!(
        "total check time: stateright {:.2}s, kraftwerk {:.2}s (x{:.2} shorter), kraftwerk with \
         its default view {:.2}s (x{:.2} shorter); load average at end: {}",
        totals[0] as f64 / 1000.0,
        totals[1] as f64 / 1000.0,
        totals[0] as f64 / totals[1].max(1) as f64,
        totals[2] as f64 / 1000.0,
        totals[0] as f64 / totals[2].max(1) as f64,
        load_average()
    );
    crate::cli::EXIT_OK
}
