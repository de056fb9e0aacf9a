use kraftwerk_model::config::{ModelConfig, NetworkKind};
use kraftwerk_model::model::build;
use stateright::Model;
use std::collections::BTreeMap;
fn main() {
    let mut cfg = ModelConfig::default_raft();
    cfg.crashes = 0;
    cfg.max_term = 1;
    cfg.protocol = kraftwerk_model::config::Protocol::Kraft;
    cfg.network = NetworkKind::UnorderedNonduplicating;
    let m = build(&cfg);
    let mut hist: BTreeMap<String, usize> = BTreeMap::new();
    let mut acts: BTreeMap<String, usize> = BTreeMap::new();
    let mut seed: u64 = 12345;
    let mut rnd = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut total_inflight = 0;
    for _ in 0..20000 {
        let mut s = m.init_states().pop().unwrap();
        for _ in 0..80 {
            let steps: Vec<_> = m
                .next_steps(&s)
                .into_iter()
                .filter(|(_, st)| Model::within_boundary(&m, st))
                .collect();
            if steps.is_empty() {
                break;
            }
            let (a, st) = steps[rnd(steps.len())].clone();
            let k = format!("{:?}", a);
            let k = k
                .split(|c| c == '{' || c == '(')
                .next()
                .unwrap()
                .to_string();
            let k = if k.starts_with("Deliver") {
                let d = format!("{:?}", a);
                let msg = d
                    .split("msg: ")
                    .nth(1)
                    .unwrap_or("")
                    .split('{')
                    .next()
                    .unwrap()
                    .to_string();
                format!("Deliver {msg}")
            } else {
                k
            };
            *acts.entry(k).or_default() += 1;
            s = st;
        }
        for env in s.network.iter_all() {
            let d = format!("{}", env.msg.0);
            let kind = d.split('{').next().unwrap().to_string();
            *hist.entry(kind).or_default() += 1;
            total_inflight += 1;
        }
    }
    {
        let mut s = m.init_states().pop().unwrap();
        for _ in 0..80 {
            let steps: Vec<_> = m
                .next_steps(&s)
                .into_iter()
                .filter(|(_, st)| Model::within_boundary(&m, st))
                .collect();
            if steps.is_empty() {
                break;
            }
            let (_, st) = steps[rnd(steps.len())].clone();
            s = st;
        }
        for a in &s.actor_states {
            println!("{:?}", a);
        }
        println!("{:?}", s.history);
        for env in s.network.iter_all() {
            println!("  {:?} -> {:?}: {}", env.src, env.dst, env.msg.0);
        }
    }
    println!(
        "avg in flight at depth 25: {:.2}",
        total_inflight as f64 / 20000.0
    );
    for (k, v) in hist {
        println!("inflight {k}: {:.2}", v as f64 / 20000.0);
    }
    for (k, v) in acts {
        println!("action {k}: {v}");
    }
}
