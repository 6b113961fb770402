//! `keystep serve` in the background: started, its log followed line by
//! line, stopped with a signal or killed.

use std::io::{BufRead, BufReader};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Keystep;

/// A running `keystep serve`.
pub struct Serving {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Keystep {
    /// Starts `keystep serve` and waits until it serves (its position in
    /// the event log is set: changes made from now on start runs).
    pub fn serve(&self) -> Serving {
        let mut child = self
            .command(&["serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        let serving = Serving { child, log };
        serving.wait_for("serving ", Duration::from_secs(60));
        serving
    }
}

impl Serving {
    /// Every line logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a logged line contains `text`; panics with the log if
    /// none does within `deadline`.
    pub fn wait_for(&self, text: &str, deadline: Duration) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = self.log().into_iter().find(|l| l.contains(text)) {
                return line;
            }
            assert!(
                started.elapsed() < deadline,
                "serve logged no line with {text:?} within {deadline:?}:\n{}",
                self.log().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How many logged lines contain `text`.
    pub fn count(&self, text: &str) -> usize {
        self.log().iter().filter(|l| l.contains(text)).count()
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`) and waits for the process.
    pub fn signal(mut self, signal: &str) -> (ExitStatus, Vec<String>) {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        // Let the readers take the last lines.
        std::thread::sleep(Duration::from_millis(100));
        (status, self.log())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
