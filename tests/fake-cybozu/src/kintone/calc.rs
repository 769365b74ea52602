//! A small evaluator for CALC field formulas: numbers, field codes, `+ - * / ^`, parentheses,
//! `SUM(subtable_field)` and `ROUND/ROUNDUP/ROUNDDOWN(x, digits)`. Enough for the seed apps and
//! for tests that add a CALC field; anything else evaluates to an empty value, as kintone shows
//! an unparseable formula's result as blank.

/// Resolves a field code to its numeric values: one for a plain field, one per row for a
/// field inside a subtable (which only `SUM` may use).
pub trait Lookup {
    fn values(&self, code: &str) -> Option<Vec<f64>>;
}

pub fn evaluate(expression: &str, lookup: &dyn Lookup) -> Option<f64> {
    let tokens = tokenize(expression)?;
    let mut parser = Parser { tokens, pos: 0, lookup };
    let value = parser.expr()?;
    if parser.pos != parser.tokens.len() || !value.is_finite() {
        return None;
    }
    Some(value)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Name(String),
    Op(char),
    Open,
    Close,
    Comma,
}

fn tokenize(input: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '+' | '-' | '*' | '/' | '^' => {
                tokens.push(Token::Op(c));
                i += 1;
            }
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            c if c.is_ascii_digit() || c == '.' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                tokens.push(Token::Number(text.parse().ok()?));
            }
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !"+-*/^(),".contains(chars[i]) {
                    i += 1;
                }
                tokens.push(Token::Name(chars[start..i].iter().collect()));
            }
        }
    }
    Some(tokens)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    lookup: &'a dyn Lookup,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn expr(&mut self) -> Option<f64> {
        let mut value = self.term()?;
        while let Some(Token::Op(op @ ('+' | '-'))) = self.peek().cloned() {
            self.pos += 1;
            let rhs = self.term()?;
            value = if op == '+' { value + rhs } else { value - rhs };
        }
        Some(value)
    }

    fn term(&mut self) -> Option<f64> {
        let mut value = self.power()?;
        while let Some(Token::Op(op @ ('*' | '/'))) = self.peek().cloned() {
            self.pos += 1;
            let rhs = self.power()?;
            value = if op == '*' { value * rhs } else { value / rhs };
        }
        Some(value)
    }

    fn power(&mut self) -> Option<f64> {
        let base = self.unary()?;
        if let Some(Token::Op('^')) = self.peek() {
            self.pos += 1;
            let exponent = self.power()?;
            return Some(base.powf(exponent));
        }
        Some(base)
    }

    fn unary(&mut self) -> Option<f64> {
        if let Some(Token::Op('-')) = self.peek() {
            self.pos += 1;
            return Some(-self.unary()?);
        }
        self.atom()
    }

    fn atom(&mut self) -> Option<f64> {
        match self.next()? {
            Token::Number(n) => Some(n),
            Token::Open => {
                let value = self.expr()?;
                (self.next()? == Token::Close).then_some(value)
            }
            Token::Name(name) => {
                if let Some(Token::Open) = self.peek() {
                    self.pos += 1;
                    return self.function(&name);
                }
                match self.lookup.values(&name)?.as_slice() {
                    [single] => Some(*single),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn function(&mut self, name: &str) -> Option<f64> {
        match name.to_ascii_uppercase().as_str() {
            "SUM" => {
                let mut total = 0.0;
                loop {
                    let part: f64 = match self.next()? {
                        Token::Name(code) if matches!(self.peek(), Some(Token::Comma | Token::Close)) => {
                            self.lookup.values(&code)?.iter().sum()
                        }
                        _ => return None,
                    };
                    total += part;
                    match self.next()? {
                        Token::Comma => continue,
                        Token::Close => return Some(total),
                        _ => return None,
                    }
                }
            }
            name @ ("ROUND" | "ROUNDUP" | "ROUNDDOWN") => {
                let value = self.expr()?;
                let digits = match self.next()? {
                    Token::Comma => {
                        let digits = self.expr()?;
                        (self.next()? == Token::Close).then_some(digits)?
                    }
                    Token::Close => 0.0,
                    _ => return None,
                };
                let factor = 10f64.powi(digits as i32);
                let scaled = value * factor;
                let rounded = match name {
                    "ROUND" => scaled.round(),
                    "ROUNDUP" => scaled.abs().ceil() * scaled.signum(),
                    _ => scaled.trunc(),
                };
                Some(rounded / factor)
            }
            _ => None,
        }
    }
}

/// Formats a number the way kintone returns NUMBER and CALC values (JavaScript's `String(n)`).
pub fn format_number(n: f64) -> String {
    if n == n.trunc() && n.abs() < 1e21 {
        format!("{n:.0}")
    } else {
        format!("{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Fields(HashMap<&'static str, Vec<f64>>);
    impl Lookup for Fields {
        fn values(&self, code: &str) -> Option<Vec<f64>> {
            self.0.get(code).cloned()
        }
    }

    #[test]
    fn arithmetic_sum_and_rounding() {
        let fields = Fields(HashMap::from([
            ("単価", vec![1200.0]),
            ("数量", vec![3.0]),
            ("小計", vec![10.0, 20.5]),
        ]));
        assert_eq!(evaluate("単価 * 数量", &fields), Some(3600.0));
        assert_eq!(evaluate("SUM(小計) * 2", &fields), Some(61.0));
        assert_eq!(evaluate("ROUND(10 / 3, 2)", &fields), Some(3.33));
        assert_eq!(evaluate("(1 + 2) ^ 2 - -1", &fields), Some(10.0));
        assert_eq!(evaluate("unknown_field + 1", &fields), None);
        assert_eq!(evaluate("1 / 0", &fields), None);
        assert_eq!(format_number(3600.0), "3600");
        assert_eq!(format_number(1.5), "1.5");
    }
}
