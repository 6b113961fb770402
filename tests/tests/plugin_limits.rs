//! Plugin limits the README promises, at their edges: a fuel budget is a
//! deterministic instruction count (the same call needs the same fuel every
//! time: one budget always passes, one instruction less always runs out),
//! and `input_kb` refuses a larger input before the plugin runs.

use keystep_tests::{Keystep, Ran};
use serde_json::json;

const INPUT: &str = r#"{"do": "echo", "payload": {"users": ["u-ada", "u-linus"], "n": 42}}"#;

/// Calls the hostile plugin's `echo` under a budget of `fuel` instructions.
fn call(k: &Keystep, fuel: u64) -> Ran {
    k.write(
        "plugins/fuelled.toml",
        &format!("[limits]\nfuel = {fuel}\n"),
    );
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
        let ran = call(&k, mid);
        if ran.code == 0 {
            high = mid;
        } else {
            // Only running out counts: any other failure would make the
            // bisection find too high a need.
            assert!(out_of_fuel(&ran, mid), "{ran:?}");
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

/// `{"do": "echo", "pad": "x…"}`, exactly `bytes` long as compact JSON.
fn echo_input(bytes: usize) -> String {
    let input = json!({"do": "echo", "pad": "x".repeat(bytes - 22)}).to_string();
    assert_eq!(input.len(), bytes);
    input
}

#[test]
fn input_kb_bounds_the_input_a_function_gets() {
    let k = Keystep::new();
    k.share_plugin_cache();
    k.add_plugin("hostile", "small");
    k.write("plugins/small.toml", "[limits]\ninput_kb = 1\n");
    let call = |input: &str| k.run(&["--json", "call", "small", "--input", input]);
    // 1 KiB exactly is within the limit: the function echoes it.
    let fits = echo_input(1024);
    let ran = call(&fits);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(
        ran.json(),
        serde_json::from_str::<serde_json::Value>(&fits).unwrap()
    );
    // One byte more is refused, and says which limit.
    let ran = call(&echo_input(1025));
    assert_eq!(ran.code, 1, "{ran:?}");
    assert_eq!(
        ran.json(),
        json!({
            "code": "limit",
            "error": "plugin `small`: limit: its input is 1025 bytes, over the limit of 1024 bytes",
            "retryable": false,
        })
    );
    // The default (1024 KiB) takes the same input.
    k.write("plugins/small.toml", "");
    assert_eq!(call(&echo_input(1025)).code, 0);
}
