//! `{{ expr }}` templates inside step fields.
//!
//! A field value is any YAML value. Strings may hold interpolations: a string
//! that is exactly one `{{ expr }}` takes the expression's typed value (a list,
//! a map, a number); any other string with `{{ }}` becomes text.

use serde_json::{Map, Value as Json};

use super::{CompileError, Expr, Scope};

/// A field value with its expressions compiled.
#[derive(Debug, Clone)]
pub enum Template {
    /// No expression anywhere inside.
    Literal(Json),
    /// A string that is exactly one `{{ expr }}`.
    Whole(Expr),
    /// Text with one or more interpolations.
    Text(Vec<Part>),
    List(Vec<Template>),
    Map(Vec<(String, Template)>),
}

/// A piece of [`Template::Text`]: the author's text, or an interpolation.
#[derive(Debug, Clone)]
pub enum Part {
    Text(String),
    Expr(Expr),
}

/// A compile error inside a template: the byte offset of the failing
/// expression's first character within the string, plus the CEL error.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    pub offset: usize,
    pub error: CompileError,
}

impl Template {
    /// Compiles every string of `value`.
    pub fn compile(value: &Json) -> Result<Template, TemplateError> {
        Ok(match value {
            Json::String(s) => compile_str(s)?,
            Json::Array(items) => {
                let items = items
                    .iter()
                    .map(Template::compile)
                    .collect::<Result<Vec<_>, _>>()?;
                if items.iter().all(|t| matches!(t, Template::Literal(_))) {
                    Template::Literal(value.clone())
                } else {
                    Template::List(items)
                }
            }
            Json::Object(map) => {
                let entries = map
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), Template::compile(v)?)))
                    .collect::<Result<Vec<_>, TemplateError>>()?;
                if entries
                    .iter()
                    .all(|(_, t)| matches!(t, Template::Literal(_)))
                {
                    Template::Literal(value.clone())
                } else {
                    Template::Map(entries)
                }
            }
            other => Template::Literal(other.clone()),
        })
    }

    /// The literal value, when the template holds no expression.
    pub fn literal(&self) -> Option<&Json> {
        match self {
            Template::Literal(v) => Some(v),
            _ => None,
        }
    }

    /// Every expression inside, in order.
    pub fn exprs(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        self.collect_exprs(&mut out);
        out
    }

    fn collect_exprs<'a>(&'a self, out: &mut Vec<&'a Expr>) {
        match self {
            Template::Literal(_) => {}
            Template::Whole(e) => out.push(e),
            Template::Text(parts) => out.extend(parts.iter().filter_map(|p| match p {
                Part::Expr(e) => Some(e),
                Part::Text(_) => None,
            })),
            Template::List(items) => items.iter().for_each(|t| t.collect_exprs(out)),
            Template::Map(entries) => entries.iter().for_each(|(_, t)| t.collect_exprs(out)),
        }
    }

    /// Evaluates every expression and returns the resulting JSON, which
    /// nests at most [`MAX_VALUE_DEPTH`] deep.
    pub fn render(&self, scope: &Scope) -> Result<Json, String> {
        let value = self.render_parts(scope)?;
        if depth(&value) > MAX_VALUE_DEPTH {
            return Err(format!(
                "the value nests lists and maps more than {MAX_VALUE_DEPTH} levels deep"
            ));
        }
        Ok(value)
    }

    fn render_parts(&self, scope: &Scope) -> Result<Json, String> {
        Ok(match self {
            Template::Literal(v) => v.clone(),
            Template::Whole(e) => e.eval(scope)?,
            Template::Text(parts) => {
                let mut text = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => text.push_str(t),
                        Part::Expr(e) => match e.eval(scope)? {
                            Json::String(s) => text.push_str(&s),
                            Json::Null => {}
                            other => text.push_str(&other.to_string()),
                        },
                    }
                }
                Json::String(text)
            }
            Template::List(items) => Json::Array(
                items
                    .iter()
                    .map(|t| t.render_parts(scope))
                    .collect::<Result<_, _>>()?,
            ),
            Template::Map(entries) => {
                let mut map = Map::new();
                for (k, t) in entries {
                    map.insert(k.clone(), t.render_parts(scope)?);
                }
                Json::Object(map)
            }
        })
    }
}

/// How deep a rendered value may nest. A step's input and output are
/// stored as JSON and read back with a parser that stops at 128 levels;
/// anything deeper would come back empty.
pub const MAX_VALUE_DEPTH: usize = 100;

/// How deep `value` nests (a scalar is 0), without recursion.
fn depth(value: &Json) -> usize {
    let mut deepest = 0;
    let mut todo = vec![(value, 0)];
    while let Some((v, d)) = todo.pop() {
        deepest = deepest.max(d);
        match v {
            Json::Array(items) => todo.extend(items.iter().map(|i| (i, d + 1))),
            Json::Object(map) => todo.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    deepest
}

fn compile_str(s: &str) -> Result<Template, TemplateError> {
    let mut parts = Vec::new();
    let mut rest = s;
    let mut consumed = 0;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open + 2..].find("}}") else {
            return Err(TemplateError {
                offset: consumed + open,
                error: CompileError {
                    column: 1,
                    message: "`{{` is never closed with `}}`".into(),
                },
            });
        };
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_string()));
        }
        let body = &rest[open + 2..open + 2 + close];
        let leading = body.len() - body.trim_start().len();
        let expr = Expr::compile(body.trim()).map_err(|error| TemplateError {
            offset: consumed + open + 2 + leading,
            error,
        })?;
        parts.push(Part::Expr(expr));
        let advance = open + 2 + close + 2;
        consumed += advance;
        rest = &rest[advance..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    Ok(match parts.as_slice() {
        [] => Template::Literal(Json::String(String::new())),
        [Part::Text(_)] if !s.contains("{{") => Template::Literal(Json::String(s.to_string())),
        [Part::Expr(e)] => Template::Whole(e.clone()),
        _ => Template::Text(parts),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_expression_keeps_type() {
        let scope = Scope::new(&json!({"a": {"list": [1, 2]}}));
        let t = Template::compile(&json!("{{ ctx.a.list }}")).unwrap();
        assert_eq!(t.render(&scope).unwrap(), json!([1, 2]));
    }

    #[test]
    fn text_interpolates() {
        let scope = Scope::new(&json!({"u": {"name": "Ada", "n": 3}}));
        let t = Template::compile(&json!({"m": "Hi {{ctx.u.name}}, {{ ctx.u.n }} left"})).unwrap();
        assert_eq!(t.render(&scope).unwrap(), json!({"m": "Hi Ada, 3 left"}));
    }

    #[test]
    fn values_nested_past_the_limit_are_refused() {
        let nest = |n: usize| (0..n).fold(json!(1), |v, _| json!([v]));
        let t = Template::compile(&json!({"a": {"b": "{{ ctx.d }}"}})).unwrap();
        assert!(t.render(&Scope::new(&json!({"d": nest(98)}))).is_ok());
        let err = t.render(&Scope::new(&json!({"d": nest(99)}))).unwrap_err();
        assert!(err.contains("more than 100 levels"), "{err}");
    }

    #[test]
    fn error_points_into_the_string() {
        let err = Template::compile(&json!("ab {{ ctx. }}")).unwrap_err();
        assert_eq!(err.offset, 6);
        let err = Template::compile(&json!("ab {{ ctx.x")).unwrap_err();
        assert_eq!(err.offset, 3);
    }
}
