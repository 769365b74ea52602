//! kintone's query language: conditions (`= != > < >= <= in not in like not like is empty
//! is not empty`), `and`/`or` with parentheses, date and user functions, `order by`, `limit`
//! and `offset`. Parsed, checked against the app's fields (GAIA_IQ11 unknown field, GAIA_IQ03
//! operator not allowed for the type, GAIA_IQ07 `=` on a subtable field) and evaluated per record.
//!
//! `like` is kintone's word search: an ASCII keyword matches whole words only ("key" does not
//! match "keyword"); other keywords (Japanese) match as substrings, which approximates the
//! real morphological index.

use chrono::{DateTime, Datelike, Duration, FixedOffset, Months, NaiveDate, Utc, Weekday};
use http::StatusCode;
use serde_json::{Map, Value};

use super::datetime;
use super::error::{ApiError, ApiResult, Lang};
use super::fields::field_type;
use crate::state::Record;

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    In,
    NotIn,
    Like,
    NotLike,
    IsEmpty,
    IsNotEmpty,
}

impl Op {
    fn text(&self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Gt => ">",
            Op::Lt => "<",
            Op::Ge => ">=",
            Op::Le => "<=",
            Op::In => "in",
            Op::NotIn => "not in",
            Op::Like => "like",
            Op::NotLike => "not like",
            Op::IsEmpty => "is empty",
            Op::IsNotEmpty => "is not empty",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Literal(String),
    Function(String, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: String,
    pub op: Op,
    pub operands: Vec<Operand>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cond(Condition),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub condition: Option<Expr>,
    /// (field code, descending)
    pub order_by: Vec<(String, bool)>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Comma,
    Str(String),
    Sym(String),
    Word(String),
}

pub fn syntax_error(lang: Lang) -> ApiError {
    ApiError::field(lang, "query", lang.t("クエリ記法が間違っています。", "Invalid query."))
}

fn is_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{3000}'
}

fn tokenize(input: &str, lang: Lang) -> ApiResult<Vec<Token>> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_space(c) {
            i += 1;
            continue;
        }
        match c {
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            ',' => tokens.push(Token::Comma),
            '"' => {
                let mut text = String::new();
                i += 1;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err(syntax_error(lang));
                    };
                    match c {
                        '"' => break,
                        '\\' => {
                            i += 1;
                            let escaped = *chars.get(i).ok_or_else(|| syntax_error(lang))?;
                            text.push(match escaped {
                                't' => '\t',
                                'n' => '\n',
                                'r' => '\r',
                                other => other,
                            });
                        }
                        // kintone refuses raw control characters inside a string literal.
                        '\t' | '\n' | '\r' => return Err(syntax_error(lang)),
                        other => text.push(other),
                    }
                    i += 1;
                }
                tokens.push(Token::Str(text));
            }
            '=' => tokens.push(Token::Sym("=".into())),
            '!' | '<' | '>' => {
                if chars.get(i + 1) == Some(&'=') {
                    tokens.push(Token::Sym(format!("{c}=")));
                    i += 1;
                } else if c == '!' {
                    return Err(syntax_error(lang));
                } else {
                    tokens.push(Token::Sym(c.to_string()));
                }
            }
            _ => {
                let start = i;
                while i < chars.len() && !is_space(chars[i]) && !"()\",=!<>".contains(chars[i]) {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
                continue;
            }
        }
        i += 1;
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    lang: Lang,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn next(&mut self) -> ApiResult<Token> {
        let token = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or_else(|| syntax_error(self.lang))?;
        self.pos += 1;
        Ok(token)
    }

    fn expect_keyword(&mut self, keyword: &str) -> ApiResult<()> {
        match self.next()? {
            Token::Word(w) if w.eq_ignore_ascii_case(keyword) => Ok(()),
            _ => Err(syntax_error(self.lang)),
        }
    }

    fn at_options(&self) -> bool {
        self.peek().is_none() || self.peek_keyword("order") || self.peek_keyword("limit") || self.peek_keyword("offset")
    }

    fn query(&mut self) -> ApiResult<Query> {
        let mut query = Query::default();
        if !self.at_options() {
            query.condition = Some(self.or()?);
        }
        while let Some(token) = self.peek().cloned() {
            match token {
                Token::Word(w) if w.eq_ignore_ascii_case("order") && query.order_by.is_empty() => {
                    self.pos += 1;
                    self.expect_keyword("by")?;
                    loop {
                        let Token::Word(field) = self.next()? else {
                            return Err(syntax_error(self.lang));
                        };
                        let mut descending = false;
                        if self.peek_keyword("asc") {
                            self.pos += 1;
                        } else if self.peek_keyword("desc") {
                            self.pos += 1;
                            descending = true;
                        }
                        query.order_by.push((field, descending));
                        if matches!(self.peek(), Some(Token::Comma)) {
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                }
                Token::Word(w) if w.eq_ignore_ascii_case("limit") && query.limit.is_none() => {
                    self.pos += 1;
                    query.limit = Some(self.count()?);
                }
                Token::Word(w) if w.eq_ignore_ascii_case("offset") && query.offset.is_none() => {
                    self.pos += 1;
                    query.offset = Some(self.count()?);
                }
                _ => return Err(syntax_error(self.lang)),
            }
        }
        Ok(query)
    }

    /// A negative limit or offset is a validation error, not a syntax error.
    fn count(&mut self) -> ApiResult<u64> {
        match self.next()? {
            Token::Word(w) => match w.parse::<i64>() {
                Ok(n) if n >= 0 => Ok(n as u64),
                Ok(_) => Err(ApiError::validation(
                    self.lang,
                    vec![(
                        "query".into(),
                        self.lang
                            .t("0以上である必要があります。", "must be greater than or equal to 0"),
                    )],
                )),
                Err(_) => Err(syntax_error(self.lang)),
            },
            _ => Err(syntax_error(self.lang)),
        }
    }

    fn or(&mut self) -> ApiResult<Expr> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> ApiResult<Expr> {
        let mut left = self.primary()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            let right = self.primary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn primary(&mut self) -> ApiResult<Expr> {
        if matches!(self.peek(), Some(Token::Open)) {
            self.pos += 1;
            let inner = self.or()?;
            return match self.next()? {
                Token::Close => Ok(inner),
                _ => Err(syntax_error(self.lang)),
            };
        }
        let Token::Word(field) = self.next()? else {
            return Err(syntax_error(self.lang));
        };
        let lang = self.lang;
        let (op, operands) = match self.next()? {
            Token::Sym(sym) => {
                let op = match sym.as_str() {
                    "=" => Op::Eq,
                    "!=" => Op::Ne,
                    ">" => Op::Gt,
                    "<" => Op::Lt,
                    ">=" => Op::Ge,
                    "<=" => Op::Le,
                    _ => return Err(syntax_error(lang)),
                };
                (op, vec![self.operand()?])
            }
            Token::Word(w) if w.eq_ignore_ascii_case("in") => (Op::In, self.list()?),
            Token::Word(w) if w.eq_ignore_ascii_case("like") => (Op::Like, vec![self.string_operand()?]),
            Token::Word(w) if w.eq_ignore_ascii_case("not") => match self.next()? {
                Token::Word(w) if w.eq_ignore_ascii_case("in") => (Op::NotIn, self.list()?),
                Token::Word(w) if w.eq_ignore_ascii_case("like") => (Op::NotLike, vec![self.string_operand()?]),
                _ => return Err(syntax_error(lang)),
            },
            Token::Word(w) if w.eq_ignore_ascii_case("is") => {
                if self.peek_keyword("not") {
                    self.pos += 1;
                    self.expect_keyword("empty")?;
                    (Op::IsNotEmpty, vec![])
                } else {
                    self.expect_keyword("empty")?;
                    (Op::IsEmpty, vec![])
                }
            }
            _ => return Err(syntax_error(lang)),
        };
        Ok(Expr::Cond(Condition { field, op, operands }))
    }

    fn string_operand(&mut self) -> ApiResult<Operand> {
        match self.next()? {
            Token::Str(s) => Ok(Operand::Literal(s)),
            _ => Err(syntax_error(self.lang)),
        }
    }

    fn operand(&mut self) -> ApiResult<Operand> {
        match self.next()? {
            Token::Str(s) => Ok(Operand::Literal(s)),
            Token::Word(w) if matches!(self.peek(), Some(Token::Open)) => {
                self.pos += 1;
                let mut args = Vec::new();
                loop {
                    match self.next()? {
                        Token::Close => break,
                        Token::Word(arg) | Token::Str(arg) => {
                            args.push(arg);
                            match self.next()? {
                                Token::Comma => continue,
                                Token::Close => break,
                                _ => return Err(syntax_error(self.lang)),
                            }
                        }
                        _ => return Err(syntax_error(self.lang)),
                    }
                }
                Ok(Operand::Function(w.to_ascii_uppercase(), args))
            }
            // Unquoted numbers are allowed: `数量 > 10`.
            Token::Word(w) if w.parse::<f64>().is_ok() => Ok(Operand::Literal(w)),
            _ => Err(syntax_error(self.lang)),
        }
    }

    fn list(&mut self) -> ApiResult<Vec<Operand>> {
        match self.next()? {
            Token::Open => {}
            _ => return Err(syntax_error(self.lang)),
        }
        let mut items = Vec::new();
        loop {
            items.push(self.operand()?);
            match self.next()? {
                Token::Comma => continue,
                Token::Close => return Ok(items),
                _ => return Err(syntax_error(self.lang)),
            }
        }
    }
}

pub fn parse(input: &str, lang: Lang) -> ApiResult<Query> {
    let tokens = tokenize(input, lang)?;
    let mut parser = Parser { tokens, pos: 0, lang };
    parser.query()
}

/// Where a query's field code points.
#[derive(Debug, Clone)]
enum FieldRef {
    Id,
    Top(String, String),
    /// (subtable code, inner code, inner type)
    Inner(String, String, String),
}

fn resolve(props: &Map<String, Value>, code: &str) -> Option<FieldRef> {
    if code == "$id" {
        return Some(FieldRef::Id);
    }
    if let Some(def) = props.get(code) {
        return Some(FieldRef::Top(code.to_string(), field_type(def).to_string()));
    }
    for (table, def) in props {
        if let Some(inner) = def.get("fields").and_then(|f| f.get(code)) {
            return Some(FieldRef::Inner(
                table.clone(),
                code.to_string(),
                field_type(inner).to_string(),
            ));
        }
    }
    None
}

fn allowed_ops(t: &str) -> &'static [&'static str] {
    const CMP: &[&str] = &["=", "!=", ">", "<", ">=", "<="];
    match t {
        "__ID__" | "RECORD_NUMBER" | "NUMBER" | "CALC" => &["=", "!=", ">", "<", ">=", "<=", "in", "not in"],
        "SINGLE_LINE_TEXT" | "LINK" => &["=", "!=", "in", "not in", "like", "not like"],
        "MULTI_LINE_TEXT" | "RICH_TEXT" | "FILE" => &["like", "not like", "is empty", "is not empty"],
        "DATE" | "TIME" | "DATETIME" | "CREATED_TIME" | "UPDATED_TIME" => CMP,
        "CHECK_BOX" | "RADIO_BUTTON" | "DROP_DOWN" | "MULTI_SELECT" | "CATEGORY" => &["in", "not in"],
        "USER_SELECT" | "ORGANIZATION_SELECT" | "GROUP_SELECT" | "CREATOR" | "MODIFIER" | "STATUS_ASSIGNEE" => {
            &["in", "not in"]
        }
        "STATUS" => &["=", "!=", "in", "not in"],
        _ => &[],
    }
}

/// Checks field codes, operators and function arguments against the app's fields.
pub fn validate(query: &Query, props: &Map<String, Value>, lang: Lang) -> ApiResult<()> {
    fn walk(expr: &Expr, props: &Map<String, Value>, lang: Lang) -> ApiResult<()> {
        match expr {
            Expr::And(a, b) | Expr::Or(a, b) => {
                walk(a, props, lang)?;
                walk(b, props, lang)
            }
            Expr::Cond(cond) => validate_condition(cond, props, lang),
        }
    }
    if let Some(expr) = &query.condition {
        walk(expr, props, lang)?;
    }
    for (field, _) in &query.order_by {
        if resolve(props, field).is_none() {
            return Err(unknown_field(lang, field));
        }
    }
    Ok(())
}

fn unknown_field(lang: Lang, field: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "GAIA_IQ11",
        lang.t(
            format!("指定されたフィールド（{field}）が見つかりません。"),
            format!("Specified field ({field}) not found."),
        ),
    )
}

fn validate_condition(cond: &Condition, props: &Map<String, Value>, lang: Lang) -> ApiResult<()> {
    let field = resolve(props, &cond.field).ok_or_else(|| unknown_field(lang, &cond.field))?;
    let (t, inner) = match &field {
        FieldRef::Id => ("__ID__".to_string(), false),
        FieldRef::Top(_, t) => (t.clone(), false),
        FieldRef::Inner(_, _, t) => (t.clone(), true),
    };
    let op = cond.op.text();
    if inner && matches!(cond.op, Op::Eq | Op::Ne) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "GAIA_IQ07",
            lang.t(
                format!("レコードを読み込めません。テーブルに設定している場合、{t}フィールドのフィールドタイプには、演算子{op}を使用できません。"),
                format!("Cannot read records. The operator {op} cannot be used for {t} fields in a table."),
            ),
        ));
    }
    if !allowed_ops(&t).contains(&op) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "GAIA_IQ03",
            lang.t(
                format!(
                    "{}フィールドのフィールドタイプには演算子{op}を使用できません。",
                    cond.field
                ),
                format!("The operator {op} cannot be used for the field type of {}.", cond.field),
            ),
        ));
    }
    for operand in &cond.operands {
        if let Operand::Function(name, args) = operand {
            validate_function(name, args, &t, lang)?;
        }
    }
    Ok(())
}

fn function_misuse(lang: Lang) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "GAIA_IL08",
        lang.t("クエリの指定が不正です。", "The query is invalid."),
    )
}

fn validate_function(name: &str, args: &[String], t: &str, lang: Lang) -> ApiResult<()> {
    let is_entity = matches!(
        t,
        "USER_SELECT" | "ORGANIZATION_SELECT" | "GROUP_SELECT" | "CREATOR" | "MODIFIER" | "STATUS_ASSIGNEE"
    );
    let is_date = matches!(t, "DATE" | "DATETIME" | "CREATED_TIME" | "UPDATED_TIME");
    match name {
        "LOGINUSER" | "PRIMARY_ORGANIZATION" if is_entity && args.is_empty() => Ok(()),
        "NOW" | "TODAY" | "YESTERDAY" | "TOMORROW" | "THIS_YEAR" | "LAST_YEAR" | "NEXT_YEAR" if is_date => {
            if args.is_empty() {
                Ok(())
            } else {
                Err(function_misuse(lang))
            }
        }
        "FROM_TODAY" if is_date => {
            let [n, unit] = args else {
                return Err(function_misuse(lang));
            };
            if n.parse::<i64>().is_err() {
                return Err(function_misuse(lang));
            }
            if !["DAYS", "WEEKS", "MONTHS", "YEARS"].contains(&unit.as_str()) {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "GAIA_IQ25",
                    lang.t(
                        "FROM_TODAY()の第2引数には、「DAYS」「WEEKS」「MONTHS」「YEARS」のいずれかを指定します。",
                        "The second argument of FROM_TODAY() must be DAYS, WEEKS, MONTHS or YEARS.",
                    ),
                ));
            }
            Ok(())
        }
        "THIS_WEEK" | "LAST_WEEK" | "NEXT_WEEK" if is_date => match args {
            [] => Ok(()),
            [day] if weekday(day).is_some() => Ok(()),
            _ => Err(function_misuse(lang)),
        },
        "THIS_MONTH" | "LAST_MONTH" | "NEXT_MONTH" if is_date => match args {
            [] => Ok(()),
            [day] if day == "LAST" => Ok(()),
            [day] => match day.parse::<u32>() {
                Ok(1..=31) => Ok(()),
                _ => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "GAIA_IQ23",
                    lang.t(
                        format!("指定した日にち（{day}）は無効です。1から31までの整数で指定します。"),
                        format!("The specified day ({day}) is invalid. Specify an integer from 1 to 31."),
                    ),
                )),
            },
            _ => Err(function_misuse(lang)),
        },
        _ => Err(function_misuse(lang)),
    }
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name {
        "SUNDAY" => Weekday::Sun,
        "MONDAY" => Weekday::Mon,
        "TUESDAY" => Weekday::Tue,
        "WEDNESDAY" => Weekday::Wed,
        "THURSDAY" => Weekday::Thu,
        "FRIDAY" => Weekday::Fri,
        "SATURDAY" => Weekday::Sat,
        _ => return None,
    })
}

/// Who is asking and when: functions are evaluated in the user's time zone.
pub struct EvalContext<'a> {
    pub props: &'a Map<String, Value>,
    pub login_user: &'a str,
    pub primary_organization: Option<&'a str>,
    pub offset: FixedOffset,
    pub now: DateTime<Utc>,
}

/// A value as the query sees it.
#[derive(Debug, Clone)]
enum Cell {
    Number(Option<f64>),
    Text(String),
    Date(Option<NaiveDate>),
    Instant(Option<DateTime<Utc>>),
    Time(Option<u32>),
    /// Multi-valued: options, user/group/org codes, file names.
    List(Vec<String>),
}

impl EvalContext<'_> {
    pub fn matches(&self, expr: &Expr, record: &Record) -> bool {
        match expr {
            Expr::And(a, b) => self.matches(a, record) && self.matches(b, record),
            Expr::Or(a, b) => self.matches(a, record) || self.matches(b, record),
            Expr::Cond(cond) => self.condition(cond, record),
        }
    }

    fn condition(&self, cond: &Condition, record: &Record) -> bool {
        let Some(field) = resolve(self.props, &cond.field) else {
            return false;
        };
        match field {
            FieldRef::Id => self.test(&Cell::Number(Some(record.id as f64)), cond),
            FieldRef::Top(code, t) => self.test(&cell_of(&t, &code, record, record.values.get(&code)), cond),
            FieldRef::Inner(table, code, t) => {
                let rows = record
                    .values
                    .get(&table)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let any = |op_cond: &Condition| {
                    rows.iter().any(|row| {
                        let value = row.get("value").and_then(|v| v.get(&code));
                        self.test(&cell_of(&t, &code, record, value), op_cond)
                    })
                };
                // "not in" on a table field: no row has one of the values.
                match cond.op {
                    Op::NotIn => !any(&Condition {
                        op: Op::In,
                        ..cond.clone()
                    }),
                    Op::NotLike => !any(&Condition {
                        op: Op::Like,
                        ..cond.clone()
                    }),
                    _ => any(cond),
                }
            }
        }
    }

    fn test(&self, cell: &Cell, cond: &Condition) -> bool {
        match cond.op {
            Op::In => cond.operands.iter().any(|o| self.equals(cell, o)),
            Op::NotIn => !cond.operands.iter().any(|o| self.equals(cell, o)),
            Op::Eq => cond.operands.first().is_some_and(|o| self.equals(cell, o)),
            Op::Ne => !cond.operands.first().is_some_and(|o| self.equals(cell, o)),
            Op::Like | Op::NotLike => {
                let needle = match cond.operands.first() {
                    Some(Operand::Literal(s)) => s.as_str(),
                    _ => "",
                };
                let hit = match cell {
                    Cell::Text(s) => word_match(s, needle),
                    Cell::List(items) => items.iter().any(|s| word_match(s, needle)),
                    _ => false,
                };
                (cond.op == Op::Like) == hit
            }
            Op::IsEmpty | Op::IsNotEmpty => {
                let empty = match cell {
                    Cell::Text(s) => s.trim().is_empty(),
                    Cell::List(items) => items.is_empty(),
                    _ => false,
                };
                (cond.op == Op::IsEmpty) == empty
            }
            Op::Gt | Op::Lt | Op::Ge | Op::Le => {
                let Some(operand) = cond.operands.first() else {
                    return false;
                };
                self.ordered(cell, operand, &cond.op)
            }
        }
    }

    fn equals(&self, cell: &Cell, operand: &Operand) -> bool {
        // `in ("")` and `= ""` match an empty value of any type.
        if matches!(operand, Operand::Literal(s) if s.is_empty()) {
            return match cell {
                Cell::Number(n) => n.is_none(),
                Cell::Text(s) => s.is_empty(),
                Cell::Date(d) => d.is_none(),
                Cell::Instant(i) => i.is_none(),
                Cell::Time(t) => t.is_none(),
                Cell::List(items) => items.is_empty(),
            };
        }
        match cell {
            Cell::Number(Some(n)) => literal(operand).and_then(|s| s.parse::<f64>().ok()) == Some(*n),
            Cell::Text(s) => literal(operand) == Some(s.as_str()),
            Cell::List(items) => {
                let wanted = match operand {
                    Operand::Function(name, _) if name == "LOGINUSER" => Some(self.login_user),
                    Operand::Function(name, _) if name == "PRIMARY_ORGANIZATION" => self.primary_organization,
                    Operand::Literal(s) => Some(s.as_str()),
                    _ => None,
                };
                wanted.is_some_and(|w| items.iter().any(|i| i == w))
            }
            _ => match self.range(cell, operand) {
                Some((lo, hi, v)) => lo <= v && v < hi,
                None => false,
            },
        }
    }

    fn ordered(&self, cell: &Cell, operand: &Operand, op: &Op) -> bool {
        if let Cell::Number(n) = cell {
            let (Some(n), Some(rhs)) = (n, literal(operand).and_then(|s| s.parse::<f64>().ok())) else {
                return false;
            };
            return match op {
                Op::Gt => *n > rhs,
                Op::Lt => *n < rhs,
                Op::Ge => *n >= rhs,
                _ => *n <= rhs,
            };
        }
        let Some((lo, hi, v)) = self.range(cell, operand) else {
            return false;
        };
        match op {
            Op::Gt => v >= hi,
            Op::Ge => v >= lo,
            Op::Lt => v < lo,
            _ => v < hi,
        }
    }

    /// The operand as a half-open range [lo, hi) in the cell's unit, with the cell's point.
    fn range(&self, cell: &Cell, operand: &Operand) -> Option<(i64, i64, i64)> {
        match cell {
            Cell::Date(value) => {
                let v = (*value)?;
                let (lo, hi) = self.date_range(operand)?;
                Some((day_number(lo), day_number(hi), day_number(v)))
            }
            Cell::Instant(value) => {
                let v = (*value)?.timestamp() / 60;
                if let Operand::Function(name, _) = operand {
                    if name == "NOW" {
                        let now = self.now.timestamp() / 60;
                        return Some((now, now + 1, v));
                    }
                }
                if let Some(dt) = literal(operand).and_then(datetime::parse_datetime) {
                    let minute = dt.timestamp() / 60;
                    return Some((minute, minute + 1, v));
                }
                let (lo, hi) = self.date_range(operand)?;
                let lo = datetime::start_of_local_day(lo, self.offset).timestamp() / 60;
                let hi = datetime::start_of_local_day(hi, self.offset).timestamp() / 60;
                Some((lo, hi, v))
            }
            Cell::Time(value) => {
                let v = (*value)? as i64;
                let time = literal(operand).and_then(datetime::parse_time)?;
                let minutes = datetime::format_time(time);
                let (h, m) = minutes.split_once(':')?;
                let t = h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?;
                Some((t, t + 1, v))
            }
            _ => None,
        }
    }

    /// A date literal or date function as a range of local dates [lo, hi).
    fn date_range(&self, operand: &Operand) -> Option<(NaiveDate, NaiveDate)> {
        let today = datetime::local_date(self.now, self.offset);
        let day = |d: NaiveDate| Some((d, d + Duration::days(1)));
        match operand {
            Operand::Literal(s) => day(datetime::parse_date(s)?),
            Operand::Function(name, args) => match name.as_str() {
                "TODAY" | "NOW" => day(today),
                "YESTERDAY" => day(today - Duration::days(1)),
                "TOMORROW" => day(today + Duration::days(1)),
                "FROM_TODAY" => {
                    let n: i64 = args.first()?.parse().ok()?;
                    let target = match args.get(1)?.as_str() {
                        "DAYS" => today + Duration::days(n),
                        "WEEKS" => today + Duration::weeks(n),
                        "MONTHS" => shift_months(today, n)?,
                        _ => shift_months(today, n * 12)?,
                    };
                    day(target)
                }
                "THIS_WEEK" | "LAST_WEEK" | "NEXT_WEEK" => {
                    let sunday = today - Duration::days(today.weekday().num_days_from_sunday() as i64);
                    let shift = match name.as_str() {
                        "LAST_WEEK" => -7,
                        "NEXT_WEEK" => 7,
                        _ => 0,
                    };
                    let start = sunday + Duration::days(shift);
                    match args.first() {
                        Some(w) => day(start + Duration::days(weekday(w)?.num_days_from_sunday() as i64)),
                        None => Some((start, start + Duration::days(7))),
                    }
                }
                "THIS_MONTH" | "LAST_MONTH" | "NEXT_MONTH" => {
                    let first = today.with_day(1)?;
                    let shift = match name.as_str() {
                        "LAST_MONTH" => -1,
                        "NEXT_MONTH" => 1,
                        _ => 0,
                    };
                    let start = shift_months(first, shift)?;
                    let next = shift_months(start, 1)?;
                    match args.first().map(String::as_str) {
                        None => Some((start, next)),
                        Some("LAST") => day(next - Duration::days(1)),
                        // A day the month lacks rolls over into the next month, as kintone does.
                        Some(n) => day(start + Duration::days(n.parse::<i64>().ok()? - 1)),
                    }
                }
                "THIS_YEAR" | "LAST_YEAR" | "NEXT_YEAR" => {
                    let shift = match name.as_str() {
                        "LAST_YEAR" => -1,
                        "NEXT_YEAR" => 1,
                        _ => 0,
                    };
                    let start = NaiveDate::from_ymd_opt(today.year() + shift, 1, 1)?;
                    Some((start, NaiveDate::from_ymd_opt(today.year() + shift + 1, 1, 1)?))
                }
                _ => None,
            },
        }
    }
}

fn literal(operand: &Operand) -> Option<&str> {
    match operand {
        Operand::Literal(s) => Some(s),
        _ => None,
    }
}

fn shift_months(date: NaiveDate, months: i64) -> Option<NaiveDate> {
    if months >= 0 {
        date.checked_add_months(Months::new(months as u32))
    } else {
        date.checked_sub_months(Months::new((-months) as u32))
    }
}

fn day_number(date: NaiveDate) -> i64 {
    date.num_days_from_ce() as i64
}

fn cell_of(t: &str, code: &str, record: &Record, value: Option<&Value>) -> Cell {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    match t {
        "RECORD_NUMBER" => Cell::Number(Some(record.id as f64)),
        "NUMBER" | "CALC" => Cell::Number(value.and_then(Value::as_str).and_then(|s| s.trim().parse().ok())),
        "DATE" => Cell::Date(value.and_then(Value::as_str).and_then(datetime::parse_date)),
        "DATETIME" => Cell::Instant(value.and_then(Value::as_str).and_then(datetime::parse_datetime)),
        "CREATED_TIME" => Cell::Instant(Some(record.created_at)),
        "UPDATED_TIME" => Cell::Instant(Some(record.updated_at)),
        "TIME" => Cell::Time(value.and_then(Value::as_str).and_then(datetime::parse_time).map(|t| {
            let s = datetime::format_time(t);
            s[..2].parse::<u32>().unwrap_or(0) * 60 + s[3..].parse::<u32>().unwrap_or(0)
        })),
        "CHECK_BOX" | "MULTI_SELECT" => Cell::List(
            value
                .and_then(Value::as_array)
                .map(|l| l.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                .unwrap_or_default(),
        ),
        "RADIO_BUTTON" | "DROP_DOWN" => {
            let s = text(value);
            Cell::List(if s.is_empty() { vec![] } else { vec![s] })
        }
        "USER_SELECT" | "ORGANIZATION_SELECT" | "GROUP_SELECT" => Cell::List(
            value
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(|v| v.get("code").and_then(Value::as_str).map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "FILE" => Cell::List(
            value
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(|v| v.get("name").and_then(Value::as_str).map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "CREATOR" => Cell::List(vec![record.creator.clone()]),
        "MODIFIER" => Cell::List(vec![record.modifier.clone()]),
        "STATUS_ASSIGNEE" => Cell::List(record.assignees.clone()),
        "STATUS" => Cell::Text(record.status.clone().unwrap_or_default()),
        "CATEGORY" => Cell::List(vec![]),
        _ => {
            let _ = code;
            Cell::Text(text(value))
        }
    }
}

/// kintone's `like` is a word search: ASCII keywords match whole words, others substrings.
fn word_match(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    let hay = haystack.to_lowercase();
    let needle = needle.to_lowercase();
    if !needle.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ') {
        return hay.contains(&needle);
    }
    let is_word_char = |c: char| c.is_ascii_alphanumeric();
    hay.match_indices(&needle).any(|(start, matched)| {
        let before = hay[..start].chars().next_back();
        let after = hay[start + matched.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

/// The sort key of a record for `order by`: numbers numerically, everything else as text.
pub fn sort_key(props: &Map<String, Value>, code: &str, record: &Record) -> (Option<f64>, String) {
    match resolve(props, code) {
        Some(FieldRef::Id) => (Some(record.id as f64), String::new()),
        Some(FieldRef::Top(code, t)) => match cell_of(&t, &code, record, record.values.get(&code)) {
            Cell::Number(n) => (n, String::new()),
            Cell::Text(s) => (None, s),
            Cell::Date(d) => (None, d.map(datetime::format_date).unwrap_or_default()),
            Cell::Instant(i) => (None, i.map(|i| i.to_rfc3339()).unwrap_or_default()),
            Cell::Time(t) => (t.map(f64::from), String::new()),
            Cell::List(items) => (None, items.join(",")),
        },
        _ => (None, String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_conditions_and_options() {
        let q = parse(r#"(会社名 like "山田" or 数量 >= 10) and 状態 not in ("A", "B") order by 数量 desc, $id asc limit 20 offset 40"#, Lang::Ja).unwrap();
        assert_eq!(q.limit, Some(20));
        assert_eq!(q.offset, Some(40));
        assert_eq!(q.order_by, vec![("数量".into(), true), ("$id".into(), false)]);
        assert!(matches!(q.condition, Some(Expr::And(_, _))));
    }

    #[test]
    fn syntax_errors_are_cb_va01() {
        for bad in [
            "会社名 = ",
            "会社名 == \"a\"",
            "(a = \"1\"",
            "a = \"x\" and",
            "a in \"x\"",
            "a = \"tab\there\"",
            "limit x",
        ] {
            let err = parse(bad, Lang::Ja).unwrap_err();
            assert_eq!(err.code, "CB_VA01", "{bad}");
            assert_eq!(
                err.errors.unwrap()["query"]["messages"][0],
                "クエリ記法が間違っています。"
            );
        }
    }

    #[test]
    fn escapes_and_fullwidth_spaces() {
        let q = parse("a\u{3000}=\u{3000}\"say \\\"hi\\\"\"", Lang::Ja).unwrap();
        let Some(Expr::Cond(cond)) = q.condition else { panic!() };
        assert_eq!(cond.operands, vec![Operand::Literal("say \"hi\"".into())]);
    }

    #[test]
    fn word_search() {
        assert!(word_match("gamma keyword", "keyword"));
        assert!(!word_match("gamma keyword", "key"));
        assert!(word_match("株式会社サイボウズ", "サイボウズ"));
        assert!(word_match("Acme Corp", "acme"));
    }
}
