//! The block pipeline: build → check → decide → write, one state machine for a lone
//! validator and for a BFT network (ADR 013).
//!
//! It does no I/O. The node feeds it [`Event`]s — a proposal is wanted, a block was
//! executed, consensus decided, a block is durable — and carries out the [`Command`]s it
//! returns: execute a candidate from the mempool, check a peer's block, write a decided
//! block, stop. What it guarantees:
//!
//! - blocks are built and checked on the tip: the newest decided block, durable or
//!   still being written;
//! - at most one decided block is between decision and disk: a later decision waits
//!   until it is durable (so a crash loses at most the decisions consensus can replay);
//! - blocks are written one at a time, in height order, and nothing is answered before
//!   its block is durable;
//! - a write that fails stops the pipeline for good: the node must stop (its disk is
//!   broken), nothing later is built, decided or written;
//! - a lone validator decides its own blocks as soon as they are built: the same path
//!   with a quorum of one.
//!
//! After a restart the pipeline starts again from the durable head ([`Pipeline::new`]):
//! a decided block that was not yet written is decided again by consensus (its WAL),
//! or, alone, built again from the mempool.

use std::collections::BTreeSet;

use medledger_types::{Hash32, Height};

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A proposal is wanted for `height` (consensus asks; alone, transactions wait or
    /// the block interval passed).
    ProposeAt(Height),
    /// A candidate for `height` was executed from the mempool.
    Built { height: Height, block: Hash32 },
    /// Building failed (a local error: the state could not be read).
    BuildFailed { height: Height, reason: String },
    /// A peer proposed `block` for `height`.
    Proposed { height: Height, block: Hash32 },
    /// A peer's block was executed: valid or not.
    Checked { height: Height, block: Hash32, valid: bool },
    /// Consensus decided `block` at `height`.
    Decided { height: Height, block: Hash32 },
    /// The block of `height` is durable.
    Written(Height),
    /// Writing the block of `height` failed.
    WriteFailed { height: Height, reason: String },
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Execute a candidate for `height` from the mempool, on the tip.
    Build(Height),
    /// Offer the built block to consensus (not alone).
    Offer { height: Height, block: Hash32 },
    /// Execute a peer's proposal on the tip.
    Check { height: Height, block: Hash32 },
    /// Tell consensus what the check found.
    Verdict { height: Height, block: Hash32, valid: bool },
    /// Sign the block's commit certificate alone (1 of 1).
    SignAlone { height: Height, block: Hash32 },
    /// Write the decided block: its transactions leave the mempool's proposals now.
    Write { height: Height, block: Hash32 },
    /// A decided block this node has not executed: fetch it from peers.
    Fetch(Height),
    /// The node cannot go on.
    Stop(String),
}

/// Where the pipeline stands.
#[derive(Debug)]
pub struct Pipeline {
    alone: bool,
    /// The newest durable block.
    head: Height,
    /// The decided block being written.
    writing: Option<(Height, Hash32)>,
    /// A decided block waiting for `writing` to be durable.
    next: Option<(Height, Hash32)>,
    /// A candidate being built, and for which height.
    building: Option<Height>,
    /// Peer blocks being checked.
    checking: BTreeSet<(Height, Hash32)>,
    /// Blocks executed for the height after the tip (built here or checked valid).
    executed: BTreeSet<(Height, Hash32)>,
    stopped: Option<String>,
}

impl Pipeline {
    /// A pipeline at the durable `head`. `alone`: a single validator, which decides its
    /// own blocks.
    pub fn new(head: Height, alone: bool) -> Pipeline {
        Pipeline {
            alone,
            head,
            writing: None,
            next: None,
            building: None,
            checking: BTreeSet::new(),
            executed: BTreeSet::new(),
            stopped: None,
        }
    }

    /// The newest decided block, durable or being written: the next block builds on it.
    pub fn tip(&self) -> Height {
        self.writing.map_or(self.head, |(h, _)| h)
    }

    /// The newest durable block.
    pub fn head(&self) -> Height {
        self.head
    }

    /// Whether a decided block is being written.
    pub fn is_writing(&self) -> bool {
        self.writing.is_some()
    }

    /// Whether a candidate is being built.
    pub fn is_building(&self) -> bool {
        self.building.is_some()
    }

    /// Why the pipeline stopped, if it did.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// Whether a decision is waiting for the block before it to be durable.
    pub fn has_waiting_decision(&self) -> bool {
        self.next.is_some()
    }

    pub fn handle(&mut self, event: Event) -> Vec<Command> {
        if self.stopped.is_some() {
            return Vec::new();
        }
        let next = self.tip().next();
        match event {
            Event::ProposeAt(height) => {
                if height != next || self.building.is_some() || self.next.is_some() {
                    return Vec::new();
                }
                // Alone, a block built while another waits to be written would have to
                // wait too: build only once the write has started and nothing waits.
                self.building = Some(height);
                vec![Command::Build(height)]
            }
            Event::Built { height, block } => {
                if self.building != Some(height) {
                    return Vec::new();
                }
                self.building = None;
                if height != next {
                    return Vec::new();
                }
                self.executed.insert((height, block));
                if self.alone {
                    let mut out = vec![Command::SignAlone { height, block }];
                    out.extend(self.handle(Event::Decided { height, block }));
                    out
                } else {
                    vec![Command::Offer { height, block }]
                }
            }
            Event::BuildFailed { height, .. } => {
                if self.building == Some(height) {
                    self.building = None;
                }
                Vec::new()
            }
            Event::Proposed { height, block } => {
                if height != next {
                    return Vec::new();
                }
                if self.executed.contains(&(height, block)) {
                    return vec![Command::Verdict {
                        height,
                        block,
                        valid: true,
                    }];
                }
                if !self.checking.insert((height, block)) {
                    return Vec::new();
                }
                vec![Command::Check { height, block }]
            }
            Event::Checked { height, block, valid } => {
                if !self.checking.remove(&(height, block)) {
                    return Vec::new();
                }
                if valid && height == next {
                    self.executed.insert((height, block));
                }
                vec![Command::Verdict { height, block, valid }]
            }
            Event::Decided { height, block } => {
                if height <= self.tip() || self.next.is_some_and(|(h, _)| h >= height) {
                    // Already decided (consensus replaying its log after a restart).
                    return Vec::new();
                }
                if height != next {
                    // Decided past a block this node has not got: catch up first.
                    return vec![Command::Fetch(next)];
                }
                if !self.executed.contains(&(height, block)) {
                    return vec![Command::Fetch(height)];
                }
                if self.writing.is_some() {
                    self.next = Some((height, block));
                    return Vec::new();
                }
                self.start_write(height, block)
            }
            Event::Written(height) => {
                if self.writing.map(|(h, _)| h) != Some(height) {
                    return Vec::new();
                }
                self.head = height;
                self.writing = None;
                match self.next.take() {
                    Some((h, b)) => self.start_write(h, b),
                    None => Vec::new(),
                }
            }
            Event::WriteFailed { height, reason } => {
                if self.writing.map(|(h, _)| h) != Some(height) {
                    return Vec::new();
                }
                let reason = format!("block {height} could not be written: {reason}");
                self.stopped = Some(reason.clone());
                self.writing = None;
                self.next = None;
                self.building = None;
                self.checking.clear();
                self.executed.clear();
                vec![Command::Stop(reason)]
            }
        }
    }

    fn start_write(&mut self, height: Height, block: Hash32) -> Vec<Command> {
        self.writing = Some((height, block));
        // Candidates of the decided height are spent; the next height starts empty.
        self.executed.retain(|(h, _)| *h > height);
        self.checking.retain(|(h, _)| *h > height);
        vec![Command::Write { height, block }]
    }
}

/// A decided block and the pipeline's order to write it ([`Command::Write`]), which arrive
/// from two threads in either order: the thread that decided may still hold the block
/// when the writer, done with the block before, is told to write it. Whichever comes
/// second gets the block and starts the write.
#[derive(Debug)]
pub struct Handoff<T> {
    block: Option<((Height, Hash32), T)>,
    due: Option<(Height, Hash32)>,
}

impl<T> Default for Handoff<T> {
    fn default() -> Self {
        Handoff { block: None, due: None }
    }
}

impl<T> Handoff<T> {
    /// The decider leaves block `key`: returned at once when its write is already due
    /// (the caller writes it), kept for the writer otherwise.
    pub fn leave(&mut self, key: (Height, Hash32), block: T) -> Option<T> {
        if self.due.take_if(|k| *k == key).is_some() {
            return Some(block);
        }
        self.block = Some((key, block));
        None
    }

    /// The pipeline orders block `key` written: the block if it was left, otherwise the
    /// order is kept for the decider.
    pub fn take(&mut self, key: (Height, Hash32)) -> Option<T> {
        match self.block.take_if(|(k, _)| *k == key) {
            Some((_, block)) => Some(block),
            None => {
                self.due = Some(key);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
