//! What a command shows while runs move: each step attempt and each run
//! end as they happen, and Ctrl-C turned into a stop between steps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Exit, render};
use crate::engine::Observer;
use crate::store::runs::{Attempt, Run};

/// Prints each step attempt and each run end as they happen.
pub struct Printer {
    pub json: bool,
}

impl Observer for Printer {
    fn attempt(&self, run: &Run, attempt: &Attempt) {
        if !self.json {
            println!(
                "{}",
                render::attempt_line(attempt).replacen("  ", &format!("  [{}] ", run.id), 1)
            );
        }
    }

    fn run_ended(&self, run: &Run) {
        if !self.json {
            println!("{}", render::run_line(run));
        }
    }
}

/// Sets a flag on Ctrl-C instead of dying, so a run stops between steps.
/// A second Ctrl-C exits at once (130), in the middle of a long step: the
/// run stays as its last committed transition left it (an effect under way
/// is performed again, with the same key), and the lease of a
/// process that is gone is taken over, so `keystep runs resume` continues it.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler = flag.clone();
    // Only one handler per process; a second call keeps the first.
    let _ = ctrlc::set_handler(move || {
        if handler.swap(true, Ordering::Relaxed) {
            eprintln!(
                "\ninterrupted again: stopping now; the run is saved as of its last finished step, `keystep runs resume` continues it"
            );
            std::process::exit(Exit::Interrupted as i32);
        }
        eprintln!("\nstopping after the current step (Ctrl-C again to stop now)");
    });
    flag
}
