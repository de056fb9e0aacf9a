//! A model configuration: which protocol, how many servers, and the bounds
//! that make the state space finite. Every bound is explicit and enforced by
//! `within_boundary`, never by search depth.

use kraftwerk_specs::bugs::Bug;
use kraftwerk_specs::membership::{Mode, VoterChange};
use kraftwerk_specs::protocol::ProtocolKind;
use kraftwerk_specs::quorum::Majority;
use kraftwerk_specs::types::NodeId;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// The protocol under check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Raft, push-based (AppendEntries).
    Raft,
    /// KRaft, pull-based (Fetch).
    Kraft,
}

/// How the model's network treats messages (stateright's three networks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkKind {
    /// Any order; a sent message stays deliverable forever (duplicates).
    UnorderedDuplicating,
    /// Any order; each sent message is delivered at most once.
    UnorderedNonduplicating,
    /// FIFO per (sender, receiver) pair, each message at most once.
    Ordered,
}

impl NetworkKind {
    /// Every accepted `--network` value.
    pub const NAMES: &'static [&'static str] = &[
        "unordered-duplicating",
        "unordered-nonduplicating",
        "ordered",
    ];

    /// Parses a `--network` value.
    pub fn parse(s: &str) -> Result<NetworkKind, String> {
        match s {
            "unordered-duplicating" => Ok(NetworkKind::UnorderedDuplicating),
            "unordered-nonduplicating" => Ok(NetworkKind::UnorderedNonduplicating),
            "ordered" => Ok(NetworkKind::Ordered),
            _ => Err(format!(
                "unknown network '{s}' (expected one of: {})",
                NetworkKind::NAMES.join(", ")
            )),
        }
    }

    /// The `--network` spelling.
    pub fn name(self) -> &'static str {
        match self {
            NetworkKind::UnorderedDuplicating => "unordered-duplicating",
            NetworkKind::UnorderedNonduplicating => "unordered-nonduplicating",
            NetworkKind::Ordered => "ordered",
        }
    }
}

impl Protocol {
    /// The specs' name for this protocol.
    pub fn kind(self) -> ProtocolKind {
        match self {
            Protocol::Raft => ProtocolKind::Raft,
            Protocol::Kraft => ProtocolKind::Kraft,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Raft => "raft",
            Protocol::Kraft => "kraft",
        })
    }
}

/// Membership change under check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reconfig {
    /// Fixed voters.
    None,
    /// Joint consensus.
    Joint,
    /// One server at a time.
    Single,
}

impl Reconfig {
    /// Parses a `--reconfig` value.
    pub fn parse(s: &str) -> Result<Reconfig, String> {
        match s {
            "none" => Ok(Reconfig::None),
            "joint" => Ok(Reconfig::Joint),
            "single" => Ok(Reconfig::Single),
            _ => Err(format!(
                "unknown reconfig '{s}' (expected none, joint or single)"
            )),
        }
    }

    /// The `--reconfig` spelling.
    pub fn name(self) -> &'static str {
        match self {
            Reconfig::None => "none",
            Reconfig::Joint => "joint",
            Reconfig::Single => "single",
        }
    }

    /// The core's mode (joint for `None`, where it is never used).
    pub fn mode(self) -> Mode {
        match self {
            Reconfig::Single => Mode::Single,
            _ => Mode::Joint,
        }
    }
}

/// The administrator's plan: groups sent one after another (a group once
/// every request of the one before is answered); the requests of a group
/// are sent together; each request is a list of voter changes.
///
/// Spelled `+3,-0` (add n3; once done, remove n0), `-3|-2` (both removals
/// requested at once) or `+3-0` (one request replacing n0 by n3: a joint
/// change).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Plan(pub Vec<Vec<Vec<VoterChange>>>);

impl Plan {
    /// The default plan for `servers` voters: replace server 0 by a new
    /// server `servers`. One-server mode adds the new server, then removes
    /// server 0 (`+3,-0`); joint consensus makes it one change (`+3-0`,
    /// C_old,new = {0,1,2} and {1,2,3}), which is what it exists for, and
    /// which exhausts where the two-change plan does not (measured: 2.1
    /// million states in 81 s against more than 3 million unfinished
    /// after 5 minutes).
    pub fn default_for(reconfig: Reconfig, servers: usize) -> Plan {
        let add = VoterChange::Add(NodeId(servers as u32));
        let remove = VoterChange::Remove(NodeId(0));
        match reconfig {
            Reconfig::Joint => Plan(vec![vec![vec![add, remove]]]),
            _ => Plan(vec![vec![vec![add]], vec![vec![remove]]]),
        }
    }

    /// Parses a `--changes` value.
    pub fn parse(s: &str) -> Result<Plan, String> {
        let bad = |why: &str| format!("bad --changes '{s}': {why} (example: +3,-0 or -3|-2)");
        let mut groups = Vec::new();
        for group in s.split(',') {
            let mut requests = Vec::new();
            for request in group.split('|') {
                let mut changes = Vec::new();
                let mut rest = request.trim();
                if rest.is_empty() {
                    return Err(bad("empty request"));
                }
                while !rest.is_empty() {
                    let (sign, tail) = rest.split_at(1);
                    let digits = tail.chars().take_while(|c| c.is_ascii_digit()).count();
                    if digits == 0 {
                        return Err(bad("each change is + or - and a server number"));
                    }
                    let id: u32 = tail[..digits].parse().map_err(|_| bad("server number"))?;
                    changes.push(match sign {
                        "+" => VoterChange::Add(NodeId(id)),
                        "-" => VoterChange::Remove(NodeId(id)),
                        _ => return Err(bad("each change is + or - and a server number")),
                    });
                    rest = &tail[digits..];
                }
                requests.push(changes);
            }
            groups.push(requests);
        }
        Ok(Plan(groups))
    }

    /// Every request, in plan order.
    pub fn requests(&self) -> impl Iterator<Item = &Vec<VoterChange>> {
        self.0.iter().flatten()
    }

    /// The highest server number the plan names.
    pub fn max_id(&self) -> Option<u32> {
        self.requests()
            .flatten()
            .map(|c| match *c {
                VoterChange::Add(n) | VoterChange::Remove(n) => n.0,
            })
            .max()
    }

    /// The voters once every change is made, in plan order.
    pub fn final_voters(&self, bootstrap: &Majority) -> Majority {
        let all: Vec<VoterChange> = self.requests().flatten().copied().collect();
        kraftwerk_specs::membership::apply(bootstrap, &all)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups: Vec<String> = self
            .0
            .iter()
            .map(|g| {
                g.iter()
                    .map(|r| r.iter().map(|c| c.to_string().replace('n', "")).collect())
                    .collect::<Vec<String>>()
                    .join("|")
            })
            .collect();
        write!(f, "{}", groups.join(","))
    }
}

/// One model configuration and its bounds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelConfig {
    /// The protocol.
    pub protocol: Protocol,
    /// Number of bootstrap voters, 1 to 7.
    pub servers: usize,
    /// Membership change, if any.
    pub reconfig: Reconfig,
    /// The administrator's plan under `--reconfig joint|single` (it bounds
    /// the number of changes).
    pub changes: Plan,
    /// No server's term (epoch) exceeds this.
    pub max_term: u64,
    /// Client requests, each proposed once (and retried by duplication).
    pub values: usize,
    /// Total crashes (each followed by an optional recovery) over a run.
    pub crashes: usize,
    /// The network semantics.
    pub network: NetworkKind,
    /// Whether the network may also drop messages.
    pub lossy: bool,
    /// Whether a leader's heartbeat timer (Raft: AppendEntries to every
    /// follower; KRaft: BeginQuorumEpoch resends) is armed. Off, the timer
    /// never fires: a schedule every real network allows (heartbeats as
    /// slow as you like). On a network that loses nothing, what a
    /// heartbeat sends is a copy of what the leader sent already, so
    /// turning it off loses only schedules that re-deliver such copies;
    /// it divides the membership models by hundreds (measured: 655,000 to
    /// 801 states for two voters and a spare).
    pub heartbeats: bool,
    /// Raft only: a new leader appends a no-op entry of its term
    /// (`raft::Config::leader_noop`; on in production, and under
    /// membership change, where a one-server change waits for an entry of
    /// the leader's term).
    pub leader_noop: bool,
    /// KRaft only: servers that fetch but never vote, after the voters.
    pub observers: usize,
    /// KRaft only: KIP-996 pre-vote.
    pub pre_vote: bool,
    /// KRaft only: a leader resigns without fetches from a majority.
    pub check_quorum: bool,
    /// Catalogued bugs switched on.
    pub bugs: BTreeSet<Bug>,
}

impl ModelConfig {
    /// The default Raft configuration checked by a bare `kraftwerk check`.
    ///
    /// 3 servers, one term, one client request, one crash (and recovery),
    /// and an unordered duplicating network, which reorders, duplicates and
    /// — since a message may never be delivered — loses messages. It is the
    /// largest Raft configuration that stateright exhausts in well under a
    /// minute on 2 cores (386 thousand states); a second term multiplies
    /// the state space past what a minute can hold, so the two-term checks
    /// are run with `--max-term 2` (see the README for their cost).
    ///
    /// This and the other `default_*` constructors are the protocols as
    /// published (Figure 2, KIP-595); [`ModelConfig::production`] turns on
    /// what `kraftwerk-node` adds.
    pub fn default_raft() -> ModelConfig {
        ModelConfig {
            protocol: Protocol::Raft,
            servers: 3,
            reconfig: Reconfig::None,
            changes: Plan::default(),
            max_term: 1,
            values: 1,
            crashes: 1,
            network: NetworkKind::UnorderedDuplicating,
            lossy: false,
            heartbeats: true,
            leader_noop: false,
            observers: 0,
            pre_vote: false,
            check_quorum: false,
            bugs: BTreeSet::new(),
        }
    }

    /// The default KRaft configuration: 3 voters, one epoch, no client
    /// request (the leader-change record is the entry that commits), no
    /// crash, an unordered non-duplicating network. KRaft's pull protocol
    /// (fetch timers, BeginQuorumEpoch resends) has far more interleavings
    /// per epoch than Raft: this is what exhausts in under half a minute.
    pub fn default_kraft() -> ModelConfig {
        ModelConfig {
            protocol: Protocol::Kraft,
            values: 0,
            crashes: 0,
            network: NetworkKind::UnorderedNonduplicating,
            ..ModelConfig::default_raft()
        }
    }

    /// The defaults of `protocol`.
    pub fn default_for(protocol: Protocol) -> ModelConfig {
        match protocol {
            Protocol::Raft => ModelConfig::default_raft(),
            Protocol::Kraft => ModelConfig::default_kraft(),
        }
    }

    /// The default membership-change configuration of `protocol`: one
    /// term, no client request, no crash, an unordered non-duplicating
    /// network, heartbeats off, and the plan [`Plan::default_for`]: replace
    /// voter n0 by a spare server.
    ///
    /// Raft starts from 3 voters and a spare n3. KRaft starts from 1 voter
    /// and a spare n1 (an observer until it is added): its fetch timer
    /// makes every extra server cost far more than in Raft, and with 2
    /// voters and a spare neither mode exhausted in 2 minutes (measured).
    /// Raft turns the leader no-op on under membership change: it is the
    /// entry of its own term a new leader commits before a one-server
    /// change, as the dissertation prescribes.
    pub fn default_reconfig(protocol: Protocol, reconfig: Reconfig) -> ModelConfig {
        let servers = match protocol {
            Protocol::Raft => 3,
            Protocol::Kraft => 1,
        };
        ModelConfig {
            servers,
            reconfig,
            changes: Plan::default_for(reconfig, servers),
            leader_noop: protocol == Protocol::Raft,
            values: 0,
            crashes: 0,
            network: NetworkKind::UnorderedNonduplicating,
            heartbeats: false,
            ..ModelConfig::default_for(protocol)
        }
    }

    /// The same bounds in the configuration `kraftwerk-node` runs
    /// (`AnyConfig::production`): Raft with the leader's no-op; KRaft with
    /// pre-vote (KIP-996) and check-quorum.
    pub fn production(self) -> ModelConfig {
        let raft = self.protocol == Protocol::Raft;
        ModelConfig {
            leader_noop: raft,
            pre_vote: !raft,
            check_quorum: !raft,
            ..self
        }
    }

    /// `kraftwerk check` flags that describe this configuration exactly
    /// (what `kraftwerk bench-check` hands its child runs).
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = [
            "--protocol",
            self.protocol.kind().name(),
            "--servers",
            &self.servers.to_string(),
            "--max-term",
            &self.max_term.to_string(),
            "--values",
            &self.values.to_string(),
            "--crashes",
            &self.crashes.to_string(),
            "--network",
            self.network.name(),
            "--heartbeats",
            if self.heartbeats { "on" } else { "off" },
            "--reconfig",
            self.reconfig.name(),
            "--config",
            if *self == self.clone().production() {
                "production"
            } else {
                "figure2"
            },
        ]
        .map(String::from)
        .into();
        if self.reconfig != Reconfig::None {
            a.push(format!("--changes={}", self.changes));
        }
        if self.lossy {
            a.push("--lossy".into());
        }
        if self.observers > 0 {
            a.extend(["--observers".into(), self.observers.to_string()]);
        }
        if *self != self.clone().production() {
            if self.pre_vote {
                a.push("--pre-vote".into());
            }
            if self.check_quorum {
                a.push("--check-quorum".into());
            }
        }
        for b in &self.bugs {
            a.extend(["--bug".into(), crate::bugs::name(*b).into()]);
        }
        a
    }

    /// Servers the plan adds that are not bootstrap voters (they run from
    /// the start, as non-voters that the leader replicates to).
    pub fn spares(&self) -> usize {
        if self.reconfig == Reconfig::None {
            return 0;
        }
        self.changes
            .max_id()
            .map_or(0, |m| (m as usize + 1).saturating_sub(self.servers))
    }

    /// Voters, spares and observers: the number of server actors.
    pub fn nodes(&self) -> usize {
        self.servers + self.spares() + self.observers
    }

    /// The bootstrap voters.
    pub fn bootstrap(&self) -> Majority {
        Majority::new((0..self.servers as u32).map(NodeId))
    }

    /// Rejects configurations that make no sense or cannot be checked.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=7).contains(&self.servers) {
            return Err(format!(
                "--servers must be between 1 and 7 (got {})",
                self.servers
            ));
        }
        if self.max_term == 0 {
            return Err("--max-term must be at least 1 (no election can happen in term 0)".into());
        }
        if self.max_term > 20 {
            return Err(format!(
                "--max-term must be at most 20 (got {})",
                self.max_term
            ));
        }
        if self.values > 8 {
            return Err(format!("--values must be at most 8 (got {})", self.values));
        }
        if self.protocol == Protocol::Raft
            && (self.observers > 0 || self.pre_vote || self.check_quorum)
        {
            return Err("--observers, --pre-vote and --check-quorum are KRaft options".into());
        }
        if self.protocol == Protocol::Kraft && self.leader_noop {
            return Err(
                "the leader no-op is a Raft option (KRaft's leader-change record is its own)"
                    .into(),
            );
        }
        if self.observers > 3 {
            return Err(format!(
                "--observers must be at most 3 (got {})",
                self.observers
            ));
        }
        if self.lossy && !self.heartbeats {
            return Err("--lossy needs heartbeats (they resend what the network lost)".into());
        }
        if self.reconfig == Reconfig::None && !self.changes.0.is_empty() {
            return Err("--changes needs --reconfig joint or single".into());
        }
        if self.reconfig != Reconfig::None {
            if self.nodes() > 7 {
                return Err(format!(
                    "--changes names servers up to n{}: at most 7 servers in all",
                    self.nodes() - 1
                ));
            }
            if self.changes.requests().count() > 8 {
                return Err("--changes: at most 8 requests".into());
            }
        }
        if self.crashes > self.servers {
            return Err(format!(
                "--crashes must be at most --servers ({}) (got {})",
                self.servers, self.crashes
            ));
        }
        Ok(())
    }

    /// A one-line description: `raft servers=3 max-term=2 ...`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} servers={} max-term={} values={} crashes={} network={}{}",
            self.protocol,
            self.servers,
            self.max_term,
            self.values,
            self.crashes,
            self.network.name(),
            if self.lossy { " lossy" } else { "" },
        );
        if self.reconfig != Reconfig::None {
            s.push_str(&format!(
                " reconfig={} changes={}",
                self.reconfig.name(),
                self.changes
            ));
        }
        if !self.heartbeats {
            s.push_str(" heartbeats=off");
        }
        if self.leader_noop {
            s.push_str(" leader-noop");
        }
        if self.observers > 0 {
            s.push_str(&format!(" observers={}", self.observers));
        }
        if self.pre_vote {
            s.push_str(" pre-vote");
        }
        if self.check_quorum {
            s.push_str(" check-quorum");
        }
        for b in &self.bugs {
            s.push_str(&format!(" bug={}", crate::bugs::name(*b)));
        }
        s
    }
}
