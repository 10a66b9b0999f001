//! The rendered user-data, run for real in a sandbox: `STREAMCTL_ROOT` puts every path under a
//! temporary directory and stub commands (mkfs.xfs, mount, systemctl, blkid, lsblk, curl, aws,
//! etcd, kafka-storage.sh) on PATH record what they were asked to do. For each role the script
//! must take the right steps in the right order, and fail loudly when the software is missing.

use std::path::{Path, PathBuf};
use std::process::Command as Proc;

use assert_cmd::Command;

const STUB: &str = r#"#!/bin/bash
echo "$(basename "$0") $*" >> "$STREAMCTL_ROOT/calls.log"
case "$(basename "$0")" in
  blkid)
    # `blkid -L LABEL` and `blkid DEV`: found only once mkfs ran.
    [ -f "$STREAMCTL_ROOT/.formatted" ] || exit 2
    [ "$1" = "-L" ] && echo "$STREAMCTL_ROOT/dev/sdf"
    exit 0 ;;
  mkfs.xfs) touch "$STREAMCTL_ROOT/.formatted" ;;
  lsblk) exit 0 ;;
  mount) [ -z "${STUB_FAIL_MOUNT:-}" ] || exit 32 ;;
  curl)
    case "$*" in
      *api/token*) echo token ;;
      *instance-id*) echo i-0123 ;;
      *) out=""; while [ $# -gt 0 ]; do [ "$1" = "-o" ] && out=$2; shift; done
         cp "$STUB_ARTIFACT" "$out" ;;
    esac ;;
  aws)
    [ "$1 $2" = "s3 cp" ] && cp "$STUB_ARTIFACT" "${@: -1}"
    exit 0 ;;
esac
exit 0
"#;

struct Sandbox {
    dir: tempfile::TempDir,
    path: String,
}

impl Sandbox {
    /// A root with a blank data device, stubs on PATH, optionally Apache Kafka under /opt/kafka
    /// and etcd on PATH.
    fn new(kafka: bool, etcd: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("dev")).unwrap();
        std::fs::write(root.join("dev/sdf"), b"").unwrap();
        let bin = root.join("stub-bin");
        std::fs::create_dir_all(&bin).unwrap();
        let mut stubs = vec![
            "mkfs.xfs",
            "mount",
            "systemctl",
            "blkid",
            "lsblk",
            "curl",
            "aws",
        ];
        if etcd {
            stubs.push("etcd");
        }
        for s in stubs {
            write_exec(&bin.join(s), STUB);
        }
        if kafka {
            let k = root.join("opt/kafka/bin");
            std::fs::create_dir_all(&k).unwrap();
            write_exec(&k.join("kafka-storage.sh"), STUB);
        }
        // Only the basics of the machine besides the stubs (no real etcd, aws or mkfs).
        let path = format!("{}:/usr/bin:/bin", bin.display());
        Self { dir, path }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, script: &str, env: &[(&str, &str)]) -> (i32, String) {
        let mut c = Proc::new("/bin/bash");
        c.arg(script)
            .env_clear()
            .env("PATH", &self.path)
            .env("STREAMCTL_ROOT", self.root());
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.root().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.replace(&self.root().display().to_string(), "$ROOT"))
            .collect()
    }

    fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.root().join(p)).unwrap_or_default()
    }
}

fn write_exec(p: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Render a spec's user-data; returns the directory holding `user-data/*.sh`.
fn render(spec: &Path) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    Command::cargo_bin("streamctl")
        .unwrap()
        .args(["render", "-f"])
        .arg(spec)
        .arg("--out-dir")
        .arg(out.path())
        .assert()
        .success();
    out
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("docs/examples/{name}.yaml"))
}

fn script(dir: &tempfile::TempDir, node: &str) -> String {
    dir.path()
        .join(format!("user-data/{node}.sh"))
        .display()
        .to_string()
}

/// Index of the first call starting with `prefix` (panics with the calls when absent).
fn at(calls: &[String], prefix: &str) -> usize {
    calls
        .iter()
        .position(|c| c.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` call in {calls:#?}"))
}

#[test]
fn a_broker_formats_a_blank_volume_mounts_it_formats_kafka_and_starts_it_in_order() {
    let r = render(&example("classic"));
    let sb = Sandbox::new(true, false);
    let (code, err) = sb.run(&script(&r, "streamctl-orders-classic-brokers-1"), &[]);
    assert_eq!(code, 0, "{err}");
    let calls = sb.calls();
    let steps = [
        "mkfs.xfs -L streamctl-broker $ROOT/dev/sdf",
        "mount -a",
        "kafka-storage.sh format --ignore-formatted --cluster-id",
        "systemctl daemon-reload",
        "systemctl enable --now streamctl-kafka.service",
        "aws ec2 create-tags --region us-east-1 --resources i-0123 --tags Key=streamctl:boot,Value=ok",
    ];
    let pos: Vec<usize> = steps.iter().map(|s| at(&calls, s)).collect();
    assert!(
        pos.windows(2).all(|w| w[0] < w[1]),
        "out of order: {calls:#?}"
    );
    assert!(sb.read("etc/kafka/server.properties").contains("node.id="));
    assert!(sb
        .read("etc/kafka/server.properties")
        .contains("broker.rack="));
    assert!(sb
        .read("etc/fstab")
        .contains("LABEL=streamctl-broker /var/lib/streamctl xfs"));
    assert!(sb
        .read("etc/systemd/system/streamctl-kafka.service")
        .contains("ExecStart=/opt/kafka/bin/kafka-server-start.sh"));
    assert!(err.contains("streamctl-boot: ok"));

    // A second boot (a replacement re-attaching the volume) never formats it again and
    // does not add the mount twice.
    std::fs::remove_file(sb.root().join("calls.log")).unwrap();
    let (code, err) = sb.run(&script(&r, "streamctl-orders-classic-brokers-1"), &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !sb.calls().iter().any(|c| c.starts_with("mkfs")),
        "{:#?}",
        sb.calls()
    );
    assert_eq!(sb.read("etc/fstab").lines().count(), 1);
}

#[test]
fn a_broker_without_kafka_fails_loudly_and_tags_itself_failed() {
    let r = render(&example("classic"));
    let sb = Sandbox::new(false, false);
    let (code, err) = sb.run(&script(&r, "streamctl-orders-classic-brokers-2"), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("streamctl-boot: FAILED: Apache Kafka is not installed under /opt/kafka"),
        "{err}"
    );
    let calls = sb.calls();
    assert!(
        !calls.iter().any(|c| c.starts_with("systemctl")),
        "{calls:#?}"
    );
    at(
        &calls,
        "aws ec2 create-tags --region us-east-1 --resources i-0123 --tags Key=streamctl:boot,Value=failed: Apache Kafka is not installed",
    );
}

#[test]
fn a_failed_mount_or_a_missing_volume_stops_the_boot() {
    let r = render(&example("classic"));
    let sb = Sandbox::new(true, false);
    let (code, err) = sb.run(
        &script(&r, "streamctl-orders-classic-brokers-1"),
        &[("STUB_FAIL_MOUNT", "1")],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("FAILED: mounting /var/lib/streamctl failed"),
        "{err}"
    );
    assert!(!sb.calls().iter().any(|c| c.contains("kafka-storage")));

    let sb = Sandbox::new(true, false);
    std::fs::remove_file(sb.root().join("dev/sdf")).unwrap();
    let (code, err) = sb.run(&script(&r, "streamctl-orders-classic-controllers-1"), &[]);
    assert_eq!(code, 1);
    assert!(err.contains("FAILED: the data volume"), "{err}");
    assert!(!sb.calls().iter().any(|c| c.starts_with("mkfs")));
}

/// The classic example with a Kafka archive to install, and that archive.
fn with_artifact(sha: Option<&str>) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    // A Kafka-shaped archive: kafka_2.13-4.1.0/bin/kafka-storage.sh
    let tree = dir.path().join("kafka_2.13-4.1.0/bin");
    std::fs::create_dir_all(&tree).unwrap();
    write_exec(&tree.join("kafka-storage.sh"), STUB);
    let tgz = dir.path().join("kafka.tgz");
    assert!(Proc::new("tar")
        .arg("-czf")
        .arg(&tgz)
        .arg("-C")
        .arg(dir.path())
        .arg("kafka_2.13-4.1.0")
        .status()
        .unwrap()
        .success());
    let real = String::from_utf8(Proc::new("sha256sum").arg(&tgz).output().unwrap().stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let text = std::fs::read_to_string(example("classic")).unwrap();
    let spec = dir.path().join("classic-artifact.yaml");
    std::fs::write(
        &spec,
        format!(
            "{text}\nkafka_artifact:\n  url: s3://example-artifacts/kafka_2.13-4.1.0.tgz\n  sha256: {}\n",
            sha.unwrap_or(&real)
        ),
    )
    .unwrap();
    (dir, spec, tgz)
}

#[test]
fn a_node_installs_the_spec_artifact_through_s3_after_checking_its_sha256() {
    let (_keep, spec, tgz) = with_artifact(None);
    let r = render(&spec);
    let sb = Sandbox::new(false, false);
    let tgz = tgz.display().to_string();
    let (code, err) = sb.run(
        &script(&r, "streamctl-orders-classic-controllers-1"),
        &[("STUB_ARTIFACT", &tgz)],
    );
    assert_eq!(code, 0, "{err}");
    let calls = sb.calls();
    let fetched = at(
        &calls,
        "aws s3 cp --region us-east-1 --only-show-errors s3://example-artifacts/kafka_2.13-4.1.0.tgz",
    );
    assert!(fetched < at(&calls, "kafka-storage.sh format"));
    assert!(sb.root().join("opt/kafka/bin/kafka-storage.sh").exists());
    at(&calls, "systemctl enable --now streamctl-kafka.service");
}

#[test]
fn a_wrong_sha256_stops_the_boot_before_anything_is_installed() {
    let (_keep, spec, tgz) = with_artifact(Some(&"0".repeat(64)));
    let r = render(&spec);
    let sb = Sandbox::new(false, false);
    let tgz = tgz.display().to_string();
    let (code, err) = sb.run(
        &script(&r, "streamctl-orders-classic-brokers-3"),
        &[("STUB_ARTIFACT", &tgz)],
    );
    assert_eq!(code, 1);
    assert!(err.contains("SHA-256 mismatch"), "{err}");
    assert!(!sb.root().join("opt/kafka/bin").exists());
    assert!(!sb.calls().iter().any(|c| c.starts_with("systemctl")));
}

#[test]
fn etcd_nodes_need_etcd_and_bufstream_nodes_only_carry_their_zone() {
    let r = render(&example("diskless"));
    let names: Vec<String> = std::fs::read_dir(r.path().join("user-data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let etcd = names
        .iter()
        .find(|n| n.contains("etcd"))
        .expect("an etcd node");
    let etcd = script(&r, etcd.trim_end_matches(".sh"));

    let sb = Sandbox::new(false, false);
    let (code, err) = sb.run(&etcd, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("FAILED: etcd is not installed"), "{err}");

    let sb = Sandbox::new(false, true);
    let (code, err) = sb.run(&etcd, &[]);
    assert_eq!(code, 0, "{err}");
    let calls = sb.calls();
    assert!(at(&calls, "mount -a") < at(&calls, "systemctl enable --now streamctl-etcd.service"));
    assert!(sb.read("etc/etcd/etcd.conf.yml").contains("name:"));

    let buf = names
        .iter()
        .find(|n| !n.contains("etcd"))
        .expect("a bufstream node");
    let sb = Sandbox::new(false, false);
    let (code, err) = sb.run(&script(&r, buf.trim_end_matches(".sh")), &[]);
    assert_eq!(code, 0, "{err}");
    assert!(sb
        .read("etc/streamctl/node.env")
        .contains("BUFSTREAM_ZONE="));
    assert!(!sb.calls().iter().any(|c| c.starts_with("systemctl")));
}
