//! dockerd killed, or stopped and started again, while `build-push` builds or pushes: a clear
//! error naming the daemon's socket, exit 9, and nothing recorded.
//!
//! The shared daemon is never touched: each test starts a dockerd of its own (with its own
//! containerd, data root, exec root, bridge and socket; several run side by side) and points
//! cb-step at it with `DOCKER_HOST`. Nothing can be pulled into it, so its base image is
//! Debian's static busybox, imported from a tar.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::tool;
use crate::interrupt::{Stage, check, leftovers, processes_gone, processes_with, push_stopped};

const BASE: &str = "private-base:latest";

/// A dockerd of one test's own, killed and its directories removed when dropped.
struct PrivateDaemon {
    /// Short (`/tmp/cbd.XXXXXX`): a unix socket's path is limited to 107 bytes, and containerd's
    /// sockets live under the exec root.
    dir: PathBuf,
    /// A bridge of its own. Never `--bridge=none`: dockerd then deletes `docker0`, the shared
    /// daemon's bridge, and every other test's RUN step fails.
    bridge: String,
    child: Option<Child>,
}

impl PrivateDaemon {
    fn start() -> PrivateDaemon {
        let dir = tempfile::Builder::new()
            .prefix("cbd.")
            .tempdir_in("/tmp")
            .expect("temp dir")
            .keep();
        let bridge = format!(
            "cbd{}",
            dir.to_string_lossy().rsplit('.').next().unwrap_or_default()
        );
        let mut daemon = PrivateDaemon {
            dir,
            bridge,
            child: None,
        };
        tool(
            "ip",
            &["link", "add", "name", &daemon.bridge, "type", "bridge"],
            &[],
        );
        daemon.launch();
        let root = daemon.dir.join("rootfs");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        for applet in ["sh", "sleep", "head", "echo"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        let tar = daemon.dir.join("rootfs.tar");
        tool("tar", &["-C", &path(&root), "-cf", &path(&tar), "."], &[]);
        daemon.docker(&["import", &path(&tar), BASE]);
        daemon
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("dockerd.log"))
            .unwrap();
        let child = Command::new("dockerd")
            .args(["--iptables=false", "--bridge", &self.bridge])
            .arg("--data-root")
            .arg(self.dir.join("data"))
            .arg("--exec-root")
            .arg(self.dir.join("exec"))
            .arg("--pidfile")
            .arg(self.dir.join("dockerd.pid"))
            .arg("-H")
            .arg(self.host())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        self.child = Some(child);
        let started = Instant::now();
        while !self.answers() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the private dockerd did not answer within 60 s:\n{}",
                std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// `GET /_ping` answered `OK`.
    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::os::unix::net::UnixStream::connect(self.socket()) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut answer = String::new();
        stream
            .write_all(b"GET /_ping HTTP/1.0\r\n\r\n")
            .and_then(|()| stream.read_to_string(&mut answer))
            .is_ok()
            && answer.ends_with("OK")
    }

    fn docker(&self, args: &[&str]) -> String {
        let host = self.host();
        let mut all = vec!["-H", host.as_str()];
        all.extend_from_slice(args);
        tool("docker", &all, &[])
    }

    fn signal(&mut self, signal: i32) {
        let child = self.child.as_mut().expect("running");
        // SAFETY: kill(2) on our own unwaited child.
        unsafe {
            libc::kill(i32::try_from(child.id()).unwrap(), signal);
        }
    }

    /// SIGKILL, as the OOM killer would: no chance to close anything cleanly.
    fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        self.child.take().unwrap().wait().unwrap();
    }

    /// SIGTERM, as `systemctl restart docker` sends, and wait for it to exit.
    fn stop(&mut self) {
        self.signal(libc::SIGTERM);
        let mut child = self.child.take().unwrap();
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the private dockerd did not stop within 60 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PrivateDaemon {
    /// Even when the test failed: dockerd, its containerd and shims and their containers
    /// (anything whose command line names this directory), the mounts under it, and it.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let dir = self.dir.to_string_lossy().into_owned();
        for pid in processes_with(&dir) {
            // SAFETY: kill(2) of processes this test's daemon started.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        processes_gone(&dir, Duration::from_secs(10));
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts: Vec<&str> = mountinfo
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .filter(|point| point.starts_with(&dir))
            .collect();
        // The deepest first: overlays and netns files under the data root's bind mount.
        mounts.sort_by_key(|point| std::cmp::Reverse(point.len()));
        for point in mounts {
            let point = std::ffi::CString::new(point).unwrap();
            // SAFETY: a C string for umount2(2); MNT_DETACH does not wait for users.
            unsafe {
                libc::umount2(point.as_ptr(), libc::MNT_DETACH);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = Command::new("ip")
            .args(["link", "delete", &self.bridge])
            .output();
    }
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// What a fault does to the daemon, once cb-step is where the test wants it.
#[derive(Clone, Copy)]
enum Fault {
    Kill,
    Restart,
}

impl Fault {
    fn apply(self, daemon: &mut PrivateDaemon) {
        match self {
            Fault::Kill => daemon.kill(),
            Fault::Restart => {
                daemon.stop();
                daemon.launch();
            }
        }
    }
}

/// One run: start a private daemon, bring cb-step to `stage`, apply `fault`, and check the
/// outcome. Returns what went wrong, if anything, for the tally; the test asserts on it.
fn fault_during(stage: Stage, fault: Fault) -> Option<String> {
    let mut daemon = PrivateDaemon::start();
    let scenario = stage.prepare(BASE, "fault");
    let host = daemon.host();
    let run = scenario.start(&[("DOCKER_HOST", &host)]);
    fault.apply(&mut daemon);
    let ended = run.finish(Duration::from_secs(60));
    let doing = match stage {
        Stage::Build { .. } => "building",
        Stage::Push => "pushing",
    };
    let expected = format!(
        "the Docker daemon at `{host}` went away while {doing} `{}`",
        scenario.reference()
    );
    let problem = if ended.code != Some(9) {
        Some(format!("exit {:?}, not 9", ended.code))
    } else if !ended.stderr.contains(&expected) {
        Some(format!("no `{expected}`"))
    } else if !ended.stderr.contains("hint: dockerd stopped or restarted") {
        Some("no hint".to_owned())
    } else if let Some(left) = leftovers(&scenario.test, &ended) {
        Some(left)
    } else {
        // A restarted daemon does not take the push up again.
        (stage == Stage::Push && !push_stopped(&scenario.repo, "v1", Duration::from_secs(30)))
            .then(|| "the registry's upload carried on, or v1 was tagged".to_owned())
    };
    problem.map(|p| format!("{p}\nstderr:\n{}", ended.stderr))
}

fn fault(case: (Stage, Fault)) -> Option<String> {
    fault_during(case.0, case.1)
}

/// The classic builder, for the one image of an images file.
const CLASSIC_IMAGES: Stage = Stage::Build {
    classic: true,
    images_file: true,
};

#[test]
fn dockerd_killed_mid_build() {
    let cases = [Stage::BUILDKIT, Stage::CLASSIC, Stage::IMAGES].map(|s| (s, Fault::Kill));
    check("dockerd killed mid-build", &cases, fault);
}

#[test]
fn dockerd_restarted_mid_build() {
    let cases = [Stage::BUILDKIT, CLASSIC_IMAGES].map(|s| (s, Fault::Restart));
    check("dockerd restarted mid-build", &cases, fault);
}

#[test]
fn dockerd_killed_mid_push() {
    check(
        "dockerd killed mid-push",
        &[(Stage::Push, Fault::Kill)],
        fault,
    );
}

#[test]
fn dockerd_restarted_mid_push() {
    check(
        "dockerd restarted mid-push",
        &[(Stage::Push, Fault::Restart)],
        fault,
    );
}
