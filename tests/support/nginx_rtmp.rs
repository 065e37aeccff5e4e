//! nginx with the RTMP module (Debian `nginx-light` + `libnginx-mod-rtmp`) on a loopback port
//! of its own, for the RTMP push tests: one foreground process, its pid file and logs in a
//! scratch directory, stopped when dropped.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::media;
use super::process::Proc;
use super::tools;

/// Where Debian's libnginx-mod-rtmp puts the module.
pub const RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
const T: Duration = Duration::from_secs(30);

/// nginx with only the RTMP module, in the foreground as one process (so the guard's kill
/// takes all of it), on a loopback port of its own, its pid file and logs in `dir`.
pub struct Nginx {
    proc: Proc,
    pub port: u16,
    pub dir: PathBuf,
    hook_port: u16,
}

/// nginx on `port`, answering there; `None` when the port was taken meanwhile.
fn spawn(dir: &Path, port: u16, hook_port: u16) -> Option<Proc> {
    let nginx = tools::require("nginx");
    assert!(
        Path::new(RTMP_MODULE).exists(),
        "{RTMP_MODULE} missing: apt-get install libnginx-mod-rtmp (scripts/test.sh does)"
    );
    let conf = dir.join("nginx.conf");
    fs::write(&conf, config(dir, port, hook_port)).expect("write nginx.conf");
    let mut cmd = Command::new(&nginx);
    cmd.arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut proc = Proc::spawn("nginx", &mut cmd);
    let deadline = Instant::now() + T;
    while Instant::now() < deadline && proc.try_wait().is_none() {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(proc);
        }
        thread::sleep(Duration::from_millis(20));
    }
    let log = fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    assert!(
        log.contains("Address already in use"),
        "nginx did not start\n{}\n{log}",
        proc.diagnostics()
    );
    None
}

impl Nginx {
    /// `hook_port`: where `on_publish` of the `hooked` application calls.
    pub fn start(name: &str, hook_port: u16) -> Nginx {
        let dir = media::scratch_dir(name);
        // A port another process takes between our probe and nginx's bind is retried.
        for _ in 0..5 {
            let port = free_tcp_port();
            if let Some(proc) = spawn(&dir, port, hook_port) {
                return Nginx {
                    proc,
                    port,
                    dir,
                    hook_port,
                };
            }
        }
        panic!("no free port for nginx after 5 tries");
    }

    /// Kills nginx at once (SIGKILL: no goodbye to its peers).
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// Starts nginx again on the same port, after [`Nginx::kill`].
    pub fn restart(&mut self) {
        let deadline = Instant::now() + T;
        loop {
            if let Some(proc) = spawn(&self.dir, self.port, self.hook_port) {
                self.proc = proc;
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not start again on {}",
                self.port
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self, app: &str, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{app}/{key}", self.port)
    }

    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.proc.terminate(Duration::from_secs(5));
    }
}

/// `live` takes publishers; `wait_key` starts a late player at the next keyframe (nginx-rtmp's
/// default starts it at whatever frame comes next), and `play_restart` sends players
/// NetStream.Play.Stop when the publisher leaves, which is what makes ffmpeg end its file (by
/// default nginx keeps the player waiting for the next publisher, and ffmpeg 5.1 waits with it). `closed` refuses every publisher by access
/// rule; `hooked` asks `on_publish` (an HTTP server of the test's, on `hook_port`).
fn config(dir: &Path, port: u16, hook_port: u16) -> String {
    format!(
        "load_module {RTMP_MODULE};\n\
         daemon off;\n\
         master_process off;\n\
         worker_processes 1;\n\
         pid {pid};\n\
         error_log {log} info;\n\
         events {{ worker_connections 64; }}\n\
         rtmp {{\n\
           server {{\n\
             listen 127.0.0.1:{port};\n\
             application live {{ live on; wait_key on; wait_video on; play_restart on; }}\n\
             application closed {{ live on; deny publish all; }}\n\
             application hooked {{ live on; on_publish http://127.0.0.1:{hook_port}/publish; }}\n\
           }}\n\
         }}\n",
        pid = dir.join("nginx.pid").display(),
        log = dir.join("error.log").display(),
    )
}

pub fn free_tcp_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a probe");
    l.local_addr().expect("local addr").port()
}
