//! The processes under load: `keystep serve` on a fresh working directory
//! (its config, the decide plugins and automations), and this bench
//! re-run as the bare server. Each is read from its log for its address,
//! and from `/proc` for its memory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The operate token serve is given.
const TOKEN: &str = "bench-token-5f1c9e27a0d4b386";

/// A working directory for serve.
pub struct Setup {
    pub dir: tempfile::TempDir,
    /// The plugins' compile cache, kept between bench runs.
    pub cache: PathBuf,
    pub plugins: PathBuf,
}

impl Setup {
    pub fn new() -> anyhow::Result<Setup> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let cache = root.join("target/bench-plugin-cache");
        let dir = tempfile::tempdir()?;
        let plugins = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins)?;
        std::fs::create_dir_all(dir.path().join("automations"))?;
        for function in super::FUNCTIONS {
            let built = root.join(format!("examples/plugins/{function}.wasm"));
            anyhow::ensure!(
                built.is_file(),
                "{} is missing: run `bash plugins/build.sh` first",
                built.display()
            );
            std::fs::copy(&built, plugins.join(format!("{function}.wasm")))?;
            std::fs::write(
                dir.path().join(format!("automations/{function}.yaml")),
                super::automation(function),
            )?;
        }
        std::fs::write(
            dir.path().join("keystep.toml"),
            format!(
                "[store]\npath = \"keystep.db\"\n[automations]\ndirs = [\"automations\"]\n[plugins]\ndirs = [\"plugins\"]\ncache = \"{}\"\n[serve]\nshutdown_grace = \"5s\"\n[[serve.tokens]]\nname = \"bench\"\nscope = \"operate\"\nsecret = \"env:KEYSTEP_BENCH_TOKEN\"\n",
                cache.display()
            ),
        )?;
        Ok(Setup {
            dir,
            cache,
            plugins,
        })
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("keystep.toml")
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("keystep.db")
    }
}

/// A server process, stopped when dropped.
pub struct Server {
    child: Child,
    pub address: String,
    token: Option<&'static str>,
    store: Option<PathBuf>,
}

impl Server {
    /// `keystep serve` on `setup`'s directory, its API on a free port.
    pub fn serve(setup: &Setup) -> anyhow::Result<Server> {
        let mut server = Server::serve_with_config(&setup.config())?;
        server.token = Some(TOKEN);
        server.store = Some(setup.store());
        Ok(server)
    }

    /// `keystep serve --config CONFIG`, its API on a free port.
    pub fn serve_with_config(config: &Path) -> anyhow::Result<Server> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keystep"));
        command
            .args([
                "--config",
                config.to_str().unwrap(),
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .env("KEYSTEP_BENCH_TOKEN", TOKEN)
            .env("KEYSTEP_PLUGIN_LOG", "warn");
        Server::spawn(command, "serving ")
    }

    /// This bench as the bare server.
    pub fn bare(setup: &Setup) -> anyhow::Result<Server> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args([
                "--bare",
                setup.plugins.to_str().unwrap(),
                setup.cache.to_str().unwrap(),
            ])
            .env("KEYSTEP_PLUGIN_LOG", "warn");
        Server::spawn(command, "listening on http://")
    }

    /// Starts `command` and reads its log until a line holds `ready`; the
    /// rest of the log is read (and dropped) on a thread.
    fn spawn(mut command: Command, ready: &str) -> anyhow::Result<Server> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().unwrap();
        let (lines, seen) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut address = None;
        loop {
            let line = seen.recv_timeout(Duration::from_secs(120)).map_err(|_| {
                anyhow::anyhow!("the server did not start (no {ready:?} in its log)")
            })?;
            if let Some(rest) = line.split("listening on http://").nth(1) {
                address = Some(rest.trim().to_string());
            }
            if line.contains(ready) {
                break;
            }
        }
        // Drop the log from now on, so that a full pipe never stalls it.
        std::thread::spawn(move || while seen.recv().is_ok() {});
        let address = address.ok_or_else(|| anyhow::anyhow!("the server said no address"))?;
        Ok(Server {
            child,
            address,
            token: None,
            store: None,
        })
    }

    pub fn token(&self) -> Option<&str> {
        self.token
    }

    /// The process's resident memory now and at its peak, in MB.
    pub fn memory_mb(&self) -> anyhow::Result<(f64, f64)> {
        memory_mb(self.child.id())
    }

    pub fn peak_mb(&self) -> anyhow::Result<f64> {
        Ok(self.memory_mb()?.1)
    }

    /// Starts the peak afresh (`/proc/PID/clear_refs`), so that it leaves
    /// out what compiling a plugin on its first call took.
    pub fn reset_peak(&self) -> anyhow::Result<()> {
        Ok(std::fs::write(
            format!("/proc/{}/clear_refs", self.child.id()),
            "5",
        )?)
    }

    /// How many runs serve's store holds; an error unless all succeeded.
    pub fn runs(&self) -> anyhow::Result<i64> {
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("not serve"))?;
        let db = rusqlite::Connection::open(store)?;
        let (all, succeeded): (i64, i64) = db.query_row(
            "SELECT count(*), count(*) FILTER (WHERE state = 'succeeded') FROM runs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        anyhow::ensure!(all == succeeded, "{succeeded} of {all} runs succeeded");
        Ok(all)
    }
}

/// Where a run's time went, averaged over runs after `after`, in ms: from
/// its creation to its step's start (the queue), the step, and from the
/// step's end to the run's (its `output:`).
pub fn phases(store: &Path, after: i64) -> anyhow::Result<(f64, f64, f64)> {
    let db = rusqlite::Connection::open(store)?;
    let ms = |a: &str, b: &str| format!("avg((julianday({b}) - julianday({a})) * 86400000.0)");
    let sql = format!(
        "SELECT {}, {}, {} FROM runs r JOIN step_attempts a ON a.run_id = r.id WHERE r.id > ?1",
        ms("r.created_at", "a.started_at"),
        ms("a.started_at", "a.finished_at"),
        ms("a.finished_at", "r.finished_at")
    );
    Ok(db.query_row(&sql, [after], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?)
}

/// The newest run's id in `store`.
pub fn last_run(store: &Path) -> anyhow::Result<i64> {
    let db = rusqlite::Connection::open(store)?;
    Ok(db.query_row("SELECT coalesce(max(id), 0) FROM runs", [], |r| r.get(0))?)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Process `pid`'s resident memory (`VmRSS`) and its peak (`VmHWM`), in MB.
pub fn memory_mb(pid: u32) -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<f64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or_else(|| anyhow::anyhow!("no {name} in /proc/{pid}/status"))?;
        let kb: f64 = line.split_whitespace().nth(1).unwrap_or("").parse()?;
        Ok(kb / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}
