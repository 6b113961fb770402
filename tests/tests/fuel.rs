//! A fuel budget is a deterministic instruction count: the same call on
//! the same input needs the same fuel every time, so one budget always
//! passes and one instruction less always runs out.

use keystep_tests::{Keystep, Ran};

const INPUT: &str = r#"{"do": "echo", "payload": {"users": ["u-ada", "u-linus"], "n": 42}}"#;

/// Calls the hostile plugin's `echo` under a budget of `fuel` instructions.
fn call(k: &Keystep, fuel: u64) -> Ran {
    k.write("plugins/fuelled.toml", &format!("[limits]\nfuel = {fuel}\n"));
    k.run(&["call", "fuelled", "--input", INPUT])
}

fn out_of_fuel(ran: &Ran, fuel: u64) -> bool {
    ran.code == 1
        && ran.stderr.contains(&format!(
            "trap: ran out of fuel (its budget is {fuel} instructions)"
        ))
}

#[test]
fn the_fuel_a_call_needs_is_the_same_on_every_run() {
    let k = Keystep::new();
    k.share_plugin_cache();
    k.add_plugin("hostile", "fuelled");
    // The least budget that suffices, by doubling, then bisection.
    let mut high = 1u64;
    loop {
        let ran = call(&k, high);
        if ran.code == 0 {
            break;
        }
        assert!(out_of_fuel(&ran, high), "{ran:?}");
        high *= 2;
        assert!(high < 1 << 40, "echo never finished within its budget");
    }
    let mut low = high / 2; // runs out
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if call(&k, mid).code == 0 {
            high = mid;
        } else {
            low = mid;
        }
    }
    let need = high;
    // Again and again: exactly that budget passes, one less runs out.
    let first = call(&k, need);
    assert_eq!(first.code, 0, "{first:?}");
    for _ in 0..3 {
        let ran = call(&k, need);
        assert_eq!((ran.code, &ran.stdout), (0, &first.stdout), "{ran:?}");
        let short = call(&k, need - 1);
        assert!(out_of_fuel(&short, need - 1), "{short:?}");
    }
    eprintln!("echo needs {need} instructions of fuel");
}
