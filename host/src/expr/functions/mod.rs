//! The functions an expression may call: CEL's standard library, and what
//! keystep adds for identity automations — the directory (`directory.*`),
//! time (`time.*`), and strings and lists beyond the standard library.
//!
//! One table, [`FUNCTIONS`], says what each function is called, how it is
//! called (`name(…)` or `value.name(…)`) and how many arguments it takes.
//! [`declare`] registers keystep's own in the CEL environment, and [`check`]
//! holds every call of a compiled expression to the table, so that an
//! unknown function or a wrong number of arguments is refused when the
//! automation is loaded (`keystep validate` shows it with file:line:col),
//! not when a run reaches it. The README's "Functions" section documents
//! each one; a test keeps the two in step.
//!
//! keystep's functions are bounded like the rest of an expression: each
//! charges the evaluation budget for what it builds (before it builds it,
//! where the size can be known first), and a directory read costs
//! [`directory::READ_COST`] units.

pub mod directory;
mod text;
mod time;

use cel::ExecutionError;
use cel::Value;
use cel::common::ast::{Expr as Ast, IdedExpr};
use cel::common::functions::Function as Overload;
use cel::common::types::DYN_TYPE;
use cel::common::value::{CowVal, Val};

use super::CompileError;
use super::budget;

/// How a function is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `name(args)` or `namespace.name(args)`.
    Global,
    /// `value.name(args)`: the value is the first argument of [`Op`].
    Member,
}

/// A keystep function's implementation: the arguments (a member's receiver
/// first) to a value, or a message saying what was wrong.
pub type Op = fn(&[Value]) -> Result<Value, String>;

/// A function an expression may call.
pub struct Function {
    /// As written in an expression: `directory.user`, `lower`, `size`.
    pub name: &'static str,
    pub form: Form,
    /// The numbers of arguments it takes, a member's receiver not counted.
    pub arities: &'static [usize],
    /// How it is called, for error messages: `directory.reports(user, depth?)`.
    pub usage: &'static str,
    /// keystep's implementation, registered by [`declare`]; `None` for CEL's
    /// standard library, which the `cel` crate provides.
    overload: Option<Overload>,
}

/// A keystep function: its [`Function`] entry with the overload that
/// calls `$op` through [`call`].
macro_rules! keystep {
    ($name:literal, $form:ident, $arities:expr, $usage:literal, $op:path) => {
        Function {
            name: $name,
            form: Form::$form,
            arities: $arities,
            usage: $usage,
            overload: Some(|args| call($name, $op, args)),
        }
    };
}

/// A function of CEL's standard library.
macro_rules! standard {
    ($name:literal, $form:ident, $arities:expr) => {
        Function {
            name: $name,
            form: Form::$form,
            arities: $arities,
            usage: $name,
            overload: None,
        }
    };
}

/// The namespaces of global functions: `directory.user(…)` calls the
/// function `directory.user`, not `user` on a value named `directory`.
const NAMESPACES: &[&str] = &["directory", "time", "optional"];

/// Every function an expression may call. (Macros — `has`, `all`,
/// `exists`, `exists_one`, `map`, `filter` — are expanded by the parser and
/// are not calls.)
pub static FUNCTIONS: &[Function] = &[
    // keystep: the directory.
    keystep!(
        "directory.user",
        Global,
        &[1],
        "directory.user(id)",
        directory::user
    ),
    keystep!(
        "directory.find_by_email",
        Global,
        &[1],
        "directory.find_by_email(email)",
        directory::find_by_email
    ),
    keystep!(
        "directory.manager",
        Global,
        &[1],
        "directory.manager(user)",
        directory::manager
    ),
    keystep!(
        "directory.managers",
        Global,
        &[1],
        "directory.managers(user)",
        directory::managers
    ),
    keystep!(
        "directory.reports",
        Global,
        &[1, 2],
        "directory.reports(user, depth?)",
        directory::reports
    ),
    keystep!(
        "directory.grants",
        Global,
        &[1],
        "directory.grants(user)",
        directory::grants
    ),
    keystep!(
        "directory.has_entitlement",
        Global,
        &[2],
        "directory.has_entitlement(user, entitlement)",
        directory::has_entitlement
    ),
    keystep!(
        "directory.has_app",
        Global,
        &[2],
        "directory.has_app(user, app)",
        directory::has_app
    ),
    keystep!(
        "directory.entitlement_members",
        Global,
        &[1],
        "directory.entitlement_members(entitlement)",
        directory::entitlement_members
    ),
    // keystep: time. (`now()` is bound per evaluation.)
    standard!("now", Global, &[0]),
    keystep!(
        "time.start_of",
        Global,
        &[2, 3],
        "time.start_of(t, unit, zone?)",
        time::start_of
    ),
    keystep!(
        "time.format",
        Global,
        &[2, 3],
        "time.format(t, layout, zone?)",
        time::format
    ),
    keystep!(
        "time.parse",
        Global,
        &[2, 3],
        "time.parse(text, layout, zone?)",
        time::parse
    ),
    keystep!("time.days", Global, &[1], "time.days(n)", time::days),
    // keystep: strings and lists.
    keystep!("lower", Member, &[0], "s.lower()", text::lower),
    keystep!("upper", Member, &[0], "s.upper()", text::upper),
    keystep!("trim", Member, &[0], "s.trim()", text::trim),
    keystep!("split", Member, &[1], "s.split(separator)", text::split),
    keystep!(
        "replace",
        Member,
        &[2],
        "s.replace(old, new)",
        text::replace
    ),
    keystep!("join", Member, &[0, 1], "list.join(separator?)", text::join),
    keystep!("distinct", Member, &[0], "list.distinct()", text::distinct),
    keystep!("flatten", Member, &[0], "list.flatten()", text::flatten),
    keystep!("sort", Member, &[0], "list.sort()", text::sort),
    // CEL's standard library.
    standard!("size", Global, &[1]),
    standard!("size", Member, &[0]),
    standard!("bool", Global, &[1]),
    standard!("bytes", Global, &[1]),
    standard!("double", Global, &[1]),
    standard!("duration", Global, &[1]),
    standard!("dyn", Global, &[1]),
    standard!("int", Global, &[1]),
    standard!("string", Global, &[1]),
    standard!("timestamp", Global, &[1]),
    standard!("type", Global, &[1]),
    standard!("uint", Global, &[1]),
    standard!("matches", Global, &[2]),
    standard!("matches", Member, &[1]),
    standard!("contains", Member, &[1]),
    standard!("startsWith", Member, &[1]),
    standard!("endsWith", Member, &[1]),
    standard!("getDate", Member, &[0, 1]),
    standard!("getDayOfMonth", Member, &[0, 1]),
    standard!("getDayOfWeek", Member, &[0, 1]),
    standard!("getDayOfYear", Member, &[0, 1]),
    standard!("getFullYear", Member, &[0, 1]),
    standard!("getHours", Member, &[0, 1]),
    standard!("getMilliseconds", Member, &[0, 1]),
    standard!("getMinutes", Member, &[0, 1]),
    standard!("getMonth", Member, &[0, 1]),
    standard!("getSeconds", Member, &[0, 1]),
    standard!("optional.none", Global, &[0]),
    standard!("optional.of", Global, &[1]),
    standard!("optional.ofNonZeroValue", Global, &[1]),
    standard!("hasValue", Member, &[0]),
    standard!("value", Member, &[0]),
    standard!("or", Member, &[1]),
    standard!("orValue", Member, &[1]),
];

/// Registers keystep's functions in `env`.
pub fn declare(env: &mut cel::Env) {
    for f in FUNCTIONS {
        let Some(overload) = f.overload else { continue };
        for &arity in f.arities {
            let id = format!("keystep_{}_{arity}", f.name);
            let declared = match f.form {
                Form::Global => env.add_overload(f.name, &id, dyn_args(arity), overload),
                Form::Member => {
                    env.add_member_overload(f.name, &id, DYN_TYPE, dyn_args(arity), overload)
                }
            };
            declared.expect("each function is declared once");
        }
    }
}

/// `arity` arguments of any type.
fn dyn_args(arity: usize) -> Vec<cel::common::types::Type> {
    (0..arity).map(|_| DYN_TYPE).collect()
}

/// Calls `op` with `args` as values, and charges the budget for its result.
fn call<'b, 'v>(
    name: &str,
    op: Op,
    args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let values = args
        .iter()
        .map(|a| Value::try_from(a.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let value = op(&values).map_err(|message| ExecutionError::function_error(name, message))?;
    let value: Box<dyn Val> = value.try_into()?;
    budget::charge_value(value.as_ref())
        .map_err(|over| ExecutionError::function_error(name, over))?;
    Ok(CowVal::from(value))
}

/// Holds every call in `tree` (parsed from `source`) to [`FUNCTIONS`]:
/// the first unknown function or wrong number of arguments, with the
/// column where its name starts.
pub fn check(
    tree: &IdedExpr,
    info: &cel::common::ast::SourceInfo,
    source: &str,
) -> Result<(), CompileError> {
    let mut pending = vec![tree];
    while let Some(node) = pending.pop() {
        if let Ast::Call(c) = &node.expr
            && let Some(problem) = problem(&c.func_name, c.target.as_deref(), c.args.len())
        {
            return Err(CompileError {
                column: name_column(node, info, source),
                message: problem,
            });
        }
        pending.extend(super::limits::children(node));
    }
    Ok(())
}

/// The 1-based column where the called name of `call` starts: a namespace
/// where there is one (`directory.usr(…)`), else the name before the
/// bracket (cel places a call at its `(`).
fn name_column(call: &IdedExpr, info: &cel::common::ast::SourceInfo, source: &str) -> usize {
    let at = |id| info.offset_for(id).map(|(start, _)| start as usize);
    let Ast::Call(c) = &call.expr else {
        return 1;
    };
    if let Some(target) = c.target.as_deref()
        && matches!(&target.expr, Ast::Ident(ns) if NAMESPACES.contains(&ns.as_str()))
        && let Some(start) = at(target.id)
    {
        return start + 1;
    }
    let Some(paren) = at(call.id) else { return 1 };
    let before: String = source.chars().take(paren).collect();
    match before.trim_end().strip_suffix(c.func_name.as_str()) {
        Some(rest) => rest.chars().count() + 1,
        None => paren + 1,
    }
}

/// What is wrong with a call of `name` on `target` with `given` arguments,
/// if anything. Operators (`_+_`, `@in`, …) are not functions.
fn problem(name: &str, target: Option<&IdedExpr>, given: usize) -> Option<String> {
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let (name, form) = match target.map(|t| &t.expr) {
        None => (name.to_string(), Form::Global),
        Some(Ast::Ident(ns)) if NAMESPACES.contains(&ns.as_str()) => {
            (format!("{ns}.{name}"), Form::Global)
        }
        Some(_) => (name.to_string(), Form::Member),
    };
    let same_name = || FUNCTIONS.iter().filter(|f| f.name == name);
    let Some(function) = same_name().find(|f| f.form == form) else {
        return Some(unknown(&name, form, same_name().next()));
    };
    if same_name().any(|f| f.form == form && f.arities.contains(&given)) {
        return None;
    }
    let counts = function
        .arities
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(" or ");
    Some(format!(
        "`{name}` takes {counts} argument{} ({}), not {given}",
        if function.arities == [1] { "" } else { "s" },
        function.usage
    ))
}

/// The message for a call of a function `name` there is none of in `form`
/// (`other` is one of that name in the other form).
fn unknown(name: &str, form: Form, other: Option<&Function>) -> String {
    match (other, form) {
        (Some(f), Form::Global) => format!("`{name}` is called on a value: {}", f.usage),
        (Some(f), Form::Member) => format!("`{name}` is not called on a value: {}", f.usage),
        (None, _) => {
            let known = FUNCTIONS.iter().filter(|f| f.form == form).map(|f| f.name);
            format!(
                "unknown function `{name}`{} (README, \"Functions in expressions\", lists them)",
                crate::suggest::suggest(name, known)
            )
        }
    }
}

/// The text of a string argument, or a message naming the function's use.
fn text<'a>(value: &'a Value, what: &str) -> Result<&'a str, String> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(format!("{what} must be a string, not {}", type_name(other))),
    }
}

/// A whole-number argument (CEL `int`, or `uint` as JSON numbers arrive).
fn whole(value: &Value, what: &str) -> Result<i64, String> {
    match value {
        Value::Int(n) => Ok(*n),
        Value::UInt(n) => i64::try_from(*n).map_err(|_| format!("{what} is too large")),
        other => Err(format!(
            "{what} must be a whole number, not {}",
            type_name(other)
        )),
    }
}

/// CEL's name of a value's type, for messages.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::List(_) => "a list",
        Value::Map(_) => "a map",
        Value::Int(_) | Value::UInt(_) => "a whole number",
        Value::Float(_) => "a double",
        Value::String(_) => "a string",
        Value::Bytes(_) => "bytes",
        Value::Bool(_) => "a bool",
        Value::Duration(_) => "a duration",
        Value::Timestamp(_) => "a timestamp",
        Value::Null => "null",
        _ => "a value of another type",
    }
}

#[cfg(test)]
mod tests;
