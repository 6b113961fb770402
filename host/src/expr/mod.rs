//! Expressions: CEL programs and `{{ }}` templates over the run context.
//!
//! An automation refers to data through one variable, `ctx` (`ctx.trigger`,
//! `ctx.<step_id>`, `ctx.run`). This module compiles CEL once, when the
//! automation is parsed, and evaluates it against a JSON context; it knows
//! nothing of steps or runs.

mod template;

use std::sync::{Arc, OnceLock};

use cel::common::ast::{EntryExpr, Expr as Ast, IdedExpr};
use serde_json::Value as Json;

pub use template::{Part, Template};

/// A compiled CEL expression together with its source text.
#[derive(Clone)]
pub struct Expr {
    source: String,
    program: Arc<cel::Program>,
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
    ENV.get_or_init(|| Arc::new(cel::Env::stdlib())).clone()
}

impl Expr {
    /// Compiles a CEL expression.
    pub fn compile(source: &str) -> Result<Expr, CompileError> {
        let program = env().compile(source).map_err(|errors| {
            let first = errors.errors.first();
            CompileError {
                // `cel` already reports 1-based columns.
                column: first.map_or(1, |e| e.pos.1.max(1) as usize),
                message: first.map_or_else(|| errors.to_string(), |e| e.msg.clone()),
            }
        })?;
        Ok(Expr {
            source: source.to_string(),
            program: Arc::new(program),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates against `scope` and returns the value as JSON.
    pub fn eval(&self, scope: &Scope) -> Result<Json, String> {
        let mut context = cel::Context::with_env(env());
        context.add_variable_from_value("ctx", scope.ctx.clone());
        context
            .add_function("now", || chrono::Utc::now().fixed_offset())
            .map_err(|e| e.to_string())?;
        let value = self
            .program
            .execute(&context)
            .map_err(|e| format!("`{}`: {e}", self.source))?;
        value.json().map_err(|e| format!("`{}`: {e}", self.source))
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
        let mut roots = Vec::new();
        collect_roots(self.program.expression(), &mut roots);
        roots.sort();
        roots.dedup();
        roots
    }
}

fn collect_roots(node: &IdedExpr, out: &mut Vec<String>) {
    match &node.expr {
        Ast::Select(select) => {
            if matches!(&select.operand.expr, Ast::Ident(name) if name == "ctx") {
                out.push(select.field.clone());
            } else {
                collect_roots(&select.operand, out);
            }
        }
        Ast::Call(call) => {
            if let Some(target) = &call.target {
                collect_roots(target, out);
            }
            // `ctx["x"]` is an index call on `ctx`.
            if call.func_name == "_[_]"
                && let [base, key] = call.args.as_slice()
                && matches!(&base.expr, Ast::Ident(name) if name == "ctx")
                && let Ast::Literal(cel::common::ast::LiteralValue::String(s)) = &key.expr
            {
                out.push(s.to_string());
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
        Ast::Ident(_) | Ast::Literal(_) | Ast::Unspecified => {}
    }
}

/// The context an expression sees, converted to CEL once and shared by every
/// expression of a step.
pub struct Scope {
    ctx: cel::Value,
}

impl Scope {
    /// A scope for steps without expressions: nothing to convert.
    pub fn empty() -> Scope {
        Scope {
            ctx: cel::Value::Null,
        }
    }

    pub fn new(ctx: &Json) -> Scope {
        Scope {
            ctx: cel::to_value(ctx).unwrap_or(cel::Value::Null),
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
    fn reports_column_of_syntax_error() {
        let err = Expr::compile("ctx.a ==").unwrap_err();
        assert!(err.column >= 7, "{err:?}");
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
