//! One suite, run against every backend: the file store and the in-memory store must
//! behave the same.

use medledger_crypto::Keypair;
use medledger_ledger::genesis::{GenesisAdmin, GenesisOrg, GenesisValidator};
use medledger_ledger::identity::OrgRole;
use medledger_ledger::{Genesis, StateRead, Writes};
use medledger_merkle::{MemoryLog, NodeSource};
use medledger_store::{BlockCommit, Store, StoreError};
use medledger_types::codec::Encode;
use medledger_types::{
    Block, BlockHeader, ChainId, Commit, Hash32, Height, LeafIndex, LogLeaf, MemberId, Nonce, OrgId, OutcomeCode,
    SignedTx, TimestampMs, TreeSize, Tx, TxKind,
};
use sha2::Sha256;

fn genesis(chain: &str) -> Genesis {
    Genesis {
        break_glass: None,
        contracts: None,
        suspend_quorum: None,
        chain_id: ChainId::new(chain).unwrap(),
        genesis_time: TimestampMs(5),
        orgs: vec![GenesisOrg {
            gs1: None,
            id: OrgId::new("h").unwrap(),
            name: "H".into(),
            role: OrgRole::Hospital,
            admins: vec![GenesisAdmin {
                member: MemberId::new("admin").unwrap(),
                public_key: Keypair::from_seed([1; 32]).public(),
            }],
            members: Vec::new(),
        }],
        validators: vec![GenesisValidator {
            org: OrgId::new("h").unwrap(),
            public_key: Keypair::from_seed([2; 32]).public(),
            power: 1,
        }],
    }
}

fn tx(n: u64) -> SignedTx {
    Keypair::from_seed([1; 32]).sign_tx(Tx {
        chain_id: ChainId::new("c").unwrap(),
        signer: Keypair::from_seed([1; 32]).public(),
        nonce: Nonce(n),
        kind: TxKind(1),
        body: n.to_le_bytes().to_vec(),
    })
}

/// Commits a block of `n` transactions writing `writes`; returns its hash.
fn commit_block(store: &Store, log: &mut MemoryLog, n: u64, writes: Writes) -> Result<Hash32, StoreError> {
    let head = store.head()?.unwrap();
    let height = head.height.next();
    let reader = store.reader()?;
    let staged = store.stage(&reader, height, writes)?;
    drop(reader);
    let txs: Vec<SignedTx> = (0..n).map(|i| tx(height.0 * 100 + i)).collect();
    let leaves: Vec<LogLeaf> = txs
        .iter()
        .enumerate()
        .map(|(i, t)| LogLeaf {
            height,
            index_in_block: i as u32,
            tx_hash: t.hash(),
            outcome: OutcomeCode::OK,
        })
        .collect();
    let mut nodes = Vec::new();
    for l in &leaves {
        nodes.extend(log.push(medledger_merkle::leaf_hash(&l.encode())));
    }
    let block = Block {
        header: BlockHeader {
            chain_id: ChainId::new("c").unwrap(),
            height,
            parent_hash: head.block_hash,
            proposer: Keypair::from_seed([2; 32]).public(),
            timestamp: TimestampMs(10 + height.0),
            tx_count: n as u32,
            tx_root: Hash32::ZERO,
            state_root: staged.root,
            log_size: log.size(),
            log_root: log.root(),
        },
        txs,
        commit: Commit::default(),
    };
    let hash = block.hash();
    store.commit(BlockCommit {
        block: &block,
        staged: &staged,
        leaves: &leaves,
        log_nodes: &nodes,
    })?;
    Ok(hash)
}

fn w(pairs: &[(&str, Option<&str>)]) -> Writes {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
        .collect()
}

fn suite(store: &Store) {
    let g = genesis("c");
    assert!(store.head().unwrap().is_none());
    let head0 = store.init_genesis(&g).unwrap();
    assert_eq!(head0.height, Height(0));
    assert_eq!(head0.block_hash, g.hash());
    // Idempotent for the same genesis, refused for another.
    assert_eq!(store.init_genesis(&g).unwrap(), head0);
    assert!(matches!(
        store.init_genesis(&genesis("other")),
        Err(StoreError::GenesisMismatch { .. })
    ));

    let mut log = MemoryLog::new();
    let h1 = commit_block(store, &mut log, 3, w(&[("a", Some("1")), ("b", Some("2"))])).unwrap();
    let h2 = commit_block(store, &mut log, 2, w(&[("a", Some("3")), ("b", None)])).unwrap();
    let head = store.head().unwrap().unwrap();
    assert_eq!(
        (head.height, head.block_hash, head.log_size),
        (Height(2), h2, TreeSize(5))
    );
    assert_eq!(head.log_root, log.root());

    let r = store.reader().unwrap();
    assert_eq!(r.block(Height(1)).unwrap().unwrap().hash(), h1);
    assert!(r.block(Height(3)).unwrap().is_none());
    assert_eq!(r.get(b"a"), Some(b"3".to_vec()));
    assert_eq!(r.get(b"b"), None);
    let t = tx(201);
    let loc = r.tx_location(&t.hash()).unwrap().unwrap();
    assert_eq!((loc.height, loc.index_in_block), (Height(2), 1));
    assert_eq!(r.leaf(LeafIndex(4)).unwrap().unwrap().tx_hash, t.hash());
    for (level, index, hash) in r.log_nodes().unwrap() {
        assert_eq!(log.node(level, index), Some(hash), "log node ({level}, {index})");
        assert_eq!(r.node(level, index), Some(hash));
    }

    // State proofs against the head's root, for a present and an absent key.
    let root = jmt::RootHash(head.state_root.0);
    let p = r.state_proof(b"a").unwrap();
    assert_eq!(p.value.as_deref(), Some(b"3".as_slice()));
    p.proof
        .verify_existence(root, jmt::KeyHash::with::<Sha256>(b"a"), b"3")
        .unwrap();
    let p = r.state_proof(b"b").unwrap();
    assert!(p.value.is_none());
    p.proof
        .verify_nonexistence(root, jmt::KeyHash::with::<Sha256>(b"b"))
        .unwrap();
    drop(r);

    // A block that does not follow the head is refused and changes nothing.
    let reader = store.reader().unwrap();
    let staged = store.stage(&reader, Height(5), Writes::new()).unwrap();
    drop(reader);
    let old = store.reader().unwrap().block(Height(2)).unwrap().unwrap();
    let err = store
        .commit(BlockCommit {
            block: &old,
            staged: &staged,
            leaves: &[],
            log_nodes: &[],
        })
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt(_) | StoreError::NotNext { .. }),
        "{err}"
    );
    assert_eq!(store.head().unwrap().unwrap(), head);
}

#[test]
fn memory_backend_passes_the_suite() {
    suite(&Store::in_memory().unwrap());
}

#[test]
fn file_backend_passes_the_suite_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let head = {
        let store = Store::open(&path).unwrap();
        suite(&store);
        store.head().unwrap().unwrap()
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(store.head().unwrap().unwrap(), head);
    assert_eq!(store.reader().unwrap().get(b"a"), Some(b"3".to_vec()));
}

#[test]
fn the_fast_and_general_state_paths_agree() {
    // The same writes, staged once without and once with a deletion elsewhere, must give
    // the same root as applying them key by key.
    let a = Store::in_memory().unwrap();
    let b = Store::in_memory().unwrap();
    let g = genesis("c");
    a.init_genesis(&g).unwrap();
    b.init_genesis(&g).unwrap();
    let writes: Writes = (0..500u32)
        .map(|i| (format!("k/{i}").into_bytes(), Some(i.to_le_bytes().to_vec())))
        .collect();
    let fast = a.stage(&a.reader().unwrap(), Height(1), writes.clone()).unwrap();
    // Adding the deletion of a key that does not exist forces the general path without
    // changing the state.
    let mut general_writes = writes;
    general_writes.insert(b"absent".to_vec(), None);
    let general = b.stage(&b.reader().unwrap(), Height(1), general_writes).unwrap();
    assert_eq!(fast.root, general.root);
}

#[test]
fn staging_on_an_uncommitted_block_matches_staging_after_it() {
    // What the pipelined producer relies on: executing block 2 on top of block 1 while
    // block 1 is still being written gives the same state as executing it afterwards.
    let g = genesis("c");
    let first: Writes = (0..300u32)
        .map(|i| (format!("a/{i}").into_bytes(), Some(vec![1; 8])))
        .collect();
    let second: Writes = (150..450u32)
        .map(|i| (format!("a/{i}").into_bytes(), Some(vec![2; 8])))
        .collect();

    let layered = Store::in_memory().unwrap();
    layered.init_genesis(&g).unwrap();
    let reader = layered.reader().unwrap();
    let staged1 = layered.stage(&reader, Height(1), first.clone()).unwrap();
    let view = medledger_store::StateView::new(&reader, Some(&staged1));
    assert_eq!(view.get(b"a/10"), Some(vec![1; 8]));
    let staged2 = medledger_store::stage(&view, Height(2), second.clone()).unwrap();

    let serial = Store::in_memory().unwrap();
    serial.init_genesis(&g).unwrap();
    let mut log = MemoryLog::new();
    commit_block(&serial, &mut log, 1, first).unwrap();
    let reader = serial.reader().unwrap();
    let serial2 = serial.stage(&reader, Height(2), second).unwrap();
    assert_eq!(staged2.root, serial2.root);
}

#[test]
fn the_stored_tree_always_matches_a_tree_built_from_scratch() {
    // Blocks of inserts, updates and deletions (and an empty block): after each, the root
    // must equal that of a fresh tree holding the same entries, and proofs must verify.
    let g = genesis("c");
    let store = Store::in_memory().unwrap();
    store.init_genesis(&g).unwrap();
    let mut log = MemoryLog::new();
    let mut model: std::collections::BTreeMap<Vec<u8>, Vec<u8>> =
        g.initial_writes().into_iter().map(|(k, v)| (k, v.unwrap())).collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for block in 0..12u64 {
        let mut writes = Writes::new();
        if block != 5 {
            for _ in 0..(next() % 200) {
                let key = format!("k/{}", next() % 300).into_bytes();
                let value = (next() % 4 != 0).then(|| next().to_le_bytes().to_vec());
                writes.insert(key, value);
            }
        }
        for (k, v) in &writes {
            match v {
                Some(v) => model.insert(k.clone(), v.clone()),
                None => model.remove(k),
            };
        }
        commit_block(&store, &mut log, 1, writes).unwrap();

        let fresh = Store::in_memory().unwrap();
        let fresh_writes: Writes = model.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
        let expected = fresh
            .stage(&fresh.reader().unwrap(), Height(0), fresh_writes)
            .unwrap()
            .root;
        let head = store.head().unwrap().unwrap();
        assert_eq!(head.state_root, expected, "state root after block {}", head.height);

        let reader = store.reader().unwrap();
        let root = jmt::RootHash(head.state_root.0);
        for _ in 0..20 {
            let key = format!("k/{}", next() % 300).into_bytes();
            let p = reader.state_proof(&key).unwrap();
            assert_eq!(p.value.as_ref(), model.get(&key));
            let kh = jmt::KeyHash::with::<Sha256>(&key);
            match &p.value {
                Some(v) => p.proof.verify_existence(root, kh, v).unwrap(),
                None => p.proof.verify_nonexistence(root, kh).unwrap(),
            }
        }
    }
}

/// Commits a few blocks to a file store at `path` and returns the head.
fn file_chain(path: &std::path::Path) -> medledger_store::ChainHead {
    let store = Store::open(path).unwrap();
    store.init_genesis(&genesis("c")).unwrap();
    let mut log = MemoryLog::new();
    for block in 0..5u8 {
        let writes: Writes = (0..200u32)
            .map(|i| (format!("k/{}", i * 7 % 301).into_bytes(), Some(vec![block; 4])))
            .collect();
        commit_block(&store, &mut log, 1, writes).unwrap();
    }
    store.head().unwrap().unwrap()
}

#[test]
fn reopening_rebuilds_the_state_tree_and_drops_the_old_tree_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let head = file_chain(&path);
    // A store written before ADR 013 has the tree's nodes in two more tables.
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let nodes: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("jmt_nodes");
            txn.open_table(nodes)
                .unwrap()
                .insert(b"x".as_slice(), b"y".as_slice())
                .unwrap();
            let stale: redb::TableDefinition<(u64, &[u8]), &[u8]> = redb::TableDefinition::new("jmt_stale");
            txn.open_table(stale)
                .unwrap()
                .insert((1, b"x".as_slice()), b"".as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.head().unwrap().unwrap(), head);
    let root = jmt::RootHash(head.state_root.0);
    let p = store.reader().unwrap().state_proof(b"k/7").unwrap();
    p.proof
        .verify_existence(root, jmt::KeyHash::with::<Sha256>(b"k/7"), [4u8; 4])
        .unwrap();
    let mut log = MemoryLog::new();
    for (level, index, hash) in store.reader().unwrap().log_nodes().unwrap() {
        log.insert_node(level, index, hash).unwrap();
    }
    commit_block(
        &store,
        &mut log,
        1,
        [(b"k/7".to_vec(), Some(vec![9]))].into_iter().collect(),
    )
    .unwrap();
    drop(store);
    let db = redb::Database::open(&path).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let names: Vec<String> = redb::ReadTransaction::list_tables(&txn)
        .unwrap()
        .map(|t| redb::TableHandle::name(&t).to_string())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with("jmt_")), "{names:?}");
}

#[test]
fn a_state_that_does_not_give_the_head_root_is_refused_at_open() {
    // A value in the state table, and a value in the state log of a recent block: both
    // make the state, and changing either is caught.
    for tamper in ["table", "log"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        let head = file_chain(&path);
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            if tamper == "table" {
                let state: redb::TableDefinition<&[u8; 32], &[u8]> = redb::TableDefinition::new("state");
                let key: [u8; 32] = <Sha256 as sha2::Digest>::digest(b"k/not-written").into();
                txn.open_table(state)
                    .unwrap()
                    .insert(&key, [5u8; 4].as_slice())
                    .unwrap();
            } else {
                let log: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("state_log");
                let mut table = txn.open_table(log).unwrap();
                let mut raw = redb::ReadableTable::get(&table, head.height.0)
                    .unwrap()
                    .unwrap()
                    .value()
                    .to_vec();
                let last = raw.len() - 1;
                raw[last] ^= 1;
                table.insert(head.height.0, raw.as_slice()).unwrap();
            }
            txn.commit().unwrap();
        }
        match Store::open(&path) {
            Err(StoreError::Corrupt(msg)) => assert!(msg.contains("state gives root"), "{tamper}: {msg}"),
            Err(e) => panic!("{tamper}: unexpected error: {e}"),
            Ok(_) => panic!("{tamper}: a store whose state does not match its head opened"),
        }
    }
}

/// The state written across many blocks — values swept into the table a range at a time,
/// the rest in the state log — reads the same before and after reopening, from a writable
/// and from a read-only store, and the state log keeps only the last sixteen blocks. So
/// does every transaction's location, swept into the index by the same rule.
#[test]
fn state_not_yet_swept_survives_reopening_and_reads_alike_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let mut expected: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = std::collections::BTreeMap::new();
    let entries_before;
    {
        let store = Store::open(&path).unwrap();
        store.init_genesis(&genesis("c")).unwrap();
        let genesis_keys = store.reader().unwrap().state_entries().unwrap().len();
        let mut log = MemoryLog::new();
        for block in 0..40u32 {
            let mut writes = Writes::new();
            for i in 0..50u32 {
                let key = format!("k/{}", (block * 31 + i * 17) % 997).into_bytes();
                // Every fifth write deletes.
                if i % 5 == 4 {
                    expected.remove(&key);
                    writes.insert(key, None);
                } else {
                    let value = format!("{block}/{i}").into_bytes();
                    expected.insert(key.clone(), value.clone());
                    writes.insert(key, Some(value));
                }
            }
            commit_block(&store, &mut log, 1, writes).unwrap();
            let reader = store.reader().unwrap();
            for h in 1..=u64::from(block) + 1 {
                let at = reader.tx_location(&tx(h * 100).hash()).unwrap().map(|l| l.height.0);
                assert_eq!(at, Some(h), "block {block}: the transaction of block {h}");
            }
            for (k, v) in &expected {
                assert_eq!(
                    medledger_ledger::StateRead::get(&reader, k).as_ref(),
                    Some(v),
                    "block {block}"
                );
            }
        }
        let reader = store.reader().unwrap();
        entries_before = reader.state_entries().unwrap();
        assert_eq!(entries_before.len(), genesis_keys + expected.len());
        assert_eq!(reader.state_keys().unwrap(), entries_before.len() as u64);
    }
    let db_log_heights = |path: &std::path::Path| -> Vec<u64> {
        let db = redb::Database::open(path).unwrap();
        let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
        let log: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("state_log");
        let table = txn.open_table(log).unwrap();
        redb::ReadableTable::iter(&table)
            .unwrap()
            .map(|e| e.unwrap().0.value())
            .collect()
    };
    assert_eq!(db_log_heights(&path), (25..=40).collect::<Vec<u64>>());
    // Block h holds one transaction, `tx(h * 100)`.
    let all_located = |reader: &medledger_store::StoreReader| {
        for h in 1..=40u64 {
            let location = reader.tx_location(&tx(h * 100).hash()).unwrap();
            assert_eq!(
                location,
                Some(medledger_store::TxLocation {
                    height: medledger_types::Height(h),
                    index_in_block: 0
                }),
                "block {h}"
            );
        }
        assert_eq!(reader.tx_location(&tx(41 * 100).hash()).unwrap(), None);
    };
    let read_only = medledger_store::ReadOnlyStore::open(&path).unwrap();
    assert_eq!(read_only.reader().unwrap().state_entries().unwrap(), entries_before);
    all_located(&read_only.reader().unwrap());
    drop(read_only);
    let store = Store::open(&path).unwrap();
    let reader = store.reader().unwrap();
    assert_eq!(reader.state_entries().unwrap(), entries_before);
    all_located(&reader);
    for (k, v) in &expected {
        assert_eq!(medledger_ledger::StateRead::get(&reader, k).as_ref(), Some(v));
        let root = jmt::RootHash(reader.head().unwrap().unwrap().state_root.0);
        let p = reader.state_proof(k).unwrap();
        p.proof
            .verify_existence(root, jmt::KeyHash::with::<Sha256>(k), v.clone())
            .unwrap();
    }
}
