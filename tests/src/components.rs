//! Components written by hand in WAT, for what no compiler would build: a
//! function with many memories, an import keystep does not provide, a
//! world's export without its functions.

/// A function component whose `call` returns `{}`, with `imports` (WAT
/// import declarations, placed first) and `hogs` extra core instances of
/// 1000 pages (62.5 MiB) of memory each.
pub fn echo_function(imports: &str, hogs: usize) -> Vec<u8> {
    let mut wat = format!(
        r#"(component
  {imports}
  (core module $Main
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $bump))
      (global.set $bump (i32.add (global.get $bump) (local.get 3)))
      (local.get $p))
    (data (i32.const 16) "{{}}")
    (func (export "call") (param i32 i32) (result i32)
      (i32.store8 (i32.const 32) (i32.const 0))
      (i32.store (i32.const 36) (i32.const 16))
      (i32.store (i32.const 40) (i32.const 2))
      (i32.const 32)))
  (core module $Hog (memory 1000))
  (core instance $main (instantiate $Main))
"#
    );
    for i in 0..hogs {
        wat.push_str(&format!("  (core instance $hog{i} (instantiate $Hog))\n"));
    }
    wat.push_str(
        r#"  (type $error (record (field "code" string) (field "message" string) (field "retryable" bool)))
  (export $e "error" (type $error))
  (func $call (param "input" string) (result (result string (error $e)))
    (canon lift (core func $main "call") (memory (core memory $main "memory"))
      (realloc (core func $main "realloc"))))
  (export "call" (func $call)))
"#,
    );
    wat::parse_str(&wat).unwrap()
}

/// A component that exports the connector interface's name with nothing
/// in it: its world's export, without `info` and the rest.
pub fn hollow_connector() -> Vec<u8> {
    wat::parse_str(
        r#"(component
  (instance $hollow)
  (export "keystep:plugin/connector@0.1.0" (instance $hollow)))"#,
    )
    .unwrap()
}
