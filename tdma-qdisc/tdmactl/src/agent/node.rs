//! The agent's protocol as a pure state machine: feed it the clock time and
//! the announcements heard, it answers with what to send and which schedule
//! to apply when. No sockets, no clocks, so every rule is unit-tested.
//!
//! The agreement rule, and why windows of two nodes never overlap:
//!
//! * A node's *view* is itself plus every peer heard within the timeout that
//!   runs the same frame and guard. The windows of a view follow from it
//!   alone (`FrameParams::window_of`), so two nodes that run the same view
//!   never overlap.
//! * When its view differs from the one it runs (or moves to), a node makes
//!   the view its *target* and proposes the switch time
//!   `boundary_after(now + settle)`. Announcements carry (view, switch time);
//!   for its own target a node adopts the earliest proposal that it can still
//!   apply in time, and re-announces at once, so all proposals collapse to the
//!   minimum within one round.
//! * Until it switches, a node transmits only in the *interim* window: the
//!   intersection of its windows in every view it may be sharing the medium
//!   with — the view it runs plus each target since (empty if it runs none,
//!   i.e. right after start). That window lies inside its window of each of
//!   those views, so it cannot overlap anyone running any of them, nor anyone
//!   else's interim.
//! * A node *commits* (asks the qdisc to switch at the switch time) only once
//!   every other member of the target has announced that view with the same
//!   switch time (or already runs it). A member applies its interim as it
//!   announces the target, effective at the next frame boundary, while a
//!   switch time is only used if at least one frame ahead (`lead_ns`). So when
//!   a node starts using its target window, every other member has already
//!   left its old schedule for the interim (or the target): a late or lost
//!   proposal delays a switch but never makes two schedules overlap. What the rule cannot cover is a node that
//!   nobody hears but that still transmits (a one-way link): it keeps its old
//!   window. Frame parameter mismatches and duplicate names are reported.

use std::collections::{BTreeMap, BTreeSet};

use super::assign::{FrameParams, Members, intersect};
use super::wire::{Announcement, Kind, PROTOCOL_VERSION};
use crate::schedule::Window;

#[derive(Clone, Debug)]
pub struct Config {
    pub name: String,
    pub instance: u64,
    pub params: FrameParams,
    pub interval_ns: u64,
    /// A peer silent this long has left.
    pub timeout_ns: u64,
    /// How far ahead of the moment a change is noticed its switch is proposed:
    /// long enough for every member to notice it and answer.
    pub settle_ns: u64,
    /// First join: listen this long before forming a view, so the first view
    /// already holds the members heard.
    pub listen_ns: u64,
}

impl Config {
    /// A commit must reach the kernel this long before its switch time: a
    /// frame (the kernel rounds up to a boundary), and at least the time a
    /// netlink request may take on a busy host.
    pub fn lead_ns(&self) -> u64 {
        self.params.frame_ns.max(2_000_000)
    }
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Announce(Announcement),
    Apply(Decision),
    /// A notable event that changes no schedule (one stderr line).
    Note(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Until the switch: only the part of our window that is ours in every
    /// view that may be running (possibly nothing).
    Interim,
    /// The agreed schedule of `members`, from `switch_at_ns`.
    Switch,
    /// Clean exit: transmit nothing.
    Leave,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Interim => "interim",
            Phase::Switch => "switch",
            Phase::Leave => "leave",
        }
    }
}

/// One schedule decision: the window this node transmits in (if any).
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub phase: Phase,
    pub members: Members,
    pub window: Option<Window>,
    /// Exact switch time; `None`: the next frame boundary (the kernel picks).
    pub switch_at_ns: Option<u64>,
    /// The boundary `None` is expected to mean, for logs and events.
    pub effective_ns: u64,
}

#[derive(Clone, Debug)]
struct Peer {
    instance: u64,
    last_heard_ns: u64,
    view: Members,
    switch_at_ns: Option<u64>,
}

#[derive(Clone, Debug)]
struct Target {
    members: Members,
    switch_at_ns: u64,
    committed: bool,
}

#[derive(Debug)]
pub struct Node {
    cfg: Config,
    started_ns: u64,
    peers: BTreeMap<String, Peer>,
    /// (name, instance, when) of peers that said goodbye: their hellos still
    /// in flight must not bring them back.
    left: Vec<(String, u64, u64)>,
    /// The view whose schedule runs and since when; `None` before the first.
    active: Option<(Members, u64)>,
    target: Option<Target>,
    /// Views other nodes may be running now: the active one and each target
    /// since. Our interim window is our part of all of them.
    live: Vec<Members>,
    /// The interim applied last takes effect by then; a commit waits for it so
    /// the kernel never holds both changes at once.
    interim_effective_ns: u64,
    next_announce_ns: u64,
    /// Warnings already given, so a misconfigured peer is one line, not one
    /// per packet.
    warned: BTreeSet<String>,
    leaving: bool,
}

impl Node {
    pub fn new(cfg: Config, now_ns: u64) -> Node {
        Node {
            cfg,
            started_ns: now_ns,
            peers: BTreeMap::new(),
            left: Vec::new(),
            active: None,
            target: None,
            live: Vec::new(),
            interim_effective_ns: 0,
            next_announce_ns: now_ns,
            warned: BTreeSet::new(),
            leaving: false,
        }
    }

    /// The membership this node runs, if it has switched to one.
    pub fn active(&self) -> Option<&Members> {
        self.active.as_ref().map(|(m, _)| m)
    }

    /// Time passes: time out peers, start or finish a change, announce.
    pub fn tick(&mut self, now_ns: u64) -> Vec<Action> {
        let mut out = Vec::new();
        if self.leaving {
            return out;
        }
        self.expire(now_ns, &mut out);
        self.evaluate(now_ns, &mut out);
        if now_ns >= self.next_announce_ns {
            self.announce(now_ns, &mut out);
        }
        out
    }

    /// One datagram arrived (already decoded).
    pub fn receive(&mut self, now_ns: u64, a: Announcement) -> Vec<Action> {
        let mut out = Vec::new();
        if self.leaving {
            return out;
        }
        if a.name == self.cfg.name {
            if a.instance != self.cfg.instance {
                self.warn_once(
                    format!(
                        "another node also calls itself {:?}: names must be unique",
                        a.name
                    ),
                    &mut out,
                );
            }
            return out; // our own broadcast, looped back
        }
        let params = FrameParams {
            frame_ns: a.frame_ns,
            guard_ns: a.guard_ns,
        };
        if params != self.cfg.params {
            self.warn_once(
                format!(
                    "{} runs frame {}ns guard {}ns, we run frame {}ns guard {}ns: ignoring it",
                    a.name,
                    a.frame_ns,
                    a.guard_ns,
                    self.cfg.params.frame_ns,
                    self.cfg.params.guard_ns
                ),
                &mut out,
            );
            self.peers.remove(&a.name);
            self.evaluate(now_ns, &mut out);
            return out;
        }
        match a.kind {
            Kind::Leave => {
                if self.peers.remove(&a.name).is_some() {
                    out.push(Action::Note(format!("{} left", a.name)));
                }
                self.left.push((a.name, a.instance, now_ns));
            }
            Kind::Hello => {
                if self
                    .left
                    .iter()
                    .any(|(n, i, _)| *n == a.name && *i == a.instance)
                {
                    return out;
                }
                let view = Members::new(a.view);
                match self.peers.get(&a.name) {
                    None => out.push(Action::Note(format!("heard {}", a.name))),
                    Some(p) if p.instance != a.instance => {
                        out.push(Action::Note(format!("{} restarted", a.name)));
                    }
                    Some(_) => {}
                }
                self.adopt_earlier(now_ns, &view, a.switch_at_ns, &mut out);
                self.peers.insert(
                    a.name,
                    Peer {
                        instance: a.instance,
                        last_heard_ns: now_ns,
                        view,
                        switch_at_ns: a.switch_at_ns,
                    },
                );
            }
        }
        self.evaluate(now_ns, &mut out);
        out
    }

    /// Clean exit: say goodbye and stop transmitting. Peers reconfigure
    /// without waiting for the timeout.
    pub fn leave(&mut self, now_ns: u64) -> Vec<Action> {
        self.leaving = true;
        let members = self.active().cloned().unwrap_or_default();
        vec![
            Action::Announce(self.announcement(Kind::Leave)),
            Action::Apply(Decision {
                phase: Phase::Leave,
                members,
                window: None,
                switch_at_ns: None,
                effective_ns: self.cfg.params.boundary_after(now_ns),
            }),
        ]
    }

    fn expire(&mut self, now_ns: u64, out: &mut Vec<Action>) {
        let timeout = self.cfg.timeout_ns;
        let gone: Vec<String> = self
            .peers
            .iter()
            .filter(|(_, p)| now_ns.saturating_sub(p.last_heard_ns) > timeout)
            .map(|(n, _)| n.clone())
            .collect();
        for name in gone {
            self.peers.remove(&name);
            out.push(Action::Note(format!("{name} timed out")));
        }
        self.left
            .retain(|(_, _, t)| now_ns.saturating_sub(*t) <= timeout);
    }

    /// The view this node is heading for: the target, else the active one.
    fn goal(&self) -> Option<&Members> {
        self.target.as_ref().map(|t| &t.members).or(self.active())
    }

    fn evaluate(&mut self, now_ns: u64, out: &mut Vec<Action>) {
        if now_ns < self.started_ns + self.cfg.listen_ns {
            return;
        }
        let view =
            Members::new(std::iter::once(self.cfg.name.clone()).chain(self.peers.keys().cloned()));
        if self.goal() != Some(&view) {
            self.retarget(now_ns, view, out);
        }
        self.try_commit(now_ns, out);
        self.finish_switch(now_ns, out);
    }

    /// Our view changed: propose a switch and fall back to the interim window.
    fn retarget(&mut self, now_ns: u64, view: Members, out: &mut Vec<Action>) {
        if let Err(e) = self.cfg.params.window_of(&view, &self.cfg.name) {
            // Every node computes the same error for this view, so none
            // switches to it; they all keep what they run.
            self.warn_once(
                format!("not switching to [{}]: {e}", view.names().join(",")),
                out,
            );
            return;
        }
        let own = self.cfg.params.boundary_after(now_ns + self.cfg.settle_ns);
        let earliest = self
            .peers
            .values()
            .filter(|p| p.view == view)
            .filter_map(|p| p.switch_at_ns)
            .filter(|&s| self.feasible(now_ns, s))
            .fold(own, u64::min);
        if !self.live.contains(&view) {
            self.live.push(view.clone());
        }
        out.push(Action::Note(format!(
            "membership [{}]: proposing switch at {earliest}",
            view.names().join(",")
        )));
        self.target = Some(Target {
            members: view.clone(),
            switch_at_ns: earliest,
            committed: false,
        });
        let window = match &self.active {
            // Not scheduled yet: we are in nobody's running view, so nothing is ours.
            None => None,
            // The kernel stops `guard` before a window's end: a shorter
            // intersection could not send anything.
            Some(_) => intersect(self.live.iter().map(|v| self.window_in(v)))
                .filter(|w| w.length_ns > self.cfg.params.guard_ns),
        };
        let effective = self.cfg.params.boundary_after(now_ns);
        self.interim_effective_ns = effective + self.cfg.params.frame_ns;
        out.push(Action::Apply(Decision {
            phase: Phase::Interim,
            members: view,
            window,
            switch_at_ns: None,
            effective_ns: effective,
        }));
        self.announce(now_ns, out);
    }

    /// The earliest proposal for our target wins, if we can still make it.
    fn adopt_earlier(
        &mut self,
        now_ns: u64,
        view: &Members,
        proposal: Option<u64>,
        out: &mut Vec<Action>,
    ) {
        let Some(s) = proposal else { return };
        let feasible = self.feasible(now_ns, s);
        let Some(t) = self.target.as_mut() else {
            return;
        };
        if t.committed || t.members != *view || s >= t.switch_at_ns || !feasible {
            return;
        }
        t.switch_at_ns = s;
        self.announce(now_ns, out);
    }

    fn feasible(&self, now_ns: u64, switch_at_ns: u64) -> bool {
        switch_at_ns >= now_ns + self.cfg.lead_ns()
    }

    /// Commit once every other member announces our target and switch time
    /// (or already runs the target); re-propose when the time agreed on can
    /// no longer be made.
    fn try_commit(&mut self, now_ns: u64, out: &mut Vec<Action>) {
        let Some(t) = &self.target else { return };
        if t.committed || now_ns < self.interim_effective_ns {
            return;
        }
        let mut confirmed = true;
        let mut all_run_it = true;
        for name in t.members.names().iter().filter(|n| **n != self.cfg.name) {
            match self.peers.get(name) {
                Some(p) if p.view == t.members => match p.switch_at_ns {
                    // Announced as running since then (committed before us).
                    Some(s) if s <= now_ns => {}
                    Some(s) if s == t.switch_at_ns => all_run_it = false,
                    _ => (confirmed, all_run_it) = (false, false),
                },
                _ => (confirmed, all_run_it) = (false, false),
            }
        }
        let mut at = t.switch_at_ns;
        if !self.feasible(now_ns, at) {
            if !all_run_it {
                // Too late for the agreed time: propose a new one; the others
                // do the same and the earliest wins again.
                let again = self.cfg.params.boundary_after(now_ns + self.cfg.settle_ns);
                out.push(Action::Note(format!(
                    "switch at {at} missed; proposing {again}"
                )));
                if let Some(t) = self.target.as_mut() {
                    t.switch_at_ns = again;
                }
                self.announce(now_ns, out);
                return;
            }
            // Everyone else already runs it: join them as soon as we can.
            at = self.cfg.params.boundary_after(now_ns + self.cfg.lead_ns());
        } else if !confirmed {
            return;
        }
        let members = t.members.clone();
        let window = self.window_in(&members);
        if let Some(t) = self.target.as_mut() {
            t.committed = true;
            t.switch_at_ns = at;
        }
        out.push(Action::Apply(Decision {
            phase: Phase::Switch,
            members,
            window,
            switch_at_ns: Some(at),
            effective_ns: at,
        }));
        self.announce(now_ns, out);
    }

    /// A committed switch time has passed: the target is what runs now.
    fn finish_switch(&mut self, now_ns: u64, out: &mut Vec<Action>) {
        let Some(t) = &self.target else { return };
        if !t.committed || now_ns < t.switch_at_ns {
            return;
        }
        let t = self.target.take().expect("checked above");
        out.push(Action::Note(format!(
            "running [{}]",
            t.members.names().join(",")
        )));
        self.live = vec![t.members.clone()];
        self.active = Some((t.members, t.switch_at_ns));
    }

    fn window_in(&self, view: &Members) -> Option<Window> {
        // Views are checked by `retarget` before they become live.
        self.cfg
            .params
            .window_of(view, &self.cfg.name)
            .ok()
            .flatten()
    }

    fn announcement(&self, kind: Kind) -> Announcement {
        let (view, switch_at_ns) = match (&self.target, &self.active) {
            (Some(t), _) => (t.members.names().to_vec(), Some(t.switch_at_ns)),
            (None, Some((m, since))) => (m.names().to_vec(), Some(*since)),
            (None, None) => (Vec::new(), None),
        };
        Announcement {
            v: PROTOCOL_VERSION,
            kind,
            name: self.cfg.name.clone(),
            instance: self.cfg.instance,
            frame_ns: self.cfg.params.frame_ns,
            guard_ns: self.cfg.params.guard_ns,
            view,
            switch_at_ns,
        }
    }

    fn announce(&mut self, now_ns: u64, out: &mut Vec<Action>) {
        // Replace a hello queued earlier in this step: only the latest state matters.
        out.retain(|a| !matches!(a, Action::Announce(_)));
        out.push(Action::Announce(self.announcement(Kind::Hello)));
        self.next_announce_ns = now_ns + self.cfg.interval_ns;
    }

    fn warn_once(&mut self, message: String, out: &mut Vec<Action>) {
        if self.warned.insert(message.clone()) {
            out.push(Action::Note(message));
        }
    }
}

#[cfg(test)]
mod tests;
