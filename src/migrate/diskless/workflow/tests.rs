//! `Migration::open` and the steps over in-memory clusters.

use super::*;

fn settings(path: &std::path::Path) -> Settings {
    Settings {
        journal: path.to_path_buf(),
        source: Endpoint {
            bootstrap: "src:9092".into(),
            client: BTreeMap::new(),
        },
        target: Endpoint {
            bootstrap: "tgt:9092".into(),
            client: BTreeMap::new(),
        },
        engine: None,
        connect_url: None,
        connector: "c".into(),
        connect_max_tasks: 4,
        topics: None,
        groups: None,
        throttle: None,
        max_in_flight: 4,
        allow_compacted: false,
        wait: Duration::from_secs(1),
        stall: Duration::from_secs(1),
        wait_for_producers_stopped: false,
        stop: Arc::new(AtomicBool::new(false)),
        follow: None,
    }
}

fn refused(r: Result<Migration, DisklessError>) -> String {
    match r {
        Err(e @ DisklessError::Refused(_)) => {
            assert_eq!(e.exit_code(), crate::exit::ExitCode::BadInput);
            e.to_string()
        }
        Err(e) => panic!("not a refusal: {e}"),
        Ok(_) => panic!("opened"),
    }
}

#[test]
fn opening_checks_the_settings_against_the_journal_before_any_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.json");
    // No journal: verify, cutover and cancel have nothing to work on; a copy starts one.
    let e = refused(Migration::open(settings(&path), Step::Verify));
    assert!(e.contains("nothing was copied yet"), "{e}");
    let m = Migration::open(settings(&path), Step::Copy).unwrap();
    assert_eq!(m.engine, Engine::Builtin);
    // While one is open, this process or another may not open the journal again.
    let e = refused(Migration::open(settings(&path), Step::Copy));
    assert!(e.contains("in use by another streamctl process"), "{e}");
    drop(m);
    // A journal of the Connect engine: its engine and URL unless told otherwise.
    let mut j = DisklessJournal::new("src:9092", "tgt:9092", "t");
    j.connect = Some(ConnectRecord {
        url: "http://connect:8083".into(),
        connector: "c".into(),
        exactly_once: false,
        quotas: BTreeMap::new(),
        deleted: false,
    });
    j.save(&path).unwrap();
    let m = Migration::open(settings(&path), Step::Verify).unwrap();
    assert_eq!(m.engine, Engine::Connect);
    assert_eq!(m.connect_url(), Some("http://connect:8083"));
    drop(m);
    let mut s = settings(&path);
    s.engine = Some(Engine::Builtin);
    let e = refused(Migration::open(s, Step::Copy));
    assert!(
        e.contains("copied by the connect engine, not builtin"),
        "{e}"
    );
    // Other clusters than the journal's.
    let mut s = settings(&path);
    s.target.bootstrap = "elsewhere:9092".into();
    let e = refused(Migration::open(s, Step::Copy));
    assert!(e.contains("holds the migration src:9092 → tgt:9092"), "{e}");
    // The built-in engine has no connector to cancel.
    let dir2 = tempfile::tempdir().unwrap();
    let e = refused(Migration::open(
        settings(&dir2.path().join("j.json")),
        Step::Cancel,
    ));
    assert!(e.contains("apply to --engine connect"), "{e}");
}
