//! Two of four validators down: the chain stops (no quorum) without forking; when one
//! returns, it resumes, and all three hold the same chain.

mod common;

use std::time::{Duration, Instant};

use common::net::{Load, Net};

const T: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_down_halts_without_fork_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::init(dir.path(), 4);
    net.start_all();
    for i in 0..4 {
        net.wait_height(i, 3, T).await;
    }
    let load = Load::start(&net, 10);
    net.wait_height(0, 5, T).await;

    net.kill(2);
    net.kill(3);
    // At most the block already being decided can still commit; after that nothing may,
    // for as long as we watch (8 s: more than two full rounds of timeouts).
    let h0 = net.height(0).await.unwrap();
    let watch_until = Instant::now() + Duration::from_secs(8);
    let mut highest = h0;
    while Instant::now() < watch_until {
        for i in 0..2 {
            if let Some(h) = net.height(i).await {
                highest = highest.max(h);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        highest <= h0 + 1,
        "the chain went on from {h0} to {highest} with only two of four validators"
    );
    let stalled = net.height(0).await.unwrap().max(net.height(1).await.unwrap());
    let status = net.status(0).await.unwrap();
    assert!(status["consensus"]["round"].as_u64().is_some(), "{status}");

    // One returns: three of four is a quorum again.
    net.start(2, &[]);
    for i in 0..3 {
        net.wait_height(i, stalled + 3, T).await;
    }
    let acked = load.finish().await;
    let top = net.height(0).await.unwrap();
    for i in 0..3 {
        net.wait_height(i, top, T).await;
    }
    net.assert_same_chain(&[0, 1, 2], top).await;
    net.assert_all_committed(&[0, 1, 2], &acked).await;
    net.stop_all();
    for i in 0..3 {
        net.verify(i);
    }
}
