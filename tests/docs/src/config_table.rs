//! The READMEs' configuration tables against spin.toml's `[variables]`: same names, and the
//! required, secret and default columns say what the manifest says.

use crate::manifest::Manifest;
use crate::markdown::{code_spans, section, tables};
use std::collections::BTreeSet;

/// How one README language writes its configuration table.
pub struct Language {
    /// The heading of the section holding the table.
    pub heading: &'static str,
    /// The first header cell of the table.
    pub first_column: &'static str,
    /// What the required and secret columns say for "yes".
    pub yes: &'static str,
}

pub const ENGLISH: Language = Language {
    heading: "Configuration",
    first_column: "variable",
    yes: "yes",
};
pub const JAPANESE: Language = Language {
    heading: "設定",
    first_column: "変数",
    yes: "はい",
};

/// The language of a README file name.
pub fn language_of(readme: &str) -> &'static Language {
    if readme.ends_with(".ja.md") {
        &JAPANESE
    } else {
        &ENGLISH
    }
}

/// Problems with `doc`'s configuration table (empty = it matches spin.toml).
pub fn check(doc_name: &str, doc: &str, lang: &Language, manifest: &Manifest) -> Vec<String> {
    let Some(text) = section(doc, lang.heading) else {
        return vec![format!("{doc_name}: no `{}` section", lang.heading)];
    };
    let Some(table) = tables(text)
        .into_iter()
        .find(|t| t.header.first().map(String::as_str) == Some(lang.first_column))
    else {
        return vec![format!(
            "{doc_name}: the `{}` section has no table starting with a `{}` column",
            lang.heading, lang.first_column
        )];
    };
    if table.header.len() != 5 {
        return vec![format!(
            "{doc_name}: the configuration table needs 5 columns (variable, required, secret, default, meaning)"
        )];
    }
    let mut problems = Vec::new();
    let mut documented = BTreeSet::new();
    for row in &table.rows {
        let spans = code_spans(&row[0]);
        let [name] = spans.as_slice() else {
            problems.push(format!(
                "{doc_name}: configuration row `{}` must name one variable in backquotes",
                row[0]
            ));
            continue;
        };
        let name = name.to_string();
        if !documented.insert(name.clone()) {
            problems.push(format!("{doc_name}: `{name}` is documented twice"));
        }
        let Some(var) = manifest.variables.get(&name) else {
            problems.push(format!(
                "{doc_name}: documents `{name}`, which spin.toml does not declare"
            ));
            continue;
        };
        let says_yes = |cell: &str| cell == lang.yes;
        let flag_ok = |cell: &str, expected: bool| if expected { says_yes(cell) } else { cell.is_empty() };
        if !flag_ok(&row[1], var.required) {
            problems.push(format!(
                "{doc_name}: `{name}` required column says {:?}; spin.toml says required = {}",
                row[1], var.required
            ));
        }
        if !flag_ok(&row[2], var.secret) {
            problems.push(format!(
                "{doc_name}: `{name}` secret column says {:?}; spin.toml says secret = {}",
                row[2], var.secret
            ));
        }
        match var.default.as_deref() {
            None if !row[3].is_empty() => {
                problems.push(format!(
                    "{doc_name}: `{name}` is required in spin.toml but shows a default ({:?})",
                    row[3]
                ));
            }
            Some(value) if !value.is_empty() && !code_spans(&row[3]).contains(&value) => {
                problems.push(format!(
                    "{doc_name}: `{name}` default column must show `{value}` (spin.toml), found {:?}",
                    row[3]
                ));
            }
            Some("") if !code_spans(&row[3]).is_empty() => {
                problems.push(format!("{doc_name}: `{name}` has an empty default in spin.toml; describe it in words, not as a value ({:?})", row[3]));
            }
            _ => {}
        }
        if row[4].is_empty() {
            problems.push(format!("{doc_name}: `{name}` has no explanation"));
        }
    }
    for name in manifest.variables.keys() {
        if !documented.contains(name) {
            problems.push(format!(
                "{doc_name}: spin.toml's variable `{name}` is undocumented in the configuration table"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::parse("[variables]\nbase = { required = true }\nkey = { required = true, secret = true }\nmode = { default = \"25\" }\nurl = { default = \"\" }\n").unwrap()
    }

    const GOOD: &str = "# x\n## Configuration\n\n| variable | required | secret | default | meaning |\n|---|---|---|---|---|\n\
| `base` | yes | | | the origin |\n| `key` | yes | yes | | a secret |\n| `mode` | | | `25` | seconds |\n| `url` | | | request origin | public origin |\n";

    #[test]
    fn a_matching_table_passes() {
        assert_eq!(check("R", GOOD, &ENGLISH, &manifest()), Vec::<String>::new());
    }

    #[test]
    fn an_undocumented_variable_fails() {
        let doc = GOOD.replace("| `mode` | | | `25` | seconds |\n", "");
        let problems = check("R", &doc, &ENGLISH, &manifest());
        assert_eq!(
            problems,
            vec!["R: spin.toml's variable `mode` is undocumented in the configuration table"]
        );
    }

    #[test]
    fn wrong_flags_defaults_and_unknown_names_fail() {
        let doc = GOOD
            .replace("| `key` | yes | yes |", "| `key` | yes | |")
            .replace("`25`", "`30`")
            .replace("| `url` | | | request origin |", "| `url` | | | `` |")
            + "| `ghost` | | | | ? |\n";
        let problems = check("R", &doc, &ENGLISH, &manifest()).join("\n");
        assert!(problems.contains("`key` secret column"), "{problems}");
        assert!(problems.contains("`mode` default column must show `25`"), "{problems}");
        assert!(
            problems.contains("`ghost`, which spin.toml does not declare"),
            "{problems}"
        );
    }

    #[test]
    fn japanese_tables_use_japanese_words() {
        let doc = GOOD
            .replace("## Configuration", "## 設定")
            .replace("| variable |", "| 変数 |")
            .replace("yes", "はい");
        assert_eq!(check("J", &doc, &JAPANESE, &manifest()), Vec::<String>::new());
        assert!(!check("J", GOOD, &JAPANESE, &manifest()).is_empty());
    }
}
