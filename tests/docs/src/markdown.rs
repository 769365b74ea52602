//! Just enough Markdown for the checks: headings, pipe tables and fenced code blocks.

/// The text under a heading (the heading line excluded), up to the next heading of the same or a
/// higher level. `heading` is matched against the heading's text exactly (`## Configuration` →
/// `"Configuration"`).
pub fn section<'a>(doc: &'a str, heading: &str) -> Option<&'a str> {
    let mut offset = 0;
    let mut start: Option<(usize, usize)> = None;
    let mut in_fence = false;
    for line in doc.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed.starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence {
            if let Some((level, text)) = heading_of(trimmed) {
                match start {
                    None if text == heading => start = Some((level, offset + line.len())),
                    Some((open_level, begin)) if level <= open_level => return Some(&doc[begin..offset]),
                    _ => {}
                }
            }
        }
        offset += line.len();
    }
    start.map(|(_, begin)| &doc[begin..])
}

fn heading_of(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|b| *b == b'#').count();
    if level == 0 || level > 6 || !line[level..].starts_with(' ') {
        return None;
    }
    Some((level, line[level..].trim()))
}

/// A pipe table: header cells and body rows, cells trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Every pipe table in `text`, in order (tables inside code fences are skipped).
pub fn tables(text: &str) -> Vec<Table> {
    let mut out = Vec::new();
    let mut current: Vec<Vec<String>> = Vec::new();
    let mut in_fence = false;
    let flush = |current: &mut Vec<Vec<String>>, out: &mut Vec<Table>| {
        if current.len() >= 2 && current[1].iter().all(|c| is_separator(c)) {
            let mut rows = std::mem::take(current);
            let header = rows.remove(0);
            rows.remove(0);
            out.push(Table { header, rows });
        }
        current.clear();
    };
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence && trimmed.starts_with('|') && trimmed.ends_with('|') && trimmed.len() > 1 {
            current.push(split_row(trimmed));
        } else {
            flush(&mut current, &mut out);
        }
    }
    flush(&mut current, &mut out);
    out
}

fn split_row(line: &str) -> Vec<String> {
    line[1..line.len() - 1]
        .split('|')
        .map(|c| c.trim().to_owned())
        .collect()
}

fn is_separator(cell: &str) -> bool {
    !cell.is_empty() && cell.chars().all(|c| matches!(c, '-' | ':'))
}

/// A fenced code block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeBlock {
    /// The info string's first word (`sh`, `json`, …), empty when none.
    pub lang: String,
    pub content: String,
    /// 1-based line of the opening fence.
    pub line: usize,
    /// The HTML comment on the closest non-blank line above the fence, without `<!--`/`-->`.
    pub annotation: Option<String>,
}

impl CodeBlock {
    /// A sample whose text is language-neutral (JSON, TOML, YAML), so translations keep it as is.
    pub fn lang_is_sample(&self) -> bool {
        matches!(self.lang.as_str(), "json" | "toml" | "yaml" | "yml")
    }
}

/// Every fenced code block (```), in order.
pub fn code_blocks(doc: &str) -> Vec<CodeBlock> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            let fence_indent = lines[i].len() - trimmed.len();
            let lang = info.split_whitespace().next().unwrap_or("").to_owned();
            let annotation = lines[..i].iter().rev().find(|l| !l.trim().is_empty()).and_then(|l| {
                l.trim()
                    .strip_prefix("<!--")?
                    .strip_suffix("-->")
                    .map(|c| c.trim().to_owned())
            });
            let open = i;
            let mut content = String::new();
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                let line = lines[i];
                let dedented = if line.len() >= fence_indent && line[..fence_indent].trim().is_empty() {
                    &line[fence_indent..]
                } else {
                    line.trim_start()
                };
                content.push_str(dedented);
                content.push('\n');
                i += 1;
            }
            out.push(CodeBlock {
                lang,
                content,
                line: open + 1,
                annotation,
            });
        }
        i += 1;
    }
    out
}

/// Backquoted spans of a table cell: "`a` or `b`" → ["a", "b"].
pub fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Title\nintro\n## A\ntext a\n### A.1\nsub\n## B\n| x | y |\n|---|:-:|\n| `1` | two |\n\n```sh\n# not a heading\n## nor this\n```\n## C\nend\n";

    #[test]
    fn sections_stop_at_the_next_heading_of_their_level() {
        assert_eq!(section(DOC, "A"), Some("text a\n### A.1\nsub\n"));
        assert_eq!(section(DOC, "A.1"), Some("sub\n"));
        assert!(
            section(DOC, "B").unwrap().contains("## nor this"),
            "fenced lines are not headings"
        );
        assert_eq!(section(DOC, "C"), Some("end\n"));
        assert_eq!(section(DOC, "Missing"), None);
    }

    #[test]
    fn tables_are_parsed_with_header_and_rows() {
        let t = tables(DOC);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].header, vec!["x", "y"]);
        assert_eq!(t[0].rows, vec![vec!["`1`".to_string(), "two".to_string()]]);
        assert!(tables("| not | a table |\nplain\n").is_empty());
    }

    #[test]
    fn code_blocks_carry_language_and_annotation() {
        let doc =
            "text\n<!-- run-by: ci -->\n\n```sh\n./x.sh\n```\n\n```\nplain\n```\n  ```json\n  {\"a\": 1}\n  ```\n";
        let blocks = code_blocks(doc);
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[0].lang, "sh");
        assert_eq!(blocks[0].content, "./x.sh\n");
        assert_eq!(blocks[0].annotation.as_deref(), Some("run-by: ci"));
        assert_eq!(blocks[0].line, 4);
        assert_eq!(blocks[1].lang, "");
        assert_eq!(blocks[1].annotation, None);
        assert_eq!(blocks[2].content, "{\"a\": 1}\n");
    }

    #[test]
    fn code_spans_are_extracted() {
        assert_eq!(code_spans("`a` or `b`"), vec!["a", "b"]);
        assert!(code_spans("none").is_empty());
    }
}
