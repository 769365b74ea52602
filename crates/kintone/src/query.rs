//! Just enough of kintone's query language to find the trailing `order by`, `limit` and
//! `offset` clauses, so tools can check limits and page safely without a full parser.

/// A query split into its condition and its trailing clauses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryParts<'q> {
    /// The filter part, possibly empty.
    pub condition: &'q str,
    /// What follows `order by`, e.g. `$id desc, amount asc`.
    pub order_by: Option<&'q str>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Token<'q> {
    text: &'q str,
    start: usize,
    end: usize,
    /// Outside parentheses and not a string literal.
    top_level: bool,
}

fn tokens(query: &str) -> Result<Vec<Token<'_>>, String> {
    let bytes = query.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() || c == b',' {
            i += 1;
        } else if c == b'"' {
            let start = i;
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err("a string in the query is missing its closing double quote".into()),
                    Some(b'\\') => i += 2,
                    Some(b'"') => break,
                    Some(_) => i += 1,
                }
            }
            i += 1;
            out.push(Token {
                text: &query[start..i],
                start,
                end: i,
                top_level: false,
            });
        } else if c == b'(' || c == b')' {
            depth += if c == b'(' { 1 } else { -1 };
            if depth < 0 {
                return Err("the query has a closing parenthesis without an opening one".into());
            }
            i += 1;
        } else {
            let start = i;
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !matches!(bytes[i], b'"' | b'(' | b')' | b',') {
                i += 1;
            }
            out.push(Token {
                text: &query[start..i],
                start,
                end: i,
                top_level: depth == 0,
            });
        }
    }
    if depth != 0 {
        return Err("the query has an opening parenthesis without a closing one".into());
    }
    Ok(out)
}

fn is(token: &Token, word: &str) -> bool {
    token.top_level && token.text.eq_ignore_ascii_case(word)
}

fn number(token: Option<&Token>, clause: &str) -> Result<u64, String> {
    token
        .and_then(|t| t.text.parse().ok())
        .ok_or_else(|| format!("'{clause}' in the query must be followed by a whole number"))
}

/// Splits a query; errors describe the syntax problem in words a model can fix.
pub(crate) fn split(query: &str) -> Result<QueryParts<'_>, String> {
    let tokens = tokens(query)?;
    let starts_clause = |i: usize| {
        let t = &tokens[i];
        (is(t, "order") && tokens.get(i + 1).is_some_and(|n| is(n, "by")))
            || ((is(t, "limit") || is(t, "offset")) && tokens.get(i + 1).is_some_and(|n| n.text.parse::<u64>().is_ok()))
    };
    let Some(first) = (0..tokens.len()).find(|&i| starts_clause(i)) else {
        return Ok(QueryParts {
            condition: query.trim(),
            order_by: None,
            limit: None,
            offset: None,
        });
    };
    let mut parts = QueryParts {
        condition: query[..tokens[first].start].trim(),
        order_by: None,
        limit: None,
        offset: None,
    };
    let mut i = first;
    while i < tokens.len() {
        let t = &tokens[i];
        if is(t, "limit") {
            parts.limit = Some(number(tokens.get(i + 1), "limit")?);
            i += 2;
        } else if is(t, "offset") {
            parts.offset = Some(number(tokens.get(i + 1), "offset")?);
            i += 2;
        } else if is(t, "order") && tokens.get(i + 1).is_some_and(|n| is(n, "by")) {
            let from = tokens.get(i + 2).ok_or("'order by' in the query must name a field")?;
            let mut j = i + 2;
            while j < tokens.len() && !is(&tokens[j], "limit") && !is(&tokens[j], "offset") {
                j += 1;
            }
            parts.order_by = Some(query[from.start..tokens[j - 1].end].trim());
            i = j;
        } else {
            return Err(format!(
                "unexpected {:?} after the order by / limit / offset clauses; they must come last",
                t.text
            ));
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_conditions_have_no_clauses() {
        let p = split(r#"status in ("Open", "limit 5") and amount > 10"#).unwrap();
        assert_eq!(p.condition, r#"status in ("Open", "limit 5") and amount > 10"#);
        assert_eq!((p.order_by, p.limit, p.offset), (None, None, None));
    }

    #[test]
    fn trailing_clauses_are_found_in_any_order() {
        let p = split(r#"title like "order by" order by $id desc, amount asc offset 20 limit 50"#).unwrap();
        assert_eq!(p.condition, r#"title like "order by""#);
        assert_eq!(p.order_by, Some("$id desc, amount asc"));
        assert_eq!((p.limit, p.offset), (Some(50), Some(20)));
        let q = split("limit 10").unwrap();
        assert_eq!((q.condition, q.limit), ("", Some(10)));
    }

    #[test]
    fn a_field_called_limit_is_a_condition() {
        let p = split("limit = 5 and (offset > 3)").unwrap();
        assert_eq!(p.condition, "limit = 5 and (offset > 3)");
        assert_eq!(p.limit, None);
    }

    #[test]
    fn syntax_problems_are_described() {
        assert!(split(r#"title = "open"#).unwrap_err().contains("closing double quote"));
        assert!(split("(a = 1").unwrap_err().contains("opening parenthesis"));
        assert!(split("limit 5 a = 1").unwrap_err().contains("must come last"));
        assert!(split(r#"a = "x\"y" order by"#)
            .unwrap_err()
            .contains("must name a field"));
    }
}
