//! Expressions: CEL programs and `{{ }}` templates over the run context.
//!
//! An automation refers to data through one variable, `ctx` (`ctx.trigger`,
//! `ctx.<step_id>`, `ctx.run`). This module compiles CEL once, when the
//! automation is parsed, and evaluates it against a JSON context; it knows
//! nothing of steps or runs. An expression is bounded: in length and
//! nesting when compiled ([`limits`]), in work and time when evaluated
//! ([`budget`]).

mod budget;
pub mod functions;
pub mod limits;
mod template;

use std::sync::{Arc, OnceLock};

use cel::common::ast::{EntryExpr, Expr as Ast, IdedExpr};
use serde_json::Value as Json;

pub use functions::directory::Lookup;
pub use template::{Part, Template};

/// A compiled CEL expression together with its source text.
#[derive(Clone)]
pub struct Expr {
    source: String,
    /// The parsed tree, instrumented with the evaluation budget.
    tree: Arc<IdedExpr>,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

/// Why an expression did not compile: the message and the 1-based column in
/// the expression's own text.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileError {
    pub column: usize,
    pub message: String,
}

fn env() -> Arc<cel::Env> {
    static ENV: OnceLock<Arc<cel::Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = cel::Env::stdlib();
        budget::declare(&mut env);
        functions::declare(&mut env);
        Arc::new(env)
    })
    .clone()
}

/// The stack the CEL parser runs on. It recurses with large frames (about
/// 150 KB per level of brackets in a debug build), so it gets a stack of
/// its own, whatever thread compiles.
const PARSER_STACK: usize = 64 << 20;

impl Expr {
    /// Compiles a CEL expression within [`limits`].
    pub fn compile(source: &str) -> Result<Expr, CompileError> {
        limits::check(source)?;
        let tree = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("cel-parser".into())
                .stack_size(PARSER_STACK)
                .spawn_scoped(scope, || parse(source))
                .map_err(|e| CompileError {
                    column: 1,
                    message: format!("cannot start the expression parser: {e}"),
                })?
                .join()
                .unwrap_or_else(|_| {
                    Err(CompileError {
                        column: 1,
                        message: "the expression parser failed".into(),
                    })
                })
        })?;
        Ok(Expr {
            source: source.to_string(),
            tree: Arc::new(tree),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates against `scope`, within [`budget`], and returns the value
    /// as JSON.
    pub fn eval(&self, scope: &Scope) -> Result<Json, String> {
        let ctx = vec![("ctx".to_string(), scope.ctx.clone())];
        let value = functions::directory::with(scope.directory.clone(), || self.eval_value(ctx))?;
        value.json().map_err(|e| format!("`{}`: {e}", self.source))
    }

    /// Evaluates with `variables` bound by name, within [`budget`], and
    /// returns CEL's own value. [`Expr::eval`] binds `ctx`; the CEL
    /// specification's conformance tests (`host/tests/cel_conformance.rs`)
    /// bind their own variables and compare values JSON cannot tell apart
    /// (`1` and `1u`).
    pub fn eval_value(&self, variables: Vec<(String, cel::Value)>) -> Result<cel::Value, String> {
        let mut context = cel::Context::with_env(env());
        for (name, value) in variables {
            context.add_variable_from_value(name, value);
        }
        context
            .add_function("now", || chrono::Utc::now().fixed_offset())
            .map_err(|e| e.to_string())?;
        budget::metered(|| cel::Value::resolve(&self.tree, &context))
            .map_err(|over| format!("`{}`: {over}", self.source))?
            .map_err(|e| format!("`{}`: {e}", self.source))
    }

    /// Evaluates a condition, which must produce a boolean.
    pub fn eval_bool(&self, scope: &Scope) -> Result<bool, String> {
        match self.eval(scope)? {
            Json::Bool(b) => Ok(b),
            other => Err(format!(
                "`{}` must be true or false, got {other}",
                self.source
            )),
        }
    }

    /// The names `x` of every `ctx.x` this expression reads: step ids, or
    /// `trigger` and `run`.
    pub fn context_roots(&self) -> Vec<String> {
        let mut reads = Reads::default();
        collect_roots(&self.tree, &mut reads);
        let mut roots = reads.roots;
        roots.sort();
        roots.dedup();
        roots
    }

    /// Whether this expression reads nothing of `ctx` but `ctx.ROOT` for
    /// the roots in `allowed`.
    pub fn reads_only(&self, allowed: &[&str]) -> bool {
        let mut reads = Reads::default();
        collect_roots(&self.tree, &mut reads);
        !reads.whole
            && !reads.directory
            && reads.roots.iter().all(|r| allowed.contains(&r.as_str()))
    }

    /// Whether this expression calls a `directory.*` function, and so reads
    /// what the store has committed when it runs.
    pub fn reads_directory(&self) -> bool {
        let mut reads = Reads::default();
        collect_roots(&self.tree, &mut reads);
        reads.directory
    }

    /// The literal patterns given to `matches()`, which CEL compiles only
    /// when the call runs: `validate` checks them before.
    pub fn literal_patterns(&self) -> Vec<String> {
        let mut patterns = Vec::new();
        let mut pending = vec![&*self.tree];
        while let Some(node) = pending.pop() {
            if let cel::common::ast::Expr::Call(call) = &node.expr
                && call.func_name == "matches"
                && let Some(cel::common::ast::Expr::Literal(
                    cel::common::ast::LiteralValue::String(pattern),
                )) = call.args.last().map(|a| &a.expr)
            {
                patterns.push(pattern.to_string());
            }
            pending.extend(limits::children(node));
        }
        patterns
    }
}

/// Parses `source` (already within [`limits::check`]), checks the tree's
/// depth and instruments it with the budget.
fn parse(source: &str) -> Result<IdedExpr, CompileError> {
    let (mut tree, info) = env()
        .parser()
        .parse_with_source_info(source)
        .map_err(|errors| {
            let first = errors.errors.first();
            CompileError {
                // `cel` already reports 1-based columns.
                column: first.map_or(1, |e| e.pos.1.max(1) as usize),
                message: first.map_or_else(|| errors.to_string(), |e| e.msg.clone()),
            }
        })?;
    limits::check_tree(&tree, &info)?;
    functions::check(&tree, &info, source)?;
    budget::instrument(&mut tree);
    Ok(tree)
}

/// What of `ctx` an expression reads.
#[derive(Default)]
struct Reads {
    /// Every `x` of `ctx.x` and `ctx["x"]`.
    roots: Vec<String>,
    /// Whether `ctx` is also used otherwise (`size(ctx)`, `ctx[key]`): then
    /// it may read anything.
    whole: bool,
    /// Whether it calls a `directory.*` function.
    directory: bool,
}

fn collect_roots(node: &IdedExpr, out: &mut Reads) {
    match &node.expr {
        Ast::Select(select) => {
            if matches!(&select.operand.expr, Ast::Ident(name) if name == "ctx") {
                out.roots.push(select.field.clone());
            } else {
                collect_roots(&select.operand, out);
            }
        }
        Ast::Call(call) => {
            if let Some(target) = &call.target {
                out.directory |= matches!(&target.expr, Ast::Ident(ns) if ns == "directory");
                collect_roots(target, out);
            }
            // `ctx["x"]` is an index call on `ctx`.
            if call.func_name == "_[_]"
                && let [base, key] = call.args.as_slice()
                && matches!(&base.expr, Ast::Ident(name) if name == "ctx")
                && let Ast::Literal(cel::common::ast::LiteralValue::String(s)) = &key.expr
            {
                out.roots.push(s.to_string());
                return;
            }
            call.args.iter().for_each(|a| collect_roots(a, out));
        }
        Ast::Comprehension(c) => {
            for e in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                collect_roots(e, out);
            }
        }
        Ast::List(list) => list.elements.iter().for_each(|e| collect_roots(e, out)),
        Ast::Map(map) => map.entries.iter().for_each(|e| match &e.expr {
            EntryExpr::MapEntry(m) => {
                collect_roots(&m.key, out);
                collect_roots(&m.value, out);
            }
            EntryExpr::StructField(f) => collect_roots(&f.value, out),
        }),
        Ast::Struct(s) => s.entries.iter().for_each(|e| {
            if let EntryExpr::StructField(f) = &e.expr {
                collect_roots(&f.value, out)
            }
        }),
        Ast::Ident(name) => out.whole |= name == "ctx",
        Ast::Literal(_) | Ast::Unspecified => {}
    }
}

/// The context an expression sees, converted to CEL once and shared by every
/// expression of a step, and the directory its `directory.*` functions read.
pub struct Scope {
    ctx: cel::Value,
    directory: Option<Arc<dyn Lookup>>,
}

impl Scope {
    /// A scope for steps without expressions: nothing to convert.
    pub fn empty() -> Scope {
        Scope {
            ctx: cel::Value::Null,
            directory: None,
        }
    }

    pub fn new(ctx: &Json) -> Scope {
        Scope {
            ctx: cel::to_value(ctx).unwrap_or(cel::Value::Null),
            directory: None,
        }
    }

    /// This scope with `directory` for the `directory.*` functions to read
    /// (without one they fail, saying the directory is not available).
    pub fn reading(mut self, directory: Arc<dyn Lookup>) -> Scope {
        self.directory = Some(directory);
        self
    }

    /// Whether this is [`Scope::empty`].
    pub fn is_empty(&self) -> bool {
        matches!(self.ctx, cel::Value::Null)
    }

    /// This scope with `ctx[key]` set to `value`: only `value` is
    /// converted, the rest is shared. A scope that is not a map (empty)
    /// becomes one.
    pub fn with(&self, key: &str, value: &Json) -> Scope {
        let mut map = match &self.ctx {
            cel::Value::Map(map) => map.map.as_ref().clone(),
            _ => Default::default(),
        };
        let value = cel::to_value(value).unwrap_or(cel::Value::Null);
        map.insert(cel::objects::Key::from(key.to_string()), value);
        Scope {
            ctx: cel::Value::Map(cel::objects::Map {
                map: std::sync::Arc::new(map),
            }),
            directory: self.directory.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_against_ctx() {
        let scope = Scope::new(&json!({"trigger": {"user": {"dept": "Eng"}}, "a": {"n": 2}}));
        let e = Expr::compile("ctx.trigger.user.dept == 'Eng' && ctx.a.n > 1").unwrap();
        assert!(e.eval_bool(&scope).unwrap());
        assert_eq!(e.context_roots(), vec!["a", "trigger"]);
    }

    #[test]
    fn a_scope_with_one_more_key_sees_it_and_keeps_the_rest() {
        let scope = Scope::new(&json!({"trigger": {"n": 1}, "a": {"n": 2}}));
        let more = scope
            .with("b", &json!({"n": 3}))
            .with("a", &json!({"n": 4}));
        let e = Expr::compile("ctx.trigger.n + ctx.a.n + ctx.b.n").unwrap();
        assert_eq!(e.eval(&more).unwrap(), json!(8));
        let e = Expr::compile("ctx.b.n").unwrap();
        assert_eq!(
            e.eval(&Scope::empty().with("b", &json!({"n": 3}))).unwrap(),
            json!(3)
        );
        let e = Expr::compile("ctx.a.n").unwrap();
        assert_eq!(
            e.eval(&scope).unwrap(),
            json!(2),
            "the first scope is unchanged"
        );
    }

    #[test]
    fn tells_what_of_ctx_an_expression_reads() {
        let only = |source: &str| Expr::compile(source).unwrap().reads_only(&["trigger"]);
        assert!(only("ctx.trigger.user.manager_id"));
        assert!(only("ctx['trigger'].user + 'x'"));
        assert!(only("1 + 2"));
        assert!(!only("ctx.trigger.a == ctx.revoke.b"));
        assert!(!only("ctx['revoke']"));
        assert!(!only("size(ctx) > 0"));
        assert!(!only("ctx[ctx.trigger.step]"));
        assert!(!only("'revoke' in ctx"));
    }

    #[test]
    fn reports_column_of_syntax_error() {
        let err = Expr::compile("ctx.a ==").unwrap_err();
        assert!(err.column >= 7, "{err:?}");
    }

    fn eval(source: &str, ctx: &Json) -> Result<Json, String> {
        Expr::compile(source).unwrap().eval(&Scope::new(ctx))
    }

    #[test]
    fn the_budget_leaves_results_as_they_were() {
        // (JSON numbers reach CEL as unsigned integers: `2u`.)
        let ctx = json!({"l": [1, 2, 3, 4]});
        for (source, want) in [
            ("ctx.l.map(x, x * 2u)", json!([2, 4, 6, 8])),
            ("ctx.l.map(x, x > 2u, 0)", json!([0, 0])),
            ("ctx.l.filter(x, x % 2u == 0u)", json!([2, 4])),
            (
                "ctx.l.all(x, x > 0u) && !ctx.l.exists(x, x > 4u)",
                json!(true),
            ),
            ("ctx.l.exists_one(x, x == 3u)", json!(true)),
            (
                "[ctx.l, [5u]].map(x, x + x)",
                json!([[1, 2, 3, 4, 1, 2, 3, 4], [5, 5]]),
            ),
            (
                "{'a': ctx.l[0] + 1u, 'b': 'x' + 'y'}",
                json!({"a": 2, "b": "xy"}),
            ),
        ] {
            assert_eq!(eval(source, &ctx), Ok(want), "{source}");
        }
        let big = json!({"l": (0..20_000).collect::<Vec<_>>()});
        assert_eq!(eval("ctx.l.map(x, x + 1u).size()", &big), Ok(json!(20_000)));
    }

    #[test]
    fn runaway_work_fails_with_the_budget_even_when_cel_would_swallow_it() {
        let ten = json!({"l": (0..10).collect::<Vec<_>>()});
        let nested = (0..8).fold("1".to_string(), |e, i| format!("ctx.l.map(x{i}, {e})"));
        for source in [
            format!("{nested} != []"),
            format!("({nested} == []) || true"),
            "[[1]]".to_string()
                + &(0..40)
                    .map(|i| format!(".map(x{i}, x{i} + x{i})"))
                    .collect::<String>(),
        ] {
            let err = eval(&source, &ten).unwrap_err();
            assert!(err.contains("budget of 1000000 units of work"), "{err}");
        }
    }

    #[test]
    fn missing_key_is_an_error() {
        let scope = Scope::new(&json!({"trigger": {}}));
        let err = Expr::compile("ctx.trigger.nope")
            .unwrap()
            .eval(&scope)
            .unwrap_err();
        assert!(err.contains("nope"), "{err}");
    }
}
