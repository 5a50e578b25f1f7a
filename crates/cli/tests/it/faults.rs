//! Faults (issue 19): a disk that fills during an import, a database file that may not be
//! written, PostgreSQL unreachable at start. Each gives a clear Chinese error, writes nothing
//! and leaves the server answering. The SQLite faults use a SQLite file of their own whatever
//! engine the suite runs on, so that they run (and can fail) in both passes.

use crate::harness::http_client;
use crate::registry::{HEADER, Person, id_number, row};
use reqwest::StatusCode;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};
use store::Db;
use store::regions::NoProgress;

const VILLAGE: &str = "441621103212";

/// `count` one-person households, each with its own ID number.
fn members_file(dir: &std::path::Path, count: u32) -> String {
    let mut text = format!("{HEADER}\n");
    for i in 0..count {
        let birth = format!(
            "19{:02}0{}1{}",
            40 + i / 300,
            1 + (i / 30) % 9,
            (i / 3) % 10
        );
        let p = Person {
            name: "测试户主",
            male: true,
            id: id_number(&VILLAGE[..6], &birth, i % 300, true),
            relation: "户主",
        };
        text += &row(&format!("F{i:05}"), VILLAGE, &p, "因病", "未脱贫", "");
        text += "\n";
    }
    let path = dir.join("members.csv");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// A migrated SQLite database in a directory others may enter (see `as_other_user`).
async fn sqlite_db(dir: &std::path::Path) -> (String, Db) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.join("faults.db").to_string_lossy().into_owned();
    let db = Db::open(&path, &NoProgress).await.expect("SQLite database");
    (path, db)
}

async fn households(db: &Db) -> i64 {
    match db {
        Db::Sqlite(p) => sqlx::query_scalar("SELECT count(*) FROM households")
            .fetch_one(p)
            .await
            .unwrap(),
        Db::Postgres(_) => unreachable!("a SQLite database"),
    }
}

fn bangfu(database: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bangfu"))
        .arg("--database")
        .arg(database)
        .args(args)
        .env("BANGFU_LOG", "warn")
        .output()
        .expect("run bangfu")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn a_disk_that_fills_during_an_import_is_a_clear_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (path, db) = sqlite_db(dir.path()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = web::AppState::new(db.clone(), store::tabular::ReadLimits::default());
    tokio::spawn(async move { web::serve(listener, state).await });
    let file = members_file(dir.path(), 3000);

    // The child may grow no file beyond 256 KiB (RLIMIT_FSIZE; SIGXFSZ ignored, so that a write
    // past it fails with EFBIG as on a full disk instead of killing the process).
    let limited = Command::new("sh")
        .args([
            "-c",
            "trap '' XFSZ; ulimit -f 512; exec \"$@\"",
            "sh",
            env!("CARGO_BIN_EXE_bangfu"),
            "--database",
            &path,
            "import",
            "households",
            &file,
        ])
        .env("BANGFU_LOG", "warn")
        .output()
        .unwrap();
    let err = stderr(&limited);
    assert!(!limited.status.success(), "{err}");
    assert!(
        err.contains("磁盘空间不足") && err.contains("未写入任何数据"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(households(&db).await, 0, "nothing half-written");

    // The server kept answering, and the database is whole: the same import then succeeds.
    let r = http_client(None)
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let again = bangfu(&path, &["import", "households", &file]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(households(&db).await, 3000);
    let Db::Sqlite(p) = &db else { unreachable!() };
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(p)
        .await
        .unwrap();
    assert_eq!(check, "ok");
}

/// Runs `bangfu` as an unprivileged user when the tests run as root (root may write any
/// file, so a read-only file would be no obstacle to it).
fn as_other_user(database: &str, args: &[&str]) -> Output {
    let root = String::from_utf8_lossy(&Command::new("id").arg("-u").output().unwrap().stdout)
        .trim()
        == "0";
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(env!("CARGO_BIN_EXE_bangfu"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_bangfu"))
    };
    cmd.arg("--database")
        .arg(database)
        .args(args)
        .env("BANGFU_LOG", "warn")
        .output()
        .expect("run bangfu")
}

#[tokio::test]
async fn a_read_only_database_file_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (path, db) = sqlite_db(dir.path()).await;
    let Db::Sqlite(p) = &db else { unreachable!() };
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(p)
        .await
        .unwrap();
    db.close().await;
    let read_only =
        |p: &str, mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
    read_only(&path, 0o444);
    read_only(dir.path().to_str().unwrap(), 0o555);
    for args in [
        &["serve", "--addr", "127.0.0.1:0"][..],
        &["import", "households", "/dev/null"][..],
    ] {
        let out = as_other_user(&path, args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?}: {err}");
        assert!(
            err.contains("只读") && err.contains("权限"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    read_only(dir.path().to_str().unwrap(), 0o755);
}

#[test]
fn postgresql_unreachable_at_start_is_a_clear_error_and_a_failed_exit() {
    // Port 9 (discard): nothing listens there.
    let out = bangfu(
        "postgres://postgres@127.0.0.1:9/bangfu",
        &["serve", "--addr", "127.0.0.1:0"],
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("无法连接 PostgreSQL 数据库"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
