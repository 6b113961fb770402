//! An evaluation budget for CEL, which has none of its own (cel 0.15 has no
//! fuel): an expression may do at most [`WORK`] units of work and run at
//! most [`TIME`], or it fails with a clear error instead of hanging or
//! filling memory (`[1,2,3].map(a, [1,2,3].map(b, …))` nested ten deep is a
//! billion iterations).
//!
//! The compiled tree is instrumented once: every place that repeats or
//! builds — each iteration of a comprehension, each element of a list or map
//! literal, each `+` — passes its value through the function [`CHARGE`],
//! which charges one unit plus the value's size (one unit per value, one per
//! 64 bytes of text) to the meter of the evaluation running on this thread,
//! and checks the clock. Once the budget is spent every charge fails, so
//! every loop stops at its next iteration and the evaluation unwinds.
//! The shapes `map` and `filter` expand to keep their fast path.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use cel::ExecutionError;
use cel::common::ast::{CallExpr, ComprehensionExpr, EntryExpr, Expr as Ast, IdedExpr, operators};
use cel::common::types::{CelBytes, CelList, CelMap, CelString, DYN_TYPE};
use cel::common::value::{CowVal, Val};

/// Units of work one evaluation may spend.
pub const WORK: u64 = 1_000_000;

/// How long one evaluation may run.
pub const TIME: Duration = Duration::from_secs(5);

/// The function the instrumented tree calls. `@` keeps it out of reach of
/// expressions, which cannot name it.
const CHARGE: &str = "@charge";

/// Which limit an evaluation crossed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Over {
    Work,
    Time,
}

impl std::fmt::Display for Over {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Over::Work => write!(
                f,
                "the expression needs more than its budget of {WORK} units of work (iterations and values built); nested comprehensions over large lists multiply"
            ),
            Over::Time => write!(
                f,
                "the expression ran longer than its limit of {} s",
                TIME.as_secs()
            ),
        }
    }
}

/// The budget of the evaluation running on this thread, if any.
struct Meter {
    left: u64,
    deadline: Instant,
    over: Option<Over>,
}

thread_local! {
    static METER: RefCell<Option<Meter>> = const { RefCell::new(None) };
}

/// Runs `f` (an evaluation) with a fresh budget. `Err` says which limit it
/// crossed, whatever `f` returned: an error inside may have been swallowed
/// (`error || true` is `true`).
pub fn metered<T>(f: impl FnOnce() -> T) -> Result<T, Over> {
    let fresh = Meter {
        left: WORK,
        deadline: Instant::now() + TIME,
        over: None,
    };
    let outer = METER.replace(Some(fresh));
    let value = f();
    let meter = METER.replace(outer);
    match meter.and_then(|m| m.over) {
        Some(over) => Err(over),
        None => Ok(value),
    }
}

/// Declares [`CHARGE`] in `env`.
pub fn declare(env: &mut cel::Env) {
    env.add_overload(CHARGE, "keystep_charge", vec![DYN_TYPE], charge)
        .expect("declared once");
}

/// Charges `args[0]` to this thread's meter and hands it back unchanged.
fn charge<'b, 'v>(mut args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let value = args.pop().ok_or(ExecutionError::MissingArgumentOrTarget)?;
    charge_value(value.as_ref()).map_err(|over| ExecutionError::function_error("budget", over))?;
    Ok(value)
}

/// Charges one unit plus the size of `value`: what a function built.
pub fn charge_value(value: &dyn Val) -> Result<(), Over> {
    spend_with(|left| size_within(value, left))
}

/// Charges `units` of work a function is about to do or build, before it
/// does: a string of a million copies is refused before it exists.
pub fn spend(units: u64) -> Result<(), Over> {
    spend_with(|_| units)
}

/// Charges what `cost` says (given what is left) to this thread's meter,
/// and checks the clock. Outside an evaluation nothing is charged.
fn spend_with(cost: impl FnOnce(u64) -> u64) -> Result<(), Over> {
    let over = METER.with_borrow_mut(|meter| {
        let meter = meter.as_mut()?;
        if meter.over.is_none() {
            match meter.left.checked_sub(cost(meter.left)) {
                Some(left) => meter.left = left,
                None => meter.over = Some(Over::Work),
            }
            if Instant::now() > meter.deadline {
                meter.over = Some(Over::Time);
            }
        }
        meter.over
    });
    over.map_or(Ok(()), Err)
}

/// One unit plus the size of `value`, counted up to `limit + 1` at most,
/// so that measuring costs no more than the budget left.
fn size_within(value: &dyn Val, limit: u64) -> u64 {
    let mut total = 1u64;
    let mut todo = vec![value];
    while let Some(v) = todo.pop() {
        total += 1;
        if total > limit {
            return total;
        }
        if let Some(s) = v.downcast_ref::<CelString>() {
            total += s.inner().len() as u64 / 64;
        } else if let Some(b) = v.downcast_ref::<CelBytes>() {
            total += b.inner().len() as u64 / 64;
        } else if let Some(list) = v.downcast_ref::<CelList>() {
            todo.extend(list.inner().iter().map(|item| item.as_ref()));
        } else if let Some(map) = v.downcast_ref::<CelMap>() {
            for (key, item) in map.inner() {
                todo.push(key.inner());
                todo.push(item.as_ref());
            }
        }
    }
    total
}

/// Instruments a parsed tree: see the module documentation.
pub fn instrument(tree: &mut IdedExpr) {
    instrument_parts(tree);
    wrap(tree);
}

fn instrument_parts(node: &mut IdedExpr) {
    match &mut node.expr {
        Ast::Comprehension(c) => {
            for part in [
                &mut c.iter_range,
                &mut c.accu_init,
                &mut c.loop_cond,
                &mut c.loop_step,
                &mut c.result,
            ] {
                instrument_parts(part);
            }
            charge_each_iteration(c);
        }
        Ast::Call(call) => {
            call.target.iter_mut().for_each(|t| instrument_parts(t));
            call.args.iter_mut().for_each(instrument_parts);
            if call.func_name == operators::ADD && !call.args.first().is_some_and(is_accumulator) {
                wrap(node);
            }
        }
        Ast::Select(select) => instrument_parts(&mut select.operand),
        Ast::List(list) => list.elements.iter_mut().for_each(|e| {
            instrument_parts(e);
            if !matches!(e.expr, Ast::Literal(_)) {
                wrap(e);
            }
        }),
        Ast::Map(map) => map.entries.iter_mut().for_each(|e| match &mut e.expr {
            EntryExpr::MapEntry(m) => {
                instrument_parts(&mut m.key);
                instrument_parts(&mut m.value);
                wrap(&mut m.value);
            }
            EntryExpr::StructField(f) => instrument_parts(&mut f.value),
        }),
        Ast::Struct(s) => s.entries.iter_mut().for_each(|e| {
            if let EntryExpr::StructField(f) = &mut e.expr {
                instrument_parts(&mut f.value);
            }
        }),
        Ast::Ident(_) | Ast::Literal(_) | Ast::Unspecified => {}
    }
}

/// Makes every iteration of `c` charge at least one unit. `map` and
/// `filter` (`@result + [x]`, maybe behind `guard ? … : @result`) charge
/// their guard and element, which keeps cel's append-in-place path; every
/// other comprehension charges its loop condition.
fn charge_each_iteration(c: &mut ComprehensionExpr) {
    let accu = c.accu_var.clone();
    let is_accu = |e: &IdedExpr| matches!(&e.expr, Ast::Ident(n) if *n == accu);
    let appends = is_accu(&c.result) && matches!(c.loop_cond.expr, Ast::Literal(_));
    let (guard, step) = match &mut c.loop_step.expr {
        Ast::Call(call) if call.func_name == operators::CONDITIONAL && call.args.len() == 3 => {
            let [guard, step, otherwise] = &mut call.args[..] else {
                unreachable!("three arguments")
            };
            if !is_accu(otherwise) {
                return wrap(&mut c.loop_cond);
            }
            (Some(guard), step)
        }
        _ => (None, &mut c.loop_step),
    };
    let items = match &mut step.expr {
        Ast::Call(call) if call.func_name == operators::ADD && call.args.len() == 2 => {
            match &mut call.args[..] {
                [lhs, rhs] if is_accu(lhs) => match &mut rhs.expr {
                    Ast::List(list) => Some(&mut list.elements),
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    };
    match (appends, items) {
        (true, Some(items)) => {
            for item in items.iter_mut().filter(|i| !is_charged(i)) {
                wrap(item);
            }
            if let Some(guard) = guard {
                wrap(guard);
            }
        }
        _ => wrap(&mut c.loop_cond),
    }
}

/// `@result` and the like: a macro's accumulator, which sources cannot name.
fn is_accumulator(e: &IdedExpr) -> bool {
    matches!(&e.expr, Ast::Ident(n) if n.starts_with('@'))
}

fn is_charged(e: &IdedExpr) -> bool {
    matches!(&e.expr, Ast::Call(call) if call.func_name == CHARGE)
}

/// Replaces `node` with `@charge(node)`, keeping its id (and so its place
/// in the source).
fn wrap(node: &mut IdedExpr) {
    let inner = std::mem::take(node);
    *node = IdedExpr {
        id: inner.id,
        expr: Ast::Call(CallExpr {
            func_name: CHARGE.to_string(),
            target: None,
            args: vec![inner],
        }),
    };
}
