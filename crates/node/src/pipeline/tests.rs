//! Every transition of the pipeline, step by step.

use super::*;

fn h(n: u64) -> Height {
    Height(n)
}

fn b(n: u8) -> Hash32 {
    Hash32([n; 32])
}

#[test]
fn alone_a_built_block_is_signed_decided_and_written() {
    let mut p = Pipeline::new(h(4), true);
    assert_eq!(p.handle(Event::ProposeAt(h(5))), vec![Command::Build(h(5))]);
    assert!(p.is_building());
    // Asking again while building does nothing.
    assert!(p.handle(Event::ProposeAt(h(5))).is_empty());
    assert_eq!(
        p.handle(Event::Built {
            height: h(5),
            block: b(1)
        }),
        vec![
            Command::SignAlone {
                height: h(5),
                block: b(1)
            },
            Command::Write {
                height: h(5),
                block: b(1)
            }
        ]
    );
    assert_eq!(p.tip(), h(5));
    assert_eq!(p.head(), h(4));
    assert!(p.handle(Event::Written(h(5))).is_empty());
    assert_eq!((p.head(), p.tip()), (h(5), h(5)));
}

#[test]
fn alone_the_next_block_is_built_while_one_is_written_and_waits_its_turn() {
    let mut p = Pipeline::new(h(0), true);
    p.handle(Event::ProposeAt(h(1)));
    p.handle(Event::Built {
        height: h(1),
        block: b(1),
    });
    // Block 1 is being written: block 2 builds on it.
    assert_eq!(p.handle(Event::ProposeAt(h(2))), vec![Command::Build(h(2))]);
    assert_eq!(
        p.handle(Event::Built {
            height: h(2),
            block: b(2)
        }),
        vec![Command::SignAlone {
            height: h(2),
            block: b(2)
        }],
        "decided, but not written before block 1 is durable"
    );
    assert!(p.has_waiting_decision());
    // Nothing more is built while a decision waits.
    assert!(p.handle(Event::ProposeAt(h(2))).is_empty());
    assert!(p.handle(Event::ProposeAt(h(3))).is_empty());
    assert_eq!(
        p.handle(Event::Written(h(1))),
        vec![Command::Write {
            height: h(2),
            block: b(2)
        }]
    );
    assert_eq!((p.head(), p.tip()), (h(1), h(2)));
    assert!(p.handle(Event::Written(h(2))).is_empty());
    assert_eq!(p.handle(Event::ProposeAt(h(3))), vec![Command::Build(h(3))]);
}

#[test]
fn under_consensus_a_built_block_is_offered_and_decided_by_consensus() {
    let mut p = Pipeline::new(h(9), false);
    p.handle(Event::ProposeAt(h(10)));
    assert_eq!(
        p.handle(Event::Built {
            height: h(10),
            block: b(1)
        }),
        vec![Command::Offer {
            height: h(10),
            block: b(1)
        }]
    );
    assert_eq!(p.tip(), h(9), "offered is not decided");
    assert_eq!(
        p.handle(Event::Decided {
            height: h(10),
            block: b(1)
        }),
        vec![Command::Write {
            height: h(10),
            block: b(1)
        }]
    );
}

#[test]
fn peer_proposals_are_checked_once_and_a_valid_one_can_be_decided() {
    let mut p = Pipeline::new(h(3), false);
    let proposed = Event::Proposed {
        height: h(4),
        block: b(7),
    };
    assert_eq!(
        p.handle(proposed.clone()),
        vec![Command::Check {
            height: h(4),
            block: b(7)
        }]
    );
    assert!(p.handle(proposed.clone()).is_empty(), "already being checked");
    assert_eq!(
        p.handle(Event::Checked {
            height: h(4),
            block: b(7),
            valid: true
        }),
        vec![Command::Verdict {
            height: h(4),
            block: b(7),
            valid: true
        }]
    );
    // Proposed again (a later round): the verdict is known without executing it again.
    assert_eq!(
        p.handle(proposed),
        vec![Command::Verdict {
            height: h(4),
            block: b(7),
            valid: true
        }]
    );
    // A check nobody asked for is ignored.
    assert!(
        p.handle(Event::Checked {
            height: h(4),
            block: b(8),
            valid: true
        })
        .is_empty()
    );
    assert_eq!(
        p.handle(Event::Decided {
            height: h(4),
            block: b(7)
        }),
        vec![Command::Write {
            height: h(4),
            block: b(7)
        }]
    );
}

#[test]
fn an_invalid_block_is_refused_and_never_written() {
    let mut p = Pipeline::new(h(3), false);
    p.handle(Event::Proposed {
        height: h(4),
        block: b(6),
    });
    assert_eq!(
        p.handle(Event::Checked {
            height: h(4),
            block: b(6),
            valid: false
        }),
        vec![Command::Verdict {
            height: h(4),
            block: b(6),
            valid: false
        }]
    );
    // Should consensus decide it anyway (it cannot with an honest quorum), this node has
    // no executed block to write: it fetches the decided block from its peers.
    assert_eq!(
        p.handle(Event::Decided {
            height: h(4),
            block: b(6)
        }),
        vec![Command::Fetch(h(4))]
    );
    assert!(!p.is_writing());
}

#[test]
fn proposals_and_decisions_for_other_heights_are_not_taken() {
    let mut p = Pipeline::new(h(3), false);
    assert!(p.handle(Event::ProposeAt(h(3))).is_empty());
    assert!(p.handle(Event::ProposeAt(h(5))).is_empty());
    assert!(
        p.handle(Event::Proposed {
            height: h(6),
            block: b(1)
        })
        .is_empty()
    );
    // A stale build result is dropped.
    assert!(
        p.handle(Event::Built {
            height: h(4),
            block: b(1)
        })
        .is_empty()
    );
    // A decision already applied (replayed from consensus's log) changes nothing.
    assert!(
        p.handle(Event::Decided {
            height: h(3),
            block: b(1)
        })
        .is_empty()
    );
    // A decision past the next height: this node is behind.
    assert_eq!(
        p.handle(Event::Decided {
            height: h(6),
            block: b(1)
        }),
        vec![Command::Fetch(h(4))]
    );
}

#[test]
fn a_failed_build_can_be_tried_again() {
    let mut p = Pipeline::new(h(0), true);
    p.handle(Event::ProposeAt(h(1)));
    assert!(
        p.handle(Event::BuildFailed {
            height: h(1),
            reason: "disk".into()
        })
        .is_empty()
    );
    assert!(!p.is_building());
    assert_eq!(p.handle(Event::ProposeAt(h(1))), vec![Command::Build(h(1))]);
}

#[test]
fn a_decided_block_whose_write_fails_stops_everything() {
    let mut p = Pipeline::new(h(0), false);
    p.handle(Event::Proposed {
        height: h(1),
        block: b(1),
    });
    p.handle(Event::Checked {
        height: h(1),
        block: b(1),
        valid: true,
    });
    p.handle(Event::Decided {
        height: h(1),
        block: b(1),
    });
    // The next block is checked and decided while block 1 is written.
    p.handle(Event::Proposed {
        height: h(2),
        block: b(2),
    });
    p.handle(Event::Checked {
        height: h(2),
        block: b(2),
        valid: true,
    });
    assert!(
        p.handle(Event::Decided {
            height: h(2),
            block: b(2)
        })
        .is_empty()
    );
    let out = p.handle(Event::WriteFailed {
        height: h(1),
        reason: "No space left on device".into(),
    });
    assert!(matches!(&out[..], [Command::Stop(r)] if r.contains("block 1") && r.contains("No space")));
    assert!(p.stopped().is_some());
    // Block 2 is never written, and nothing else happens.
    assert!(p.handle(Event::Written(h(1))).is_empty());
    assert!(p.handle(Event::ProposeAt(h(1))).is_empty());
    assert!(
        p.handle(Event::Decided {
            height: h(1),
            block: b(1)
        })
        .is_empty()
    );
    assert_eq!(p.head(), h(0), "the failed block is not durable");
}

#[test]
fn restarting_from_each_step_resumes_from_the_durable_head() {
    // The steps of one block; after a crash at any of them only what was durable counts.
    let steps: Vec<Event> = vec![
        Event::ProposeAt(h(8)),
        Event::Built {
            height: h(8),
            block: b(1),
        },
        Event::Decided {
            height: h(8),
            block: b(1),
        },
        Event::Written(h(8)),
    ];
    for crash_after in 0..=steps.len() {
        let mut p = Pipeline::new(h(7), false);
        for e in &steps[..crash_after] {
            p.handle(e.clone());
        }
        let durable = p.head();
        assert_eq!(durable, if crash_after == steps.len() { h(8) } else { h(7) });
        // A restart knows only the durable head.
        let mut p = Pipeline::new(durable, false);
        let next = durable.next();
        assert_eq!(
            p.handle(Event::ProposeAt(next)),
            vec![Command::Build(next)],
            "crash after step {crash_after}"
        );
        // Consensus replays a decision it logged before the crash: the block is built
        // or checked again, then decided and written.
        if durable == h(7) {
            p.handle(Event::Built {
                height: h(8),
                block: b(1),
            });
            assert_eq!(
                p.handle(Event::Decided {
                    height: h(8),
                    block: b(1)
                }),
                vec![Command::Write {
                    height: h(8),
                    block: b(1)
                }],
                "crash after step {crash_after}"
            );
        } else {
            assert!(
                p.handle(Event::Decided {
                    height: h(8),
                    block: b(1)
                })
                .is_empty()
            );
        }
    }
}

#[test]
fn alone_a_restart_between_decision_and_write_builds_again() {
    let mut p = Pipeline::new(h(2), true);
    p.handle(Event::ProposeAt(h(3)));
    p.handle(Event::Built {
        height: h(3),
        block: b(1),
    });
    assert!(p.is_writing());
    // Crash: block 3 was signed but not durable, and its clients were not answered.
    let mut p = Pipeline::new(h(2), true);
    assert_eq!(p.handle(Event::ProposeAt(h(3))), vec![Command::Build(h(3))]);
    assert_eq!(
        p.handle(Event::Built {
            height: h(3),
            block: b(2)
        }),
        vec![
            Command::SignAlone {
                height: h(3),
                block: b(2)
            },
            Command::Write {
                height: h(3),
                block: b(2)
            }
        ]
    );
}

#[test]
fn a_decided_block_and_its_write_order_meet_in_either_order() {
    // The usual order: the block is left, then the writer is told to write it.
    let mut hand: Handoff<&str> = Handoff::default();
    assert_eq!(hand.leave((h(5), b(5)), "block 5"), None);
    assert_eq!(hand.take((h(5), b(5))), Some("block 5"));
    // The race: the block before is written, and block 6 ordered written, while its
    // decider still holds it. The decider then writes it itself; nothing is lost.
    assert_eq!(hand.take((h(6), b(6))), None);
    assert_eq!(hand.leave((h(6), b(6)), "block 6"), Some("block 6"));
    // Nothing stays behind: the next order waits for its own block.
    assert_eq!(hand.take((h(7), b(7))), None);
    // Another block (another hash at that height) is not the one ordered.
    assert_eq!(hand.leave((h(7), b(70)), "other 7"), None);
    assert_eq!(hand.leave((h(7), b(7)), "block 7"), Some("block 7"));
}
