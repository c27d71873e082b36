//! The catalog in a shared PostgreSQL metastore: several nodes create names, commit files and
//! count events concurrently, and every node sees every change exactly once.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use fluoro_store::{Catalog, CatalogError, EventStats, FileMeta, GroupMeta, Metastore};
use support::TestPostgres;

fn group(name: &str) -> GroupMeta {
    GroupMeta::standard(name, 1)
}

fn file(path: String, group_id: u64, seq: u64) -> FileMeta {
    FileMeta {
        id: 0,
        path,
        size_bytes: 1,
        rows: 1,
        min_timestamp: 10,
        max_timestamp: 20,
        max_seq: seq,
        groups: vec![(group_id, 10, 20, 1)],
        message_bytes: 4,
        row_groups: vec![1],
        index_path: None,
        text_index_path: None,
        trace_rows: 0,
        trace_bloom_path: None,
    }
}

fn stats(first_seq: u64, bytes: u64, ts: i64) -> EventStats {
    EventStats {
        first_seq,
        end_seq: first_seq + 1,
        min_ts: ts,
        max_ts: ts,
        ingestion_time: ts,
        bytes,
        bytes_by_hour: vec![(0, bytes)],
    }
}

#[test]
fn nodes_share_one_catalog() {
    let pg = TestPostgres::start();
    let metastore = Metastore::connect(&pg.url).unwrap();
    let a = Arc::new(Catalog::open_shared(metastore.clone(), "111111111111", "node-a").unwrap());
    // Each node has its own connection, as separate processes would.
    let b = Arc::new(Catalog::open_shared(Metastore::connect(&pg.url).unwrap(), "111111111111", "node-b").unwrap());
    let other = Catalog::open_shared(metastore.clone(), "222222222222", "node-a").unwrap();

    // Names are unique across nodes, and a node finds what another created at once.
    let g = a.create_group(group("/g")).unwrap();
    assert!(matches!(b.create_group(group("/g")), Err(CatalogError::GroupExists)));
    assert_eq!(b.group("/g").unwrap().id, g.id);
    assert!(other.group("/g").is_none(), "accounts do not share catalogs");
    let stream = b.create_stream("/g", "s", 5).unwrap();
    let (group_id, stream_id) = (g.id, stream.id);
    assert!(matches!(a.create_stream("/g", "s", 5), Err(CatalogError::StreamExists)));
    assert_eq!(a.stream(g.id, "s").unwrap().id, stream.id);

    // Both nodes flush concurrently: every file is registered once, with a unique id.
    let per_node = 40u64;
    let writers: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .enumerate()
        .map(|(n, catalog)| {
            std::thread::spawn(move || {
                for i in 0..per_node {
                    catalog.record_events(group_id, stream_id, &stats(i, 10, 100 * n as i64 + i as i64));
                    let file = file(format!("logs/{n}-{i}.parquet"), group_id, i);
                    catalog.commit_flush(Some(file), None, None, i + 1).unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    for catalog in [&a, &b] {
        catalog.refresh().unwrap();
        let (paths, ids) = catalog.read(|s| {
            (
                s.files.iter().map(|f| f.path.clone()).collect::<HashSet<_>>(),
                s.files.iter().map(|f| f.id).collect::<HashSet<_>>(),
            )
        });
        assert_eq!(paths.len() as u64, 2 * per_node, "no file lost or duplicated");
        assert_eq!(ids.len() as u64, 2 * per_node, "file ids are unique across nodes");
        let merged = catalog.stream(g.id, "s").unwrap();
        assert_eq!(merged.stored_bytes, 2 * per_node * 10, "statistics add up over the nodes");
        assert_eq!(merged.first_event_timestamp, Some(0));
        assert_eq!(merged.last_event_timestamp, Some(100 + per_node as i64 - 1));
        assert_eq!(catalog.stored_bytes(g.id, None), 2 * per_node * 10);
    }

    // Two nodes replacing the same file (compaction against retention): one wins, the
    // other writes nothing.
    let victim = a.read(|s| s.files[0].id);
    a.replace_files(&[victim], Some(file("logs/compacted.parquet".into(), g.id, 0)), None).unwrap();
    assert!(matches!(b.replace_files(&[victim], None, None), Err(CatalogError::Conflict(_))));
    b.refresh().unwrap();
    assert!(b.read(|s| s.files.iter().all(|f| f.id != victim)));
    assert_eq!(b.read(|s| s.files.len() as u64), 2 * per_node);

    // A restarted node gets back its own WAL position and statistics share; a replayed
    // record is not counted twice.
    drop(a);
    let a = Catalog::open_shared(metastore.clone(), "111111111111", "node-a").unwrap();
    assert_eq!(a.read(|s| s.flushed_seq), per_node);
    a.record_events(g.id, stream.id, &stats(per_node - 1, 10, 0));
    assert_eq!(a.stream(g.id, "s").unwrap().stored_bytes, 2 * per_node * 10);

    // Documents, and deletion reaching the other node.
    a.put_doc("kind", "x", b"1").unwrap();
    assert_eq!(b.docs("kind").unwrap(), vec![("x".to_owned(), b"1".to_vec())]);
    assert!(b.delete_doc("kind", "x").unwrap());
    assert!(!a.delete_doc("kind", "x").unwrap());
    a.delete_group("/g").unwrap();
    b.refresh().unwrap();
    assert!(b.group("/g").is_none());
    assert!(b.stream(g.id, "s").is_none());
    assert!(matches!(b.delete_group("/g"), Err(CatalogError::GroupNotFound)));
    // The name is free again.
    assert_ne!(b.create_group(group("/g")).unwrap().id, g.id);
}

#[test]
fn one_node_holds_a_lease() {
    let pg = TestPostgres::start();
    let metastore = Metastore::connect(&pg.url).unwrap();
    let ttl = Duration::from_millis(600);
    assert!(metastore.lease("alarms", "a", ttl).unwrap());
    assert!(!metastore.lease("alarms", "b", ttl).unwrap(), "held by a");
    assert!(metastore.lease("alarms", "a", ttl).unwrap(), "a renews");
    std::thread::sleep(ttl + Duration::from_millis(200));
    assert!(metastore.lease("alarms", "b", ttl).unwrap(), "expired: b takes over");
    assert!(!metastore.lease("alarms", "a", ttl).unwrap());
    metastore.release("alarms", "b").unwrap();
    assert!(metastore.lease("alarms", "a", ttl).unwrap(), "released: a takes it at once");
}

/// Many threads of one node look up a group and a stream another node has just created: every
/// one finds them, including those whose own refresh comes after a sibling already applied
/// the change (that refresh brings nothing new, yet the name is there).
#[test]
fn concurrent_lookups_find_a_new_name() {
    let pg = TestPostgres::start();
    let a = Catalog::open_shared(Metastore::connect(&pg.url).unwrap(), "111111111111", "node-a").unwrap();
    let b = Arc::new(Catalog::open_shared(Metastore::connect(&pg.url).unwrap(), "111111111111", "node-b").unwrap());
    for round in 0..20 {
        let name = format!("/race/{round}");
        let group_id = a.create_group(group(&name)).unwrap().id;
        a.create_stream(&name, "s", 5).unwrap();
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let lookups: Vec<_> = (0..8)
            .map(|_| {
                let (b, barrier, name) = (b.clone(), barrier.clone(), name.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let group = b.group(&name).map(|found| found.id);
                    (group, b.stream(group_id, "s").is_some())
                })
            })
            .collect();
        for lookup in lookups {
            assert_eq!(lookup.join().unwrap(), (Some(group_id), true), "round {round}");
        }
    }
}
